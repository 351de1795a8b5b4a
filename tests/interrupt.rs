//! SIGINT and SIGTERM in every phase of a run, through the real binary.
//!
//! The output folder starts with the complete artifacts of a seed-0 run; a
//! seed-1 run into the same folder is signalled when its `--json` events say
//! it has entered a phase (trajectory sampling, strategy calls, candidate
//! evaluation, final selection, artifact writing). Afterwards the folder
//! must hold one complete set: all seed-0 files or all seed-1 files, never a
//! mix and never a torn or leftover temp file. `--resume` then finishes the
//! run with artifacts byte-identical to an uninterrupted seed-1 run.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const COMPARED: [&str; 3] = ["program.json", "candidates.json", "trials.jsonl"];
const STEPS: usize = 3;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("simba-run")
}

/// A copy of the quickstart whose model answers after 30 ms, so every
/// phase lasts long enough for a signal to land inside it.
fn project() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simba-interrupt-{}", std::process::id()));
    common::sim::quickstart_copy_with_latency(&dir, "30ms");
    dir
}

fn command(dir: &Path, out: &Path, seed: u64, resume: bool) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .arg("quickstart.simba")
        .arg("--out")
        .arg(out)
        .args(["--seed", &seed.to_string()])
        .args(["--set", &format!("qa.max_steps={STEPS}")]);
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

fn run_to_end(dir: &Path, out: &Path, seed: u64, resume: bool) {
    let res = command(dir, out, seed, resume)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Runs with `--json` and sends `signal` when an event matches `phase`;
/// returns the exit code and whether the event was seen.
fn run_signalled(
    dir: &Path,
    out: &Path,
    phase: fn(&Value) -> bool,
    signal: &str,
) -> (Option<i32>, bool) {
    let mut child = command(dir, out, 1, false)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut seen = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if !seen && phase(&event) {
            seen = true;
            let sent = Command::new("kill")
                .args(["-s", signal, &pid])
                .status()
                .unwrap();
            assert!(sent.success());
        }
    }
    (child.wait().unwrap().code(), seen)
}

fn read_set(out: &Path) -> Vec<Vec<u8>> {
    COMPARED
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            // candidates/: the saved candidate programs.
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn steps_done(out: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(out.join("checkpoint.json")).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["steps_done"].as_u64()
}

/// No temp file is left and run.json and report.html are whole and belong to
/// the same run as the compared files (`seed`).
fn assert_whole(out: &Path, seed: u64, case: &str) {
    for entry in std::fs::read_dir(out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.'),
            "{case}: temp file {name} left behind"
        );
    }
    let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["seed"], seed, "{case}: run.json is from another run");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.trim_end().ends_with("</html>"),
        "{case}: torn report"
    );
}

/// A phase: its name, the event that says it has started, and the
/// checkpoint's `steps_done` after an interruption there (None: past the
/// optimizer, the run completes).
type PhaseCase = (&'static str, fn(&Value) -> bool, Option<u64>);

fn event_is(e: &Value, name: &str) -> bool {
    e["event"] == name
}

fn wave_starts(e: &Value, phase: &str, step: Option<u64>) -> bool {
    event_is(e, "progress")
        && e["phase"] == phase
        && e["done"] == 0
        && step.is_none_or(|s| e["step"] == s)
}

#[test]
fn signals_in_every_phase_leave_one_complete_set_and_resume_finishes() {
    let dir = project();
    let (old, new) = (dir.join("seed0"), dir.join("seed1"));
    run_to_end(&dir, &old, 0, false);
    run_to_end(&dir, &new, 1, false);
    let (old_set, new_set) = (read_set(&old), read_set(&new));
    assert_ne!(
        old_set, new_set,
        "the two seeds must give different artifacts"
    );

    let phases: [PhaseCase; 5] = [
        ("sampling", |e| wave_starts(e, "sampling", Some(2)), Some(1)),
        // Strategies run right after the batch is scored.
        (
            "strategy calls",
            |e| event_is(e, "batch_scored") && e["step"] == 2,
            Some(1),
        ),
        (
            "evaluation",
            |e| wave_starts(e, "evaluating", Some(2)),
            Some(1),
        ),
        (
            "final selection",
            |e| wave_starts(e, "final", None),
            Some(STEPS as u64),
        ),
        // The engine's last event; the CLI writes the artifacts next.
        ("artifact writing", |e| event_is(e, "run_finished"), None),
    ];
    for signal in ["INT", "TERM"] {
        for (phase, trigger, expected_steps) in phases {
            let case = format!("SIG{signal} during {phase}");
            let out = dir.join(format!("{signal}-{}", phase.replace(' ', "-")));
            copy_dir(&old, &out);
            let (code, seen) = run_signalled(&dir, &out, trigger, signal);
            assert!(seen, "{case}: the phase never started");
            match expected_steps {
                Some(steps) => {
                    assert_eq!(code, Some(130), "{case}: exit code");
                    assert!(
                        read_set(&out) == old_set,
                        "{case}: previous artifacts changed"
                    );
                    assert_whole(&out, 0, &case);
                    assert_eq!(steps_done(&out), Some(steps), "{case}: checkpoint");
                    run_to_end(&dir, &out, 1, true);
                }
                // Past the optimizer, the run writes everything and completes.
                None => assert_eq!(code, Some(0), "{case}: exit code"),
            }
            assert!(read_set(&out) == new_set, "{case}: artifacts after resume");
            assert_whole(&out, 1, &case);
            assert!(
                !out.join("checkpoint.json").exists(),
                "{case}: checkpoint left"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
