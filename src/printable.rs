//! Text that came from outside (server bodies, plugin messages, data values),
//! made safe to print on a terminal.
//!
//! A terminal obeys control characters in whatever it is sent: ESC starts a
//! sequence that can move the cursor, recolour or retitle the window (`ESC ]
//! 0;title BEL`), CR returns to the start of the line so later text hides
//! earlier text, BEL rings. A hostile server could use them to forge or hide
//! lines of an error message. Escaping them at the boundaries where outside
//! text is printed keeps every byte visible and inert.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL and C1) except newline and
/// tab written out as its Rust escape (`\u{1b}`, `\r`, `\u{7}`, `\u{9b}`).
/// Newlines and tabs stay: multi-line messages (diagnostics, notes) are
/// normal and move the cursor only in the expected way. Borrows when there
/// is nothing to escape, which is nearly always.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A control character a terminal could act on.
fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "model `m`: HTTP 401: {\n\t\"error\": \"bad key\"\n} é ü 名";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn a_title_sequence_bell_and_carriage_return_are_written_out() {
        assert_eq!(
            escape_controls("a\x1b]0;pwned\x07\rb"),
            "a\\u{1b}]0;pwned\\u{7}\\rb"
        );
    }

    #[test]
    fn every_c0_c1_and_del_character_is_escaped() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let out = escape_controls(&c.to_string()).into_owned();
            if c == '\n' || c == '\t' {
                assert_eq!(out, c.to_string());
            } else {
                assert!(out.starts_with('\\'), "{c:?} -> {out:?}");
                assert!(!out.chars().any(char::is_control), "{c:?} -> {out:?}");
            }
        }
    }

    #[test]
    fn eight_bit_csi_in_utf8_is_escaped() {
        assert_eq!(escape_controls("x\u{9b}31my"), "x\\u{9b}31my");
    }
}
