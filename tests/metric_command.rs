//! `command(..)` metrics: a Python script speaking JSON lines, scored
//! through `MetricFn` the way a run scores predictions. Covers answers with
//! feedback, a crash mid-run (the call fails naming the program, the next
//! call restarts it), a hang (the per-call timeout), and a malformed line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use simba_run::ir::{CodeMetric, CommandMetric, MetricDecl, MetricExpr, ScoreBounds};
use simba_run::lm::{Models, ModelsOptions};
use simba_run::metric::MetricFn;
use simba_run::value::{Example, Record};

fn support() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/metric_support")
}

/// `python3 score.py MODE` run in `dir`, with an optional declared range.
fn metric_in(dir: &Path, mode: &str, timeout: Duration, range: Option<ScoreBounds>) -> MetricFn {
    let command = format!("python3 score.py {mode}");
    let decl = MetricDecl {
        name: "py".into(),
        expr: MetricExpr::Code(CodeMetric::Command(CommandMetric {
            argv: command.split_whitespace().map(str::to_string).collect(),
            command,
            dir: dir.to_path_buf(),
            timeout,
            range,
        })),
        feedback: None,
    };
    MetricFn::new(
        decl,
        Arc::new(Models::new(ModelsOptions { cache_dir: None })),
    )
}

fn metric(mode: &str, timeout: Duration) -> MetricFn {
    metric_in(&support(), mode, timeout, None)
}

/// A temporary folder holding a copy of score.py, for modes that write files.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(support().join("score.py"), dir.path().join("score.py")).unwrap();
    dir
}

fn record(answer: &str) -> Record {
    let mut r = Record::default();
    r.insert("answer".into(), answer.into());
    r
}

fn gold(answer: &str) -> Example {
    Example {
        fields: record(answer),
        input_keys: vec![],
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_command_metric_returns_scores_and_feedback_from_one_process() {
    let m = metric("ok", Duration::from_secs(10));
    rt().block_on(async {
        let hit = m.try_score(&gold("Paris"), &record("paris")).await.unwrap();
        assert_eq!((hit.value, hit.feedback), (1.0, None));
        let miss = m.try_score(&gold("Paris"), &record("Rome")).await.unwrap();
        assert_eq!(miss.value, 0.0);
        assert_eq!(miss.feedback.as_deref(), Some("expected paris, got rome"));
    });
    let stats = m.command_stats().unwrap();
    assert_eq!((stats.calls(), stats.failures(), stats.starts()), (2, 0, 1));
    assert_eq!(m.command_warning(), None);
}

#[test]
fn a_score_beyond_1e12_is_a_failed_call() {
    // 1e308 is finite, but means over it overflow to infinity.
    let m = metric("huge", Duration::from_secs(10));
    rt().block_on(async {
        let err = m
            .try_score(&gold("Paris"), &record("paris"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "metric command `python3 score.py huge`: the score 1e308 is not a number within ±1e12"
            ),
            "{err}"
        );
        let miss = m.try_score(&gold("Paris"), &record("Rome")).await.unwrap();
        assert_eq!(miss.value, 0.0);
    });
    // Counted like any failed call (before, the run's warning left it out).
    let stats = m.command_stats().unwrap();
    assert_eq!((stats.calls(), stats.failures()), (2, 1));
}

#[test]
fn a_grandchild_the_program_forked_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let support = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/metric_support");
    std::fs::copy(support.join("score.py"), dir.path().join("score.py")).unwrap();
    let command = "python3 score.py fork".to_string();
    let m = MetricFn::new(
        MetricDecl {
            name: "py".into(),
            expr: MetricExpr::Code(CodeMetric::Command(CommandMetric {
                argv: command.split_whitespace().map(str::to_string).collect(),
                command,
                dir: dir.path().to_path_buf(),
                timeout: Duration::from_secs(10),
                range: None,
            })),
            feedback: None,
        },
        Arc::new(Models::new(ModelsOptions { cache_dir: None })),
    );
    let hit = rt().block_on(m.try_score(&gold("Paris"), &record("paris")));
    assert_eq!(hit.unwrap().value, 1.0);
    let pid = std::fs::read_to_string(dir.path().join("grandchild.pid")).unwrap();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            // A killed orphan nobody reaps yet is a zombie (state Z).
            .is_ok_and(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
    };
    assert!(alive(), "the grandchild sleeps while the metric lives");
    drop(m);
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !alive()
    });
    assert!(gone, "grandchild {pid} outlived the metric");
}

