//! Reading a saved `program.json` (the layout of DSPy's `Module.save()`) back
//! into a [`Program`] for a compiled graph.
//!
//! Each top-level key except `metadata` is one predictor. Keys map to steps
//! through `metadata.simba_run.steps` (DSPy key -> step name) when present,
//! else by DSPy's naming: `step` for `predict`, `step.predict` for
//! `chain_of_thought` (a bare step name is accepted for either). A one-step
//! program also reads what DSPy saves for a module on its own: a bare
//! `dspy.Predict` writes its state at the top level (no key at all), a bare
//! `dspy.ChainOfThought` under `predict`. From each predictor,
//! `signature.instructions` and `demos` are read; a demo's `augmented` key
//! becomes [`Demo::augmented`]. Steps the file does not mention keep their
//! baseline state.
//!
//! What the file holds but the run will not use is reported as a warning,
//! not silently dropped: a saved `lm` (the spec's models are used), and a
//! demo label that is not one of its enum output's values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::{PredictorState, Program};
use crate::ir::{FieldType, ModuleKind, ProgramGraph, Step};
use crate::value::{Demo, Record};

/// Why a program.json could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProgramLoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The program.json path.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not valid JSON: {message}", path.display())]
    Json {
        /// The program.json path.
        path: PathBuf,
        /// The JSON parser's message, with line and column.
        message: String,
    },
    /// The JSON is not laid out as DSPy's `Module.save()` writes it.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The program.json path.
        path: PathBuf,
        /// Which part is missing or of the wrong shape.
        message: String,
    },
    /// A predictor key matches no step of the program.
    #[error("{}: `{key}` is not a step of program `{program}` (its steps: {steps})", path.display())]
    UnknownStep {
        /// The program.json path.
        path: PathBuf,
        /// The predictor key that matches nothing.
        key: String,
        /// The program the file was loaded for.
        program: String,
        /// The program's step names, comma separated, for the message.
        steps: String,
    },
}

/// A program read from a program.json, and what of the file it does not use.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedProgram {
    /// The graph's predictors with the file's instructions and demos.
    pub program: Program,
    /// One line per thing ignored or doubtful, each naming the file and the
    /// predictor.
    pub warnings: Vec<String>,
}

/// Load `path` as the state of `graph`'s predictors (warnings dropped; see
/// [`read_program_json`]).
pub fn load_program_json(
    path: &Path,
    graph: Arc<ProgramGraph>,
) -> Result<Program, ProgramLoadError> {
    read_program_json(path, graph).map(|loaded| loaded.program)
}

/// Load `path` as the state of `graph`'s predictors, with its warnings.
pub fn read_program_json(
    path: &Path,
    graph: Arc<ProgramGraph>,
) -> Result<LoadedProgram, ProgramLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProgramLoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ProgramLoadError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut warnings = Vec::new();
    let program = program_from_json(&value, graph, &mut warnings).map_err(|e| match e {
        Problem::Layout(message) => ProgramLoadError::Layout {
            path: path.to_path_buf(),
            message,
        },
        Problem::UnknownStep {
            key,
            program,
            steps,
        } => ProgramLoadError::UnknownStep {
            path: path.to_path_buf(),
            key,
            program,
            steps,
        },
    })?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("{}: {w}", path.display()))
        .collect();
    Ok(LoadedProgram { program, warnings })
}

enum Problem {
    Layout(String),
    UnknownStep {
        key: String,
        program: String,
        steps: String,
    },
}

