//! A run's output folder and its edges, through the real binary: a second
//! run into a busy folder, an unusable output path found before any LM
//! call, an interruption before the first checkpoint, an empty eval split,
//! and one file mode for everything a run writes.

mod common;

use assert_cmd::assert::OutputAssertExt;
use assert_cmd::cargo::CommandCargoExt;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    Command::cargo_bin("simba-run").unwrap()
}

/// Runs `spec` with `--json` into `out` to the end.
fn run_json_into(spec: &Path, out: &Path) -> std::process::Output {
    bin()
        .args([
            spec.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// Starts a `--json` run and waits for its first event (the run has begun:
/// the output folder is locked).
fn start_run(spec: &Path, out: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = bin()
        .args([
            spec.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert!(first.contains("run_started"), "{first}");
    (child, lines)
}

#[test]
fn a_second_run_into_a_busy_output_folder_fails_at_once_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    common::sim::quickstart_copy_with_latency(dir.path(), "5ms");
    let spec = dir.path().join("quickstart.simba");
    let out = dir.path().join("out");
    let (mut first, mut events) = start_run(&spec, &out);

    let second = run_json_into(&spec, &out);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another simba-run")
            && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    // It stopped before running anything: not one engine event.
    assert!(second.stdout.is_empty());

    // The first run is untouched and completes.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut events, &mut rest).unwrap();
    assert!(first.wait().unwrap().success());
    assert!(rest.contains("run_finished"));
    for f in [
        "program.json",
        "candidates.json",
        "trials.jsonl",
        "run.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn an_unusable_output_path_fails_before_any_lm_call() {
    let dir = tempfile::tempdir().unwrap();
    common::sim::quickstart_copy_with_latency(dir.path(), "1ms");
    let spec = dir.path().join("quickstart.simba");
    let file = dir.path().join("taken");
    std::fs::write(&file, "not a folder").unwrap();
    for (out, why) in [
        (file.clone(), "is a file, not a folder"),
        (file.join("sub"), "cannot create output folder"),
        (Path::new("/").to_path_buf(), "is the filesystem root"),
    ] {
        let o = run_json_into(&spec, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: {stderr}", out.display());
        assert!(stderr.contains(why), "{}: {stderr}", out.display());
        // No `run_started`, no step: the run never reached the engine.
        assert!(
            o.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn sigterm_before_the_first_checkpoint_names_nothing_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    common::sim::quickstart_copy_with_latency(dir.path(), "20ms");
    let spec = dir.path().join("quickstart.simba");
    let out = dir.path().join("out");
    let (mut child, _events) = start_run(&spec, &out);
    // SAFETY: kill(2) on our own child's pid.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(!out.join("checkpoint.json").exists());
    assert!(stderr.contains("nothing to resume"), "{stderr}");
    assert!(!stderr.contains("--resume"), "{stderr}");
}

#[test]
fn eval_on_an_empty_split_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    common::sim::quickstart_copy_with_latency(dir.path(), "0ms");
    std::fs::write(dir.path().join("data/dev.jsonl"), "").unwrap();
    let o = bin()
        .current_dir(dir.path())
        .args(["eval", "quickstart.simba"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("dev") && stderr.contains("no rows"),
        "{stderr}"
    );
}

#[test]
fn every_file_a_run_writes_has_one_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = common::sim::quickstart_dir().join("quickstart.simba");
    bin()
        .args([
            spec.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    // Every file of the folder and of its candidates/ folder.
    let modes: Vec<(String, u32)> = [out.clone(), out.join("candidates")]
        .iter()
        .flat_map(|folder| std::fs::read_dir(folder).unwrap())
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    // The lock is gone with the run.
    assert!(!out.join(simba_run::project::LOCK_FILE).exists());
    assert!(modes.len() >= 5, "{modes:?}");
    let report = modes.iter().find(|(n, _)| n == "report.html").unwrap().1;
    assert!(report & 0o600 == 0o600, "{report:o}");
    assert!(modes.iter().all(|(_, m)| *m == report), "{modes:?}");
}
