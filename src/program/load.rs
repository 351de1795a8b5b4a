//! Reading a saved `program.json` (the layout of DSPy's `Module.save()`) back
//! into a [`Program`] for a compiled graph.
//!
//! Each top-level key except `metadata` is one predictor. Keys map to steps
//! through `metadata.simba_run.steps` (DSPy key -> step name) when present,
//! else by DSPy's naming: `step` for `predict`, `step.predict` for
//! `chain_of_thought` (a bare step name is accepted for either). From each
//! predictor, `signature.instructions` and `demos` are read; a demo's
//! `augmented` key becomes [`Demo::augmented`]. Steps the file does not
//! mention keep their baseline state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::{PredictorState, Program};
use crate::ir::{ModuleKind, ProgramGraph};
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

/// Load `path` as the state of `graph`'s predictors.
pub fn load_program_json(
    path: &Path,
    graph: Arc<ProgramGraph>,
) -> Result<Program, ProgramLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProgramLoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ProgramLoadError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    program_from_json(&value, graph).map_err(|e| match e {
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
    })
}

enum Problem {
    Layout(String),
    UnknownStep {
        key: String,
        program: String,
        steps: String,
    },
}

fn program_from_json(value: &Value, graph: Arc<ProgramGraph>) -> Result<Program, Problem> {
    let Value::Object(top) = value else {
        return Err(Problem::Layout("expected a JSON object at the top".into()));
    };
    let key_map = top
        .get("metadata")
        .and_then(|m| m.get("simba_run"))
        .and_then(|m| m.get("steps"))
        .and_then(Value::as_object);
    let mut program = Program::baseline(graph.clone());
    for (key, pred) in top {
        if key == "metadata" {
            continue;
        }
        let step_name = match key_map.and_then(|m| m.get(key)).and_then(Value::as_str) {
            Some(name) => Some(name.to_string()),
            None => graph
                .steps
                .iter()
                .find(|s| {
                    s.name == *key
                        || (s.module == ModuleKind::ChainOfThought
                            && *key == format!("{}.predict", s.name))
                })
                .map(|s| s.name.clone()),
        };
        let Some(state) = step_name
            .as_ref()
            .and_then(|n| program.predictors.get_mut(n))
        else {
            return Err(Problem::UnknownStep {
                key: key.clone(),
                program: graph.name.clone(),
                steps: graph
                    .steps
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        *state = predictor_state(key, pred)?;
    }
    Ok(program)
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
