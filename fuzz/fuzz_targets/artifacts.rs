//! The `program.json` loader and the artifact JSON types: arbitrary bytes
//! never panic, and whatever parses survives a write/read round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simba_run::ir::ProgramGraph;
use simba_run::artifacts::{CandidatesJson, ProgramJson, RunJson, TrialRecord};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The pipeline example's program graph (two steps).
fn graph() -> Arc<ProgramGraph> {
    static GRAPH: OnceLock<Arc<ProgramGraph>> = OnceLock::new();
    GRAPH
        .get_or_init(|| {
            let path = Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/pipeline/pipeline.simba"
            ));
            let loaded = simba_run::compile::load_spec(path, &[], None)
                .expect("the pipeline example compiles");
            let spec = loaded.spec;
            Arc::new(spec.programs.values().next().expect("a program").clone())
        })
        .clone()
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("simba-fuzz-program-{}.json", std::process::id()))
}

fn round_trip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_string(&v).expect("a parsed artifact serializes");
        let back: T = serde_json::from_str(&text).expect("a written artifact parses");
        assert_eq!(v, back, "round trip changed the artifact");
    }
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(&path, data).unwrap();
    let _ = simba_run::program::load::load_program_json(&path, graph());
    let _ = serde_json::from_slice::<ProgramJson>(data);
    round_trip::<CandidatesJson>(data);
    round_trip::<TrialRecord>(data);
    round_trip::<RunJson>(data);
});