#[test]
fn a_crash_fails_that_call_naming_the_program_and_the_next_call_restarts_it() {
    let m = metric("crash", Duration::from_secs(10));
    rt().block_on(async {
        assert_eq!(
            m.try_score(&gold("a"), &record("a")).await.unwrap().value,
            1.0
        );
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("metric command `python3 score.py crash`"),
            "{text}"
        );
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("giving up on request 2"), "{text}");
        // A fresh process answers the next call.
        assert_eq!(
            m.try_score(&gold("a"), &record("b")).await.unwrap().value,
            0.0
        );
    });
    let stats = m.command_stats().unwrap();
    assert_eq!((stats.calls(), stats.failures(), stats.starts()), (3, 1, 2));
    assert_eq!(
        m.command_warning().unwrap(),
        "metric `py` (command `python3 score.py crash`): 1 of 3 calls failed and scored 0; the program was started 2 times"
    );
}

#[test]
fn a_hanging_call_fails_at_the_timeout_and_the_process_is_replaced() {
    let m = metric("hang", Duration::from_secs(1));
    rt().block_on(async {
        m.try_score(&gold("a"), &record("a")).await.unwrap();
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        assert!(err.to_string().contains("no answer within 1s"), "{err}");
        assert!(err.to_string().contains("python3 score.py hang"), "{err}");
        assert_eq!(
            m.try_score(&gold("a"), &record("a")).await.unwrap().value,
            1.0
        );
    });
    assert_eq!(m.command_stats().unwrap().starts(), 2);
}

#[test]
fn a_malformed_reply_is_a_clear_error_naming_the_program() {
    let m = metric("garbage", Duration::from_secs(10));
    rt().block_on(async {
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric `py` could not be computed: metric command `python3 score.py garbage`: \
             malformed reply line `not json at all` (not a JSON object); \
             expected {\"score\": <number>, \"feedback\": \"..\"}; the process was restarted"
        );
        // The restarted process's first line is garbage again: still an error, never a hang.
        assert!(m.try_score(&gold("a"), &record("a")).await.is_err());
    });
    assert_eq!(m.command_stats().unwrap().failures(), 2);
}

#[test]
fn a_missing_program_fails_every_call_with_its_name() {
    let decl = MetricDecl {
        name: "py".into(),
        expr: MetricExpr::Code(CodeMetric::Command(CommandMetric {
            command: "no-such-program-xyz".into(),
            argv: vec!["no-such-program-xyz".into()],
            dir: std::env::temp_dir(),
            timeout: Duration::from_secs(1),
            range: None,
        })),
        feedback: None,
    };
    let m = MetricFn::new(
        decl,
        Arc::new(Models::new(ModelsOptions { cache_dir: None })),
    );
    let err = rt()
        .block_on(m.try_score(&gold("a"), &record("a")))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot start `no-such-program-xyz`"),
        "{err}"
    );
}

#[test]
fn check_reports_a_command_metric_whose_program_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.jsonl"),
        "{\"question\": \"q\", \"answer\": \"a\"}\n",
    )
    .unwrap();
    let spec = dir.path().join("spec.simba");
    let write = |metric: &str| {
        std::fs::write(
            &spec,
            format!(
                "model m {{ provider = \"sim\" oracle = d }}\n\
                 dataset d {{ train = jsonl(\"t.jsonl\") inputs = [question] }}\n\
                 signature A = \"question -> answer\"\n\
                 program p = predict(A)\n\
                 metric ok = {metric}\n\
                 optimize p with simba {{ trainset = d.train metric = ok }}\n"
            ),
        )
        .unwrap();
    };
    let simba = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .args(args)
            .arg(&spec)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let check = || simba(&["check"]);
    write("command(\"no-such-program-xyz --flag\")");
    let missing = "the program `no-such-program-xyz` is not found on PATH";
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(missing), "{stderr}");
    assert!(stderr.contains("spec.simba has 1 error"), "{stderr}");
    // No "ok" summary before the error.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    // A run and eval refuse it before any LM call, with the same line.
    for args in [&["--json"][..], &["eval"][..]] {
        let out = simba(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(missing), "{args:?}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("lm_call"));
    }
    assert!(!dir.path().join("out/p/trials.jsonl").exists());
    write("command(\"./score.sh\")");
    assert_eq!(check().status.code(), Some(1));
    std::fs::write(dir.path().join("score.sh"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path().join("score.sh"), mode).unwrap();
    assert_eq!(check().status.code(), Some(0));
}

#[test]
fn two_lines_in_one_write_fail_the_call_and_restart_the_process() {
    let m = metric("twice", Duration::from_secs(10));
    rt().block_on(async {
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        assert!(
            err.to_string().contains(
                "metric command `python3 score.py twice`: the program answered more than one line"
            ),
            "{err}"
        );
        assert_eq!(err.to_string().matches("restarted").count(), 1, "{err}");
    });
    let stats = m.command_stats().unwrap();
    assert_eq!((stats.calls(), stats.failures()), (1, 1));
}

#[test]
fn a_second_line_arriving_after_the_reply_fails_the_next_call() {
    let dir = scratch();
    let m = metric_in(dir.path(), "twice_late", Duration::from_secs(10), None);
    let rt = rt();
    let first = rt.block_on(m.try_score(&gold("a"), &record("a"))).unwrap();
    assert_eq!(first.value, 1.0);
    // The script writes its extra line only now, and says when it has.
    std::fs::write(dir.path().join("go"), "").unwrap();
    let done = dir.path().join("extra.done");
    assert!(
        (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            done.exists()
        }),
        "the script never wrote its second line"
    );
    // Before, the leftover line was taken as this call's reply (score 1
    // for a wrong answer).
    let err = rt
        .block_on(m.try_score(&gold("a"), &record("b")))
        .unwrap_err();
    assert!(
        err.to_string().contains("answered more than one line"),
        "{err}"
    );
    assert_eq!(err.to_string().matches("restarted").count(), 1, "{err}");
    // The fresh process must not write a late line of its own.
    std::fs::remove_file(dir.path().join("go")).unwrap();
    let third = rt.block_on(m.try_score(&gold("a"), &record("b"))).unwrap();
    assert_eq!(third.value, 0.0);
    assert_eq!(m.command_stats().unwrap().starts(), 2);
}

