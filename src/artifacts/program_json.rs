//! `program.json`: a program in the layout of DSPy 3.4.1's
//! `Module.save("x.json")` (`Predict.dump_state`, `Signature.dump_state`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::SCHEMA_VERSION;
use crate::ir::{ModuleKind, ProgramGraph, REASONING_FIELD, Step};
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

/// DSPy's default prompt prefix for a field name (`infer_prefix` in
/// `dspy/signatures/signature.py`, then a colon): camelCase humps and runs of
/// digits become words of their own, words are split at underscores, and each
/// word is capitalised unless it is all capitals (`passage_text` ->
/// `Passage Text:`, `HTMLParser` -> `HTML Parser:`, `text2number` ->
/// `Text 2 Number:`). Empty words are kept, so doubled underscores give
/// doubled spaces, exactly as DSPy writes them.
pub fn dspy_prefix(name: &str) -> String {
    use regex::Regex;
    use std::sync::LazyLock;
    // The same four rewrites, in the same order, as DSPy applies them.
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let re = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            // A capitalised word after any character: `camelCase` -> `camel_Case`.
            (re("(.)([A-Z][a-z]+)"), "${1}_${2}"),
            // A capital after a lower-case letter or digit: `HTMLParser` keeps `HTML`.
            (re("([a-z0-9])([A-Z])"), "${1}_${2}"),
            // Digits after a letter, and a letter after digits, split off.
            (re("([a-zA-Z])([0-9])"), "${1}_${2}"),
            (re("([0-9])([a-zA-Z])"), "${1}_${2}"),
        ]
    });
    let mut snake = name.to_string();
    for (pattern, replacement) in RULES.iter() {
        snake = pattern.replace_all(&snake, *replacement).into_owned();
    }
    let words: Vec<String> = snake.split('_').map(title_word).collect();
    format!("{}:", words.join(" "))
}

/// One word of a prefix: kept when it is all capitals (Python's
/// `str.isupper`: some cased letter and no lower-case one), else first
/// letter upper-cased and the rest lower-cased (`str.capitalize`).
fn title_word(word: &str) -> String {
    let has_cased = word.chars().any(|c| c.is_uppercase() || c.is_lowercase());
    if has_cased && !word.chars().any(char::is_lowercase) {
        return word.to_string();
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// The DSPy key of a step's predictor (a tool step has none: its name).
pub fn dspy_key(step: &Step) -> String {
    match step.module {
        ModuleKind::Predict | ModuleKind::Search(_) | ModuleKind::Tool(_) => step.name.clone(),
        ModuleKind::ChainOfThought => format!("{}.predict", step.name),
    }
}

fn signature_json(step: &Step, state: &PredictorState) -> SignatureJson {
    let mut fields = Vec::new();
    for f in &step.signature.inputs {
        fields.push(FieldJson {
            prefix: dspy_prefix(&f.name),
            description: f
                .description
                .clone()
                .unwrap_or_else(|| format!("${{{}}}", f.name)),
        });
    }
    for f in step.lm_outputs() {
        // DSPy 3.4.1's ChainOfThought adds `reasoning` with the default
        // prefix and the placeholder description; our own description of
        // the field is for prompts only.
        let description = if step.module == ModuleKind::ChainOfThought && f.name == REASONING_FIELD
        {
            format!("${{{REASONING_FIELD}}}")
        } else {
            f.description
                .clone()
                .unwrap_or_else(|| format!("${{{}}}", f.name))
        };
        fields.push(FieldJson {
            prefix: dspy_prefix(&f.name),
            description,
        });
    }
    SignatureJson {
        instructions: state.instructions.clone(),
        fields,
    }
}

/// A demo as DSPy stores it: `augmented` first when set (DSPy builds the
/// demo as `Example(augmented=True, **inputs, **outputs)`), then its fields.
pub fn demo_json(demo: &crate::value::Demo) -> Record {
    let mut r = Record::new();
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
        let mut fields = Record::new();
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
