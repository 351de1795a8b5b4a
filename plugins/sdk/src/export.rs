//! The generic bodies of the exported functions. [`crate::export_plugin!`]
//! generates thin `extern "C"` shims that call these; every one runs inside
//! `catch_unwind` so a panic becomes an error result carrying its message
//! instead of unwinding into the host.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    KIND_METRIC, KIND_MODEL, KIND_STRATEGY, KIND_TOOL, STATUS_ERROR, STATUS_OK, SimbaBuffer,
    SimbaHost,
};
use crate::host::Host;
use crate::types::{
    ConfigKey, ItemConfigKeys, Manifest, MetricRequest, ModelReply, ModelRequest, StrategyRequest,
    ToolReply, ToolRequest, ToolSpec,
};
use crate::{Metric, Model, Strategy, Tool};

/// Builds a boxed strategy from its JSON config.
pub type StrategyFactory = fn(&serde_json::Value) -> Result<Box<dyn Strategy>, String>;
/// Builds a boxed model from its JSON config.
pub type ModelFactory = fn(&serde_json::Value) -> Result<Box<dyn Model>, String>;

/// Builds a boxed tool from its JSON config.
pub type ToolFactory = fn(&serde_json::Value) -> Result<Box<dyn Tool>, String>;
/// Builds a boxed metric from its JSON config.
pub type MetricFactory = fn(&serde_json::Value) -> Result<Box<dyn Metric>, String>;

/// A tool's name, factory and typed fields.
pub type ToolEntry = (&'static str, ToolFactory, fn() -> ToolSpec);

/// An item's declared config keys (`None`: not declared).
pub type ConfigKeysFn = fn() -> Option<Vec<ConfigKey>>;

/// A plugin's static description, made by [`crate::export_plugin!`].
pub struct PluginDef {
    pub name: &'static str,
    pub version: &'static str,
    pub strategies: &'static [(&'static str, StrategyFactory)],
    pub models: &'static [(&'static str, ModelFactory)],
    pub tools: &'static [ToolEntry],
    pub metrics: &'static [(&'static str, MetricFactory)],
    /// `(kind, item, keys)` for every strategy, tool and metric.
    pub config_keys: &'static [(&'static str, &'static str, ConfigKeysFn)],
}

enum Instance {
    Strategy(Box<dyn Strategy>),
    Model(Box<dyn Model>),
    Tool(Box<dyn Tool>),
    Metric(Box<dyn Metric>),
}

/// The factory named `item` in `items`, or an error naming the kind.
fn find<'a, T>(
    def: &PluginDef,
    items: &'a [(&'static str, T)],
    kind: &str,
    item: &str,
) -> Result<&'a T, String> {
    items
        .iter()
        .find(|(n, _)| *n == item)
        .map(|(_, make)| make)
        .ok_or_else(|| format!("plugin `{}` has no {kind} `{item}`", def.name))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    };
    format!("plugin panicked: {text}")
}

/// Runs `f`, writing its bytes (or the error/panic message) to `out`.
unsafe fn guarded(out: *mut SimbaBuffer, f: impl FnOnce() -> Result<Vec<u8>, String>) -> i32 {
    let (status, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(bytes)) => (STATUS_OK, bytes),
        Ok(Err(message)) => (STATUS_ERROR, message.into_bytes()),
        Err(payload) => (STATUS_ERROR, panic_message(payload).into_bytes()),
    };
    if !out.is_null() {
        // SAFETY: the host passes a writable out-pointer.
        unsafe { *out = SimbaBuffer::from_vec(bytes) };
    }
    status
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller passes `len` readable bytes.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Body of `manifest`.
///
/// # Safety
/// `out` must be writable.
pub unsafe fn manifest(def: &PluginDef, out: *mut SimbaBuffer) -> i32 {
    unsafe {
        guarded(out, || {
            let m = Manifest {
                name: def.name.to_string(),
                version: def.version.to_string(),
                strategies: def.strategies.iter().map(|(n, _)| n.to_string()).collect(),
                models: def.models.iter().map(|(n, _)| n.to_string()).collect(),
                features: Vec::new(),
                tools: def
                    .tools
                    .iter()
                    .map(|(n, _, sig)| ToolSpec {
                        name: n.to_string(),
                        ..sig()
                    })
                    .collect(),
                metrics: def.metrics.iter().map(|(n, _)| n.to_string()).collect(),
                config: def
                    .config_keys
                    .iter()
                    .filter_map(|(kind, item, keys)| {
                        keys().map(|keys| ItemConfigKeys {
                            kind: kind.to_string(),
                            item: item.to_string(),
                            keys,
                        })
                    })
                    .collect(),
            };
            serde_json::to_vec(&m).map_err(|e| e.to_string())
        })
    }
}

