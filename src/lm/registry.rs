//! The spec's models, each wrapped in the full layer stack.
//!
//! From the outside in, a call goes through:
//!
//! 1. [`CountCalls`]: counts the call and whether the cache answered it;
//! 2. [`Cached`]: the response cache (not for `sim` models, whose answers are
//!    a cheap pure function of the request);
//! 3. [`Retry`]: backoff and retries on transient failures;
//! 4. [`ConcurrencyCap`]: at most `concurrency` requests in flight;
//! 5. [`Gated`]: the optional gate (budgets), asked before every attempt;
//! 6. [`CountAttempts`]: counts each request sent and its tokens;
//! 7. [`Timeout`]: the model's `timeout` per request (not for `openai`,
//!    which enforces it itself around the whole exchange, body included,
//!    and names the URL: a second timer per request would only cost);
//! 8. the provider.

use super::cache::{CacheScope, Cached, ResponseCache};
use super::gate::{Gate, Gated};
use super::limit::ConcurrencyCap;
use super::retry::{Backoff, Retry};
use super::timeout::Timeout;
use super::usage::{CountAttempts, CountCalls, UsageBook, UsageCounter, UsageSnapshot};
use super::{Lm, ModelSet, Request, ResponseFormat};
use crate::ir::{ModelDecl, Provider, Spec};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How [`Models`] is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelsOptions {
    /// The response cache folder; `None` turns the cache off (`--no-cache`).
    pub cache_dir: Option<PathBuf>,
}

/// One model item: its declaration, its provider and its live state.
struct Parts {
    decl: ModelDecl,
    provider: Arc<dyn Lm>,
    counter: Arc<UsageCounter>,
    /// Shared by every rebuilt stack, so the cap holds across them.
    slots: Arc<Semaphore>,
}

/// A model item and the wrapped model handed to callers.
struct Entry {
    parts: Parts,
    stack: Arc<dyn Lm>,
}

/// The registry of callable models, by spec item name.
pub struct Models {
    cache_dir: Option<PathBuf>,
    /// Opened with the first model that uses it (never for `sim` alone).
    cache: Option<Arc<ResponseCache>>,
    backoff: Backoff,
    gate: Option<Arc<dyn Gate>>,
    usage: UsageBook,
    entries: IndexMap<String, Entry>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: declarations may hold settings better not printed.
        f.debug_struct("Models")
            .field("models", &self.entries.keys().collect::<Vec<_>>())
            .field("cache", &self.cache_dir)
            .field("backoff", &self.backoff)
            .field("gate", &self.gate.is_some())
            .finish()
    }
}

impl Models {
    /// An empty registry.
    pub fn new(options: ModelsOptions) -> Self {
        Self {
            cache_dir: options.cache_dir,
            cache: None,
            backoff: Backoff::default(),
            gate: None,
            usage: UsageBook::default(),
            entries: IndexMap::new(),
        }
    }

    /// Every model item of a spec, each served by the provider `build`
    /// makes for its declaration (`crate::models` knows the built-in
    /// providers; the plugin host adds plugin models).
    pub fn from_spec_with<E>(
        spec: &Spec,
        options: ModelsOptions,
        mut build: impl FnMut(&ModelDecl) -> Result<Arc<dyn Lm>, E>,
    ) -> Result<Models, E> {
        let mut models = Models::new(options);
        for decl in spec.models.values() {
            let provider = build(decl)?;
            models.insert(decl, provider);
        }
        Ok(models)
    }

    /// Adds (or replaces) a model item served by `provider`, wrapped in the
    /// layers its declaration asks for. A replaced item starts new counters.
    pub fn insert(&mut self, decl: &ModelDecl, provider: Arc<dyn Lm>) {
        if decl.provider != Provider::Sim && self.cache.is_none() {
            // Opened here, before any call, so a cache that cannot be used
            // is reported once up front rather than found call by call.
            self.cache = self
                .cache_dir
                .clone()
                .map(|dir| Arc::new(ResponseCache::open(dir)));
        }
        let parts = Parts {
            decl: decl.clone(),
            provider,
            counter: self.usage.start(&decl.name),
            slots: Arc::new(Semaphore::new(decl.concurrency.max(1))),
        };
        let stack = self.wrap(&parts);
        self.entries
            .insert(decl.name.clone(), Entry { parts, stack });
    }

