//! `trials.jsonl`: one [`TrialRecord`] per step.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// LM usage over a span of the run (the whole run in `run.json`, a step in
/// `--json` events): the calls the engine made, answered from the cache or
/// not, and the requests actually sent. Trial records keep only the part
/// that does not depend on the cache or the network ([`CallUsage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Completions asked for, cache hits included.
    pub lm_calls: u64,
    /// Completions that failed after all retries.
    pub failed_calls: u64,
    /// Prompt tokens of the successful completions (a cache hit counts the tokens it first cost).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful completions, counted like `prompt_tokens`.
    pub completion_tokens: u64,
    /// Requests sent to providers, every retry included (cache hits and
    /// in-process models sent none); 0 when the run had no model registry.
    #[serde(default)]
    pub requests: u64,
    /// Of `requests`, those that failed (error status, timeout, broken
    /// connection, unreadable reply).
    #[serde(default)]
    pub failed_requests: u64,
}

impl UsageRecord {
    /// `self - earlier`, for a step's share of running totals.
    pub fn since(&self, earlier: &UsageRecord) -> UsageRecord {
        UsageRecord {
            lm_calls: self.lm_calls - earlier.lm_calls,
            failed_calls: self.failed_calls - earlier.failed_calls,
            prompt_tokens: self.prompt_tokens - earlier.prompt_tokens,
            completion_tokens: self.completion_tokens - earlier.completion_tokens,
            requests: self.requests - earlier.requests,
            failed_requests: self.failed_requests - earlier.failed_requests,
        }
    }

    /// The calls and tokens alone, as a trial record keeps them.
    pub fn calls(&self) -> CallUsage {
        CallUsage {
            lm_calls: self.lm_calls,
            failed_calls: self.failed_calls,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
        }
    }
}

/// The LM usage of one step as `trials.jsonl` records it: only what the
/// spec, the seed and the LM's replies decide. Calls answered from the
/// cache count like any other (with the tokens they first cost), so a rerun
/// on a warm cache writes the same figures; the requests actually sent are
/// in `run.json` (`step_requests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallUsage {
    /// Completions asked for, cache hits included.
    pub lm_calls: u64,
    /// Completions that failed after all retries.
    pub failed_calls: u64,
    /// Prompt tokens of the successful completions (a cache hit counts the tokens it first cost).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful completions, counted like `prompt_tokens`.
    pub completion_tokens: u64,
}

/// One sampling model variant of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// The model item (the teacher's name, or the program's model).
    pub model: String,
    /// The sampling temperature; `None` keeps the model's own.
    pub temperature: Option<f64>,
    /// Cache-key salt that keeps this variant's samples distinct from the others'.
    pub rollout_id: Option<u64>,
    /// The request seed sent to providers that honour one; `None` sends none.
    pub seed: Option<u64>,
}

/// Score statistics of the step's whole sampling batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchStats {
    /// Mean score over every trajectory of the batch.
    pub mean: f64,
    /// 10th percentile of the scores (linear interpolation, as numpy).
    pub p10: f64,
    /// 90th percentile of the scores.
    pub p90: f64,
    /// Executions that failed (scored 0).
    pub failed_executions: usize,
}

/// One bucket (one example of the batch), in bucket order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Trainset index of the example.
    pub example: usize,
    /// Scores of its trajectories, best first.
    pub scores: Vec<f64>,
    /// Best minus worst score: how much this example separates trajectories (first sort key).
    pub max_to_min_gap: f64,
    /// Best score (second sort key).
    pub max_score: f64,
    /// Best minus mean score (third sort key).
    pub max_to_avg_gap: f64,
}

/// What one strategy did on one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The strategy's name, e.g. `append_demo` or `append_rule`.
    pub strategy: String,
    /// `applied`, `skipped` or `failed`.
    pub result: AttemptResult,
    /// What changed, or why it skipped or failed.
    pub detail: String,
    /// Advice the prompt model gave for names that match no predictor.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub unmatched_advice: IndexMap<String, String>,
}

/// Result of a strategy attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    /// The strategy changed the program and a candidate was made.
    Applied,
    /// The strategy did not apply here (e.g. nothing to learn from the bucket).
    Skipped,
    /// The strategy returned an error, e.g. its call to the prompt model failed.
    Failed,
}

/// One processed bucket: where a candidate came from, or why none did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Position of the bucket in bucket order.
    pub bucket: usize,
    /// Trainset index of the bucket's example.
    pub example: usize,
    /// Pool index of the program copied.
    pub source: usize,
    /// Demo positions dropped (drawn with repetition) from every predictor.
    pub dropped_demos: Vec<usize>,
    /// Strategies tried, the drawn one first.
    pub attempts: Vec<AttemptRecord>,
    /// Pool index the candidate was registered under; None when every
    /// strategy skipped or failed (no candidate).
    pub pool_index: Option<usize>,
    /// Mean mini-batch score; None without a candidate.
    pub score: Option<f64>,
    /// Per-example mini-batch scores, in batch order.
    pub scores: Vec<f64>,
    /// With `dedup = true`: the candidate equalled the program at
    /// `pool_index`, which took its scores instead of a new entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// One line of `trials.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 1-based step number.
    pub step: usize,
    /// Trainset indices of the mini-batch, in batch order.
    pub batch: Vec<usize>,
    /// The sampling models of the step, in sampling order.
    pub variants: Vec<VariantRecord>,
    /// Pool indices of the programs sampled: `[variant][example position]`.
    pub sampled_programs: Vec<Vec<usize>>,
    /// Score statistics over every trajectory of the batch.
    pub batch_stats: BatchStats,
    /// All buckets in bucket order.
    pub buckets: Vec<BucketRecord>,
    /// Every bucket processed, in order.
    pub candidates: Vec<CandidateRecord>,
    /// Pool index of the step's best candidate (joins the winners).
    pub winner: Option<usize>,
    /// Best mini-batch score among this step's candidates.
    pub best_candidate_score: Option<f64>,
    /// Best mini-batch candidate score of any step so far.
    pub best_so_far: Option<f64>,
    /// LM calls and tokens of this step (the requests it sent are in
    /// `run.json`'s `step_requests`).
    pub usage: CallUsage,
}
