//! A plugin item's `{ .. }` config (for a plugin model: the keys of its
//! `model { }` block that are not simba-run's own), checked against the
//! keys the plugin's manifest declares for that item (read before
//! compiling, like tool fields): an unknown key gets a "did you mean", a
//! value of the wrong type an error at the value. Items that declare no
//! keys get their config unchecked, as JSON.

use super::Ctx;
use crate::ir::ItemConfig;
use crate::syntax::ast::{Binding, Entry, EntryValue, Ident, Span, ValueKind, dotted_span};
use crate::syntax::diagnostic::Diagnostic;
use serde_json::Value as J;

/// One config key a plugin item declares: `(name, type, one-line doc)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKeySpec {
    /// The key.
    pub name: String,
    /// Its type as the manifest writes it (`int`, `list<string>`, ...).
    pub ty: String,
    /// What it does, in one line.
    pub doc: Option<String>,
}

/// A config key's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigType {
    /// A string (names and durations are written as strings too).
    String,
    /// A whole number.
    Int,
    /// Any number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A nested block, `{ a = 1 }`.
    Object,
    /// Any value.
    Json,
    /// A list of values of one type.
    List(Box<ConfigType>),
}

impl ConfigType {
    /// A manifest's type text; `None` when it is not one of the types above.
    pub fn parse(text: &str) -> Option<ConfigType> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            return ConfigType::parse(inner).map(|i| ConfigType::List(Box::new(i)));
        }
        Some(match t {
            "string" | "str" => ConfigType::String,
            "int" => ConfigType::Int,
            "float" => ConfigType::Float,
            "bool" => ConfigType::Bool,
            "object" => ConfigType::Object,
            "json" => ConfigType::Json,
            _ => return None,
        })
    }

    /// Whether the JSON `value` (as the plugin would receive it) has this type.
    pub fn fits(&self, value: &J) -> bool {
        match (self, value) {
            (ConfigType::Json, _) => true,
            // `env(..)`, at any depth: read when the plugin is built.
            (_, J::Object(map)) if map.contains_key(crate::ir::ENV_KEY) => true,
            (ConfigType::String, J::String(_)) => true,
            (ConfigType::Int, J::Number(n)) => n.is_i64() || n.is_u64(),
            (ConfigType::Float, J::Number(_)) => true,
            (ConfigType::Bool, J::Bool(_)) => true,
            (ConfigType::Object, J::Object(_)) => true,
            (ConfigType::List(t), J::Array(items)) => items.iter().all(|i| t.fits(i)),
            _ => false,
        }
    }
}

/// The deepest a config value may nest (blocks and lists): a plugin reads
/// its config with a JSON parser, and serde_json stops at 128 levels, so a
/// deeper value would reach `new()` as a parse failure instead of a config.
pub const MAX_CONFIG_DEPTH: usize = 64;

/// How many blocks and lists `value` nests (a scalar is 0).
fn depth(value: &J) -> usize {
    match value {
        J::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        J::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A short noun for a JSON value in messages.
fn describe(value: &J) -> &'static str {
    match value {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        // Written whole but past 64 bits, it was read as a float.
        J::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            "a whole number outside the 64-bit range"
        }
        J::Number(_) => "a fractional number",
        J::String(_) => "a string",
        J::Array(_) => "a list",
        J::Object(_) => "a block",
    }
}

/// One key as written: its name, the span of its value, and the value as JSON.
struct Written<'a> {
    key: &'a Ident,
    at: Span,
    value: Option<J>,
    /// `env(..)`: read when the plugin is built, never typed here.
    deferred: bool,
}

impl<'a> Written<'a> {
    /// Entry `e`, whose value the config being built holds as `value`.
    fn of(e: &'a Entry, value: Option<J>) -> Self {
        Written {
            key: &e.key,
            at: e.value_span(),
            value,
            deferred: matches!(&e.value, EntryValue::Value(v)
                if matches!(&v.kind, ValueKind::Call { name, .. } if name.name == "env")),
        }
    }
}

