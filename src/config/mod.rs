//! Project configuration: `simba.toml`, found in the spec's folder or the
//! nearest parent (as cargo finds Cargo.toml).
//!
//! - `[defaults]`: optimize-block settings for every block of every spec
//!   below the file. A spec's own value wins over it and `--set` wins over
//!   both. This module only reads them, with their places in the file; the
//!   compiler applies them to each block that leaves the key unset and
//!   checks them like spec values, with diagnostics that point into the
//!   simba.toml (`crate::compile`).
//! - `[prices."model-id"]`: `input` and `output` USD per million tokens, by
//!   the provider's model id, for `--dry-run` costs and `stop.max_cost`.
//!
//! - `[plugins] search_path`: more folders to look for a plugin library's
//!   file name in (relative to the simba.toml's folder); `[plugins]
//!   call_timeout`: seconds one plugin tool or metric call may take.
//!
//! Unknown tables and keys outside `[defaults]` are errors naming the file
//! and line; unknown keys inside it are compile diagnostics.
//!
//! This module sits below the compiler and imports nothing from the crate:
//! the compiler layers its typed settings into a spec.

use indexmap::IndexMap;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The file name looked for.
pub const FILE_NAME: &str = "simba.toml";

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per million prompt tokens.
    pub input: f64,
    /// USD per million completion tokens.
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
    #[serde(default)]
    call_timeout: Option<Seconds>,
}

/// A time in simba.toml: a number of seconds (`30`, `0.5`) or a duration
/// as the spec writes it (`"30s"`, `"2m"`, `"250ms"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(f64),
    Text(String),
    /// Anything else (a boolean, a list): refused with the message below
    /// rather than serde's "did not match any variant".
    Other(toml::Value),
}

/// One `[defaults]` setting with its place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultSetting {
    /// The table it sits in below `[defaults]` (`Some("stop")` for
    /// `[defaults.stop]`), `None` for a key of `[defaults]` itself.
    pub table: Option<String>,
    /// The key, e.g. `bsize` or (in `stop`) `patience`.
    pub key: String,
    /// Byte range of the key in the file.
    pub key_span: Range<usize>,
    /// The value as TOML typed it.
    pub value: toml::Value,
    /// Byte range of the value in the file.
    pub value_span: Range<usize>,
}

/// A loaded `simba.toml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectConfig {
    /// Where it was read from (None: no file found).
    pub path: Option<PathBuf>,
    /// The file's text: diagnostics about `[defaults]` point into it.
    pub text: String,
    /// `[defaults]`, in file order, tables flattened (`[defaults.stop]`).
    pub defaults: Vec<DefaultSetting>,
    /// By provider model id.
    pub prices: IndexMap<String, Price>,
    /// `[plugins] search_path`, each folder resolved against the file's folder.
    pub plugin_search_path: Vec<PathBuf>,
    /// `[plugins] call_timeout`: seconds one plugin tool or metric call may
    /// take (None: the host's default).
    pub plugin_call_timeout: Option<std::time::Duration>,
}

/// Why simba.toml could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The simba.toml path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown table or key outside `[defaults]`.
    #[error("{path}: {message}")]
    Invalid {
        /// The simba.toml path.
        path: PathBuf,
        /// toml's message, with line, column and the keys expected.
        message: String,
    },
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
        // Absolute, so a bare `spec.simba` still walks up past the current folder.
        let spec_path = std::path::absolute(spec_path).unwrap_or_else(|_| spec_path.to_path_buf());
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
        let dir = path.parent().unwrap_or(Path::new("."));
        let plugin_call_timeout = match raw.plugins.call_timeout {
            None => None,
            Some(given) => {
                let duration = match &given {
                    Seconds::Number(n) => std::time::Duration::try_from_secs_f64(*n).ok(),
                    Seconds::Text(t) => crate::syntax::lex::parse_duration(t.trim()),
                    Seconds::Other(_) => None,
                };
                // Judged as the duration it becomes: 1e-10 rounds to nothing.
                let min = std::time::Duration::from_millis(1);
                let max = std::time::Duration::from_secs(86_400);
                match duration {
                    Some(d) if d >= min && d <= max => Some(d),
                    _ => {
                        let shown = match given {
                            Seconds::Number(n) => n.to_string(),
                            Seconds::Text(t) => format!("{t:?}"),
                            Seconds::Other(v) => v.to_string(),
                        };
                        return Err(invalid(format!(
                            "[plugins] call_timeout must be from 1 ms to 24h: a number of \
                             seconds (`30`) or a duration (`\"30s\"`, `\"2m\"`), got {shown}"
                        )));
                    }
                }
            }
        };
        Ok(Self {
            plugin_call_timeout,
            path: Some(path.to_path_buf()),
            text: text.to_string(),
            defaults: spanned_defaults(text, &raw.defaults),
            prices: raw.prices,
            plugin_search_path: raw
                .plugins
                .search_path
                .iter()
                .map(|p| dir.join(p))
                .collect(),
        })
    }

    /// The price of a provider model id.
    pub fn price(&self, model_id: &str) -> Option<Price> {
        self.prices.get(model_id).copied()
    }
}

