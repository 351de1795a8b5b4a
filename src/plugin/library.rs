//! Opening a plugin library, the version handshake, and raw calls through
//! its entry table. All `unsafe` of the host side lives here and in
//! `callbacks.rs`.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use simba_plugin_sdk::Manifest;
use simba_plugin_sdk::abi::{
    ABI_MAJOR, ABI_MINOR, CallFn, CreateFn, DestroyFn, ENTRY_SYMBOL, EntryFn, FreeFn, ManifestFn,
    STATUS_OK, SimbaBuffer, SimbaHost, SimbaPluginTable,
};

use super::PluginError;

/// The files tried for `path`, in order: as written, then with the
/// platform's prefix (`lib`) and/or suffix (`.so`, `.dylib`, `.dll`) added
/// where missing.
fn candidates(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
        return out;
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let prefix = std::env::consts::DLL_PREFIX;
    let suffix = std::env::consts::DLL_SUFFIX;
    let has_prefix = prefix.is_empty() || file.starts_with(prefix);
    let has_suffix = file.ends_with(suffix);
    if !has_suffix {
        out.push(dir.join(format!("{file}{suffix}")));
    }
    if !has_prefix {
        out.push(dir.join(format!("{prefix}{file}")));
        if !has_suffix {
            out.push(dir.join(format!("{prefix}{file}{suffix}")));
        }
    }
    out
}

/// The library file `path` names, adding the platform prefix/suffix when
/// the path as written does not exist.
pub fn resolve_path(plugin: &str, path: &Path) -> Result<PathBuf, PluginError> {
    resolve_path_in(plugin, path, &[])
}

/// Like [`resolve_path`], then looks for the path's file name in each folder
/// of `search_path` (`[plugins] search_path` of simba.toml), in order.
pub fn resolve_path_in(
    plugin: &str,
    path: &Path,
    search_path: &[PathBuf],
) -> Result<PathBuf, PluginError> {
    let mut tried = candidates(path);
    if let Some(file) = path.file_name() {
        for dir in search_path {
            tried.extend(candidates(&dir.join(file)));
        }
    }
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| PluginError::NotFound {
            plugin: plugin.to_string(),
            path: path.to_path_buf(),
            tried,
        })
}

/// The entry table's functions, copied after the handshake.
#[derive(Clone, Copy)]
struct Table {
    manifest: ManifestFn,
    create: CreateFn,
    call: CallFn,
    destroy: DestroyFn,
    free_buffer: FreeFn,
}

/// A loaded, version-checked plugin library.
pub(crate) struct Library {
    /// The spec's name for the plugin.
    pub name: String,
    pub path: PathBuf,
    pub abi: (u32, u32),
    pub manifest: Manifest,
    table: Table,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("abi", &self.abi)
            .finish()
    }
}

/// Takes the bytes of a plugin-allocated buffer and frees it with the
/// plugin's own `free_buffer`.
fn take(free: FreeFn, buf: SimbaBuffer) -> Vec<u8> {
    // SAFETY: the plugin wrote `buf` (or left it empty); it is read once,
    // then returned to its allocator.
    unsafe {
        let bytes = buf.to_vec();
        free(buf);
        bytes
    }
}

