//! SIMBA step 5 (docs/optimizer.md): candidates built from the ordered
//! buckets, in waves of as many buckets as candidates are still missing
//! (each bucket yields at most one, so exactly the buckets a one-by-one pass
//! would process): every draw first, in bucket order, then the wave's
//! strategies concurrently (see advice.rs), with fallback to the others.

use rand::RngExt;

use crate::program::Program;

use crate::artifacts::{BatchStats, CandidateRecord};
use crate::optimize::advice::{Applied, apply_wave};
use crate::optimize::events::Event;
use crate::optimize::strategy::StrategyContext;

use super::buckets::Buckets;
use super::run::Run;
use super::sample::Standings;

/// The coordinator's draws for one bucket, made before its wave runs.
struct Draw {
    /// The bucket's position in processing order.
    rank: usize,
    /// Pool index of the program copied.
    source: usize,
    /// The copy, its dropped demos removed.
    program: Program,
    /// The demo positions dropped from every predictor.
    dropped: Vec<usize>,
    /// Index of the strategy tried first.
    first_strategy: usize,
    /// The strategy's own seed.
    seed: u64,
}

/// A candidate a strategy built.
pub(super) struct Built {
    /// The candidate program.
    pub program: Program,
    /// Its record's index in [`Candidates::records`].
    pub record: usize,
}

/// Step 5's result.
pub(super) struct Candidates {
    /// The candidates built, in bucket order.
    pub built: Vec<Built>,
    /// One record per bucket processed, built or not.
    pub records: Vec<CandidateRecord>,
}

impl Run {
    /// Step 5: up to `num_candidates + 1` candidates from `buckets`.
    pub async fn build_candidates(
        &mut self,
        step: usize,
        buckets: &Buckets,
        stats: &BatchStats,
        standings: &Standings,
    ) -> Candidates {
        let wanted = self.decl.num_candidates + 1;
        let mut out = Candidates {
            built: Vec::new(),
            records: Vec::new(),
        };
        let mut next = 0;
        while out.built.len() < wanted && next < buckets.order.len() {
            let end = (next + wanted - out.built.len()).min(buckets.order.len());
            let draws: Vec<Draw> = (next..end)
                .map(|rank| self.draw_candidate(rank, standings))
                .collect();
            next = end;
            let results = self.apply_strategies(step, buckets, stats, &draws).await;
            for (draw, applied) in draws.into_iter().zip(results) {
                self.record_candidate(step, buckets, draw, applied, &mut out);
            }
        }
        out
    }

    /// The draws for the bucket at `rank`: the source program, the demos
    /// dropped from its copy, the first strategy and the strategy's seed.
    fn draw_candidate(&mut self, rank: usize, standings: &Standings) -> Draw {
        let source = self.pick(standings, self.decl.temperature_for_candidates);
        let mut program: Program = (*self.progress.pool.get(source).program).clone();
        let most = program
            .predictors
            .values()
            .map(|p| p.demos.len())
            .max()
            .unwrap_or(0);
        let rngs = &mut self.progress.rngs;
        let dropped = rngs.demo_drops(most, self.decl.max_demos);
        drop_demos(&mut program, &dropped);
        let first_strategy = rngs.choices.random_range(0..self.tools.strategies.len());
        let seed: u64 = rngs.choices.random();
        Draw {
            rank,
            source,
            program,
            dropped,
            first_strategy,
            seed,
        }
    }

    /// Every draw's strategies at once; results in draw order.
    async fn apply_strategies(
        &self,
        step: usize,
        buckets: &Buckets,
        stats: &BatchStats,
        draws: &[Draw],
    ) -> Vec<Applied> {
        let contexts: Vec<StrategyContext> = draws
            .iter()
            .map(|d| StrategyContext {
                bucket: buckets.ranked(d.rank),
                p10: stats.p10,
                p90: stats.p90,
                seed: d.seed,
                step,
                max_demos: self.decl.max_demos,
                demo_input_field_maxlen: self.decl.demo_input_field_maxlen,
                prompt: self.tools.prompt.as_ref(),
            })
            .collect();
        let programs: Vec<Program> = draws.iter().map(|d| d.program.clone()).collect();
        let firsts: Vec<usize> = draws.iter().map(|d| d.first_strategy).collect();
        apply_wave(&self.tools.strategies, &contexts, &programs, &firsts).await
    }

    /// Announce and record what the strategies made of one draw.
    fn record_candidate(
        &self,
        step: usize,
        buckets: &Buckets,
        draw: Draw,
        applied: Applied,
        out: &mut Candidates,
    ) {
        let Applied {
            attempts,
            candidate,
        } = applied;
        let (strategy, detail) = match &candidate {
            Some((_, name, detail)) => (Some(name.clone()), detail.clone()),
            // Nothing applied: every attempt's reason.
            None => (
                None,
                attempts
                    .iter()
                    .map(|a| format!("{}: {}", a.strategy, a.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        self.report.events.emit(Event::CandidateBuilt {
            step,
            bucket: draw.rank,
            source: draw.source,
            strategy,
            detail,
        });
        out.records.push(CandidateRecord {
            bucket: draw.rank,
            example: buckets.ranked(draw.rank).example_index,
            source: draw.source,
            dropped_demos: draw.dropped,
            attempts,
            pool_index: None,
            score: None,
            scores: Vec::new(),
            merged: false,
        });
        if let Some((program, _, _)) = candidate {
            out.built.push(Built {
                program,
                record: out.records.len() - 1,
            });
        }
    }
}

/// Remove the demos at `positions` from every predictor of `program`.
fn drop_demos(program: &mut Program, positions: &[usize]) {
    if positions.is_empty() {
        return;
    }
    for p in program.predictors.values_mut() {
        p.demos = p
            .demos
            .drain(..)
            .enumerate()
            .filter(|(i, _)| !positions.contains(i))
            .map(|(_, demo)| demo)
            .collect();
    }
}
