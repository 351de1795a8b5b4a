//! Progress events: the engine reports what it does over a channel and never
//! touches the terminal; the CLI renders them as bars and lines, or prints one
//! JSON object per line with `--json`.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::stop::StopReason;
use crate::artifacts::UsageRecord;

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
    /// The input is checked and the loop is about to start.
    RunStarted {
        /// The optimized program's name.
        program: String,
        /// The block's `max_steps`.
        max_steps: usize,
        /// The mini-batch size used (clamped to the trainset).
        bsize: usize,
        /// The block's `num_candidates`.
        num_candidates: usize,
        /// Examples in the trainset.
        trainset_size: usize,
    },
    /// Something the user should know that does not stop the run.
    Warning {
        /// What to tell.
        message: String,
    },
    /// A step took its mini-batch (SIMBA step 1).
    StepStarted {
        /// 1-based step number.
        step: usize,
        /// The block's `max_steps`.
        max_steps: usize,
        /// Trainset indices of the mini-batch.
        batch: Vec<usize>,
    },
    /// `done` of `total` executions of a wave have finished.
    Progress {
        /// The step, or None for the final selection's waves.
        step: Option<usize>,
        /// Which wave.
        phase: Phase,
        /// Executions finished so far.
        done: usize,
        /// Executions in the wave.
        total: usize,
    },
    /// The step's trajectories are scored.
    BatchScored {
        /// 1-based step number.
        step: usize,
        /// Mean of every trajectory's score.
        mean: f64,
        /// The 10th percentile of those scores.
        p10: f64,
        /// The 90th percentile.
        p90: f64,
        /// Trajectories whose execution failed (scored 0).
        failed_executions: usize,
    },
    /// A bucket's strategies ran (SIMBA step 5).
    CandidateBuilt {
        /// 1-based step number.
        step: usize,
        /// The bucket's position in processing order.
        bucket: usize,
        /// Pool index of the program the candidate was copied from.
        source: usize,
        /// The strategy that applied; None when every one skipped or failed.
        strategy: Option<String>,
        /// What changed, or why nothing did.
        detail: String,
    },
    /// A step ended with its candidates evaluated and registered.
    StepFinished {
        /// 1-based step number.
        step: usize,
        /// Each built candidate's mean on the mini-batch, in build order.
        candidate_scores: Vec<f64>,
        /// The step's winner's mean (None when nothing was built).
        best_candidate_score: Option<f64>,
        /// The best candidate score of any step so far.
        best_so_far: Option<f64>,
        /// LM usage of this step alone.
        usage: UsageRecord,
    },
    /// A stop rule ended the loop before `max_steps`; the final selection follows.
    Stopped {
        /// Steps that finished.
        steps_run: usize,
        /// The rule or budget that ended the loop.
        reason: StopReason,
    },
    /// A round of a raced final selection (`final = race`) is scored.
    RaceRound {
        /// 1-based round.
        round: usize,
        /// Examples of the selection split read so far.
        examples: usize,
        /// Candidates (positions in candidates.json) still racing.
        racing: Vec<usize>,
        /// Candidates dropped after this round.
        dropped: Vec<usize>,
        /// The candidate with the best mean so far.
        leader: usize,
    },
    /// A log message (a plugin's `host.log`, a `command` metric's stderr)
    /// that passed the log filter. The engine never emits it: the CLI's log
    /// layer writes it among the events with `--json`.
    Log {
        /// `error`, `warn`, `info`, `debug` or `trace`.
        level: String,
        /// The tracing target: `plugin`, `command`, or an engine module.
        target: String,
        /// The plugin that logged it, for plugin messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
        /// The metric, for a `command` metric's stderr lines and failed calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<String>,
        /// The command line as written, for a `command` metric's lines.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The message, control characters escaped.
        message: String,
    },
    /// The final selection is done; the artifacts follow.
    RunFinished {
        /// The baseline's mean on the trainset (with `final = race`, on the
        /// examples it was raced on; None when raced on another split).
        baseline_train: Option<f64>,
        /// The returned program's mean on the trainset (likewise).
        best_train: Option<f64>,
        /// The baseline's mean on the devset, when scored there.
        baseline_dev: Option<f64>,
        /// The returned program's mean on the devset.
        best_dev: Option<f64>,
        /// Position of the returned program in candidates.json.
        best_candidate: usize,
        /// Why the loop ended.
        stop_reason: StopReason,
        /// LM usage of the whole run.
        usage: UsageRecord,
        /// Wall time of the whole run.
        duration_ms: u64,
    },
}

/// Where the engine sends events; a no-op when nobody listens.
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<UnboundedSender<Event>>);

impl EventSink {
    /// A sink that sends every event to `tx`.
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
