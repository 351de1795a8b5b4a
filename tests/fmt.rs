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
