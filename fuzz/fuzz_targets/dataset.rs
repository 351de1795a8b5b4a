//! The dataset loaders (jsonl and csv) on arbitrary file contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simba_run::data::read_file_checked;
use simba_run::ir::{DataFile, FieldType};
use std::path::PathBuf;

fn scratch(ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("simba-fuzz-{}.{ext}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let csv = selector & 1 == 1;
    let path = scratch(if csv { "csv" } else { "jsonl" });
    std::fs::write(&path, rest).unwrap();
    let file = if csv {
        DataFile::Csv(path)
    } else {
        DataFile::Jsonl(path)
    };
    let inputs = vec!["question".to_string()];
    let _ = read_file_checked(&file, &inputs, &[]);
    let types = vec![
        ("question".to_string(), FieldType::String),
        (
            "answer".to_string(),
            FieldType::List(Box::new(FieldType::Int)),
        ),
        (
            "label".to_string(),
            FieldType::Enum(vec!["a".into(), "b".into()]),
        ),
        ("score".to_string(), FieldType::Float),
        ("ok".to_string(), FieldType::Bool),
    ];
    let _ = read_file_checked(&file, &inputs, &types);
});
