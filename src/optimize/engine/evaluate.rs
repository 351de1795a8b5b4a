//! SIMBA steps 6 and 7 (docs/optimizer.md): every candidate evaluated on the
//! step's mini-batch, then registered in the pool; the best joins the
//! winners.

use std::sync::Arc;

use crate::program::Program;

use crate::artifacts::CandidateRecord;
use crate::optimize::events::Phase;
use crate::optimize::pool::mean_or_zero;
use crate::optimize::select::argmax_first;

use super::candidates::Candidates;
use super::run::Run;
use super::wave::{Halt, ScoreGrid};

/// Step 7's result.
pub(super) struct Registered {
    /// Every candidate's record, completed with its pool index and scores.
    pub records: Vec<CandidateRecord>,
    /// Every built candidate's mean score, in build order.
    pub means: Vec<f64>,
    /// Pool index of the step's winner (None when nothing was built).
    pub winner: Option<usize>,
    /// The winner's mean score.
    pub best_candidate_score: Option<f64>,
}

impl Run {
    /// Step 6: every candidate on the same mini-batch with its own model
    /// settings; its scores, per candidate.
    pub async fn evaluate_candidates(
        &self,
        step: usize,
        batch: &[usize],
        candidates: &Candidates,
    ) -> Result<Vec<Vec<f64>>, Halt> {
        let programs: Vec<Arc<Program>> = candidates
            .built
            .iter()
            .map(|b| Arc::new(b.program.clone()))
            .collect();
        let grid = ScoreGrid::new(programs, batch.to_vec());
        let trainset = self.data.trainset.clone();
        let context = format!("step {step}, candidate evaluation");
        let outcomes = self
            .loop_wave(&trainset, grid.jobs(), step, Phase::Evaluating, &context)
            .await?;
        Ok(grid.per_program(&outcomes))
    }

    /// Step 7: every candidate joins the pool with its scores (with `dedup`,
    /// a copy of a pool program adds its scores to that entry); the best
    /// (ties: the first built) joins the winners.
    pub fn register_candidates(
        &mut self,
        step: usize,
        candidates: Candidates,
        scores: &[Vec<f64>],
    ) -> Registered {
        let Candidates { built, mut records } = candidates;
        let means: Vec<f64> = scores.iter().map(|s| mean_or_zero(s)).collect();
        let best_local = argmax_first(&means);
        let mut winner = None;
        for (c, candidate) in built.into_iter().enumerate() {
            let record = &mut records[candidate.record];
            let same = if self.decl.dedup {
                self.progress.pool.find(&candidate.program)
            } else {
                None
            };
            let idx = match same {
                Some(i) => {
                    // Identical instructions and demos everywhere: one entry
                    // holding every score either earned.
                    self.progress.pool.add_scores(i, scores[c].iter().copied());
                    record.merged = true;
                    i
                }
                None => self
                    .progress
                    .pool
                    .register(candidate.program, scores[c].clone(), step),
            };
            record.pool_index = Some(idx);
            record.score = Some(means[c]);
            record.scores = scores[c].clone();
            if Some(c) == best_local {
                winner = Some(idx);
            }
        }
        let best_candidate_score = best_local.map(|c| means[c]);
        if let Some(w) = winner {
            self.progress.winners.push(w);
        }
        if let Some(s) = best_candidate_score {
            let best = &mut self.progress.best_so_far;
            *best = Some(best.map_or(s, |b| b.max(s)));
        }
        Registered {
            records,
            means,
            winner,
            best_candidate_score,
        }
    }
}
