//! The seam between the optimizer and the runtime: run a program on an example
//! and score it. The real evaluator combines the executor and the metric; tests
//! use deterministic fakes.
//!
//! Also the LM usage meter: the engine wraps the model set so every request
//! (executions, judge metrics, advice) is counted in one place.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::lm::{Lm, LmError, ModelSet, Request, Response, UsageBook};
use crate::metric::{MetricError, Score};
use crate::program::{Execution, ModelOverride, Program};
use crate::value::Example;

use super::stop::Budget;
use crate::artifacts::UsageRecord;

/// One scored execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The program's run: trace, prediction, error.
    pub execution: Execution,
    /// The metric's score (0 when the execution or the metric failed).
    pub score: Score,
    /// Why the metric could not score the prediction (the score is then 0).
    pub metric_error: Option<MetricError>,
}

impl Outcome {
    /// An outcome scored 0 because the execution or the metric failed.
    pub fn failed(execution: Execution, metric_error: Option<MetricError>) -> Self {
        Self {
            execution,
            score: Score {
                value: 0.0,
                feedback: None,
            },
            metric_error,
        }
    }
}

/// Runs a program on an example with a model override and scores the result.
/// Must never panic on a failing call: a failure is an [`Outcome`] scored 0
/// whose `execution.error` says why.
#[async_trait]
pub trait Evaluator: Send + Sync {
    /// Run `program` on `example`'s inputs with `ov`'s model settings and
    /// score the prediction against `example`.
    async fn run(&self, program: &Program, example: &Example, ov: &ModelOverride) -> Outcome;

    /// What the run should be told about the evaluator once it ends (e.g.
    /// failed calls of a `command` metric); none by default.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Running totals of LM requests, shared by every counting wrapper of a run.
#[derive(Debug, Default)]
pub struct UsageCounter {
    calls: AtomicU64,
    failed: AtomicU64,
    cached: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    /// The run's budgets, asked before every request (none: no checks).
    budget: OnceLock<Arc<Budget>>,
    /// The model registry's own counters, read for the requests actually
    /// sent (retries included), which this layer above the retries cannot see.
    book: OnceLock<UsageBook>,
    /// Requests sent before a resume (the book counts this process only).
    restored_requests: AtomicU64,
    restored_failed_requests: AtomicU64,
}

impl UsageCounter {
    /// A counter at zero, shared by every handle that counts into it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Installs the budgets every counting handle checks from now on (once;
    /// a second call is ignored).
    pub fn set_budget(&self, budget: Arc<Budget>) {
        let _ = self.budget.set(budget);
    }

    /// The installed budgets.
    pub fn budget(&self) -> Option<&Arc<Budget>> {
        self.budget.get()
    }

    /// Links the registry's counters so snapshots carry the requests sent
    /// (once; a second call is ignored).
    pub fn set_book(&self, book: UsageBook) {
        let _ = self.book.set(book);
    }

    /// Count one finished request.
    pub fn record(&self, result: &Result<Response, LmError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(r) => {
                if r.cached {
                    self.cached.fetch_add(1, Ordering::Relaxed);
                }
                self.prompt_tokens
                    .fetch_add(r.usage.prompt_tokens, Ordering::Relaxed);
                self.completion_tokens
                    .fetch_add(r.usage.completion_tokens, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The totals so far (cache hits counted as calls).
    pub fn snapshot(&self) -> UsageRecord {
        let sent = self
            .book
            .get()
            .map(|b| b.snapshot().total)
            .unwrap_or_default();
        UsageRecord {
            lm_calls: self.calls.load(Ordering::Relaxed),
            failed_calls: self.failed.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            requests: sent.requests + self.restored_requests.load(Ordering::Relaxed),
            failed_requests: sent.failed_requests
                + self.restored_failed_requests.load(Ordering::Relaxed),
        }
    }

    /// Continue counting from a checkpoint's totals (adds them).
    pub fn restore(&self, usage: &UsageRecord, cached: u64) {
        self.calls.fetch_add(usage.lm_calls, Ordering::Relaxed);
        self.failed.fetch_add(usage.failed_calls, Ordering::Relaxed);
        self.prompt_tokens
            .fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(usage.completion_tokens, Ordering::Relaxed);
        self.cached.fetch_add(cached, Ordering::Relaxed);
        self.restored_requests
            .fetch_add(usage.requests, Ordering::Relaxed);
        self.restored_failed_requests
            .fetch_add(usage.failed_requests, Ordering::Relaxed);
    }

    /// Requests answered from the cache.
    pub fn cached(&self) -> u64 {
        self.cached.load(Ordering::Relaxed)
    }
}

/// An [`Lm`] that counts its requests.
pub struct CountingLm {
    inner: Arc<dyn Lm>,
    counter: Arc<UsageCounter>,
}

#[async_trait]
impl Lm for CountingLm {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        // A refused request was never sent: it is not counted as a call.
        let ticket = match self.counter.budget() {
            Some(b) => Some(b.admit(request)?),
            None => None,
        };
        let result = self.inner.complete(request).await;
        self.counter.record(&result);
        if let (Some(b), Some(t)) = (self.counter.budget(), ticket) {
            b.settle(t, &result);
        }
        result
    }
}

/// A [`ModelSet`] whose models count their requests into one counter. Build
/// the executor, the metric and the prompt model on it and every LM call of the
/// run is counted.
pub struct CountingModels {
    inner: Arc<dyn ModelSet>,
    counter: Arc<UsageCounter>,
}

impl CountingModels {
    /// `inner`'s models, counting into `counter`.
    pub fn new(inner: Arc<dyn ModelSet>, counter: Arc<UsageCounter>) -> Arc<Self> {
        Arc::new(Self { inner, counter })
    }
}

impl ModelSet for CountingModels {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        let inner = self.inner.lm(name)?;
        Some(Arc::new(CountingLm {
            inner,
            counter: self.counter.clone(),
        }))
    }

    fn template(&self, name: &str) -> Option<Request> {
        self.inner.template(name)
    }
}
