//! The parser, compiler and formatter never panic, whatever the input; and
//! whenever an input parses, formatting it keeps its meaning.
//!
//! Cases default to 2,000 per property; set `PROPTEST_CASES` for longer runs.

use proptest::prelude::*;
use simba_run::compile::compile_source;
use simba_run::syntax::format::format_source;
use simba_run::syntax::parse;
use std::path::Path;

const TOKENS: &[&str] = &[
    "model",
    "signature",
    "program",
    "dataset",
    "metric",
    "optimize",
    "plugin",
    "with",
    "simba",
    "in",
    "out",
    "step",
    "lm",
    "feedback",
    "predict",
    "chain_of_thought",
    "env",
    "jsonl",
    "csv",
    "enum",
    "list",
    "string",
    "int",
    "pred",
    "gold",
    "input",
    "stop",
    "split",
    "rest",
    "true",
    "false",
    "not",
    "and",
    "or",
    "x",
    "y",
    "A",
    "=",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    ",",
    ".",
    ":",
    "->",
    "+",
    "-",
    "*",
    "/",
    "==",
    "<=",
    "\"",
    "\"\"\"",
    "\\",
    "#",
    "\n",
    " ",
    "  ",
    "0",
    "1.5",
    "-3",
    "1e-3",
    "5_000",
    "30s",
    "250ms",
    "2m",
    "\"text\"",
    "\"a -> b\"",
    "\"\\u{1F600}\"",
    "\u{e9}",
    "\u{1F600}",
    "\t",
    "\r\n",
];

fn examples() -> Vec<String> {
    let mut out = Vec::new();
    for p in [
        "examples/qa/qa.simba",
        "examples/classify/classify.simba",
        "examples/pipeline/pipeline.simba",
        "tests/fixtures/full.simba",
    ] {
        out.push(std::fs::read_to_string(p).unwrap());
    }
    out
}

/// Runs every stage on `src`; panics only on a real bug.
fn exercise(src: &str) {
    let _ = compile_source(Path::new("fuzz.simba"), src, &[]);
    if let Ok(before) = parse(src) {
        let once = format_source(src).expect("a parsed spec formats");
        let after = parse(&once).unwrap_or_else(|e| {
            panic!("formatted output does not parse: {e:?}\n---\n{src}\n---\n{once}")
        });
        assert_eq!(
            before.file, after.file,
            "fmt changed the meaning of\n---\n{src}\n---\n{once}"
        );
        let twice = format_source(&once).unwrap();
        assert_eq!(once, twice, "fmt is not idempotent on\n---\n{src}");
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1usize..60).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// The nearest char boundary at or below `i`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(src: &str, m: &Mutation) -> String {
    if src.is_empty() {
        return String::new();
    }
    match *m {
        Mutation::Delete { at, len } => {
            let a = boundary(src, at % src.len());
            let b = boundary(src, a + len);
            format!("{}{}", &src[..a], &src[b..])
        }
        Mutation::Insert { at, token } => {
            let a = boundary(src, at % src.len());
            format!("{}{}{}", &src[..a], TOKENS[token], &src[a..])
        }
        Mutation::Duplicate { at, len } => {
            let a = boundary(src, at % src.len());
            let b = boundary(src, a + len);
            format!("{}{}{}", &src[..b], &src[a..b], &src[b..])
        }
        Mutation::Truncate { at } => src[..boundary(src, at % src.len())].to_string(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_token_soup_never_panics(tokens in prop::collection::vec(0..TOKENS.len(), 0..80)) {
        let src: String = tokens.iter().map(|&t| TOKENS[t]).collect::<Vec<_>>().join(" ");
        exercise(&src);
    }

    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}") {
        exercise(&src);
    }

    #[test]
    fn mutated_examples_never_panic(which in 0usize..4, muts in prop::collection::vec(mutation(), 1..4)) {
        let mut src = examples()[which].clone();
        for m in &muts {
            src = apply(&src, m);
        }
        exercise(&src);
    }
}
