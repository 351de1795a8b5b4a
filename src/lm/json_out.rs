//! Compact JSON written straight into a byte buffer, for the two texts
//! built on every LM call: the request body and the input of the cache key.
//!
//! Almost all of both is prompt text, and serde_json escapes a string one
//! byte at a time. Here a string is scanned sixteen bytes at a time (SSE2
//! compares on x86-64, two 8-byte words elsewhere) and copied in runs,
//! which makes writing a prompt about twice as cheap. The
//! output is byte for byte what serde_json writes (same escapes, lowercase
//! `\u00xx`), so request bodies and cache keys are what they were.

use super::Message;
use serde::Serialize;

/// Writes `s` as a JSON string, quotes included.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut blocks = bytes.chunks_exact(16);
    for block in blocks.by_ref() {
        let block: &[u8; 16] = block.try_into().expect("sixteen bytes");
        match escapes_in(block) {
            0 => out.extend_from_slice(block),
            found => push_escaped(out, block, 16, found),
        }
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        // Padded with spaces, which are never escaped.
        let mut block = [b' '; 16];
        block[..rest.len()].copy_from_slice(rest);
        push_escaped(out, &block, rest.len(), escapes_in(&block));
    }
    out.push(b'"');
}

/// Writes the first `len` bytes of `block`, escaping those whose bits are
/// set in `found`.
fn push_escaped(out: &mut Vec<u8>, block: &[u8; 16], len: usize, mut found: u32) {
    let mut spare = [0u8; 32];
    spare[..16].copy_from_slice(block);
    let mut from = 0;
    loop {
        let at = match found {
            0 => len,
            _ => found.trailing_zeros() as usize,
        };
        // The run before the next escape: sixteen bytes copied (a fixed
        // size is a store, not a call to memcpy), then cut back.
        out.extend_from_slice(&spare[from..from + 16]);
        out.truncate(out.len() - 16 + (at - from));
        if at == len {
            return;
        }
        push_escape(out, block[at]);
        from = at + 1;
        found &= found - 1;
    }
}

/// Where the first byte from `from` on that a JSON string cannot hold as
/// it is (`"`, `\` or a control character) is; `bytes.len()` if none is.
/// Readers use it to step over a string's plain runs sixteen bytes at a
/// time.
pub fn find_special(bytes: &[u8], mut from: usize) -> usize {
    while let Some(block) = bytes.get(from..from + 16) {
        let found = escapes_in(block.try_into().expect("sixteen bytes"));
        if found != 0 {
            return from + found.trailing_zeros() as usize;
        }
        from += 16;
    }
    let rest = bytes.get(from..).unwrap_or_default();
    rest.iter()
        .position(|&b| escape_of(b).is_some())
        .map_or(bytes.len(), |i| from + i)
}

/// `messages` as serde_json writes a list of them:
/// `[{"role":"…","content":"…"},…]`.
pub fn push_messages(out: &mut Vec<u8>, messages: &[Message]) {
    out.push(b'[');
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"role\":");
        push_str(out, &message.role);
        out.extend_from_slice(b",\"content\":");
        push_str(out, &message.content);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes any serializable value through serde_json (numbers, `null`,
/// free-form params): the small parts, where speed does not matter.
pub fn push_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Into a Vec, of numbers, strings and JSON values: cannot fail.
    serde_json::to_writer(&mut *out, value).expect("a JSON value serializes");
}

/// A JSON object being written: commas between fields, braces around.
pub struct ObjectOut<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectOut<'a> {
    /// Opens an object at the end of `out`.
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` (after a comma unless first) and returns the buffer
    /// for the value.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        push_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// Bit `i` set when byte `i` of `block` needs escaping (a control
/// character, `"` or `\`), found with SSE2 compares.
#[cfg(target_arch = "x86_64")]
fn escapes_in(block: &[u8; 16]) -> u32 {
    // SAFETY: SSE2 is part of the x86-64 baseline: every processor this
    // code can run on has it.
    unsafe { escapes_in_sse2(block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn escapes_in_sse2(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
        _mm_setzero_si128, _mm_subs_epu8,
    };
    let half = |i: usize| i64::from_le_bytes(block[i..i + 8].try_into().expect("eight bytes"));
    let v = _mm_set_epi64x(half(8), half(0));
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    // A byte up to 0x1f saturates to zero.
    let control = _mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(0x1f)), _mm_setzero_si128());
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
}

