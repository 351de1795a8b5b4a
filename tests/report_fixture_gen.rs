//! Regenerates the recorded-run fixture `tests/fixtures/report/quickstart/`
//! from a real optimizer run of the quickstart on the offline `sim` model:
//! `cargo test --test report_fixture_gen -- --ignored`.
//! Ignored by default so the fixture stays a fixed recording the report tests
//! can pin row counts against.

mod common;

use common::sim::*;
use std::path::PathBuf;
use std::sync::Arc;

use simba_run::lm::ModelSet;
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;

#[test]
#[ignore = "rewrites the checked-in fixture; run by hand"]
fn regenerate_quickstart_fixture() {
    let spec = quickstart_spec();
    let mut decl = spec.optimizes[0].clone();
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let models: Arc<dyn ModelSet> = Arc::new(models_with(&spec, |inner| inner));
    // Machine-independent paths in the recorded run.json.
    decl.output = PathBuf::from("out/qa");
    let input = prepare(&spec, &decl, models, train, dev, EventSink::none(), vec![]).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut out = rt.block_on(optimize(input)).unwrap();
    out.run.spec = Some(PathBuf::from("examples/quickstart/quickstart.simba"));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/quickstart");
    out.write(&dir).unwrap();
}
