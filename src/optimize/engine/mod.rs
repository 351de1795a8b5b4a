//! The SIMBA loop (SIMBA.md steps 1-7 and "The end").
//!
//! The coordinator owns the pool, the random streams and the trial log; it
//! makes every random draw itself, in a fixed order, and hands concurrent work
//! only computation (program executions, collected by index). So a run's
//! result does not depend on timing or on `concurrency`.

use futures::StreamExt;
use rand::RngExt;
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Price;
use crate::ir::{OptimizeDecl, SelectOn, Selection};
use crate::program::{Example, ModelOverride, Program};
use indexmap::IndexMap;

use super::advice::{Applied, apply_wave};
use super::artifacts::{
    BatchStats, BucketRecord, CandidateEntry, CandidateRecord, CandidatesJson, ProgramJson,
    RunJson, SCHEMA_VERSION, ScorePair, TrialRecord, VariantRecord,
};
use super::checkpoint::{CHECKPOINT_SCHEMA, Checkpoint, CheckpointSink, PoolEntryState, RngState};
use super::evaluator::{Evaluator, Outcome, UsageCounter};
use super::events::{Event, EventSink, Phase};
use super::pool::{Pool, mean_or_zero, softmax_pick};
use super::rng::Rngs;
use super::select::{argmax_first, final_indices};
use super::stats::{BucketKey, order_buckets, percentile, sort_bucket};
use super::stop::{Budget, Convergence, Reserve, StopReason};
use super::strategy::{Bucket, PromptModel, Strategy, StrategyContext, Trajectory};
use super::thompson::{is_binary, thompson_pick};
use super::variants::{VariantConfig, sampling_variants};

/// Why an optimization could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// A configuration the loop cannot run with (an input error).
    #[error("optimize `{program}`: {message}")]
    Config { program: String, message: String },
    /// Every execution of a wave failed (e.g. the model fails every call).
    #[error(
        "optimize `{program}`: every program execution failed ({context}); first error: {first_error}"
    )]
    AllExecutionsFailed {
        program: String,
        context: String,
        first_error: String,
    },
    /// The metric could not score any prediction of a wave.
    #[error(
        "optimize `{program}`: metric `{metric}` failed on every example ({context}); first error: {first_error}"
    )]
    MetricFailed {
        program: String,
        metric: String,
        context: String,
        first_error: String,
    },
    /// The checkpoint could not be written.
    #[error("optimize `{program}`: cannot write the checkpoint: {message}")]
    Checkpoint { program: String, message: String },
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
    pub trainset: Vec<Example>,
    pub devset: Option<Vec<Example>>,
    /// The `valset` split, when the block names one.
    pub valset: Option<Vec<Example>>,
    pub evaluator: Arc<dyn Evaluator>,
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
    pub events: EventSink,
    /// The spec file, for run.json.
    pub spec_path: Option<PathBuf>,
    /// Warnings from loading, carried into run.json.
    pub warnings: Vec<String>,
}

/// The result of a run: the best program and every artifact's content.
#[derive(Debug, Clone)]
pub struct OptimizeOutput {
    pub best: Program,
    pub program_json: ProgramJson,
    pub candidates: CandidatesJson,
    pub trials: Vec<TrialRecord>,
    pub run: RunJson,
}

impl OptimizeOutput {
    /// The artifact files' bytes, in writing order.
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>, super::artifacts::WriteError> {
        use super::artifacts::*;
        Ok(vec![
            (PROGRAM_JSON, to_pretty(PROGRAM_JSON, &self.program_json)?),
            (
                CANDIDATES_JSON,
                to_pretty(CANDIDATES_JSON, &self.candidates)?,
            ),
            (TRIALS_JSONL, to_jsonl(TRIALS_JSONL, &self.trials)?),
            (RUN_JSON, to_pretty(RUN_JSON, &self.run)?),
        ])
    }

    /// Write every artifact into `dir`, all staged before any is renamed in.
    pub fn write(&self, dir: &std::path::Path) -> Result<(), super::artifacts::WriteError> {
        super::artifacts::write_all_atomic(dir, &self.files()?)
    }
}

