//! The host callback table handed to every plugin call: the LM, the random
//! stream and the log, with counters the caller can read afterwards.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use simba_plugin_sdk::abi::{
    LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN, STATUS_ERROR, STATUS_OK, SimbaBuffer, SimbaHost,
};
use simba_plugin_sdk::{ModelError, ModelReply, ModelRequest, ModelResponse};
use tokio::runtime::Handle;

use crate::lm::{Message, ModelSet, Request, ResponseFormat, Usage};
use crate::printable::escape_controls;

/// Counters of what plugins did through the host callbacks. Shared by every
/// call made with the same [`super::HostServices`].
#[derive(Debug, Default)]
pub struct CallStats {
    lm_calls: AtomicU64,
    lm_failures: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    random_draws: AtomicU64,
    logs: Mutex<Vec<String>>,
}

impl CallStats {
    /// LM calls made through `call_lm` (successful or not).
    pub fn lm_calls(&self) -> u64 {
        self.lm_calls.load(Ordering::Relaxed)
    }
    /// `call_lm` calls that failed.
    pub fn lm_failures(&self) -> u64 {
        self.lm_failures.load(Ordering::Relaxed)
    }
    /// Tokens of the successful `call_lm` calls.
    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
    /// Numbers drawn through `next_u64`.
    pub fn random_draws(&self) -> u64 {
        self.random_draws.load(Ordering::Relaxed)
    }
    /// Messages the plugins logged, as `level: message`.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The LM side of the callbacks: the spec's models and the runtime their
/// async calls run on (the plugin's thread blocks on them).
#[derive(Clone)]
pub(crate) struct LmAccess {
    pub models: Arc<dyn ModelSet>,
    pub handle: Handle,
}

/// The state behind `SimbaHost::ctx` for one call.
pub(crate) struct CallContext {
    plugin: String,
    lm: Option<LmAccess>,
    rng: Mutex<ChaCha20Rng>,
    stats: Arc<CallStats>,
}

impl CallContext {
    pub fn new(plugin: &str, lm: Option<LmAccess>, seed: u64, stats: Arc<CallStats>) -> Self {
        Self {
            plugin: plugin.to_string(),
            lm,
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
            stats,
        }
    }

    /// The table pointing at this context; valid while `self` is.
    pub fn table(&self) -> SimbaHost {
        SimbaHost {
            size: std::mem::size_of::<SimbaHost>(),
            ctx: self as *const CallContext as *mut c_void,
            call_lm: Some(host_call_lm),
            free_buffer: Some(host_free_buffer),
            next_u64: Some(host_next_u64),
            log: Some(host_log),
        }
    }

