//! The coordinator's state, grouped by job, and its life outside the steps:
//! construction from an [`OptimizeInput`] (checks, warnings, the first data
//! order), the checkpoint after a step and the restore from one.

use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ir::{FinalSelection, OptimizeDecl, SelectOn};
use crate::program::Program;
use crate::value::Example;

use crate::optimize::checkpoint::{
    CHECKPOINT_SCHEMA, Checkpoint, Fingerprint, PoolEntryState, RngState, RunFacts, ScoreRange,
};
use crate::optimize::evaluator::{Evaluator, UsageCounter};
use crate::optimize::events::{Event, EventSink};
use crate::optimize::pool::{Entry, Pool};
use crate::optimize::rng::Rngs;
use crate::optimize::stop::Budget;
use crate::optimize::strategy::{PromptModel, Strategy};
use crate::optimize::variants::VariantConfig;

use super::budget::Spending;
use super::{History, OptimizeError, OptimizeInput, RunOptions};

/// The coordinator's state.
pub(super) struct Run {
    /// The optimize block, with defaults and overrides applied.
    pub decl: OptimizeDecl,
    /// The examples.
    pub data: DataSets,
    /// Evaluator, strategies, prompt model, sampling variants.
    pub tools: Tools,
    /// Pool, winners, random streams, data order.
    pub progress: Progress,
    /// Budgets and the usage estimates they use.
    pub spending: Spending,
    /// Usage counter, events, run.json's context.
    pub report: Reporting,
    /// What a checkpoint must match to continue this run.
    pub resume_check: ResumeCheck,
}

/// What a checkpoint is tied to besides the settings.
pub(super) struct ResumeCheck {
    /// Hashes of the run's inputs: the data rows and program, and the
    /// caller's parts (metric, models, plugins).
    pub fingerprint: Fingerprint,
    /// What the metric can score.
    pub scores: ScoreRange,
}

/// The examples a run reads.
pub(super) struct DataSets {
    /// The examples the loop learns from (never empty).
    pub trainset: Arc<Vec<Example>>,
    /// None when the block names no devset or it is empty.
    pub devset: Option<Arc<Vec<Example>>>,
    /// Where the final candidates are chosen (None: the trainset).
    pub select: Option<SelectSet>,
    /// The mini-batch size used: bsize clamped to the trainset size.
    pub bsize: usize,
}

/// The split a validation-aware final selection scores on.
#[derive(Clone)]
pub(super) struct SelectSet {
    /// The split's examples (never empty).
    pub examples: Arc<Vec<Example>>,
    /// `Valset` or `Devset`.
    pub on: SelectOn,
}

/// What does the work: runs programs, builds candidates, samples.
pub(super) struct Tools {
    /// Runs and scores programs.
    pub evaluator: Arc<dyn Evaluator>,
    /// The block's strategies, in order (step 5).
    pub strategies: Vec<Arc<dyn Strategy>>,
    /// The model append_rule asks.
    pub prompt: Option<PromptModel>,
    /// What step 2's sampling variants are built from.
    pub variant_cfg: VariantConfig,
}

/// Where the search stands: everything a checkpoint saves besides the
/// history and the budgets.
pub(super) struct Progress {
    /// Every program seen, with the scores it earned.
    pub pool: Pool,
    /// Pool indices of the winners: the baseline, then each step's best.
    pub winners: Vec<usize>,
    /// The coordinator's random streams.
    pub rngs: Rngs,
    /// The shuffled trainset indices mini-batches are read from.
    pub data_order: Vec<usize>,
    /// The next unread position of `data_order`.
    pub cursor: usize,
    /// The best candidate score of any step so far.
    pub best_so_far: Option<f64>,
}

/// What the run tells the outside: usage, events, run.json's context.
pub(super) struct Reporting {
    /// Counts every LM request of the run.
    pub usage: Arc<UsageCounter>,
    /// Where progress events go.
    pub events: EventSink,
    /// The spec file, for run.json.
    pub spec_path: Option<PathBuf>,
    /// Every warning, for run.json.
    pub warnings: Vec<String>,
    /// Whether the metric has scored any prediction of this run: once it
    /// has, a wave it scored none of (a `command` program crashing on each
    /// call in flight) scores them 0 rather than failing the run.
    pub metric_scored: std::sync::atomic::AtomicBool,
}

