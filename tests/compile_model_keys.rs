//! Model keys beyond the common ones: the sim model's rule constants (docs/sim.md) and env() in pass-through keys.

use simba_run::compile::compile_source;
use std::path::Path;

const BASE: &str = r#"
dataset trivia {
  train  = jsonl("train.jsonl")
  inputs = [question]
}
signature Answer = "question -> answer"
program qa = predict(Answer)
metric correct = exact_match(pred.answer, gold.answer)
optimize qa with simba {
  trainset = trivia.train
  metric   = correct
}
"#;

fn compile(model: &str) -> Result<simba_run::ir::Spec, String> {
    let src = format!("{model}\n{BASE}");
    compile_source(Path::new("t.simba"), &src, &[])
        .map(|(spec, _)| spec)
        .map_err(|d| format!("{d:?}"))
}

#[test]
fn sim_tuning_keys_reach_the_model_as_numbers() {
    let spec = compile(
        "model sim { provider = \"sim\" oracle = trivia advice_gain = 0.4 max_relevant_demos = 2 }",
    )
    .unwrap();
    let extra = &spec.models["sim"].extra;
    assert_eq!(extra["advice_gain"], serde_json::json!(0.4));
    assert_eq!(extra["max_relevant_demos"], serde_json::json!(2.0));
}

#[test]
fn sim_tuning_keys_are_checked() {
    let err =
        compile("model sim { provider = \"sim\" oracle = trivia advice_gain = -1 }").unwrap_err();
    assert!(err.contains("advice_gain"), "{err}");
    let err =
        compile("model sim { provider = \"sim\" oracle = trivia advice_gian = 1 }").unwrap_err();
    assert!(err.contains("advice_gain"), "suggestion expected: {err}");
    // Not a key of other providers.
    let err = compile("model m { provider = \"openai\" advice_gain = 1 }").unwrap_err();
    assert!(err.contains("unknown key"), "{err}");
}

#[test]
fn env_in_a_pass_through_key_is_kept_for_the_provider_to_read() {
    let spec = compile(
        "model m { provider = \"local\" path = env(\"SIMBA_GGUF\") tokenizer = env(\"T\", \"x\") }",
    )
    .unwrap();
    let extra = &spec.models["m"].extra;
    assert_eq!(extra["path"], serde_json::json!({"$env": "SIMBA_GGUF"}));
    assert_eq!(
        extra["tokenizer"],
        serde_json::json!({"$env": "T", "default": "x"})
    );
    let err = compile("model m { provider = \"local\" path = env(1) }").unwrap_err();
    assert!(err.contains("env"), "{err}");
}
