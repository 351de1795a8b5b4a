//! The quickstart spec and its sim models, for tests that drive the library
//! directly (to count calls or break the model).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use simba_run::ir::*;
use simba_run::lm::{Lm, Models, ModelsOptions};
use simba_run::value::Example;

pub fn quickstart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

pub fn sim_decl(skill: f64) -> ModelDecl {
    ModelDecl {
        oracle: Some("trivia".into()),
        skill,
        ..ModelDecl::new("sim", Provider::Sim)
    }
}

/// The quickstart spec as the CLI loads it.
pub fn quickstart_spec() -> Spec {
    let path = quickstart_dir().join("quickstart.simba");
    simba_run::compile::load_spec(&path, &[], None)
        .unwrap_or_else(|e| panic!("{e}"))
        .spec
}

/// The spec's models with the sim provider wrapped by `wrap` (to count or
/// break calls).
pub fn models_with(spec: &Spec, wrap: impl Fn(Arc<dyn Lm>) -> Arc<dyn Lm>) -> Models {
    let oracles = simba_run::optimize::runtime::oracles(spec).unwrap();
    let mut models = Models::new(ModelsOptions { cache_dir: None });
    for decl in spec.models.values() {
        let oracle: Vec<Example> = oracles[decl.oracle.as_ref().unwrap()].clone();
        let sim: Arc<dyn Lm> = Arc::new(simba_run::sim::SimModel::new(decl, oracle));
        models.insert(decl, wrap(sim));
    }
    models
}

/// A fresh copy of the quickstart (spec and data) in `dir`, its sim model
/// answering after `latency` (e.g. "20ms") so a run lasts long enough to be
/// interrupted part-way.
pub fn quickstart_copy_with_latency(dir: &std::path::Path, latency: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let src = quickstart_dir();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(src.join("quickstart.simba")).unwrap();
    let line = format!("latency = {latency}");
    let spec = spec.replace(
        "provider = \"sim\"",
        &format!("provider = \"sim\"\n  {line}"),
    );
    assert!(spec.contains(&line));
    std::fs::write(dir.join("quickstart.simba"), spec).unwrap();
}
