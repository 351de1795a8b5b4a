//! `search` steps in whole runs: examples/multihop optimizes offline and
//! gains, its artifacts are byte-identical at any concurrency, the corpus
//! index is built once and reused, searches are counted in run.json, and
//! program.json holds predictors only.

use assert_cmd::Command;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/multihop")
}

/// A copy of examples/multihop (spec, data, metric script) in a fresh folder.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
    for f in [
        "multihop.simba",
        "metrics/score.py",
        "data/train.jsonl",
        "data/dev.jsonl",
        "data/wiki.jsonl",
    ] {
        std::fs::copy(example().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn run(spec: &Path, out: &Path, args: &[&str]) -> String {
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .arg(spec)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    stderr
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn multihop_raises_the_dev_score_and_counts_its_searches() {
    let out = tempfile::tempdir().unwrap();
    run(&example().join("multihop.simba"), out.path(), &[]);
    let run_json = json(&out.path().join("run.json"));
    let base = run_json["baseline"]["dev"].as_f64().unwrap();
    let best = run_json["best"]["dev"].as_f64().unwrap();
    assert!(best > base + 0.05, "dev {base} -> {best}");
    let train = (
        run_json["baseline"]["train"].as_f64().unwrap(),
        run_json["best"]["train"].as_f64().unwrap(),
    );
    assert!(train.1 > train.0, "train {train:?}");
    // Two searches per execution, counted like model calls, none failed.
    let wiki = &run_json["search"]["wiki"];
    let calls = wiki["calls"].as_u64().unwrap();
    assert_eq!(wiki["requests"].as_u64(), Some(calls));
    assert_eq!(wiki["failed_calls"].as_u64(), Some(0));
    let lm_calls = run_json["usage"]["lm_calls"].as_u64().unwrap();
    assert!(
        calls * 3 >= lm_calls && calls > 100,
        "{calls} searches, {lm_calls} LM calls"
    );

    // program.json: the three predictors in DSPy's layout, no search step.
    let program = json(&out.path().join("program.json"));
    let keys: Vec<&str> = program
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "metadata")
        .collect();
    assert_eq!(keys, ["query1", "query2", "answer.predict"]);
    // A demo of a step that reads a search step carries its passages.
    let demos = program["answer.predict"]["demos"].as_array().unwrap();
    let query2_demos = program["query2"]["demos"].as_array().unwrap();
    let with_passages = demos
        .iter()
        .chain(query2_demos)
        .filter(|d| {
            ["context", "more", "passages"].iter().any(|f| {
                d[f].as_array().is_some_and(|p| {
                    p.iter()
                        .any(|s| s.as_str().is_some_and(|s| s.contains(" | ")))
                })
            })
        })
        .count();
    assert!(with_passages > 0, "no demo shows passages: {program}");
}

const SHORT: [&str; 4] = ["--set", "multihop.max_steps=2", "--set", "multihop.bsize=6"];

#[test]
fn artifacts_are_byte_identical_at_any_concurrency() {
    let dir = copy();
    let spec = dir.path().join("multihop.simba");
    let outs: Vec<PathBuf> = ["1", "8"]
        .iter()
        .map(|c| {
            let out = dir.path().join(format!("out-{c}"));
            let mut args = SHORT.to_vec();
            let set = format!("multihop.concurrency={c}");
            args.extend(["--set", set.as_str()]);
            run(&spec, &out, &args);
            out
        })
        .collect();
    let mut files = vec![
        "program.json".to_string(),
        "candidates.json".into(),
        "trials.jsonl".into(),
    ];
    for e in std::fs::read_dir(outs[0].join("candidates")).unwrap() {
        files.push(format!(
            "candidates/{}",
            e.unwrap().file_name().to_string_lossy()
        ));
    }
    for f in &files {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        let b = std::fs::read(outs[1].join(f)).unwrap();
        assert!(a == b, "{f} differs between concurrency 1 and 8");
    }
    let a = json(&outs[0].join("run.json"));
    let b = json(&outs[1].join("run.json"));
    assert_eq!(a["search"], b["search"], "search counts differ");
}

fn manifest_stamp(dir: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(dir.join(".simba-cache/index/wiki/simba-corpus.json"))
        .unwrap_or_else(|e| panic!("no index manifest: {e}"));
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn the_index_is_built_once_and_rebuilt_when_the_corpus_changes() {
    let dir = copy();
    let spec = dir.path().join("multihop.simba");
    let mut args = SHORT.to_vec();
    args.extend(["--set", "multihop.max_steps=1"]);
    run(&spec, &dir.path().join("a"), &args);
    let first = manifest_stamp(dir.path());
    // --no-cache turns off the response cache, not the index.
    run(
        &spec,
        &dir.path().join("b"),
        &[&args[..], &["--no-cache"]].concat(),
    );
    assert_eq!(manifest_stamp(dir.path()), first, "the index was rebuilt");
    let wiki = dir.path().join("data/wiki.jsonl");
    let mut text = std::fs::read_to_string(&wiki).unwrap();
    text.push_str("{\"title\": \"Zed\", \"text\": \"Zed is new.\"}\n");
    std::fs::write(&wiki, text).unwrap();
    run(&spec, &dir.path().join("c"), &args);
    assert_ne!(
        manifest_stamp(dir.path()),
        first,
        "a changed corpus kept its old index"
    );
}

#[test]
fn an_index_folder_named_in_the_spec_is_used() {
    let dir = copy();
    let spec = dir.path().join("multihop.simba");
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "title = title",
        "title = title\n  index = \"out/index/wiki\"",
    );
    std::fs::write(&spec, text).unwrap();
    let args = ["--set", "multihop.max_steps=1", "--set", "multihop.bsize=4"];
    run(&spec, &dir.path().join("a"), &args);
    assert!(
        dir.path()
            .join("out/index/wiki/simba-corpus.json")
            .is_file()
    );
    assert!(!dir.path().join(".simba-cache/index").exists());
}