impl Ctx<'_> {
    /// The config of `plugin.item` (a `kind`: strategy, tool or metric)
    /// written as `entries`, checked against its declared keys.
    pub(super) fn plugin_config(
        &mut self,
        name: &[Ident],
        kind: &str,
        entries: &[Entry],
    ) -> ItemConfig {
        let config = self.d.item_config(entries);
        let json = config.json();
        // The first of duplicate keys (`item_config` reported the others).
        let mut seen = std::collections::HashSet::new();
        let written: Vec<Written> = entries
            .iter()
            .filter(|e| seen.insert(e.key.name.as_str()))
            .map(|e| Written::of(e, json.get(&e.key.name).cloned()))
            .collect();
        self.check_config_keys(name, kind, &written, &[]);
        self.check_depth(&written);
        config
    }

    /// Values nested deeper than a plugin's JSON reader takes.
    fn check_depth(&mut self, written: &[Written]) {
        for w in written {
            if let Some(value) = &w.value {
                self.check_nesting(&w.key.name, w.at, value);
            }
        }
    }

    /// An error at `at` when `value`, the value of `key`, nests deeper than
    /// a JSON reader (a plugin's, a server's) takes.
    pub(super) fn check_nesting(&mut self, key: &str, at: Span, value: &J) {
        if depth(value) > MAX_CONFIG_DEPTH {
            self.d.push(
                Diagnostic::error(
                    at,
                    format!("`{key}` nests more than {MAX_CONFIG_DEPTH} levels deep"),
                )
                .label("too deep for a JSON reader")
                .help("JSON readers (serde_json's included) refuse deeper values; flatten it"),
            );
        }
    }

    /// A tool step's `{ key = name }` braces, which parse as bindings: the
    /// config maps each key to the name as a string.
    pub(super) fn plugin_config_of_bindings(
        &mut self,
        name: &[Ident],
        bindings: &[Binding],
    ) -> ItemConfig {
        let object: serde_json::Map<String, J> = bindings
            .iter()
            .map(|b| {
                let text = crate::syntax::ast::dotted(&b.source);
                (b.field.name.clone(), J::String(text))
            })
            .collect();
        let written: Vec<Written> = bindings
            .iter()
            .map(|b| Written {
                key: &b.field,
                at: dotted_span(&b.source),
                value: object.get(&b.field.name).cloned(),
                deferred: false,
            })
            .collect();
        self.check_config_keys(name, "tool", &written, &[]);
        ItemConfig::new(object)
    }

    /// The keys a plugin model's block sets beyond simba-run's own
    /// (`entries`, their values in `extra`), checked against the keys the
    /// plugin declares for `plugin.item`'s config. `host_keys` are the ones
    /// simba-run reads itself: a plugin declaring one is an error (its value
    /// would never reach the plugin), and a misspelt one is suggested.
    pub(super) fn plugin_model_config(
        &mut self,
        name: [Ident; 2],
        entries: &[&Entry],
        extra: &indexmap::IndexMap<String, J>,
        host_keys: &[&str],
    ) {
        let [plugin, item] = &name;
        let id = (plugin.name.clone(), "model".to_string(), item.name.clone());
        let declared = self.tools.config_keys.get(&id).cloned().unwrap_or_default();
        for key in declared
            .iter()
            .filter(|k| host_keys.contains(&k.name.as_str()))
        {
            let (whose, why) = if key.name == "spec_dir" {
                (
                    "a key the host sets itself",
                    "the host passes the spec's folder as `spec_dir` (a block may replace it, unchecked)",
                )
            } else {
                (
                    "a key simba-run reads itself",
                    "its value in the block is simba-run's and never reaches the plugin",
                )
            };
            self.d.push(
                Diagnostic::error(
                    plugin.span,
                    format!(
                        "plugin `{}` declares `{}` for its model `{}`, {whose}",
                        plugin.name, key.name, item.name
                    ),
                )
                .label("unusable manifest")
                .help(format!("{why}; the plugin must name its key otherwise")),
            );
        }
        let written: Vec<Written> = entries
            .iter()
            .map(|e| Written::of(e, extra.get(&e.key.name).cloned()))
            .collect();
        self.check_config_keys(&name, "model", &written, host_keys);
        self.check_depth(&written);
    }

    /// `written` against the keys `plugin.item` (a `kind`) declares, if it
    /// declares any; `also_known` are other names the block accepts, offered
    /// as suggestions for a misspelt key.
    fn check_config_keys(
        &mut self,
        name: &[Ident],
        kind: &str,
        written: &[Written],
        also_known: &[&str],
    ) {
        let [plugin, item] = name else { return };
        let id = (plugin.name.clone(), kind.to_string(), item.name.clone());
        let Some(keys) = self.tools.config_keys.get(&id).cloned() else {
            return;
        };
        let what = format!("the config of `{}.{}`", plugin.name, item.name);
        let known: Vec<&str> = keys
            .iter()
            .map(|k| k.name.as_str())
            .chain(also_known.iter().copied())
            .collect();
        for w in written {
            let Some(key) = keys.iter().find(|k| k.name == w.key.name) else {
                if known.is_empty() {
                    self.d.push(
                        Diagnostic::error(
                            w.key.span,
                            format!("unknown key `{}` in {what}", w.key.name),
                        )
                        .label("unknown key")
                        .help(format!("`{}.{}` takes no config", plugin.name, item.name)),
                    );
                } else {
                    self.d.unknown_key(w.key, &what, &known);
                }
                continue;
            };
            let Some(ty) = ConfigType::parse(&key.ty) else {
                self.d.push(
                    Diagnostic::error(
                        w.key.span,
                        format!(
                            "plugin `{}` declares `{}` with an unknown type `{}`",
                            plugin.name, key.name, key.ty
                        ),
                    )
                    .label("unusable manifest")
                    .help(
                        "config key types are string, int, float, bool, object, json or list<..>",
                    ),
                );
                continue;
            };
            match &w.value {
                Some(v) if !w.deferred && !ty.fits(v) => {
                    let mut d = Diagnostic::error(
                        w.at,
                        format!("`{}` takes {}, found {}", key.name, key.ty, describe(v)),
                    )
                    .label(format!("expected {}", key.ty));
                    if let Some(doc) = &key.doc {
                        d = d.help(format!("`{}`: {doc}", key.name));
                    }
                    self.d.push(d);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_env_value_fits_any_type_at_any_depth() {
        // `env(..)` is read when the plugin is built, so it is not typed
        // here, in a list or a block as at the top.
        let env = json!({crate::ir::ENV_KEY: "WORDS"});
        let list = ConfigType::parse("list<string>").unwrap();
        assert!(list.fits(&json!([env.clone(), "b"])));
        assert!(!list.fits(&json!([{"not_env": 1}, "b"])));
        assert!(ConfigType::Int.fits(&env));
        assert!(!ConfigType::Int.fits(&json!({"$other": "X"})));
    }

    #[test]
    fn types_parse_and_fit_json_values() {
        let list = ConfigType::parse("list<int>").unwrap();
        assert!(list.fits(&json!([1, 2])));
        assert!(!list.fits(&json!([1, 2.5])));
        assert!(!list.fits(&json!("1")));
        assert!(ConfigType::Float.fits(&json!(2)));
        assert!(!ConfigType::Int.fits(&json!(2.5)));
        assert!(ConfigType::Object.fits(&json!({"a": {"b": 1}})));
        assert!(ConfigType::Json.fits(&json!(null)));
        assert_eq!(ConfigType::parse("tensor"), None);
    }

    #[test]
    fn a_huge_whole_number_is_not_called_fractional() {
        assert_eq!(
            describe(&json!(1e23)),
            "a whole number outside the 64-bit range"
        );
        assert_eq!(describe(&json!(2.5)), "a fractional number");
        assert_eq!(describe(&json!(7)), "a whole number");
    }

    #[test]
    fn depth_counts_blocks_and_lists() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": {}}]})), 4);
        let mut deep = json!(1);
        for _ in 0..=MAX_CONFIG_DEPTH {
            deep = json!({ "a": deep });
        }
        assert_eq!(depth(&deep), MAX_CONFIG_DEPTH + 1);
    }
}
