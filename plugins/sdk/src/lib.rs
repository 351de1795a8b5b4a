//! SDK for simba-run plugins: strategies and models shipped as dynamic
//! libraries.
//!
//! A plugin is a `cdylib` that implements [`Strategy`] and/or [`Model`] and
//! exports them with [`export_plugin!`]:
//!
//! ```
//! use simba_plugin_sdk::{export_plugin, Host, Strategy, StrategyReply, StrategyRequest};
//!
//! struct Noop;
//! impl Strategy for Noop {
//!     fn new(_config: &serde_json::Value) -> Result<Self, String> { Ok(Noop) }
//!     fn apply(&self, _req: StrategyRequest, _host: &Host) -> Result<StrategyReply, String> {
//!         Ok(StrategyReply::Skipped { reason: "nothing to do".into() })
//!     }
//! }
//! export_plugin! { name: "mine", strategies: ["noop" => Noop], models: [] }
//! ```
//!
//! The boundary is a plain C ABI ([`abi`], mirrored by
//! `include/simba_plugin.h`) carrying JSON payloads ([`types`]), so plugins
//! may be built with any rustc, or in C. Errors: a `String` error from a
//! trait method, a config the constructor rejects, or a panic all reach the
//! host as an error result with the message; the host turns it into a
//! skipped strategy or a failed LM call and the run goes on.
#![deny(missing_docs)]

pub mod abi;
#[doc(hidden)]
pub mod export;
mod host;
#[allow(missing_docs)]
pub mod types;

pub use host::{Host, Level, Unavailable};
pub use types::*;

#[doc(hidden)]
pub use serde_json as __serde_json;

/// A SIMBA strategy: turns a bucket and a candidate program into a modified
/// program, or skips. Instances may be called from several threads at once.
pub trait Strategy: Send + Sync + 'static {
    /// Builds the strategy from its JSON config (an object; `{}` when none).
    fn new(config: &serde_json::Value) -> Result<Self, String>
    where
        Self: Sized;

    /// The config keys the strategy reads, listed in the manifest so the host
    /// reports an unknown key or a wrong type at its place in the spec.
    /// `None` (the default): the config is not checked by the host.
    fn config_keys() -> Option<Vec<ConfigKey>>
    where
        Self: Sized,
    {
        None
    }

    /// Applies the strategy. Random choices must use `host.next_u64()` (or
    /// `host.below`) so the run stays reproducible from its seed.
    fn apply(&self, request: StrategyRequest, host: &Host) -> Result<StrategyReply, String>;
}

/// An LM backend. Instances may be called from several threads at once.
pub trait Model: Send + Sync + 'static {
    /// Builds the model from its JSON config: the `model { .. }` block's own
    /// keys, plus `spec_dir` (the spec's folder) when the host knows it.
    fn new(config: &serde_json::Value) -> Result<Self, String>
    where
        Self: Sized;

    /// The keys of its `model { .. }` block the model reads beyond
    /// simba-run's own (`provider`, `concurrency`, `retries`, ...): with
    /// them declared, a misspelt key is an error at its place in the spec
    /// (see [`Strategy::config_keys`]). `spec_dir` is the host's, never
    /// declared.
    fn config_keys() -> Option<Vec<ConfigKey>>
    where
        Self: Sized,
    {
        None
    }

    /// Answers one request. `retryable` errors are retried per the model's
    /// `retries` setting.
    fn complete(&self, request: ModelRequest, host: &Host) -> Result<ModelResponse, ModelError>;
}

/// A tool: a program step that runs code instead of an LM
/// (`step x = plugin.item(a = ..)`). It is never optimized; its fields are
/// typed by [`Tool::signature`], which the manifest lists and `check` uses.
/// Instances may be called from several threads at once.
pub trait Tool: Send + Sync + 'static {
    /// Builds the tool from its JSON config (the `{ .. }` after the step's
    /// call; `{}` when none).
    fn new(config: &serde_json::Value) -> Result<Self, String>
    where
        Self: Sized;

    /// The config keys the tool reads (see [`Strategy::config_keys`]).
    fn config_keys() -> Option<Vec<ConfigKey>>
    where
        Self: Sized,
    {
        None
    }

    /// The tool's typed inputs and outputs (`name` is filled in by the
    /// export; leave it empty).
    fn signature() -> ToolSpec
    where
        Self: Sized;

    /// Runs the tool on the step's inputs; returns every output.
    fn run(&self, inputs: Record, host: &Host) -> Result<Record, String>;
}

/// A metric written in code (`metric m = plugin.item(pred, gold) { .. }`):
/// scores a prediction against its gold example, with optional feedback for
/// strategies. Instances may be called from several threads at once.
pub trait Metric: Send + Sync + 'static {
    /// Builds the metric from its JSON config (`{}` when none).
    fn new(config: &serde_json::Value) -> Result<Self, String>
    where
        Self: Sized;

    /// The config keys the metric reads (see [`Strategy::config_keys`]).
    fn config_keys() -> Option<Vec<ConfigKey>>
    where
        Self: Sized,
    {
        None
    }

    /// Scores one prediction. An `Err` is a failed metric call: the
    /// prediction scores 0 with the message as feedback.
    fn score(&self, request: MetricRequest, host: &Host) -> Result<MetricScore, String>;
}

