//! Reading typed settings out of AST values, with a diagnostic for each misuse.

use crate::ir::Setting;
use crate::syntax::ast::{Entry, EntryValue, Ident, Span, Value, ValueKind, dotted};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;
use std::time::Duration;

/// Collects diagnostics while reading values.
#[derive(Default)]
pub struct Diags {
    /// Every diagnostic so far, in the order it was reported.
    pub list: Vec<Diagnostic>,
}

impl Diags {
    /// Records a diagnostic (error or warning) built by the caller.
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    fn wrong(&mut self, v: &Value, key: &str, want: &str) {
        let found = v.kind.describe();
        let mut d = Diagnostic::error(v.span, format!("`{key}` expects {want}, found {found}"))
            .label(format!("{found} here"));
        if let ValueKind::Str(s) = &v.kind
            && s.parse::<f64>().is_ok()
            && want.contains("number")
        {
            d = d.help(format!("drop the quotes: `{key} = {s}`"));
        }
        self.push(d);
    }

    /// An integer in `[min, max]`.
    pub fn int(&mut self, v: &Value, key: &str, min: i128, max: i128) -> Option<i128> {
        let ValueKind::Number(text) = &v.kind else {
            self.wrong(v, key, "a whole number");
            return None;
        };
        let clean = text.replace('_', "");
        let Ok(n) = clean.parse::<i128>() else {
            self.push(
                Diagnostic::error(
                    v.span,
                    format!("`{key}` expects a whole number, found `{text}`"),
                )
                .label("not a whole number"),
            );
            return None;
        };
        if n < min || n > max {
            // The whole accepted range, so a number too large is told its
            // limit too (counts stop at u32::MAX, seeds at u64::MAX).
            self.push(
                Diagnostic::error(
                    v.span,
                    format!("`{key}` must be between {min} and {max}, found {n}"),
                )
                .label("out of range"),
            );
            return None;
        }
        Some(n)
    }

    /// A whole number of at least `min` (and at most `u32::MAX`, so counts
    /// stay small on every platform).
    pub fn usize(&mut self, v: &Value, key: &str, min: usize) -> Option<usize> {
        self.int(v, key, min as i128, u32::MAX as i128)
            .map(|n| n as usize)
    }

    /// A whole number of at least `min`, up to `u64::MAX` (seeds).
    pub fn u64(&mut self, v: &Value, key: &str, min: u64) -> Option<u64> {
        self.int(v, key, min as i128, u64::MAX as i128)
            .map(|n| n as u64)
    }

    /// Any number.
    pub fn float(&mut self, v: &Value, key: &str) -> Option<f64> {
        match &v.kind {
            ValueKind::Number(text) => match text.replace('_', "").parse::<f64>() {
                Ok(f) if f.is_finite() => Some(f),
                _ => {
                    self.push(Diagnostic::error(
                        v.span,
                        format!("`{key}`: `{text}` is not a finite number"),
                    ));
                    None
                }
            },
            _ => {
                self.wrong(v, key, "a number");
                None
            }
        }
    }

    /// A number checked by `ok`, described by `rule` ("greater than 0", ...).
    pub fn float_where(
        &mut self,
        v: &Value,
        key: &str,
        rule: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        let f = self.float(v, key)?;
        if ok(f) {
            Some(f)
        } else {
            self.push(
                Diagnostic::error(v.span, format!("`{key}` must be {rule}, found {f}"))
                    .label("out of range"),
            );
            None
        }
    }

    /// A duration literal, e.g. `30s`; `0` is accepted as zero.
    pub fn duration(&mut self, v: &Value, key: &str, allow_zero: bool) -> Option<Duration> {
        let d = match &v.kind {
            ValueKind::Duration(text) => parse_duration(text),
            ValueKind::Number(text) if text == "0" => Some(Duration::ZERO),
            _ => {
                self.wrong(v, key, "a duration such as `30s`, `250ms`, `2m` or `1h`");
                return None;
            }
        }?;
        if d.is_zero() && !allow_zero {
            self.push(
                Diagnostic::error(v.span, format!("`{key}` must be longer than 0")).label("zero"),
            );
            return None;
        }
        Some(d)
    }

    /// A string literal (a name or number is an error, not converted).
    pub fn string(&mut self, v: &Value, key: &str) -> Option<String> {
        match &v.kind {
            ValueKind::Str(s) => Some(s.clone()),
            _ => {
                self.wrong(v, key, "a string");
                None
            }
        }
    }

