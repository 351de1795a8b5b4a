//! Tests of loading a program.json.

use super::*;
use crate::ir::{Field, FieldType, Signature, Source, Step};
use serde_json::json;

fn graph() -> Arc<ProgramGraph> {
    let f = |n: &str| Field {
        name: n.into(),
        ty: FieldType::String,
        description: None,
    };
    let step = |name: &str, module| Step {
        name: name.into(),
        module,
        signature: Signature {
            name: "S".into(),
            instructions: format!("base {name}"),
            inputs: vec![f("question")],
            outputs: vec![f("answer")],
        },
        lm: "m".into(),
        bindings: vec![("question".into(), Source::Input("question".into()))],
    };
    Arc::new(ProgramGraph {
        name: "qa".into(),
        lm: "m".into(),
        inputs: vec![f("question")],
        steps: vec![
            step("query", ModuleKind::Predict),
            step("answer", ModuleKind::ChainOfThought),
        ],
        outputs: vec![],
        deps: vec![vec![], vec![]],
        spec_text: String::new(),
    })
}

fn write(v: &Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("program.json");
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    (dir, p)
}

#[test]
fn reads_dspy_layout_by_key_convention() {
    let (_d, p) = write(&json!({
        "answer.predict": {
            "traces": [], "train": [],
            "demos": [
                {"question": "Q1", "reasoning": "r", "answer": "A1", "augmented": true},
                {"question": "Q2", "answer": "A2"}
            ],
            "signature": {"instructions": "Be exact.", "fields": [{"prefix": "Question:", "description": "${question}"}]},
            "lm": null
        },
        "metadata": {"dependency_versions": {}}
    }));
    let prog = load_program_json(&p, graph()).unwrap();
    assert_eq!(prog.predictors["query"].instructions, "base query");
    let a = &prog.predictors["answer"];
    assert_eq!(a.instructions, "Be exact.");
    assert_eq!(a.demos.len(), 2);
    assert!(a.demos[0].augmented);
    assert!(!a.demos[0].fields.contains_key("augmented"));
    assert_eq!(a.demos[0].fields["answer"], json!("A1"));
    assert!(!a.demos[1].augmented);
}

#[test]
fn metadata_key_map_wins() {
    let (_d, p) = write(&json!({
        "weird_key": {"demos": [], "signature": {"instructions": "From map.", "fields": []}, "lm": null},
        "metadata": {"simba_run": {"steps": {"weird_key": "query"}}}
    }));
    let prog = load_program_json(&p, graph()).unwrap();
    assert_eq!(prog.predictors["query"].instructions, "From map.");
}

#[test]
fn unknown_step_names_the_file() {
    let (_d, p) = write(&json!({
        "nope": {"demos": [], "signature": {"instructions": "x", "fields": []}},
        "metadata": {}
    }));
    let err = load_program_json(&p, graph()).unwrap_err().to_string();
    assert!(
        err.contains(
            "program.json: `nope` is not a step of program `qa` (its steps: query, answer)"
        ),
        "{err}"
    );
}

#[test]
fn search_steps_hold_no_state_and_a_saved_retriever_is_ignored() {
    let mut g = (*graph()).clone();
    let mut hop = g.steps[0].clone();
    hop.name = "hop".into();
    hop.module = ModuleKind::Search(crate::ir::SearchCall {
        corpus: "wiki".into(),
        k: 3,
    });
    g.steps.insert(1, hop);
    g.deps = vec![vec![], vec![0], vec![1]];
    let g = Arc::new(g);
    assert!(!Program::baseline(g.clone()).predictors.contains_key("hop"));
    // What DSPy saves for `self.hop = dspy.Retrieve(k=3)` beside the predictors.
    let (_d, p) = write(&json!({
        "query": {"demos": [], "signature": {"instructions": "Q.", "fields": []}, "lm": null},
        "hop": {"k": 3},
        "metadata": {}
    }));
    let loaded = read_program_json(&p, g.clone()).unwrap();
    assert_eq!(loaded.program.predictors["query"].instructions, "Q.");
    assert_eq!(loaded.program.predictors.len(), 2);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("`hop` is a search step"));
    assert!(loaded.warnings[1].contains("no state for predictor `answer.predict`"));
    // An unknown key lists the predictors, not the search step.
    let (_d, p) = write(&json!({"nope": {"demos": []}, "metadata": {}}));
    let err = load_program_json(&p, g).unwrap_err().to_string();
    assert!(err.contains("(its steps: query, answer)"), "{err}");
}