#[test]
fn an_exit_while_a_forked_child_holds_stdout_is_reported_as_an_exit() {
    // Before, the call waited for the end of output the child held: a
    // timeout after 1 s instead of the exit status.
    let m = metric("fork_exit", Duration::from_secs(1));
    rt().block_on(async {
        m.try_score(&gold("a"), &record("a")).await.unwrap();
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit status: 4"), "{text}");
        assert!(!text.contains("no answer within"), "{text}");
        assert_eq!(
            m.try_score(&gold("a"), &record("a")).await.unwrap().value,
            1.0
        );
    });
}

#[test]
fn a_python_script_that_does_not_flush_still_answers() {
    // PYTHONUNBUFFERED is set for the program; before, this timed out.
    let m = metric("noflush", Duration::from_secs(1));
    let hit = rt().block_on(m.try_score(&gold("a"), &record("a")));
    assert_eq!(hit.unwrap().value, 1.0);
}

#[test]
fn a_score_outside_the_declared_range_is_a_failed_call() {
    let range = ScoreBounds { lo: 0.0, hi: 0.5 };
    let m = metric_in(&support(), "ok", Duration::from_secs(10), Some(range));
    rt().block_on(async {
        let err = m.try_score(&gold("a"), &record("a")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric `py` could not be computed: metric command `python3 score.py ok`: \
             the score 1 is outside the metric's declared range [0, 0.5]"
        );
        let miss = m.try_score(&gold("a"), &record("b")).await.unwrap();
        assert_eq!(miss.value, 0.0);
    });
    // The process answered well-formed lines: it is kept.
    let stats = m.command_stats().unwrap();
    assert_eq!((stats.failures(), stats.starts()), (1, 1));
}