impl Library {
    /// Opens the library, checks the ABI version, then reads the manifest.
    pub fn open(
        plugin: &str,
        path: &Path,
        search_path: &[PathBuf],
    ) -> Result<Library, PluginError> {
        let path = resolve_path_in(plugin, path, search_path)?;
        // SAFETY: loading runs the library's initialisers; a plugin is
        // trusted code the user declared in the spec.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| PluginError::Open {
            plugin: plugin.to_string(),
            path: path.clone(),
            message: e.to_string(),
        })?;
        // SAFETY: the symbol's type is fixed by the ABI.
        let entry: EntryFn = match unsafe { lib.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) } {
            Ok(sym) => *sym,
            Err(e) => {
                return Err(PluginError::NoEntry {
                    plugin: plugin.to_string(),
                    path,
                    symbol: ENTRY_SYMBOL.to_string(),
                    message: e.to_string(),
                });
            }
        };
        // Never unloaded: see the module docs.
        std::mem::forget(lib);
        let bad_table = |message: String| PluginError::BadTable {
            plugin: plugin.to_string(),
            path: path.clone(),
            message,
        };
        // SAFETY: calling the entry symbol as the ABI defines it.
        let raw = unsafe { entry() };
        if raw.is_null() {
            return Err(bad_table("the entry symbol returned null".into()));
        }
        // Handshake: only the size and version fields are read before the
        // major version is known to match.
        // SAFETY: every ABI version starts with size, major, minor.
        let (size, major, minor) = unsafe {
            let size = std::ptr::read(raw.cast::<usize>());
            if size < offset_of!(SimbaPluginTable, abi_minor) + size_of::<u32>() {
                return Err(bad_table(format!("table size {size} is too small")));
            }
            (size, (*raw).abi_major, (*raw).abi_minor)
        };
        if major != ABI_MAJOR {
            return Err(PluginError::AbiMismatch {
                plugin: plugin.to_string(),
                path,
                plugin_major: major,
                plugin_minor: minor,
                host_major: ABI_MAJOR,
                host_minor: ABI_MINOR,
            });
        }
        // Every field of ABI 1.0 is required; a newer minor's table is
        // larger and its extra fields are not read.
        if size < size_of::<SimbaPluginTable>() {
            return Err(bad_table(format!(
                "table size {size} is smaller than ABI {ABI_MAJOR}.0's {}",
                size_of::<SimbaPluginTable>()
            )));
        }
        // SAFETY: the table holds at least our fields.
        let t = unsafe { std::ptr::read(raw) };
        let missing = |name: &str| bad_table(format!("`{name}` is null"));
        let table = Table {
            manifest: t.manifest.ok_or_else(|| missing("manifest"))?,
            create: t.create.ok_or_else(|| missing("create"))?,
            call: t.call.ok_or_else(|| missing("call"))?,
            destroy: t.destroy.ok_or_else(|| missing("destroy"))?,
            free_buffer: t.free_buffer.ok_or_else(|| missing("free_buffer"))?,
        };
        let mut out = SimbaBuffer::EMPTY;
        // SAFETY: a valid table function with a writable out-pointer.
        let status = unsafe { (table.manifest)(&mut out) };
        let bytes = take(table.free_buffer, out);
        let bad_manifest = |message: String| PluginError::BadManifest {
            plugin: plugin.to_string(),
            path: path.clone(),
            message,
        };
        if status != STATUS_OK {
            return Err(bad_manifest(String::from_utf8_lossy(&bytes).into_owned()));
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| bad_manifest(e.to_string()))?;
        check_config_declarations(&manifest).map_err(bad_manifest)?;
        Ok(Library {
            name: plugin.to_string(),
            path,
            abi: (major, minor),
            manifest,
            table,
        })
    }
}

/// A manifest's config declarations, checked once at load rather than at
/// each use: each entry for an item the manifest provides (a misspelt kind
/// or item would quietly leave the real item unchecked), one entry per
/// item (two would make `check`'s listing and the check disagree), each
/// key once and named as a spec can write it, each type one the host can
/// check.
fn check_config_declarations(manifest: &Manifest) -> Result<(), String> {
    let mut items = std::collections::HashSet::new();
    for c in &manifest.config {
        let provided = match c.kind.as_str() {
            "strategy" => manifest.strategies.contains(&c.item),
            "model" => manifest.models.contains(&c.item),
            "tool" => manifest.tools.iter().any(|t| t.name == c.item),
            "metric" => manifest.metrics.contains(&c.item),
            other => {
                return Err(format!(
                    "config keys are declared for an item of kind `{}` (kinds: strategy, model, tool, metric)",
                    crate::printable::escape_controls(other)
                ));
            }
        };
        if !provided {
            return Err(format!(
                "config keys are declared for {} `{}`, which the manifest does not list",
                c.kind,
                crate::printable::escape_controls(&c.item)
            ));
        }
        if !items.insert((c.kind.as_str(), c.item.as_str())) {
            return Err(format!(
                "the config keys of {} `{}` are declared twice",
                c.kind, c.item
            ));
        }
        let mut names = std::collections::HashSet::new();
        for k in &c.keys {
            if !crate::syntax::lex::is_ident(&k.name) {
                return Err(format!(
                    "{} `{}` declares the config key `{}`, which a spec cannot write \
                     (a key is ASCII letters, digits and `_`, not starting with a digit)",
                    c.kind,
                    c.item,
                    crate::printable::escape_controls(&k.name)
                ));
            }
            if !names.insert(k.name.as_str()) {
                return Err(format!(
                    "{} `{}` declares the config key `{}` twice",
                    c.kind, c.item, k.name
                ));
            }
            if crate::compile::ConfigType::parse(&k.ty).is_none() {
                return Err(format!(
                    "{} `{}` declares the config key `{}` with an unknown type `{}` \
                     (types: string, int, float, bool, object, json, list<..>)",
                    c.kind, c.item, k.name, k.ty
                ));
            }
        }
    }
    Ok(())
}

/// A live plugin instance (a strategy or a model), destroyed on drop.
pub(crate) struct Instance {
    lib: Arc<Library>,
    ptr: *mut c_void,
    pub item: String,
}

