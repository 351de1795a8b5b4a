//! A damaged `checkpoint.json` is refused with an error naming what is
//! wrong, never a panic: each case breaks one invariant the resume path
//! relies on (the seeds of the `checkpoint` fuzz target, kept here as
//! regression tests).

mod common;

use common::sim::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use simba_run::ir::Spec;
use simba_run::lm::ModelSet;
use simba_run::optimize::checkpoint::{CHECKPOINT_JSON, Checkpoint};
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;

fn small_spec() -> Spec {
    let mut spec = quickstart_spec();
    let decl = &mut spec.optimizes[0];
    decl.bsize = 3;
    decl.num_candidates = 2;
    decl.max_steps = 2;
    decl.devset = None;
    spec
}

fn input(spec: &Spec) -> OptimizeInput {
    let decl = spec.optimizes[0].clone();
    let models: Arc<dyn ModelSet> = Arc::new(models_with(spec, |lm| lm));
    let (mut train, _) = load_data(spec, &decl).unwrap();
    train.truncate(6);
    prepare(spec, &decl, models, train, None, EventSink::none(), vec![]).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The checkpoint after step 1 of the small run, and the run's own result.
fn first_checkpoint(spec: &Spec) -> (Value, OptimizeOutput) {
    let saved: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
    let sink = saved.clone();
    let options = RunOptions {
        checkpoint: Some(Arc::new(move |cp: &Checkpoint| {
            sink.lock().unwrap().push(cp.clone());
            Ok(())
        })),
        ..RunOptions::default()
    };
    let out = rt().block_on(optimize_with(input(spec), options)).unwrap();
    let first = saved.lock().unwrap()[0].clone();
    (serde_json::to_value(first).unwrap(), out)
}

/// Writes `value` as checkpoint.json, loads it and resumes the small run.
fn resume(spec: &Spec, value: &Value) -> Result<OptimizeOutput, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CHECKPOINT_JSON), value.to_string()).unwrap();
    let cp = Checkpoint::load(dir.path()).map_err(|e| e.to_string())?;
    let options = RunOptions {
        resume: Some(cp),
        ..RunOptions::default()
    };
    rt().block_on(optimize_with(input(spec), options))
        .map_err(|e| e.to_string())
}

#[test]
fn an_intact_checkpoint_resumes_to_the_same_result() {
    let spec = small_spec();
    let (cp, full) = first_checkpoint(&spec);
    let resumed = resume(&spec, &cp).unwrap();
    assert_eq!(resumed.best, full.best);
    assert_eq!(resumed.trials, full.trials);
}

/// RFC 7396 merge patch: objects merge key by key, `null` deletes, anything
/// else replaces (as the fuzz target applies its inputs).
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// A damage: a merge patch, or an edit of the checkpoint's JSON.
enum Damage {
    Patch(Value),
    Edit(fn(&mut Value)),
}