/// Body of `create`.
///
/// # Safety
/// Pointers as documented on [`crate::abi::CreateFn`].
#[allow(clippy::too_many_arguments)] // mirrors the C signature plus the plugin's definition
pub unsafe fn create(
    def: &PluginDef,
    kind: u32,
    item: *const u8,
    item_len: usize,
    config: *const u8,
    config_len: usize,
    out_instance: *mut *mut c_void,
    out: *mut SimbaBuffer,
) -> i32 {
    unsafe {
        guarded(out, || {
            let item = std::str::from_utf8(bytes(item, item_len))
                .map_err(|_| "item name is not UTF-8".to_string())?;
            let raw = bytes(config, config_len);
            let config: serde_json::Value = if raw.is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_json::from_slice(raw).map_err(|e| format!("config is not JSON: {e}"))?
            };
            let instance = match kind {
                KIND_STRATEGY => {
                    Instance::Strategy(find(def, def.strategies, "strategy", item)?(&config)?)
                }
                KIND_MODEL => Instance::Model(find(def, def.models, "model", item)?(&config)?),
                KIND_TOOL => {
                    let (_, make, _) = def
                        .tools
                        .iter()
                        .find(|(n, _, _)| *n == item)
                        .ok_or_else(|| format!("plugin `{}` has no tool `{item}`", def.name))?;
                    Instance::Tool(make(&config)?)
                }
                KIND_METRIC => Instance::Metric(find(def, def.metrics, "metric", item)?(&config)?),
                other => return Err(format!("unknown item kind {other}")),
            };
            if out_instance.is_null() {
                return Err("out_instance is null".to_string());
            }
            *out_instance = Box::into_raw(Box::new(instance)) as *mut c_void;
            Ok(Vec::new())
        })
    }
}

/// Body of `call`.
///
/// # Safety
/// Pointers as documented on [`crate::abi::CallFn`]; `instance` from `create`.
pub unsafe fn call(
    instance: *mut c_void,
    request: *const u8,
    request_len: usize,
    host: *const SimbaHost,
    out: *mut SimbaBuffer,
) -> i32 {
    unsafe {
        guarded(out, || {
            let instance = (instance as *const Instance)
                .as_ref()
                .ok_or_else(|| "instance is null".to_string())?;
            let host = Host::from_raw(host);
            let raw = bytes(request, request_len);
            match instance {
                Instance::Strategy(s) => {
                    let req: StrategyRequest = serde_json::from_slice(raw)
                        .map_err(|e| format!("malformed strategy request: {e}"))?;
                    let reply = s.apply(req, &host)?;
                    serde_json::to_vec(&reply).map_err(|e| e.to_string())
                }
                Instance::Model(m) => {
                    let req: ModelRequest = serde_json::from_slice(raw)
                        .map_err(|e| format!("malformed model request: {e}"))?;
                    let reply: ModelReply = m.complete(req, &host).into();
                    serde_json::to_vec(&reply).map_err(|e| e.to_string())
                }
                Instance::Tool(t) => {
                    let req: ToolRequest = serde_json::from_slice(raw)
                        .map_err(|e| format!("malformed tool request: {e}"))?;
                    let outputs = t.run(req.inputs, &host)?;
                    serde_json::to_vec(&ToolReply { outputs }).map_err(|e| e.to_string())
                }
                Instance::Metric(m) => {
                    let req: MetricRequest = serde_json::from_slice(raw)
                        .map_err(|e| format!("malformed metric request: {e}"))?;
                    let score = m.score(req, &host)?;
                    serde_json::to_vec(&score).map_err(|e| e.to_string())
                }
            }
        })
    }
}

/// Body of `destroy`.
///
/// # Safety
/// `instance` from `create`, destroyed once.
pub unsafe fn destroy(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // A panicking Drop must not unwind into the host; the instance is gone either way.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        drop(Box::from_raw(instance as *mut Instance))
    }));
}

/// Body of `free_buffer`.
///
/// # Safety
/// `buf` from this plugin, freed once.
pub unsafe fn free_buffer(buf: SimbaBuffer) {
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { buf.free() }));
}