// SAFETY: the ABI requires instances to be callable from any thread,
// concurrently (the SDK's traits are Send + Sync).
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

impl Instance {
    /// Creates `item` of `kind` from a JSON config. Err: the plugin's message.
    pub fn create(
        lib: &Arc<Library>,
        kind: u32,
        item: &str,
        config: &serde_json::Value,
    ) -> Result<Instance, String> {
        let config = serde_json::to_vec(config).map_err(|e| e.to_string())?;
        let mut ptr: *mut c_void = std::ptr::null_mut();
        let mut out = SimbaBuffer::EMPTY;
        // SAFETY: pointers and lengths describe live slices; out-pointers are writable.
        let status = unsafe {
            (lib.table.create)(
                kind,
                item.as_ptr(),
                item.len(),
                config.as_ptr(),
                config.len(),
                &mut ptr,
                &mut out,
            )
        };
        let bytes = take(lib.table.free_buffer, out);
        if status != STATUS_OK {
            return Err(String::from_utf8_lossy(&bytes).into_owned());
        }
        if ptr.is_null() {
            return Err("create reported success but returned no instance".into());
        }
        Ok(Instance {
            lib: lib.clone(),
            ptr,
            item: item.to_string(),
        })
    }

    /// The plugin's name in the spec.
    pub fn plugin(&self) -> &str {
        &self.lib.name
    }

    /// One blocking call. Ok: the reply bytes; Err: the plugin's message.
    pub fn call(&self, request: &[u8], host: &SimbaHost) -> Result<Vec<u8>, String> {
        let mut out = SimbaBuffer::EMPTY;
        // SAFETY: the instance is alive (we own it); the host table and the
        // request outlive the call.
        let status = unsafe {
            (self.lib.table.call)(self.ptr, request.as_ptr(), request.len(), host, &mut out)
        };
        let bytes = take(self.lib.table.free_buffer, out);
        if status == STATUS_OK {
            Ok(bytes)
        } else {
            Err(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: created by this library's `create`, destroyed once.
        unsafe { (self.lib.table.destroy)(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_declarations_need_distinct_keys_of_known_types() {
        let manifest = |keys: serde_json::Value| -> Manifest {
            serde_json::from_value(serde_json::json!({
                "name": "p", "version": "1", "strategies": ["s"],
                "config": [{"kind": "strategy", "item": "s", "keys": keys}],
            }))
            .unwrap()
        };
        let ok = manifest(serde_json::json!([
            {"name": "a", "type": "list<int>"}, {"name": "b", "type": "str"}
        ]));
        assert_eq!(check_config_declarations(&ok), Ok(()));
        let twice = manifest(serde_json::json!([
            {"name": "a", "type": "int"}, {"name": "a", "type": "string"}
        ]));
        assert_eq!(
            check_config_declarations(&twice).unwrap_err(),
            "strategy `s` declares the config key `a` twice"
        );
        for name in ["", "a b", "größe", "9lives", "x\u{1b}[31m"] {
            let bad = manifest(serde_json::json!([{"name": name, "type": "int"}]));
            let e = check_config_declarations(&bad).unwrap_err();
            assert!(e.contains("which a spec cannot write"), "{name:?}: {e}");
            assert!(!e.contains('\u{1b}'), "{e}");
        }
        let mut elsewhere = ok.clone();
        elsewhere.config[0].item = "ghost".into();
        assert_eq!(
            check_config_declarations(&elsewhere).unwrap_err(),
            "config keys are declared for strategy `ghost`, which the manifest does not list"
        );
        elsewhere.config[0].kind = "modle".into();
        assert!(
            check_config_declarations(&elsewhere)
                .unwrap_err()
                .contains("of kind `modle`")
        );
        let odd = manifest(serde_json::json!([{"name": "a", "type": "list<integer>"}]));
        assert!(
            check_config_declarations(&odd)
                .unwrap_err()
                .contains("unknown type `list<integer>`")
        );
    }

    #[test]
    fn candidates_add_the_missing_prefix_and_suffix() {
        let (pre, suf) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
        let got = candidates(Path::new("dir/foo"));
        let mut want = vec![
            PathBuf::from("dir/foo"),
            PathBuf::from(format!("dir/foo{suf}")),
        ];
        if !pre.is_empty() {
            want.push(PathBuf::from(format!("dir/{pre}foo")));
            want.push(PathBuf::from(format!("dir/{pre}foo{suf}")));
        }
        assert_eq!(got, want);
        let full = format!("dir/{pre}foo{suf}");
        assert_eq!(candidates(Path::new(&full)), [PathBuf::from(&full)]);
    }
}
