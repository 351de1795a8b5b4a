//! Safe access to the host's callbacks during one call.

use std::mem::{offset_of, size_of};

use crate::abi::{STATUS_OK, SimbaBuffer, SimbaHost};
use crate::types::{ModelError, ModelReply, ModelRequest, ModelResponse};

/// The host's services for the current call: call an LM of the spec, draw
/// from the host's random stream (so results are reproducible from the run's
/// seed), log. Valid only while the call runs.
pub struct Host<'a> {
    raw: Option<&'a SimbaHost>,
}

/// A host service the host did not provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub &'static str);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the host does not provide `{}`", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Progress worth showing.
    Info,
    /// Detail for debugging.
    Debug,
}

impl<'a> Host<'a> {
    /// Wraps the raw table (null: no services).
    ///
    /// # Safety
    /// `raw` must be null or point to a valid table for lifetime `'a`.
    pub unsafe fn from_raw(raw: *const SimbaHost) -> Host<'a> {
        Host {
            raw: unsafe { raw.as_ref() },
        }
    }

    /// A host with no services (for unit tests of a plugin).
    pub fn none() -> Host<'static> {
        Host { raw: None }
    }

    /// The table, if it is large enough to hold the field ending at `end`:
    /// an older host passes a smaller table.
    fn table(&self, end: usize) -> Option<&SimbaHost> {
        self.raw.filter(|t| t.size >= end)
    }

    /// Calls the spec's model `model` (e.g. the request's `prompt_model`).
    /// Unset request settings take the model's own.
    pub fn call_lm(
        &self,
        model: &str,
        request: &ModelRequest,
    ) -> Result<ModelResponse, ModelError> {
        let end = offset_of!(SimbaHost, free_buffer) + size_of::<usize>();
        let t = self
            .table(end)
            .ok_or_else(|| ModelError::fatal(Unavailable("call_lm").to_string()))?;
        let (Some(call), Some(free)) = (t.call_lm, t.free_buffer) else {
            return Err(ModelError::fatal(Unavailable("call_lm").to_string()));
        };
        let body = serde_json::to_vec(request).map_err(|e| ModelError::fatal(e.to_string()))?;
        let mut out = SimbaBuffer::EMPTY;
        // SAFETY: the host table is valid for this call; pointers and lengths
        // describe live Rust slices.
        let status = unsafe {
            call(
                t.ctx,
                model.as_ptr(),
                model.len(),
                body.as_ptr(),
                body.len(),
                &mut out,
            )
        };
        // SAFETY: the host wrote `out` (or left it empty); we copy, then hand it back.
        let bytes = unsafe { out.to_vec() };
        unsafe { free(t.ctx, out) };
        if status != STATUS_OK {
            return Err(ModelError::fatal(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        let reply: ModelReply = serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::fatal(format!("host sent a malformed reply: {e}")))?;
        reply.into()
    }

    /// The next number of the host's random stream for this call.
    pub fn next_u64(&self) -> Result<u64, Unavailable> {
        let end = offset_of!(SimbaHost, next_u64) + size_of::<usize>();
        let t = self.table(end).ok_or(Unavailable("next_u64"))?;
        let f = t.next_u64.ok_or(Unavailable("next_u64"))?;
        // SAFETY: valid host table during the call.
        Ok(unsafe { f(t.ctx) })
    }

    /// A uniform draw in `0..n` from the host's stream (`n > 0`), without
    /// modulo bias.
    pub fn below(&self, n: u64) -> Result<u64, Unavailable> {
        assert!(n > 0, "Host::below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64()?;
            if x < zone {
                return Ok(x % n);
            }
        }
    }

    /// Writes to the host's log (dropped when the host has no log).
    pub fn log(&self, level: Level, message: &str) {
        let end = offset_of!(SimbaHost, log) + size_of::<usize>();
        let Some(t) = self.table(end) else { return };
        let Some(f) = t.log else { return };
        let level = match level {
            Level::Error => crate::abi::LOG_ERROR,
            Level::Warn => crate::abi::LOG_WARN,
            Level::Info => crate::abi::LOG_INFO,
            Level::Debug => crate::abi::LOG_DEBUG,
        };
        // SAFETY: valid host table during the call.
        unsafe { f(t.ctx, level, message.as_ptr(), message.len()) }
    }
}
