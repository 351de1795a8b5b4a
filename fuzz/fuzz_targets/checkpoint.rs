//! The `checkpoint.json` loader and the engine's resume path.
//!
//! A random byte string almost never gets past the configuration check, so
//! the input is read two ways: as a whole checkpoint file, and as a JSON
//! merge patch (RFC 7396) over a real checkpoint taken after step 1 of a
//! small quickstart run. Whatever loads is resumed on the sim model: a
//! damaged checkpoint must give an error (the resume validates every field,
//! `src/optimize/checkpoint/validate.rs`), never a panic or a hang; the
//! intact one (the empty patch) must resume.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use simba_run::ir::Spec;
use simba_run::lm::{ModelSet, Models, ModelsOptions};
use simba_run::optimize::checkpoint::{CHECKPOINT_JSON, Checkpoint};
use simba_run::optimize::runtime::{load_data, oracles, prepare};
use simba_run::optimize::{EventSink, OptimizeInput, RunOptions, optimize_with};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

struct Fixture {
    spec: Spec,
    base: Value,
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
}

/// The quickstart, shrunk so a resumed run takes a millisecond or two.
fn small_spec() -> Spec {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/quickstart/quickstart.simba"
    ));
    let mut spec = simba_run::compile::load_spec(path, &[], None)
        .expect("the quickstart compiles")
        .spec;
    let decl = &mut spec.optimizes[0];
    decl.bsize = 3;
    decl.num_candidates = 2;
    decl.max_steps = 2;
    decl.devset = None;
    spec
}

fn input(spec: &Spec) -> OptimizeInput {
    let decl = spec.optimizes[0].clone();
    let mut models = Models::new(ModelsOptions { cache_dir: None });
    let rows = oracles(spec).expect("oracle rows");
    for m in spec.models.values() {
        let oracle = rows[m.oracle.as_ref().expect("a sim oracle")].clone();
        models.insert(m, Arc::new(simba_run::sim::SimModel::new(m, oracle)));
    }
    let (mut train, _) = load_data(spec, &decl).expect("quickstart data");
    train.truncate(6);
    let models: Arc<dyn ModelSet> = Arc::new(models);
    prepare(spec, &decl, models, train, None, EventSink::none(), vec![]).expect("prepare")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let spec = small_spec();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let saved: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
        let sink_saved = saved.clone();
        let options = RunOptions {
            checkpoint: Some(Arc::new(move |cp: &Checkpoint| {
                sink_saved.lock().unwrap().push(cp.clone());
                Ok(())
            })),
            ..RunOptions::default()
        };
        rt.block_on(optimize_with(input(&spec), options))
            .expect("the small run finishes");
        let first = saved.lock().unwrap()[0].clone();
        let base = serde_json::to_value(&first).expect("a checkpoint serializes");
        let dir = std::env::temp_dir().join(format!("simba-fuzz-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Fixture {
            spec,
            base,
            rt,
            dir,
        }
    })
}

/// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
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

/// Whether the bytes loaded as a checkpoint and the run resumed from it.
fn resume(f: &Fixture, bytes: &[u8]) -> bool {
    let path = f.dir.join(CHECKPOINT_JSON);
    std::fs::write(&path, bytes).expect("scratch write");
    let Ok(cp) = Checkpoint::load(&f.dir) else {
        return false;
    };
    let options = RunOptions {
        resume: Some(cp),
        ..RunOptions::default()
    };
    f.rt.block_on(optimize_with(input(&f.spec), options))
        .is_ok()
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    resume(f, data);
    if let Ok(patch) = serde_json::from_slice::<Value>(data) {
        let mut cp = f.base.clone();
        merge(&mut cp, &patch);
        let resumed = resume(f, &serde_json::to_vec(&cp).expect("a value serializes"));
        if patch.as_object().is_some_and(|p| p.is_empty()) {
            assert!(resumed, "the intact checkpoint must resume");
        }
    }
});
