//! SIMBA steps 1-3 (docs/optimizer.md): the mini-batch, the sampling
//! variants, and the trajectories: a program drawn from the pool for every
//! (variant, example) pair, run with that variant and scored.

use rand::seq::SliceRandom;

use crate::ir::Selection;
use crate::program::ModelOverride;

use crate::optimize::events::{Event, Phase};
use crate::optimize::pool::softmax_pick;
use crate::optimize::strategy::Trajectory;
use crate::optimize::thompson::{is_binary, thompson_pick};
use crate::optimize::variants::sampling_variants;

use super::run::Run;
use super::wave::{Halt, Job};

/// The pool's standings a step draws programs from (steps 3 and 5), taken
/// once before its sampling wave.
pub(super) struct Standings {
    /// `top_k_plus_baseline(num_candidates)`.
    pub top: Vec<usize>,
    /// Every pool entry's average score.
    pub averages: Vec<f64>,
}

/// Step 3's result: every trajectory of the step, variant-major (all
/// examples of the first variant, then the next).
pub(super) struct Sampled {
    /// Pool index of the program each trajectory ran: `[variant][position]`.
    pub programs: Vec<Vec<usize>>,
    /// Every (variant, example) pair's run and score.
    pub trajectories: Vec<Trajectory>,
    /// The trajectories' scores, same order.
    pub scores: Vec<f64>,
    /// How many executions failed (they score 0).
    pub failed_executions: usize,
}

impl Run {
    /// Step 1: the next `bsize` examples of the shuffled data order,
    /// reshuffled from the start when fewer remain.
    pub fn mini_batch(&mut self, step: usize) -> Vec<usize> {
        let bsize = self.data.bsize;
        let p = &mut self.progress;
        if p.cursor + bsize > p.data_order.len() {
            p.data_order.shuffle(&mut p.rngs.choices);
            p.cursor = 0;
        }
        let batch = p.data_order[p.cursor..p.cursor + bsize].to_vec();
        p.cursor += bsize;
        self.report.events.emit(Event::StepStarted {
            step,
            max_steps: self.decl.max_steps,
            batch: batch.clone(),
        });
        batch
    }

    /// Step 2: the sampling models, teacher first.
    pub fn sampling_variants(&self) -> Vec<ModelOverride> {
        sampling_variants(&self.tools.variant_cfg)
    }

    /// The standings steps 3 and 5 draw from.
    pub fn standings(&self) -> Standings {
        Standings {
            top: self
                .progress
                .pool
                .top_k_plus_baseline(self.decl.num_candidates),
            averages: self.progress.pool.averages(),
        }
    }

    /// Step 3: every program pick drawn here, in (variant, example) order,
    /// then one wave runs them all.
    pub async fn sample_trajectories(
        &mut self,
        step: usize,
        batch: &[usize],
        variants: &[ModelOverride],
        standings: &Standings,
    ) -> Result<Sampled, Halt> {
        let temperature = self.decl.temperature_for_sampling;
        let mut programs: Vec<Vec<usize>> = Vec::with_capacity(variants.len());
        let mut jobs = Vec::with_capacity(variants.len() * batch.len());
        for ov in variants {
            let mut row = Vec::with_capacity(batch.len());
            for &example in batch {
                let p = self.pick(standings, temperature);
                row.push(p);
                jobs.push(Job {
                    program: self.progress.pool.get(p).program.clone(),
                    example,
                    ov: ov.clone(),
                });
            }
            programs.push(row);
        }
        let trainset = self.data.trainset.clone();
        let context = format!("step {step}, trajectory sampling");
        let outcomes = self
            .loop_wave(&trainset, jobs, step, Phase::Sampling, &context)
            .await?;
        let scores: Vec<f64> = outcomes.iter().map(|o| o.score.value).collect();
        let ran = |j: usize| programs[j / batch.len()][j % batch.len()];
        if self.decl.selection == Selection::Thompson {
            // Thompson needs the baseline's mean for its prior, and DSPy never
            // scores the baseline in the loop: credit it with the scores of
            // the trajectories that ran it (in job order).
            let credited: Vec<f64> = (0..scores.len())
                .filter(|&j| ran(j) == 0)
                .map(|j| scores[j])
                .collect();
            self.progress.pool.add_scores(0, credited);
        }
        let failed_executions = outcomes
            .iter()
            .filter(|o| o.execution.error.is_some())
            .count();
        let trajectories = outcomes
            .into_iter()
            .enumerate()
            .map(|(j, o)| Trajectory {
                program: ran(j),
                variant: j / batch.len(),
                execution: o.execution,
                score: o.score,
            })
            .collect();
        Ok(Sampled {
            programs,
            trajectories,
            scores,
            failed_executions,
        })
    }

    /// Draw a program from the standings' top: softmax over averages at
    /// `temperature`, or a Thompson draw (see thompson.rs), one coordinator
    /// draw per call.
    pub fn pick(&mut self, standings: &Standings, temperature: f64) -> usize {
        let Standings { top, averages } = standings;
        let choices = &mut self.progress.rngs.choices;
        match self.decl.selection {
            Selection::Softmax => softmax_pick(choices, top, averages, temperature),
            Selection::Thompson => {
                // The scores as they are now (the baseline's credit
                // included); its prior mean from the standings.
                let entries = self.progress.pool.entries();
                let scores: Vec<&[f64]> = entries.iter().map(|e| e.scores.as_slice()).collect();
                let binary = is_binary(entries.iter().flat_map(|e| e.scores.iter()));
                let baseline = if entries[0].scores.is_empty() {
                    0.5
                } else {
                    averages[0]
                };
                thompson_pick(choices, top, &scores, baseline, binary)
            }
        }
    }
}
