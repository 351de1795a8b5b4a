//! Every example spec's data loads: rows parse, inputs are present and fit
//! the program's declared input types.

use simba_run::compile::load_spec;
use simba_run::data::load_split;

#[test]
fn every_example_split_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        // examples/README.md sits beside the example folders.
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("simba") {
                continue;
            }
            let loaded =
                load_spec(&path, &[], None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let spec = loaded.spec;
            for block in &spec.optimizes {
                let refs = std::iter::once(&block.trainset)
                    .chain(block.devset.iter())
                    .chain(block.valset.iter());
                for r in refs {
                    let rows = load_split(&spec, r)
                        .unwrap_or_else(|e| panic!("{}: {r}: {e}", path.display()));
                    assert!(!rows.is_empty(), "{}: {r} is empty", path.display());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 3, "found only {checked} splits");
}
