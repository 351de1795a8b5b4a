//! Errors building models from a spec (as opposed to [`super::LmError`], the
//! error of one call).

use crate::ir::SettingError;

/// Why a model item could not be set up. Always names the model item; never
/// carries a setting's value (settings may hold secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A `base_url` or `api_key` setting has no value.
    #[error("model `{model}`: {field}: {source}")]
    Setting {
        model: String,
        field: &'static str,
        source: SettingError,
    },
    /// An `openai` model with no `base_url`.
    #[error("model `{model}`: provider \"openai\" needs a `base_url`")]
    NoBaseUrl { model: String },
    /// A base URL that is not an absolute http(s) URL.
    #[error("model `{model}`: base_url `{url}` is not an http:// or https:// URL")]
    BadUrl { model: String, url: String },
    /// The API key cannot be sent as an HTTP header.
    #[error("model `{model}`: the api_key contains characters not allowed in an HTTP header")]
    BadKey { model: String },
    /// The HTTP client could not be built (TLS setup).
    #[error("model `{model}`: cannot build the HTTP client: {message}")]
    Client { model: String, message: String },
    /// A `sim` model whose `oracle` dataset was not loaded.
    #[error("model `{model}`: oracle dataset `{dataset}` was not loaded")]
    MissingOracle { model: String, dataset: String },
    /// A provider kind this registry cannot build (local, plugin models).
    #[error("model `{model}`: {message}")]
    Unsupported { model: String, message: String },
    /// A `provider = "local"` item that cannot be set up: a bad setting, a
    /// missing or non-GGUF file, a model llama.cpp cannot load.
    #[error("model `{model}`: {message}")]
    Local { model: String, message: String },
}
