//! The SIMBA loop (docs/optimizer.md, steps 1-7 and "The end"), one file per
//! phase:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the public entry, the step loop, one step's phases in order |
//! | `run.rs` | the coordinator's state: construction, checkpoint, restore |
//! | `wave.rs` | running a wave of executions; the scoring grid |
//! | `budget.rs` | budgets: the final selection's reserve, whether a step fits |
//! | `sample.rs` | steps 1-3: mini-batch, sampling variants, trajectories |
//! | `buckets.rs` | step 4: batch statistics, buckets and their order |
//! | `candidates.rs` | step 5: strategies build candidates (with fallback) |
//! | `evaluate.rs` | steps 6-7: candidate evaluation, pool update, winner |
//! | `finish.rs` | the end: final selection, devset scores, the output |
//! | `race.rs` | `final = race`: the picks raced in rounds, scores reused |
//!
//! The coordinator owns the pool, the random streams and the trial log; it
//! makes every random draw itself, in a fixed order, and hands concurrent work
//! only computation (program executions, collected by index). So a run's
//! result does not depend on timing or on `concurrency`.

mod buckets;
mod budget;
mod candidates;
mod evaluate;
mod finish;
mod no_candidate;
mod race;
mod run;
mod sample;
mod wave;

pub use no_candidate::strategy_warnings;

use indexmap::IndexMap;
use run::Run;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wave::Halt;

use crate::config::Price;
use crate::ir::OptimizeDecl;
use crate::program::Program;
use crate::value::Example;

use super::checkpoint::{Checkpoint, CheckpointSink, Fingerprint, ScoreRange};
use super::evaluator::{Evaluator, UsageCounter};
use super::events::{Event, EventSink};
use super::stop::{Convergence, StopReason};
use super::strategy::{PromptModel, Strategy};
use crate::artifacts::{
    CandidatesJson, ProgramJson, RequestRecord, RunJson, TrialRecord, VariantRecord,
};

/// Why an optimization could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// A configuration the loop cannot run with (an input error).
    #[error("optimize `{program}`: {message}")]
    Config {
        /// The optimized program's name.
        program: String,
        /// What is wrong.
        message: String,
    },
    /// Every execution of a wave failed (e.g. the model fails every call).
    #[error(
        "optimize `{program}`: every program execution failed ({context}); first error: {first_error}"
    )]
    AllExecutionsFailed {
        /// The optimized program's name.
        program: String,
        /// Which wave failed.
        context: String,
        /// The first execution's error.
        first_error: String,
    },
    /// The metric could not score any prediction of a wave and had scored
    /// none before in the run.
    #[error(
        "optimize `{program}`: metric `{metric}` failed on every example ({context}); first error: {first_error}"
    )]
    MetricFailed {
        /// The optimized program's name.
        program: String,
        /// The metric's name.
        metric: String,
        /// Which wave failed.
        context: String,
        /// The metric's first error.
        first_error: String,
    },
    /// The checkpoint could not be written.
    #[error("optimize `{program}`: cannot write the checkpoint: {message}")]
    Checkpoint {
        /// The optimized program's name.
        program: String,
        /// Why it could not be written.
        message: String,
    },
}

impl OptimizeError {
    /// True when the user's input (spec, data) is at fault rather than the run.
    pub fn is_input_error(&self) -> bool {
        matches!(self, OptimizeError::Config { .. })
    }
}

/// Everything one optimization needs; built by the CLI from a loaded spec, or
/// by tests from fakes.
pub struct OptimizeInput {
    /// The optimize block, with defaults and overrides applied.
    pub decl: OptimizeDecl,
    /// The program to start from (usually `Program::baseline`).
    pub baseline: Program,
    /// The examples the loop learns from.
    pub trainset: Vec<Example>,
    /// The examples the baseline and the best are scored on for the report.
    pub devset: Option<Vec<Example>>,
    /// The `valset` split, when the block names one.
    pub valset: Option<Vec<Example>>,
    /// Runs and scores programs.
    pub evaluator: Arc<dyn Evaluator>,
    /// What the evaluator's metric can score ([`ScoreRange::of_metric`]):
    /// a checkpoint's scores outside it are refused on resume.
    pub score_range: ScoreRange,
    /// The strategies of `decl.strategies`, in the same order.
    pub strategies: Vec<Arc<dyn Strategy>>,
    /// The model append_rule asks; None when no strategy needs it.
    pub prompt: Option<PromptModel>,
    /// The program model's own temperature (the `temperature` resample scheme).
    pub base_temperature: f64,
    /// The provider's model id of the program's model.
    pub model_id: String,
    /// Counts every LM request of the run (shared with the evaluator's models).
    pub usage: Arc<UsageCounter>,
    /// Where progress events go.
    pub events: EventSink,
    /// The spec file, for run.json.
    pub spec_path: Option<PathBuf>,
    /// Warnings from loading, carried into run.json.
    pub warnings: Vec<String>,
}

