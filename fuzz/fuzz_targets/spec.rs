//! The spec parser and compiler on arbitrary text: diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A path inside the examples folder, so relative data paths resolve to
    // real files as often as the input names them.
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/quickstart/fuzz.simba"
    ));
    let _ = simba_run::compile::compile_source(path, text, &[]);
    let _ = simba_run::syntax::parse(text);
});
