//! The cache key: a SHA-256 over a canonical JSON of everything that can
//! change an answer (model item, provider, provider model id, messages,
//! temperature, max_tokens, seed, rollout id, response format, params).
//!
//! The JSON is streamed straight into the hasher, never built as a value or
//! a buffer, and the key is kept as its 32 raw bytes (the database stores
//! those; hex is only for people).

use crate::lm::{Message, Request, ResponseFormat};
use indexmap::IndexMap;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Bumped when the key recipe changes, so old entries simply stop matching.
const FORMAT_VERSION: u32 = 1;

/// What the cache knows about the model behind a request, beyond the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheScope {
    /// The provider kind (`openai`, `local`, `plugin:name.item`, ...).
    pub provider: String,
    /// The provider's model id (for `local`, the model file and settings).
    pub model_id: String,
}

/// The SHA-256 of a request's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of `request` sent to the model `scope` describes.
    pub fn of(scope: &CacheScope, request: &Request) -> Self {
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
        // serde_json writes in small pieces (a quote, a key, an escaped
        // run); a buffer hands them to the hasher in large blocks.
        let mut hasher = std::io::BufWriter::with_capacity(4096, HashWriter(Sha256::new()));
        serde_json::to_writer(&mut hasher, &described).expect("a request serializes");
        let Ok(hasher) = hasher.into_inner() else {
            unreachable!("writing into a hasher cannot fail")
        };
        Self(hasher.0.finalize().into())
    }

    /// A key from its raw bytes (as the database stores them).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
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
        let base = CacheKey::of(&scope(), &request());
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
            assert_ne!(CacheKey::of(&scope(), r), base, "{r:?}");
        }
        let other_id = CacheScope {
            model_id: "gpt-2".into(),
            ..scope()
        };
        assert_ne!(CacheKey::of(&other_id, &request()), base);
        let other_provider = CacheScope {
            provider: "local".into(),
            ..scope()
        };
        assert_ne!(CacheKey::of(&other_provider, &request()), base);

        let mut a = request();
        a.params.insert("a".into(), 1.into());
        a.params
            .insert("b".into(), serde_json::json!({"y": 1, "x": 2}));
        let mut b = request();
        b.params
            .insert("b".into(), serde_json::json!({"x": 2, "y": 1}));
        b.params.insert("a".into(), 1.into());
        assert_eq!(CacheKey::of(&scope(), &a), CacheKey::of(&scope(), &b));
    }

    #[test]
    fn key_recipe_is_pinned() {
        // Changing the recipe orphans every user's cache: do it on purpose,
        // with FORMAT_VERSION bumped, and update this value (the SHA-256 of
        // the compact JSON of the fields in KeyFields order).
        let key = CacheKey::of(&scope(), &request());
        assert_eq!(
            key.to_hex(),
            "cce679826d98a45f0d7c282ca1d8fc4f4777f261399fb5486f20acde516018a7"
        );
        assert_eq!(key.to_string(), key.to_hex());
        assert_eq!(CacheKey::from_bytes(*key.as_bytes()), key);
    }
}
