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
        /// The model item's name in the spec.
        model: String,
        /// The setting that failed: `base_url` or `api_key`.
        field: &'static str,
        /// Why it has no value (e.g. an unset environment variable).
        source: SettingError,
    },
    /// An `openai` model with no `base_url`.
    #[error("model `{model}`: provider \"openai\" needs a `base_url`")]
    NoBaseUrl {
        /// The model item's name in the spec.
        model: String,
    },
    /// A base URL that is not an absolute http(s) URL.
    #[error("model `{model}`: base_url `{url}` is not an http:// or https:// URL")]
    BadUrl {
        /// The model item's name in the spec.
        model: String,
        /// The resolved base URL as given (a URL, not a secret).
        url: String,
    },
    /// The API key cannot be sent as an HTTP header.
    #[error("model `{model}`: the api_key contains characters not allowed in an HTTP header")]
    BadKey {
        /// The model item's name in the spec.
        model: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("model `{model}`: cannot build the HTTP client: {message}")]
    Client {
        /// The model item's name in the spec.
        model: String,
        /// The HTTP client library's error text.
        message: String,
    },
    /// A `sim` model whose `oracle` dataset was not loaded.
    #[error("model `{model}`: oracle dataset `{dataset}` was not loaded")]
    MissingOracle {
        /// The model item's name in the spec.
        model: String,
        /// The dataset named by its `oracle` setting.
        dataset: String,
    },
    /// A provider kind this registry cannot build (local, plugin models).
    #[error("model `{model}`: {message}")]
    Unsupported {
        /// The model item's name in the spec.
        model: String,
        /// Why this build cannot set the model up and, where it can say, how
        /// to get one that does (e.g. the cargo feature to enable).
        message: String,
    },
    /// A `provider = "local"` item that cannot be set up: a bad setting, a
    /// missing or non-GGUF file, a model llama.cpp cannot load.
    #[error("model `{model}`: {message}")]
    Local {
        /// The model item's name in the spec.
        model: String,
        /// What went wrong, without the setting values.
        message: String,
    },
}
