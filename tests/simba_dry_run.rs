//! `--dry-run`: the LM calls per phase, printed without calling any model.

use assert_cmd::Command;
use std::path::Path;

#[test]
fn dry_run_prints_calls_per_phase_and_bounds_the_real_run() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/quickstart.simba");
    let out = std::env::temp_dir().join(format!("simba-dry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .arg(&spec)
        .arg("--dry-run")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    // 8 steps, 6 variants, bsize 15, 7 candidates, 30 train, 15 dev, 1 call each.
    assert!(
        text.contains("at most 1856 LM calls (1 per program execution)"),
        "{text}"
    );
    for (phase, n) in [
        ("sampling", 720),
        ("advice", 56),
        ("evaluation", 840),
        ("final selection", 210),
        ("devset", 30),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap();
        assert!(line.trim_end().ends_with(&n.to_string()), "{line}");
    }
    assert!(!out.exists(), "a dry run writes nothing");
    // The real run stays within the estimate.
    Command::cargo_bin("simba-run")
        .unwrap()
        .arg(&spec)
        .args(["--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let calls = run["usage"]["lm_calls"].as_u64().unwrap();
    assert!(calls <= 1856 && calls > 1500, "{calls}");
    let _ = std::fs::remove_dir_all(&out);
}

/// A copy of the quickstart with `toml` as its simba.toml one folder up.
fn project(name: &str, toml: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("simba-toml-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("specs");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["quickstart.simba", "data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(root.join("simba.toml"), toml).unwrap();
    dir
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("out/qa/run.json")).unwrap()).unwrap()
}

#[test]
fn simba_toml_defaults_sit_below_the_spec_and_set() {
    // max_steps is set by the spec (8): its default is ignored; max_demos
    // and selection are not: they apply; --set beats the file's concurrency.
    let dir = project(
        "prec",
        "[defaults]\nmax_steps = 2\nmax_demos = 2\nselection = \"thompson\"\nconcurrency = 3\n",
    );
    Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(&dir)
        .args(["quickstart.simba", "--quiet", "--set", "qa.concurrency=5"])
        .assert()
        .success();
    let c = &run_json(&dir)["config"];
    assert_eq!(c["max_steps"], 8);
    assert_eq!(c["max_demos"], 2);
    assert_eq!(c["selection"], "thompson");
    assert_eq!(c["concurrency"], 5);
}

#[test]
fn simba_toml_unknown_key_names_file_line_and_suggestion() {
    let dir = project("bad", "[defaults]\nseed = 1\nmax_step = 2\n");
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(&dir)
        .args(["quickstart.simba", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    // A diagnostic in the simba.toml itself: its path, line and column.
    assert!(e.contains("simba.toml:3:1]"), "{e}");
    assert!(e.contains("unknown key `max_step` in [defaults]"), "{e}");
    assert!(e.contains("did you mean `max_steps`"), "{e}");
}

/// `check` compiles the spec with the simba.toml `[defaults]` a run uses:
/// a bad default fails both with the same diagnostic (before, `check`
/// ignored simba.toml and passed), and a good one passes both.
#[test]
fn check_and_run_see_the_same_simba_toml_defaults() {
    let stderr = |dir: &Path, args: &[&str]| {
        let o = Command::cargo_bin("simba-run")
            .unwrap()
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let dir = project("agree-bad", "[defaults]\nconcurrency = 0\n");
    let (check_code, check_err) = stderr(&dir, &["check", "quickstart.simba"]);
    let (run_code, run_err) = stderr(&dir, &["quickstart.simba", "--dry-run"]);
    assert_eq!((check_code, run_code), (Some(1), Some(1)));
    let diagnostic = |e: &str| {
        e.lines()
            .take_while(|l| !l.starts_with("error:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(check_err.contains("simba.toml:2:15]"), "{check_err}");
    assert_eq!(diagnostic(&check_err), diagnostic(&run_err));

    let dir = project("agree-good", "[defaults]\nconcurrency = 3\nmax_steps = 2\n");
    assert_eq!(stderr(&dir, &["check", "quickstart.simba"]).0, Some(0));
    assert_eq!(stderr(&dir, &["quickstart.simba", "--dry-run"]).0, Some(0));
}

#[test]
fn max_cost_is_a_hard_cap_with_simba_toml_prices() {
    let (pin, pout) = (0.15, 0.60);
    let dir = project(
        "cost",
        &format!("[prices.\"sim\"]\ninput = {pin}\noutput = {pout}\n"),
    );
    // The dry run prices the calls.
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(&dir)
        .args(["quickstart.simba", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("estimated cost   $"), "{text}");
    let cap = 0.02;
    Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(&dir)
        .args(["quickstart.simba", "--quiet", "--set"])
        .arg(format!("qa.stop.max_cost={cap}"))
        .assert()
        .success();
    let r = run_json(&dir);
    assert_eq!(r["stop_reason"], "max_cost");
    let u = &r["usage"];
    let cost = (u["prompt_tokens"].as_f64().unwrap() * pin
        + u["completion_tokens"].as_f64().unwrap() * pout)
        / 1e6;
    assert!(cost <= cap, "spent ${cost} > ${cap}");
    // Without a price, max_cost is refused up front.
    std::fs::write(dir.parent().unwrap().join("simba.toml"), "").unwrap();
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .current_dir(&dir)
        .args([
            "quickstart.simba",
            "--dry-run",
            "--set",
            "qa.stop.max_cost=1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs a price for every model"));
}
