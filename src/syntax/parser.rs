//! Text -> [`File`]: the pest grammar, recovery after a syntax error, and
//! the entry points. The tree builder is `parser/build.rs`; syntax errors in
//! words are `parser/syntax_error.rs`.

mod build;
mod syntax_error;

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::lex::{self, Comment};
use build::Builder;
use pest::Parser as _;
use syntax_error::syntax_error;

/// The pest parser generated from `grammar/simba.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/simba.pest"]
pub struct SimbaParser;

/// Item keywords, for messages and resynchronisation after an error.
pub const ITEM_KEYWORDS: [&str; 8] = [
    "plugin",
    "model",
    "signature",
    "program",
    "dataset",
    "corpus",
    "metric",
    "optimize",
];

/// A parsed file and its comments.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The syntax tree, spans pointing into the parsed text.
    pub file: File,
    /// Every `#` comment in source order (the tree has none): the formatter
    /// puts them back.
    pub comments: Vec<Comment>,
}

/// Parses a whole spec. On failure returns every syntax error found: after an
/// error the parser skips to the next line that starts with an item keyword
/// and carries on, so one typo does not hide the next.
pub fn parse(src: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let comments = lex::scan(src).map_err(|d| vec![d])?;
    let mut diags = Vec::new();
    let mut items = Vec::new();
    let mut base = 0;
    loop {
        match SimbaParser::parse(Rule::file, &src[base..]) {
            Ok(mut pairs) => {
                let mut b = Builder {
                    base,
                    src_id: 0,
                    diags: Vec::new(),
                };
                let file = b.file(pairs.next().expect("file rule"));
                items.extend(file.items);
                diags.extend(b.diags);
                break;
            }
            Err(e) => {
                let d = syntax_error(&e, src, base, 0);
                let at = d.span.start;
                diags.push(d);
                match next_item_start(src, at + 1) {
                    Some(next) if diags.len() < 20 => base = next,
                    _ => break,
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(Parsed {
            file: File { items },
            comments,
        })
    } else {
        Err(diags)
    }
}

/// Parses the value of a `--set K=V` override: `full` is the whole argument,
/// the value starts at byte `start`; spans use source index `src_id`.
#[allow(clippy::result_large_err)] // errors are rare and reported once: no need to box
pub fn parse_override_value(full: &str, start: usize, src_id: u16) -> Result<Value, Diagnostic> {
    let mut pairs = SimbaParser::parse(Rule::override_value, &full[start..])
        .map_err(|e| syntax_error(&e, full, start, src_id))?;
    let mut b = Builder {
        base: start,
        src_id,
        diags: Vec::new(),
    };
    let pair = pairs
        .next()
        .expect("override rule")
        .into_inner()
        .next()
        .expect("value");
    let v = b.value(pair);
    match b.diags.into_iter().next() {
        Some(d) => Err(d),
        None => Ok(v),
    }
}

/// The byte offset of the first line at or after `from` that starts with an item keyword.
fn next_item_start(src: &str, from: usize) -> Option<usize> {
    let mut from = from.min(src.len());
    while !src.is_char_boundary(from) {
        from += 1;
    }
    let mut pos = src[..from.min(src.len())].rfind('\n').map_or(0, |n| n + 1);
    for line in src[pos..].split_inclusive('\n') {
        if pos >= from {
            let word: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ITEM_KEYWORDS.contains(&word.as_str()) {
                return Some(pos);
            }
        }
        pos += line.len();
    }
    None
}
