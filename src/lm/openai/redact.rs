//! Keeping an API key out of text a server sent back.
//!
//! Servers echo keys: whole ("Incorrect API key provided: sk-..."), in part
//! ("sk-proj-****abcd"), or a whole one that a later cut splits. So not only
//! the key is replaced but every run of [`MIN_LEAK`] or more bytes copied from
//! it, wherever it sits in the text.

use std::borrow::Cow;

/// The shortest run of the key's bytes treated as a leak. Shorter runs say
/// too little about the key to matter, and are too common (`sk-` begins
/// every OpenAI key) to remove without mangling ordinary text.
pub const MIN_LEAK: usize = 8;

/// What a leak is replaced by.
pub const MARK: &str = "<redacted>";

/// Removes one key, and every run of [`MIN_LEAK`]+ of its bytes, from text.
pub struct KeyRedactor {
    key: Vec<u8>,
    /// Every `MIN_LEAK`-byte window of the key (as a number, for a cheap
    /// lookup) and where it starts in the key, sorted by window.
    windows: Vec<(u64, usize)>,
}

impl KeyRedactor {
    /// A redactor for `key`; `None` for an empty key (nothing to hide).
    pub fn new(key: &str) -> Option<Self> {
        if key.is_empty() {
            return None;
        }
        let key = key.as_bytes().to_vec();
        let mut windows: Vec<(u64, usize)> = key
            .windows(MIN_LEAK)
            .enumerate()
            .map(|(at, w)| (window_id(w), at))
            .collect();
        windows.sort_unstable();
        Some(Self { key, windows })
    }

    /// `text` with every leak of the key replaced by [`MARK`]; borrowed when
    /// there is none. One pass: each position is looked up once, and a leak
    /// found there is extended as far as it keeps matching the key.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.key.len() < MIN_LEAK {
            // Too short to have windows: only the whole key is a leak.
            let key = String::from_utf8_lossy(&self.key);
            return match text.contains(key.as_ref()) {
                true => Cow::Owned(text.replace(key.as_ref(), MARK)),
                false => Cow::Borrowed(text),
            };
        }
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut at = 0;
        while at + MIN_LEAK <= text.len() {
            let leak = self.leak_at(text, at);
            if leak == 0 {
                at += 1;
                continue;
            }
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..at]);
            out.push_str(MARK);
            at += leak;
            copied = at;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.push_str(&text[copied..]);
                Cow::Owned(out)
            }
        }
    }

    /// The length of the longest leak starting at byte `at` of `text`, or 0.
    /// A leak starts and ends on character boundaries (only matters for a
    /// key with non-ASCII bytes), so the text around it stays valid UTF-8.
    fn leak_at(&self, text: &str, at: usize) -> usize {
        if !text.is_char_boundary(at) {
            return 0;
        }
        let rest = &text.as_bytes()[at..];
        let id = window_id(&rest[..MIN_LEAK]);
        let first = self.windows.partition_point(|(w, _)| *w < id);
        let longest = self.windows[first..]
            .iter()
            .take_while(|(w, _)| *w == id)
            .map(|(_, start)| common_prefix(rest, &self.key[*start..]))
            .max()
            .unwrap_or(0);
        let mut end = at + longest;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end - at >= MIN_LEAK { end - at } else { 0 }
    }
}

/// A `MIN_LEAK`-byte window as one number.
fn window_id(window: &[u8]) -> u64 {
    u64::from_le_bytes(window.try_into().expect("a window of MIN_LEAK bytes"))
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-Zq81-distinctive-4f0c9b7e2a";

    fn redact(text: &str) -> String {
        KeyRedactor::new(KEY).unwrap().redact(text).into_owned()
    }

    /// Every run of MIN_LEAK bytes of the key that `text` still holds.
    fn leaks(text: &str) -> Vec<&str> {
        (0..=KEY.len() - MIN_LEAK)
            .map(|i| &KEY[i..i + MIN_LEAK])
            .filter(|w| text.contains(w))
            .collect()
    }

    #[test]
    fn the_whole_key_and_its_long_pieces_are_redacted() {
        assert_eq!(redact(&format!("bad key {KEY}.")), "bad key <redacted>.");
        assert_eq!(
            redact(&format!("{KEY}{KEY}")),
            "<redacted><redacted>",
            "two keys back to back are two leaks"
        );
        // A prefix (a key cut at the end of a snippet) and a suffix.
        assert_eq!(redact("...sk-Zq81-dist"), "...<redacted>");
        assert_eq!(redact("key ****ve-4f0c9b7e2a"), "key ****<redacted>");
        // Seven bytes are not a leak.
        assert_eq!(redact("sk-Zq81 is fine"), "sk-Zq81 is fine");
    }

    #[test]
    fn a_key_at_every_offset_of_a_long_text_leaves_no_piece() {
        for offset in 0..60 {
            let text = format!("{}{KEY}{}", "x".repeat(offset), "y".repeat(offset));
            let out = redact(&text);
            assert!(leaks(&out).is_empty(), "{out}");
            // Any cut of the redacted text leaves no piece either.
            for cut in 0..out.len() {
                assert!(leaks(&out[..cut]).is_empty());
            }
        }
    }

    #[test]
    fn text_without_the_key_is_borrowed_and_multibyte_text_survives() {
        let k = KeyRedactor::new(KEY).unwrap();
        assert!(matches!(k.redact("nothing here"), Cow::Borrowed(_)));
        let text = format!("é{KEY}名 ünïcödé");
        assert_eq!(k.redact(&text), "é<redacted>名 ünïcödé");
    }

    #[test]
    fn a_non_ascii_key_is_cut_on_character_boundaries() {
        let k = KeyRedactor::new("ключ-секрет-42").unwrap();
        assert_eq!(k.redact("a ключ-секрет-42 b"), "a <redacted> b");
        assert_eq!(k.redact("a ключ-сек"), "a <redacted>");
    }

    #[test]
    fn a_short_key_is_only_redacted_whole() {
        let k = KeyRedactor::new("abc12").unwrap();
        assert_eq!(k.redact("xabc12y abc1"), "x<redacted>y abc1");
        assert!(KeyRedactor::new("").is_none());
    }
}
