//! A light scan of the raw text, before pest: finds comments (the formatter
//! keeps them) and unterminated strings (pest would only say "expected a
//! value" far from the real cause). Also string helpers shared by the parser
//! and the formatter.

use super::ast::Span;
use super::diagnostic::Diagnostic;

/// A `# ...` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text from `#` to the end of the line, trailing spaces removed.
    pub text: String,
    /// Byte offset of the `#` in the source.
    pub start: usize,
    /// Code precedes it on the same line.
    pub trailing: bool,
    /// A blank line comes right before it.
    pub blank_before: bool,
    /// A blank line comes right after it.
    pub blank_after: bool,
}

/// Scans `src`, returning its comments, or the error for an unterminated string.
#[allow(clippy::result_large_err)] // errors are rare and reported once: no need to box
pub fn scan(src: &str) -> Result<Vec<Comment>, Diagnostic> {
    let bytes = src.as_bytes();
    let mut comments = Vec::new();
    let mut i = 0;
    let mut line_has_code = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line_has_code = false;
                i += 1;
            }
            b'#' => {
                let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                comments.push(Comment {
                    text: src[i..end].trim_end().to_string(),
                    start: i,
                    trailing: line_has_code,
                    blank_before: !line_has_code && blank_line_before(src, i),
                    blank_after: blank_line_after(src, end),
                });
                i = end;
            }
            b'"' if src[i..].starts_with("\"\"\"") => {
                match src[i + 3..].find("\"\"\"") {
                    Some(n) => i = i + 3 + n + 3,
                    None => {
                        return Err(Diagnostic::error(
                            Span::new(i, i + 3),
                            "unterminated triple-quoted string",
                        )
                        .label("this string is never closed")
                        .help("close it with `\"\"\"`"));
                    }
                }
                line_has_code = true;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            let end = src[start..].find('\n').map_or(src.len(), |n| start + n);
                            return Err(Diagnostic::error(Span::new(start, end.max(start + 1)), "unterminated string")
                                .label("this string has no closing quote on its line")
                                .help("add the closing `\"`; for text over several lines use `\"\"\"...\"\"\"`"));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                line_has_code = true;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            _ => {
                line_has_code = true;
                i += 1;
            }
        }
    }
    Ok(comments)
}

/// Whether the line before the one holding `pos` is blank (and exists).
fn blank_line_before(src: &str, pos: usize) -> bool {
    let line_start = src[..pos].rfind('\n').map_or(0, |n| n + 1);
    if line_start == 0 {
        return false;
    }
    let prev_start = src[..line_start - 1].rfind('\n').map_or(0, |n| n + 1);
    src[prev_start..line_start - 1].trim().is_empty()
}

/// Whether the line after the one ending at `end` is blank (and not the end of the file).
fn blank_line_after(src: &str, end: usize) -> bool {
    let Some(rest) = src.get(end + 1..) else {
        return false;
    };
    let next = rest.split('\n').next().unwrap_or("");
    next.trim().is_empty() && rest.len() > next.len()
}

/// Whether the text between two constructs holds a blank line (comments aside).
pub fn has_blank_line(between: &str) -> bool {
    let lines: Vec<&str> = between.split('\n').collect();
    lines.len() > 2
        && lines[1..lines.len() - 1]
            .iter()
            .any(|l| l.trim().is_empty())
}

/// Resolves the escapes of a `"..."` string body (without its quotes).
/// `base` is the byte offset of the body, for error spans.
#[allow(clippy::result_large_err)] // errors are rare and reported once: no need to box
pub fn unescape(body: &str, base: usize, src: u16) -> Result<String, Diagnostic> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |end: usize, what: &str| {
            Diagnostic::error(
                Span {
                    start: base + i,
                    end: base + end,
                    src,
                },
                what.to_string(),
            )
            .label("here")
            .help("valid escapes: \\n \\t \\r \\\" \\\\ \\u{1F600}")
        };
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, '0')) => out.push('\0'),
            Some((j, 'u')) => {
                let rest = &body[j + 1..];
                let close = rest.find('}');
                let code = match (rest.starts_with('{'), close) {
                    (true, Some(k)) => u32::from_str_radix(&rest[1..k], 16)
                        .ok()
                        .and_then(char::from_u32),
                    _ => None,
                };
                match (code, close) {
                    (Some(ch), Some(k)) => {
                        out.push(ch);
                        let stop = j + 1 + k;
                        while chars.peek().is_some_and(|&(p, _)| p <= stop) {
                            chars.next();
                        }
                    }
                    _ => {
                        let end = close.map_or(j + 1, |k| j + 2 + k);
                        return Err(bad(end, "invalid unicode escape"));
                    }
                }
            }
            Some((j, other)) => {
                return Err(bad(
                    j + other.len_utf8(),
                    &format!("unknown escape `\\{other}`"),
                ));
            }
            None => return Err(bad(i + 1, "a backslash ends the string")),
        }
    }
    Ok(out)
}

