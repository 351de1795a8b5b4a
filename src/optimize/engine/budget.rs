//! The engine's side of the budgets (docs/optimizer.md, "Stop rules"): what
//! the run learned of its own usage, the reserve held back for the final
//! selection, and whether the next step still fits.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::artifacts::{CallUsage, UsageRecord};
use crate::ir::FinalSelection;
use crate::optimize::checkpoint::Checkpoint;
use crate::optimize::race;
use crate::optimize::select::final_indices;
use crate::optimize::stop::{Budget, Reserve, Spent, StopReason};
use crate::optimize::variants::sampling_variants;

use super::run::Run;

/// The run's budgets and the usage figures its estimates are based on.
pub(super) struct Spending {
    /// Counts every request; refuses only when the block sets a cap (else
    /// nothing is estimated or checked).
    budget: Arc<Budget>,
    /// Behind a lock because waves (which take `&Run`) update it.
    per_execution: Mutex<PerExecution>,
    /// Most LM usage one step took so far.
    pub step_usage: Reserve,
}

/// Most LM calls and tokens one execution used (the largest wave average),
/// to estimate what later waves need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PerExecution {
    /// LM calls per execution.
    pub calls: f64,
    /// Prompt plus completion tokens per execution.
    pub tokens: f64,
}

/// The checkpoint stores it as `[calls, tokens]`.
impl From<PerExecution> for (f64, f64) {
    fn from(p: PerExecution) -> Self {
        (p.calls, p.tokens)
    }
}

impl From<(f64, f64)> for PerExecution {
    fn from((calls, tokens): (f64, f64)) -> Self {
        Self { calls, tokens }
    }
}

