//! A reply body read with a size cap, and quoted safely in error messages.
//!
//! A server decides how much it sends: read blindly, an endless chunked
//! stream or a multi-gigabyte body would fill memory. Bodies are read chunk
//! by chunk and counted, and what goes into an error message is cut short,
//! stripped of the API key and made inert for a terminal.

use super::redact::{KeyRedactor, MARK};
use crate::printable::escape_controls;

/// How much of an error body goes into an error message, in characters.
pub const SNIPPET_CHARS: usize = 400;

/// The most read of an error body (an error message quotes only its start).
pub const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// A body read up to a limit.
#[derive(Debug, Default)]
pub struct Body {
    /// The bytes read, at most the limit.
    pub bytes: Vec<u8>,
    /// The server sent more than the limit; reading stopped there.
    pub over_limit: bool,
}

impl Body {
    /// Nothing but whitespace (or nothing at all).
    pub fn is_blank(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
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
    let mut body = Body {
        bytes: Vec::with_capacity(announced.unwrap_or(0).min(limit)),
        over_limit: false,
    };
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.bytes.len();
        if chunk.len() > room {
            body.bytes.extend_from_slice(&chunk[..room]);
            body.over_limit = true;
            break;
        }
        body.bytes.extend_from_slice(&chunk);
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
    let text = match key {
        Some(key) => key.redact(text),
        None => text.into(),
    };
    let (start, cut) = match text.char_indices().nth(SNIPPET_CHARS) {
        Some((at, _)) => (&text[..whole_marks(&text, at)], true),
        None => (&text[..], body.over_limit),
    };
    let start = escape_controls(start);
    if cut {
        format!("{start}...")
    } else {
        start.into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn control_characters_are_escaped_after_the_cut() {
        let text = format!("{}\x1b]0;pwned\x07\r", "e".repeat(SNIPPET_CHARS - 3));
        let quoted = snippet(&body(&text), None);
        assert!(!quoted.chars().any(|c| c.is_control()), "{quoted:?}");
        assert!(quoted.ends_with("ee\\u{1b}]0..."), "{quoted:?}");
    }
}
