//! `--dry-run`: the LM calls a configuration implies, per phase, before any
//! call is made.
//!
//! An execution makes one call per predictor step plus one per `judge(..)`
//! in the metric (the metric runs once per execution). Counts are upper
//! bounds where the run decides (every bucket yielding a candidate, every
//! candidate built by append_rule, the most final candidates), assuming
//! no retries and no stop rule firing.

use serde::Serialize;

use crate::ir::{FinalSelection, MetricExpr, OptimizeDecl, ProgramGraph, SelectOn, StrategyRef};

/// LM calls per phase of one optimize block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CallEstimate {
    /// Calls of one program execution (steps + judge calls of the metric).
    pub per_execution: u64,
    /// Trajectory sampling: steps x variants x bsize executions.
    pub sampling: u64,
    /// Advice requests (at most one per candidate, when append_rule is used).
    pub advice: u64,
    /// Candidate evaluation: steps x (num_candidates + 1) x bsize executions.
    pub evaluation: u64,
    /// Final candidates on the trainset (and the valset/devset they are chosen on).
    pub final_selection: u64,
    /// Baseline and best on the devset.
    pub dev: u64,
    /// The sum of every phase above (`per_execution` is a factor, not added).
    pub total: u64,
}

/// Judge calls in a metric expression.
pub fn judge_calls(expr: &MetricExpr) -> u64 {
    match expr {
        MetricExpr::Judge { args, .. } => 1 + args.iter().map(judge_calls).sum::<u64>(),
        MetricExpr::Unary(_, a) => judge_calls(a),
        MetricExpr::Binary(_, a, b) => judge_calls(a) + judge_calls(b),
        MetricExpr::Call(_, args) => args.iter().map(judge_calls).sum(),
        _ => 0,
    }
}

/// The calls `decl` implies for `graph`, with `variants` sampling models
/// and the dataset sizes given.
pub fn estimate(
    decl: &OptimizeDecl,
    graph: &ProgramGraph,
    metric: &MetricExpr,
    variants: usize,
    train: usize,
    dev: Option<usize>,
    val: Option<usize>,
) -> CallEstimate {
    // Tool steps (`search`) make no LM call.
    let predictors = graph.steps.iter().filter(|s| s.is_predictor()).count();
    let per = predictors as u64 + judge_calls(metric);
    let steps = decl.max_steps as u64;
    let bsize = decl.bsize.min(train) as u64;
    let cands = decl.num_candidates as u64 + 1;
    let sampling = steps * variants as u64 * bsize * per;
    let advice = if decl.strategies.contains(&StrategyRef::AppendRule) {
        steps * cands
    } else {
        0
    };
    let evaluation = steps * cands * bsize * per;
    let picks = (decl.max_steps + 1).min(decl.num_candidates + 1) as u64;
    let chosen_on = match decl.select_on {
        SelectOn::Valset => val.unwrap_or(0),
        SelectOn::Devset => dev.unwrap_or(0),
        SelectOn::Trainset => 0,
    } as u64;
    // A race scores only the selection split, at worst all of it.
    let final_selection = match decl.final_selection {
        FinalSelection::Full => picks * (train as u64 + chosen_on) * per,
        FinalSelection::Race if chosen_on > 0 => picks * chosen_on * per,
        FinalSelection::Race => picks * train as u64 * per,
    };
    let dev = if decl.select_on == SelectOn::Devset {
        0
    } else {
        2 * dev.unwrap_or(0) as u64 * per
    };
    CallEstimate {
        per_execution: per,
        sampling,
        advice,
        evaluation,
        final_selection,
        dev,
        total: sampling + advice + evaluation + final_selection + dev,
    }
}
