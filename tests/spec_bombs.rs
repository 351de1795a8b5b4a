//! Hostile specs (issue 14, findings 6 and 11): nesting that used to overflow
//! the stack, and sizes that used to take quadratic time.
//!
//! Every bomb runs the binary in a child process, so an overflow shows up as
//! a failed assertion on its exit status, not as a crashed test binary.

#[path = "spec_gen/mod.rs"]
mod spec_gen;

use assert_cmd::Command;
use simba_run::compile::{Style, compile_source, sources_for};
use simba_run::syntax::diagnostic::render_all;
use spec_gen::{GROUP_ITEMS, Refs, many_items};
use std::path::{Path, PathBuf};

const EXPRESSION: &str = "expression nests deeper than 256 levels";
const BRACKETS: &str = "brackets nest deeper than 256 levels";
const TYPES: &str = "type arguments nest deeper than 256 levels";

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// A copy of the quickstart folder whose spec is `edit` of the quickstart
/// spec, run for one step.
fn project(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for f in ["data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(quickstart().join(f), dir.path().join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(quickstart().join("quickstart.simba")).unwrap();
    let spec = spec
        .replace("max_steps = 8", "max_steps = 1")
        .replace("num_candidates = 6", "num_candidates = 2");
    std::fs::write(dir.path().join("spec.simba"), edit(spec)).unwrap();
    dir
}

/// The quickstart with its metric replaced by `metric correct = EXPR`.
fn with_metric(expr: &str) -> tempfile::TempDir {
    project(|s| {
        s.replace(
            "metric correct = exact_match(pred.answer, gold.answer)",
            &format!("metric correct = {expr}"),
        )
    })
}

/// The quickstart with `text` added at the end.
fn with_item(text: &str) -> tempfile::TempDir {
    project(|s| format!("{s}\n{text}\n"))
}

/// Runs the binary with `args` in `dir`: (exit code, stderr). A process
/// killed by a signal (a stack overflow aborts) has no code: `None`.
fn simba(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check` rejects the spec in `dir` with `message` (exit 1, no abort), just
/// once; returns its stderr.
fn check_rejects(dir: &tempfile::TempDir, message: &str) -> String {
    let (code, stderr) = simba(dir.path(), &["check", "spec.simba"]);
    let head = head(&stderr);
    assert_eq!(code, Some(1), "{head}");
    assert_eq!(stderr.matches(message).count(), 1, "{head}");
    stderr
}

/// The start of a long stderr, for a failed assertion's message.
fn head(stderr: &str) -> String {
    stderr.chars().take(2000).collect()
}

const CALL: &str = "exact_match(pred.answer, gold.answer)";

/// What precedes the expression on the metric's line.
const METRIC: &str = "metric correct = ";

/// The byte offset of the `n`th (from 1) `pat` in `text`.
fn nth(text: &str, pat: &str, n: usize) -> usize {
    text.match_indices(pat)
        .nth(n - 1)
        .unwrap_or_else(|| panic!("fewer than {n} `{pat}`"))
        .0
}

/// `spec.simba:line:column]`, as the diagnostic shows the place of byte `at`
/// of a metric expression put in the quickstart by [`with_metric`] (a run
/// puts the folder before the file name).
fn metric_position(at: usize) -> String {
    let spec = std::fs::read_to_string(quickstart().join("quickstart.simba")).unwrap();
    let line = 1 + spec
        .lines()
        .position(|l| l.starts_with(METRIC))
        .expect("the quickstart has a metric");
    format!("spec.simba:{line}:{}]", METRIC.len() + at + 1)
}

/// A metric bomb: `check` exits 1 (the process is not aborted by a stack
/// overflow) with `message`, pointing at byte `at` of `expr`, where level
/// 257 starts.
fn metric_bomb(expr: &str, message: &str, at: usize) -> tempfile::TempDir {
    let dir = with_metric(expr);
    let stderr = check_rejects(&dir, message);
    assert!(stderr.contains(&metric_position(at)), "{}", head(&stderr));
    dir
}

#[test]
fn a_metric_of_5000_chained_plus_zero_is_refused_by_check_and_by_a_run() {
    // It once passed `check` and overflowed the stack when the run
    // evaluated the metric. The call is level 1, each `+` one more: the
    // 256th `+` makes level 257.
    let expr = format!("{CALL}{}", " + 0".repeat(5_000));
    let at = nth(&expr, "+", 256);
    let dir = metric_bomb(&expr, EXPRESSION, at);
    let (code, stderr) = simba(dir.path(), &["spec.simba", "--quiet"]);
    assert_eq!(code, Some(1), "{}", head(&stderr));
    assert!(stderr.contains(EXPRESSION), "{}", head(&stderr));
    assert!(stderr.contains(&metric_position(at)), "{}", head(&stderr));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn seven_thousand_nested_parentheses_are_refused() {
    let expr = format!("{}{CALL}{}", "(".repeat(7_000), ")".repeat(7_000));
    metric_bomb(&expr, BRACKETS, nth(&expr, "(", 257));
}

#[test]
fn twenty_thousand_plus_terms_are_refused() {
    let expr = vec![CALL; 20_000].join(" + ");
    metric_bomb(&expr, EXPRESSION, nth(&expr, "+", 256));
}

#[test]
fn a_hundred_thousand_nots_are_refused() {
    let expr = format!("{}{CALL}", "not ".repeat(100_000));
    metric_bomb(&expr, EXPRESSION, nth(&expr, "not", 257));
}

#[test]
fn a_hundred_thousand_minus_signs_are_refused() {
    let expr = format!("{}{CALL}", "-".repeat(100_000));
    metric_bomb(&expr, EXPRESSION, nth(&expr, "-", 257));
}

#[test]
fn ten_thousand_nested_min_calls_are_refused() {
    // The 257th call opens the 257th bracket: the text scan reports it.
    let expr = format!("{}{CALL}{}", "min(".repeat(10_000), ")".repeat(10_000));
    metric_bomb(&expr, BRACKETS, nth(&expr, "(", 257));
}

#[test]
fn fmt_keeps_a_metric_within_the_limit_within_it() {
    // `not` binds looser than `*`, so fmt writes `a * (not b * (not c ...))`:
    // its parentheses must not count as levels, or the formatted spec would
    // be refused by the `check` its original passed.
    let expr = format!("{CALL}{}", format!(" * not {CALL}").repeat(127));
    let dir = with_metric(&expr);
    let (code, stderr) = simba(dir.path(), &["check", "spec.simba"]);
    assert_eq!(code, Some(0), "{}", head(&stderr));
    let (code, stderr) = simba(dir.path(), &["fmt", "spec.simba"]);
    assert_eq!(code, Some(0), "{}", head(&stderr));
    let formatted = std::fs::read_to_string(dir.path().join("spec.simba")).unwrap();
    assert!(formatted.contains(&format!("{CALL} * (not {CALL} * (not")));
    let (code, stderr) = simba(dir.path(), &["check", "spec.simba"]);
    assert_eq!(code, Some(0), "{}", head(&stderr));
}

#[test]
fn deep_values_blocks_and_types_are_rejected_too() {
    let n = 10_000;
    let list = format!(
        "model deep {{ provider = \"sim\" tags = {}1{} }}",
        "[".repeat(n),
        "]".repeat(n)
    );
    check_rejects(&with_item(&list), BRACKETS);
    let blocks = format!(
        "model deep {{ provider = \"sim\" {}x = 1{} }}",
        "a {".repeat(n),
        "}".repeat(n)
    );
    check_rejects(&with_item(&blocks), BRACKETS);
    // Blocks as values (`a = { a = [{ .. }] }`) count like any bracket.
    let values = format!(
        "model deep {{ provider = \"sim\" params {{ {}x = 1{} }} }}",
        "a = [{ ".repeat(n / 2),
        " }]".repeat(n / 2)
    );
    check_rejects(&with_item(&values), BRACKETS);
    let ty = format!(
        "signature Deep {{ in x: {}string{} out y: string }}",
        "list<".repeat(n),
        ">".repeat(n)
    );
    check_rejects(&with_item(&ty), TYPES);
    let line = format!(
        "signature Deep = \"x: {}string{} -> y\"",
        "list<".repeat(n),
        ">".repeat(n)
    );
    check_rejects(
        &with_item(&line),
        &format!("invalid one-line signature: {TYPES}"),
    );
}

#[test]
fn a_deep_set_override_is_rejected() {
    let dir = project(|s| s);
    let n = 10_000;
    let value = format!("qa.seed={}1{}", "[".repeat(n), "]".repeat(n));
    let (code, stderr) = simba(dir.path(), &["spec.simba", "--set", &value, "--quiet"]);
    assert_eq!(code, Some(1), "{}", head(&stderr));
    assert!(stderr.contains(BRACKETS), "{}", head(&stderr));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn check_and_run_agree_at_the_limit() {
    // 255 operators over a call: 256 levels, the most there may be.
    let legal = with_metric(&format!("{CALL}{}", " + 0".repeat(255)));
    let (code, stderr) = simba(legal.path(), &["check", "spec.simba"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = simba(legal.path(), &["spec.simba", "--quiet"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(legal.path().join("out/qa/program.json").exists());

    // One more operator: both refuse, with the same diagnostic.
    let over = with_metric(&format!("{CALL}{}", " + 0".repeat(256)));
    let (check_code, check_err) = simba(over.path(), &["check", "spec.simba"]);
    let (run_code, run_err) = simba(over.path(), &["spec.simba", "--quiet"]);
    assert_eq!(
        (check_code, run_code),
        (Some(1), Some(1)),
        "{check_err}\n{run_err}"
    );
    assert!(check_err.contains(EXPRESSION), "{check_err}");
    let diagnostic = |e: &str| {
        e.lines()
            .take_while(|l| !l.starts_with("error:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // A run names the spec by its full path.
    let run_err = run_err.replace(&format!("{}/", over.path().display()), "");
    assert_eq!(diagnostic(&run_err), diagnostic(&check_err));
    assert!(!over.path().join("out").exists());
}

/// Compiles a generated spec and renders its diagnostics, as `check` does.
fn check_generated(items: usize, refs: Refs) -> (Vec<simba_run::compile::Diagnostic>, String) {
    let src = many_items(items / GROUP_ITEMS, refs);
    let path = Path::new("many.simba");
    let diags = match compile_source(path, &src, &[]) {
        Ok((_, warnings)) => warnings,
        Err(all) => all,
    };
    let rendered = render_all(&diags, &sources_for(path, &src, &[]), Style::Plain);
    (diags, rendered)
}

#[test]
fn a_spec_of_20k_items_compiles() {
    // Once quadratic (8,000 unused signatures took 4.4 s, 50k over a
    // minute): a regression would take minutes here. 20k rather than 50k
    // keeps the debug build's test short; benches/check_scale.rs times 50k.
    let groups = 20_000 / GROUP_ITEMS;
    let (warnings, rendered) = check_generated(20_000, Refs::Valid);
    assert_eq!(warnings.len(), groups);
    assert!(warnings.iter().all(|w| !w.is_error()));
    assert_eq!(rendered.matches("is never used").count(), groups);
    let last = format!("signature `Unused{}` is never used", groups - 1);
    assert!(rendered.contains(&last));
}

#[test]
fn thousands_of_unknown_names_get_short_help() {
    let groups = 6_000 / GROUP_ITEMS;
    let (diags, rendered) = check_generated(6_000, Refs::Typos);
    let unknown: Vec<_> = diags
        .iter()
        .filter(|d| d.message.starts_with("unknown signature"))
        .collect();
    assert_eq!(unknown.len(), groups);
    // The first ones get a suggestion; once the budget is spent, a short list.
    assert_eq!(unknown[0].help.as_deref(), Some("did you mean `Answer0`?"));
    let last = unknown.last().unwrap().help.as_deref().unwrap();
    assert!(
        last.starts_with("declared signatures: Answer0, Unused0, Answer1"),
        "{last}"
    );
    assert!(
        last.ends_with(&format!(" and {} more", 2 * groups - 20)),
        "{last}"
    );
    assert!(
        rendered.len() < 400 * diags.len(),
        "{} bytes",
        rendered.len()
    );
}

#[test]
fn a_4_mb_string_deep_in_lists_on_one_line_parses_to_its_value() {
    // Once 12 s in a debug build (a rule call per character of a string,
    // then every enclosing pair scanning the whole line for a trailing
    // comment); benches/check_scale.rs times it. The value must survive
    // intact: escapes, `#` and quotes inside the string are not comments.
    use simba_run::syntax::ast::{EntryValue, Item, ValueKind};
    let chunk = "ab#\\\"c\\\\d ";
    let want_chunk = "ab#\"c\\d ";
    let n = 4_000_000 / chunk.len();
    let depth = 100;
    let src = format!(
        "model big {{ provider = openai  model = \"x\"  params {{ x = {}\"{}\"{} }} }} # \"end\n",
        "[".repeat(depth),
        chunk.repeat(n),
        "]".repeat(depth),
    );
    let parsed = simba_run::syntax::parse(&src).expect("the spec parses");
    let Item::Model(m) = &parsed.file.items[0] else {
        panic!("a model item")
    };
    assert_eq!(
        &src[m.span.start..m.span.end],
        src.split(" # ").next().unwrap()
    );
    let EntryValue::Block(params) = &m.entries[2].value else {
        panic!("a params block")
    };
    let EntryValue::Value(mut v) = params[0].value.clone() else {
        panic!("a value")
    };
    for _ in 0..depth {
        let ValueKind::List(mut items) = v.kind else {
            panic!("a list")
        };
        assert_eq!(items.len(), 1);
        v = items.remove(0);
    }
    let ValueKind::Str(text) = v.kind else {
        panic!("a string")
    };
    assert_eq!(text.len(), want_chunk.len() * n);
    assert!(text == want_chunk.repeat(n));
    assert_eq!(parsed.comments.len(), 1);
}
