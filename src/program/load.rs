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
//! becomes [`Demo::augmented`].
//!
//! Two keys for one step (`x` and `x.predict`), and a `metadata.simba_run`
//! entry whose target is no predictor, are errors naming both sides.
//!
//! What the file holds but the run will not use, or lacks, is reported as a
//! warning, not silently dropped: a predictor the file lacks (it keeps its
//! baseline), fields saved for another signature, a saved `lm` (the spec's
//! models are used), and a demo label that is not one of its enum output's
//! values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::dspy_fields::dspy_key;
use super::{PredictorState, Program};
use crate::ir::{ModuleKind, ProgramGraph, Step};
use crate::value::{Demo, Record};
use checks::{warn_field_names, warn_ignored_lm, warn_labels_outside_enums};
use indexmap::IndexMap;

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
    let mut program = Program::baseline(graph.clone());
    // Tool steps (`search`) hold no state: only predictors are in the file.
    let predictors: Vec<&Step> = graph.steps.iter().filter(|s| s.is_predictor()).collect();
    let key_map = step_key_map(top, &graph.name, &predictors)?;
    if let Some(state) = lone_predictor(top) {
        // A bare `dspy.Predict(..).save()`: the file is the predictor's state.
        if let [step] = predictors.as_slice() {
            let key = step.name.clone();
            let slot = program
                .predictors
                .get_mut(&key)
                .expect("every step has a state");
            *slot = predictor_state(&key, &state)?;
            warn_all(&key, step, &state, &slot.demos, warnings);
            return Ok(program);
        }
        return Err(Problem::Layout(format!(
            "this is one predictor's state (a module saved on its own), but program `{}` has {} predictors",
            graph.name,
            predictors.len()
        )));
    }
    // Step name -> the key its state came from, to refuse a second one.
    let mut loaded_from: IndexMap<&str, &str> = IndexMap::new();
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
        let step = match key_map.get(key.as_str()) {
            Some(step) => Some(*step),
            None => step_for_dspy_key(&predictors, key),
        };
        let Some((step, state)) =
            step.and_then(|s| Some((s, program.predictors.get_mut(&s.name)?)))
        else {
            return Err(Problem::UnknownStep {
                key: key.clone(),
                program: graph.name.clone(),
                steps: step_names(&predictors),
            });
        };
        // Two keys for one step (`x` and `x.predict`): which one DSPy
        // would use depends on its module, so neither is guessed.
        if let Some(first) = loaded_from.insert(&step.name, key) {
            return Err(Problem::Layout(format!(
                "`{first}` and `{key}` both hold the state of step `{}`: keep one",
                step.name
            )));
        }
        *state = predictor_state(key, pred)?;
        warn_all(key, step, pred, &state.demos, warnings);
    }
    // DSPy's `load()` refuses a file that lacks a predictor; here it keeps
    // its baseline state, which is worth saying (a `{}` loads nothing).
    for step in predictors {
        if !loaded_from.contains_key(step.name.as_str()) {
            warnings.push(format!(
                "no state for predictor `{}` (step `{}`) in the file: it keeps its baseline instructions and demos",
                dspy_key(step),
                step.name
            ));
        }
    }
    Ok(program)
}

/// Every check of one loaded predictor (`pred` is its saved state).
fn warn_all(key: &str, step: &Step, pred: &Value, demos: &[Demo], warnings: &mut Vec<String>) {
    warn_field_names(key, step, pred, warnings);
    warn_ignored_lm(key, step, pred, warnings);
    warn_labels_outside_enums(key, step, demos, warnings);
}

/// `metadata.simba_run.steps` (DSPy key -> step name, written by simba-run)
/// as keys -> predictor steps; absent, an empty map. A wrong shape or a
/// target that is no predictor is an error naming the entry and its target.
fn step_key_map<'g>(
    top: &serde_json::Map<String, Value>,
    program: &str,
    predictors: &[&'g Step],
) -> Result<IndexMap<String, &'g Step>, Problem> {
    const WHERE: &str = "metadata.simba_run.steps";
    let Some(entries) = top
        .get("metadata")
        .and_then(|m| m.get("simba_run"))
        .and_then(|m| m.get("steps"))
    else {
        return Ok(IndexMap::new());
    };
    let Value::Object(entries) = entries else {
        return Err(Problem::Layout(format!(
            "`{WHERE}` is {entries}, not an object of predictor key -> step name"
        )));
    };
    let mut map = IndexMap::new();
    for (key, target) in entries {
        let Value::String(name) = target else {
            return Err(Problem::Layout(format!(
                "`{WHERE}`: key `{key}` maps to {target}, not to a step name"
            )));
        };
        let Some(step) = predictors.iter().copied().find(|s| s.name == *name) else {
            return Err(Problem::Layout(format!(
                "`{WHERE}`: key `{key}` maps to step `{name}`, which is not a predictor of program `{program}` (its predictors: {})",
                step_names(predictors)
            )));
        };
        map.insert(key.clone(), step);
    }
    Ok(map)
}

/// The steps' names, comma separated, for a message.
fn step_names(steps: &[&Step]) -> String {
    steps
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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

mod checks;
#[cfg(test)]
mod tests;
