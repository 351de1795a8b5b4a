//! `command(..)` metrics: a Python script speaking JSON lines, scored
//! through `MetricFn` the way a run scores predictions. Covers answers with
//! feedback, a crash mid-run (the call fails naming the program, the next
//! call restarts it), a hang (the per-call timeout), and a malformed line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use simba_run::ir::{CodeMetric, CommandMetric, MetricDecl, MetricExpr};
use simba_run::lm::{Models, ModelsOptions};
use simba_run::metric::MetricFn;
use simba_run::value::{Example, Record};

fn metric(mode: &str, timeout: Duration) -> MetricFn {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/metric_support");
    let command = format!("python3 score.py {mode}");
    let decl = MetricDecl {
        name: "py".into(),
        expr: MetricExpr::Code(CodeMetric::Command(CommandMetric {
            argv: command.split_whitespace().map(str::to_string).collect(),
            command,
            dir,
            timeout,
        })),
        feedback: None,
    };
    MetricFn::new(
        decl,
        Arc::new(Models::new(ModelsOptions { cache_dir: None })),
    )
}

fn record(answer: &str) -> Record {
    let mut r = Record::new();
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
            err.to_string()
                .contains("returned the score 1e308, which is not a number within ±1e12"),
            "{err}"
        );
        let miss = m.try_score(&gold("Paris"), &record("Rome")).await.unwrap();
        assert_eq!(miss.value, 0.0);
    });
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
             malformed reply line `not json at all` (expected ident at line 1 column 2); \
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
    let missing = "error: metric ok: the program `no-such-program-xyz` of \
                   `command(\"no-such-program-xyz --flag\")` is not found on PATH";
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
        assert!(
            stderr.contains(&missing["error: ".len()..]),
            "{args:?}: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("lm_call"));
    }
    assert!(!dir.path().join("out/p/trials.jsonl").exists());
    write("command(\"./score.sh\")");
    assert_eq!(check().status.code(), Some(1));
    std::fs::write(dir.path().join("score.sh"), "#!/bin/sh\n").unwrap();
    assert_eq!(check().status.code(), Some(0));
}
