//! The registry of loaded plugins for one run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use simba_plugin_sdk::Manifest;

pub use super::listing::PluginListing;
use simba_plugin_sdk::abi::{KIND_METRIC, KIND_MODEL, KIND_STRATEGY, KIND_TOOL};
use tokio::sync::Semaphore;

use super::PluginError;
use super::code::{DEFAULT_CALL_TIMEOUT, PluginMetric, PluginTool};
use super::library::{Instance, Library};
use super::model::PluginModel;
use super::strategy::PluginStrategy;
use crate::ir::{ModelDecl, PluginDecl, PluginItem, Provider};
use crate::lm::Lm;

/// Default cap on concurrent strategy calls (and, separately, model calls).
/// Separate caps keep a strategy that waits on a plugin model from holding
/// the permit that model needs.
const DEFAULT_MAX_CALLS: usize = 64;

/// The plugins of a spec, loaded and version-checked. Cheap to clone; the
/// libraries stay loaded for the life of the process.
#[derive(Clone)]
pub struct PluginHost {
    plugins: IndexMap<String, Arc<Library>>,
    strategy_permits: Arc<Semaphore>,
    model_permits: Arc<Semaphore>,
    code_permits: Arc<Semaphore>,
    call_timeout: Duration,
    spec_dir: Option<PathBuf>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PluginHost {
    fn empty() -> Self {
        Self {
            plugins: IndexMap::new(),
            strategy_permits: Arc::new(Semaphore::new(DEFAULT_MAX_CALLS)),
            model_permits: Arc::new(Semaphore::new(DEFAULT_MAX_CALLS)),
            code_permits: Arc::new(Semaphore::new(DEFAULT_MAX_CALLS)),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            spec_dir: None,
        }
    }

    /// Loads every declared plugin: resolves the path, checks the ABI
    /// version, reads the manifest. Fails on the first plugin that does not load.
    pub fn load(decls: &IndexMap<String, PluginDecl>) -> Result<PluginHost, PluginError> {
        Self::load_in(decls, &[])
    }

    /// [`PluginHost::load`], also looking for each library's file name in
    /// the folders of `search_path` (`[plugins] search_path` of simba.toml).
    pub fn load_in(
        decls: &IndexMap<String, PluginDecl>,
        search_path: &[PathBuf],
    ) -> Result<PluginHost, PluginError> {
        let (host, mut errors) = Self::load_each_in(decls, search_path);
        match errors.is_empty() {
            true => Ok(host),
            false => Err(errors.remove(0)),
        }
    }

    /// Loads every plugin that loads and reports the others (so `check` can
    /// show every problem at once).
    pub fn load_each(decls: &IndexMap<String, PluginDecl>) -> (PluginHost, Vec<PluginError>) {
        Self::load_each_in(decls, &[])
    }

    /// [`PluginHost::load_each`] with a search path (see [`PluginHost::load_in`]).
    pub fn load_each_in(
        decls: &IndexMap<String, PluginDecl>,
        search_path: &[PathBuf],
    ) -> (PluginHost, Vec<PluginError>) {
        let mut host = Self::empty();
        let mut errors = Vec::new();
        for (name, decl) in decls {
            match Library::open(name, &decl.path, search_path) {
                Ok(lib) => {
                    host.plugins.insert(name.clone(), Arc::new(lib));
                }
                Err(e) => errors.push(e),
            }
        }
        (host, errors)
    }

    /// Plugin models receive `spec_dir` in their config (a block's own,
    /// taken from this folder when relative, replaces it), so they can
    /// resolve relative paths like the spec does.
    pub fn with_spec_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spec_dir = Some(dir.into());
        self
    }

    /// Bounds each tool and metric call (default [`DEFAULT_CALL_TIMEOUT`]).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Caps concurrent strategy calls and, separately, model calls.
    pub fn with_max_concurrent_calls(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.strategy_permits = Arc::new(Semaphore::new(n));
        self.model_permits = Arc::new(Semaphore::new(n));
        self.code_permits = Arc::new(Semaphore::new(n));
        self
    }

    fn library(&self, plugin: &str) -> Result<&Arc<Library>, PluginError> {
        self.plugins
            .get(plugin)
            .ok_or_else(|| PluginError::UnknownPlugin {
                plugin: plugin.to_string(),
            })
    }

    /// The manifest of a loaded plugin.
    pub fn manifest(&self, plugin: &str) -> Option<&Manifest> {
        self.plugins.get(plugin).map(|l| &l.manifest)
    }

    /// The library file a plugin was loaded from.
    pub fn path(&self, plugin: &str) -> Option<&Path> {
        self.plugins.get(plugin).map(|l| l.path.as_path())
    }

    /// What each loaded plugin provides, in declaration order.
    pub fn listings(&self) -> Vec<PluginListing> {
        self.plugins
            .values()
            .map(|l| PluginListing {
                name: l.name.clone(),
                path: l.path.clone(),
                abi: l.abi,
                manifest: l.manifest.clone(),
            })
            .collect()
    }

    /// Ok when `plugin` provides strategy `item` (the check behind a
    /// `plugin.item` in `strategies = [..]`).
    pub fn check_strategy(&self, plugin: &str, item: &str) -> Result<(), PluginError> {
        let lib = self.library(plugin)?;
        check_item(lib, "strategy", &lib.manifest.strategies, item)
    }

    /// Ok when `plugin` provides model `item`.
    pub fn check_model(&self, plugin: &str, item: &str) -> Result<(), PluginError> {
        let lib = self.library(plugin)?;
        check_item(lib, "model", &lib.manifest.models, item)
    }

