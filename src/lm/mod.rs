//! The LM interface every provider implements, and the request/response types.
//!
//! Providers implement [`Lm`]; the cache, retries, concurrency caps and usage
//! counting wrap it. This module holds the providers that only speak text
//! (`openai`); the ones that read the adapter's prompts (`crate::sim`,
//! `crate::local`) and plugin models live above the adapter, and
//! `crate::models` builds a spec's registry from all of them.

use async_trait::async_trait;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Message {
    /// A system message (the adapter's instructions and field layout).
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
    /// An assistant message (a demo's reply in a few-shot prompt).
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// What the reply should look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResponseFormat {
    /// Free text (the field-marker format).
    Text,
    /// A JSON object (the adapter's fallback).
    JsonObject,
}

/// A completion request. Everything that can change the answer is in here, so
/// the whole request is the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The spec's model item name (not the provider's model id).
    pub model: String,
    /// The conversation to complete, in order.
    pub messages: Vec<Message>,
    /// Sampling temperature, as the provider takes it (0 is greedy).
    pub temperature: f64,
    /// Cap on completion tokens; `None` leaves it to the provider.
    pub max_tokens: Option<u32>,
    /// Request seed, for providers that honour one.
    pub seed: Option<u64>,
    /// Distinguishes otherwise identical samples (DSPy's rollout_id); part of
    /// the cache key, never sent to OpenAI-style servers.
    pub rollout_id: Option<u64>,
    /// Whether to ask the provider for a JSON object.
    pub response_format: ResponseFormat,
    /// Extra provider parameters, passed through unchanged.
    pub params: IndexMap<String, serde_json::Value>,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt, as the provider counted them.
    pub prompt_tokens: u64,
    /// Tokens of the reply, as the provider counted them.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The reply text, as the model wrote it.
    pub text: String,
    /// The tokens the call cost (a cache hit reports the original call's).
    pub usage: Usage,
    /// Served from the response cache (no request was made).
    #[serde(default)]
    pub cached: bool,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum LmError {
    /// Worth retrying: timeouts, connection errors, 429, 5xx.
    #[error("model `{model}`: {message}")]
    Transient {
        /// The spec's model item name.
        model: String,
        /// What went wrong, for messages.
        message: String,
        /// The server's `Retry-After`, in milliseconds: the retry layer waits at least this long.
        retry_after_ms: Option<u64>,
    },
    /// Not worth retrying: 4xx other than 429, bad configuration, a budget cap.
    #[error("model `{model}`: {message}")]
    Fatal {
        /// The spec's model item name.
        model: String,
        /// What went wrong, for messages.
        message: String,
    },
}

impl LmError {
    /// Whether the retry layer should try again ([`LmError::Transient`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LmError::Transient { .. })
    }
}

/// An LM: anything that turns a request into a completion.
#[async_trait]
pub trait Lm: Send + Sync {
    /// Answers one request.
    async fn complete(&self, request: &Request) -> Result<Response, LmError>;

    /// What names this provider's replies in the response cache beside the
    /// declaration's model id, when the id alone does not decide them (a
    /// local model: its file and sampling settings). `None`: the model id.
    fn cache_identity(&self) -> Option<String> {
        None
    }
}

/// The spec's models by item name: what the executor, metrics and strategies
/// call. The real registry (providers wrapped with cache, retries,
/// concurrency caps and usage counting) implements it; tests use fakes.
pub trait ModelSet: Send + Sync {
    /// The callable model named `name` in the spec.
    fn lm(&self, name: &str) -> Option<std::sync::Arc<dyn Lm>>;
    /// A request carrying the model's own settings (model name, temperature,
    /// max_tokens, params) and no messages: callers fill in the messages and
    /// apply any override (temperature, seed, rollout id).
    fn template(&self, name: &str) -> Option<Request>;
}

pub mod cache;
mod error;
pub mod gate;
pub(crate) mod json_out;
pub mod limit;
pub mod openai;
pub mod registry;
pub mod retry;
pub mod timeout;
pub mod usage;

pub use error::ModelError;
pub use registry::{Models, ModelsOptions};
pub use usage::{ModelUsage, UsageBook, UsageSnapshot};
