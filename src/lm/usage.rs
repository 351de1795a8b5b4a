//! Usage counting per model.
//!
//! Two layers share one [`UsageCounter`]: [`CountCalls`] sits outermost (it
//! sees every call and cache hit), [`CountAttempts`] sits next to the
//! provider (it sees every request actually sent, retries included).

use super::{Lm, LmError, Request, Response};
use async_trait::async_trait;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Live counters of one model.
#[derive(Debug, Default)]
pub struct UsageCounter {
    calls: AtomicU64,
    cache_hits: AtomicU64,
    failed_calls: AtomicU64,
    requests: AtomicU64,
    failed_requests: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl UsageCounter {
    /// The counters now.
    pub fn snapshot(&self) -> ModelUsage {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ModelUsage {
            calls: get(&self.calls),
            cache_hits: get(&self.cache_hits),
            failed_calls: get(&self.failed_calls),
            requests: get(&self.requests),
            failed_requests: get(&self.failed_requests),
            prompt_tokens: get(&self.prompt_tokens),
            completion_tokens: get(&self.completion_tokens),
        }
    }
}

/// A model's usage at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Calls made by callers (cache hits included).
    pub calls: u64,
    /// Calls answered from the response cache.
    pub cache_hits: u64,
    /// Calls that failed after all retries.
    pub failed_calls: u64,
    /// Requests sent to the provider, every retry attempt included.
    pub requests: u64,
    /// Requests that failed (error status, timeout, connection error).
    pub failed_requests: u64,
    /// Prompt tokens of the successful requests (cache hits cost none).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful requests.
    pub completion_tokens: u64,
}

impl ModelUsage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn add(&mut self, other: &ModelUsage) {
        self.calls += other.calls;
        self.cache_hits += other.cache_hits;
        self.failed_calls += other.failed_calls;
        self.requests += other.requests;
        self.failed_requests += other.failed_requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Usage of every model (in spec order) and the sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSnapshot {
    /// Usage per spec model item name.
    pub models: IndexMap<String, ModelUsage>,
    /// The sum over `models`.
    pub total: ModelUsage,
}

impl UsageSnapshot {
    /// A snapshot from per-model usage, with the total computed.
    pub fn from_models(models: IndexMap<String, ModelUsage>) -> Self {
        let mut total = ModelUsage::default();
        for usage in models.values() {
            total.add(usage);
        }
        Self { models, total }
    }
}

/// The counters of every model, shareable: a budget gate holds a clone and
/// reads the usage so far while the registry keeps counting.
#[derive(Debug, Clone, Default)]
pub struct UsageBook {
    counters: Arc<RwLock<IndexMap<String, Arc<UsageCounter>>>>,
}

impl UsageBook {
    /// Fresh counters for `model` (replacing any it had).
    pub fn start(&self, model: &str) -> Arc<UsageCounter> {
        let counter = Arc::new(UsageCounter::default());
        self.counters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(model.to_string(), counter.clone());
        counter
    }

    /// One model's usage so far.
    pub fn model(&self, model: &str) -> Option<ModelUsage> {
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        counters.get(model).map(|c| c.snapshot())
    }

    /// Every model's usage so far, in the order they were added, and the sum.
    pub fn snapshot(&self) -> UsageSnapshot {
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        UsageSnapshot::from_models(
            counters
                .iter()
                .map(|(name, c)| (name.clone(), c.snapshot()))
                .collect(),
        )
    }
}

/// Outermost layer: counts calls, cache hits and calls that failed for good.
pub struct CountCalls {
    inner: Arc<dyn Lm>,
    counter: Arc<UsageCounter>,
}

impl CountCalls {
    /// Wraps `inner`, counting into `counter` (shared with [`CountAttempts`]).
    pub fn new(inner: Arc<dyn Lm>, counter: Arc<UsageCounter>) -> Self {
        Self { inner, counter }
    }
}

#[async_trait]
impl Lm for CountCalls {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.counter.calls.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.complete(request).await;
        match &result {
            Ok(response) if response.cached => {
                self.counter.cache_hits.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => {
                self.counter.failed_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }
}

/// Innermost counting layer: one count per request sent, with its tokens.
pub struct CountAttempts {
    inner: Arc<dyn Lm>,
    counter: Arc<UsageCounter>,
}

impl CountAttempts {
    /// Wraps `inner`, counting into `counter` (shared with [`CountCalls`]).
    pub fn new(inner: Arc<dyn Lm>, counter: Arc<UsageCounter>) -> Self {
        Self { inner, counter }
    }
}

#[async_trait]
impl Lm for CountAttempts {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.counter.requests.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.complete(request).await;
        match &result {
            Ok(response) => {
                let c = &self.counter;
                c.prompt_tokens
                    .fetch_add(response.usage.prompt_tokens, Ordering::Relaxed);
                c.completion_tokens
                    .fetch_add(response.usage.completion_tokens, Ordering::Relaxed);
            }
            Err(_) => {
                self.counter.failed_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }
}