/// [`escapes_in`] elsewhere, eight bytes at a time in plain integers.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn escapes_in_words(block: &[u8; 16]) -> u32 {
    const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // The high bit of each zero byte of `v`, exactly (no carry crosses a
    // byte).
    let zero_bytes = |v: u64| !(((v & LOWS).wrapping_add(LOWS)) | v) & !LOWS;
    let flags = |i: usize| {
        let word = u64::from_le_bytes(block[i..i + 8].try_into().expect("eight bytes"));
        let found = zero_bytes(word & (ONES * 0xe0))
            | zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        // One bit per byte: the high bits gathered into the low eight.
        ((found >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    flags(0) | flags(8) << 8
}

#[cfg(not(target_arch = "x86_64"))]
use escapes_in_words as escapes_in;

/// The short escape of `byte`, `Some(0)` for one written as `\u00xx`, or
/// `None` when it goes as it is.
fn escape_of(byte: u8) -> Option<u8> {
    match byte {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x00..=0x1f => Some(0),
        _ => None,
    }
}

/// Writes the escape of `byte` (one the scans flagged).
fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match escape_of(byte) {
        Some(0) => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
        Some(short) => out.extend_from_slice(&[b'\\', short]),
        // Not flagged by the scans (they are exact); written as it is.
        None => out.push(byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_ascii_byte_is_written_as_serde_json_writes_it() {
        for byte in 0u8..0x80 {
            let alone = (byte as char).to_string();
            // At each position of a word and past its end.
            for pad in 0..10 {
                let s = format!("{}{alone}{}", "a".repeat(pad), "b".repeat(9 - pad));
                assert_eq!(written(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
        assert_eq!(written(""), "\"\"");
        assert_eq!(written("\u{1f}\u{0}é\"\\"), r#""\u001f\u0000é\"\\""#);
    }

    #[test]
    fn both_scans_flag_exactly_the_bytes_to_escape() {
        for a in 0u8..=0xff {
            for at in 0..16 {
                let mut block = [b'x'; 16];
                block[at] = a;
                block[(at + 5) % 16] = 0;
                block[(at + 9) % 16] = 0xe2;
                let expected: u32 = (0..16)
                    .filter(|&i| escape_of(block[i]).is_some())
                    .map(|i| 1 << i)
                    .sum();
                assert_eq!(escapes_in(&block), expected, "{block:?}");
                assert_eq!(escapes_in_words(&block), expected, "{block:?}");
            }
        }
    }

    #[test]
    fn the_first_special_byte_is_found_in_blocks_and_in_the_tail() {
        let text = format!(
            "{}\"{}\\{}\n",
            "a".repeat(20),
            "b".repeat(3),
            "c".repeat(30)
        );
        let bytes = text.as_bytes();
        assert_eq!(find_special(bytes, 0), 20);
        assert_eq!(find_special(bytes, 21), 24);
        assert_eq!(find_special(bytes, 25), 55);
        assert_eq!(find_special(bytes, 56), 56);
        assert_eq!(find_special(b"plain", 0), 5);
        assert_eq!(find_special(b"plain", 9), 5);
    }

    #[test]
    fn messages_are_written_as_serde_json_writes_them() {
        let messages = vec![
            Message::system("Answer.\n\t\"quoted\""),
            Message::user("x\u{7}y ✓"),
        ];
        let mut out = Vec::new();
        push_messages(&mut out, &messages);
        assert_eq!(out, serde_json::to_vec(&messages).unwrap());
        let mut out = Vec::new();
        push_messages(&mut out, &[]);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn an_object_separates_its_fields() {
        let mut out = Vec::new();
        let mut object = ObjectOut::open(&mut out);
        push_value(object.key("a"), &1);
        push_str(object.key("b\n"), "x");
        object.close();
        assert_eq!(out, br#"{"a":1,"b\n":"x"}"#);
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "(?s).{0,80}") {
            prop_assert_eq!(written(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn strings_dense_with_escapes_are_written_as_serde_json_writes_them(
            s in "[\\x00-\\x21\\x22\\x5c\\x7f-\\u{80}a\u{e9}\u{1f600}]{0,40}"
        ) {
            prop_assert_eq!(written(&s), serde_json::to_string(&s).unwrap());
        }
    }
}