fn one_step(module: ModuleKind, output: FieldType) -> Arc<ProgramGraph> {
    let mut g = (*graph()).clone();
    g.steps.truncate(1);
    g.steps[0].module = module;
    g.steps[0].signature.outputs[0].ty = output;
    g.deps.truncate(1);
    Arc::new(g)
}

fn state(instructions: &str, demos: Value, lm: Value) -> Value {
    json!({
        "traces": [], "train": [], "demos": demos,
        "signature": {"instructions": instructions, "fields": []},
        "lm": lm
    })
}

#[test]
fn a_module_saved_on_its_own_loads_into_a_one_step_program() {
    // `dspy.Predict(..).save()` writes its state at the top level.
    let mut bare = state(
        "From a bare Predict.",
        json!([{"question": "Q", "answer": "A", "augmented": true}]),
        json!({"model": "openai/gpt-4o-mini"}),
    );
    bare["metadata"] = json!({"dependency_versions": {"dspy": "3.4.1"}});
    let (_d, p) = write(&bare);
    let g = one_step(ModuleKind::Predict, FieldType::String);
    let loaded = read_program_json(&p, g).unwrap();
    let query = &loaded.program.predictors["query"];
    assert_eq!(query.instructions, "From a bare Predict.");
    assert_eq!(query.demos.len(), 1);
    assert!(query.demos[0].augmented);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("predictor `query` has a saved `lm`"));
    // ...but not for a program of two steps.
    let err = load_program_json(&p, graph()).unwrap_err().to_string();
    assert!(
        err.contains(
            "one predictor's state (a module saved on its own), but program `qa` has 2 predictors"
        ),
        "{err}"
    );
    // `dspy.ChainOfThought(..).save()` keys it `predict`.
    let (_d, p) = write(&json!({
        "predict": state("From a bare CoT.", json!([]), Value::Null),
        "metadata": {"dependency_versions": {}}
    }));
    let g = one_step(ModuleKind::ChainOfThought, FieldType::String);
    let prog = load_program_json(&p, g).unwrap();
    assert_eq!(prog.predictors["query"].instructions, "From a bare CoT.");
    // `predict` names no step of a one-step predict program.
    let g = one_step(ModuleKind::Predict, FieldType::String);
    assert!(load_program_json(&p, g).is_err());
}

#[test]
fn a_saved_lm_is_ignored_with_a_warning() {
    let (_d, p) = write(&json!({
        "query": state("x", json!([]), json!({"model": "openai/gpt-4o-mini", "temperature": 1.0})),
        "answer.predict": state("y", json!([]), json!({"temperature": 0.0})),
        "metadata": {}
    }));
    let loaded = read_program_json(&p, graph()).unwrap();
    assert_eq!(loaded.program.predictors["query"].instructions, "x");
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].ends_with(
            "program.json: predictor `query` has a saved `lm` (model \"openai/gpt-4o-mini\"), \
             which is ignored: step `query` runs on the spec's model `m`"
        ),
        "{}",
        loaded.warnings[0]
    );
    assert!(
        loaded.warnings[1].ends_with(
            "predictor `answer.predict` has a saved `lm`, which is ignored: step `answer` runs on the spec's model `m`"
        ),
        "{}",
        loaded.warnings[1]
    );
}

