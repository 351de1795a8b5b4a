//! `--resume` through the binary, from a checkpoint written after step N of
//! the quickstart by the same preparation the binary does (stopped by its
//! checkpoint sink, so the step it stops after is exact):
//!
//! - budgets count what the checkpoint already spent, including a cap the
//!   resumed run adds with `--set`; a cap already spent is refused;
//! - convergence rules changed on resume apply from the next step;
//! - a checkpoint whose inputs changed since it was written (data rows,
//!   signatures, metric, models, plugins) or that an older version wrote is refused,
//!   naming what changed; transport settings (a model's latency) may change.

mod plugin_support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use simba_run::optimize::checkpoint::{CHECKPOINT_JSON, Checkpoint, file_sink};
use simba_run::optimize::{EventSink, optimize_with};
use simba_run::project::{LoadOptions, Project, RunSetup};

const SPEC: &str = "quickstart.simba";

/// A fresh copy of the quickstart (spec and data).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for f in [SPEC, "data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// Runs the block in `dir` as the binary would (output folder `dir/out`),
/// stopped right after step `steps` is checkpointed; that checkpoint.
fn checkpoint_after(dir: &Path, steps: usize) -> Value {
    let project = Project::load(&dir.join(SPEC), &LoadOptions::default()).unwrap();
    let decl = project.blocks(None).unwrap().remove(0);
    let oracles = project.oracles().unwrap();
    let setup = RunSetup {
        out_dir: dir.join("out"),
        no_cache: true,
        resume: false,
    };
    let mut block = project
        .prepare_block(&decl, &oracles, &setup, EventSink::none())
        .unwrap();
    let write = file_sink(setup.out_dir.clone());
    block.options.checkpoint = Some(Arc::new(move |cp: &Checkpoint| {
        write(cp)?;
        if cp.steps_done == steps {
            return Err("stopped by the test".into());
        }
        Ok(())
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(optimize_with(block.input, block.options));
    assert!(result.is_err(), "the run was to stop after step {steps}");
    read_json(&setup.out_dir.join(CHECKPOINT_JSON))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `simba-run quickstart.simba --resume` in `dir` with `--set` overrides.
fn resume(dir: &Path, sets: &[String]) -> Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("simba-run"));
    cmd.current_dir(dir)
        .args([SPEC, "--quiet", "--no-cache", "--resume", "--out", "out"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// run.json of a resumed run that succeeded.
fn finished(dir: &Path, out: &Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    read_json(&dir.join("out/run.json"))
}

fn usage(v: &Value, key: &str) -> u64 {
    v["usage"][key].as_u64().unwrap()
}

#[test]
fn a_call_cap_added_on_resume_counts_the_calls_already_made() {
    let dir = project();
    let cp = checkpoint_after(dir.path(), 3);
    let made = usage(&cp, "lm_calls");
    let cap = made + 300;
    let out = resume(dir.path(), &[format!("qa.stop.max_lm_calls={cap}")]);
    let run = finished(dir.path(), &out);
    assert!(
        usage(&run, "lm_calls") <= cap,
        "{} calls against max_lm_calls = {cap}",
        usage(&run, "lm_calls")
    );
    assert_eq!(run["stop_reason"], "max_lm_calls");
}

#[test]
fn a_token_cap_added_on_resume_counts_the_tokens_already_used() {
    let dir = project();
    let cp = checkpoint_after(dir.path(), 3);
    let used = usage(&cp, "prompt_tokens") + usage(&cp, "completion_tokens");
    let cap = used + 60_000;
    let out = resume(dir.path(), &[format!("qa.stop.max_tokens={cap}")]);
    let run = finished(dir.path(), &out);
    let total = usage(&run, "prompt_tokens") + usage(&run, "completion_tokens");
    assert!(total <= cap, "{total} tokens against max_tokens = {cap}");
    assert_eq!(run["stop_reason"], "max_tokens");
}

#[test]
fn a_cost_cap_added_on_resume_counts_what_was_already_spent() {
    let dir = project();
    // USD per million tokens for the sim model (its model id is its name).
    std::fs::write(
        dir.path().join("simba.toml"),
        "[prices.\"sim\"]\ninput = 1.0\noutput = 2.0\n",
    )
    .unwrap();
    let cost = |v: &Value| {
        (usage(v, "prompt_tokens") as f64 + 2.0 * usage(v, "completion_tokens") as f64) / 1e6
    };
    let cp = checkpoint_after(dir.path(), 3);
    let cap = cost(&cp) + 0.1;
    let out = resume(dir.path(), &[format!("qa.stop.max_cost={cap}")]);
    let run = finished(dir.path(), &out);
    assert!(
        cost(&run) <= cap + 1e-12,
        "${} against max_cost = {cap}",
        cost(&run)
    );
    assert_eq!(run["stop_reason"], "max_cost");
}

#[test]
fn a_cap_the_checkpoint_already_spent_is_refused() {
    let dir = project();
    let cp = checkpoint_after(dir.path(), 3);
    let made = usage(&cp, "lm_calls");
    let out = resume(dir.path(), &[format!("qa.stop.max_lm_calls={}", made - 1)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("max_lm_calls"), "{err}");
    assert!(err.contains(&made.to_string()), "{err}");
    assert!(!dir.path().join("out/run.json").exists());
}

#[test]
fn convergence_rules_changed_on_resume_apply_from_the_next_step() {
    let dir = project();
    checkpoint_after(dir.path(), 3);
    // No gain can exceed 1: the next step does not improve, and one such
    // step is enough to stop.
    let sets = ["qa.stop.patience=1", "qa.stop.min_delta=1.0"].map(String::from);
    let out = resume(dir.path(), &sets);
    let run = finished(dir.path(), &out);
    assert_eq!(run["stop_reason"], "patience");
    assert_eq!(run["steps_run"], 4);
}

#[test]
fn max_steps_below_the_steps_done_is_refused() {
    let dir = project();
    checkpoint_after(dir.path(), 3);
    let out = resume(dir.path(), &["qa.max_steps=2".to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("checkpoint.json: steps_done: "), "{err}");
    assert!(err.contains("max_steps of at least 3"), "{err}");
}

/// Edits `file` in `dir` by replacing `from` (which must occur) with `to`.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_checkpoint_whose_inputs_changed_is_refused_naming_the_change() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "data/train.jsonl",
            "\"answer\": \"Nile\"",
            "\"answer\": \"The Nile\"",
            "the trainset rows",
        ),
        (
            "data/dev.jsonl",
            "\"answer\": \"",
            "\"answer\": \"x",
            "the devset rows",
        ),
        (
            SPEC,
            "Answer the trivia question with a short factoid.",
            "Answer the trivia question.",
            "the program's signatures",
        ),
        (
            SPEC,
            "exact_match(pred.answer, gold.answer)",
            "contains(pred.answer, gold.answer)",
            "the metric",
        ),
        (SPEC, "skill    = 0.3", "skill    = 0.4", "model `sim`"),
    ];
    for (file, from, to, what) in cases {
        let dir = project();
        checkpoint_after(dir.path(), 2);
        edit(dir.path(), file, from, to);
        let out = resume(dir.path(), &[]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(what), "{what}: {err}");
        assert!(
            err.contains("changed since the checkpoint"),
            "{what}: {err}"
        );
        assert!(err.contains(CHECKPOINT_JSON), "{what}: {err}");
    }
}

#[test]
fn transport_settings_may_change_on_resume() {
    let dir = project();
    checkpoint_after(dir.path(), 2);
    // Latency shapes no answer, like a model's timeout or concurrency.
    edit(
        dir.path(),
        SPEC,
        "provider = \"sim\"",
        "provider = \"sim\"\n  latency = 1ms",
    );
    let out = resume(dir.path(), &[]);
    let run = finished(dir.path(), &out);
    assert_eq!(run["steps_run"], 8);
}

#[test]
fn a_checkpoint_of_an_older_layout_is_refused_with_what_to_do() {
    let dir = project();
    let mut cp = checkpoint_after(dir.path(), 2);
    // Layout 1 had no input hashes.
    cp["schema"] = 1.into();
    cp.as_object_mut().unwrap().remove("fingerprint");
    let path = dir.path().join("out").join(CHECKPOINT_JSON);
    std::fs::write(&path, cp.to_string()).unwrap();
    let out = resume(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("layout 1"), "{err}");
    assert!(err.contains("without --resume"), "{err}");
}

#[test]
fn a_checkpoint_is_refused_after_a_plugin_it_uses_changed() {
    let dir = project();
    let echo = plugin_support::c_fixture("cp_echo", &[]);
    let other = plugin_support::c_fixture("cp_echo_malformed", &["MALFORMED_REPLY"]);
    let lib = dir.path().join("libcx.so");
    std::fs::copy(&echo, &lib).unwrap();
    // The plugin's model is the prompt model append_rule asks.
    edit(
        dir.path(),
        SPEC,
        "dataset trivia",
        "plugin cx = \"libcx\"\nmodel echo { provider = cx.echo }\n\ndataset trivia",
    );
    edit(
        dir.path(),
        SPEC,
        "  seed = 0",
        "  seed = 0\n  prompt_model = echo",
    );
    checkpoint_after(dir.path(), 1);
    // A new file renamed over the old one: this process still maps the old
    // (plugin libraries stay loaded), which writing in place would corrupt.
    let new = dir.path().join("libcx.new");
    std::fs::copy(&other, &new).unwrap();
    std::fs::rename(&new, &lib).unwrap();
    let out = resume(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("plugin `cx` changed since the checkpoint"),
        "{err}"
    );
}