    /// `true` or `false` (strings such as `"true"` are an error).
    pub fn bool(&mut self, v: &Value, key: &str) -> Option<bool> {
        match &v.kind {
            ValueKind::Bool(b) => Some(*b),
            _ => {
                self.wrong(v, key, "`true` or `false`");
                None
            }
        }
    }

    /// A single plain name.
    pub fn name<'v>(&mut self, v: &'v Value, key: &str, what: &str) -> Option<&'v Ident> {
        match &v.kind {
            ValueKind::Name(parts) if parts.len() == 1 => Some(&parts[0]),
            _ => {
                self.wrong(v, key, what);
                None
            }
        }
    }

    /// One of `choices`, written as a name (or a string).
    pub fn choice<'c>(&mut self, v: &Value, key: &str, choices: &[&'c str]) -> Option<&'c str> {
        let word = match &v.kind {
            ValueKind::Name(parts) => dotted(parts),
            ValueKind::Str(s) => s.clone(),
            _ => {
                self.wrong(v, key, &format!("one of {}", choices.join(", ")));
                return None;
            }
        };
        if let Some(c) = choices.iter().find(|c| **c == word) {
            return Some(c);
        }
        self.push(
            Diagnostic::error(v.span, format!("`{word}` is not a valid `{key}`"))
                .label("unknown value")
                .help(match did_you_mean(&word, choices.iter().copied()) {
                    Some(h) => format!("{h} (choices: {})", choices.join(", ")),
                    None => format!("choices: {}", choices.join(", ")),
                }),
        );
        None
    }

    /// A string or `env("NAME")` / `env("NAME", "default")`.
    pub fn setting(&mut self, v: &Value, key: &str) -> Option<Setting> {
        match &v.kind {
            ValueKind::Str(s) => Some(Setting::Literal(s.clone())),
            ValueKind::Call { name, args } if name.name == "env" => {
                let strs: Vec<Option<&String>> = args
                    .iter()
                    .map(|a| match &a.kind {
                        ValueKind::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                match strs.as_slice() {
                    [Some(var)] if valid_env_name(var) => Some(Setting::Env {
                        var: (*var).clone(),
                        default: None,
                    }),
                    [Some(var), Some(d)] if valid_env_name(var) => Some(Setting::Env {
                        var: (*var).clone(),
                        default: Some((*d).clone()),
                    }),
                    _ => {
                        self.push(
                            Diagnostic::error(
                                v.span,
                                "`env` takes a variable name and an optional default",
                            )
                            .label("invalid env() call")
                            .help("write `env(\"NAME\")` or `env(\"NAME\", \"default\")`"),
                        );
                        None
                    }
                }
            }
            ValueKind::Call { name, .. } => {
                self.push(
                    Diagnostic::error(
                        name.span,
                        format!("unknown function `{}` in a setting", name.name),
                    )
                    .label("unknown function")
                    .help("only `env(\"NAME\")` can be used here"),
                );
                None
            }
            _ => {
                self.wrong(v, key, "a string or `env(\"NAME\")`");
                None
            }
        }
    }

    /// A setting value as JSON (for `params { }` and plugin model keys).
    pub fn json(&mut self, v: &Value, key: &str) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match &v.kind {
            ValueKind::Str(s) => J::String(s.clone()),
            ValueKind::Bool(b) => J::Bool(*b),
            ValueKind::Duration(d) => J::String(d.clone()),
            ValueKind::Name(parts) => J::String(dotted(parts)),
            ValueKind::Number(t) => {
                let clean = t.replace('_', "");
                match clean.parse::<i64>() {
                    Ok(i) => J::from(i),
                    Err(_) => J::from(self.float(v, key)?),
                }
            }
            ValueKind::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.json(i, key)?);
                }
                J::Array(out)
            }
            // Pass-through keys (plugin and local model settings) carry an
            // env() as `{"$env": NAME, "default": ..}` (ir::ENV_KEY): read by the provider or the plugin host
            // when it is built, never at compile time (LANGUAGE.md, env()).
            ValueKind::Call { name, .. } if name.name == "env" => match self.setting(v, key)? {
                Setting::Env { var, default } => {
                    let mut obj = serde_json::Map::new();
                    obj.insert(crate::ir::ENV_KEY.into(), J::String(var));
                    if let Some(d) = default {
                        obj.insert("default".into(), J::String(d));
                    }
                    J::Object(obj)
                }
                Setting::Literal(s) => J::String(s),
            },
            ValueKind::Block(entries) => J::Object(self.json_block(entries).into_iter().collect()),
            ValueKind::Configured { .. } => {
                self.wrong(v, key, "a string, number, boolean, list or block");
                return None;
            }
            ValueKind::Call { name, .. } => {
                self.push(
                    Diagnostic::error(
                        name.span,
                        format!("`{}(..)` cannot be used in `{key}`", name.name),
                    )
                    .label("not allowed here")
                    .help("pass-through values must be plain strings, numbers, booleans or lists"),
                );
                return None;
            }
        })
    }

    /// A plugin item's `{ .. }` config (see [`Self::json_block`]).
    pub fn item_config(&mut self, entries: &[Entry]) -> crate::ir::ItemConfig {
        crate::ir::ItemConfig::new(self.json_block(entries).into_iter().collect())
    }

    /// A block as a JSON object.
    pub fn json_block(&mut self, entries: &[Entry]) -> IndexMap<String, serde_json::Value> {
        let mut out = IndexMap::new();
        for e in self.unique(entries) {
            let v = match &e.value {
                EntryValue::Value(v) => self.json(v, &e.key.name),
                EntryValue::Block(inner) => Some(serde_json::Value::Object(
                    self.json_block(inner).into_iter().collect(),
                )),
            };
            if let Some(v) = v {
                out.insert(e.key.name.clone(), v);
            }
        }
        out
    }

    /// The entries with duplicates reported (later duplicates dropped).
    pub fn unique<'e>(&mut self, entries: &'e [Entry]) -> Vec<&'e Entry> {
        let mut seen: IndexMap<&str, &Entry> = IndexMap::new();
        for e in entries {
            if let Some(first) = seen.get(e.key.name.as_str()) {
                self.push(
                    Diagnostic::error(e.key.span, format!("`{}` is set twice", e.key.name))
                        .label("set again here")
                        .related(first.key.span, "first set here")
                        .help("remove one of them"),
                );
            } else {
                seen.insert(&e.key.name, e);
            }
        }
        seen.into_values().collect()
    }

    /// Reports an unknown key with a suggestion from `known`.
    pub fn unknown_key(&mut self, key: &Ident, what: &str, known: &[&str]) {
        self.push(
            Diagnostic::error(key.span, format!("unknown key `{}` in {what}", key.name))
                .label("unknown key")
                .help(match did_you_mean(&key.name, known.iter().copied()) {
                    Some(h) => h,
                    None => format!("known keys: {}", known.join(", ")),
                }),
        );
    }

    /// A `key = value` entry's value, or an error if it is a `{ }` block.
    pub fn plain<'e>(&mut self, e: &'e Entry) -> Option<&'e Value> {
        match &e.value {
            EntryValue::Value(v) => Some(v),
            EntryValue::Block(_) => {
                self.push(
                    Diagnostic::error(
                        e.key.span,
                        format!("`{}` takes a value, not a `{{ }}` block", e.key.name),
                    )
                    .label("expected `=` and a value")
                    .help(format!("write `{} = ...`", e.key.name)),
                );
                None
            }
        }
    }

    /// A `key { .. }` block's entries, or an error if it is a value.
    pub fn block<'e>(&mut self, e: &'e Entry) -> Option<&'e [Entry]> {
        match &e.value {
            EntryValue::Block(b) => Some(b),
            EntryValue::Value(v) => {
                self.push(
                    Diagnostic::error(v.span, format!("`{}` takes a `{{ .. }}` block", e.key.name))
                        .label("expected a block")
                        .help(format!("write `{} {{ key = value }}`", e.key.name)),
                );
                None
            }
        }
    }
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('=') && !s.contains('\0')
}

pub use crate::syntax::lex::parse_duration;

/// Stores a setting that was read successfully; a bad value (already
/// reported) leaves the default in place.
pub(crate) fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// The span of an entry's value (or of its key for a block).
pub fn entry_value_span(e: &Entry) -> Span {
    match &e.value {
        EntryValue::Value(v) => v.span,
        EntryValue::Block(_) => e.key.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_every_unit() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1_000ms"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("5"), None);
    }
}
