//! `run.json`: configuration, usage, timings and why the loop ended.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::UsageRecord;
use crate::ir::OptimizeDecl;
use crate::lm::ModelUsage;
use indexmap::IndexMap;

/// Train and dev score of one program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScorePair {
    /// Mean metric over the full trainset (with `final = race`, over the
    /// examples the race scored; None when it raced on another split).
    pub train: Option<f64>,
    /// Mean metric over the devset; `None` without one.
    pub dev: Option<f64>,
}

/// `run.json`: everything about the run, including what is not reproducible
/// (timings, cache hits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// Version of simba-run that wrote the file.
    pub simba_run_version: String,
    /// The spec's program name.
    pub program: String,
    /// The spec file the run came from; `None` when it was not read from a file.
    pub spec: Option<PathBuf>,
    /// The run seed every random choice derives from.
    pub seed: u64,
    /// The optimize block with every default and override applied.
    pub config: OptimizeDecl,
    /// The mini-batch size used (bsize clamped to the trainset size).
    pub effective_bsize: usize,
    /// Number of trainset examples trained on (without the rows
    /// `valset = auto` held out).
    pub trainset_size: usize,
    /// Number of devset examples; `None` without a devset.
    pub devset_size: Option<usize>,
    /// Number of valset examples the final selection scored; absent when
    /// it chose on the trainset or devset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valset_size: Option<usize>,
    /// Steps completed (fewer than `max_steps` when the run stopped early).
    pub steps_run: usize,
    /// Why the loop ended.
    pub stop_reason: StopReason,
    /// Warnings from loading and preparing the run (e.g. a clamped bsize), in the order raised.
    pub warnings: Vec<String>,
    /// Scores of the unoptimized program.
    pub baseline: ScorePair,
    /// Scores of the returned program.
    pub best: ScorePair,
    /// Position of the best program in `candidates.json`.
    pub best_candidate: usize,
    /// LM usage of the whole run, final evaluation included.
    pub usage: UsageRecord,
    /// Requests answered from the response cache.
    pub cached_calls: u64,
    /// Searches per corpus (`search` steps), counted like model calls;
    /// absent when the program searches nothing.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub search: IndexMap<String, ModelUsage>,
    /// What each step sent to the providers, one entry per step (the final
    /// evaluation's share is `usage` minus their sum).
    #[serde(default)]
    pub step_requests: Vec<RequestRecord>,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// Wall time of each step.
    pub step_durations_ms: Vec<u64>,
    /// Wall time of the final evaluation, in milliseconds.
    pub final_eval_ms: u64,
}

/// What a span of the run (one step) sent to the providers: facts of the
/// network and of the cache's state, which is why they live in `run.json`
/// and not in `trials.jsonl` (a rerun on a warm cache sends nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Requests sent, every retry included.
    pub requests: u64,
    /// Of `requests`, those that failed (error status, timeout, broken
    /// connection, unreadable reply).
    pub failed_requests: u64,
    /// Calls answered from the response cache (no request sent).
    pub cached_calls: u64,
}

impl RequestRecord {
    /// The request figures of `usage` with `cached_calls` cache hits.
    pub fn of(usage: &UsageRecord, cached_calls: u64) -> Self {
        Self {
            requests: usage.requests,
            failed_requests: usage.failed_requests,
            cached_calls,
        }
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every step ran.
    MaxSteps,
    /// The best score did not improve by more than `min_delta` for `patience` steps.
    Patience,
    /// The best score reached `target`.
    Target,
    /// The `max_lm_calls` budget would have been passed.
    MaxLmCalls,
    /// The `max_tokens` budget would have been passed.
    MaxTokens,
    /// The `max_cost` budget would have been passed.
    MaxCost,
    /// The `max_duration` budget ran out.
    MaxDuration,
}

impl StopReason {
    /// The name used in run.json, events and the summary (the stop key).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::Patience => "patience",
            StopReason::Target => "target",
            StopReason::MaxLmCalls => "max_lm_calls",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxCost => "max_cost",
            StopReason::MaxDuration => "max_duration",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
