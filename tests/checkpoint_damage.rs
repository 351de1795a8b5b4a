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

#[test]
fn damaged_checkpoints_are_refused_with_a_reason() {
    let spec = small_spec();
    let (base, _) = first_checkpoint(&spec);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("cursor past the end", json!({"cursor": 99}), "data order"),
        (
            "a row twice in the data order",
            json!({"data_order": [0, 0, 1, 2, 3, 4]}),
            "data order",
        ),
        (
            "a row outside the trainset",
            json!({"data_order": [5, 4, 3, 2, 1, 99]}),
            "data order",
        ),
        ("a winner outside the pool", json!({"winners": [7]}), "pool"),
        ("an empty pool", json!({"pool": []}), "pool"),
        (
            "a pool entry with other predictors",
            json!({"pool": [{"predictors": {}, "scores": [], "step": null}]}),
            "predictors",
        ),
        ("another schema", json!({"schema": 2}), "schema"),
        (
            "a random stream that is not hex",
            json!({"rng_choices": {"seed": "zz", "stream": 0, "word_pos": "0"}}),
            "hex",
        ),
        ("another bsize", json!({"config": {"bsize": 4}}), "bsize"),
        ("no trial records", json!({"trials": null}), "trials"),
    ];
    for (name, patch, reason) in cases {
        let mut cp = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                cp.as_object_mut().unwrap().remove(k);
            } else if k == "config" {
                for (ck, cv) in v.as_object().unwrap() {
                    cp["config"][ck] = cv.clone();
                }
            } else {
                cp[k] = v.clone();
            }
        }
        let err = resume(&spec, &cp).expect_err(name);
        assert!(err.contains(reason), "{name}: {err}");
    }
}