/// The `[defaults]` entries with their byte ranges. `defaults` is the
/// table serde already read (so the text is known to be valid TOML); the
/// span-keeping parse only adds where each key and value sit.
fn spanned_defaults(text: &str, defaults: &toml::Table) -> Vec<DefaultSetting> {
    use toml::de::{DeTable, DeValue};
    let Ok(doc) = DeTable::parse(text) else {
        return Vec::new();
    };
    let Some(table) = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == "defaults")
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        })
    else {
        return Vec::new();
    };
    let setting = |table: Option<&str>, key: &str, key_span, value: &toml::Value, value_span| {
        DefaultSetting {
            table: table.map(str::to_string),
            key: key.to_string(),
            key_span,
            value: value.clone(),
            value_span,
        }
    };
    let mut out = Vec::new();
    for (key, value) in table {
        let (name, key_span, value_span) = (key.get_ref(), key.span(), value.span());
        let Some(typed) = defaults.get(name.as_ref()) else {
            continue;
        };
        match (value.get_ref(), typed) {
            (DeValue::Table(inner), toml::Value::Table(typed_inner)) => {
                for (k, v) in inner {
                    if let Some(t) = typed_inner.get(k.get_ref().as_ref()) {
                        out.push(setting(Some(name), k.get_ref(), k.span(), t, v.span()));
                    }
                }
            }
            _ => out.push(setting(None, name, key_span, typed, value_span)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectConfig, ConfigError> {
        ProjectConfig::parse(text, Path::new("/p/simba.toml"))
    }

    #[test]
    fn call_timeout_takes_seconds_or_a_duration() {
        let timeout = |v: &str| {
            parse(&format!("[plugins]\ncall_timeout = {v}\n")).map(|c| c.plugin_call_timeout)
        };
        let secs = |s: f64| Some(std::time::Duration::from_secs_f64(s));
        assert_eq!(timeout("30").unwrap(), secs(30.0));
        assert_eq!(timeout("0.5").unwrap(), secs(0.5));
        assert_eq!(timeout("\"30s\"").unwrap(), secs(30.0));
        assert_eq!(timeout("\"2m\"").unwrap(), secs(120.0));
        assert_eq!(timeout("\"250ms\"").unwrap(), secs(0.25));
        for bad in ["0", "\"soon\"", "\"25h\"", "-1", "1e-10", "true", "[30]"] {
            let err = timeout(bad).unwrap_err().to_string();
            assert!(
                err.contains("call_timeout must be from 1 ms"),
                "{bad}: {err}"
            );
        }
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
    fn unknown_tables_and_price_keys_name_file_and_line() {
        let e = parse("[prices.x]\ninput = 1\noutptu = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/p/simba.toml") && e.contains("line 3"), "{e}");
        assert!(e.contains("outptu") && e.contains("output"), "{e}");
        let e = parse("[default]\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("defaults"), "{e}");
    }

    #[test]
    fn defaults_keep_their_places_in_the_file() {
        let text = "[defaults]\nbsize = 8\nstrategies = [\"append_demo\"]\n[defaults.stop]\npatience = 2\n";
        let c = parse(text).unwrap();
        let found: Vec<(Option<&str>, &str, &str, &str)> = c
            .defaults
            .iter()
            .map(|d| {
                (
                    d.table.as_deref(),
                    d.key.as_str(),
                    &text[d.key_span.clone()],
                    &text[d.value_span.clone()],
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (None, "bsize", "bsize", "8"),
                (Some("stop"), "patience", "patience", "2"),
                (None, "strategies", "strategies", "[\"append_demo\"]"),
            ]
        );
        assert_eq!(c.defaults[0].value, toml::Value::Integer(8));
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