/// One job of a wave: which program runs on which example with which model.
struct Job {
    program: Arc<Program>,
    example: usize,
    ov: ModelOverride,
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
    let mut started = Instant::now();
    let mut run = Run::new(input, &options.prices)?;
    let mut trials = Vec::new();
    let mut step_ms = Vec::new();
    let mut convergence = Convergence::new(&run.decl.stop);
    let mut stop = StopReason::MaxSteps;
    let mut first_step = 1;
    if let Some(cp) = options.resume {
        let spent = std::time::Duration::from_millis(cp.elapsed_ms);
        started = started.checked_sub(spent).unwrap_or(started);
        run.restore(&cp, spent)?;
        trials = cp.trials;
        step_ms = cp.step_durations_ms;
        convergence = cp.convergence;
        first_step = cp.steps_done + 1;
        run.events.emit(Event::Warning {
            message: format!(
                "optimize `{}`: resuming after step {} from the checkpoint",
                run.decl.program, cp.steps_done
            ),
        });
    }
    for step in first_step..=run.decl.max_steps {
        // Budgets: skip a step that cannot finish within them.
        if let Some(reason) = run.step_would_pass() {
            stop = reason;
            break;
        }
        let t = Instant::now();
        match run.step(step).await? {
            StepEnd::Done(record) => trials.push(*record),
            StepEnd::Stopped(reason) => {
                // A cap refused a request mid-step: the step is dropped whole.
                stop = reason;
                break;
            }
        }
        step_ms.push(t.elapsed().as_millis() as u64);
        let converged = if step < run.decl.max_steps {
            convergence.after_step(run.best_so_far)
        } else {
            None
        };
        if let Some(sink) = &options.checkpoint {
            let cp = run.checkpoint(step, &trials, &step_ms, &convergence, started);
            sink(&cp).map_err(|m| run.checkpoint_error(m))?;
        }
        if let Some(reason) = converged {
            stop = reason;
            break;
        }
    }
    if stop != StopReason::MaxSteps {
        run.events.emit(Event::Stopped {
            steps_run: trials.len(),
            reason: stop,
        });
    }
    if let Some(b) = &run.budget {
        b.enter_final();
    }
    let t = Instant::now();
    let (best, candidates, baseline_pair, best_pair) = run.finish().await?;
    let final_ms = t.elapsed().as_millis() as u64;
    let usage = run.usage.snapshot();
    let duration_ms = started.elapsed().as_millis() as u64;
    run.events.emit(Event::RunFinished {
        baseline_train: baseline_pair.train,
        best_train: best_pair.train,
        baseline_dev: baseline_pair.dev,
        best_dev: best_pair.dev,
        best_candidate: candidates.best,
        stop_reason: stop,
        usage,
        duration_ms,
    });
    let run_json = RunJson {
        schema: SCHEMA_VERSION,
        simba_run_version: env!("CARGO_PKG_VERSION").into(),
        program: run.decl.program.clone(),
        spec: run.spec_path.clone(),
        seed: run.decl.seed,
        config: run.decl.clone(),
        effective_bsize: run.bsize,
        trainset_size: run.trainset.len(),
        devset_size: run.devset.as_ref().map(|d| d.len()),
        steps_run: trials.len(),
        stop_reason: stop,
        warnings: run.warnings.clone(),
        baseline: baseline_pair,
        best: best_pair,
        best_candidate: candidates.best,
        usage,
        cached_calls: run.usage.cached(),
        duration_ms,
        step_durations_ms: step_ms,
        final_eval_ms: final_ms,
    };
    Ok(OptimizeOutput {
        program_json: ProgramJson::from_program(&best),
        best,
        candidates,
        trials,
        run: run_json,
    })
}

/// How a step ended.
enum StepEnd {
    Done(Box<TrialRecord>),
    /// A budget refused a request; the step's work is discarded.
    Stopped(StopReason),
}

/// The coordinator's state.
struct Run {
    decl: OptimizeDecl,
    bsize: usize,
    trainset: Arc<Vec<Example>>,
    devset: Option<Arc<Vec<Example>>>,
    /// Where the final candidates are chosen (None: the trainset).
    select: Option<(Arc<Vec<Example>>, SelectOn)>,
    evaluator: Arc<dyn Evaluator>,
    strategies: Vec<Arc<dyn Strategy>>,
    prompt: Option<PromptModel>,
    variant_cfg: VariantConfig,
    usage: Arc<UsageCounter>,
    events: EventSink,
    spec_path: Option<PathBuf>,
    warnings: Vec<String>,
    pool: Pool,
    /// Pool indices of the winners: the baseline, then each step's best.
    winners: Vec<usize>,
    rngs: Rngs,
    data_order: Vec<usize>,
    cursor: usize,
    best_so_far: Option<f64>,
    /// The run's budgets (None without budget rules).
    budget: Option<Arc<Budget>>,
    /// Most LM calls and tokens one execution used (largest wave average),
    /// to estimate the final selection's needs.
    per_execution: std::sync::Mutex<(f64, f64)>,
    /// Most LM usage one step took so far.
    step_usage: Reserve,
}

