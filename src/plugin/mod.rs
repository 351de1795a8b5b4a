//! The host side of the plugin ABI: loads plugin libraries (strategies and
//! models shipped as dynamic libraries), checks their ABI version, and calls
//! them on tokio's blocking pool.
//!
//! The boundary itself (the C table, the JSON payloads, the SDK traits) is
//! the `simba-plugin-sdk` crate in `plugins/sdk`; see `docs/plugins.md`.
//! Libraries stay mapped until the process exits: code of a plugin may still
//! be referenced by thread-local destructors of blocking-pool threads, so
//! unloading is never safe during a run.

mod callbacks;
mod code;
mod error;
mod glue;
mod host;
mod library;
mod listing;
mod model;
mod setup;
mod strategy;
mod tool_table;

pub use callbacks::{CallStats, PLUGIN_TARGET};
pub use code::{
    DEFAULT_CALL_TIMEOUT, MAX_CODE_REPLY_BYTES, PluginMetric, PluginTool, PluginTools, code_items,
};
pub use error::PluginError;
pub use glue::{apply_program, resolve_strategies};
pub use host::{PluginHost, PluginListing};
pub use library::{resolve_path, resolve_path_in};
pub use model::PluginModel;
pub use setup::{SetupError, build_models, load_plugins};
pub use strategy::{HostServices, PluginStrategy};
pub use tool_table::tool_table;

/// The SDK's payload types, re-exported for callers building requests.
pub use simba_plugin_sdk::{
    Demo as PluginDemo, FieldSpec, Manifest, Percentiles, Predictor, ProgramState, StrategyReply,
    StrategyRequest, TraceStep, Trajectory,
};
