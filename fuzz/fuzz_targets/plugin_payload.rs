//! The host side of the plugin ABI: decoding a plugin's manifest, strategy
//! reply, model reply and LM callback request from arbitrary bytes, and
//! applying a decoded strategy reply to a program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simba_plugin_sdk::{Manifest, ModelReply, ModelRequest, StrategyReply};
use simba_run::program::Program;
use std::path::Path;
use std::sync::{Arc, OnceLock};

fn baseline() -> Program {
    static PROGRAM: OnceLock<Program> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let path = Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/pipeline/pipeline.simba"
            ));
            let spec = simba_run::compile::load_spec(path, &[], None)
                .expect("the pipeline example compiles")
                .spec;
            let graph = Arc::new(spec.programs.values().next().expect("a program").clone());
            Program::baseline(graph)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Manifest>(data);
    let _ = serde_json::from_slice::<ModelReply>(data);
    let _ = serde_json::from_slice::<ModelRequest>(data);
    if let Ok(StrategyReply::Applied { program, .. }) =
        serde_json::from_slice::<StrategyReply>(data)
    {
        let mut candidate = baseline();
        let before = candidate.clone();
        if simba_run::plugin::apply_program(&mut candidate, program).is_err() {
            assert_eq!(candidate, before, "a rejected reply changed the program");
        }
    }
});
