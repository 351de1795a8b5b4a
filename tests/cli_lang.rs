//! The `check`, `graph` and `fmt` commands, and bad input files.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn bin() -> Command {
    Command::cargo_bin("simba-run").unwrap()
}

/// Runs `check` and returns (exit code, stdout, stderr).
fn check(path: &Path) -> (i32, String, String) {
    let out = bin().arg("check").arg(path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_error(path: &Path, needle: &str) {
    let (code, stdout, stderr) = check(path);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr:?}"
    );
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn check_accepts_every_example_with_a_summary() {
    for (spec, program) in [
        (
            "examples/qa/qa.simba",
            "qa (question -> answer) on sim: answer",
        ),
        (
            "examples/classify/classify.simba",
            "sentiment (text -> label) on sim: sentiment",
        ),
        (
            "examples/pipeline/pipeline.simba",
            "pipeline (question -> answer) on sim: search -> answer",
        ),
    ] {
        let (code, stdout, stderr) = check(Path::new(spec));
        assert_eq!(code, 0, "{spec}: {stderr}");
        assert!(stdout.starts_with(&format!("{spec}: ok")), "{stdout}");
        assert!(stdout.contains(program), "{stdout}");
        assert!(stdout.contains("optimize"), "{stdout}");
    }
}

#[test]
fn check_reports_every_error_and_exits_1() {
    let (code, stdout, stderr) = check(Path::new("tests/ui/many_errors_at_once.simba"));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    for needle in [
        "`skill` must be between 0 and 1",
        "unknown field type `strng`",
        "did you mean `max_steps`?",
    ] {
        assert!(stderr.contains(needle), "{stderr}");
    }
    assert!(
        stderr.contains("tests/ui/many_errors_at_once.simba:4:11"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("has 4 errors"), "{stderr}");
}

#[test]
fn bad_input_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(&dir.path().join("missing.simba"), "no such file");
    assert_one_line_error(dir.path(), "is a directory");

    let bad = dir.path().join("latin1.simba");
    std::fs::write(&bad, b"model m {\n  model = \"caf\xe9\"\n}\n").unwrap();
    assert_one_line_error(&bad, "not valid UTF-8 (line 2");

    let empty = dir.path().join("empty.simba");
    std::fs::write(&empty, "").unwrap();
    assert_one_line_error(&empty, "is empty");
    std::fs::write(&empty, "  \n\n").unwrap();
    assert_one_line_error(&empty, "is empty");

    #[cfg(unix)]
    {
        let dangling = dir.path().join("dangling.simba");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert_one_line_error(&dangling, "cannot read");

        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked.simba");
        std::fs::write(&locked, "model m {}\n").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads anything: only assert where permissions are enforced.
        if std::fs::read(&locked).is_err() {
            assert_one_line_error(&locked, "permission denied");
        }
    }
}

#[test]
fn graph_draws_dot_and_mermaid() {
    bin()
        .args(["graph", "examples/pipeline/pipeline.simba"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("digraph simba {"))
        .stdout(predicate::str::contains(
            "\"pipeline.step_search\" -> \"pipeline.step_answer\" [label=\"query\"];",
        ))
        .stdout(predicate::str::contains(
            "\"pipeline.in_question\" -> \"pipeline.step_answer\" [label=\"question\"];",
        ));
    bin()
        .args([
            "graph",
            "examples/pipeline/pipeline.simba",
            "--format",
            "mermaid",
            "--program",
            "pipeline",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("flowchart LR\n"))
        .stdout(predicate::str::contains(
            "pipeline__step_search -- \"query\" --> pipeline__step_answer",
        ));
    bin()
        .args([
            "graph",
            "examples/pipeline/pipeline.simba",
            "--program",
            "pipelin",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no program `pipelin` (did you mean `pipeline`?)",
        ));
}

#[test]
fn fmt_rewrites_and_check_mode_detects() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.simba");
    std::fs::write(&spec, "model m {provider=\"sim\"   # keep me\n oracle=d}\n").unwrap();
    bin()
        .arg("fmt")
        .arg(&spec)
        .arg("--check")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not formatted"));
    bin().arg("fmt").arg(&spec).assert().success();
    assert_eq!(
        std::fs::read_to_string(&spec).unwrap(),
        "model m {\n  provider = \"sim\"  # keep me\n  oracle   = d\n}\n"
    );
    bin()
        .arg("fmt")
        .arg(&spec)
        .arg("--check")
        .assert()
        .success();
    for example in [
        "examples/qa/qa.simba",
        "examples/classify/classify.simba",
        "examples/pipeline/pipeline.simba",
    ] {
        bin().args(["fmt", "--check", example]).assert().success();
    }
    std::fs::write(&spec, "model m {\n").unwrap();
    bin()
        .arg("fmt")
        .arg(&spec)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not parse"));
}
