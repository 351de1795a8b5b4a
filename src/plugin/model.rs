//! A plugin model: implements [`Lm`] by calling the plugin on the blocking pool.

use std::sync::Arc;

use async_trait::async_trait;
use simba_plugin_sdk::{ModelReply, ModelRequest};
use tokio::sync::Semaphore;

use super::callbacks::{CallContext, CallStats};
use super::library::Instance;
use crate::lm::{Lm, LmError, Request, Response, ResponseFormat, Usage};

/// A model provided by a plugin (`provider = plugin.item`).
pub struct PluginModel {
    /// The spec's model name (errors name it).
    pub(crate) model: String,
    pub(crate) instance: Arc<Instance>,
    pub(crate) permits: Arc<Semaphore>,
}

impl PluginModel {
    fn fatal(&self, message: String) -> LmError {
        LmError::Fatal {
            model: self.model.clone(),
            message: format!(
                "plugin `{}` (model `{}`): {message}",
                self.instance.plugin(),
                self.instance.item
            ),
        }
    }

    /// One blocking call; the random stream is seeded from the request seed.
    fn complete_blocking(&self, body: &[u8], seed: u64) -> Result<Response, LmError> {
        let ctx = CallContext::new(
            self.instance.plugin(),
            None,
            seed,
            Arc::new(CallStats::default()),
        );
        let table = ctx.table();
        let bytes = self
            .instance
            .call(body, &table)
            .map_err(|m| self.fatal(m))?;
        let reply: ModelReply = serde_json::from_slice(&bytes)
            .map_err(|e| self.fatal(format!("malformed reply: {e}")))?;
        match reply {
            ModelReply::Ok(r) => Ok(Response {
                text: r.text,
                usage: Usage {
                    prompt_tokens: r.usage.prompt_tokens,
                    completion_tokens: r.usage.completion_tokens,
                },
                cached: false,
            }),
            ModelReply::Error(e) if e.retryable => Err(LmError::Transient {
                model: self.model.clone(),
                message: format!("plugin `{}`: {}", self.instance.plugin(), e.message),
                retry_after_ms: None,
            }),
            ModelReply::Error(e) => Err(self.fatal(e.message)),
        }
    }
}

#[async_trait]
impl Lm for PluginModel {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let req = ModelRequest {
            model: request.model.clone(),
            messages: request
                .messages
                .iter()
                .map(|m| simba_plugin_sdk::Message::new(&m.role, m.content.clone()))
                .collect(),
            temperature: Some(request.temperature),
            max_tokens: request.max_tokens,
            seed: request.seed,
            rollout_id: request.rollout_id,
            response_format: match request.response_format {
                ResponseFormat::Text => simba_plugin_sdk::ResponseFormat::Text,
                ResponseFormat::JsonObject => simba_plugin_sdk::ResponseFormat::JsonObject,
            },
            params: request.params.clone().into_iter().collect(),
        };
        let body = serde_json::to_vec(&req).map_err(|e| self.fatal(e.to_string()))?;
        let seed = request.seed.unwrap_or(0);
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.fatal("the plugin host is shut down".into()))?;
        let this = PluginModel {
            model: self.model.clone(),
            instance: self.instance.clone(),
            permits: self.permits.clone(),
        };
        tokio::task::spawn_blocking(move || this.complete_blocking(&body, seed))
            .await
            .map_err(|e| self.fatal(format!("the blocking task failed: {e}")))?
    }
}
