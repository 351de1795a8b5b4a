//! A spec's plugins and models, built once for a command that runs programs
//! (`simba-run spec.simba`, `eval`): plugin models sit in the registry beside
//! the built-in providers, and the host stays alive for the whole run.

use indexmap::IndexMap;
use std::path::PathBuf;

use super::{PluginError, PluginHost};
use crate::ir::{Provider, Spec};
use crate::lm::{ModelError, Models, ModelsOptions};
use crate::value::Example;

/// Why the models of a spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Loads every plugin the spec declares (paths relative to the spec folder,
/// then by file name in `[plugins] search_path` of the spec's simba.toml).
pub fn load_plugins(spec: &Spec) -> Result<PluginHost, SetupError> {
    // simba.toml is read only when there is something to look for.
    let search_path = if spec.plugins.is_empty() {
        Vec::new()
    } else {
        plugin_search_path(spec)?
    };
    Ok(PluginHost::load_in(&spec.plugins, &search_path)?.with_spec_dir(&spec.base_dir))
}

/// `[plugins] search_path` of the simba.toml above the spec (empty when
/// there is none).
pub fn plugin_search_path(spec: &Spec) -> Result<Vec<PathBuf>, crate::config::ConfigError> {
    Ok(crate::config::ProjectConfig::for_spec(&spec.path)?.plugin_search_path)
}

/// The spec's models: built-in providers, and plugin models from `host`.
pub fn build_models(
    spec: &Spec,
    oracles: &IndexMap<String, Vec<Example>>,
    options: ModelsOptions,
    host: &PluginHost,
) -> Result<Models, SetupError> {
    Models::from_spec_with(spec, options, |decl| match decl.provider {
        Provider::Plugin { .. } => host.model(decl).map_err(SetupError::from),
        _ => {
            crate::models::builtin_provider(decl, oracles, &spec.base_dir).map_err(SetupError::from)
        }
    })
}
