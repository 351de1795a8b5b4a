//! Text -> [`File`]: the pest grammar, recovery after a syntax error, and
//! the entry points. The tree builder is `parser/build.rs` (expressions:
//! `parser/expr.rs`); syntax errors in words are `parser/syntax_error.rs`.
//! Text goes to pest only after `nesting::check`, as pest recurses per level.

mod build;
mod expr;
mod syntax_error;

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::lex::{self, Comment};
use super::nesting;
use build::Builder;
use pest::Parser as _;
use std::sync::Arc;
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
    let depth = nesting::check(src, 0, 0).map_err(|d| vec![d])?;
    let (items, diags) =
        nesting::on_stack_for(depth, || parse_items(src, &comment_ranges(&comments)));
    if diags.is_empty() {
        Ok(Parsed {
            file: File { items },
            comments,
        })
    } else {
        Err(diags)
    }
}

/// The items of `src`, and every syntax error (see [`parse`]).
fn parse_items(src: &str, comments: &Arc<[(usize, usize)]>) -> (Vec<Item>, Vec<Diagnostic>) {
    one_item_at_a_time(src, comments).unwrap_or_else(|| whole_file(src, comments))
}

/// The byte ranges of `comments`, for the builder's spans.
fn comment_ranges(comments: &[Comment]) -> Arc<[(usize, usize)]> {
    comments
        .iter()
        .map(|c| (c.start, c.start + c.text.len()))
        .collect()
}

/// Parses `src` one item at a time: the same items as parsing the whole
/// file (PEG items do not depend on what follows them), with pest's token
/// queue (some 40 bytes per token, about 20 per byte of spec) for one item
/// only. `None` at the first syntax error: [`whole_file`] then reports it
/// with exactly the words a whole-file parse has for it.
fn one_item_at_a_time(
    src: &str,
    comments: &Arc<[(usize, usize)]>,
) -> Option<(Vec<Item>, Vec<Diagnostic>)> {
    let mut items = Vec::new();
    let mut b = Builder {
        base: 0,
        src_id: 0,
        diags: Vec::new(),
        comments: Some(comments.clone()),
    };
    loop {
        let rest = &src[b.base..];
        if only_trivia(rest) {
            return Some((items, b.diags));
        }
        let mut pairs = SimbaParser::parse(Rule::item_once, rest).ok()?;
        let item = pairs.next()?.into_inner().next()?;
        let end = item.as_span().end();
        items.push(b.item(item));
        b.base += end;
    }
}

/// Parses the whole file at once; after an error, carries on from the next
/// line that starts with an item keyword.
fn whole_file(src: &str, comments: &Arc<[(usize, usize)]>) -> (Vec<Item>, Vec<Diagnostic>) {
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
                    comments: Some(comments.clone()),
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
    (items, diags)
}

/// Parses the value of a `--set K=V` override: `full` is the whole argument,
/// the value starts at byte `start`; spans use source index `src_id`.
#[allow(clippy::result_large_err)] // errors are rare and reported once: no need to box
pub fn parse_override_value(full: &str, start: usize, src_id: u16) -> Result<Value, Diagnostic> {
    let depth = nesting::check(&full[start..], start, src_id)?;
    nesting::on_stack_for(depth, || override_value(full, start, src_id))
}

#[allow(clippy::result_large_err)] // as above
fn override_value(full: &str, start: usize, src_id: u16) -> Result<Value, Diagnostic> {
    let mut pairs = SimbaParser::parse(Rule::override_value, &full[start..])
        .map_err(|e| syntax_error(&e, full, start, src_id))?;
    let mut b = Builder {
        base: start,
        src_id,
        diags: Vec::new(),
        comments: None,
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

/// Whether `text` holds nothing but whitespace and `#` comments (what the
/// grammar skips between items). Checked here, not by pest: a failed pest
/// parse builds an error from the whole remaining text.
fn only_trivia(text: &str) -> bool {
    let mut lines = text.split('\n');
    lines.all(|line| {
        let code = line.trim_start_matches([' ', '\t', '\r']);
        code.is_empty() || code.starts_with('#')
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example spec, and the valid specs the tests use.
    fn valid_specs() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut specs = Vec::new();
        for dir in [
            "examples/quickstart",
            "examples/qa",
            "examples/classify",
            "examples/pipeline",
            "examples/local",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "simba") {
                    specs.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        assert!(specs.len() >= 5);
        specs
    }

    #[test]
    fn item_by_item_gives_what_the_whole_file_gives() {
        let extra = [
            "# only a comment\n\n   # and another\n",
            "",
            "metric m = 1 + 2\n# trailing comment, no newline",
            "signature S = \"a -> b\"\nmetric m = 1 feedback \"x {pred.a}\"\n\n\t\r\n",
            // A bad escape is not a syntax error: both report it.
            "signature S { in a: string \"bad \\q\" }\nmetric m = 1",
        ];
        let specs = valid_specs().into_iter().chain(extra.map(String::from));
        for src in specs {
            let c = ranges(&src);
            let whole = whole_file(&src, &c);
            assert_eq!(one_item_at_a_time(&src, &c), Some(whole), "{src}");
        }
    }

    fn ranges(src: &str) -> Arc<[(usize, usize)]> {
        comment_ranges(&lex::scan(src).unwrap())
    }

    #[test]
    fn a_trailing_comment_with_quotes_and_hashes_is_cut_from_the_span() {
        let src = "program p {\n  step a = predict(S) # say \"x # y\"\n  # more\n\n  step b = predict(T)  # c\n}\n";
        let parsed = parse(src).unwrap();
        let Item::Program(p) = &parsed.file.items[0] else {
            panic!("a program item")
        };
        let ProgramBody::Block(entries) = &p.body else {
            panic!("a block body")
        };
        let spans: Vec<&str> = entries
            .iter()
            .filter_map(|e| match e {
                ProgramEntry::Step(s) => Some(&src[s.span.start..s.span.end]),
                _ => None,
            })
            .collect();
        assert_eq!(spans, ["step a = predict(S)", "step b = predict(T)"]);
    }

    #[test]
    fn a_syntax_error_falls_back_to_the_whole_file_parse() {
        let src = "metric m = 1 +\nmodle x { }\nmetric n = 2\n";
        let c = ranges(src);
        assert_eq!(one_item_at_a_time(src, &c), None);
        let (_, diags) = parse_items(src, &c);
        assert_eq!(diags, whole_file(src, &c).1);
        assert!(!diags.is_empty());
    }

    #[test]
    fn trivia_is_whitespace_and_comments_only() {
        assert!(only_trivia(""));
        assert!(only_trivia(" \n\t# x\r\n  #y"));
        assert!(!only_trivia("\n  x"));
        assert!(!only_trivia("# c\n model"));
    }
}