impl Spending {
    /// Before the first wave, one call and no token per execution.
    pub fn new(budget: Arc<Budget>) -> Self {
        Self {
            budget,
            per_execution: Mutex::new(PerExecution {
                calls: 1.0,
                tokens: 0.0,
            }),
            step_usage: Reserve::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PerExecution> {
        self.per_execution.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The per-execution estimate so far.
    pub fn per_execution(&self) -> PerExecution {
        *self.lock()
    }

    /// The cap that refused a request during the loop, if any.
    pub fn tripped(&self) -> Option<StopReason> {
        self.budget.tripped()
    }

    /// From now on the full caps apply (the final selection).
    pub fn enter_final(&self) {
        self.budget.enter_final();
    }

    /// Requests, tokens and USD counted so far.
    pub fn spent(&self) -> Spent {
        self.budget.spent()
    }

    /// A wave of `executions` used `used`: raise the per-execution estimate
    /// (kept without a cap too, for a cap added on resume).
    pub fn note_wave(&self, used: &UsageRecord, executions: usize) {
        if executions == 0 {
            return;
        }
        let n = executions as f64;
        let mut pe = self.lock();
        pe.calls = pe.calls.max(used.lm_calls as f64 / n);
        pe.tokens = pe
            .tokens
            .max((used.prompt_tokens + used.completion_tokens) as f64 / n);
    }

    /// A step used `usage`: raise the most one step took.
    pub fn note_step_usage(&mut self, usage: &CallUsage) {
        self.step_usage.calls = self.step_usage.calls.max(usage.lm_calls);
        self.step_usage.tokens = self
            .step_usage
            .tokens
            .max(usage.prompt_tokens.saturating_add(usage.completion_tokens));
    }

    /// Continue from a checkpoint's figures (validated); `elapsed` is the
    /// time the interrupted run already took (the deadline moves). The
    /// calls and tokens spent are the usage totals (every admitted request
    /// finished before the step was checkpointed), the largest step is the
    /// largest trial record's. A cap already reached is an error.
    pub fn restore(&mut self, cp: &Checkpoint, elapsed: Duration) -> Result<(), String> {
        self.step_usage = Reserve::default();
        for t in &cp.trials {
            self.note_step_usage(&t.usage);
        }
        *self.lock() = cp.per_execution.into();
        let spent = Spent {
            calls: cp.usage.lm_calls,
            tokens: cp
                .usage
                .prompt_tokens
                .saturating_add(cp.usage.completion_tokens),
            cost: cp.spent_usd,
        };
        self.budget.restore(spent, elapsed)
    }
}

impl Run {
    /// Updates the reserve held back for the final selection and tells
    /// whether the next step would pass a budget (by the most a step used
    /// so far; before the first, one call per execution).
    pub fn step_would_pass(&self) -> Option<StopReason> {
        let budget = &self.spending.budget;
        if !budget.has_caps() {
            return None;
        }
        let per = self.spending.per_execution();
        // Costs are bounded by tokens at the dearest priced rate.
        let usd = budget.max_token_price();
        budget.set_reserve(estimate(per, self.final_executions(), usd));
        let executions = (self.variant_count() + self.decl.num_candidates + 1) * self.data.bsize;
        let first = estimate(per, executions, usd);
        let most = self.spending.step_usage;
        let tokens = most.tokens.max(first.tokens);
        budget.would_pass(Reserve {
            calls: most.calls.max(first.calls),
            tokens,
            cost: tokens as f64 * usd,
        })
    }

    /// Executions the final selection may run if the next step adds a winner.
    fn final_executions(&self) -> usize {
        let picks = final_indices(self.progress.winners.len(), self.decl.num_candidates + 1).len();
        let mut jobs = match self.decl.final_selection {
            FinalSelection::Full => {
                let on_split = self.data.select.as_ref().map_or(0, |s| s.examples.len());
                picks * (self.data.trainset.len() + on_split)
            }
            FinalSelection::Race => {
                let set = self
                    .data
                    .select
                    .as_ref()
                    .map_or(&self.data.trainset, |s| &s.examples);
                expected_race_executions(picks, set.len(), race::round_size(self.data.bsize))
            }
        };
        jobs += self.dev_executions();
        jobs
    }

    /// Executions of the devset evaluation after the selection: the
    /// baseline and the best.
    pub fn dev_executions(&self) -> usize {
        self.data.devset.as_ref().map_or(0, |dev| 2 * dev.len())
    }

    /// From the start of the final selection, hold back what `executions`
    /// more executions need (the devset evaluation after a race).
    pub fn reserve_for(&self, executions: usize) {
        let budget = &self.spending.budget;
        if budget.has_caps() {
            let per = self.spending.per_execution();
            budget.set_reserve(estimate(per, executions, budget.max_token_price()));
        }
    }

    /// Whether a race round of `executions` would pass a call, token or
    /// cost cap (on top of the reserve); the cap, if so.
    pub fn round_would_pass(&self, executions: usize) -> Option<StopReason> {
        let budget = &self.spending.budget;
        if !budget.has_caps() {
            return None;
        }
        let per = self.spending.per_execution();
        budget.would_pass_caps(estimate(per, executions, budget.max_token_price()))
    }

    fn variant_count(&self) -> usize {
        sampling_variants(&self.tools.variant_cfg).len()
    }
}

/// What a race among `picks` candidates on `len` examples is expected to
/// run: half of a full selection, and at least one round for each
/// candidate; a lone pick is scored on the whole set (docs/optimizer.md, "Racing the final selection"; on the bench
/// a race ran 50-70% of a full selection, reused scores included, and a
/// race short of budget ends at the last round that fits).
fn expected_race_executions(picks: usize, len: usize, round: usize) -> usize {
    if picks <= 1 {
        return picks * len;
    }
    (picks * len).div_ceil(2).max(picks * round.min(len))
}

/// What `executions` executions need at `per` each, tokens priced at `usd`.
fn estimate(per: PerExecution, executions: usize, usd: f64) -> Reserve {
    let tokens = (per.tokens * executions as f64).ceil() as u64;
    Reserve {
        calls: (per.calls * executions as f64).ceil() as u64,
        tokens,
        cost: tokens as f64 * usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_race_is_expected_to_cost_half_a_full_selection() {
        // 7 picks on 300 examples: 1050 of 2100.
        assert_eq!(expected_race_executions(7, 300, 32), 1050);
        // Odd totals round up: 3 x 5 = 15 -> 8, but a round (5) each is 15.
        assert_eq!(expected_race_executions(3, 5, 32), 15);
        // 7 picks on 40 examples: half is 140, one round each is 7 x 32 = 224.
        assert_eq!(expected_race_executions(7, 40, 32), 224);
        // The baseline alone is scored on the whole set, as a full
        // selection would.
        assert_eq!(expected_race_executions(1, 300, 32), 300);
    }

    #[test]
    fn estimates_round_each_total_up() {
        let per = PerExecution {
            calls: 1.5,
            tokens: 10.25,
        };
        let r = estimate(per, 3, 0.5);
        assert_eq!(r.calls, 5); // 4.5 -> 5
        assert_eq!(r.tokens, 31); // 30.75 -> 31
        assert_eq!(r.cost, 15.5);
    }

    #[test]
    fn waves_raise_the_per_execution_figures() {
        let used = UsageRecord {
            lm_calls: 6,
            prompt_tokens: 40,
            completion_tokens: 20,
            ..UsageRecord::default()
        };
        // Without a cap too: a cap added on resume starts from them.
        let budget = Budget::new(
            &crate::ir::StopRules::default(),
            std::time::Instant::now(),
            &Default::default(),
        );
        let s = Spending::new(Arc::new(budget));
        s.note_wave(&used, 3);
        assert_eq!(
            s.per_execution(),
            PerExecution {
                calls: 2.0,
                tokens: 20.0
            }
        );
        // A lighter wave does not lower them.
        s.note_wave(&UsageRecord::default(), 3);
        assert_eq!(s.per_execution().calls, 2.0);
    }
}
