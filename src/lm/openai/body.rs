//! A reply body read with a size cap, and quoted safely in error messages.
//!
//! A server decides how much it sends: read blindly, an endless chunked
//! stream or a multi-gigabyte body would fill memory. Bodies are read chunk
//! by chunk and counted, and what goes into an error message is cut short,
//! stripped of the API key and made inert for a terminal.

use super::redact::{KeyRedactor, MARK};
use crate::printable::escape_controls;
use std::borrow::Cow;

/// How much of an error body goes into an error message, in characters.
pub const SNIPPET_CHARS: usize = 400;

/// The most read of an error body (an error message quotes only its start).
pub const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// The most room made for a body before its bytes arrive. A limit raised
/// toward `u64::MAX` with a matching `Content-Length` used to ask the
/// allocator for all of it at once (a panic or an abort).
pub const PREALLOCATED_MAX: usize = 1024 * 1024;

/// A body read up to a limit.
#[derive(Debug, Default)]
pub struct Body {
    /// The bytes read, at most the limit.
    pub bytes: Vec<u8>,
    /// The server sent more than the limit; reading stopped there.
    pub over_limit: bool,
}

impl Body {
    /// An empty body with room for `announced` bytes (at most `limit`, and
    /// at most [`PREALLOCATED_MAX`]: a server's word sizes only the start,
    /// the rest grows as bytes really arrive).
    pub fn with_room(announced: Option<usize>, limit: usize) -> Self {
        let room = announced.unwrap_or(0).min(limit).min(PREALLOCATED_MAX);
        Body {
            bytes: Vec::with_capacity(room),
            over_limit: false,
        }
    }

    /// Nothing but whitespace (or nothing at all).
    pub fn is_blank(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// Appends `chunk` up to `limit` bytes in all; `false` (and
    /// `over_limit` set) when the chunk did not fit, so reading stops.
    pub fn push_capped(&mut self, chunk: &[u8], limit: usize) -> bool {
        let room = limit - self.bytes.len();
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.over_limit = true;
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }
}

/// Reads `response`'s body, stopping once more than `limit` bytes arrived.
/// The rest is never read: dropping the response closes the connection.
pub async fn read_capped(mut response: reqwest::Response, limit: u64) -> reqwest::Result<Body> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // Sized once when the server announces the length (at most the limit).
    let announced = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    let mut body = Body::with_room(announced, limit);
    while let Some(chunk) = response.chunk().await? {
        if !body.push_capped(&chunk, limit) {
            break;
        }
    }
    Ok(body)
}

/// The start of a body, for an error message. The key is redacted from the
/// whole text before it is cut, so no cut can leave a piece of it behind;
/// control characters are escaped last, so the cut never splits an escape.
pub fn snippet(body: &Body, key: Option<&KeyRedactor>) -> String {
    let text = String::from_utf8_lossy(&body.bytes);
    let text = text.trim();
    if text.is_empty() && !body.over_limit {
        return "(empty body)".into();
    }
    // A JSON body can spell the key with `\uXXXX` escapes, which a match
    // on the raw text would miss: decoded first, it is redacted like any.
    let text = decode_json_escapes(text);
    let text = match key {
        Some(key) => key.redact(&text).into_owned(),
        None => text.into_owned(),
    };
    // Escaped before the cut, so the quote is SNIPPET_CHARS as displayed
    // (a NUL shown as `\u{0}` counts six, not one).
    let text = escape_controls(&text);
    let (start, cut) = match text.char_indices().nth(SNIPPET_CHARS) {
        Some((at, _)) => (&text[..whole_escapes(&text, whole_marks(&text, at))], true),
        None => (&text[..], body.over_limit),
    };
    if cut {
        format!("{start}...")
    } else {
        start.to_string()
    }
}

/// `at`, or the end of a redaction mark that `at` would cut in two (a cut
/// `<reda...` would read as if something else had been there).
fn whole_marks(text: &str, at: usize) -> usize {
    let from = at.saturating_sub(MARK.len() - 1);
    match text.get(from..at).and_then(|before| before.rfind('<')) {
        Some(i) if text[from + i..].starts_with(MARK) => from + i + MARK.len(),
        _ => at,
    }
}

/// `at`, or the start of an escape (`\u{1b}`, `\r`) that `at` would cut in
/// two: half an escape reads as other text.
fn whole_escapes(text: &str, at: usize) -> usize {
    let before = &text[..at];
    if before.ends_with('\\') {
        return at - 1;
    }
    // The longest escape is `\u{10ffff}`, 10 bytes.
    let from = before.len().saturating_sub(10);
    match before.get(from..).and_then(|tail| tail.rfind("\\u{")) {
        Some(i) if !before[from + i..].contains('}') => from + i,
        _ => at,
    }
}

