//! Project configuration: `simba.toml`, found in the spec's folder or the
//! nearest parent (as cargo finds Cargo.toml).
//!
//! - `[defaults]`: optimize-block settings for every block of every spec
//!   below the file. A spec's own value wins over it and `--set` wins over
//!   both: a default is applied to a block only when the block does not set
//!   the key, as a `--set` placed before the user's own (so it is checked
//!   exactly like a spec value).
//! - `[prices."model-id"]`: `input` and `output` USD per million tokens, by
//!   the provider's model id, for `--dry-run` costs and `stop.max_cost`.
//!
//! - `[plugins] search_path`: more folders to look for a plugin library's
//!   file name in (relative to the simba.toml's folder).
//!
//! Unknown keys are errors naming the file and line, with the keys allowed.

use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::compile::Override;
use crate::syntax::ast::{EntryValue, Item};

/// The file name looked for.
pub const FILE_NAME: &str = "simba.toml";

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    /// The cost in USD of `prompt` and `completion` tokens.
    pub fn cost(&self, prompt: u64, completion: u64) -> f64 {
        (prompt as f64 * self.input + completion as f64 * self.output) / 1e6
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    defaults: toml::Table,
    #[serde(default)]
    prices: IndexMap<String, Price>,
    #[serde(default)]
    plugins: RawPlugins,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    #[serde(default)]
    search_path: Vec<PathBuf>,
}

/// A loaded `simba.toml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectConfig {
    /// Where it was read from (None: no file found).
    pub path: Option<PathBuf>,
    pub defaults: toml::Table,
    /// By provider model id.
    pub prices: IndexMap<String, Price>,
    /// `[plugins] search_path`, each folder resolved against the file's folder.
    pub plugin_search_path: Vec<PathBuf>,
}

/// Why simba.toml could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The nearest simba.toml from `dir` upwards.
pub fn discover(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
}

impl ProjectConfig {
    /// The nearest simba.toml above the spec `spec_path`, or an empty
    /// configuration when there is none.
    pub fn for_spec(spec_path: &Path) -> Result<Self, ConfigError> {
        let dir = spec_path.parent().unwrap_or(Path::new("."));
        match discover(dir) {
            Some(p) => Self::load(&p),
            None => Ok(Self::default()),
        }
    }

    /// Reads and checks one file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses file text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        // toml's messages carry the line and column, the offending key and
        // the keys expected.
        let raw: Raw = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for (key, value) in &raw.defaults {
            let allowed = crate::compile::OPTIMIZE_KEYS;
            if !allowed.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "line {}: unknown key `{key}` in [defaults]{}; allowed: {}",
                    line_of(text, key),
                    suggest(key, &allowed),
                    allowed.join(", ")
                )));
            }
            if key == "stop" {
                let Some(t) = value.as_table() else {
                    return Err(invalid(format!(
                        "line {}: [defaults] `stop` must be a table",
                        line_of(text, key)
                    )));
                };
                let allowed = crate::compile::STOP_KEYS;
                if let Some(k) = t.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(invalid(format!(
                        "line {}: unknown key `{k}` in [defaults.stop]{}; allowed: {}",
                        line_of(text, k),
                        suggest(k, &allowed),
                        allowed.join(", ")
                    )));
                }
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Self {
            path: Some(path.to_path_buf()),
            defaults: raw.defaults,
            prices: raw.prices,
            plugin_search_path: raw
                .plugins
                .search_path
                .iter()
                .map(|p| dir.join(p))
                .collect(),
        })
    }

    /// The `[defaults]` a spec does not set itself, as overrides to place
    /// before the user's `--set` ones. `source` is the spec's text.
    pub fn default_overrides(&self, source: &str) -> Vec<Override> {
        if self.defaults.is_empty() {
            return Vec::new();
        }
        let Ok(parsed) = crate::syntax::parser::parse(source) else {
            // The compiler reports the syntax errors.
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in &parsed.file.items {
            let Item::Optimize(block) = item else {
                continue;
            };
            let program = &block.program.name;
            let has = |k: &str| block.entries.iter().any(|e| e.key.name == k);
            let stop_has = |k: &str| {
                block.entries.iter().any(|e| {
                    e.key.name == "stop"
                        && matches!(&e.value, EntryValue::Block(inner) if inner.iter().any(|i| i.key.name == k))
                })
            };
            for (key, value) in &self.defaults {
                if key == "stop" {
                    for (k, v) in value.as_table().into_iter().flatten() {
                        if !stop_has(k) {
                            out.push(Override {
                                key: format!("{program}.stop.{k}"),
                                value: spec_text(k, v),
                            });
                        }
                    }
                } else if !has(key) {
                    out.push(Override {
                        key: format!("{program}.{key}"),
                        value: spec_text(key, value),
                    });
                }
            }
        }
        out
    }

    /// The price of a provider model id.
    pub fn price(&self, model_id: &str) -> Option<Price> {
        self.prices.get(model_id).copied()
    }
}

