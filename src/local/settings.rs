//! The settings of a `provider = "local"` model item, read from its
//! declaration: the GGUF path, threads and context from the item's own keys
//! (`ModelDecl::extra`), sampling settings from those keys or from `params`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ir::{ModelDecl, Setting};
use crate::lm::ModelError;

/// Default context window (tokens), capped by the model's training context.
pub const DEFAULT_CONTEXT: u32 = 4096;
/// The most requests one batch may decode together (each needs its own
/// share of the KV cache: `context` tokens).
pub const MAX_BATCH: u32 = 16;
/// Default completion cap when neither the item nor the request sets one.
pub const DEFAULT_MAX_TOKENS: u32 = 512;

/// Sampling settings, per request (a request's `params` override the item's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Keep the k most likely tokens (0 = off). Default 40.
    pub top_k: u32,
    /// Nucleus sampling threshold (1.0 = off). Default 0.95.
    pub top_p: f32,
    /// Drop tokens below this fraction of the top token's probability (0 = off). Default 0.05.
    pub min_p: f32,
    /// Constrain the reply to the adapter's layout. Default true.
    pub grammar: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            grammar: true,
        }
    }
}

/// Everything a local model item needs to load.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    /// The GGUF file, absolute (resolved against the spec folder).
    pub path: PathBuf,
    /// CPU threads; default: all available.
    pub threads: u32,
    /// Context window in tokens; `None` = [`DEFAULT_CONTEXT`].
    pub context: Option<u32>,
    /// Reuse the KV cache of the previous request's common prefix. Default true.
    pub prefix_cache: bool,
    /// Decode up to this many queued requests together (1 = one at a time,
    /// the default). Above 1 replies may depend on which requests shared a
    /// batch, so runs are no longer reproducible; see docs/local.md.
    pub batch: u32,
    /// The item's sampling defaults; a request's `params` can override them.
    pub sampling: Sampling,
}

fn bad(decl: &ModelDecl, message: String) -> ModelError {
    ModelError::Local {
        model: decl.name.clone(),
        message,
    }
}

/// A setting written as a plain string, an `env(..)` object (as the
/// compiler stores one, `ir::ENV_KEY`), or a serialized `Setting`.
fn setting_of(value: &Value) -> Option<Setting> {
    Setting::from_json(value).or_else(|| serde_json::from_value::<Setting>(value.clone()).ok())
}

/// A key of the item (`extra`) or, failing that, of its `params`.
fn key<'a>(decl: &'a ModelDecl, name: &str) -> Option<&'a Value> {
    decl.extra.get(name).or_else(|| decl.params.get(name))
}

fn uint(decl: &ModelDecl, name: &str) -> Result<Option<u32>, ModelError> {
    match key(decl, name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                bad(
                    decl,
                    format!("`{name}` must be a non-negative integer, got {v}"),
                )
            }),
    }
}

fn float(decl: &ModelDecl, name: &str, lo: f64, hi: f64) -> Result<Option<f32>, ModelError> {
    match key(decl, name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x as f32)),
            _ => Err(bad(
                decl,
                format!("`{name}` must be a number in [{lo}, {hi}], got {v}"),
            )),
        },
    }
}

fn flag(decl: &ModelDecl, name: &str) -> Result<Option<bool>, ModelError> {
    match key(decl, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(bad(
            decl,
            format!("`{name}` must be true or false, got {v}"),
        )),
    }
}

impl Sampling {
    /// The item's sampling settings (defaults where unset).
    pub fn from_decl(decl: &ModelDecl) -> Result<Self, ModelError> {
        let d = Sampling::default();
        Ok(Sampling {
            top_k: uint(decl, "top_k")?.unwrap_or(d.top_k),
            top_p: float(decl, "top_p", 0.0, 1.0)?.unwrap_or(d.top_p),
            min_p: float(decl, "min_p", 0.0, 1.0)?.unwrap_or(d.min_p),
            grammar: flag(decl, "grammar")?.unwrap_or(d.grammar),
        })
    }