/// Exports the plugin: generates the `simba_plugin_entry` symbol and the
/// entry table whose functions all run inside `catch_unwind`.
///
/// ```ignore
/// export_plugin! {
///     name: "extras",
///     strategies: ["swap_demo" => SwapDemo, "shuffle_demos" => ShuffleDemos],
///     models: ["replay" => Replay],
///     tools: ["lookup" => Lookup],       // optional
///     metrics: ["rubric" => Rubric],     // optional
/// }
/// ```
/// The version is the crate's `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        strategies: [$($sname:literal => $sty:ty),* $(,)?],
        models: [$($mname:literal => $mty:ty),* $(,)?]
        $(, tools: [$($tname:literal => $tty:ty),* $(,)?])?
        $(, metrics: [$($xname:literal => $xty:ty),* $(,)?])? $(,)?
    ) => {
        const _: () = {
            use $crate::abi::{SimbaBuffer, SimbaHost, SimbaPluginTable};
            use $crate::export::{
                ConfigKeysFn, MetricFactory, ModelFactory, PluginDef, StrategyFactory, ToolFactory,
            };
            use ::std::ffi::c_void;

            static DEF: PluginDef = PluginDef {
                name: $name,
                version: env!("CARGO_PKG_VERSION"),
                strategies: &[$((
                    $sname,
                    (|c: &$crate::__serde_json::Value| {
                        <$sty as $crate::Strategy>::new(c)
                            .map(|s| Box::new(s) as Box<dyn $crate::Strategy>)
                    }) as StrategyFactory,
                )),*],
                models: &[$((
                    $mname,
                    (|c: &$crate::__serde_json::Value| {
                        <$mty as $crate::Model>::new(c)
                            .map(|m| Box::new(m) as Box<dyn $crate::Model>)
                    }) as ModelFactory,
                )),*],
                tools: &[$($((
                    $tname,
                    (|c: &$crate::__serde_json::Value| {
                        <$tty as $crate::Tool>::new(c)
                            .map(|t| Box::new(t) as Box<dyn $crate::Tool>)
                    }) as ToolFactory,
                    <$tty as $crate::Tool>::signature as fn() -> $crate::ToolSpec,
                )),*)?],
                metrics: &[$($((
                    $xname,
                    (|c: &$crate::__serde_json::Value| {
                        <$xty as $crate::Metric>::new(c)
                            .map(|m| Box::new(m) as Box<dyn $crate::Metric>)
                    }) as MetricFactory,
                )),*)?],
                config_keys: &[
                    $(("strategy", $sname, <$sty as $crate::Strategy>::config_keys as ConfigKeysFn),)*
                    $(("model", $mname, <$mty as $crate::Model>::config_keys as ConfigKeysFn),)*
                    $($(("tool", $tname, <$tty as $crate::Tool>::config_keys as ConfigKeysFn),)*)?
                    $($(("metric", $xname, <$xty as $crate::Metric>::config_keys as ConfigKeysFn),)*)?
                ],
            };

            unsafe extern "C" fn manifest(out: *mut SimbaBuffer) -> i32 {
                unsafe { $crate::export::manifest(&DEF, out) }
            }
            unsafe extern "C" fn create(
                kind: u32,
                item: *const u8,
                item_len: usize,
                config: *const u8,
                config_len: usize,
                out_instance: *mut *mut c_void,
                out: *mut SimbaBuffer,
            ) -> i32 {
                unsafe {
                    $crate::export::create(
                        &DEF, kind, item, item_len, config, config_len, out_instance, out,
                    )
                }
            }
            unsafe extern "C" fn call(
                instance: *mut c_void,
                request: *const u8,
                request_len: usize,
                host: *const SimbaHost,
                out: *mut SimbaBuffer,
            ) -> i32 {
                unsafe { $crate::export::call(instance, request, request_len, host, out) }
            }
            unsafe extern "C" fn destroy(instance: *mut c_void) {
                unsafe { $crate::export::destroy(instance) }
            }
            unsafe extern "C" fn free_buffer(buf: SimbaBuffer) {
                unsafe { $crate::export::free_buffer(buf) }
            }

            static TABLE: SimbaPluginTable = SimbaPluginTable {
                size: ::std::mem::size_of::<SimbaPluginTable>(),
                abi_major: $crate::abi::ABI_MAJOR,
                abi_minor: $crate::abi::ABI_MINOR,
                manifest: Some(manifest),
                create: Some(create),
                call: Some(call),
                destroy: Some(destroy),
                free_buffer: Some(free_buffer),
            };

            /// The plugin's entry symbol.
            #[unsafe(no_mangle)]
            pub extern "C" fn simba_plugin_entry() -> *const SimbaPluginTable {
                &TABLE
            }
        };
    };
}
