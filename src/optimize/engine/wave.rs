//! Waves of program executions: run concurrently at the block's
//! `concurrency`, collected by job index (so results never depend on timing),
//! then checked; and the scoring grid every evaluation wave is built from.

use futures::StreamExt;
use std::sync::Arc;

use crate::program::{ModelOverride, Program};
use crate::value::Example;

use crate::optimize::evaluator::Outcome;
use crate::optimize::events::{Event, Phase};
use crate::optimize::stop::StopReason;

use super::OptimizeError;
use super::run::Run;

/// One job of a wave: which program runs on which example with which model.
pub(super) struct Job {
    /// The program to run.
    pub program: Arc<Program>,
    /// Index into the wave's example set.
    pub example: usize,
    /// The model settings (a sampling variant, or none).
    pub ov: ModelOverride,
}

/// Why a step ended before its trial record.
pub(super) enum Halt {
    /// A budget refused a request; the step's work is discarded.
    Stopped(StopReason),
    /// The run cannot go on.
    Failed(OptimizeError),
}

impl From<OptimizeError> for Halt {
    fn from(e: OptimizeError) -> Self {
        Halt::Failed(e)
    }
}

/// Every program on every example of a list, with the program's own model
/// settings: the jobs of one wave (program-major), and that wave's scores
/// sliced per program.
pub(super) struct ScoreGrid {
    programs: Vec<Arc<Program>>,
    examples: Vec<usize>,
}

impl ScoreGrid {
    /// `programs` on the examples at `examples` (indices into the wave's set).
    pub fn new(programs: Vec<Arc<Program>>, examples: Vec<usize>) -> Self {
        Self { programs, examples }
    }

    /// `programs` on every example of a set of `len` examples.
    pub fn on_all(programs: Vec<Arc<Program>>, len: usize) -> Self {
        Self::new(programs, (0..len).collect())
    }

    /// The wave's jobs: the first program on every example, then the next.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::with_capacity(self.programs.len() * self.examples.len());
        for program in &self.programs {
            for &example in &self.examples {
                jobs.push(Job {
                    program: program.clone(),
                    example,
                    ov: ModelOverride::default(),
                });
            }
        }
        jobs
    }

    /// The scores of the wave's outcomes (in job order), one list per program.
    pub fn per_program(&self, outcomes: &[Outcome]) -> Vec<Vec<f64>> {
        let width = self.examples.len();
        (0..self.programs.len())
            .map(|p| {
                outcomes[p * width..(p + 1) * width]
                    .iter()
                    .map(|o| o.score.value)
                    .collect()
            })
            .collect()
    }
}

impl Run {
    /// Run a wave of executions at `concurrency`, results by job index.
    pub async fn wave(
        &self,
        examples: &Arc<Vec<Example>>,
        jobs: Vec<Job>,
        step: Option<usize>,
        phase: Phase,
    ) -> Vec<Outcome> {
        let total = jobs.len();
        let before = self.report.usage.snapshot();
        let mut out: Vec<Option<Outcome>> = vec![None; total];
        let concurrency = self.decl.concurrency.max(1);
        let mut stream = futures::stream::iter(jobs.into_iter().enumerate().map(|(i, job)| {
            let evaluator = self.tools.evaluator.clone();
            let examples = examples.clone();
            async move {
                let outcome = evaluator
                    .run(&job.program, &examples[job.example], &job.ov)
                    .await;
                (i, outcome)
            }
        }))
        .buffer_unordered(concurrency);
        let progress = |done| Event::Progress {
            step,
            phase,
            done,
            total,
        };
        let mut done = 0;
        self.report.events.emit(progress(done));
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
            self.report.events.emit(progress(done));
        }
        let used = self.report.usage.snapshot().since(&before);
        self.spending.note_wave(&used, total);
        out.into_iter()
            .map(|o| o.expect("every job yields one outcome"))
            .collect()
    }

    /// A wave of the loop: stopped when a budget refused one of its requests
    /// (checked first: refused requests fail executions), else checked.
    pub async fn loop_wave(
        &self,
        examples: &Arc<Vec<Example>>,
        jobs: Vec<Job>,
        step: usize,
        phase: Phase,
        context: &str,
    ) -> Result<Vec<Outcome>, Halt> {
        let outcomes = self.wave(examples, jobs, Some(step), phase).await;
        if let Some(reason) = self.spending.tripped() {
            return Err(Halt::Stopped(reason));
        }
        self.check_wave(&outcomes, context)?;
        Ok(outcomes)
    }

    /// A wave of the end, checked; the per-program scores of `grid` on `set`.
    pub async fn final_scores(
        &self,
        set: &Arc<Vec<Example>>,
        grid: &ScoreGrid,
        phase: Phase,
        context: &str,
    ) -> Result<Vec<Vec<f64>>, OptimizeError> {
        let outcomes = self.wave(set, grid.jobs(), None, phase).await;
        self.check_wave(&outcomes, context)?;
        Ok(grid.per_program(&outcomes))
    }

    /// Fail the run when no execution of a wave succeeded, or when the metric
    /// could not score any successful one and has scored nothing yet in this
    /// run (a metric that worked once and then failed a whole wave, such as a
    /// `command` program crashing, fails those calls only: they score 0).
    pub(super) fn check_wave(
        &self,
        outcomes: &[Outcome],
        context: &str,
    ) -> Result<(), OptimizeError> {
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
        let scored = &self.report.metric_scored;
        if ran.iter().any(|o| o.metric_error.is_none()) {
            scored.store(true, std::sync::atomic::Ordering::Relaxed);
        } else if !scored.load(std::sync::atomic::Ordering::Relaxed) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Score;
    use crate::program::Execution;

    fn scored(value: f64) -> Outcome {
        Outcome {
            execution: Execution {
                prediction: None,
                trace: vec![],
                error: None,
            },
            score: Score {
                value,
                feedback: None,
            },
            metric_error: None,
        }
    }

    fn empty_program() -> Program {
        Program::baseline(Arc::new(crate::ir::ProgramGraph {
            name: "p".into(),
            lm: "m".into(),
            inputs: vec![],
            steps: vec![],
            outputs: vec![],
            deps: vec![],
            spec_text: String::new(),
        }))
    }

    #[test]
    fn the_grid_runs_each_program_on_every_example_and_slices_per_program() {
        let a = Arc::new(empty_program());
        let b = Arc::new(empty_program());
        let grid = ScoreGrid::new(vec![a.clone(), b.clone()], vec![4, 1, 7]);
        let jobs = grid.jobs();
        let order: Vec<(bool, usize)> = jobs
            .iter()
            .map(|j| (Arc::ptr_eq(&j.program, &a), j.example))
            .collect();
        assert_eq!(
            order,
            vec![
                (true, 4),
                (true, 1),
                (true, 7),
                (false, 4),
                (false, 1),
                (false, 7)
            ]
        );
        let outcomes: Vec<Outcome> = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
            .into_iter()
            .map(scored)
            .collect();
        assert_eq!(
            grid.per_program(&outcomes),
            vec![vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]]
        );
        assert_eq!(ScoreGrid::on_all(vec![a], 2).jobs().len(), 2);
    }
}
