//! program.json mirrors DSPy's `Module.save("program.json")` layout: checked
//! against a fixture written by DSPy 3.4.1's `save()` for the equivalent
//! module (`self.query = dspy.Predict(WriteQuery)`,
//! `self.answer = dspy.ChainOfThought(Answer)`, the same demo and
//! instructions set by hand; `dependency_versions` emptied), and read back by
//! our loader. .ci/dspy_roundtrip.sh checks the same against DSPy itself for
//! every example.

use serde_json::{Value, json};
use std::sync::Arc;

use simba_run::artifacts::ProgramJson;
use simba_run::ir::*;
use simba_run::program::Program;
use simba_run::value::{Demo, Record};

fn field(name: &str, desc: Option<&str>) -> Field {
    Field {
        name: name.into(),
        ty: FieldType::String,
        description: desc.map(String::from),
    }
}

fn graph() -> Arc<ProgramGraph> {
    let q = Signature {
        name: "WriteQuery".into(),
        instructions: "Write a search query for the question.".into(),
        inputs: vec![field("question", None)],
        outputs: vec![field("search_query", Some("a few keywords"))],
    };
    let a = Signature {
        name: "Answer".into(),
        instructions: "Answer the question.".into(),
        inputs: vec![
            field("question", None),
            field("search_query", Some("a few keywords")),
        ],
        outputs: vec![field("answer", Some("often between 1 and 5 words"))],
    };
    Arc::new(ProgramGraph {
        name: "multihop".into(),
        lm: "m".into(),
        inputs: vec![field("question", None)],
        steps: vec![
            Step {
                name: "query".into(),
                module: ModuleKind::Predict,
                signature: q,
                lm: "m".into(),
                bindings: vec![("question".into(), Source::Input("question".into()))],
            },
            Step {
                name: "answer".into(),
                module: ModuleKind::ChainOfThought,
                signature: a,
                lm: "m".into(),
                bindings: vec![
                    ("question".into(), Source::Input("question".into())),
                    (
                        "search_query".into(),
                        Source::Step {
                            step: "query".into(),
                            field: "search_query".into(),
                        },
                    ),
                ],
            },
        ],
        outputs: vec![(
            "answer".into(),
            Source::Step {
                step: "answer".into(),
                field: "answer".into(),
            },
        )],
        deps: vec![vec![], vec![0]],
        spec_text: String::new(),
    })
}

fn optimized() -> Program {
    let mut p = Program::baseline(graph());
    let mut fields = Record::default();
    fields.insert("question".into(), json!("Which river flows through Cairo?"));
    fields.insert("search_query".into(), json!("river Cairo"));
    p.predictors["query"].demos.push(Demo {
        fields,
        augmented: true,
    });
    p.predictors["answer"].instructions =
        "Answer the question.\n\nWhen the input is about rivers, name the river only.".into();
    p
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/dspy_program.json")).unwrap()
}

#[test]
fn layout_matches_dspy_save_format() {
    let ours = serde_json::to_value(ProgramJson::from_program(&optimized())).unwrap();
    let mut ours_no_meta = ours.clone();
    let fix = fixture();
    // Our own metadata block aside, the files are identical.
    ours_no_meta["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("simba_run");
    assert_eq!(ours_no_meta, fix);
    // Key for key in the same order, too (demos: `augmented` first).
    assert_eq!(
        serde_json::to_string_pretty(&ours_no_meta).unwrap() + "\n",
        include_str!("fixtures/dspy_program.json")
    );
    // Same key order as DSPy writes: predictors in module order, then metadata.
    let keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["query", "answer.predict", "metadata"]);
    let pkeys: Vec<&String> = ours["query"].as_object().unwrap().keys().collect();
    assert_eq!(pkeys, ["traces", "train", "demos", "signature", "lm"]);
    // DSPy's load() reads metadata.dependency_versions and compares each key
    // it finds with installed packages: it must exist and hold none of ours.
    assert_eq!(ours["metadata"]["dependency_versions"], json!({}));
    assert_eq!(
        ours["metadata"]["simba_run"]["steps"]["answer.predict"],
        "answer"
    );
}

#[test]
fn program_json_reads_back_into_the_same_program() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("program.json");
    let text = serde_json::to_string_pretty(&ProgramJson::from_program(&optimized())).unwrap();
    std::fs::write(&path, text).unwrap();
    let back = simba_run::program::load::load_program_json(&path, graph()).unwrap();
    assert_eq!(back, optimized());
    // And it deserializes into our own schema type.
    let parsed: ProgramJson =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(parsed.predictors.len(), 2);
}
