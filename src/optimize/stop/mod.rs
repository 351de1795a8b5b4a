//! Stop rules (`stop { }` in an optimize block): convergence rules checked
//! between steps (`patience` + `min_delta`, `target`) and budgets enforced on
//! every LM request (`max_lm_calls`, `max_tokens`, `max_duration`).
//!
//! Budgets are hard caps. [`Budget::admit`] runs before every request of the
//! run (it sits in the engine's counting layer, outside the provider's
//! concurrency cap), so a request counts from the moment it asks to start,
//! while it waits and while it is in flight; one that would pass a cap is
//! refused and never sent. During the loop the caps are lowered by a
//! reserve for the final selection (see [`Reserve`]), so the final
//! evaluation still fits; the final selection runs against the full caps.
//!
//! A run's budget counts every request even when no cap is set: each
//! checkpoint records what was spent, so a cap added on resume counts the
//! calls, tokens and USD the run already used ([`Budget::restore`]).

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Price;
use crate::ir::StopRules;
use crate::lm::{LmError, Request, Response};
use indexmap::IndexMap;

/// Why the loop ended: part of run.json's format, so it lives with the
/// artifacts.
pub use crate::artifacts::StopReason;

/// The convergence rules, fed the best score so far after every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    patience: Option<usize>,
    min_delta: f64,
    target: Option<f64>,
    /// The best score that counted as an improvement, and the steps since.
    best: Option<f64>,
    stale: usize,
}

impl Convergence {
    /// The convergence rules of `rules`, before any step.
    pub fn new(rules: &StopRules) -> Self {
        Self {
            patience: rules.patience,
            min_delta: rules.min_delta,
            target: rules.target,
            best: None,
            stale: 0,
        }
    }

    /// This state continued under `rules` (a resumed run's, which may
    /// differ): the best score and the steps since carry over, the new
    /// rules apply from the next finished step.
    pub fn resumed(&self, rules: &StopRules) -> Self {
        Self {
            best: self.best,
            stale: self.stale,
            ..Self::new(rules)
        }
    }

    /// Whether this state was kept under `rules`.
    pub fn follows(&self, rules: &StopRules) -> bool {
        *self == self.resumed(rules)
    }

    /// The best score that counted as an improvement.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Finished steps since the last improvement.
    pub fn stale(&self) -> usize {
        self.stale
    }

    /// Record a finished step's best-so-far; the reason to stop, if any.
    /// A step improves when it raises the best by more than `min_delta`
    /// (the first scored step always does); a step that built no candidate
    /// counts as not improving.
    pub fn after_step(&mut self, best_so_far: Option<f64>) -> Option<StopReason> {
        match (self.best, best_so_far) {
            (None, Some(b)) => {
                self.best = Some(b);
                self.stale = 0;
            }
            (Some(old), Some(b)) if b > old + self.min_delta => {
                self.best = Some(b);
                self.stale = 0;
            }
            _ => self.stale = self.stale.saturating_add(1),
        }
        if let (Some(t), Some(b)) = (self.target, best_so_far)
            && b >= t
        {
            return Some(StopReason::Target);
        }
        match self.patience {
            Some(p) if self.stale >= p => Some(StopReason::Patience),
            _ => None,
        }
    }
}

/// Completion tokens assumed for a request that sets no `max_tokens`, when a
/// token budget must bound it before it starts.
pub const DEFAULT_COMPLETION_ESTIMATE: u64 = 1024;

/// What the final selection is expected to use, held back from the loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reserve {
    /// LM requests.
    pub calls: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// USD.
    #[serde(default)]
    pub cost: f64,
}

#[derive(Debug, Default)]
struct State {
    /// Requests admitted so far (finished, waiting or in flight).
    started: u64,
    /// Tokens of finished requests.
    tokens_used: u64,
    /// Token estimates of admitted requests not finished yet.
    tokens_pending: u64,
    /// USD of finished requests, and estimates of unfinished ones.
    cost_used: f64,
    cost_pending: f64,
    reserve: Reserve,
    final_phase: bool,
    /// The first cap that refused a request during the loop.
    tripped: Option<StopReason>,
    /// When `max_duration` runs out.
    deadline: Option<Instant>,
}

/// The run's budgets, shared by every counting LM handle.
#[derive(Debug)]
pub struct Budget {
    max_calls: Option<u64>,
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    /// Prices by model item name (the `Request::model`).
    prices: IndexMap<String, Price>,
    state: Mutex<State>,
}