#[test]
fn a_falsy_saved_lm_is_no_model_and_no_warning() {
    for lm in [
        Value::Null,
        json!({}),
        json!(""),
        json!(false),
        json!(0),
        json!([]),
    ] {
        let (_d, p) = write(&json!({
            "query": state("x", json!([]), lm.clone()),
            "answer.predict": state("y", json!([]), lm.clone()),
        }));
        let loaded = read_program_json(&p, graph()).unwrap();
        assert!(loaded.warnings.is_empty(), "{lm}: {:?}", loaded.warnings);
    }
    // A real value still warns.
    let (_d, p) = write(&json!({
        "query": state("x", json!([]), json!("openai/gpt-4o")),
        "answer.predict": state("y", json!([]), Value::Null),
    }));
    let loaded = read_program_json(&p, graph()).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
}

#[test]
fn a_demo_label_outside_its_enum_is_a_warning() {
    let labels = FieldType::Enum(vec!["positive".into(), "negative".into()]);
    let g = one_step(ModuleKind::Predict, labels);
    let (_d, p) = write(&json!({
        "query": state("x", json!([
            {"question": "good", "answer": "positive"},
            {"question": "meh", "answer": "neutral"},
            {"question": "odd", "answer": 3},
            {"question": "no label"}
        ]), Value::Null),
    }));
    let loaded = read_program_json(&p, g).unwrap();
    assert_eq!(loaded.program.predictors["query"].demos.len(), 4);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].ends_with(
            "predictor `query`, demo 2: `answer` is \"neutral\", not one of its labels enum(\"positive\", \"negative\")"
        ),
        "{}",
        loaded.warnings[0]
    );
    assert!(
        loaded.warnings[1].contains("demo 3: `answer` is 3,"),
        "{}",
        loaded.warnings[1]
    );
    // Nothing to warn about: no warnings.
    let (_d, p) = write(&json!({
        "query": state("x", json!([]), Value::Null),
        "answer.predict": state("y", json!([]), Value::Null),
    }));
    assert!(read_program_json(&p, graph()).unwrap().warnings.is_empty());
}

/// A predictor state whose `signature.fields` are the given (prefix,
/// description) pairs.
fn state_with_fields(fields: &[(&str, &str)]) -> Value {
    let mut s = state("x", json!([]), Value::Null);
    s["signature"]["fields"] = fields
        .iter()
        .map(|(p, d)| json!({"prefix": p, "description": d}))
        .collect();
    s
}

#[test]
fn fields_saved_for_another_signature_are_a_warning() {
    // What DSPy (and simba-run) saves for these steps: no warning.
    let (_d, p) = write(&json!({
        "query": state_with_fields(&[("Question:", "${question}"), ("Answer:", "${answer}")]),
        "answer.predict": state_with_fields(&[
            ("Question:", "${question}"),
            ("Reasoning:", "${reasoning}"),
            ("Answer:", "${answer}"),
        ]),
    }));
    let loaded = read_program_json(&p, graph()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // A custom description, or a custom prefix, of the same field still
    // matches by the other half.
    let (_d, p) = write(&json!({
        "query": state_with_fields(&[("Question:", "what is asked"), ("Reply:", "${answer}")]),
        "answer.predict": state_with_fields(&[
            ("Question:", "${question}"),
            ("Reasoning:", "${reasoning}"),
            ("Answer:", "${answer}"),
        ]),
    }));
    assert!(read_program_json(&p, graph()).unwrap().warnings.is_empty());
    // Saved for `text -> label`, and for a Predict (no reasoning): loaded,
    // with a warning naming the predictor and both sets of fields.
    let (_d, p) = write(&json!({
        "query": state_with_fields(&[("Text:", "${text}"), ("Label:", "${label}")]),
        "answer.predict": state_with_fields(&[("Question:", "${question}"), ("Answer:", "${answer}")]),
    }));
    let loaded = read_program_json(&p, graph()).unwrap();
    assert_eq!(loaded.program.predictors["query"].instructions, "x");
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].ends_with(
            "predictor `query` was saved for the fields `text`, `label`, not step `query`'s \
             `question`, `answer`: its instructions and demos are loaded, the spec's fields are used"
        ),
        "{}",
        loaded.warnings[0]
    );
    assert!(
        loaded.warnings[1].contains(
            "predictor `answer.predict` was saved for the fields `question`, `answer`, not step \
             `answer`'s `question`, `reasoning`, `answer`"
        ),
        "{}",
        loaded.warnings[1]
    );
}

