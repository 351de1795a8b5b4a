//! The mini-batch scores a checkpoint holds twice agree: each trial record's
//! candidate scores (one per mini-batch example, their mean as the
//! candidate's score) and the pool entries that earned them. The race of
//! `final = race` reuses these scores, so an edited copy would change the
//! program it returns.
//!
//! A consistent edit of both copies cannot be told from a real run: the
//! checkpoint is not signed (docs/security.md says so).

use super::{Checkpoint, validate::Check};
use crate::artifacts::TrialRecord;
use crate::optimize::pool::mean_or_zero;

/// How far a recorded mean may be from the mean of its scores (the writer
/// computed it the same way; this only allows for a rewritten file).
const MEAN_TOLERANCE: f64 = 1e-9;

impl Checkpoint {
    /// Every candidate record has one score per mini-batch example with
    /// their mean as its score (none without a candidate), and every pool
    /// entry after the baseline holds exactly the scores its records gave it.
    /// The baseline's scores are checked only without Thompson selection,
    /// which credits it with trajectory scores as well.
    pub(super) fn earned_scores(&self, baseline_credited: bool) -> Check {
        let mut earned: Vec<Vec<f64>> = vec![Vec::new(); self.pool.len()];
        for (r, t) in self.trials.iter().enumerate() {
            record_scores(t)
                .map_err(|m| ("trials", format!("record {} (step {}): {m}", r + 1, t.step)))?;
            for c in &t.candidates {
                if let Some(entry) = c.pool_index.and_then(|i| earned.get_mut(i)) {
                    entry.extend_from_slice(&c.scores);
                }
            }
        }
        let skip = usize::from(baseline_credited);
        for (i, (entry, expected)) in self.pool.iter().zip(&earned).enumerate().skip(skip) {
            if !same_scores(&entry.scores, expected) {
                return Err((
                    "pool",
                    format!(
                        "entry {i} holds {} scores that are not the {} the trial records gave it",
                        entry.scores.len(),
                        expected.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One record's candidates: scores per batch example, mean as the score.
fn record_scores(t: &TrialRecord) -> Result<(), String> {
    for (k, c) in t.candidates.iter().enumerate() {
        match (c.pool_index, c.score) {
            (Some(_), Some(score)) => {
                if c.scores.len() != t.batch.len() {
                    return Err(format!(
                        "candidate {k} has {} scores for a mini-batch of {}",
                        c.scores.len(),
                        t.batch.len()
                    ));
                }
                let mean = mean_or_zero(&c.scores);
                if (mean - score).abs() > MEAN_TOLERANCE * score.abs().max(1.0) {
                    return Err(format!(
                        "candidate {k} has score {score}, but its scores average {mean}"
                    ));
                }
            }
            (None, None) if c.scores.is_empty() => {}
            _ => {
                return Err(format!(
                    "candidate {k} has a score without a pool entry, or the reverse"
                ));
            }
        }
    }
    Ok(())
}

/// Equal lists, bit for bit (the JSON round trip of an f64 is exact).
fn same_scores(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
