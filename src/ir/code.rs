//! Items computed by code rather than an LM: plugin tools and metrics,
//! `command(..)` metrics, and the config every plugin item may carry.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// A plugin item's `{ key = value }` config: a JSON object, kept as its
/// compact text so IR types stay `Eq + Hash`. Empty text means no config
/// (the plugin gets `{}`). Serialized as the object itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemConfig(String);

impl Serialize for ItemConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ItemConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Object(map) => Ok(ItemConfig::new(map)),
            serde_json::Value::Null => Ok(ItemConfig::default()),
            other => Err(serde::de::Error::custom(format!(
                "a plugin item's config is an object, found {other}"
            ))),
        }
    }
}

impl ItemConfig {
    /// The config of a `{ .. }` block.
    pub fn new(object: serde_json::Map<String, serde_json::Value>) -> Self {
        if object.is_empty() {
            return ItemConfig::default();
        }
        ItemConfig(serde_json::Value::Object(object).to_string())
    }

    /// The config as the JSON object handed to the plugin (`{}` for none).
    pub fn json(&self) -> serde_json::Value {
        if self.0.is_empty() {
            return serde_json::Value::Object(Default::default());
        }
        serde_json::from_str(&self.0)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }

    /// Whether the spec gave no config.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A plugin item and its config: `plugin.item { .. }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginItem {
    /// The plugin's name in the spec.
    pub plugin: String,
    /// The item's name inside the plugin.
    pub item: String,
    /// Its config.
    #[serde(default, skip_serializing_if = "ItemConfig::is_empty")]
    pub config: ItemConfig,
}

impl std::fmt::Display for PluginItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.plugin, self.item)
    }
}

/// How long one `command` metric call may take by default.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// `command("program args") { timeout = 30s }`: an executable speaking JSON
/// lines, one long-lived process per worker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommandMetric {
    /// The command line as written (for messages).
    pub command: String,
    /// The command line split like a shell does (no shell runs it).
    pub argv: Vec<String>,
    /// The folder it runs in: the spec's folder, so relative paths in the
    /// command line resolve like the spec's own.
    pub dir: PathBuf,
    /// How long one call may take before the process is killed and the call
    /// fails.
    pub timeout: Duration,
    /// `range = [lo, hi]`: the scores the program declares it gives (a
    /// score outside is a failed call); `None`: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ScoreBounds>,
}

/// A code metric's declared score range, `lo < hi`, both finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreBounds {
    /// The lowest score.
    pub lo: f64,
    /// The highest score.
    pub hi: f64,
}

impl ScoreBounds {
    /// Whether `score` lies in `[lo, hi]`.
    pub fn contains(&self, score: f64) -> bool {
        (self.lo..=self.hi).contains(&score)
    }
}

impl std::fmt::Display for ScoreBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {}]", self.lo, self.hi)
    }
}

// Bounds are finite (the compiler refuses NaN), so bitwise equality is
// equality, which the spec's hashes need.
impl Eq for ScoreBounds {}

impl std::hash::Hash for ScoreBounds {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lo.to_bits().hash(state);
        self.hi.to_bits().hash(state);
    }
}

/// What computes a metric written as code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CodeMetric {
    /// `plugin.item(pred, gold) { .. }`.
    Plugin(PluginItem),
    /// `command("..")`.
    Command(CommandMetric),
}

impl std::fmt::Display for CodeMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeMetric::Plugin(p) => write!(f, "{p}"),
            CodeMetric::Command(c) => write!(f, "command({:?})", c.command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_config_is_written_as_its_object_and_left_out_when_empty() {
        let mut map = serde_json::Map::new();
        map.insert("max_swaps".into(), json!(1));
        let item = PluginItem {
            plugin: "p".into(),
            item: "s".into(),
            config: ItemConfig::new(map),
        };
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            v,
            json!({"plugin": "p", "item": "s", "config": {"max_swaps": 1}})
        );
        assert_eq!(serde_json::from_value::<PluginItem>(v).unwrap(), item);
        let bare = PluginItem {
            config: ItemConfig::default(),
            ..item
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"plugin": "p", "item": "s"})
        );
        assert_eq!(bare.config.json(), json!({}));
        assert!(serde_json::from_value::<ItemConfig>(json!([1])).is_err());
    }
}
