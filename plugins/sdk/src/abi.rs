//! The raw C ABI: the entry table a plugin exports and the host callback
//! table the host passes to every call. `include/simba_plugin.h` mirrors
//! these definitions field for field.
//!
//! Ownership: a buffer is freed by whoever allocated it. Buffers a plugin
//! writes into an `out` parameter are released with the table's
//! `free_buffer`; buffers the host writes (replies of `call_lm`) are released
//! with the host table's `free_buffer`.

use std::ffi::c_void;

/// ABI major version: a host refuses a plugin with a different major.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: additions only; a host accepts a newer minor and uses
/// the table's `size` to know which fields exist.
pub const ABI_MINOR: u32 = 1;
/// The one symbol a plugin exports: `const SimbaPluginTable *simba_plugin_entry(void)`.
pub const ENTRY_SYMBOL: &str = "simba_plugin_entry";

/// Status code: the call succeeded and `out` holds the JSON result.
pub const STATUS_OK: i32 = 0;
/// Status code: the call failed and `out` holds a UTF-8 error message.
pub const STATUS_ERROR: i32 = 1;

/// `kind` argument of `create`: a strategy item.
pub const KIND_STRATEGY: u32 = 1;
/// `kind` argument of `create`: a model item.
pub const KIND_MODEL: u32 = 2;
/// `kind` argument of `create`: a tool item (ABI 1.1).
pub const KIND_TOOL: u32 = 3;
/// `kind` argument of `create`: a metric item (ABI 1.1).
pub const KIND_METRIC: u32 = 4;

/// Log levels of the host `log` callback.
pub const LOG_ERROR: u32 = 1;
/// Warning level.
pub const LOG_WARN: u32 = 2;
/// Info level.
pub const LOG_INFO: u32 = 3;
/// Debug level.
pub const LOG_DEBUG: u32 = 4;

/// A byte buffer handed across the boundary. Freed by its allocator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SimbaBuffer {
    /// Start of the bytes; null for an empty buffer.
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
}

impl SimbaBuffer {
    /// The empty buffer (nothing to free).
    pub const EMPTY: SimbaBuffer = SimbaBuffer {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    /// Moves `bytes` into a buffer that [`SimbaBuffer::free`] releases.
    pub fn from_vec(bytes: Vec<u8>) -> SimbaBuffer {
        if bytes.is_empty() {
            return SimbaBuffer::EMPTY;
        }
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *mut u8;
        SimbaBuffer { ptr, len }
    }

    /// Copies the bytes out.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes (or be null).
    pub unsafe fn to_vec(&self) -> Vec<u8> {
        if self.ptr.is_null() || self.len == 0 {
            return Vec::new();
        }
        unsafe { std::slice::from_raw_parts(self.ptr, self.len).to_vec() }
    }

    /// Releases a buffer made by [`SimbaBuffer::from_vec`] in this same
    /// binary.
    ///
    /// # Safety
    /// The buffer must come from `from_vec` of this binary and not be freed twice.
    pub unsafe fn free(self) {
        if self.ptr.is_null() || self.len == 0 {
            return;
        }
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr, self.len);
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// `call_lm(ctx, model, model_len, request, request_len, out)`: the request
/// is a JSON [`crate::ModelRequest`]; on `STATUS_OK` `out` holds a JSON
/// [`crate::ModelReply`], otherwise a UTF-8 message.
pub type CallLmFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    model: *const u8,
    model_len: usize,
    request: *const u8,
    request_len: usize,
    out: *mut SimbaBuffer,
) -> i32;
/// `free_buffer(ctx, buf)`: releases a buffer the host allocated.
pub type HostFreeFn = unsafe extern "C" fn(ctx: *mut c_void, buf: SimbaBuffer);
/// `next_u64(ctx)`: the next number of the host's random stream for this call.
pub type NextU64Fn = unsafe extern "C" fn(ctx: *mut c_void) -> u64;
/// `log(ctx, level, msg, msg_len)`: a UTF-8 message for the host's log.
pub type LogFn = unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: *const u8, msg_len: usize);

/// The host's services, passed to every `call`. Valid only during that call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SimbaHost {
    /// `sizeof(SimbaHost)` as the host knows it: fields past it are absent.
    pub size: usize,
    /// Opaque; passed back to every callback.
    pub ctx: *mut c_void,
    /// Call an LM of the spec by its model name.
    pub call_lm: Option<CallLmFn>,
    /// Free a buffer the host allocated (replies of `call_lm`).
    pub free_buffer: Option<HostFreeFn>,
    /// Draw from the host's random stream for this call.
    pub next_u64: Option<NextU64Fn>,
    /// Write to the host's log.
    pub log: Option<LogFn>,
}

/// `manifest(out)`: on `STATUS_OK` `out` holds the JSON [`crate::Manifest`].
pub type ManifestFn = unsafe extern "C" fn(out: *mut SimbaBuffer) -> i32;
/// `create(kind, item, item_len, config, config_len, out_instance, out)`:
/// makes an instance of the strategy or model `item` from a JSON config. On
/// `STATUS_ERROR` `out` holds the message and `*out_instance` is untouched.
pub type CreateFn = unsafe extern "C" fn(
    kind: u32,
    item: *const u8,
    item_len: usize,
    config: *const u8,
    config_len: usize,
    out_instance: *mut *mut c_void,
    out: *mut SimbaBuffer,
) -> i32;
/// `call(instance, request, request_len, host, out)`: runs an instance on a
/// JSON request ([`crate::StrategyRequest`] or [`crate::ModelRequest`]); on
/// `STATUS_OK` `out` holds the JSON reply ([`crate::StrategyReply`] or
/// [`crate::ModelReply`]). An instance may be called from several threads at
/// once.
pub type CallFn = unsafe extern "C" fn(
    instance: *mut c_void,
    request: *const u8,
    request_len: usize,
    host: *const SimbaHost,
    out: *mut SimbaBuffer,
) -> i32;
/// `destroy(instance)`: releases an instance made by `create`.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// `free_buffer(buf)`: releases a buffer the plugin allocated.
pub type FreeFn = unsafe extern "C" fn(buf: SimbaBuffer);

/// The table `simba_plugin_entry` returns. Lives as long as the library.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SimbaPluginTable {
    /// `sizeof(SimbaPluginTable)` as the plugin knows it.
    pub size: usize,
    /// [`ABI_MAJOR`] the plugin was built against.
    pub abi_major: u32,
    /// [`ABI_MINOR`] the plugin was built against.
    pub abi_minor: u32,
    /// Describe the plugin.
    pub manifest: Option<ManifestFn>,
    /// Create an instance.
    pub create: Option<CreateFn>,
    /// Call an instance.
    pub call: Option<CallFn>,
    /// Destroy an instance.
    pub destroy: Option<DestroyFn>,
    /// Free a plugin-allocated buffer.
    pub free_buffer: Option<FreeFn>,
}

/// The entry symbol's type.
pub type EntryFn = unsafe extern "C" fn() -> *const SimbaPluginTable;