    /// Ok when `plugin` provides tool `item`; its manifest entry.
    pub fn check_tool(
        &self,
        plugin: &str,
        item: &str,
    ) -> Result<&simba_plugin_sdk::ToolSpec, PluginError> {
        let lib = self.library(plugin)?;
        let names: Vec<String> = lib.manifest.tools.iter().map(|t| t.name.clone()).collect();
        check_item(lib, "tool", &names, item)?;
        Ok(lib
            .manifest
            .tools
            .iter()
            .find(|t| t.name == item)
            .expect("checked above"))
    }

    /// Ok when `plugin` provides metric `item`.
    pub fn check_metric(&self, plugin: &str, item: &str) -> Result<(), PluginError> {
        let lib = self.library(plugin)?;
        check_item(lib, "metric", &lib.manifest.metrics, item)
    }

    fn create(&self, kind: u32, what: &PluginItem) -> Result<Instance, PluginError> {
        let lib = self.library(&what.plugin)?;
        let create_error = |message| PluginError::Create {
            plugin: what.plugin.clone(),
            item: what.item.clone(),
            message,
        };
        let config = crate::ir::resolve_env_values(&what.config.json()).map_err(|e| {
            PluginError::ConfigEnv {
                plugin: what.plugin.clone(),
                item: what.item.clone(),
                message: e.to_string(),
            }
        })?;
        Instance::create(lib, kind, &what.item, &config).map_err(create_error)
    }

    /// An instance of the metric `what` (its config handed to the plugin).
    pub fn metric(&self, what: &PluginItem) -> Result<PluginMetric, PluginError> {
        self.check_metric(&what.plugin, &what.item)?;
        Ok(PluginMetric {
            instance: Arc::new(self.create(KIND_METRIC, what)?),
            permits: self.code_permits.clone(),
            timeout: self.call_timeout,
        })
    }

    /// An instance of the tool `what` (its config handed to the plugin).
    pub fn tool(&self, what: &PluginItem) -> Result<PluginTool, PluginError> {
        self.check_tool(&what.plugin, &what.item)?;
        Ok(PluginTool {
            instance: Arc::new(self.create(KIND_TOOL, what)?),
            permits: self.code_permits.clone(),
            timeout: self.call_timeout,
        })
    }

    /// An instance of the strategy `plugin.item` made from `config` (a JSON
    /// object; `{}` for none).
    pub fn strategy(
        &self,
        plugin: &str,
        item: &str,
        config: &serde_json::Value,
    ) -> Result<PluginStrategy, PluginError> {
        self.check_strategy(plugin, item)?;
        let lib = self.library(plugin)?;
        let create_error = |message| PluginError::Create {
            plugin: plugin.to_string(),
            item: item.to_string(),
            message,
        };
        let config = crate::ir::resolve_env_values(config).map_err(|e| PluginError::ConfigEnv {
            plugin: plugin.to_string(),
            item: item.to_string(),
            message: e.to_string(),
        })?;
        let instance = Instance::create(lib, KIND_STRATEGY, item, &config).map_err(create_error)?;
        Ok(PluginStrategy {
            instance: Arc::new(instance),
            permits: self.strategy_permits.clone(),
        })
    }

    /// The model `decl` (whose provider is `plugin.item`) as an [`Lm`]; the
    /// plugin's config is the block's own keys (`decl.extra`) plus `spec_dir`.
    pub fn model(&self, decl: &ModelDecl) -> Result<Arc<dyn Lm>, PluginError> {
        let Provider::Plugin { plugin, item } = &decl.provider else {
            return Err(PluginError::NotAPluginModel {
                model: decl.name.clone(),
            });
        };
        self.check_model(plugin, item)?;
        let lib = self.library(plugin)?;
        let extra: serde_json::Map<String, serde_json::Value> =
            decl.extra.clone().into_iter().collect();
        let mut config =
            crate::ir::resolve_env_values(&extra.into()).map_err(|e| PluginError::ConfigEnv {
                plugin: plugin.to_string(),
                item: item.to_string(),
                message: format!("model `{}`: {e}", decl.name),
            })?;
        if let (Some(dir), Some(config)) = (&self.spec_dir, config.as_object_mut()) {
            // A block's own `spec_dir` (a string, which compile checks)
            // overrides the host's; a relative one is taken from the spec's
            // folder, as the spec's own paths are.
            let resolved = match config.get("spec_dir") {
                Some(serde_json::Value::String(own)) => dir.join(own),
                _ => dir.clone(),
            };
            config.insert("spec_dir".into(), resolved.display().to_string().into());
        }
        // Named, as several models may use one item with different blocks.
        let instance = Instance::create(lib, KIND_MODEL, item, &config).map_err(|message| {
            PluginError::Create {
                plugin: plugin.to_string(),
                item: item.to_string(),
                message: format!("model `{}`: {message}", decl.name),
            }
        })?;
        Ok(Arc::new(PluginModel {
            model: decl.name.clone(),
            instance: Arc::new(instance),
            permits: self.model_permits.clone(),
        }))
    }
}

fn check_item(
    lib: &Library,
    kind: &'static str,
    provided: &[String],
    item: &str,
) -> Result<(), PluginError> {
    if provided.iter().any(|i| i == item) {
        Ok(())
    } else {
        Err(PluginError::UnknownItem {
            plugin: lib.name.clone(),
            kind,
            item: item.to_string(),
            available: provided.to_vec(),
        })
    }
}