#[test]
fn a_predictor_the_file_lacks_keeps_its_baseline_with_a_warning() {
    for empty in [json!({}), json!({"metadata": {"dependency_versions": {}}})] {
        let (_d, p) = write(&empty);
        let loaded = read_program_json(&p, graph()).unwrap();
        assert_eq!(loaded.program, Program::baseline(graph()));
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].ends_with(
                "program.json: no state for predictor `query` (step `query`) in the file: \
                 it keeps its baseline instructions and demos"
            ),
            "{}",
            loaded.warnings[0]
        );
        assert!(
            loaded.warnings[1].contains("no state for predictor `answer.predict` (step `answer`)"),
            "{}",
            loaded.warnings[1]
        );
    }
}

#[test]
fn two_keys_for_one_step_are_an_error_naming_both() {
    let (_d, p) = write(&json!({
        "answer": state("bare", json!([]), Value::Null),
        "query": state("q", json!([]), Value::Null),
        "answer.predict": state("wrapped", json!([]), Value::Null),
    }));
    let err = load_program_json(&p, graph()).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "program.json: `answer` and `answer.predict` both hold the state of step `answer`: keep one"
        ),
        "{err}"
    );
    // Through the metadata map too.
    let (_d, p) = write(&json!({
        "a": state("1", json!([]), Value::Null),
        "b": state("2", json!([]), Value::Null),
        "metadata": {"simba_run": {"steps": {"a": "query", "b": "query"}}}
    }));
    let err = load_program_json(&p, graph()).unwrap_err().to_string();
    assert!(
        err.contains("`a` and `b` both hold the state of step `query`"),
        "{err}"
    );
}

#[test]
fn a_bad_metadata_step_map_names_the_entry_and_its_target() {
    let load = |steps: Value| {
        let (_d, p) = write(&json!({
            "weird": state("x", json!([]), Value::Null),
            "metadata": {"simba_run": {"steps": steps}}
        }));
        load_program_json(&p, graph()).unwrap_err().to_string()
    };
    let err = load(json!({"weird": "nosuch"}));
    assert!(
        err.ends_with(
            "program.json: `metadata.simba_run.steps`: key `weird` maps to step `nosuch`, \
             which is not a predictor of program `qa` (its predictors: query, answer)"
        ),
        "{err}"
    );
    let err = load(json!({"weird": 3}));
    assert!(
        err.ends_with("`metadata.simba_run.steps`: key `weird` maps to 3, not to a step name"),
        "{err}"
    );
    let err = load(json!(["query"]));
    assert!(
        err.ends_with(
            "`metadata.simba_run.steps` is [\"query\"], not an object of predictor key -> step name"
        ),
        "{err}"
    );
}

#[test]
fn bad_layout_and_json_name_the_file() {
    let (_d, p) = write(&json!({"query": {"demos": []}}));
    let err = load_program_json(&p, graph()).unwrap_err().to_string();
    assert!(
        err.ends_with("program.json: predictor `query`: no string `signature.instructions`"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.json");
    std::fs::write(&bad, "{not json").unwrap();
    let err = load_program_json(&bad, graph()).unwrap_err().to_string();
    assert!(err.contains("p.json: not valid JSON"), "{err}");
}