    /// These settings with a request's `params` applied on top (values of
    /// the wrong type are ignored: the item's own were checked at load).
    pub fn with_params(mut self, params: &indexmap::IndexMap<String, Value>) -> Self {
        if let Some(k) = params.get("top_k").and_then(Value::as_u64) {
            self.top_k = u32::try_from(k).unwrap_or(u32::MAX);
        }
        if let Some(p) = params.get("top_p").and_then(Value::as_f64) {
            self.top_p = p.clamp(0.0, 1.0) as f32;
        }
        if let Some(p) = params.get("min_p").and_then(Value::as_f64) {
            self.min_p = p.clamp(0.0, 1.0) as f32;
        }
        if let Some(g) = params.get("grammar").and_then(Value::as_bool) {
            self.grammar = g;
        }
        self
    }
}

impl LocalSettings {
    /// Reads a local item's settings; `base_dir` is the spec's folder.
    /// Checks values only, not the file (see [`check_gguf`]).
    pub fn from_decl(decl: &ModelDecl, base_dir: &Path) -> Result<Self, ModelError> {
        let raw = decl.extra.get("path").ok_or_else(|| {
            bad(
                decl,
                "provider \"local\" needs `path = \"model.gguf\"` (a GGUF file; env() allowed)"
                    .into(),
            )
        })?;
        let setting = setting_of(raw).ok_or_else(|| {
            bad(
                decl,
                format!("`path` must be a string or env(..), got {raw}"),
            )
        })?;
        let path = setting.resolve().map_err(|source| ModelError::Setting {
            model: decl.name.clone(),
            field: "path",
            source,
        })?;
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        };
        let threads = match uint(decl, "threads")? {
            Some(0) => return Err(bad(decl, "`threads` must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
        };
        let context = match uint(decl, "context")? {
            Some(n) if n < 64 => {
                return Err(bad(
                    decl,
                    format!("`context` must be at least 64 tokens, got {n}"),
                ));
            }
            other => other,
        };
        let batch = match uint(decl, "batch")? {
            Some(0) => return Err(bad(decl, "`batch` must be at least 1".into())),
            Some(n) if n > MAX_BATCH => {
                return Err(bad(
                    decl,
                    format!("`batch` must be at most {MAX_BATCH}, got {n}"),
                ));
            }
            other => other.unwrap_or(1),
        };
        Ok(LocalSettings {
            path,
            threads,
            context,
            prefix_cache: flag(decl, "prefix_cache")?.unwrap_or(true),
            batch,
            sampling: Sampling::from_decl(decl)?,
        })
    }
}

/// What the response cache must know about a local item beyond its name:
/// the model file (as resolved now, so a different file behind the same
/// `env()` gets its own answers) and every item setting that changes replies.
pub fn cache_identity(decl: &ModelDecl) -> String {
    let path = decl
        .extra
        .get("path")
        .and_then(setting_of)
        .and_then(|s| s.resolve().ok())
        .unwrap_or_default();
    let settings: serde_json::Map<String, Value> = decl
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != "path")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    format!("{}|{}|{}", decl.model, path, Value::Object(settings))
}