    fn call_lm(&self, model: &str, request: &[u8]) -> Result<ModelReply, String> {
        let req: ModelRequest = serde_json::from_slice(request)
            .map_err(|e| format!("malformed call_lm request: {e}"))?;
        let Some(lm) = &self.lm else {
            return Ok(ModelReply::Error(ModelError::fatal(
                "the host offers no LM calls here (only strategies may call models)",
            )));
        };
        let Some(target) = lm.models.lm(model) else {
            return Ok(ModelReply::Error(ModelError::fatal(format!(
                "no model named `{model}` in the spec"
            ))));
        };
        let mut full = lm.models.template(model).unwrap_or_else(|| Request {
            model: model.to_string(),
            messages: Vec::new(),
            temperature: 0.0,
            max_tokens: None,
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: Default::default(),
        });
        full.messages = req
            .messages
            .into_iter()
            .map(|m| Message {
                role: m.role,
                content: m.content,
            })
            .collect();
        if let Some(t) = req.temperature {
            full.temperature = t;
        }
        if req.max_tokens.is_some() {
            full.max_tokens = req.max_tokens;
        }
        if req.seed.is_some() {
            full.seed = req.seed;
        }
        if req.rollout_id.is_some() {
            full.rollout_id = req.rollout_id;
        }
        full.response_format = match req.response_format {
            simba_plugin_sdk::ResponseFormat::Text => ResponseFormat::Text,
            simba_plugin_sdk::ResponseFormat::JsonObject => ResponseFormat::JsonObject,
        };
        full.params.extend(req.params);
        self.stats.lm_calls.fetch_add(1, Ordering::Relaxed);
        let result = lm.handle.block_on(target.complete(&full));
        Ok(match result {
            Ok(resp) => {
                let s = &self.stats;
                s.prompt_tokens
                    .fetch_add(resp.usage.prompt_tokens, Ordering::Relaxed);
                s.completion_tokens
                    .fetch_add(resp.usage.completion_tokens, Ordering::Relaxed);
                ModelReply::Ok(ModelResponse {
                    text: resp.text,
                    usage: simba_plugin_sdk::Usage {
                        prompt_tokens: resp.usage.prompt_tokens,
                        completion_tokens: resp.usage.completion_tokens,
                    },
                })
            }
            Err(e) => {
                self.stats.lm_failures.fetch_add(1, Ordering::Relaxed);
                ModelReply::Error(ModelError {
                    retryable: e.is_retryable(),
                    message: e.to_string(),
                })
            }
        })
    }
}

unsafe fn slice<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the plugin passes `len` readable bytes.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// # Safety
/// `ctx` from [`CallContext::table`], used during the call.
unsafe fn context<'a>(ctx: *mut c_void) -> &'a CallContext {
    // SAFETY: see above.
    unsafe { &*(ctx as *const CallContext) }
}

unsafe extern "C" fn host_call_lm(
    ctx: *mut c_void,
    model: *const u8,
    model_len: usize,
    request: *const u8,
    request_len: usize,
    out: *mut SimbaBuffer,
) -> i32 {
    // A panic must not unwind into plugin code.
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: arguments as documented by the ABI.
        let (ctx, model, request) = unsafe {
            (
                context(ctx),
                slice(model, model_len),
                slice(request, request_len),
            )
        };
        let model =
            std::str::from_utf8(model).map_err(|_| "model name is not UTF-8".to_string())?;
        let reply = ctx.call_lm(model, request)?;
        serde_json::to_vec(&reply).map_err(|e| e.to_string())
    }));
    let (status, bytes) = match result {
        Ok(Ok(bytes)) => (STATUS_OK, bytes),
        Ok(Err(msg)) => (STATUS_ERROR, msg.into_bytes()),
        Err(_) => (
            STATUS_ERROR,
            b"the host panicked while calling the model".to_vec(),
        ),
    };
    if !out.is_null() {
        // SAFETY: writable out-pointer from the plugin.
        unsafe { *out = SimbaBuffer::from_vec(bytes) };
    }
    status
}

unsafe extern "C" fn host_free_buffer(_ctx: *mut c_void, buf: SimbaBuffer) {
    // SAFETY: the buffer came from `host_call_lm` in this binary.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { buf.free() }));
}

unsafe extern "C" fn host_next_u64(ctx: *mut c_void) -> u64 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx from CallContext::table.
        let ctx = unsafe { context(ctx) };
        ctx.stats.random_draws.fetch_add(1, Ordering::Relaxed);
        let mut rng = ctx.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.next_u64()
    }))
    .unwrap_or(0)
}

/// The tracing target of every `host.log` message: what `RUST_LOG=plugin=debug`
/// selects.
pub const PLUGIN_TARGET: &str = "plugin";

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, msg: *const u8, msg_len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx from CallContext::table; msg as documented.
        let (ctx, msg) = unsafe { (context(ctx), slice(msg, msg_len)) };
        // Escaped once here, so every sink (stderr, --json, stats) gets
        // text that cannot drive the terminal.
        let msg = escape_controls(&String::from_utf8_lossy(msg)).into_owned();
        let plugin = ctx.plugin.as_str();
        let name = match level {
            LOG_ERROR => {
                tracing::error!(target: PLUGIN_TARGET, plugin, "{msg}");
                "error"
            }
            LOG_WARN => {
                tracing::warn!(target: PLUGIN_TARGET, plugin, "{msg}");
                "warn"
            }
            LOG_INFO => {
                tracing::info!(target: PLUGIN_TARGET, plugin, "{msg}");
                "info"
            }
            LOG_DEBUG => {
                tracing::debug!(target: PLUGIN_TARGET, plugin, "{msg}");
                "debug"
            }
            _ => {
                tracing::trace!(target: PLUGIN_TARGET, plugin, "{msg}");
                "trace"
            }
        };
        if let Ok(mut logs) = ctx.stats.logs.lock() {
            logs.push(format!("{name}: {msg}"));
        }
    }));
}