fn program_from_json(
    value: &Value,
    graph: Arc<ProgramGraph>,
    warnings: &mut Vec<String>,
) -> Result<Program, Problem> {
    let Value::Object(top) = value else {
        return Err(Problem::Layout("expected a JSON object at the top".into()));
    };
    let key_map = top
        .get("metadata")
        .and_then(|m| m.get("simba_run"))
        .and_then(|m| m.get("steps"))
        .and_then(Value::as_object);
    let mut program = Program::baseline(graph.clone());
    // Tool steps (`search`) hold no state: only predictors are in the file.
    let predictors: Vec<&Step> = graph.steps.iter().filter(|s| s.is_predictor()).collect();
    if let Some(state) = lone_predictor(top) {
        // A bare `dspy.Predict(..).save()`: the file is the predictor's state.
        if let [step] = predictors.as_slice() {
            let key = step.name.clone();
            let slot = program
                .predictors
                .get_mut(&key)
                .expect("every step has a state");
            *slot = predictor_state(&key, &state)?;
            warn_ignored_lm(&key, step, &state, warnings);
            warn_labels_outside_enums(&key, step, &slot.demos, warnings);
            return Ok(program);
        }
        return Err(Problem::Layout(format!(
            "this is one predictor's state (a module saved on its own), but program `{}` has {} predictors",
            graph.name,
            predictors.len()
        )));
    }
    for (key, pred) in top {
        if key == "metadata" {
            continue;
        }
        // A DSPy program that retrieves with `dspy.Retrieve` saves its `k`
        // under the retriever's name: here that step is a `search`, whose
        // settings are the spec's.
        if graph
            .steps
            .iter()
            .any(|s| !s.is_predictor() && s.name == *key)
        {
            warnings.push(format!(
                "`{key}` is a search step, which holds no state: its saved state is ignored (the spec sets its corpus and k)"
            ));
            continue;
        }
        let step = match key_map.and_then(|m| m.get(key)).and_then(Value::as_str) {
            Some(name) => predictors.iter().copied().find(|s| s.name == name),
            None => step_for_dspy_key(&predictors, key),
        };
        let Some((step, state)) =
            step.and_then(|s| Some((s, program.predictors.get_mut(&s.name)?)))
        else {
            return Err(Problem::UnknownStep {
                key: key.clone(),
                program: graph.name.clone(),
                steps: predictors
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        *state = predictor_state(key, pred)?;
        warn_ignored_lm(key, step, pred, warnings);
        warn_labels_outside_enums(key, step, &state.demos, warnings);
    }
    Ok(program)
}

/// The top level as one predictor's state (what a bare `dspy.Predict`
/// saves: its `signature` and `demos` beside `metadata`), if it is one.
fn lone_predictor(top: &serde_json::Map<String, Value>) -> Option<Value> {
    // `signature.instructions` directly under the top: a predictor's state,
    // never a map of predictor names.
    top.get("signature")?.get("instructions")?;
    let state: serde_json::Map<String, Value> = top
        .iter()
        .filter(|(k, _)| *k != "metadata")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Value::Object(state))
}

/// The predictor step a DSPy key names: `step` or `step.predict` (a
/// chain_of_thought step), or, in a program whose one predictor is a
/// chain_of_thought, `predict` (what a bare `dspy.ChainOfThought` saves).
fn step_for_dspy_key<'g>(predictors: &[&'g Step], key: &str) -> Option<&'g Step> {
    let by_name = predictors.iter().copied().find(|s| {
        s.name == key
            || (s.module == ModuleKind::ChainOfThought && key == format!("{}.predict", s.name))
    });
    by_name.or_else(|| match predictors {
        [only] if only.module == ModuleKind::ChainOfThought && key == "predict" => Some(*only),
        _ => None,
    })
}

/// A saved `lm` (DSPy writes the model's settings there when one was set on
/// the predictor) is not used: the spec's model runs the step.
fn warn_ignored_lm(key: &str, step: &Step, pred: &Value, warnings: &mut Vec<String>) {
    let Some(lm) = pred.get("lm").filter(|lm| !lm.is_null()) else {
        return;
    };
    let saved = match lm.get("model").and_then(Value::as_str) {
        Some(model) => format!("a saved `lm` (model {model:?})"),
        None => "a saved `lm`".to_string(),
    };
    warnings.push(format!(
        "predictor `{key}` has {saved}, which is ignored: step `{}` runs on the spec's model `{}`",
        step.name, step.lm
    ));
}

/// Demos whose value of an enum output is not one of its labels: the model
/// would be shown an answer it may not give.
fn warn_labels_outside_enums(key: &str, step: &Step, demos: &[Demo], warnings: &mut Vec<String>) {
    for field in &step.signature.outputs {
        let FieldType::Enum(labels) = &field.ty else {
            continue;
        };
        for (i, demo) in demos.iter().enumerate() {
            let Some(value) = demo.fields.get(&field.name) else {
                continue;
            };
            if value
                .as_str()
                .is_some_and(|v| labels.iter().any(|l| l == v))
            {
                continue;
            }
            warnings.push(format!(
                "predictor `{key}`, demo {}: `{}` is {value}, not one of its labels {}",
                i + 1,
                field.name,
                field.ty
            ));
        }
    }
}

fn predictor_state(key: &str, pred: &Value) -> Result<PredictorState, Problem> {
    let bad = |what: &str| Problem::Layout(format!("predictor `{key}`: {what}"));
    let instructions = pred
        .get("signature")
        .and_then(|s| s.get("instructions"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no string `signature.instructions`"))?
        .to_string();
    let demos = match pred.get("demos") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let Value::Object(map) = d else {
                    return Err(bad(&format!("demo {} is not an object", i + 1)));
                };
                let mut fields: Record = map.clone().into_iter().collect();
                let augmented = match fields.shift_remove("augmented") {
                    None => false,
                    Some(Value::Bool(b)) => b,
                    Some(_) => {
                        return Err(bad(&format!(
                            "demo {}: `augmented` is not a boolean",
                            i + 1
                        )));
                    }
                };
                Ok(Demo { fields, augmented })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`demos` is not a list")),
    };
    Ok(PredictorState {
        instructions,
        demos,
    })
}

#[cfg(test)]
mod tests {
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
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("`hop` is a search step"));
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
        let (_d, p) = write(&json!({"query": state("x", json!([]), Value::Null)}));
        assert!(read_program_json(&p, graph()).unwrap().warnings.is_empty());
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
}