impl Run {
    fn new(input: OptimizeInput, prices: &IndexMap<String, Price>) -> Result<Self, OptimizeError> {
        let decl = input.decl;
        let program = decl.program.clone();
        let config = |message: String| OptimizeError::Config {
            program: program.clone(),
            message,
        };
        if input.trainset.is_empty() {
            return Err(config(format!("the trainset `{}` is empty", decl.trainset)));
        }
        if decl.bsize == 0 {
            return Err(config("bsize must be at least 1".into()));
        }
        if decl.num_candidates == 0 {
            return Err(config("num_candidates must be at least 1".into()));
        }
        if decl.max_steps > 0 && input.strategies.is_empty() {
            return Err(config("no strategy is configured".into()));
        }
        if !(decl.temperature_for_sampling > 0.0 && decl.temperature_for_candidates > 0.0) {
            return Err(config(
                "temperature_for_sampling and temperature_for_candidates must be positive".into(),
            ));
        }
        let mut warnings = input.warnings;
        // Warnings found here are announced right after RunStarted.
        let mut late: Vec<String> = Vec::new();
        let events = input.events;
        let bsize = if decl.bsize > input.trainset.len() {
            let w = format!(
                "optimize `{}`: bsize {} is larger than the trainset `{}` ({} examples); using bsize = {}",
                decl.program,
                decl.bsize,
                decl.trainset,
                input.trainset.len(),
                input.trainset.len()
            );
            late.push(w.clone());
            warnings.push(w);
            input.trainset.len()
        } else {
            decl.bsize
        };
        let mut devset = input.devset.map(Arc::new);
        if devset.as_ref().is_some_and(|d| d.is_empty()) {
            let w = format!(
                "optimize `{}`: the devset is empty; dev scores are skipped",
                decl.program
            );
            late.push(w.clone());
            warnings.push(w);
            devset = None;
        }
        let select = match decl.select_on {
            SelectOn::Trainset => None,
            SelectOn::Valset => match input.valset {
                Some(v) if !v.is_empty() => Some((Arc::new(v), SelectOn::Valset)),
                _ => {
                    return Err(config("select_on = valset needs a non-empty valset".into()));
                }
            },
            SelectOn::Devset => match &devset {
                Some(d) => Some((d.clone(), SelectOn::Devset)),
                None => {
                    return Err(config("select_on = devset needs a non-empty devset".into()));
                }
            },
        };
        let variant_cfg = VariantConfig {
            scheme: decl.resample,
            num_candidates: decl.num_candidates,
            teacher: decl.teacher.clone(),
            base_temperature: input.base_temperature,
            model_id: input.model_id,
            first_rollout_id: 0,
            run_seed: decl.seed,
        };
        let budget = Budget::from_rules(&decl.stop, Instant::now(), prices).map(Arc::new);
        if let Some(b) = &budget {
            input.usage.set_budget(b.clone());
        }
        let mut rngs = Rngs::new(decl.seed);
        let mut data_order: Vec<usize> = (0..input.trainset.len()).collect();
        data_order.shuffle(&mut rngs.choices);
        events.emit(Event::RunStarted {
            program: decl.program.clone(),
            max_steps: decl.max_steps,
            bsize,
            num_candidates: decl.num_candidates,
            trainset_size: input.trainset.len(),
        });
        for message in late {
            events.emit(Event::Warning { message });
        }
        Ok(Self {
            bsize,
            trainset: Arc::new(input.trainset),
            devset,
            select,
            evaluator: input.evaluator,
            strategies: input.strategies,
            prompt: input.prompt,
            variant_cfg,
            usage: input.usage,
            events,
            spec_path: input.spec_path,
            warnings,
            pool: Pool::new(input.baseline),
            winners: vec![0],
            rngs,
            data_order,
            cursor: 0,
            best_so_far: None,
            budget,
            per_execution: std::sync::Mutex::new((1.0, 0.0)),
            step_usage: Reserve::default(),
            decl,
        })
    }

    /// Run a wave of executions at `concurrency`, results by job index.
    async fn wave(
        &self,
        examples: &Arc<Vec<Example>>,
        jobs: Vec<Job>,
        step: Option<usize>,
        phase: Phase,
    ) -> Vec<Outcome> {
        let total = jobs.len();
        let before = self.usage.snapshot();
        let mut out: Vec<Option<Outcome>> = vec![None; total];
        let concurrency = self.decl.concurrency.max(1);
        let mut stream = futures::stream::iter(jobs.into_iter().enumerate().map(|(i, job)| {
            let evaluator = self.evaluator.clone();
            let examples = examples.clone();
            async move {
                let outcome = evaluator
                    .run(&job.program, &examples[job.example], &job.ov)
                    .await;
                (i, outcome)
            }
        }))
        .buffer_unordered(concurrency);
        let mut done = 0;
        self.events.emit(Event::Progress {
            step,
            phase,
            done,
            total,
        });
        // The final, validation and dev waves read only scores and errors:
        // dropping each execution's trace and prediction as it arrives keeps
        // memory flat in the set size (every final pick times every row).
        let scores_only = matches!(phase, Phase::Final | Phase::Valset | Phase::Dev);
        while let Some((i, mut outcome)) = stream.next().await {
            if scores_only {
                outcome.execution.trace = Vec::new();
                outcome.execution.prediction = None;
            }
            out[i] = Some(outcome);
            done += 1;
            self.events.emit(Event::Progress {
                step,
                phase,
                done,
                total,
            });
        }
        if self.budget.is_some() && total > 0 {
            let used = self.usage.snapshot().since(&before);
            let mut pe = self.per_execution.lock().unwrap_or_else(|e| e.into_inner());
            let n = total as f64;
            pe.0 = pe.0.max(used.lm_calls as f64 / n);
            pe.1 =
                pe.1.max((used.prompt_tokens + used.completion_tokens) as f64 / n);
        }
        out.into_iter()
            .map(|o| o.expect("every job yields one outcome"))
            .collect()
    }