/// The result of a run: the best program and every artifact's content.
#[derive(Debug, Clone)]
pub struct OptimizeOutput {
    /// The returned program.
    pub best: Program,
    /// program.json: the returned program's predictors.
    pub program_json: ProgramJson,
    /// candidates.json: the final candidates and their scores.
    pub candidates: CandidatesJson,
    /// Every final candidate's program in program.json's layout, in
    /// `candidates` order; written to `candidates/NN.program.json`.
    pub candidate_programs: Vec<ProgramJson>,
    /// trials.jsonl: one record per step.
    pub trials: Vec<TrialRecord>,
    /// run.json: configuration, usage, timings, stop reason.
    pub run: RunJson,
}

impl OptimizeOutput {
    /// The artifact files' names (relative to the output folder) and bytes,
    /// in writing order: the candidate programs before candidates.json, so
    /// the list never names a file that is not there yet.
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, crate::artifacts::WriteError> {
        use crate::artifacts::*;
        let mut files = vec![(
            PROGRAM_JSON.to_string(),
            to_pretty(PROGRAM_JSON, &self.program_json)?,
        )];
        for (position, program) in self.candidate_programs.iter().enumerate() {
            let name = candidate_program_file(position);
            let bytes = to_pretty(&name, program)?;
            files.push((name, bytes));
        }
        files.extend([
            (
                CANDIDATES_JSON.to_string(),
                to_pretty(CANDIDATES_JSON, &self.candidates)?,
            ),
            (
                TRIALS_JSONL.to_string(),
                to_jsonl(TRIALS_JSONL, &self.trials)?,
            ),
            (RUN_JSON.to_string(), to_pretty(RUN_JSON, &self.run)?),
        ]);
        Ok(files)
    }

    /// Write every artifact into `dir`, all staged before any is renamed in
    /// (a failed rename puts the previous files back); only then, with every
    /// new file in place, remove candidate programs an earlier run left
    /// beyond this run's.
    pub fn write(&self, dir: &std::path::Path) -> Result<(), crate::artifacts::WriteError> {
        crate::artifacts::write_all_atomic(dir, &self.files()?)?;
        crate::artifacts::remove_stale_candidates(dir, self.candidate_programs.len())
    }
}

/// Checkpointing options of a run.
#[derive(Default, Clone)]
pub struct RunOptions {
    /// Receives the state after every finished step (none before the first,
    /// so a run that fails in its first step leaves nothing behind).
    pub checkpoint: Option<CheckpointSink>,
    /// Continue from this state instead of starting afresh.
    pub resume: Option<Checkpoint>,
    /// Prices by model item name, for `stop.max_cost`.
    pub prices: IndexMap<String, Price>,
    /// Hashes of the inputs the engine is not given (the metric, the
    /// models, the plugins: [`Fingerprint::of_block`]); the engine adds the
    /// data rows and the program, writes them into every checkpoint and
    /// refuses a checkpoint whose hashes differ.
    pub fingerprint: Fingerprint,
}

/// Run SIMBA.
pub async fn optimize(input: OptimizeInput) -> Result<OptimizeOutput, OptimizeError> {
    optimize_with(input, RunOptions::default()).await
}

/// Run SIMBA with checkpoints and/or from a checkpoint.
pub async fn optimize_with(
    input: OptimizeInput,
    options: RunOptions,
) -> Result<OptimizeOutput, OptimizeError> {
    // Taken before the run is built, as its budgets' clock is.
    let started = Instant::now();
    let mut run = Run::new(input, &options)?;
    let mut history = History::new(started, Convergence::new(&run.decl.stop));
    let first_step = match options.resume {
        Some(cp) => run.resume(cp, &mut history)?,
        None => 1,
    };
    let stop = run
        .run_steps(first_step, &mut history, options.checkpoint.as_ref())
        .await?;
    if stop != StopReason::MaxSteps {
        run.report.events.emit(Event::Stopped {
            steps_run: history.trials.len(),
            reason: stop,
        });
    }
    run.spending.enter_final();
    let t = Instant::now();
    let finished = run.finish(&history.trials).await?;
    let final_ms = t.elapsed().as_millis() as u64;
    Ok(run.into_output(stop, history, finished, final_ms))
}

/// What the step loop accumulates; saved in every checkpoint.
struct History {
    /// One record per finished step.
    trials: Vec<TrialRecord>,
    /// Wall time of each finished step.
    step_ms: Vec<u64>,
    /// What each finished step sent to the providers.
    step_requests: Vec<RequestRecord>,
    /// The convergence rules' state.
    convergence: Convergence,
    /// When the run started (moved back by a resumed run's earlier time).
    started: Instant,
}

impl History {
    fn new(started: Instant, convergence: Convergence) -> Self {
        Self {
            trials: Vec::new(),
            step_ms: Vec::new(),
            step_requests: Vec::new(),
            convergence,
            started,
        }
    }
}

