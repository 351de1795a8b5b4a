//! The on-disk response cache.
//!
//! Content-addressed: the key is a SHA-256 over a canonical JSON of
//! everything that can change an answer (model item, provider, provider
//! model id, messages, temperature, max_tokens, seed, rollout id, response
//! format, params). One small JSON file per entry under two levels of fan-out
//! folders (`ab/cd/abcd...json`), written to a temp file in the same folder
//! and renamed into place: concurrent writers of one key each rename a whole
//! file, and a killed process leaves at worst a stray temp file. An entry
//! that does not parse (or names another key) is a miss. Only successes are
//! stored.

use super::{Lm, LmError, Message, Request, Response, ResponseFormat, Usage};
use async_trait::async_trait;
use indexmap::IndexMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped when the key recipe or the entry format changes, so old entries
/// simply stop matching.
const FORMAT_VERSION: u32 = 1;

/// What the cache knows about the model behind a request, beyond the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheScope {
    /// The provider kind (`openai`, `sim`, ...).
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
}

/// One stored answer.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    version: u32,
    key: String,
    text: String,
    usage: Usage,
}

/// A cache folder.
#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hex SHA-256 key of a request.
    pub fn key(scope: &CacheScope, request: &Request) -> String {
        let described = KeyFields {
            version: FORMAT_VERSION,
            model: &request.model,
            provider: &scope.provider,
            model_id: &scope.model_id,
            messages: &request.messages,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            seed: request.seed,
            rollout_id: request.rollout_id,
            response_format: request.response_format,
            params: CanonicalParams(&request.params),
        };
        // Streamed into the hasher: no intermediate JSON value or buffer.
        let mut hasher = HashWriter(Sha256::new());
        serde_json::to_writer(&mut hasher, &described).expect("a request serializes");
        hex::encode(hasher.0.finalize())
    }

    /// Where the entry of `key` lives.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(&key[0..2])
            .join(&key[2..4])
            .join(format!("{key}.json"))
    }

    /// The stored answer for `key`, if there is a readable one.
    pub fn get(&self, key: &str) -> Option<Response> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.version == FORMAT_VERSION && entry.key == key).then_some(Response {
            text: entry.text,
            usage: entry.usage,
            cached: true,
        })
    }

    /// Stores an answer, atomically.
    pub fn put(&self, key: &str, response: &Response) -> std::io::Result<()> {
        let path = self.path(key);
        let folder = path.parent().expect("an entry path has a folder");
        std::fs::create_dir_all(folder)?;
        let entry = Entry {
            version: FORMAT_VERSION,
            key: key.to_string(),
            text: response.text.clone(),
            usage: response.usage,
        };
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(folder)?;
        file.write_all(&serde_json::to_vec(&entry).map_err(std::io::Error::other)?)?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Everything that keys an entry, in a fixed field order (the canonical
/// form: only `params` holds free-form JSON, and it is sorted).
#[derive(Serialize)]
struct KeyFields<'a> {
    version: u32,
    model: &'a str,
    provider: &'a str,
    model_id: &'a str,
    messages: &'a [Message],
    temperature: f64,
    max_tokens: Option<u32>,
    seed: Option<u64>,
    rollout_id: Option<u64>,
    response_format: ResponseFormat,
    params: CanonicalParams<'a>,
}

/// Params with every object's keys sorted, so the key does not depend on
/// the order they were written in.
struct CanonicalParams<'a>(&'a IndexMap<String, Value>);

impl Serialize for CanonicalParams<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        let mut map = serializer.serialize_map(Some(keys.len()))?;
        for key in keys {
            map.serialize_entry(key, &Sorted(&self.0[key]))?;
        }
        map.end()
    }
}

/// A JSON value serialized with sorted object keys.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(object) => {
                let mut keys: Vec<&String> = object.keys().collect();
                keys.sort();
                let mut map = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    map.serialize_entry(key, &Sorted(&object[key]))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Feeds serialized bytes straight into the hash.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Answers from the cache when it can; otherwise asks the inner model and
/// stores a success.
pub struct Cached {
    inner: Arc<dyn Lm>,
    cache: Arc<ResponseCache>,
    scope: CacheScope,
}

impl Cached {
    pub fn new(inner: Arc<dyn Lm>, cache: Arc<ResponseCache>, scope: CacheScope) -> Self {
        Self {
            inner,
            cache,
            scope,
        }
    }
}