/// An admitted request's claim, settled by [`Budget::settle`].
#[derive(Debug)]
pub struct Ticket {
    tokens: u64,
    cost: f64,
    price: Option<Price>,
}

/// What the budgets counted: requests admitted, tokens of finished
/// requests, USD of finished requests on priced models.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Requests admitted.
    pub calls: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// USD.
    pub cost: f64,
}

/// `xs` added up, stopping at `u64::MAX`: a count near the top compares as
/// over every cap instead of wrapping below it.
fn sum(xs: &[u64]) -> u64 {
    xs.iter().fold(0, |a, &b| a.saturating_add(b))
}

impl Budget {
    /// The budgets of `rules`, or None when it sets none (then nothing is
    /// checked and the run behaves exactly as without a stop block).
    /// `prices` (by model item name) are needed for `max_cost`: a model
    /// without one counts as free, so callers check every model has one.
    pub fn from_rules(
        rules: &StopRules,
        started: Instant,
        prices: &IndexMap<String, Price>,
    ) -> Option<Self> {
        Some(Self::new(rules, started, prices)).filter(Budget::has_caps)
    }

    /// The budgets of `rules`, counting every request even without a cap:
    /// what was spent goes into each checkpoint, so a cap added on resume
    /// counts it.
    pub fn new(rules: &StopRules, started: Instant, prices: &IndexMap<String, Price>) -> Self {
        Self {
            max_calls: rules.max_lm_calls,
            max_tokens: rules.max_tokens,
            max_cost: rules.max_cost,
            prices: prices.clone(),
            state: Mutex::new(State {
                deadline: rules.max_duration.map(|d| started + d),
                ..State::default()
            }),
        }
    }