impl Run {
    /// Check the input, settle the data sets and announce the run.
    pub fn new(input: OptimizeInput, options: &RunOptions) -> Result<Self, OptimizeError> {
        check_config(&input)?;
        let mut fingerprint = Fingerprint::of_run(
            &input.trainset,
            input.devset.as_deref(),
            input.valset.as_deref(),
            &input.baseline.graph,
        );
        fingerprint.extend(&options.fingerprint);
        let decl = input.decl;
        // Warnings found here are announced right after RunStarted.
        let mut late: Vec<String> = Vec::new();
        let data = DataSets::new(&decl, input.trainset, input.devset, input.valset, &mut late)?;
        // Installed even without a cap: what is spent goes into checkpoints.
        let budget = Arc::new(Budget::new(&decl.stop, Instant::now(), &options.prices));
        input.usage.set_budget(budget.clone());
        let mut rngs = Rngs::new(decl.seed);
        let mut data_order: Vec<usize> = (0..data.trainset.len()).collect();
        data_order.shuffle(&mut rngs.choices);
        input.events.emit(Event::RunStarted {
            program: decl.program.clone(),
            max_steps: decl.max_steps,
            bsize: data.bsize,
            num_candidates: decl.num_candidates,
            trainset_size: data.trainset.len(),
        });
        for message in &late {
            input.events.emit(Event::Warning {
                message: message.clone(),
            });
        }
        let mut warnings = input.warnings;
        warnings.extend(late);
        Ok(Self {
            data,
            tools: Tools {
                evaluator: input.evaluator,
                strategies: input.strategies,
                prompt: input.prompt,
                variant_cfg: VariantConfig {
                    scheme: decl.resample,
                    num_candidates: decl.num_candidates,
                    teacher: decl.teacher.clone(),
                    base_temperature: input.base_temperature,
                    model_id: input.model_id,
                    first_rollout_id: 0,
                    run_seed: decl.seed,
                },
            },
            progress: Progress {
                pool: Pool::new(input.baseline),
                winners: vec![0],
                rngs,
                data_order,
                cursor: 0,
                best_so_far: None,
            },
            spending: Spending::new(budget),
            report: Reporting {
                usage: input.usage,
                events: input.events,
                spec_path: input.spec_path,
                warnings,
                metric_scored: std::sync::atomic::AtomicBool::new(false),
            },
            resume_check: ResumeCheck {
                fingerprint,
                scores: input.score_range,
            },
            decl,
        })
    }

    /// The state after `steps_done` finished steps.
    pub fn checkpoint(&self, steps_done: usize, history: &History) -> Checkpoint {
        let spent = self.spending.spent();
        let progress = &self.progress;
        Checkpoint {
            schema: CHECKPOINT_SCHEMA,
            simba_run_version: env!("CARGO_PKG_VERSION").into(),
            config: self.decl.clone(),
            fingerprint: self.resume_check.fingerprint.clone(),
            steps_done,
            pool: progress
                .pool
                .entries()
                .iter()
                .map(|e| PoolEntryState {
                    predictors: e.program.predictors.clone(),
                    scores: e.scores.clone(),
                    step: e.step,
                })
                .collect(),
            winners: progress.winners.clone(),
            rng_choices: RngState::of(&progress.rngs.choices),
            rng_poisson: RngState::of(&progress.rngs.poisson),
            data_order: progress.data_order.clone(),
            cursor: progress.cursor,
            best_so_far: progress.best_so_far,
            trials: history.trials.clone(),
            step_durations_ms: history.step_ms.clone(),
            step_requests: history.step_requests.clone(),
            usage: self.report.usage.snapshot(),
            cached_calls: self.report.usage.cached(),
            convergence: history.convergence.clone(),
            spent_usd: spent.cost,
            per_execution: self.spending.per_execution().into(),
            elapsed_ms: history.started.elapsed().as_millis() as u64,
        }
    }

    /// Continue from a checkpoint: refused unless it fits this run (see
    /// [`Checkpoint::validate`]) and its spending leaves room under the
    /// caps; `elapsed` is the time the interrupted run already took.
    pub fn restore(&mut self, cp: &Checkpoint, elapsed: Duration) -> Result<(), OptimizeError> {
        let program = self.decl.program.clone();
        let bad = move |message: String| OptimizeError::Config {
            program: program.clone(),
            message: format!("cannot resume: {message}"),
        };
        let baseline = self.progress.pool.get(0).program.clone();
        let facts = RunFacts {
            decl: &self.decl,
            fingerprint: &self.resume_check.fingerprint,
            baseline: &baseline.predictors,
            trainset_len: self.data.trainset.len(),
            scores: self.resume_check.scores,
        };
        cp.validate(&facts).map_err(|e| bad(e.to_string()))?;
        // Validated above: both streams restore.
        let rngs = Rngs {
            choices: cp.rng_choices.restore().map_err(&bad)?,
            poisson: cp.rng_poisson.restore().map_err(&bad)?,
        };
        self.spending.restore(cp, elapsed).map_err(&bad)?;
        self.progress = Progress {
            pool: restored_pool(&baseline, cp),
            winners: cp.winners.clone(),
            rngs,
            data_order: cp.data_order.clone(),
            cursor: cp.cursor,
            best_so_far: cp.best_so_far,
        };
        self.report.usage.restore(&cp.usage, cp.cached_calls);
        Ok(())
    }