impl Run {
    /// Continue from a checkpoint; the first step still to run.
    fn resume(&mut self, cp: Checkpoint, history: &mut History) -> Result<usize, OptimizeError> {
        let spent = Duration::from_millis(cp.elapsed_ms);
        self.restore(&cp, spent)?;
        history.started = history
            .started
            .checked_sub(spent)
            .unwrap_or(history.started);
        history.trials = cp.trials;
        history.step_ms = cp.step_durations_ms;
        history.step_requests = cp.step_requests;
        // Stop rules may change on resume: the new ones apply from the next step.
        history.convergence = cp.convergence.resumed(&self.decl.stop);
        // The finished steps' waves were scored (a wave the metric scored
        // none of would have stopped the run), so a resumed run treats a
        // later wave's failures as the uninterrupted run would.
        if cp.steps_done > 0 {
            self.report
                .metric_scored
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.report.events.emit(Event::Warning {
            message: format!(
                "optimize `{}`: resuming after step {} from the checkpoint",
                self.decl.program, cp.steps_done
            ),
        });
        // steps_done is the number of trial records (validated): no overflow.
        Ok(cp.steps_done + 1)
    }

    /// Steps `first..=max_steps`, each checkpointed, until a stop rule or a
    /// budget ends the loop; why it ended.
    async fn run_steps(
        &mut self,
        first: usize,
        history: &mut History,
        sink: Option<&CheckpointSink>,
    ) -> Result<StopReason, OptimizeError> {
        for step in first..=self.decl.max_steps {
            // Budgets: skip a step that cannot finish within them.
            if let Some(reason) = self.step_would_pass() {
                return Ok(reason);
            }
            let t = Instant::now();
            match self.step(step).await {
                Ok((record, requests)) => {
                    history.trials.push(record);
                    history.step_requests.push(requests);
                }
                // A cap refused a request mid-step: the step is dropped whole.
                Err(Halt::Stopped(reason)) => return Ok(reason),
                Err(Halt::Failed(e)) => return Err(e),
            }
            history.step_ms.push(t.elapsed().as_millis() as u64);
            // The last step ends the loop anyway: no convergence verdict.
            let converged = if step < self.decl.max_steps {
                history.convergence.after_step(self.progress.best_so_far)
            } else {
                None
            };
            if let Some(sink) = sink {
                let cp = self.checkpoint(step, history);
                sink(&cp).map_err(|m| self.checkpoint_error(m))?;
            }
            if let Some(reason) = converged {
                return Ok(reason);
            }
        }
        Ok(StopReason::MaxSteps)
    }

    /// One SIMBA step (steps 1-7 in order); its trial record and what it
    /// sent to the providers.
    async fn step(&mut self, step: usize) -> Result<(TrialRecord, RequestRecord), Halt> {
        let usage_before = self.report.usage.snapshot();
        let cached_before = self.report.usage.cached();
        let batch = self.mini_batch(step);
        let variants = self.sampling_variants();
        let standings = self.standings();
        let sampled = self
            .sample_trajectories(step, &batch, &variants, &standings)
            .await?;
        let batch_stats = self.batch_stats(step, &sampled);
        let buckets = self.bucket_trajectories(
            &batch,
            variants.len(),
            sampled.trajectories,
            &sampled.scores,
        );
        let built = self
            .build_candidates(step, &buckets, &batch_stats, &standings)
            .await;
        if let Some(reason) = self.spending.tripped() {
            return Err(Halt::Stopped(reason));
        }
        let scores = self.evaluate_candidates(step, &batch, &built).await?;
        let registered = self.register_candidates(step, built, &scores);
        let usage = self.report.usage.snapshot().since(&usage_before);
        let requests = RequestRecord::of(&usage, self.report.usage.cached() - cached_before);
        self.spending.note_step_usage(&usage.calls());
        self.report.events.emit(Event::StepFinished {
            step,
            candidate_scores: registered.means,
            best_candidate_score: registered.best_candidate_score,
            best_so_far: self.progress.best_so_far,
            usage,
        });
        let baseline_model = &self.progress.pool.get(0).program.graph.lm;
        let record = TrialRecord {
            step,
            variants: variants
                .iter()
                .map(|ov| VariantRecord {
                    model: ov.model.clone().unwrap_or_else(|| baseline_model.clone()),
                    temperature: ov.temperature,
                    rollout_id: ov.rollout_id,
                    seed: ov.seed,
                })
                .collect(),
            batch,
            sampled_programs: sampled.programs,
            batch_stats,
            buckets: buckets.records,
            candidates: registered.records,
            winner: registered.winner,
            best_candidate_score: registered.best_candidate_score,
            best_so_far: self.progress.best_so_far,
            usage: usage.calls(),
        };
        Ok((record, requests))
    }
}
