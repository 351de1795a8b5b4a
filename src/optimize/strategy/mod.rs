//! Strategies: how a candidate program is built from a bucket. Built-ins
//! (`append_demo`, `append_rule`) and plugin strategies implement the same
//! [`Strategy`] trait; the engine hands each one the bucket, a copy of the
//! source program to modify, the batch percentiles, a seed drawn on the
//! coordinator, the step number and a handle to call the prompt model.

use async_trait::async_trait;
use indexmap::IndexMap;
use std::sync::Arc;

use crate::ir::Field;
use crate::lm::{Lm, Request};
use crate::metric::Score;
use crate::program::{Execution, Program};
use crate::value::{Example, Record};

pub mod append_demo;
pub mod append_rule;

pub use append_demo::AppendDemo;
pub use append_rule::AppendRule;

/// One sampled execution of a step's batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Pool index of the program that ran.
    pub program: usize,
    /// Index of the sampling variant (model) it ran with.
    pub variant: usize,
    /// The run itself: outputs (if it finished), the predictor trace, the error.
    pub execution: Execution,
    /// The metric's score of that run against the example's labels.
    pub score: Score,
}

/// All trajectories of one example, best score first.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Trainset index of the example.
    pub example_index: usize,
    /// The example itself (inputs and labels).
    pub example: Example,
    /// Never empty; sorted by score, highest first.
    pub trajectories: Vec<Trajectory>,
}

impl Bucket {
    /// The highest-scoring trajectory (the one demos are taken from).
    pub fn best(&self) -> &Trajectory {
        &self.trajectories[0]
    }
    /// The lowest-scoring trajectory (compared with the best by `append_rule`).
    pub fn worst(&self) -> &Trajectory {
        self.trajectories.last().expect("a bucket is never empty")
    }
}

/// A structured call to the prompt model: instructions, typed input and output
/// fields, values for the inputs; returns the parsed outputs. The real one goes
/// through the adapter (same prompt format as every predictor call).
#[async_trait]
pub trait FieldPredictor: Send + Sync {
    /// Asks the model to produce `outputs` from `values` (keyed by the names
    /// of `inputs`); `Err` carries a one-line reason (call or parse failure).
    async fn predict(
        &self,
        instructions: &str,
        inputs: &[Field],
        outputs: &[Field],
        values: &Record,
    ) -> Result<Record, String>;
}

/// The prompt model as strategies see it: the raw model and its request
/// template (for plugin strategies that build their own prompts), and a
/// structured predictor (for built-ins).
#[derive(Clone)]
pub struct PromptModel {
    /// The model item's name in the spec.
    pub name: String,
    /// The model, shared with the run (its calls count toward the run's usage).
    pub lm: Arc<dyn Lm>,
    /// The model's request settings (temperature, max tokens, params) with no
    /// messages: a caller fills in its own messages.
    pub template: Request,
    /// Structured calls through the adapter, for the built-in strategies.
    pub predictor: Arc<dyn FieldPredictor>,
}

/// Everything a strategy may look at.
pub struct StrategyContext<'a> {
    /// The bucket the candidate is built from.
    pub bucket: &'a Bucket,
    /// 10th and 90th percentile of every score of the step's batch.
    pub p10: f64,
    /// 90th percentile of the same scores (see `p10`).
    pub p90: f64,
    /// A seed drawn for this call on the coordinator: a strategy that needs
    /// randomness seeds its own ChaCha with it.
    pub seed: u64,
    /// 1-based step number.
    pub step: usize,
    /// The optimize block's `max_demos`: demos a predictor may hold.
    pub max_demos: usize,
    /// The optimize block's `demo_input_field_maxlen`: characters of an input
    /// value kept in a demo.
    pub demo_input_field_maxlen: usize,
    /// The prompt model; `None` only when every strategy is `append_demo`
    /// (which needs none) and the named model is not in the spec.
    pub prompt: Option<&'a PromptModel>,
}

/// What a strategy did.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyReport {
    /// Whether the candidate was changed; a skip lets the next strategy try.
    pub applied: bool,
    /// What changed, or why nothing did.
    pub detail: String,
    /// Advice for names that match no predictor (never dropped silently),
    /// keyed by the name the model gave.
    pub unmatched_advice: IndexMap<String, String>,
}

impl StrategyReport {
    /// The candidate was changed as `detail` says.
    pub fn applied(detail: impl Into<String>) -> Self {
        Self {
            applied: true,
            detail: detail.into(),
            unmatched_advice: IndexMap::new(),
        }
    }
    /// The candidate was left unchanged, for `reason`.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self {
            applied: false,
            detail: reason.into(),
            unmatched_advice: IndexMap::new(),
        }
    }
}

/// A strategy that could not run (its prompt model call failed, a plugin
/// error); the engine records it and tries the next strategy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct StrategyError(pub String);

/// Builds a candidate from a bucket by modifying `candidate` in place. A
/// strategy that skips must leave `candidate` unchanged.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The name used in the spec and the trial log.
    fn name(&self) -> String;
    /// Modifies `candidate` from `ctx.bucket`; `Ok` with a skip report (and
    /// `candidate` untouched) when the bucket offers nothing to use.
    async fn apply(
        &self,
        ctx: &StrategyContext<'_>,
        candidate: &mut Program,
    ) -> Result<StrategyReport, StrategyError>;
}

#[cfg(test)]
mod tests;