    /// The error of a checkpoint that could not be written.
    pub fn checkpoint_error(&self, message: String) -> OptimizeError {
        OptimizeError::Checkpoint {
            program: self.decl.program.clone(),
            message,
        }
    }
}

/// Refuse a configuration the loop cannot run with.
fn check_config(input: &OptimizeInput) -> Result<(), OptimizeError> {
    let decl = &input.decl;
    let problem = if input.trainset.is_empty() {
        Some(format!("the trainset `{}` is empty", decl.trainset))
    } else if decl.bsize == 0 {
        Some("bsize must be at least 1".into())
    } else if decl.num_candidates == 0 {
        Some("num_candidates must be at least 1".into())
    } else if decl.max_steps > 0 && input.strategies.is_empty() {
        Some("no strategy is configured".into())
    } else if !(decl.temperature_for_sampling > 0.0 && decl.temperature_for_candidates > 0.0) {
        Some("temperature_for_sampling and temperature_for_candidates must be positive".into())
    } else if decl.final_selection == FinalSelection::Race
        && input.score_range.finite_bounds().is_none()
    {
        Some(format!(
            "`final = race` needs a metric whose scores are bounded, but metric `{}` can score {}; bound it (min/max or a comparison in an expression, `range = [lo, hi]` on a command) or use `final = full`",
            decl.metric,
            input.score_range.describe()
        ))
    } else {
        None
    };
    match problem {
        Some(message) => Err(OptimizeError::Config {
            program: decl.program.clone(),
            message,
        }),
        None => Ok(()),
    }
}

impl DataSets {
    /// The run's data sets: bsize clamped to the trainset, an empty devset
    /// dropped (both with a warning pushed to `warnings`), and the split the
    /// final selection scores on.
    fn new(
        decl: &OptimizeDecl,
        trainset: Vec<Example>,
        devset: Option<Vec<Example>>,
        valset: Option<Vec<Example>>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, OptimizeError> {
        let config = |message: &str| OptimizeError::Config {
            program: decl.program.clone(),
            message: message.into(),
        };
        let bsize = if decl.bsize > trainset.len() {
            // After `valset = auto` the trainset is no longer the file's
            // size: say what is left and why.
            let size = match valset.as_ref().filter(|_| decl.valset_auto) {
                Some(held) => format!(
                    "{} rows left after valset = auto held {} out",
                    trainset.len(),
                    held.len()
                ),
                None => format!("{} examples", trainset.len()),
            };
            warnings.push(format!(
                "optimize `{}`: bsize {} is larger than the trainset `{}` ({size}); using bsize = {}",
                decl.program,
                decl.bsize,
                decl.trainset,
                trainset.len()
            ));
            trainset.len()
        } else {
            decl.bsize
        };
        let mut devset = devset.map(Arc::new);
        if devset.as_ref().is_some_and(|d| d.is_empty()) {
            warnings.push(format!(
                "optimize `{}`: the devset is empty; dev scores are skipped",
                decl.program
            ));
            devset = None;
        }
        let select = match decl.select_on {
            SelectOn::Trainset => None,
            SelectOn::Valset => match valset {
                Some(v) if !v.is_empty() => Some(SelectSet {
                    examples: Arc::new(v),
                    on: SelectOn::Valset,
                }),
                _ => return Err(config("select_on = valset needs a non-empty valset")),
            },
            SelectOn::Devset => match &devset {
                Some(d) => Some(SelectSet {
                    examples: d.clone(),
                    on: SelectOn::Devset,
                }),
                None => return Err(config("select_on = devset needs a non-empty devset")),
            },
        };
        Ok(Self {
            trainset: Arc::new(trainset),
            devset,
            select,
            bsize,
        })
    }
}

/// The checkpoint's pool (validated) on the baseline's graph.
fn restored_pool(baseline: &Program, cp: &Checkpoint) -> Pool {
    let entries = cp
        .pool
        .iter()
        .map(|e| Entry {
            program: Arc::new(Program {
                graph: baseline.graph.clone(),
                predictors: e.predictors.clone(),
            }),
            scores: e.scores.clone(),
            step: e.step,
        })
        .collect();
    Pool::from_entries(entries)
}