/// `text` with JSON's `\uXXXX` escapes (surrogate pairs joined, a lone
/// surrogate as U+FFFD) and `\/` decoded; an escaped backslash `\\` is
/// kept as it is, so `\\u0073` stays text. Borrowed when there is none.
pub fn decode_json_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") && !text.contains("\\/") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let esc = &rest[i..];
        if let Some(after) = esc.strip_prefix("\\\\") {
            out.push_str("\\\\");
            rest = after;
        } else if let Some(after) = esc.strip_prefix("\\/") {
            out.push('/');
            rest = after;
        } else if let Some(unit) = hex4(esc) {
            let low = esc.get(6..).and_then(hex4);
            let (c, used) = match (unit, low) {
                (0xD800..=0xDBFF, Some(lo @ 0xDC00..=0xDFFF)) => {
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(code), 12)
                }
                _ => (char::from_u32(unit), 6),
            };
            out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            rest = &esc[used..];
        } else {
            out.push('\\');
            rest = &esc[1..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The code unit of a `\uXXXX` at the start of `text`.
fn hex4(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("\\u")?.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_length_sizes_only_the_start() {
        let body = Body::with_room(Some(usize::MAX - 1), usize::MAX);
        assert!(body.bytes.capacity() <= PREALLOCATED_MAX);
        let body = Body::with_room(Some(300), 8 << 20);
        assert!(body.bytes.capacity() >= 300);
    }

    fn body(text: &str) -> Body {
        Body {
            bytes: text.as_bytes().to_vec(),
            over_limit: false,
        }
    }

    #[test]
    fn a_long_body_is_cut_and_a_blank_one_named() {
        let long = "x".repeat(1000);
        assert_eq!(snippet(&body(&long), None).len(), SNIPPET_CHARS + 3);
        assert_eq!(snippet(&body("  \n "), None), "(empty body)");
        assert!(body(" \r\n\t").is_blank() && body("").is_blank());
        assert!(!body(" {} ").is_blank());
    }

    #[test]
    fn a_body_stopped_at_the_read_limit_is_marked_cut() {
        let stopped = Body {
            bytes: b"{\"error\": \"bo".to_vec(),
            over_limit: true,
        };
        assert_eq!(snippet(&stopped, None), "{\"error\": \"bo...");
    }

    #[test]
    fn a_key_across_the_cut_is_redacted_before_cutting() {
        let key = "sk-Zq81-distinctive-4f0c9b7e2a";
        let redactor = KeyRedactor::new(key).unwrap();
        for before in SNIPPET_CHARS - key.len()..=SNIPPET_CHARS {
            let text = format!("{}{key} and more", "e".repeat(before));
            let quoted = snippet(&body(&text), Some(&redactor));
            for piece in key.as_bytes().windows(8) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!quoted.contains(piece), "{before}: {quoted}");
            }
        }
    }

    #[test]
    fn a_cut_never_splits_a_redaction_mark() {
        let key = "sk-Zq81-distinctive-4f0c9b7e2a";
        let redactor = KeyRedactor::new(key).unwrap();
        for before in SNIPPET_CHARS - MARK.len()..=SNIPPET_CHARS {
            let text = format!("{}{key} tail", "e".repeat(before));
            let quoted = snippet(&body(&text), Some(&redactor));
            let kept = quoted.trim_end_matches("...").trim_start_matches('e');
            assert!(
                kept.is_empty() || kept.starts_with(MARK),
                "{before}: {quoted}"
            );
        }
    }

    #[test]
    fn control_characters_are_escaped_before_the_cut_which_never_splits_one() {
        let text = format!("{}\x1b]0;pwned\x07\r", "e".repeat(SNIPPET_CHARS - 3));
        let quoted = snippet(&body(&text), None);
        assert!(!quoted.chars().any(|c| c.is_control()), "{quoted:?}");
        assert_eq!(quoted, format!("{}...", "e".repeat(SNIPPET_CHARS - 3)));
        let text = format!("{}\r\rx", "e".repeat(SNIPPET_CHARS - 1));
        let quoted = snippet(&body(&text), None);
        assert_eq!(quoted, format!("{}...", "e".repeat(SNIPPET_CHARS - 1)));
    }

    /// Round two, finding 8: NULs were cut as one character each, then
    /// shown as six, so a binary body made a quote six times as long.
    #[test]
    fn a_binary_body_is_quoted_at_the_displayed_length() {
        let quoted = snippet(&body(&"\0".repeat(2000)), None);
        assert!(
            quoted.chars().count() <= SNIPPET_CHARS + 3,
            "{}",
            quoted.len()
        );
        assert!(quoted.starts_with("\\u{0}\\u{0}") && quoted.ends_with("\\u{0}..."));
    }

    /// Round two, finding 7: a key with every 7th character `\u`-escaped
    /// passed the redactor, which matched on the raw text.
    #[test]
    fn a_key_spelled_with_json_escapes_is_redacted_on_the_decoded_text() {
        let key = "sk-test-5vv70IqZ81xdistinctive";
        let spelled: String = key
            .chars()
            .enumerate()
            .map(|(i, c)| match i % 7 {
                0 => format!("\\u{:04x}", c as u32),
                _ => c.to_string(),
            })
            .collect();
        let text = format!(r#"{{"error":{{"message":"Incorrect API key provided: {spelled}"}}}}"#);
        let quoted = snippet(&body(&text), Some(&KeyRedactor::new(key).unwrap()));
        assert_eq!(
            quoted,
            r#"{"error":{"message":"Incorrect API key provided: <redacted>"}}"#
        );
    }

    #[test]
    fn json_escapes_decode_like_json() {
        assert_eq!(decode_json_escapes(r"a\u0041\/b"), "aA/b");
        assert_eq!(
            decode_json_escapes(r"\ud83d\ude00 \ud800x"),
            "\u{1F600} \u{FFFD}x"
        );
        assert_eq!(
            decode_json_escapes(r"\\u0041 \u00zz \"),
            r"\\u0041 \u00zz \"
        );
        assert!(matches!(decode_json_escapes("plain"), Cow::Borrowed(_)));
    }
}
