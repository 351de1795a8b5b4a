//! The nesting limit of the language, checked on the raw text before pest.
//!
//! pest's parser recurses once (or more) per nesting level, and so do the
//! tree builder, the compiler and the metric evaluator: a few thousand nested
//! `(` or `[` would overflow the stack and abort the process. This scan counts
//! how deep brackets and type arguments go, without recursion, and turns
//! anything deeper than [`MAX_DEPTH`] into an ordinary diagnostic. (Deep
//! expressions without brackets, such as long operator chains, are measured
//! while their tree is built: see `parser/expr.rs`.)
//!
//! Text that does nest deep is parsed on a thread of its own with a stack
//! sized for [`MAX_DEPTH`] levels ([`on_stack_for`]), whatever stack the
//! caller has: an unoptimised build spends about 8 KiB per level.

use super::ast::Span;
use super::diagnostic::Diagnostic;

/// How deep brackets, type arguments and expressions may nest.
pub const MAX_DEPTH: usize = 256;

/// Up to this depth, parsing runs on the caller's stack.
const SHALLOW: usize = 16;

/// The stack for parsing text nested up to [`MAX_DEPTH`] levels: several
/// times what the deepest legal text needs (reserved, not committed).
const DEEP_STACK: usize = 64 << 20;

/// What the scan last saw, for telling `list<` (a type argument) from `a < b`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Ident,
    Other,
}

/// Checks that in `text`, `(`, `[` and `{` nest at most [`MAX_DEPTH`] deep,
/// and so do type arguments (`list<list<..>>`); strings and comments are
/// skipped. `base` is the offset of `text` in source `src`, for the span.
/// Returns the deepest level found.
#[allow(clippy::result_large_err)] // reported once, then parsing stops
pub fn check(text: &str, base: usize, src: u16) -> Result<usize, Diagnostic> {
    let b = text.as_bytes();
    let mut deepest = 0usize;
    let mut depth = 0usize;
    // `name <` pairs in a row: how deep a type's arguments go.
    let mut type_run = 0usize;
    let mut last = Last::Other;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = line_end(b, i);
                continue;
            }
            b'"' => {
                i = string_end(b, i);
                type_run = 0;
                last = Last::Other;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > MAX_DEPTH {
                    return Err(too_deep(base + i, src, "brackets nest"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'<' if last == Last::Ident => {
                type_run += 1;
                deepest = deepest.max(type_run);
                if type_run > MAX_DEPTH {
                    return Err(too_deep(base + i, src, "type arguments nest"));
                }
                last = Last::Other;
                i += 1;
                continue;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                last = Last::Ident;
                continue;
            }
            _ => {}
        }
        type_run = 0;
        last = Last::Other;
        i += 1;
    }
    Ok(deepest)
}

/// Runs `parse` (of text [`check`] found `depth` levels deep) on the
/// caller's stack when the text is shallow, else on a thread whose stack
/// holds [`MAX_DEPTH`] levels of pest and the tree builder.
pub fn on_stack_for<T: Send>(depth: usize, parse: impl FnOnce() -> T + Send) -> T {
    if depth <= SHALLOW {
        return parse();
    }
    // Shared so that whichever stack runs it can take it.
    let job = std::sync::Mutex::new(Some(parse));
    let run = || {
        let parse = job.lock().ok().and_then(|mut j| j.take());
        parse.expect("the parse runs once")()
    };
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("simba-parse".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(s, run);
        match worker {
            Ok(handle) => match handle.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had: the caller's stack is the only one.
            Err(_) => run(),
        }
    })
}

/// The error for level `MAX_DEPTH + 1`, opened at byte `at`.
fn too_deep(at: usize, src: u16, what: &str) -> Diagnostic {
    Diagnostic::error(
        Span {
            start: at,
            end: at + 1,
            src,
        },
        format!("{what} deeper than {MAX_DEPTH} levels"),
    )
    .label(format!("level {} opens here", MAX_DEPTH + 1))
    .help(format!(
        "a spec nests brackets, blocks, type arguments and expressions at most {MAX_DEPTH} levels deep"
    ))
}

/// The offset of the `\n` ending the line at `i` (or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

/// The offset just past the string opening at `i` (`"..."` with escapes, or
/// `"""..."""`); an unterminated one runs to its line end (plain) or the end.
fn string_end(b: &[u8], i: usize) -> usize {
    if b[i..].starts_with(b"\"\"\"") {
        return b[i + 3..]
            .windows(3)
            .position(|w| w == b"\"\"\"")
            .map_or(b.len(), |n| i + 3 + n + 3);
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            b'\n' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, n: usize) -> String {
        format!("{}x{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn brackets_up_to_the_limit_pass() {
        for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
            assert!(check(&nested(open, close, MAX_DEPTH), 0, 0).is_ok());
            // Siblings do not add up.
            let two = nested(open, close, MAX_DEPTH).repeat(2);
            assert!(check(&two, 0, 0).is_ok());
        }
    }

    #[test]
    fn one_bracket_too_many_is_reported_where_it_opens() {
        let text = format!("m = {}", nested("(", ")", MAX_DEPTH + 1));
        let d = check(&text, 10, 3).unwrap_err();
        assert_eq!(d.message, "brackets nest deeper than 256 levels");
        assert_eq!(
            d.span,
            Span {
                start: 10 + 4 + MAX_DEPTH,
                end: 10 + 5 + MAX_DEPTH,
                src: 3
            }
        );
        // Mixed kinds count together.
        let mixed = "([{".repeat(MAX_DEPTH / 3 + 1);
        assert!(check(&mixed, 0, 0).is_err());
    }

    #[test]
    fn strings_and_comments_are_skipped() {
        let deep = "(".repeat(MAX_DEPTH + 1);
        for text in [
            format!("x = \"{deep}\""),
            format!("x = \"\"\"{deep}\n{deep}\"\"\""),
            format!("# {deep}\nx = 1"),
            format!("x = \"a \\\" {deep}\""),
        ] {
            assert!(check(&text, 0, 0).is_ok(), "{text}");
        }
    }

    #[test]
    fn type_arguments_count_but_comparisons_do_not() {
        let ty = |n: usize| format!("in x: {}string{}", "list<".repeat(n), ">".repeat(n));
        assert!(check(&ty(MAX_DEPTH), 0, 0).is_ok());
        let d = check(&ty(MAX_DEPTH + 1), 0, 0).unwrap_err();
        assert_eq!(d.message, "type arguments nest deeper than 256 levels");
        // `pred.a < gold.b` chains, however long, are not type arguments.
        let chain = "pred.a < gold.b and ".repeat(2 * MAX_DEPTH);
        assert!(check(&chain, 0, 0).is_ok());
        assert!(check(&"1 < ".repeat(2 * MAX_DEPTH), 0, 0).is_ok());
    }
}