/// Checks that `path` exists and starts with the GGUF magic bytes, so a
/// wrong path fails with a clear message instead of a llama.cpp load error.
pub fn check_gguf(model: &str, path: &Path) -> Result<(), ModelError> {
    use std::io::Read;
    let err = |message: String| ModelError::Local {
        model: model.to_string(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            err(format!("GGUF file `{}` does not exist", path.display()))
        } else {
            err(format!("cannot open GGUF file `{}`: {e}", path.display()))
        }
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(err(format!(
            "`{}` is a folder, not a GGUF file",
            path.display()
        )));
    }
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"GGUF" => Ok(()),
        Ok(()) | Err(_) => Err(err(format!(
            "`{}` is not a GGUF file (it does not start with the bytes \"GGUF\")",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Provider;
    use indexmap::IndexMap;

    fn decl(extra: Value) -> ModelDecl {
        ModelDecl {
            concurrency: 8,
            retries: 0,
            extra: serde_json::from_value(extra).unwrap(),
            ..ModelDecl::new("small", Provider::Local)
        }
    }

    #[test]
    fn relative_path_resolves_against_spec_folder() {
        let d = decl(serde_json::json!({"path": "models/m.gguf", "threads": 2, "context": 1024}));
        let s = LocalSettings::from_decl(&d, Path::new("/specs")).unwrap();
        assert_eq!(s.path, PathBuf::from("/specs/models/m.gguf"));
        assert_eq!((s.threads, s.context), (2, Some(1024)));
        assert!(s.prefix_cache);
        assert_eq!(s.batch, 1);
        assert_eq!(s.sampling, Sampling::default());
    }

    #[test]
    fn env_path_in_both_encodings() {
        // SAFETY of set_var: test-only variable names no other test reads.
        unsafe { std::env::set_var("SIMBA_LOCAL_TEST_PATH_A", "/abs/a.gguf") };
        let d = decl(serde_json::json!({"path": {"$env": "SIMBA_LOCAL_TEST_PATH_A"}}));
        let s = LocalSettings::from_decl(&d, Path::new("/x")).unwrap();
        assert_eq!(s.path, PathBuf::from("/abs/a.gguf"));
        let d = decl(
            serde_json::json!({"path": {"Env": {"var": "SIMBA_LOCAL_TEST_UNSET_B", "default": "b.gguf"}}}),
        );
        let s = LocalSettings::from_decl(&d, Path::new("/x")).unwrap();
        assert_eq!(s.path, PathBuf::from("/x/b.gguf"));
        let d = decl(serde_json::json!({"path": {"$env": "SIMBA_LOCAL_TEST_UNSET_B"}}));
        let e = LocalSettings::from_decl(&d, Path::new("/x"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model `small`") && e.contains("SIMBA_LOCAL_TEST_UNSET_B"),
            "{e}"
        );
    }

    #[test]
    fn bad_settings_name_the_item_and_key() {
        let e = LocalSettings::from_decl(&decl(serde_json::json!({})), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model `small`") && e.contains("needs `path"),
            "{e}"
        );
        let e = LocalSettings::from_decl(
            &decl(serde_json::json!({"path": "m.gguf", "top_p": 2.0})),
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`top_p` must be a number in [0, 1]"), "{e}");
        let e = LocalSettings::from_decl(
            &decl(serde_json::json!({"path": "m.gguf", "grammar": "no"})),
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`grammar` must be true or false"), "{e}");
        for (batch, message) in [(0, "at least 1"), (17, "at most 16, got 17")] {
            let e = LocalSettings::from_decl(
                &decl(serde_json::json!({"path": "m.gguf", "batch": batch})),
                Path::new("/"),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("`batch` must be {message}")), "{e}");
        }
        let s = LocalSettings::from_decl(
            &decl(serde_json::json!({"path": "m.gguf", "batch": 4})),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.batch, 4);
    }

    #[test]
    fn request_params_override_item_sampling() {
        let base =
            Sampling::from_decl(&decl(serde_json::json!({"top_k": 5, "grammar": false}))).unwrap();
        assert_eq!((base.top_k, base.grammar), (5, false));
        let mut params = IndexMap::new();
        params.insert("grammar".to_string(), Value::Bool(true));
        params.insert("min_p".to_string(), serde_json::json!(0.2));
        let s = base.with_params(&params);
        assert_eq!((s.top_k, s.grammar, s.min_p), (5, true, 0.2));
    }

    #[test]
    fn gguf_check_reports_missing_and_wrong_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        let e = check_gguf("small", &missing).unwrap_err().to_string();
        assert!(
            e.contains("model `small`") && e.contains("does not exist"),
            "{e}"
        );
        let text = dir.path().join("notes.gguf");
        std::fs::write(&text, "hello world").unwrap();
        let e = check_gguf("small", &text).unwrap_err().to_string();
        assert!(e.contains("is not a GGUF file"), "{e}");
        let good = dir.path().join("ok.gguf");
        std::fs::write(&good, b"GGUF\x03\x00\x00\x00").unwrap();
        check_gguf("small", &good).unwrap();
    }
}