/// The value of a `"""..."""` body: first and last blank lines dropped,
/// common leading whitespace removed.
pub fn dedent(raw: &str) -> String {
    let mut lines: Vec<&str> = raw
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if lines.len() > 1 && lines[0].trim().is_empty() {
        lines.remove(0);
    }
    if lines.len() > 1 && lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| &l[common.min(indent(l))..])
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `s` is a name the grammar reads (`ident`): ASCII letters,
/// digits and `_`, not starting with a digit.
pub fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `value` as a `"..."` literal with escapes. Control and bidirectional
/// formatting characters are written as `\u{..}`, never as themselves: a
/// spec written with `\u{202e}` must not come back from `fmt` holding a
/// character that silently reorders how the line shows in an editor.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || crate::printable::BIDI_CONTROLS.contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as a `"""..."""` literal indented by `indent`, if that form gives
/// back exactly `value`; multi-line values are laid out one line per line.
pub fn triple_quote(value: &str, indent: &str) -> Option<String> {
    // No escapes in this form: a value holding a character that has to be
    // written as one (a control but newline and tab, a bidi control) takes
    // the quoted form.
    if value.contains("\"\"\"")
        || value.ends_with('"')
        || value.chars().any(crate::printable::needs_escape)
    {
        return None;
    }
    let text = if value.contains('\n') {
        let mut t = String::from("\"\"\"\n");
        for line in value.split('\n') {
            if !line.is_empty() {
                t.push_str(indent);
                t.push_str("  ");
                t.push_str(line);
            }
            t.push('\n');
        }
        t.push_str(indent);
        t.push_str("\"\"\"");
        t
    } else {
        format!("\"\"\"{value}\"\"\"")
    };
    let body = &text[3..text.len() - 3];
    (dedent(body) == value).then_some(text)
}

/// A duration literal, `250ms`, `30s`, `1.5m`, `2h` (`_` allowed between
/// digits), as a Duration. simba.toml reads durations the same way.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let clean = text.replace('_', "");
    let (num, unit) = if let Some(n) = clean.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = clean.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = clean.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = clean.strip_suffix('h') {
        (n, 3600.0)
    } else {
        return None;
    };
    let secs = num.parse::<f64>().ok()? * unit;
    std::time::Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_drops_edges_and_common_indent() {
        assert_eq!(dedent("\n    a\n      b\n    "), "a\n  b");
        assert_eq!(dedent("one line"), "one line");
        assert_eq!(dedent("\n  a\n\n  b\n"), "a\n\nb");
    }

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(
            unescape(r#"a\n\t\"\\\u{1F600}z"#, 0, 0).unwrap(),
            "a\n\t\"\\\u{1F600}z"
        );
        assert!(unescape(r"\q", 0, 0).unwrap_err().message.contains("\\q"));
        assert!(unescape(r"\u{zz}", 0, 0).is_err());
    }

    #[test]
    fn triple_quote_round_trips_or_declines() {
        for v in ["a\n  b\n\nc", "Answer it.", "x\n", "\nx"] {
            let t = triple_quote(v, "  ").expect(v);
            assert_eq!(dedent(&t[3..t.len() - 3]), v);
        }
        assert!(triple_quote("  leading", "").is_none());
        assert!(triple_quote("ends with \"", "").is_none());
    }

    #[test]
    fn scan_finds_comments_and_unterminated_strings() {
        let c = scan("# top\nmodel m { # tail\n x = \"a # not\" }\n").unwrap();
        assert_eq!(c.len(), 2);
        assert!(!c[0].trailing && c[1].trailing);
        assert!(scan("x = \"abc\ny").is_err());
        assert!(scan("x = \"\"\"abc").is_err());
    }
}
