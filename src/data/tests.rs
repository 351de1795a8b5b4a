use super::*;
use crate::ir::{DataFile, DatasetDecl, DatasetSource, SplitSize};
use serde_json::json;
use std::io::Write;

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

fn inputs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn jsonl_rows_keep_values_and_skip_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        &dir,
        "a.jsonl",
        "{\"q\": \"one\", \"a\": 1, \"tags\": [\"x\"]}\n\n  \n{\"a\": \"2\", \"q\": \"two\"}\n",
    );
    let rows = read_file(&DataFile::Jsonl(p), &inputs(&["q"])).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].fields["a"], json!(1));
    assert_eq!(rows[0].fields["tags"], json!(["x"]));
    assert_eq!(rows[1].fields.keys().collect::<Vec<_>>(), ["a", "q"]);
    assert_eq!(
        rows[1].inputs(),
        [("q".to_string(), json!("two"))]
            .into_iter()
            .collect::<crate::value::Record>()
    );
}

#[test]
fn malformed_json_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "bad.jsonl", "{\"q\": \"a\"}\n\n{\"q\": \"b\",\n");
    let err = read_file(&DataFile::Jsonl(p), &inputs(&["q"])).unwrap_err();
    assert!(matches!(err, DataError::Json { line: 3, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("bad.jsonl:3: malformed JSON"), "{msg}");
}

#[test]
fn non_object_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "arr.jsonl", "{\"q\": 1}\n[1, 2]\n");
    let err = read_file(&DataFile::Jsonl(p), &[]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("arr.jsonl:2: expected a JSON object, found an array"),
        "{err}"
    );
}

#[test]
fn missing_input_field_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "m.jsonl", "{\"q\": 1, \"a\": 2}\n{\"a\": 3}\n");
    let err = read_file(&DataFile::Jsonl(p), &inputs(&["q"])).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("m.jsonl:2: the row has no field `q`, which every row must have"),
        "{err}"
    );

    let p = file(&dir, "m.csv", "a,b\n1,2\n");
    let err = read_file(&DataFile::Csv(p), &inputs(&["q"])).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("m.csv:2: the row has no field `q`, which every row must have"),
        "{err}"
    );
}

#[test]
fn unreadable_file_names_the_path() {
    let err = read_file(&DataFile::Jsonl("/nonexistent/x.jsonl".into()), &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/x.jsonl:"),
        "{err}"
    );
}

#[test]
fn csv_values_stay_strings_including_quoted_commas() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        &dir,
        "d.csv",
        "question,answer\n\"Paris, or Lyon?\",007\nsecond,1e3\n",
    );
    let rows = read_file(&DataFile::Csv(p), &inputs(&["question"])).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].fields["question"], json!("Paris, or Lyon?"));
    assert_eq!(rows[0].fields["answer"], json!("007"));
    assert_eq!(rows[1].fields["answer"], json!("1e3"));
}

#[test]
fn csv_ragged_row_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "r.csv", "a,b\n1,2\n3,4\n5\n");
    let err = read_file(&DataFile::Csv(p), &[]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Ragged {
                line: 4,
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("r.csv:4: the row has 1 values but the header has 2"),
        "{err}"
    );
}

#[test]
fn csv_line_numbers_count_multiline_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(&dir, "ml.csv", "a,b\n\"x\ny\",1\n2,3,4\n");
    let err = read_file(&DataFile::Csv(p), &[]).unwrap_err();
    assert!(matches!(err, DataError::Ragged { line: 4, .. }), "{err:?}");
}

fn numbered(dir: &tempfile::TempDir, n: usize) -> std::path::PathBuf {
    let text: String = (0..n).map(|i| format!("{{\"q\": \"{i}\"}}\n")).collect();
    file(dir, "all.jsonl", &text)
}

fn split_decl(path: std::path::PathBuf, parts: Vec<(&str, SplitSize)>, seed: u64) -> DatasetDecl {
    DatasetDecl {
        name: "big".into(),
        source: DatasetSource::Split {
            all: DataFile::Jsonl(path),
            parts: parts.into_iter().map(|(n, s)| (n.to_string(), s)).collect(),
            shuffle_seed: seed,
        },
        inputs: inputs(&["q"]),
    }
}