    /// Draw a program from `top`: softmax over averages at `temperature`, or
    /// a Thompson draw (see thompson.rs), one coordinator draw per call.
    fn pick(&mut self, top: &[usize], averages: &[f64], temperature: f64) -> usize {
        match self.decl.selection {
            Selection::Softmax => softmax_pick(&mut self.rngs.choices, top, averages, temperature),
            Selection::Thompson => {
                let entries = self.pool.entries();
                let scores: Vec<&[f64]> = entries.iter().map(|e| e.scores.as_slice()).collect();
                let binary = is_binary(entries.iter().flat_map(|e| e.scores.iter()));
                let baseline = if entries[0].scores.is_empty() {
                    0.5
                } else {
                    averages[0]
                };
                thompson_pick(&mut self.rngs.choices, top, &scores, baseline, binary)
            }
        }
    }

    /// The state after `steps_done` finished steps.
    fn checkpoint(
        &self,
        steps_done: usize,
        trials: &[TrialRecord],
        step_ms: &[u64],
        convergence: &Convergence,
        started: Instant,
    ) -> Checkpoint {
        let (budget_started, budget_tokens, budget_cost) =
            self.budget.as_ref().map_or((0, 0, 0.0), |b| b.spent());
        Checkpoint {
            schema: CHECKPOINT_SCHEMA,
            simba_run_version: env!("CARGO_PKG_VERSION").into(),
            config: self.decl.clone(),
            steps_done,
            pool: self
                .pool
                .entries()
                .iter()
                .map(|e| PoolEntryState {
                    predictors: e.program.predictors.clone(),
                    scores: e.scores.clone(),
                    step: e.step,
                })
                .collect(),
            winners: self.winners.clone(),
            rng_choices: RngState::of(&self.rngs.choices),
            rng_poisson: RngState::of(&self.rngs.poisson),
            data_order: self.data_order.clone(),
            cursor: self.cursor,
            best_so_far: self.best_so_far,
            trials: trials.to_vec(),
            step_durations_ms: step_ms.to_vec(),
            usage: self.usage.snapshot(),
            cached_calls: self.usage.cached(),
            convergence: convergence.clone(),
            budget_started,
            budget_tokens,
            budget_cost,
            step_usage: self.step_usage,
            per_execution: *self.per_execution.lock().unwrap_or_else(|e| e.into_inner()),
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Continue from a checkpoint (its configuration must match).
    fn restore(
        &mut self,
        cp: &Checkpoint,
        spent: std::time::Duration,
    ) -> Result<(), OptimizeError> {
        let bad = |message: String| OptimizeError::Config {
            program: self.decl.program.clone(),
            message: format!("cannot resume: {message}"),
        };
        cp.check_matches(&self.decl, std::path::Path::new(&self.decl.output))
            .map_err(|e| bad(e.to_string()))?;
        let baseline = self.pool.get(0).program.clone();
        let mut entries = Vec::with_capacity(cp.pool.len());
        for (i, e) in cp.pool.iter().enumerate() {
            if e.predictors.keys().ne(baseline.predictors.keys()) {
                return Err(bad(format!(
                    "pool entry {i} has other predictors than the program"
                )));
            }
            entries.push(super::pool::Entry {
                program: Arc::new(Program {
                    graph: baseline.graph.clone(),
                    predictors: e.predictors.clone(),
                }),
                scores: e.scores.clone(),
                step: e.step,
            });
        }
        if entries.is_empty()
            || cp.winners.iter().any(|&w| w >= entries.len())
            || !is_permutation(&cp.data_order, self.trainset.len())
            || cp.cursor > cp.data_order.len()
        {
            return Err(bad(
                "the saved pool or data order does not fit the data".into()
            ));
        }
        self.pool = super::pool::Pool::from_entries(entries);
        self.winners = cp.winners.clone();
        self.rngs.choices = cp.rng_choices.restore().map_err(bad)?;
        self.rngs.poisson = cp.rng_poisson.restore().map_err(bad)?;
        self.data_order = cp.data_order.clone();
        self.cursor = cp.cursor;
        self.best_so_far = cp.best_so_far;
        self.usage.restore(&cp.usage, cp.cached_calls);
        self.step_usage = cp.step_usage;
        *self.per_execution.lock().unwrap_or_else(|e| e.into_inner()) = cp.per_execution;
        if let Some(b) = &self.budget {
            b.restore(cp.budget_started, cp.budget_tokens, cp.budget_cost, spent);
        }
        Ok(())
    }

    fn checkpoint_error(&self, message: String) -> OptimizeError {
        OptimizeError::Checkpoint {
            program: self.decl.program.clone(),
            message,
        }
    }

    /// Updates the reserve held back for the final selection and tells
    /// whether the next step would pass a budget (by the most a step used
    /// so far; before the first, one call per execution).
    fn step_would_pass(&mut self) -> Option<StopReason> {
        let budget = self.budget.clone()?;
        let (calls, tokens) = *self.per_execution.lock().unwrap_or_else(|e| e.into_inner());
        let nc = self.decl.num_candidates;
        // One more winner than now: the next step may add one.
        let picks = final_indices(self.winners.len(), nc + 1).len();
        let mut jobs = picks * self.trainset.len();
        if let Some(dev) = &self.devset {
            jobs += 2 * dev.len();
        }
        if let Some((set, _)) = &self.select {
            jobs += picks * set.len();
        }
        // Costs are bounded by tokens at the dearest priced rate.
        let usd = budget.max_token_price();
        let reserve_tokens = (tokens * jobs as f64).ceil() as u64;
        budget.set_reserve(Reserve {
            calls: (calls * jobs as f64).ceil() as u64,
            tokens: reserve_tokens,
            cost: reserve_tokens as f64 * usd,
        });
        let executions = (self.variant_count() + nc + 1) * self.bsize;
        let first_tokens = (tokens * executions as f64).ceil() as u64;
        let need_tokens = self.step_usage.tokens.max(first_tokens);
        let need = Reserve {
            calls: self
                .step_usage
                .calls
                .max((calls * executions as f64).ceil() as u64),
            tokens: need_tokens,
            cost: need_tokens as f64 * usd,
        };
        budget.would_pass(need)
    }

    fn variant_count(&self) -> usize {
        sampling_variants(&self.variant_cfg).len()
    }

    /// The cap that refused a request of this step, if any.
    fn tripped(&self) -> Option<StopReason> {
        self.budget.as_ref().and_then(|b| b.tripped())
    }

    /// Fail the run when no execution of a wave succeeded, or when the metric
    /// could not score any successful one.
    fn check_wave(&self, outcomes: &[Outcome], context: &str) -> Result<(), OptimizeError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        if outcomes.iter().all(|o| o.execution.error.is_some()) {
            return Err(OptimizeError::AllExecutionsFailed {
                program: self.decl.program.clone(),
                context: context.into(),
                first_error: outcomes[0].execution.error.clone().unwrap_or_default(),
            });
        }
        let ran: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.execution.error.is_none())
            .collect();
        if ran.iter().all(|o| o.metric_error.is_some()) {
            return Err(OptimizeError::MetricFailed {
                program: self.decl.program.clone(),
                metric: self.decl.metric.clone(),
                context: context.into(),
                first_error: ran[0]
                    .metric_error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// One SIMBA step; returns its trial record.
    async fn step(&mut self, step: usize) -> Result<StepEnd, OptimizeError> {
        let usage_before = self.usage.snapshot();
        let nc = self.decl.num_candidates;
        let bsize = self.bsize;

        // 1. Mini-batch.
        if self.cursor + bsize > self.data_order.len() {
            self.data_order.shuffle(&mut self.rngs.choices);
            self.cursor = 0;
        }
        let batch: Vec<usize> = self.data_order[self.cursor..self.cursor + bsize].to_vec();
        self.cursor += bsize;
        self.events.emit(Event::StepStarted {
            step,
            max_steps: self.decl.max_steps,
            batch: batch.clone(),
        });

        // 2. Sampling models.
        let variants = sampling_variants(&self.variant_cfg);

        // 3. Trajectories: every program pick drawn here, in (variant, example) order.
        let averages = self.pool.averages();
        let top = self.pool.top_k_plus_baseline(nc);
        let mut sampled: Vec<Vec<usize>> = Vec::with_capacity(variants.len());
        let mut jobs = Vec::with_capacity(variants.len() * bsize);
        for ov in &variants {
            let mut row = Vec::with_capacity(bsize);
            for &ex in &batch {
                let p = self.pick(&top, &averages, self.decl.temperature_for_sampling);
                row.push(p);
                jobs.push(Job {
                    program: self.pool.get(p).program.clone(),
                    example: ex,
                    ov: ov.clone(),
                });
            }
            sampled.push(row);
        }
        let trainset = self.trainset.clone();
        let outcomes = self
            .wave(&trainset, jobs, Some(step), Phase::Sampling)
            .await;
        if let Some(reason) = self.tripped() {
            return Ok(StepEnd::Stopped(reason));
        }
        self.check_wave(&outcomes, &format!("step {step}, trajectory sampling"))?;
        let scores: Vec<f64> = outcomes.iter().map(|o| o.score.value).collect();
        if self.decl.selection == Selection::Thompson {
            // Thompson needs the baseline's mean for its prior, and DSPy never
            // scores the baseline in the loop: credit it with the scores of
            // the trajectories that ran it (in job order).
            let credited: Vec<f64> = scores
                .iter()
                .enumerate()
                .filter(|(j, _)| sampled[j / bsize][j % bsize] == 0)
                .map(|(_, s)| *s)
                .collect();
            self.pool.add_scores(0, credited);
        }
        let failed_executions = outcomes
            .iter()
            .filter(|o| o.execution.error.is_some())
            .count();
        // Options, so each trajectory can be moved into its bucket once.
        let mut trajectories: Vec<Option<Trajectory>> = outcomes
            .into_iter()
            .enumerate()
            .map(|(j, o)| {
                Some(Trajectory {
                    program: sampled[j / bsize][j % bsize],
                    variant: j / bsize,
                    execution: o.execution,
                    score: o.score,
                })
            })
            .collect();
        let p10 = percentile(&scores, 10.0);
        let p90 = percentile(&scores, 90.0);
        let batch_stats = BatchStats {
            mean: mean_or_zero(&scores),
            p10,
            p90,
            failed_executions,
        };
        self.events.emit(Event::BatchScored {
            step,
            mean: batch_stats.mean,
            p10,
            p90,
            failed_executions,
        });

        // 4. Buckets, one per example, each best first; then ordered by key.
        let nvar = variants.len();
        let mut buckets: Vec<Bucket> = Vec::with_capacity(bsize);
        let mut keys = Vec::with_capacity(bsize);
        for (pos, &ex) in batch.iter().enumerate() {
            let idx: Vec<usize> = (0..nvar).map(|v| v * bsize + pos).collect();
            let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
            let order = sort_bucket(&s);
            let trs: Vec<Trajectory> = order
                .iter()
                .map(|&o| {
                    trajectories[idx[o]]
                        .take()
                        .expect("each trajectory is in one bucket")
                })
                .collect();
            let sorted: Vec<f64> = order.iter().map(|&o| s[o]).collect();
            keys.push(BucketKey::of_sorted(&sorted));
            buckets.push(Bucket {
                example_index: ex,
                example: self.trainset[ex].clone(),
                trajectories: trs,
            });
        }
        let bucket_order = order_buckets(&keys);
        let bucket_records: Vec<BucketRecord> = bucket_order
            .iter()
            .map(|&b| BucketRecord {
                example: buckets[b].example_index,
                scores: buckets[b]
                    .trajectories
                    .iter()
                    .map(|t| t.score.value)
                    .collect(),
                max_to_min_gap: keys[b].max_to_min_gap,
                max_score: keys[b].max_score,
                max_to_avg_gap: keys[b].max_to_avg_gap,
            })
            .collect();

        // 5. Candidates, in waves of as many buckets as candidates are
        // still missing (each bucket yields at most one, so exactly the
        // buckets a one-by-one pass would process): draws first, in bucket
        // order, then every wave's strategies concurrently.
        let mut built: Vec<(Program, usize)> = Vec::new(); // (program, record index)
        let mut records: Vec<CandidateRecord> = Vec::new();
        let mut next = 0;
        while built.len() <= nc && next < bucket_order.len() {
            let end = (next + nc + 1 - built.len()).min(bucket_order.len());
            let mut prepared = Vec::with_capacity(end - next);
            for rank in next..end {
                let source = self.pick(&top, &averages, self.decl.temperature_for_candidates);
                let mut candidate: Program = (*self.pool.get(source).program).clone();
                let d = candidate
                    .predictors
                    .values()
                    .map(|p| p.demos.len())
                    .max()
                    .unwrap_or(0);
                let drops = self.rngs.demo_drops(d, self.decl.max_demos);
                if !drops.is_empty() {
                    for p in candidate.predictors.values_mut() {
                        let kept = p
                            .demos
                            .drain(..)
                            .enumerate()
                            .filter(|(i, _)| !drops.contains(i))
                            .map(|(_, demo)| demo)
                            .collect();
                        p.demos = kept;
                    }
                }
                let first = self.rngs.choices.random_range(0..self.strategies.len());
                let seed: u64 = self.rngs.choices.random();
                prepared.push((rank, source, candidate, drops, first, seed));
            }
            next = end;
            let contexts: Vec<StrategyContext> = prepared
                .iter()
                .map(|(rank, _, _, _, _, seed)| StrategyContext {
                    bucket: &buckets[bucket_order[*rank]],
                    p10,
                    p90,
                    seed: *seed,
                    step,
                    max_demos: self.decl.max_demos,
                    demo_input_field_maxlen: self.decl.demo_input_field_maxlen,
                    prompt: self.prompt.as_ref(),
                })
                .collect();
            let candidates: Vec<Program> = prepared.iter().map(|p| p.2.clone()).collect();
            let firsts: Vec<usize> = prepared.iter().map(|p| p.4).collect();
            let results = apply_wave(&self.strategies, &contexts, &candidates, &firsts).await;
            drop(contexts);
            for ((rank, source, _, drops, _, _), result) in prepared.into_iter().zip(results) {
                let Applied {
                    attempts,
                    candidate: applied,
                } = result;
                let (strategy, detail) = match &applied {
                    Some((_, name, detail)) => (Some(name.clone()), detail.clone()),
                    None => (
                        None,
                        attempts
                            .iter()
                            .map(|a| format!("{}: {}", a.strategy, a.detail))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                };
                self.events.emit(Event::CandidateBuilt {
                    step,
                    bucket: rank,
                    source,
                    strategy,
                    detail,
                });
                records.push(CandidateRecord {
                    bucket: rank,
                    example: buckets[bucket_order[rank]].example_index,
                    source,
                    dropped_demos: drops,
                    attempts,
                    pool_index: None,
                    score: None,
                    scores: Vec::new(),
                    merged: false,
                });
                if let Some((program, _, _)) = applied {
                    built.push((program, records.len() - 1));
                }
            }
        }

        if let Some(reason) = self.tripped() {
            return Ok(StepEnd::Stopped(reason));
        }

        // 6. Evaluate every candidate on the same mini-batch, own model settings.
        let programs: Vec<Arc<Program>> = built.iter().map(|(p, _)| Arc::new(p.clone())).collect();
        let mut jobs = Vec::with_capacity(programs.len() * bsize);
        for p in &programs {
            for &ex in &batch {
                jobs.push(Job {
                    program: p.clone(),
                    example: ex,
                    ov: ModelOverride::default(),
                });
            }
        }
        let outcomes = self
            .wave(&trainset, jobs, Some(step), Phase::Evaluating)
            .await;
        if let Some(reason) = self.tripped() {
            return Ok(StepEnd::Stopped(reason));
        }
        self.check_wave(&outcomes, &format!("step {step}, candidate evaluation"))?;
        let cand_scores: Vec<Vec<f64>> = (0..programs.len())
            .map(|c| {
                outcomes[c * bsize..(c + 1) * bsize]
                    .iter()
                    .map(|o| o.score.value)
                    .collect()
            })
            .collect();
        let means: Vec<f64> = cand_scores.iter().map(|s| mean_or_zero(s)).collect();

        // 7. Register every candidate; the best joins the winners.
        let best_local = argmax_first(&means);
        let mut winner = None;
        for (c, (program, rec)) in built.into_iter().enumerate() {
            let same = if self.decl.dedup {
                self.pool.find(&program)
            } else {
                None
            };
            let idx = match same {
                Some(i) => {
                    // Identical instructions and demos everywhere: one entry
                    // holding every score either earned.
                    self.pool.add_scores(i, cand_scores[c].iter().copied());
                    records[rec].merged = true;
                    i
                }
                None => self.pool.register(program, cand_scores[c].clone(), step),
            };
            records[rec].pool_index = Some(idx);
            records[rec].score = Some(means[c]);
            records[rec].scores = cand_scores[c].clone();
            if Some(c) == best_local {
                winner = Some(idx);
            }
        }
        let best_candidate_score = best_local.map(|c| means[c]);
        if let Some(w) = winner {
            self.winners.push(w);
        }
        if let Some(s) = best_candidate_score {
            self.best_so_far = Some(self.best_so_far.map_or(s, |b| b.max(s)));
        }
        let usage = self.usage.snapshot().since(&usage_before);
        self.step_usage.calls = self.step_usage.calls.max(usage.lm_calls);
        self.step_usage.tokens = self
            .step_usage
            .tokens
            .max(usage.prompt_tokens + usage.completion_tokens);
        self.events.emit(Event::StepFinished {
            step,
            candidate_scores: means.clone(),
            best_candidate_score,
            best_so_far: self.best_so_far,
            usage,
        });
        Ok(StepEnd::Done(Box::new(TrialRecord {
            step,
            batch,
            variants: variants
                .iter()
                .map(|ov| VariantRecord {
                    model: ov
                        .model
                        .clone()
                        .unwrap_or_else(|| self.pool.get(0).program.graph.lm.clone()),
                    temperature: ov.temperature,
                    rollout_id: ov.rollout_id,
                    seed: ov.seed,
                })
                .collect(),
            sampled_programs: sampled,
            batch_stats,
            buckets: bucket_records,
            candidates: records,
            winner,
            best_candidate_score,
            best_so_far: self.best_so_far,
            usage,
        })))
    }

    /// The end: evenly spaced winners on the full trainset, the best returned;
    /// baseline and best on the devset.
    async fn finish(
        &mut self,
    ) -> Result<(Program, CandidatesJson, ScorePair, ScorePair), OptimizeError> {
        let m = self.winners.len() - 1;
        let picks = final_indices(m, self.decl.num_candidates + 1);
        let n = self.trainset.len();
        let mut jobs = Vec::with_capacity(picks.len() * n);
        for &w in &picks {
            let program = self.pool.get(self.winners[w]).program.clone();
            for ex in 0..n {
                jobs.push(Job {
                    program: program.clone(),
                    example: ex,
                    ov: ModelOverride::default(),
                });
            }
        }
        let trainset = self.trainset.clone();
        let outcomes = self.wave(&trainset, jobs, None, Phase::Final).await;
        self.check_wave(&outcomes, "final evaluation on the trainset")?;
        let per: Vec<Vec<f64>> = (0..picks.len())
            .map(|c| {
                outcomes[c * n..(c + 1) * n]
                    .iter()
                    .map(|o| o.score.value)
                    .collect()
            })
            .collect();
        let means: Vec<f64> = per.iter().map(|s| mean_or_zero(s)).collect();
        let mut best = argmax_first(&means).unwrap_or(0);

        // Validation-aware selection: every pick (the baseline is pick 0)
        // scored on the valset or devset; the best there wins (ties: the
        // earlier).
        let mut val: Vec<Option<f64>> = vec![None; picks.len()];
        let mut dev: Vec<Option<f64>> = vec![None; picks.len()];
        if let Some((set, on)) = self.select.clone() {
            let sn = set.len();
            let mut jobs = Vec::with_capacity(picks.len() * sn);
            for &w in &picks {
                let program = self.pool.get(self.winners[w]).program.clone();
                for ex in 0..sn {
                    jobs.push(Job {
                        program: program.clone(),
                        example: ex,
                        ov: ModelOverride::default(),
                    });
                }
            }
            let phase = if on == SelectOn::Devset {
                Phase::Dev
            } else {
                Phase::Valset
            };
            let outcomes = self.wave(&set, jobs, None, phase).await;
            self.check_wave(&outcomes, "final evaluation for selection")?;
            let scores: Vec<f64> = (0..picks.len())
                .map(|c| {
                    let s: Vec<f64> = outcomes[c * sn..(c + 1) * sn]
                        .iter()
                        .map(|o| o.score.value)
                        .collect();
                    mean_or_zero(&s)
                })
                .collect();
            best = argmax_first(&scores).unwrap_or(0);
            let slot = if on == SelectOn::Devset {
                &mut dev
            } else {
                &mut val
            };
            for (c, s) in scores.into_iter().enumerate() {
                slot[c] = Some(s);
            }
        }

        // Dev scores of the baseline (always pick 0) and the best.
        if let Some(devset) = self.devset.clone().filter(|_| dev[0].is_none()) {
            let which: Vec<usize> = if best == 0 { vec![0] } else { vec![0, best] };
            let dn = devset.len();
            let mut jobs = Vec::new();
            for &c in &which {
                let program = self.pool.get(self.winners[picks[c]]).program.clone();
                for ex in 0..dn {
                    jobs.push(Job {
                        program: program.clone(),
                        example: ex,
                        ov: ModelOverride::default(),
                    });
                }
            }
            let outcomes = self.wave(&devset, jobs, None, Phase::Dev).await;
            self.check_wave(&outcomes, "evaluation on the devset")?;
            for (k, &c) in which.iter().enumerate() {
                let s: Vec<f64> = outcomes[k * dn..(k + 1) * dn]
                    .iter()
                    .map(|o| o.score.value)
                    .collect();
                dev[c] = Some(mean_or_zero(&s));
            }
        }

        let entries: Vec<CandidateEntry> = picks
            .iter()
            .enumerate()
            .map(|(c, &w)| {
                let entry = self.pool.get(self.winners[w]);
                CandidateEntry {
                    winner_index: w,
                    step: entry.step,
                    pool_index: self.winners[w],
                    train_score: means[c],
                    train_scores: per[c].clone(),
                    dev_score: dev[c],
                    val_score: val[c],
                    is_best: c == best,
                    predictors: entry.program.predictors.clone(),
                }
            })
            .collect();
        let candidates = CandidatesJson {
            schema: SCHEMA_VERSION,
            program: self.decl.program.clone(),
            metric: self.decl.metric.clone(),
            trainset_size: n,
            selected_on: self.select.as_ref().map(|(_, on)| {
                if *on == SelectOn::Devset {
                    "devset".to_string()
                } else {
                    "valset".to_string()
                }
            }),
            best,
            candidates: entries,
        };
        let best_program = (*self.pool.get(self.winners[picks[best]]).program).clone();
        let baseline = ScorePair {
            train: means[0],
            dev: dev[0],
        };
        let best_pair = ScorePair {
            train: means[best],
            dev: dev[best],
        };
        Ok((best_program, candidates, baseline, best_pair))
    }
}

/// Whether `order` holds each of `0..n` exactly once (a checkpoint's data
/// order indexes the trainset directly).
fn is_permutation(order: &[usize], n: usize) -> bool {
    let mut seen = vec![false; n];
    order.len() == n
        && order
            .iter()
            .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
}
