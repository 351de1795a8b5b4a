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
            _ => self.stale += 1,
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
        if rules.max_lm_calls.is_none()
            && rules.max_tokens.is_none()
            && rules.max_duration.is_none()
            && rules.max_cost.is_none()
        {
            return None;
        }
        Some(Self {
            max_calls: rules.max_lm_calls,
            max_tokens: rules.max_tokens,
            max_cost: rules.max_cost,
            prices: prices.clone(),
            state: Mutex::new(State {
                deadline: rules.max_duration.map(|d| started + d),
                ..State::default()
            }),
        })
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
            && s.started + 1 + rc > cap
        {
            return refuse(&mut s, StopReason::MaxLmCalls);
        }
        let est = Self::estimate(request);
        if let Some(cap) = self.max_tokens
            && s.tokens_used + s.tokens_pending + est + rt > cap
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
        s.started += 1;
        s.tokens_pending += est;
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
        s.tokens_pending -= ticket.tokens;
        s.cost_pending = (s.cost_pending - ticket.cost).max(0.0);
        if let Ok(r) = result {
            s.tokens_used += r.usage.total();
            if let Some(p) = ticket.price {
                s.cost_used += p.cost(r.usage.prompt_tokens, r.usage.completion_tokens);
            }
        }
    }

    /// Requests admitted, tokens and USD used so far (for a checkpoint).
    pub fn spent(&self) -> (u64, u64, f64) {
        let s = self.lock();
        (s.started, s.tokens_used, s.cost_used)
    }

    /// The most a token costs among the priced models (USD), to turn a
    /// token estimate into a cost bound.
    pub fn max_token_price(&self) -> f64 {
        self.prices
            .values()
            .map(|p| p.input.max(p.output) / 1e6)
            .fold(0.0, f64::max)
    }

    /// Continue from a checkpoint's bookkeeping; the deadline moves earlier
    /// by the time the interrupted run already spent.
    pub fn restore(&self, started: u64, tokens_used: u64, cost_used: f64, spent: Duration) {
        let mut s = self.lock();
        s.started = started;
        s.tokens_used = tokens_used;
        s.cost_used = cost_used;
        if let Some(d) = s.deadline {
            s.deadline = Some(d.checked_sub(spent).unwrap_or(d));
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
        let s = self.lock();
        if let Some(d) = s.deadline
            && Instant::now() >= d
        {
            return Some(StopReason::MaxDuration);
        }
        if let Some(cap) = self.max_calls
            && s.started + step.calls + s.reserve.calls > cap
        {
            return Some(StopReason::MaxLmCalls);
        }
        if let Some(cap) = self.max_tokens
            && s.tokens_used + s.tokens_pending + step.tokens + s.reserve.tokens > cap
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
mod tests {
    use super::*;
    use crate::lm::{Message, ResponseFormat, Usage};

    fn request(chars: usize, max_tokens: Option<u32>) -> Request {
        Request {
            model: "m".into(),
            messages: vec![Message::user("x".repeat(chars))],
            temperature: 0.0,
            max_tokens,
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: Default::default(),
        }
    }

    fn rules() -> StopRules {
        StopRules::default()
    }

    #[test]
    fn patience_counts_steps_without_a_large_enough_gain() {
        let mut c = Convergence::new(&StopRules {
            patience: Some(2),
            min_delta: 0.05,
            ..rules()
        });
        assert_eq!(c.after_step(Some(0.5)), None);
        assert_eq!(c.after_step(Some(0.54)), None); // +0.04 <= min_delta: stale 1
        assert_eq!(c.after_step(Some(0.6)), None); // +0.10 over 0.5: improves
        assert_eq!(c.after_step(None), None); // stale 1
        assert_eq!(c.after_step(Some(0.6)), Some(StopReason::Patience));
    }

    #[test]
    fn target_stops_once_reached() {
        let mut c = Convergence::new(&StopRules {
            target: Some(0.8),
            ..rules()
        });
        assert_eq!(c.after_step(Some(0.79)), None);
        assert_eq!(c.after_step(Some(0.8)), Some(StopReason::Target));
    }

    #[test]
    fn no_budget_without_budget_rules() {
        assert!(Budget::from_rules(&rules(), Instant::now(), &IndexMap::new()).is_none());
    }

    #[test]
    fn call_cap_counts_in_flight_requests_and_the_reserve() {
        let b = Budget::from_rules(
            &StopRules {
                max_lm_calls: Some(5),
                ..rules()
            },
            Instant::now(),
            &IndexMap::new(),
        )
        .unwrap();
        b.set_reserve(Reserve {
            calls: 2,
            ..Reserve::default()
        });
        // Three admitted and still in flight: the fourth would eat the reserve.
        let t: Vec<Ticket> = (0..3)
            .map(|_| b.admit(&request(8, Some(4))).unwrap())
            .collect();
        assert!(b.admit(&request(8, Some(4))).is_err());
        assert_eq!(b.tripped(), Some(StopReason::MaxLmCalls));
        for ticket in t {
            b.settle(
                ticket,
                &Err(LmError::Fatal {
                    model: "m".into(),
                    message: "x".into(),
                }),
            );
        }
        // The final selection may use the reserve, and not one call more.
        b.enter_final();
        assert!(b.admit(&request(8, Some(4))).is_ok());
        assert!(b.admit(&request(8, Some(4))).is_ok());
        assert!(b.admit(&request(8, Some(4))).is_err());
    }

    #[test]
    fn token_cap_bounds_pending_estimates_then_uses_actual_usage() {
        let b = Budget::from_rules(
            &StopRules {
                max_tokens: Some(100),
                ..rules()
            },
            Instant::now(),
            &IndexMap::new(),
        )
        .unwrap();
        // 40 chars = 10 tokens + 30 max_tokens = 40 each.
        assert_eq!(Budget::estimate(&request(40, Some(30))), 40);
        assert_eq!(
            Budget::estimate(&request(41, None)),
            11 + DEFAULT_COMPLETION_ESTIMATE
        );
        let a = b.admit(&request(40, Some(30))).unwrap();
        let _c = b.admit(&request(40, Some(30))).unwrap();
        assert!(
            b.admit(&request(40, Some(30))).is_err(),
            "120 > 100 pending"
        );
        // The first used only 15 tokens: room for another 40.
        let ok = Response {
            text: String::new(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
            },
            cached: false,
        };
        b.settle(a, &Ok(ok));
        assert!(b.admit(&request(40, Some(30))).is_ok());
    }

    #[test]
    fn cost_cap_prices_estimates_then_actual_usage() {
        let mut prices = IndexMap::new();
        // $1 per million prompt tokens, $2 per million completion tokens.
        prices.insert(
            "m".to_string(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        );
        let b = Budget::from_rules(
            &StopRules {
                max_cost: Some(0.00012),
                ..rules()
            },
            Instant::now(),
            &prices,
        )
        .unwrap();
        // 40 chars -> 10 prompt tokens ($0.00001) + 20 completion ($0.00004).
        let a = b.admit(&request(40, Some(20))).unwrap();
        let _c = b.admit(&request(40, Some(20))).unwrap();
        assert!(
            b.admit(&request(40, Some(20))).is_err(),
            "0.00015 > 0.00012"
        );
        assert_eq!(b.tripped(), Some(StopReason::MaxCost));
        let used = Response {
            text: String::new(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 0,
            },
            cached: false,
        };
        b.settle(a, &Ok(used));
        let (_, _, cost) = b.spent();
        assert!((cost - 0.00001).abs() < 1e-12);
        // 0.00001 used + 0.00005 pending + 0.00005 = 0.00011 fits.
        assert!(b.admit(&request(40, Some(20))).is_ok());
    }

    #[test]
    fn deadline_refuses_in_the_loop_but_not_in_the_final_selection() {
        let b = Budget::from_rules(
            &StopRules {
                max_duration: Some(Duration::ZERO),
                ..rules()
            },
            Instant::now(),
            &IndexMap::new(),
        )
        .unwrap();
        assert!(b.admit(&request(1, Some(1))).is_err());
        assert_eq!(b.tripped(), Some(StopReason::MaxDuration));
        assert_eq!(
            b.would_pass(Reserve::default()),
            Some(StopReason::MaxDuration)
        );
        b.enter_final();
        assert!(b.admit(&request(1, Some(1))).is_ok());
    }
}
