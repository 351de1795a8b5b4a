//! Checkpoint and resume through the real binary: a run on the sim model
//! (with latency, so it lasts a few seconds) is killed with SIGKILL at three
//! points; `--resume` finishes it with artifacts byte-identical to an
//! uninterrupted run. Also: Ctrl-C (SIGINT) exits 130 leaving a checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const COMPARED: [&str; 3] = ["program.json", "candidates.json", "trials.jsonl"];

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("simba-run")
}

/// A copy of the quickstart with a 20 ms model latency, in a fresh folder.
fn project(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simba-resume-{}-{name}", std::process::id()));
    common::sim::quickstart_copy_with_latency(&dir, "20ms");
    dir
}

fn start(dir: &Path, out: &str, resume: bool) -> Child {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(["quickstart.simba", "--quiet", "--out", out])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().unwrap()
}

fn finish(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Steps finished according to the checkpoint on disk (None before the first write).
fn steps_done(out: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(out.join("checkpoint.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["steps_done"].as_u64().map(|n| n as usize)
}

/// Waits until the checkpoint records `steps` finished steps, then `extra`.
fn wait_for(out: &Path, steps: usize, extra: Duration) {
    let t = Instant::now();
    while steps_done(out).is_none_or(|n| n < steps) {
        assert!(t.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(extra);
}

#[test]
fn killed_runs_resume_to_identical_artifacts() {
    let dir = project("kill");
    finish(start(&dir, "full", false));
    let full = dir.join("full");
    assert!(
        !full.join("checkpoint.json").exists(),
        "a finished run leaves no checkpoint"
    );
    // Kill points: early, mid-run, near the end (each some way into a step).
    for (k, (steps, extra_ms)) in [(1usize, 150u64), (3, 70), (7, 120)]
        .into_iter()
        .enumerate()
    {
        let name = format!("k{k}");
        let out = dir.join(&name);
        let mut child = start(&dir, &name, false);
        wait_for(&out, steps, Duration::from_millis(extra_ms));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "kill point {k}: the run ended before the kill"
        );
        let done = steps_done(&out).unwrap();
        assert!(
            done >= steps && done < 8,
            "kill point {k}: {done} steps done"
        );
        assert!(!out.join("trials.jsonl").exists());
        finish(start(&dir, &name, true));
        for f in COMPARED {
            let a = std::fs::read(full.join(f)).unwrap();
            let b = std::fs::read(out.join(f)).unwrap();
            assert!(a == b, "kill point {k} (after step {done}): {f} differs");
        }
        // Usage, requests sent included, continues from the checkpoint's totals.
        let usage = |dir: &Path| -> serde_json::Value {
            let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["usage"].clone()
        };
        assert_eq!(usage(&out), usage(&full), "kill point {k}: run.json usage");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigint_exits_130_and_resume_finishes() {
    let dir = project("int");
    let out = dir.join("o");
    let child = start(&dir, "o", false);
    wait_for(&out, 2, Duration::from_millis(50));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let res = child.wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(steps_done(&out).unwrap() >= 2);
    finish(start(&dir, "o", true));
    assert!(out.join("program.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_without_a_checkpoint_is_an_input_error() {
    let dir = project("none");
    let res = start(&dir, "nothing", true).wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("checkpoint.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
