//! Plugin errors: each names the plugin, and the library path or item.

use std::path::PathBuf;

/// What can go wrong loading or calling a plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// No file at the path, with or without the platform prefix/suffix.
    #[error("plugin `{plugin}`: no library at {} (tried {})", path.display(), tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library path as declared.
        path: PathBuf,
        /// Every file looked for, in search order.
        tried: Vec<PathBuf>,
    },
    /// The dynamic loader refused the file.
    #[error("plugin `{plugin}`: cannot load {}: {message}", path.display())]
    Open {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library file that failed to load.
        path: PathBuf,
        /// The dynamic loader's message.
        message: String,
    },
    /// The library does not export `simba_plugin_entry`.
    #[error("plugin `{plugin}`: {} has no entry symbol `{symbol}` (is it a simba-run plugin built with `export_plugin!`?): {message}", path.display())]
    NoEntry {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library file.
        path: PathBuf,
        /// The entry symbol looked up.
        symbol: String,
        /// The dynamic loader's message.
        message: String,
    },
    /// The plugin was built for another ABI major version.
    #[error("plugin `{plugin}`: {} was built for plugin ABI {plugin_major}.{plugin_minor}, but this simba-run speaks ABI {host_major}.{host_minor} (major versions must match); rebuild the plugin against simba-plugin-sdk {host_major}.x", path.display())]
    AbiMismatch {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library file.
        path: PathBuf,
        /// ABI major version the plugin was built for.
        plugin_major: u32,
        /// ABI minor version the plugin was built for.
        plugin_minor: u32,
        /// ABI major version this host speaks.
        host_major: u32,
        /// ABI minor version this host speaks.
        host_minor: u32,
    },
    /// The entry table is truncated or has a null function.
    #[error("plugin `{plugin}`: {} has a malformed entry table: {message}", path.display())]
    BadTable {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library file.
        path: PathBuf,
        /// What is wrong with the table.
        message: String,
    },
    /// The manifest call failed or returned something else than the manifest JSON.
    #[error("plugin `{plugin}`: {} has a bad manifest: {message}", path.display())]
    BadManifest {
        /// The plugin's name in the spec.
        plugin: String,
        /// The library file.
        path: PathBuf,
        /// Why the manifest was rejected.
        message: String,
    },
    /// No plugin of that name was declared.
    #[error("no plugin named `{plugin}` is declared")]
    UnknownPlugin {
        /// The name that was referenced.
        plugin: String,
    },
    /// The plugin does not provide the item.
    #[error("plugin `{plugin}` provides no {kind} `{item}` (it provides: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    UnknownItem {
        /// The plugin's name in the spec.
        plugin: String,
        /// "strategy" or "model".
        kind: &'static str,
        /// The item asked for.
        item: String,
        /// The items of that kind the manifest lists.
        available: Vec<String>,
    },
    /// A model declaration that is not a plugin model.
    #[error("model `{model}` is not provided by a plugin")]
    NotAPluginModel {
        /// The model item's name in the spec.
        model: String,
    },
    /// The plugin refused to create the instance (bad config, ...).
    #[error("plugin `{plugin}`: cannot create `{item}`: {message}")]
    Create {
        /// The plugin's name in the spec.
        plugin: String,
        /// The strategy or model item being created.
        item: String,
        /// The plugin's own message.
        message: String,
    },
    /// An `env(..)` in the item's config has no value (simba-run's
    /// refusal, before the plugin sees the config).
    #[error("plugin `{plugin}`: cannot create `{item}`: its config: {message}")]
    ConfigEnv {
        /// The plugin's name in the spec.
        plugin: String,
        /// The item being created.
        item: String,
        /// Which variable, and why (never its value).
        message: String,
    },
    /// The call returned an error (or panicked; the message says so).
    #[error("plugin `{plugin}`: `{item}` failed: {message}")]
    Call {
        /// The plugin's name in the spec.
        plugin: String,
        /// The strategy or model item called.
        item: String,
        /// The plugin's own message.
        message: String,
    },
    /// The call's reply is not the expected JSON.
    #[error("plugin `{plugin}`: `{item}` sent a malformed reply: {message}")]
    BadReply {
        /// The plugin's name in the spec.
        plugin: String,
        /// The strategy or model item called.
        item: String,
        /// Why the reply could not be decoded.
        message: String,
    },
}

impl PluginError {
    /// The spec's name of the plugin involved; `None` for a model that is
    /// not a plugin's.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::NotFound { plugin, .. }
            | PluginError::Open { plugin, .. }
            | PluginError::NoEntry { plugin, .. }
            | PluginError::AbiMismatch { plugin, .. }
            | PluginError::BadTable { plugin, .. }
            | PluginError::BadManifest { plugin, .. }
            | PluginError::UnknownPlugin { plugin }
            | PluginError::UnknownItem { plugin, .. }
            | PluginError::Create { plugin, .. }
            | PluginError::ConfigEnv { plugin, .. }
            | PluginError::Call { plugin, .. }
            | PluginError::BadReply { plugin, .. } => Some(plugin),
            PluginError::NotAPluginModel { .. } => None,
        }
    }
}