/// A TOML value written as a spec value: paths quoted, names and durations
/// bare (`selection = "thompson"` in TOML is `selection = thompson`).
fn spec_text(key: &str, v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) if matches!(key, "output" | "cache") => format!("{s:?}"),
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| spec_text(key, i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The 1-based line where `key` is first written as a key.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(key) && t[key.len()..].trim_start().starts_with('=')
        })
        .map_or(0, |i| i + 1)
}

fn suggest(key: &str, allowed: &[&str]) -> String {
    crate::syntax::diagnostic::did_you_mean(key, allowed.iter().copied())
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectConfig, ConfigError> {
        ProjectConfig::parse(text, Path::new("/p/simba.toml"))
    }

    #[test]
    fn prices_and_defaults_parse() {
        let c = parse(
            "[defaults]\nconcurrency = 4\nselection = \"thompson\"\n\n[prices.\"gpt-4o-mini\"]\ninput = 0.15\noutput = 0.6\n",
        )
        .unwrap();
        assert_eq!(
            c.price("gpt-4o-mini"),
            Some(Price {
                input: 0.15,
                output: 0.6
            })
        );
        let p = c.price("gpt-4o-mini").unwrap();
        assert!((p.cost(1_000_000, 500_000) - 0.45).abs() < 1e-12);
        assert_eq!(c.defaults.len(), 2);
    }

    #[test]
    fn unknown_keys_name_file_line_and_suggestion() {
        let e = parse("[defaults]\nconcurency = 4\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/p/simba.toml: line 2"), "{e}");
        assert!(
            e.contains("`concurency`") && e.contains("concurrency"),
            "{e}"
        );
        let e = parse("[prices.x]\ninput = 1\noutptu = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/p/simba.toml") && e.contains("line 3"), "{e}");
        assert!(e.contains("outptu") && e.contains("output"), "{e}");
        let e = parse("[default]\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("defaults"), "{e}");
        let e = parse("[defaults.stop]\npatiense = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("patience"), "{e}");
    }

    #[test]
    fn defaults_apply_only_where_the_spec_is_silent() {
        let c = parse(
            "[defaults]\nbsize = 8\nmax_steps = 2\noutput = \"out/x\"\nstrategies = [\"append_demo\"]\n[defaults.stop]\npatience = 2\nmax_duration = \"30m\"\n",
        )
        .unwrap();
        let spec = "optimize qa with simba {\n  trainset = d.train\n  metric = m\n  max_steps = 5\n  stop { patience = 4 }\n}\n";
        let o: Vec<(String, String)> = c
            .default_overrides(spec)
            .into_iter()
            .map(|o| (o.key, o.value))
            .collect();
        // Keys in sorted order (toml tables are sorted); only the unset ones.
        assert_eq!(
            o,
            vec![
                ("qa.bsize".to_string(), "8".to_string()),
                ("qa.output".into(), "\"out/x\"".into()),
                ("qa.stop.max_duration".into(), "30m".into()),
                ("qa.strategies".into(), "[append_demo]".into()),
            ]
        );
    }

    #[test]
    fn discovery_walks_up() {
        let root = std::env::temp_dir().join(format!("simba-cfg-{}", std::process::id()));
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(root.join(FILE_NAME), "[defaults]\n").unwrap();
        assert_eq!(discover(&deep), Some(root.join(FILE_NAME)));
        std::fs::write(deep.join(FILE_NAME), "").unwrap();
        assert_eq!(discover(&deep), Some(deep.join(FILE_NAME)));
        let _ = std::fs::remove_dir_all(&root);
    }
}
