//! Text that came from outside (server bodies, plugin messages, data values),
//! made safe to print on a terminal.
//!
//! A terminal obeys control characters in whatever it is sent: ESC starts a
//! sequence that can move the cursor, recolour or retitle the window (`ESC ]
//! 0;title BEL`), CR returns to the start of the line so later text hides
//! earlier text, BEL rings. A hostile server could use them to forge or hide
//! lines of an error message. Escaping them at the boundaries where outside
//! text is printed keeps every byte visible and inert.
//!
//! Bidirectional formatting characters are escaped too: Unicode does not
//! class them as controls, but a terminal honours them, so a U+202E
//! (right-to-left override) in a plugin's message or a spec string can show
//! the rest of an error line reversed (the "Trojan Source" trick).

use std::borrow::Cow;

/// `text` with every control character (C0, DEL and C1) except newline and
/// tab, and every bidirectional formatting character (see [`BIDI_CONTROLS`]),
/// written out as its Rust escape (`\u{1b}`, `\r`, `\u{7}`, `\u{9b}`,
/// `\u{202e}`).
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

/// The bidirectional formatting characters: embeddings and overrides
/// (U+202A-U+202E), isolates (U+2066-U+2069), and the marks U+200E, U+200F
/// and U+061C. Each can reorder how the text around it is shown.
pub const BIDI_CONTROLS: [char; 12] = [
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
];

/// A character a terminal (or an editor) could act on: a control
/// character but newline and tab, or one that reorders the display of the
/// text around it.
pub fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || BIDI_CONTROLS.contains(&c)
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
    fn every_bidi_control_is_escaped_as_its_code_point() {
        for c in BIDI_CONTROLS {
            let want = format!("a\\u{{{:x}}}b", c as u32);
            assert_eq!(escape_controls(&format!("a{c}b")), want);
        }
        assert_eq!(
            escape_controls("exit \u{202e}0 tixe\u{2069}"),
            "exit \\u{202e}0 tixe\\u{2069}"
        );
        // Letters of right-to-left scripts are text, not controls.
        assert_eq!(escape_controls("שלום مرحبا"), "שלום مرحبا");
    }

    #[test]
    fn eight_bit_csi_in_utf8_is_escaped() {
        assert_eq!(escape_controls("x\u{9b}31my"), "x\\u{9b}31my");
    }
}
