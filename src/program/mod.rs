//! Program state (per-predictor instructions and demos) and what one
//! execution of a program records.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::ir::ProgramGraph;
use crate::value::{Demo, Record};

pub mod dspy_fields;
pub mod exec;
pub mod load;
pub mod tools;

/// The optimizable state of one predictor step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorState {
    /// The instruction text the prompt starts with.
    pub instructions: String,
    /// Few-shot examples shown before the input, in prompt order.
    pub demos: Vec<Demo>,
}

/// A program: the shared compiled graph plus per-predictor state. Cloning
/// copies only the states.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The compiled steps and data flow, shared by every copy of the program.
    pub graph: Arc<ProgramGraph>,
    /// Keyed by step name, in the graph's step order.
    pub predictors: IndexMap<String, PredictorState>,
}

impl Program {
    /// The program as written in the spec: signature instructions, no
    /// demos, one state per predictor step (tool steps have none).
    pub fn baseline(graph: Arc<ProgramGraph>) -> Self {
        let predictors = graph
            .steps
            .iter()
            .filter(|s| s.is_predictor())
            .map(|s| {
                let state = PredictorState {
                    instructions: s.signature.instructions.clone(),
                    demos: Vec::new(),
                };
                (s.name.clone(), state)
            })
            .collect();
        Self { graph, predictors }
    }
}

/// One step of an execution: a predictor call, or a tool step such as a
/// `search` (which demos and advice show like any other).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The step's name.
    pub step: String,
    /// The values the step was given, by input field.
    pub inputs: Record,
    /// The parsed outputs; empty when the call failed.
    pub outputs: Record,
}

/// Overrides of a model's request settings for one execution (sampling
/// variants: another temperature, a rollout id, a request seed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelOverride {
    /// Replace every step's model with this one (the teacher).
    pub model: Option<String>,
    /// Replace the model's temperature.
    pub temperature: Option<f64>,
    /// Set the request's rollout id, so the sample gets its own cache entry.
    pub rollout_id: Option<u64>,
    /// Set the request seed sent to providers that honour one.
    pub seed: Option<u64>,
}

/// What one execution of a program on one example produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The program outputs; None when a step failed.
    pub prediction: Option<Record>,
    /// The steps run (predictor calls and tool steps), in step order (not
    /// completion order).
    pub trace: Vec<TraceEntry>,
    /// Why the execution failed, naming the step and model.
    pub error: Option<String>,
}
