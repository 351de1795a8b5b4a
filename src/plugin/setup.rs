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
    /// A plugin could not be loaded, or a plugin model not created.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The model registry could not be built, e.g. a built-in model's settings are invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Loads every plugin the spec declares (paths relative to the spec folder,
/// then by file name in `search_path`: the `[plugins] search_path` of the
/// project's simba.toml).
pub fn load_plugins(spec: &Spec, search_path: &[PathBuf]) -> Result<PluginHost, SetupError> {
    Ok(PluginHost::load_in(&spec.plugins, search_path)?.with_spec_dir(&spec.base_dir))
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