fn ids(rows: &[crate::value::Example]) -> Vec<String> {
    rows.iter()
        .map(|r| r.fields["q"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn split_is_a_seeded_shuffle_cut_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = numbered(&dir, 20);
    let decl = split_decl(
        p,
        vec![
            ("train", SplitSize::Count(5)),
            ("dev", SplitSize::Rest),
            ("val", SplitSize::Fraction(0.25)),
        ],
        1,
    );
    let a = load_dataset(&decl).unwrap();
    let b = load_dataset(&decl).unwrap();
    assert_eq!(a, b, "same seed, same split");
    assert_eq!(a.splits.keys().collect::<Vec<_>>(), ["train", "dev", "val"]);
    assert_eq!(a.splits["train"].len(), 5);
    assert_eq!(a.splits["dev"].len(), 10);
    assert_eq!(a.splits["val"].len(), 5);
    let mut all: Vec<String> = a.splits.values().flat_map(|r| ids(r)).collect();
    assert_ne!(
        all,
        (0..20).map(|i| i.to_string()).collect::<Vec<_>>(),
        "shuffled"
    );
    all.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(
        all,
        (0..20).map(|i| i.to_string()).collect::<Vec<_>>(),
        "a partition"
    );

    let other = load_dataset(&split_decl(
        decl_path(&decl),
        vec![
            ("train", SplitSize::Count(5)),
            ("dev", SplitSize::Rest),
            ("val", SplitSize::Fraction(0.25)),
        ],
        2,
    ))
    .unwrap();
    assert_ne!(
        ids(&other.splits["train"]),
        ids(&a.splits["train"]),
        "seed matters"
    );
}

fn decl_path(d: &DatasetDecl) -> std::path::PathBuf {
    match &d.source {
        DatasetSource::Split { all, .. } => file_path(all).to_path_buf(),
        DatasetSource::Files(_) => unreachable!(),
    }
}

#[test]
fn split_larger_than_the_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = numbered(&dir, 10);
    let err = load_dataset(&split_decl(
        p,
        vec![("train", SplitSize::Count(8)), ("dev", SplitSize::Count(3))],
        0,
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dataset `big`: split part `dev` wants 3 rows but only 2 are left of 10"
    );
}

#[test]
fn two_rest_parts_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = numbered(&dir, 4);
    let err = load_dataset(&split_decl(
        p,
        vec![("a", SplitSize::Rest), ("b", SplitSize::Rest)],
        0,
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("more than one part is `rest`"),
        "{err}"
    );
}

fn spec_with(decl: DatasetDecl, base: &std::path::Path) -> crate::ir::Spec {
    crate::ir::Spec {
        path: base.join("x.simba"),
        base_dir: base.to_path_buf(),
        plugins: Default::default(),
        models: Default::default(),
        signatures: Default::default(),
        programs: Default::default(),
        datasets: [(decl.name.clone(), decl)].into_iter().collect(),
        metrics: Default::default(),
        corpora: Default::default(),
        optimizes: vec![],
    }
}

#[test]
fn load_split_reads_one_file_and_names_a_missing_split() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    file(&dir, "data/train.jsonl", "{\"q\": \"t\"}\n");
    file(&dir, "data/dev.jsonl", "{\"q\": \"d1\"}\n{\"q\": \"d2\"}\n");
    let decl = DatasetDecl {
        name: "trivia".into(),
        source: DatasetSource::Files(
            [
                (
                    "train".to_string(),
                    DataFile::Jsonl(dir.path().join("data/train.jsonl")),
                ),
                (
                    "dev".to_string(),
                    DataFile::Jsonl(dir.path().join("data/dev.jsonl")),
                ),
            ]
            .into_iter()
            .collect(),
        ),
        inputs: inputs(&["q"]),
    };
    let spec = spec_with(decl, dir.path());
    let dev = load_split(
        &spec,
        &DataRef {
            dataset: "trivia".into(),
            split: "dev".into(),
        },
    )
    .unwrap();
    assert_eq!(ids(&dev), ["d1", "d2"]);
    let err = load_split(
        &spec,
        &DataRef {
            dataset: "trivia".into(),
            split: "val".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dataset `trivia` has no split `val` (it has: train, dev)"
    );
    let err = load_split(
        &spec,
        &DataRef {
            dataset: "nope".into(),
            split: "dev".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "no dataset named `nope`");
}

#[test]
fn load_split_checks_input_types_of_the_optimized_program() {
    use crate::ir::*;
    let dir = tempfile::tempdir().unwrap();
    file(&dir, "dev.csv", "n,label\n3,pos\nthree,neg\n");
    let decl = DatasetDecl {
        name: "nums".into(),
        source: DatasetSource::Files(
            [("dev".to_string(), DataFile::Csv(dir.path().join("dev.csv")))]
                .into_iter()
                .collect(),
        ),
        inputs: inputs(&["n"]),
    };
    let mut spec = spec_with(decl, dir.path());
    let field = Field {
        name: "n".into(),
        ty: FieldType::Int,
        description: None,
    };
    spec.programs.insert(
        "p".into(),
        ProgramGraph {
            name: "p".into(),
            lm: "m".into(),
            inputs: vec![field],
            steps: vec![],
            outputs: vec![],
            deps: vec![],
            spec_text: String::new(),
        },
    );
    let dev = DataRef {
        dataset: "nums".into(),
        split: "dev".into(),
    };
    // Without an optimize block nothing says what `n` should be.
    assert_eq!(load_split(&spec, &dev).unwrap().len(), 2);
    spec.optimizes.push(OptimizeDecl {
        program: "p".into(),
        trainset: dev.clone(),
        devset: None,
        valset: None,
        valset_auto: false,
        select_on: SelectOn::Trainset,
        metric: "m".into(),
        bsize: 1,
        num_candidates: 1,
        max_steps: 1,
        max_demos: 0,
        demo_input_field_maxlen: 10,
        temperature_for_sampling: 0.2,
        temperature_for_candidates: 0.2,
        strategies: vec![],
        prompt_model: None,
        teacher: None,
        selection: Selection::Softmax,
        dedup: false,
        resample: Resample::Rollout,
        final_selection: Default::default(),
        concurrency: 1,
        seed: 0,
        stop: StopRules::default(),
        output: dir.path().join("out"),
        cache: None,
    });
    let err = load_split(&spec, &dev).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("dev.csv:3: field `n` should be int, found \"three\""),
        "{err}"
    );
}

/// Issue 14, round two, finding 5: invalid UTF-8 used to be "stream did not
/// contain valid UTF-8" without a place.
#[test]
fn invalid_utf8_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("bad.jsonl");
    std::fs::write(&jsonl, b"{\"q\": \"ok\"}\n{\"q\": \"caf\xc3\xa9 \xff\"}\n").unwrap();
    let e = read_file(&DataFile::Jsonl(jsonl.clone()), &inputs(&["q"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:14: not valid UTF-8 (byte 0xff); data files must be UTF-8",
            jsonl.display()
        )
    );
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, b"\xfeq,a\nx,y\n").unwrap();
    let e = read_file(&DataFile::Csv(csv.clone()), &inputs(&["q"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1:1: not valid UTF-8 (byte 0xfe); data files must be UTF-8",
            csv.display()
        )
    );
}
