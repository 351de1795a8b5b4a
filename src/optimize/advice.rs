//! Parallel strategy application: the strategies of one wave of buckets run
//! concurrently (append_rule's advice requests overlap), and the results are
//! taken in bucket order, so the outcome is the same as applying them one
//! bucket after another.
//!
//! Every random draw for a bucket (source, dropped demos, strategy, seed) is
//! made by the coordinator before the wave starts; a strategy's result
//! depends only on its context and its copy of the candidate. Multi-strategy
//! fallback runs in rounds: round k gives every bucket still without a
//! candidate its (k+1)-th strategy, all at once.

use futures::future::join_all;
use indexmap::IndexMap;
use std::sync::Arc;

use crate::program::Program;

use super::strategy::{Strategy, StrategyContext};
use crate::artifacts::{AttemptRecord, AttemptResult};

/// What one bucket's strategy attempts produced.
#[derive(Debug)]
pub struct Applied {
    /// Every attempt, the drawn strategy first.
    pub attempts: Vec<AttemptRecord>,
    /// The candidate, the strategy that built it and its detail.
    pub candidate: Option<(Program, String, String)>,
}

/// Apply strategies to every bucket of a wave: bucket `i` starts with
/// strategy `first[i]`, then the others cyclically after it, each on a fresh copy
/// of `candidates[i]`, until one applies. Results in bucket order.
pub async fn apply_wave(
    strategies: &[Arc<dyn Strategy>],
    contexts: &[StrategyContext<'_>],
    candidates: &[Program],
    first: &[usize],
) -> Vec<Applied> {
    let n = strategies.len();
    let mut out: Vec<Applied> = (0..contexts.len())
        .map(|_| Applied {
            attempts: Vec::new(),
            candidate: None,
        })
        .collect();
    for k in 0..n {
        let active: Vec<usize> = (0..contexts.len())
            .filter(|&i| out[i].candidate.is_none())
            .collect();
        if active.is_empty() {
            break;
        }
        let results = join_all(active.iter().map(|&i| {
            let strategy = strategies[(first[i] + k) % n].clone();
            let mut trial = candidates[i].clone();
            let ctx = &contexts[i];
            async move {
                let r = strategy.apply(ctx, &mut trial).await;
                (strategy.name(), trial, r)
            }
        }))
        .await;
        for (&i, (name, trial, result)) in active.iter().zip(results) {
            match result {
                Ok(report) => {
                    let ok = report.applied;
                    out[i].attempts.push(AttemptRecord {
                        strategy: name.clone(),
                        result: if ok {
                            AttemptResult::Applied
                        } else {
                            AttemptResult::Skipped
                        },
                        detail: report.detail.clone(),
                        unmatched_advice: report.unmatched_advice,
                    });
                    if ok {
                        out[i].candidate = Some((trial, name, report.detail));
                    }
                }
                Err(e) => out[i].attempts.push(AttemptRecord {
                    strategy: name,
                    result: AttemptResult::Failed,
                    detail: e.0,
                    unmatched_advice: IndexMap::new(),
                }),
            }
        }
    }
    out
}