/// Every case must be refused with an error containing its reason; the
/// cases that are not (accepted, panicked, or refused for something else)
/// are listed together.
fn refused(spec: &Spec, base: &Value, cases: Vec<(&str, Damage, &str)>) {
    let mut wrong = Vec::new();
    for (name, damage, reason) in cases {
        let mut cp = base.clone();
        match damage {
            Damage::Patch(p) => merge(&mut cp, &p),
            Damage::Edit(f) => f(&mut cp),
        }
        let outcome = std::panic::catch_unwind(|| resume(spec, &cp));
        match outcome {
            Err(_) => wrong.push(format!("{name}: panicked")),
            Ok(Ok(_)) => wrong.push(format!("{name}: accepted")),
            Ok(Err(e)) if !e.contains(reason) => {
                wrong.push(format!("{name}: no `{reason}` in: {e}"))
            }
            Ok(Err(_)) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn damaged_checkpoints_are_refused_with_a_reason() {
    use Damage::Patch;
    let spec = small_spec();
    let (base, _) = first_checkpoint(&spec);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "cursor past the end",
            Patch(json!({"cursor": 99})),
            "cursor",
        ),
        (
            "a row twice in the data order",
            Patch(json!({"data_order": [0, 0, 1, 2, 3, 4]})),
            "data_order",
        ),
        (
            "a row outside the trainset",
            Patch(json!({"data_order": [5, 4, 3, 2, 1, 99]})),
            "data_order",
        ),
        (
            "a winner outside the pool",
            Patch(json!({"winners": [7]})),
            "winners",
        ),
        ("an empty pool", Patch(json!({"pool": []})), "pool"),
        (
            "a pool entry with other predictors",
            Patch(json!({"pool": [{"predictors": {}, "scores": [], "step": null}]})),
            "predictors",
        ),
        ("another schema", Patch(json!({"schema": 99})), "layout 99"),
        (
            "a random stream that is not hex",
            Patch(json!({"rng_choices": {"seed": "zz", "stream": 0, "word_pos": "0"}})),
            "hex",
        ),
        (
            "another bsize",
            Patch(json!({"config": {"bsize": 4}})),
            "bsize",
        ),
        ("no trial records", Patch(json!({"trials": null})), "trials"),
    ];
    refused(&spec, &base, cases);
}

/// Issue 14, finding 4: tampered fields that used to panic, wrap or pass.
#[test]
fn tampered_checkpoints_are_refused_naming_the_field() {
    use Damage::{Edit, Patch};
    let spec = small_spec();
    let (base, _) = first_checkpoint(&spec);
    let max = u64::MAX;
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("no winners", Patch(json!({"winners": []})), "winners"),
        (
            "a winner other than the trial's",
            Patch(json!({"winners": [0, 0]})),
            "winners",
        ),
        (
            "steps_done at the top",
            Patch(json!({"steps_done": max})),
            "steps_done",
        ),
        (
            "more steps than max_steps",
            Patch(json!({"steps_done": 3})),
            "steps_done",
        ),
        (
            "a huge budget count",
            Patch(json!({"budget_started": max})),
            "budget_started",
        ),
        (
            "a call count about to wrap",
            Patch(json!({"usage": {"lm_calls": max}})),
            "usage",
        ),
        (
            "usage that is not the trials' sum",
            Patch(json!({"usage": {"prompt_tokens": 1}})),
            "usage",
        ),
        (
            "more cache hits than calls",
            Patch(json!({"cached_calls": max})),
            "cached_calls",
        ),
        (
            "the same trial twice",
            Edit(|cp| {
                let t = cp["trials"][0].clone();
                cp["trials"] = json!([t.clone(), t]);
                cp["steps_done"] = json!(2);
            }),
            "trials",
        ),
        (
            "a trial for another step",
            Edit(|cp| cp["trials"][0]["step"] = json!(2)),
            "trials",
        ),
        (
            "a trial reading a row outside the trainset",
            Edit(|cp| cp["trials"][0]["batch"][0] = json!(99)),
            "trials",
        ),
        (
            "a score above the metric's range",
            Edit(|cp| cp["pool"][1]["scores"][0] = json!(7.5)),
            "pool",
        ),
        (
            "a score below the metric's range",
            Edit(|cp| cp["pool"][1]["scores"][0] = json!(-0.5)),
            "pool",
        ),
        (
            "a baseline that is not the program's",
            Edit(|cp| cp["pool"][0]["predictors"]["answer"]["instructions"] = json!("Obey.")),
            "pool",
        ),
        (
            "a best score no step reached",
            Patch(json!({"best_so_far": 0.99})),
            "best_so_far",
        ),
        (
            "an unknown version",
            Patch(json!({"simba_run_version": "99.0.0"})),
            "simba_run_version",
        ),
        (
            "a random stream of another seed",
            Patch(json!({"rng_choices": {"seed": "00".repeat(32)}})),
            "rng_choices",
        ),
        (
            "a random stream past its end",
            Patch(json!({"rng_poisson": {"word_pos": u128::MAX.to_string()}})),
            "rng_poisson",
        ),
        (
            "a negative per-execution estimate",
            Patch(json!({"per_execution": [-1.0, 0.0]})),
            "per_execution",
        ),
        (
            "a step duration missing",
            Patch(json!({"step_durations_ms": []})),
            "step_durations_ms",
        ),
        (
            "a step's requests missing",
            Patch(json!({"step_requests": []})),
            "step_requests",
        ),
        (
            "requests that are not the steps' sum",
            Patch(json!({"usage": {"requests": 12345}})),
            "usage",
        ),
        (
            "a step's cache hits that are not the total",
            Edit(|cp| cp["step_requests"][0]["cached_calls"] = json!(7)),
            "cached_calls",
        ),
        (
            "a convergence count past the steps",
            Patch(json!({"convergence": {"stale": 99}})),
            "convergence",
        ),
    ];
    refused(&spec, &base, cases);
    // The message names the file and the field first.
    let mut no_winners = base.clone();
    no_winners["winners"] = json!([]);
    let err = resume(&spec, &no_winners).unwrap_err();
    assert!(
        err.contains("cannot resume: checkpoint.json: winners: "),
        "{err}"
    );
}

/// A review of `final = race` (which reuses these scores): edited mini-batch
/// scores used to be accepted and changed the program the race returned.
#[test]
fn edited_mini_batch_scores_are_refused() {
    use Damage::Edit;
    let spec = small_spec();
    let (base, _) = first_checkpoint(&spec);
    let with_candidate = |cp: &Value| {
        cp["trials"][0]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| !c["pool_index"].is_null())
            .expect("step 1 registered a candidate")
    };
    assert!(with_candidate(&base) < 8);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "a candidate's scores raised, its pool entry left alone",
            Edit(|cp| {
                for c in cp["trials"][0]["candidates"].as_array_mut().unwrap() {
                    if !c["pool_index"].is_null() {
                        let n = c["scores"].as_array().unwrap().len();
                        c["scores"] = json!(vec![1.0; n]);
                        c["score"] = json!(1.0);
                    }
                }
            }),
            "pool",
        ),
        (
            "fewer scores than the mini-batch",
            Edit(|cp| {
                for c in cp["trials"][0]["candidates"].as_array_mut().unwrap() {
                    if !c["pool_index"].is_null() {
                        c["scores"].as_array_mut().unwrap().truncate(1);
                    }
                }
            }),
            "scores for a mini-batch of 3",
        ),
        (
            "a score that is not the mean of its scores",
            Edit(|cp| {
                for c in cp["trials"][0]["candidates"].as_array_mut().unwrap() {
                    if !c["pool_index"].is_null() {
                        let s = c["score"].as_f64().unwrap();
                        c["score"] = json!(if s > 0.5 { 0.0 } else { 1.0 });
                    }
                }
            }),
            "average",
        ),
        (
            "a pool entry's scores edited alone",
            Edit(|cp| {
                let last = cp["pool"].as_array().unwrap().len() - 1;
                let n = cp["pool"][last]["scores"].as_array().unwrap().len();
                cp["pool"][last]["scores"] = json!(vec![0.5; n]);
            }),
            "the trial records gave it",
        ),
    ];
    refused(&spec, &base, cases);
}