/// A folder with a 4-row dataset, score.py, and `spec.simba` scoring by
/// `metric` with `settings` added to the optimize block.
fn project(metric: &str, settings: &str) -> tempfile::TempDir {
    let dir = scratch();
    let rows: String = (1..=4)
        .map(|i| format!("{{\"question\": \"q{i}\", \"answer\": \"a{i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("t.jsonl"), rows).unwrap();
    std::fs::write(
        dir.path().join("spec.simba"),
        format!(
            "model m {{ provider = \"sim\" oracle = d }}\n\
             dataset d {{ train = jsonl(\"t.jsonl\") inputs = [question] }}\n\
             signature A = \"question -> answer\"\n\
             program p = predict(A)\n\
             metric ok = {metric}\n\
             optimize p with simba {{ trainset = d.train metric = ok bsize = 2 max_steps = 1 \
             cache = false {settings} }}\n"
        ),
    )
    .unwrap();
    dir
}

fn simba_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args(args)
        .arg(dir.join("spec.simba"))
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn a_run_goes_on_when_crashes_fail_a_whole_wave_at_concurrency_16() {
    // Each process crashes on its 2nd request. At concurrency 16 the first
    // wave starts one process per call, so every call of the next wave
    // crashes: that used to stop the run with exit 3.
    let dir = project("command(\"python3 score.py crash\")", "concurrency = 16");
    let out = simba_in(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: metric `ok` (command `python3 score.py crash`): "),
        "{stderr}"
    );
}

#[test]
fn eval_fails_when_every_metric_call_failed_and_warns_when_some_did() {
    let dir = project("command(\"python3 score.py garbage\")", "");
    let out = simba_in(dir.path(), &["eval"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: every metric call failed (4 of 4); the first: metric `ok`"),
        "{stderr}"
    );

    // Crashing on each process's 2nd request: calls 2 and 4 fail in order.
    let dir = project("command(\"python3 score.py crash\")", "concurrency = 1");
    let out = simba_in(dir.path(), &["eval"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "warning: metric `ok` (command `python3 score.py crash`): 2 of 4 calls failed"
        ),
        "{stderr}"
    );
}

#[test]
fn json_log_events_of_a_command_name_the_metric_and_the_program() {
    let dir = project("command(\"python3 score.py crash\")", "concurrency = 1");
    let out = simba_in(dir.path(), &["--json", "-v"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "log" && e["target"] == "command")
        .collect();
    let named = |level: &str, text: &str| {
        logs.iter().any(|e| {
            e["level"] == level
                && e["metric"] == "ok"
                && e["command"] == "python3 score.py crash"
                && e["message"].as_str().unwrap_or("").contains(text)
        })
    };
    // A stderr line, and the failed call it came with.
    assert!(named("info", "giving up on request 2"), "{logs:?}");
    assert!(
        named("warn", "failed call: the process stopped"),
        "{logs:?}"
    );
}

#[test]
fn check_names_a_directory_a_file_without_x_and_a_missing_script() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project("command(\"./metrics\")", "");
    std::fs::create_dir(dir.path().join("metrics")).unwrap();
    let stderr = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let text = stderr(simba_in(dir.path(), &["check"]));
    assert!(
        text.contains("the program `./metrics` is a directory"),
        "{text}"
    );

    let dir = project("command(\"./score.py\")", "");
    let text = stderr(simba_in(dir.path(), &["check"]));
    assert!(
        text.contains("the program `./score.py` is not executable")
            && text.contains("chmod +x ./score.py"),
        "{text}"
    );
    let script = dir.path().join("score.py");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Executable, but with no `#!` line the kernel cannot start it: before,
    // `check` passed and every call failed with "Exec format error".
    let text = stderr(simba_in(dir.path(), &["check"]));
    assert!(text.contains("with a `#!` line"), "{text}");
    let source = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, format!("#!/usr/bin/env python3\n{source}")).unwrap();
    assert_eq!(simba_in(dir.path(), &["check"]).status.code(), Some(0));

    // Before, a misspelt script passed `check` and failed every call.
    let dir = project("command(\"python3 metrics/scroe.py --strict\")", "");
    let text = stderr(simba_in(dir.path(), &["check"]));
    assert!(
        text.contains("the script `metrics/scroe.py` is not found in"),
        "{text}"
    );
}

#[test]
fn race_needs_a_declared_range_on_a_command_metric() {
    let dir = project("command(\"python3 score.py\")", "final = race");
    let out = simba_in(dir.path(), &["check"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("range = [0, 1]"), "{text}");
    assert!(!text.contains("min/max"), "{text}");

    let dir = project(
        "command(\"python3 score.py\") { range = [0, 1] }",
        "final = race",
    );
    assert_eq!(simba_in(dir.path(), &["check"]).status.code(), Some(0));
    let out = simba_in(dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/p/run.json")).unwrap()).unwrap();
    assert_eq!(run["config"]["final_selection"], "race", "{run}");
    assert!(run["best"]["train"].is_number(), "{run}");
}

#[test]
fn a_declared_range_is_two_finite_numbers_low_first() {
    let compile = |config: &str| {
        let src = format!(
            "model m {{ provider = \"sim\" oracle = d }}\n\
             dataset d {{ train = jsonl(\"t.jsonl\") inputs = [question] }}\n\
             metric ok = command(\"python3\") {{ {config} }}\n"
        );
        simba_run::compile::compile_source(Path::new("t.simba"), &src, &[])
            .map(|(spec, _)| spec)
            .map_err(|d| format!("{d:?}"))
    };
    let spec = compile("range = [-1, 2.5]").unwrap();
    let MetricExpr::Code(CodeMetric::Command(c)) = &spec.metrics["ok"].expr else {
        panic!("not a command metric");
    };
    assert_eq!(c.range, Some(ScoreBounds { lo: -1.0, hi: 2.5 }));
    let err = compile("range = [1, 1]").unwrap_err();
    assert!(
        err.contains("the low end must be below the high end"),
        "{err}"
    );
    let err = compile("range = [0]").unwrap_err();
    assert!(err.contains("`range` is a list of two numbers"), "{err}");
    let err = compile("range = [0, \"one\"]").unwrap_err();
    assert!(err.contains("range"), "{err}");
}