#[async_trait]
impl Lm for Cached {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let key = ResponseCache::key(&self.scope, request);
        // Read in place: an entry is one small file, cheaper to read than to
        // hand to the blocking pool. Writes (folders, temp file, rename) go there.
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let response = self.inner.complete(request).await?;
        let cache = self.cache.clone();
        let stored = response.clone();
        let model = request.model.clone();
        // A failed write costs only a future miss, so the call still succeeds.
        let written = tokio::task::spawn_blocking(move || {
            cache.put(&key, &stored).map_err(|e| (e, cache.path(&key)))
        })
        .await;
        if let Ok(Err((error, path))) = written {
            tracing::warn!(model = %model, path = %path.display(), "cannot write the cache entry: {error}");
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> CacheScope {
        CacheScope {
            provider: "openai".into(),
            model_id: "gpt".into(),
        }
    }

    fn request() -> Request {
        Request {
            model: "fast".into(),
            messages: vec![Message::user("hi")],
            temperature: 0.0,
            max_tokens: Some(10),
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: IndexMap::new(),
        }
    }

    #[test]
    fn key_covers_every_field_and_ignores_param_order() {
        let base = ResponseCache::key(&scope(), &request());
        let mut changed = Vec::new();
        let mut r = request();
        r.messages.push(Message::assistant("x"));
        changed.push(r);
        let mut r = request();
        r.temperature = 0.5;
        changed.push(r);
        let mut r = request();
        r.max_tokens = None;
        changed.push(r);
        let mut r = request();
        r.seed = Some(1);
        changed.push(r);
        let mut r = request();
        r.rollout_id = Some(1);
        changed.push(r);
        let mut r = request();
        r.response_format = ResponseFormat::JsonObject;
        changed.push(r);
        let mut r = request();
        r.model = "slow".into();
        changed.push(r);
        let mut r = request();
        r.params.insert("top_p".into(), 0.9.into());
        changed.push(r);
        for r in &changed {
            assert_ne!(ResponseCache::key(&scope(), r), base, "{r:?}");
        }
        let other_id = CacheScope {
            model_id: "gpt-2".into(),
            ..scope()
        };
        assert_ne!(ResponseCache::key(&other_id, &request()), base);

        let mut a = request();
        a.params.insert("a".into(), 1.into());
        a.params
            .insert("b".into(), serde_json::json!({"y": 1, "x": 2}));
        let mut b = request();
        b.params
            .insert("b".into(), serde_json::json!({"x": 2, "y": 1}));
        b.params.insert("a".into(), 1.into());
        assert_eq!(
            ResponseCache::key(&scope(), &a),
            ResponseCache::key(&scope(), &b)
        );
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn key_recipe_is_pinned() {
        // Changing the recipe orphans every user's cache: do it on purpose,
        // with FORMAT_VERSION bumped, and update this value (the SHA-256 of
        // the compact JSON of the fields in KeyFields order).
        assert_eq!(
            ResponseCache::key(&scope(), &request()),
            "cce679826d98a45f0d7c282ca1d8fc4f4777f261399fb5486f20acde516018a7"
        );
    }

    #[test]
    fn round_trip_fan_out_and_corrupt_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(dir.path().join("c"));
        let key = ResponseCache::key(&scope(), &request());
        assert!(cache.get(&key).is_none());
        let response = Response {
            text: "Paris".into(),
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 1,
            },
            cached: false,
        };
        cache.put(&key, &response).unwrap();
        let path = cache.path(&key);
        assert!(path.starts_with(dir.path().join("c").join(&key[..2]).join(&key[2..4])));
        let hit = cache.get(&key).unwrap();
        assert_eq!(hit.text, "Paris");
        assert_eq!(hit.usage, response.usage);
        assert!(hit.cached);

        // A truncated entry (a writer killed mid-write without the rename
        // would never produce this, but a disk might) is a miss.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        assert!(cache.get(&key).is_none());
        std::fs::write(&path, b"\0\0garbage").unwrap();
        assert!(cache.get(&key).is_none());
        // An entry filed under the wrong name is a miss too.
        let other = "f".repeat(64);
        std::fs::create_dir_all(cache.path(&other).parent().unwrap()).unwrap();
        std::fs::write(cache.path(&other), &full).unwrap();
        assert!(cache.get(&other).is_none());
        // Rewriting repairs it.
        cache.put(&key, &response).unwrap();
        assert_eq!(cache.get(&key).unwrap().text, "Paris");
    }
}
