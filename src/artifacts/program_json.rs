//! `program.json`: a program in the layout of DSPy 3.4.1's
//! `Module.save("x.json")` (`Predict.dump_state`, `Signature.dump_state`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::SCHEMA_VERSION;
use crate::ir::{ProgramGraph, Step};
use crate::program::dspy_fields::dspy_fields;
pub use crate::program::dspy_fields::{dspy_key, dspy_prefix};
use crate::program::{PredictorState, Program};
use crate::value::Record;

/// `program.json`: one entry per predictor, keyed as DSPy names the predictor
/// of the equivalent module (`step` for `predict`, `step.predict` for
/// `chain_of_thought`, as DSPy's `ChainOfThought` wraps a `Predict`), plus
/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramJson {
    /// Predictor states keyed by DSPy predictor name, flattened to the top level as DSPy expects.
    #[serde(flatten)]
    pub predictors: IndexMap<String, PredictorJson>,
    /// Versions DSPy checks on load, and our own mapping back to the spec.
    pub metadata: ProgramMetadata,
}

/// One predictor's state, as DSPy's `Predict.dump_state()` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorJson {
    /// Always empty (DSPy keeps these for compatibility).
    pub traces: Vec<serde_json::Value>,
    /// Always empty.
    pub train: Vec<serde_json::Value>,
    /// Each demo's fields, then `"augmented": true` for demos made from the
    /// program's own trajectories.
    pub demos: Vec<Record>,
    /// The predictor's instructions and field prefixes.
    pub signature: SignatureJson,
    /// Always null: the model is configured on the DSPy side.
    pub lm: Option<serde_json::Value>,
}

/// DSPy's `Signature.dump_state()`: instructions and, for every field (inputs
/// then outputs, chain-of-thought `reasoning` first among outputs), its prompt
/// prefix and description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureJson {
    /// The optimized instruction text.
    pub instructions: String,
    /// Inputs in declaration order, then outputs.
    pub fields: Vec<FieldJson>,
}

/// One signature field as DSPy stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldJson {
    /// `"Question:"` for `question` (DSPy's default prefix rule).
    pub prefix: String,
    /// The field's description, or DSPy's default `${name}` when none.
    pub description: String,
}

/// `metadata` of `program.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramMetadata {
    /// DSPy's `load()` compares each listed package with the installed one
    /// (and fails on an unknown key), so this stays empty: nothing to compare.
    pub dependency_versions: IndexMap<String, String>,
    /// Ours: which engine wrote the file and how keys map to spec steps.
    pub simba_run: SimbaRunMetadata,
}

/// The simba-run part of `program.json`'s metadata (DSPy ignores it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimbaRunMetadata {
    /// simba-run's version.
    pub version: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// The spec's program name.
    pub program: String,
    /// DSPy predictor key -> spec step name.
    pub steps: IndexMap<String, String>,
}

fn signature_json(step: &Step, state: &PredictorState) -> SignatureJson {
    let fields = dspy_fields(step)
        .into_iter()
        .map(|f| FieldJson {
            prefix: f.prefix,
            description: f.description,
        })
        .collect();
    SignatureJson {
        instructions: state.instructions.clone(),
        fields,
    }
}

/// A demo as DSPy stores it: `augmented` first when set (DSPy builds the
/// demo as `Example(augmented=True, **inputs, **outputs)`), then its fields.
pub fn demo_json(demo: &crate::value::Demo) -> Record {
    let mut r = Record::default();
    if demo.augmented {
        r.insert("augmented".into(), serde_json::Value::Bool(true));
    }
    r.extend(demo.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    r
}

impl ProgramJson {
    /// The DSPy-compatible dump of `program`.
    pub fn from_program(program: &Program) -> Self {
        let graph: &ProgramGraph = &program.graph;
        let mut predictors = IndexMap::new();
        let mut steps = IndexMap::new();
        for step in &graph.steps {
            let Some(state) = program.predictors.get(&step.name) else {
                continue;
            };
            let key = dspy_key(step);
            steps.insert(key.clone(), step.name.clone());
            predictors.insert(
                key,
                PredictorJson {
                    traces: Vec::new(),
                    train: Vec::new(),
                    demos: state.demos.iter().map(demo_json).collect(),
                    signature: signature_json(step, state),
                    lm: None,
                },
            );
        }
        ProgramJson {
            predictors,
            metadata: ProgramMetadata {
                dependency_versions: IndexMap::new(),
                simba_run: SimbaRunMetadata {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    schema: SCHEMA_VERSION,
                    program: graph.name.clone(),
                    steps,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ModuleKind;

    #[test]
    fn dspy_prefixes() {
        // Each pair checked against DSPy 3.4.1's `infer_prefix` (+ ":").
        for (name, prefix) in [
            ("question", "Question:"),
            ("passage_text", "Passage Text:"),
            ("camelCase", "Camel Case:"),
            ("camelCaseText", "Camel Case Text:"),
            ("HTMLCode", "HTML Code:"),
            ("HTMLParser", "HTML Parser:"),
            ("text2number", "Text 2 Number:"),
            ("a1b2", "A 1 B 2:"),
            ("x_2", "X 2:"),
            ("ABC", "ABC:"),
            ("HTML2Text", "HTML 2 Text:"),
            ("questionID", "Question ID:"),
            ("already_Upper", "Already  Upper:"),
            ("__x__", "  X  :"),
            ("reasoning", "Reasoning:"),
        ] {
            assert_eq!(dspy_prefix(name), prefix, "{name}");
        }
    }

    #[test]
    fn chain_of_thought_reasoning_is_saved_as_dspy_3_4_1_does() {
        use crate::ir::{Field, FieldType, Signature, Source};
        let f = |n: &str, d: Option<&str>| Field {
            name: n.into(),
            ty: FieldType::String,
            description: d.map(Into::into),
        };
        let step = Step {
            name: "answer".into(),
            module: ModuleKind::ChainOfThought,
            signature: Signature {
                name: "A".into(),
                instructions: "Answer.".into(),
                inputs: vec![f("question", Some("a trivia question"))],
                outputs: vec![f("answer", None)],
            },
            lm: "m".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        };
        let state = PredictorState {
            instructions: "Answer.".into(),
            demos: vec![],
        };
        let sig = serde_json::to_value(signature_json(&step, &state)).unwrap();
        assert_eq!(
            sig,
            serde_json::json!({
                "instructions": "Answer.",
                "fields": [
                    {"prefix": "Question:", "description": "a trivia question"},
                    {"prefix": "Reasoning:", "description": "${reasoning}"},
                    {"prefix": "Answer:", "description": "${answer}"}
                ]
            })
        );
    }

    #[test]
    fn augmented_comes_first_in_a_saved_demo() {
        let mut fields = Record::default();
        fields.insert("question".into(), serde_json::json!("q"));
        fields.insert("answer".into(), serde_json::json!("a"));
        let demo = crate::value::Demo {
            fields,
            augmented: true,
        };
        let text = serde_json::to_string(&demo_json(&demo)).unwrap();
        assert_eq!(text, r#"{"augmented":true,"question":"q","answer":"a"}"#);
    }
}
