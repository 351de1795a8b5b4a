//! The cache key: a SHA-256 over a canonical JSON of everything that can
//! change an answer (model item, provider, provider model id, messages,
//! temperature, max_tokens, seed, rollout id, response format, params).
//!
//! The JSON is written by hand in one buffer (the fields in a fixed order,
//! as compact serde_json would write them, so the recipe is a plain one),
//! never built as a value, and the key is kept as its 32 raw bytes (the
//! database stores those; hex is only for people).

use crate::lm::Request;
use crate::lm::json_out::{ObjectOut, push_messages, push_str, push_value};
use indexmap::IndexMap;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CacheKey([u8; 32]);

/// A key is already a uniform digest, so its first eight bytes serve as
/// its hash: no second hash (SipHash took 5% of a warm run) over bytes
/// nobody can steer.
impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// The hasher of maps keyed by [`CacheKey`]: it passes the key's own
/// bits through.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, bits: u64) {
        self.0 = bits;
    }

    /// Only [`CacheKey`] is hashed with this; anything else still gets a
    /// well-spread value (FxHash, as records use), never a constant.
    fn write(&mut self, bytes: &[u8]) {
        let mut fx = rustc_hash::FxHasher::default();
        fx.write_u64(self.0);
        fx.write(bytes);
        self.0 = fx.finish();
    }
}

/// A map keyed by cache keys.
pub type KeyMap<V> =
    std::collections::HashMap<CacheKey, V, std::hash::BuildHasherDefault<KeyHasher>>;
/// A set of cache keys.
pub type KeySet = std::collections::HashSet<CacheKey, std::hash::BuildHasherDefault<KeyHasher>>;

impl CacheKey {
    /// The key of `request` sent to the model `scope` describes.
    pub fn of(scope: &CacheScope, request: &Request) -> Self {
        let text: usize = request.messages.iter().map(|m| m.content.len() + 32).sum();
        let mut json = Vec::with_capacity(text + 256);
        let mut fields = ObjectOut::open(&mut json);
        push_value(fields.key("version"), &FORMAT_VERSION);
        push_str(fields.key("model"), &request.model);
        push_str(fields.key("provider"), &scope.provider);
        push_str(fields.key("model_id"), &scope.model_id);
        push_messages(fields.key("messages"), &request.messages);
        push_value(fields.key("temperature"), &request.temperature);
        push_value(fields.key("max_tokens"), &request.max_tokens);
        push_value(fields.key("seed"), &request.seed);
        push_value(fields.key("rollout_id"), &request.rollout_id);
        push_value(fields.key("response_format"), &request.response_format);
        push_value(fields.key("params"), &CanonicalParams(&request.params));
        fields.close();
        Self(Sha256::digest(&json).into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{Message, ResponseFormat};

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

    /// The recipe as serde_json writes it: the hand-written JSON must hash
    /// to the same keys, or every user's cache is orphaned.
    #[derive(Serialize)]
    struct Recipe<'a> {
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

    fn by_serde(scope: &CacheScope, r: &Request) -> CacheKey {
        let recipe = Recipe {
            version: FORMAT_VERSION,
            model: &r.model,
            provider: &scope.provider,
            model_id: &scope.model_id,
            messages: &r.messages,
            temperature: r.temperature,
            max_tokens: r.max_tokens,
            seed: r.seed,
            rollout_id: r.rollout_id,
            response_format: r.response_format,
            params: CanonicalParams(&r.params),
        };
        CacheKey(Sha256::digest(serde_json::to_vec(&recipe).unwrap()).into())
    }

    proptest::proptest! {
        #[test]
        fn the_key_is_the_hash_of_the_recipe_as_serde_json_writes_it(
            system in "(?s).{0,60}",
            user in "[\\x00-\\x7f\u{e9}]{0,60}",
            temperature in -2.0f64..2.0,
            max_tokens in proptest::option::of(0u32..5000),
            seed in proptest::option::of(proptest::num::u64::ANY),
            json in proptest::bool::ANY,
            param in "[a-z\"]{0,6}",
        ) {
            let mut r = request();
            r.messages = vec![Message::system(system), Message::user(user)];
            r.temperature = temperature;
            r.max_tokens = max_tokens;
            r.seed = seed;
            r.rollout_id = seed.map(|s| s / 3);
            if json {
                r.response_format = ResponseFormat::JsonObject;
            }
            r.params.insert(param.clone(), serde_json::json!({"z": [param, 1.5], "a": null}));
            proptest::prop_assert_eq!(CacheKey::of(&scope(), &r), by_serde(&scope(), &r));
        }
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

    #[test]
    fn key_maps_hash_by_the_digest_head_and_compare_whole_keys() {
        use std::hash::{BuildHasher, Hasher};
        let with = |head: u64, tail: u8| {
            let mut bytes = [tail; 32];
            bytes[..8].copy_from_slice(&head.to_le_bytes());
            CacheKey::from_bytes(bytes)
        };
        let hashing = std::hash::BuildHasherDefault::<KeyHasher>::default();
        assert_eq!(hashing.hash_one(with(7, 0)), 7);
        // Same head, other tail: one bucket, still two keys.
        let mut map = KeyMap::default();
        map.insert(with(7, 0), "a");
        map.insert(with(7, 1), "b");
        map.insert(with(7, 0), "c");
        assert_eq!(map.len(), 2);
        assert_eq!(map[&with(7, 0)], "c");
        assert_eq!(map[&with(7, 1)], "b");
        // Bytes hashed some other way still spread.
        let bytes = |b: &[u8]| {
            let mut h = KeyHasher::default();
            h.write(b);
            h.finish()
        };
        assert_ne!(bytes(b"ab"), bytes(b"ba"));
        assert_ne!(bytes(b"a"), 0);
    }
}
