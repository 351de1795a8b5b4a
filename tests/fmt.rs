//! The formatter: idempotent, meaning-preserving, comment-keeping, on every
//! fixture, example and parseable ui spec.

use simba_run::syntax::format::format_source;
use simba_run::syntax::parse;

fn spec_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "examples/qa",
        "examples/classify",
        "examples/pipeline",
        "examples/multihop",
        "tests/fixtures",
        "tests/ui",
    ] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "simba") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn fmt_is_idempotent_and_keeps_meaning_and_comments() {
    let mut checked = 0;
    for path in spec_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        let Ok(before) = parse(&src) else { continue };
        let once = format_source(&src).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let twice = format_source(&once)
            .unwrap_or_else(|e| panic!("{}: output does not parse: {e:?}\n{once}", path.display()));
        assert_eq!(once, twice, "{}: fmt is not idempotent", path.display());
        let after = parse(&once).unwrap();
        assert_eq!(
            before.file,
            after.file,
            "{}: fmt changed the meaning",
            path.display()
        );
        let texts = |c: &[simba_run::syntax::lex::Comment]| {
            c.iter().map(|c| c.text.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            texts(&before.comments),
            texts(&after.comments),
            "{}: comments lost or reordered",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} files checked");
}

#[test]
fn examples_are_already_formatted() {
    for path in spec_files().iter().filter(|p| p.starts_with("examples")) {
        let src = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            format_source(&src).unwrap(),
            src,
            "{} is not in canonical layout",
            path.display()
        );
    }
}

#[test]
fn fmt_lays_out_a_messy_spec() {
    let messy = r#"# header

model m {provider="sim",oracle=d   # trailing
skill=0.5}
signature A {"""
      Answer well.
    """
in q: string "the question"  out a}
program p {lm=m step s=predict(A){q=input.q}}
metric ok = (1 + 2) * 3 - -(4) feedback "x {pred.a}"
"#;
    let expected = r#"# header

model m {
  provider = "sim"
  oracle   = d  # trailing
  skill    = 0.5
}

signature A {
  """Answer well."""
  in  q: string "the question"
  out a
}

program p {
  lm = m
  step s = predict(A) { q = input.q }
}

metric ok = (1 + 2) * 3 - -4 feedback "x {pred.a}"
"#;
    assert_eq!(format_source(messy).unwrap(), expected);
}

#[test]
fn fmt_never_writes_a_bidi_or_control_character_as_itself() {
    // Each escape written in the spec must come back as an escape: `fmt`
    // turning `\u{202e}` into the character itself would hide a
    // right-to-left override in the file (the "Trojan Source" trick).
    let src = "signature A {\n  \"\"\"Answer.\"\"\"\n  in  q: string \"is \\u{202e}admin\\u{2066}\"\n  out a: string \"bell \\u{7} esc \\u{1b}\"\n}\n\
               signature B {\n  \"line one\\nline \\u{202e} two\"\n  in q\n  out a\n}\n";
    let once = format_source(src).unwrap();
    for c in ['\u{202e}', '\u{2066}', '\u{7}', '\u{1b}'] {
        assert!(!once.contains(c), "{c:?} written raw in:\n{once}");
    }
    assert!(once.contains(r#""is \u{202e}admin\u{2066}""#), "{once}");
    assert!(once.contains(r#""bell \u{7} esc \u{1b}""#), "{once}");
    // A multi-line description is laid out triple-quoted, a form without
    // escapes; holding a bidi control, it stays one quoted string.
    assert!(once.contains(r#""line one\nline \u{202e} two""#), "{once}");
    assert_eq!(format_source(&once).unwrap(), once);
}