    /// Sets the waits between retries (tests use tiny ones). Applies to the
    /// handles [`ModelSet::lm`] returns from now on.
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
        self.rewrap();
    }

    /// Installs (or removes) the gate asked before every request sent, e.g.
    /// a budget. Applies to the handles [`ModelSet::lm`] returns from now on.
    pub fn set_gate(&mut self, gate: Option<Arc<dyn Gate>>) {
        self.gate = gate;
        self.rewrap();
    }

    /// Usage so far, per model (in insertion order) and in total.
    pub fn usage(&self) -> UsageSnapshot {
        self.usage.snapshot()
    }

    /// A live handle on the usage counters, for a gate that enforces budgets
    /// (it sees the counts of models inserted later too).
    pub fn usage_book(&self) -> UsageBook {
        self.usage.clone()
    }

    /// The declaration of a model item.
    pub fn decl(&self, name: &str) -> Option<&ModelDecl> {
        self.entries.get(name).map(|e| &e.parts.decl)
    }

    /// The model item names, in insertion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The response cache folder, unless the cache is off (`--no-cache`).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// The response cache, once a model that uses it is in (even if it
    /// turned out unusable): its owner flushes it before writing artifacts
    /// and reports its warnings.
    pub fn cache(&self) -> Option<Arc<ResponseCache>> {
        self.cache.clone()
    }

    /// The response cache, opened now if no model has opened it yet (a
    /// remote corpus caches its searches in it even when every model is
    /// `sim`); `None` when the cache is off (`--no-cache`).
    pub fn open_cache(&mut self) -> Option<Arc<ResponseCache>> {
        if self.cache.is_none() {
            self.cache = self
                .cache_dir
                .clone()
                .map(|dir| Arc::new(ResponseCache::open(dir)));
        }
        self.cache.clone()
    }

    fn rewrap(&mut self) {
        let stacks: Vec<Arc<dyn Lm>> = self.entries.values().map(|e| self.wrap(&e.parts)).collect();
        for (entry, stack) in self.entries.values_mut().zip(stacks) {
            entry.stack = stack;
        }
    }

    /// The layer stack of one entry (see the module docs for the order).
    fn wrap(&self, entry: &Parts) -> Arc<dyn Lm> {
        let decl = &entry.decl;
        let mut lm: Arc<dyn Lm> = match decl.provider {
            Provider::OpenAi => entry.provider.clone(),
            _ => Arc::new(Timeout::new(entry.provider.clone(), decl.timeout)),
        };
        lm = Arc::new(CountAttempts::new(lm, entry.counter.clone()));
        if let Some(gate) = &self.gate {
            lm = Arc::new(Gated::new(lm, gate.clone()));
        }
        lm = Arc::new(ConcurrencyCap::shared(lm, entry.slots.clone()));
        lm = Arc::new(Retry::new(lm, decl.retries, self.backoff));
        let cache = self
            .cache
            .as_ref()
            .filter(|c| c.is_on() && decl.provider != Provider::Sim);
        if let Some(cache) = cache {
            let scope = CacheScope {
                provider: provider_kind(&decl.provider),
                model_id: entry
                    .provider
                    .cache_identity()
                    .unwrap_or_else(|| decl.model.clone()),
            };
            lm = Arc::new(Cached::new(lm, cache.clone(), scope));
        }
        Arc::new(CountCalls::new(lm, entry.counter.clone()))
    }
}

impl ModelSet for Models {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        self.entries.get(name).map(|e| e.stack.clone())
    }

    fn template(&self, name: &str) -> Option<Request> {
        let decl = &self.entries.get(name)?.parts.decl;
        Some(Request {
            model: decl.name.clone(),
            messages: Vec::new(),
            temperature: decl.temperature,
            max_tokens: decl.max_tokens,
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: decl.params.clone(),
        })
    }
}

/// The provider's name as the cache key records it.
fn provider_kind(provider: &Provider) -> String {
    match provider {
        Provider::OpenAi => "openai".into(),
        Provider::Sim => "sim".into(),
        Provider::Local => "local".into(),
        Provider::Plugin { plugin, item } => format!("plugin:{plugin}.{item}"),
    }
}
