//! SIMBA (Stochastic Introspective Mini-Batch Ascent), as SIMBA.md describes
//! it: DSPy parity by default, plus opt-in additions (issue 8): stop rules
//! and budgets, checkpoint/resume, Thompson selection, pool dedup,
//! validation-aware final selection; multi-strategy fallback and parallel
//! advice are result-neutral.
//!
//! | file | job |
//! |---|---|
//! | `engine/` | the loop, one file per phase: mini-batches and sampling, buckets, candidates, evaluation and winners, the end |
//! | `pool.rs` | the program pool, `top_k_plus_baseline`, softmax selection |
//! | `thompson.rs` | `selection = thompson`: posteriors and draws |
//! | `stats.rs` | percentiles, bucket keys and ordering |
//! | `rng.rs` | the two seeded random streams, Poisson demo dropping |
//! | `variants.rs` | sampling model variants (`resample = rollout / temperature`) |
//! | `select.rs` | the final evenly spaced selection, tie rules |
//! | `race/` | `final = race`: rounds, eliminations by a confidence bound |
//! | `strategy/` | the `Strategy` trait, `append_demo`, `append_rule` |
//! | `advice.rs` | a wave of buckets' strategies run concurrently, results in order |
//! | `below_baseline.rs` | the warning when the returned program loses to the baseline on held-out rows |
//! | `estimate.rs` | `--dry-run`: LM calls per phase |
//! | `evaluator.rs` | the `Evaluator` seam, LM usage counting |
//! | `stop/` | stop rules: convergence between steps, budgets on every request |
//! | `checkpoint/` | checkpoint.json after every step; resume, checked against the run |
//! | `events.rs` | progress events for the CLI |
//!
//! The engine never touches the terminal or the filesystem during the loop:
//! it reports [`events::Event`]s and returns an [`engine::OptimizeOutput`]
//! whose [`engine::OptimizeOutput::write`] stages every artifact before the
//! first rename.

pub mod advice;
pub mod below_baseline;
pub mod checkpoint;
pub mod engine;
pub mod estimate;
pub mod evaluator;
pub mod events;
pub mod pool;
pub mod race;
pub mod rng;
pub mod runtime;
pub mod select;
pub mod stats;
pub mod stop;
pub mod strategy;
pub mod thompson;
pub mod variants;

pub use engine::{
    OptimizeError, OptimizeInput, OptimizeOutput, RunOptions, optimize, optimize_with,
    strategy_warnings,
};
pub use evaluator::{CountingModels, Evaluator, Outcome, UsageCounter};
pub use events::{Event, EventSink, Phase};
pub use stop::StopReason;
pub use strategy::{
    AppendDemo, AppendRule, Bucket, FieldPredictor, PromptModel, Strategy, StrategyContext,
    StrategyError, StrategyReport, Trajectory,
};

use crate::ir::StrategyRef;
use std::sync::Arc;

/// The built-in strategies for `refs`, in order. Plugin strategies are
/// resolved by the plugin host; here they are an error naming the item.
pub fn builtin_strategies(refs: &[StrategyRef]) -> Result<Vec<Arc<dyn Strategy>>, String> {
    refs.iter()
        .map(|r| -> Result<Arc<dyn Strategy>, String> {
            match r {
                StrategyRef::AppendDemo => Ok(Arc::new(AppendDemo)),
                StrategyRef::AppendRule => Ok(Arc::new(AppendRule)),
                StrategyRef::Plugin { .. } => Err(format!(
                    "strategy `{r}` comes from a plugin, and plugin strategies are not available in this build"
                )),
            }
        })
        .collect()
}
