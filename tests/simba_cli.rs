//! `simba-run spec.simba` end to end: the quickstart, reproducible artifacts,
//! the JSON event stream, and bad input with the right exit codes and
//! nothing written.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// A copy of the quickstart folder with the spec text edited by `edit`.
fn project(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for f in ["data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(quickstart().join(f), dir.path().join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(quickstart().join("quickstart.simba")).unwrap();
    std::fs::write(dir.path().join("spec.simba"), edit(spec)).unwrap();
    dir
}

fn simba() -> Command {
    Command::cargo_bin("simba-run").unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn quickstart_runs_and_writes_every_artifact() {
    let out = tempfile::tempdir().unwrap();
    let o = simba()
        .arg(quickstart().join("quickstart.simba"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    for f in [
        "program.json",
        "candidates.json",
        "trials.jsonl",
        "run.json",
    ] {
        assert!(out.path().join(f).exists(), "missing {f}");
    }
    assert!(
        stdout.contains("baseline") && stdout.contains("best"),
        "{stdout}"
    );
    assert!(stderr.contains("step 8/8"), "{stderr}");
    let trials = String::from_utf8(read(&out.path().join("trials.jsonl"))).unwrap();
    assert_eq!(trials.lines().count(), 8);
    let run: serde_json::Value =
        serde_json::from_slice(&read(&out.path().join("run.json"))).unwrap();
    assert!(
        run["best"]["train"].as_f64().unwrap() >= run["baseline"]["train"].as_f64().unwrap() + 0.15
    );
    assert!(run["best"]["dev"].is_number());
}

#[test]
fn same_seed_gives_byte_identical_artifacts_and_seed_flag_changes_them() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (d, seed) in dirs.iter().zip(["0", "0", "1"]) {
        simba()
            .arg(quickstart().join("quickstart.simba"))
            .args([
                "--quiet",
                "--seed",
                seed,
                "--set",
                "qa.max_steps=3",
                "--out",
            ])
            .arg(d.path())
            .assert()
            .success();
    }
    for f in ["program.json", "candidates.json", "trials.jsonl"] {
        assert_eq!(
            read(&dirs[0].path().join(f)),
            read(&dirs[1].path().join(f)),
            "{f}"
        );
    }
    assert_ne!(
        read(&dirs[0].path().join("trials.jsonl")),
        read(&dirs[2].path().join("trials.jsonl"))
    );
}

#[test]
fn concurrency_does_not_change_the_artifacts() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (d, c) in dirs.iter().zip(["qa.concurrency=1", "qa.concurrency=64"]) {
        simba()
            .arg(quickstart().join("quickstart.simba"))
            .args(["--quiet", "--set", "qa.max_steps=3", "--set", c, "--out"])
            .arg(d.path())
            .assert()
            .success();
    }
    for f in ["program.json", "candidates.json", "trials.jsonl"] {
        assert_eq!(
            read(&dirs[0].path().join(f)),
            read(&dirs[1].path().join(f)),
            "{f}"
        );
    }
}

#[test]
fn json_mode_prints_one_event_per_line() {
    let out = tempfile::tempdir().unwrap();
    let o = simba()
        .arg(quickstart().join("quickstart.simba"))
        .args(["--json", "--set", "qa.max_steps=2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    for k in [
        "step_started",
        "batch_scored",
        "candidate_built",
        "step_finished",
        "progress",
    ] {
        assert!(kinds.contains(&k), "no {k} event");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "step_finished").count(), 2);
}

#[test]
fn small_trainset_is_clamped_with_a_warning() {
    let p = project(|s| {
        s.replace("bsize = 15", "bsize = 64")
            .replace("max_steps = 8", "max_steps = 1")
    });
    let o = simba().arg(p.path().join("spec.simba")).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("bsize 64 is larger than the trainset"),
        "{stderr}"
    );
    assert!(p.path().join("out/qa/program.json").exists());
}

#[test]
fn empty_trainset_is_an_input_error_and_writes_nothing() {
    let p = project(|s| s);
    std::fs::write(p.path().join("data/train.jsonl"), "").unwrap();
    let o = simba().arg(p.path().join("spec.simba")).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("empty"), "{stderr}");
    assert!(!p.path().join("out").exists());
}

#[test]
fn a_metric_failing_everywhere_fails_the_run_and_writes_nothing() {
    let p = project(|s| {
        s.replace(
            "metric correct = exact_match(pred.answer, gold.answer)",
            "metric correct = 1 - pred.answer",
        )
        .replace("max_steps = 8", "max_steps = 1")
    });
    let o = simba().arg(p.path().join("spec.simba")).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("metric `correct` failed on every example"),
        "{stderr}"
    );
    assert!(!p.path().join("out").exists());
}

#[test]
fn a_model_failing_every_call_fails_the_run_and_writes_nothing() {
    let p = project(|s| {
        s.replace(
            "model sim {\n  provider = \"sim\"\n  oracle   = trivia        # the dataset whose labels the simulated model knows\n  skill    = 0.3           # its accuracy with no help\n}",
            "model sim {\n  provider = \"openai\"\n  model = \"none\"\n  base_url = \"http://127.0.0.1:9\"\n  api_key = \"k\"\n  retries = 0\n  timeout = 2s\n}",
        )
        .replace("max_steps = 8", "max_steps = 1")
    });
    let o = simba()
        .arg(p.path().join("spec.simba"))
        .arg("--no-cache")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("every program execution failed"),
        "{stderr}"
    );
    assert!(!p.path().join("out").exists());
}

#[test]
fn unknown_only_is_an_input_error() {
    simba()
        .arg(quickstart().join("quickstart.simba"))
        .args(["--only", "nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no optimize block for `nope`"));
}

/// A stream whose reader has gone: every write to it fails (EPIPE).
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

#[test]
fn a_closed_stderr_or_stdout_keeps_the_exit_code() {
    // `simba-run check x 2>&1 >/dev/null | head -0`: printing to a pipe
    // nobody reads must not panic (exit 101); the command's own code stays.
    let bin = assert_cmd::cargo::cargo_bin("simba-run");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.simba");
    std::fs::write(&bad, "signature S = \"q -> a\"\nbogus\n").unwrap();
    let run = |args: &[&std::ffi::OsStr], stdout_closed: bool| {
        let mut c = std::process::Command::new(&bin);
        c.args(args);
        if stdout_closed {
            c.stdout(closed_pipe()).stderr(closed_pipe());
        } else {
            c.stdout(std::process::Stdio::null()).stderr(closed_pipe());
        }
        c.status().unwrap().code()
    };
    let check = std::ffi::OsStr::new("check");
    assert_eq!(run(&[check, bad.as_os_str()], false), Some(1));
    let spec = quickstart().join("quickstart.simba");
    assert_eq!(run(&[check, spec.as_os_str()], true), Some(0));
    assert_eq!(run(&["graph".as_ref(), spec.as_os_str()], true), Some(0));
    // A short run: progress, warnings and the summary all go nowhere, the
    // artifacts are written and the run succeeds.
    let out = dir.path().join("out");
    let args: Vec<&std::ffi::OsStr> = vec![
        spec.as_os_str(),
        "--set".as_ref(),
        "qa.max_steps=1".as_ref(),
        "--set".as_ref(),
        "qa.bsize=4".as_ref(),
        "--no-cache".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    assert_eq!(run(&args, true), Some(0));
    assert!(out.join("program.json").is_file());
}
