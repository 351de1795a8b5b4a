//! Progress events: the engine reports what it does over a channel and never
//! touches the terminal; the CLI renders them as bars and lines, or prints one
//! JSON object per line with `--json`.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::artifacts::UsageRecord;
use super::stop::StopReason;

/// Which wave of executions a progress tick belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Trajectory sampling (bsize x num_candidates executions).
    Sampling,
    /// Candidate evaluation on the mini-batch.
    Evaluating,
    /// Final candidates on the full trainset.
    Final,
    /// Baseline and best on the devset.
    Dev,
    /// Every final candidate on the valset (validation-aware selection).
    Valset,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        program: String,
        max_steps: usize,
        bsize: usize,
        num_candidates: usize,
        trainset_size: usize,
    },
    /// Something the user should know that does not stop the run.
    Warning { message: String },
    StepStarted {
        step: usize,
        max_steps: usize,
        batch: Vec<usize>,
    },
    /// `done` of `total` executions of a wave have finished.
    Progress {
        step: Option<usize>,
        phase: Phase,
        done: usize,
        total: usize,
    },
    BatchScored {
        step: usize,
        mean: f64,
        p10: f64,
        p90: f64,
        failed_executions: usize,
    },
    CandidateBuilt {
        step: usize,
        bucket: usize,
        source: usize,
        /// The strategy that applied; None when every one skipped or failed.
        strategy: Option<String>,
        detail: String,
    },
    StepFinished {
        step: usize,
        candidate_scores: Vec<f64>,
        best_candidate_score: Option<f64>,
        best_so_far: Option<f64>,
        usage: UsageRecord,
    },
    /// A stop rule ended the loop before `max_steps`; the final selection follows.
    Stopped {
        steps_run: usize,
        reason: StopReason,
    },
    RunFinished {
        baseline_train: f64,
        best_train: f64,
        baseline_dev: Option<f64>,
        best_dev: Option<f64>,
        best_candidate: usize,
        stop_reason: StopReason,
        usage: UsageRecord,
        duration_ms: u64,
    },
}

/// Where the engine sends events; a no-op when nobody listens.
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<UnboundedSender<Event>>);

impl EventSink {
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Self(Some(tx))
    }

    /// A sink that drops every event.
    pub fn none() -> Self {
        Self(None)
    }

    /// Send an event; a closed receiver is not an error (the run goes on).
    pub fn emit(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}
