//! Models: `model NAME { .. }` and the settings that may come from the environment.

use super::defaults;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A value that may come from the environment, read only when needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setting {
    /// Written in the spec as is.
    Literal(String),
    /// `env("VAR")` or `env("VAR", "default")`.
    Env {
        /// The environment variable.
        var: String,
        /// Used when the variable is unset or empty.
        default: Option<String>,
    },
}

impl Setting {
    /// The value: the literal, else the environment variable, else its
    /// default. An unset or empty variable with no default is an error that
    /// names the variable (never a value, since settings may hold secrets).
    pub fn resolve(&self) -> Result<String, SettingError> {
        match self {
            Setting::Literal(value) => Ok(value.clone()),
            Setting::Env { var, default } => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(value),
                Ok(_) | Err(std::env::VarError::NotPresent) => default
                    .clone()
                    .ok_or_else(|| SettingError::Unset { var: var.clone() }),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SettingError::NotUnicode { var: var.clone() })
                }
            },
        }
    }

    /// An OpenAI model's `base_url` when the spec gives none:
    /// [`defaults::OPENAI_BASE_URL_VAR`], else [`defaults::OPENAI_BASE_URL`].
    pub fn openai_base_url() -> Self {
        Setting::Env {
            var: defaults::OPENAI_BASE_URL_VAR.into(),
            default: Some(defaults::OPENAI_BASE_URL.into()),
        }
    }
}

/// The key of the JSON object that stands for an `env(..)` value in a
/// pass-through config (plugin items, local and plugin model settings):
/// `{"$env": NAME, "default": ..}`. Spec keys are identifiers, so no block
/// written in a spec can hold this key: the object is always an `env(..)`.
pub const ENV_KEY: &str = "$env";

impl Setting {
    /// The setting a pass-through JSON value stands for: a string is a
    /// literal, an [`ENV_KEY`] object an `env(..)`; anything else is not one.
    pub fn from_json(value: &serde_json::Value) -> Option<Setting> {
        use serde_json::Value;
        match value {
            Value::String(s) => Some(Setting::Literal(s.clone())),
            Value::Object(map) => {
                let Some(Value::String(var)) = map.get(ENV_KEY) else {
                    return None;
                };
                let default = map.get("default").and_then(Value::as_str).map(String::from);
                Some(Setting::Env {
                    var: var.clone(),
                    default,
                })
            }
            _ => None,
        }
    }
}

/// `value` with every `env(..)` in it (at any depth) replaced by the
/// variable's value, as a plugin receives its config: read when the item is
/// built, never at compile time, so no artifact holds it.
pub fn resolve_env_values(value: &serde_json::Value) -> Result<serde_json::Value, SettingError> {
    use serde_json::Value;
    Ok(match value {
        Value::Object(map) if map.contains_key(ENV_KEY) => match Setting::from_json(value) {
            Some(setting) => Value::String(setting.resolve()?),
            None => value.clone(),
        },
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), resolve_env_values(v)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(resolve_env_values)
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// Why a [`Setting`] has no value. Names the variable only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// The variable is unset or empty and the setting has no default.
    #[error("environment variable `{var}` is not set and has no default")]
    Unset {
        /// The variable.
        var: String,
    },
    /// The variable holds bytes that are not UTF-8.
    #[error("environment variable `{var}` is not valid UTF-8")]
    NotUnicode {
        /// The variable.
        var: String,
    },
}

/// Where a model's answers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Provider {
    /// Any OpenAI-compatible `/chat/completions` server.
    OpenAi,
    /// The offline simulated model.
    Sim,
    /// In-process llama.cpp (cargo feature `local`).
    Local,
    /// A model provided by a plugin: `plugin.item`.
    Plugin {
        /// The plugin's name in the spec.
        plugin: String,
        /// The model's name inside the plugin.
        item: String,
    },
}

/// `model NAME { .. }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDecl {
    /// The item name models are referred to by.
    pub name: String,
    /// Where the answers come from.
    pub provider: Provider,
    /// The provider's model id (`model = "gpt-4o-mini"`); defaults to the item name.
    pub model: String,
    /// One or more base URLs; requests spread over them.
    pub base_urls: Vec<Setting>,
    /// Sent as the bearer token; none by default.
    pub api_key: Option<Setting>,
    /// Default [`defaults::MODEL_TEMPERATURE`].
    pub temperature: f64,
    /// Unset by default (the provider decides).
    pub max_tokens: Option<u32>,
    /// Default [`defaults::MODEL_TIMEOUT`].
    pub timeout: Duration,
    /// Max in-flight requests to this model. Default [`defaults::MODEL_CONCURRENCY`].
    pub concurrency: usize,
    /// Retries on timeouts, connection errors, 429 and 5xx. Default
    /// [`defaults::MODEL_RETRIES`].
    pub retries: u32,
    /// Passed through to the provider unchanged.
    pub params: IndexMap<String, serde_json::Value>,
    /// `sim` only: the dataset whose labels the simulated model knows.
    pub oracle: Option<String>,
    /// `sim` only: accuracy with no help, in [0, 1]. Default [`defaults::SIM_SKILL`].
    pub skill: f64,
    /// `sim` only: simulated delay per call. Default [`defaults::SIM_LATENCY`].
    pub latency: Duration,
    /// `openai` only: the largest reply body read from the server, in
    /// bytes. Default [`defaults::MAX_RESPONSE_BYTES`].
    pub max_response_bytes: u64,
    /// `local` only: GGUF path; plugins: their own keys. Any key not listed
    /// above lands here (plugin models receive these as their JSON config).
    pub extra: IndexMap<String, serde_json::Value>,
}

impl ModelDecl {
    /// A model as a spec declaring only its name and provider gets it: the
    /// model id is the name, every other setting its default. (An OpenAI
    /// model's default `base_url` is added by `compile`, which knows whether
    /// the spec gave one.)
    pub fn new(name: impl Into<String>, provider: Provider) -> Self {
        let name = name.into();
        ModelDecl {
            model: name.clone(),
            name,
            provider,
            base_urls: Vec::new(),
            api_key: None,
            temperature: defaults::MODEL_TEMPERATURE,
            max_tokens: None,
            timeout: defaults::MODEL_TIMEOUT,
            concurrency: defaults::MODEL_CONCURRENCY,
            retries: defaults::MODEL_RETRIES,
            params: IndexMap::new(),
            oracle: None,
            skill: defaults::SIM_SKILL,
            latency: defaults::SIM_LATENCY,
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
            extra: IndexMap::new(),
        }
    }
}