    /// Whether any cap or a deadline is set (else nothing is ever refused).
    pub fn has_caps(&self) -> bool {
        self.max_calls.is_some()
            || self.max_tokens.is_some()
            || self.max_cost.is_some()
            || self.lock().deadline.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tokens a request may use at most: its prompt (4 characters per
    /// token, rounded up) plus its `max_tokens`.
    pub fn estimate(request: &Request) -> u64 {
        let chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
        (chars as u64).div_ceil(4)
            + request
                .max_tokens
                .map_or(DEFAULT_COMPLETION_ESTIMATE, u64::from)
    }

    /// Admit a request or refuse it (a fatal error: not retried, the
    /// execution that asked fails, and the engine stops the loop).
    pub fn admit(&self, request: &Request) -> Result<Ticket, LmError> {
        let mut s = self.lock();
        let refuse = |s: &mut State, reason: StopReason| {
            if !s.final_phase && s.tripped.is_none() {
                s.tripped = Some(reason);
            }
            Err(LmError::Fatal {
                model: request.model.clone(),
                message: format!("the run's `{reason}` budget is spent"),
            })
        };
        if !s.final_phase
            && let Some(d) = s.deadline
            && Instant::now() >= d
        {
            return refuse(&mut s, StopReason::MaxDuration);
        }
        let (rc, rt) = if s.final_phase {
            (0, 0)
        } else {
            (s.reserve.calls, s.reserve.tokens)
        };
        if let Some(cap) = self.max_calls
            && sum(&[s.started, 1, rc]) > cap
        {
            return refuse(&mut s, StopReason::MaxLmCalls);
        }
        let est = Self::estimate(request);
        if let Some(cap) = self.max_tokens
            && sum(&[s.tokens_used, s.tokens_pending, est, rt]) > cap
        {
            return refuse(&mut s, StopReason::MaxTokens);
        }
        let price = self.prices.get(&request.model).copied();
        let cost = price.map_or(0.0, |p| {
            let completion = request
                .max_tokens
                .map_or(DEFAULT_COMPLETION_ESTIMATE, u64::from);
            p.cost(est - completion, completion)
        });
        let rcost = if s.final_phase { 0.0 } else { s.reserve.cost };
        if let Some(cap) = self.max_cost
            && s.cost_used + s.cost_pending + cost + rcost > cap
        {
            return refuse(&mut s, StopReason::MaxCost);
        }
        s.started = s.started.saturating_add(1);
        s.tokens_pending = s.tokens_pending.saturating_add(est);
        s.cost_pending += cost;
        Ok(Ticket {
            tokens: est,
            cost,
            price,
        })
    }

    /// A request finished: its estimate is replaced by the tokens it used.
    pub fn settle(&self, ticket: Ticket, result: &Result<Response, LmError>) {
        let mut s = self.lock();
        s.tokens_pending = s.tokens_pending.saturating_sub(ticket.tokens);
        s.cost_pending = (s.cost_pending - ticket.cost).max(0.0);
        if let Ok(r) = result {
            s.tokens_used = s.tokens_used.saturating_add(r.usage.total());
            if let Some(p) = ticket.price {
                s.cost_used += p.cost(r.usage.prompt_tokens, r.usage.completion_tokens);
            }
        }
    }

    /// What was spent so far (for a checkpoint).
    pub fn spent(&self) -> Spent {
        let s = self.lock();
        Spent {
            calls: s.started,
            tokens: s.tokens_used,
            cost: s.cost_used,
        }
    }

    /// The most a token costs among the priced models (USD), to turn a
    /// token estimate into a cost bound.
    pub fn max_token_price(&self) -> f64 {
        self.prices
            .values()
            .map(|p| p.input.max(p.output) / 1e6)
            .fold(0.0, f64::max)
    }

    /// Continue from what a checkpoint spent; the deadline moves earlier by
    /// the time the interrupted run already took (and is past when that is
    /// longer than the clock reaches back). A call, token or USD cap already
    /// reached is an error: not one more request would be admitted, not
    /// even for the final selection.
    pub fn restore(&self, spent: Spent, elapsed: Duration) -> Result<(), String> {
        {
            let mut s = self.lock();
            s.started = spent.calls;
            s.tokens_used = spent.tokens;
            s.cost_used = spent.cost;
            if let Some(d) = s.deadline {
                s.deadline = Some(d.checked_sub(elapsed).unwrap_or_else(Instant::now));
            }
        }
        let reached = if let Some(cap) = self.max_calls
            && spent.calls >= cap
        {
            Some(format!(
                "stop.max_lm_calls = {cap}, but the checkpoint already made {} LM calls",
                spent.calls
            ))
        } else if let Some(cap) = self.max_tokens
            && spent.tokens >= cap
        {
            Some(format!(
                "stop.max_tokens = {cap}, but the checkpoint already used {} tokens",
                spent.tokens
            ))
        } else if let Some(cap) = self.max_cost
            && spent.cost >= cap
        {
            Some(format!(
                "stop.max_cost = {cap}, but the checkpoint already spent ${:.6}",
                spent.cost
            ))
        } else {
            None
        };
        match reached {
            Some(m) => Err(format!("{m}; raise or remove the cap to resume")),
            None => Ok(()),
        }
    }

    /// The cap that refused a request during the loop, if any.
    pub fn tripped(&self) -> Option<StopReason> {
        self.lock().tripped
    }

    /// Sets what the loop holds back for the final selection.
    pub fn set_reserve(&self, reserve: Reserve) {
        self.lock().reserve = reserve;
    }

    /// From now on the full caps apply (the final selection) and the
    /// duration limit no longer refuses requests.
    pub fn enter_final(&self) {
        self.lock().final_phase = true;
    }

    /// Whether a step expected to use `step` more (on top of the reserve)
    /// fits: the cap that would be passed, if any. Also stops once the
    /// deadline is past.
    pub fn would_pass(&self, step: Reserve) -> Option<StopReason> {
        {
            let s = self.lock();
            if let Some(d) = s.deadline
                && Instant::now() >= d
            {
                return Some(StopReason::MaxDuration);
            }
        }
        self.would_pass_caps(step)
    }

    /// Whether `step` more (on top of the reserve) fits the call, token and
    /// cost caps, the deadline aside: the cap that would be passed, if any.
    /// A raced final selection asks before each round (a deadline never
    /// cuts the final selection short).
    pub fn would_pass_caps(&self, step: Reserve) -> Option<StopReason> {
        let s = self.lock();
        if let Some(cap) = self.max_calls
            && sum(&[s.started, step.calls, s.reserve.calls]) > cap
        {
            return Some(StopReason::MaxLmCalls);
        }
        if let Some(cap) = self.max_tokens
            && sum(&[
                s.tokens_used,
                s.tokens_pending,
                step.tokens,
                s.reserve.tokens,
            ]) > cap
        {
            return Some(StopReason::MaxTokens);
        }
        if let Some(cap) = self.max_cost
            && s.cost_used + s.cost_pending + step.cost + s.reserve.cost > cap
        {
            return Some(StopReason::MaxCost);
        }
        None
    }

    /// Time left before the deadline (None without one).
    pub fn time_left(&self) -> Option<Duration> {
        self.lock()
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests;
