//! A plugin strategy: one instance, called on the blocking pool.

use std::sync::Arc;

use simba_plugin_sdk::{StrategyReply, StrategyRequest};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use super::PluginError;
use super::callbacks::{CallContext, CallStats, LmAccess};
use super::library::Instance;
use crate::lm::ModelSet;

/// What the host offers a strategy call: the spec's models (the plugin's
/// thread blocks on `handle` while a model answers) and the seed of this
/// call's random stream (ChaCha20), which the caller draws from its own
/// stream so runs are reproducible. Clones share the [`CallStats`].
#[derive(Clone)]
pub struct HostServices {
    lm: Option<LmAccess>,
    seed: u64,
    stats: Arc<CallStats>,
}

impl HostServices {
    /// Services with LM access.
    pub fn new(models: Arc<dyn ModelSet>, handle: Handle, seed: u64) -> Self {
        Self {
            lm: Some(LmAccess { models, handle }),
            seed,
            stats: Arc::default(),
        }
    }

    /// Services without LM access: `call_lm` answers with an error.
    pub fn without_models(seed: u64) -> Self {
        Self {
            lm: None,
            seed,
            stats: Arc::default(),
        }
    }

    /// The same services with another seed, sharing the counters.
    pub fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }

    /// What the calls made with these services did through the callbacks.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }
}

/// A strategy provided by a plugin (`plugin.item` in `strategies = [..]`).
#[derive(Clone)]
pub struct PluginStrategy {
    pub(crate) instance: Arc<Instance>,
    pub(crate) permits: Arc<Semaphore>,
}

impl std::fmt::Debug for PluginStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PluginStrategy({})", self.name())
    }
}

impl PluginStrategy {
    /// `plugin.item`, as written in the spec.
    pub fn name(&self) -> String {
        format!("{}.{}", self.instance.plugin(), self.instance.item)
    }

    /// Applies the strategy on tokio's blocking pool, under the host's
    /// semaphore. A plugin error or panic is a [`PluginError::Call`] carrying
    /// the plugin's message; the caller records it as a skipped strategy.
    pub async fn apply(
        &self,
        request: StrategyRequest,
        services: HostServices,
    ) -> Result<StrategyReply, PluginError> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.call_error("the plugin host is shut down".into()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_blocking(&request, &services))
            .await
            .map_err(|e| self.call_error(format!("the blocking task failed: {e}")))?
    }

    /// Applies the strategy on the current thread (no semaphore). The LM
    /// callback blocks on the services' runtime handle, so this must not run
    /// on a runtime worker thread when the plugin calls a model.
    pub fn apply_blocking(
        &self,
        request: &StrategyRequest,
        services: &HostServices,
    ) -> Result<StrategyReply, PluginError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| self.call_error(format!("cannot encode the request: {e}")))?;
        let ctx = CallContext::new(
            self.instance.plugin(),
            services.lm.clone(),
            services.seed,
            services.stats.clone(),
        );
        let table = ctx.table();
        let bytes = self
            .instance
            .call(&body, &table)
            .map_err(|m| self.call_error(m))?;
        serde_json::from_slice(&bytes).map_err(|e| PluginError::BadReply {
            plugin: self.instance.plugin().to_string(),
            item: self.instance.item.clone(),
            message: e.to_string(),
        })
    }

    fn call_error(&self, message: String) -> PluginError {
        PluginError::Call {
            plugin: self.instance.plugin().to_string(),
            item: self.instance.item.clone(),
            message,
        }
    }
}
