//! simba.toml `[defaults]` layered under a spec's optimize blocks: each
//! setting goes into every block that leaves its key unset, as an entry
//! whose spans point into the simba.toml (its own source), so the block's
//! lowering checks it exactly like a value written in the spec and a wrong
//! value is reported at its line and column in the file it came from.
//! `--set` overrides are applied after these and replace them.

use super::optimize::{KEYS, STOP_KEYS};
use super::overrides::stop_entries;
use super::values::Diags;
use crate::config::{DefaultSetting, ProjectConfig};
use crate::syntax::ast::{Entry, EntryValue, File, Ident, Item, Span, Value, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use crate::syntax::parser::parse_override_value;

/// Keys whose TOML strings are spec strings (paths); every other string is
/// read as spec syntax (`"thompson"` is the name `thompson`, `"30m"` a duration).
const STRING_KEYS: [&str; 2] = ["output", "cache"];

/// Adds `config`'s defaults to the optimize blocks of `file`; `src` is the
/// index of the simba.toml among the diagnostic sources.
pub(super) fn apply(file: &mut File, config: &ProjectConfig, src: u16, d: &mut Diags) {
    for setting in &config.defaults {
        let Some(entry) = entry_of(setting, src, d) else {
            continue;
        };
        for item in &mut file.items {
            if let Item::Optimize(block) = item {
                match setting.table {
                    None => add_if_unset(&mut block.entries, &entry),
                    // `stop = value` in the spec: its lowering reports that.
                    Some(_) => {
                        if let Some(stop) = stop_entries(&mut block.entries, &entry) {
                            add_if_unset(stop, &entry);
                        }
                    }
                }
            }
        }
    }
}

/// The setting as a spec entry, or `None` after reporting why it cannot be one.
fn entry_of(setting: &DefaultSetting, src: u16, d: &mut Diags) -> Option<Entry> {
    let key_span = span(setting.key_span.clone(), src);
    let value_span = span(setting.value_span.clone(), src);
    let allowed: &[&str] = match setting.table.as_deref() {
        None => &KEYS,
        Some("stop") => &STOP_KEYS,
        Some(table) => {
            d.push(
                Diagnostic::error(key_span, format!("unknown table [defaults.{table}]"))
                    .label("not an optimize setting")
                    .help("the only table under [defaults] is [defaults.stop]"),
            );
            return None;
        }
    };
    let where_ = match &setting.table {
        None => "[defaults]".to_string(),
        Some(t) => format!("[defaults.{t}]"),
    };
    if !allowed.contains(&setting.key.as_str()) {
        let help = did_you_mean(&setting.key, allowed.iter().copied())
            .unwrap_or_else(|| format!("allowed: {}", allowed.join(", ")));
        d.push(
            Diagnostic::error(
                key_span,
                format!("unknown key `{}` in {where_}", setting.key),
            )
            .label("not an optimize setting")
            .help(help),
        );
        return None;
    }
    if setting.table.is_none() && setting.key == "stop" {
        d.push(
            Diagnostic::error(value_span, "[defaults] `stop` must be a table")
                .label("not a table")
                .help("write the stop rules under [defaults.stop]"),
        );
        return None;
    }
    let value = match value_of(&setting.key, &setting.value, value_span) {
        Ok(v) => v,
        Err(diag) => {
            d.push(*diag);
            return None;
        }
    };
    Some(Entry {
        key: Ident {
            name: setting.key.clone(),
            span: key_span,
        },
        value: EntryValue::Value(value),
        span: Span {
            start: key_span.start,
            end: value_span.end,
            src,
        },
    })
}

/// A TOML value as the spec value it stands for, every span at `at`.
fn value_of(key: &str, v: &toml::Value, at: Span) -> Result<Value, Box<Diagnostic>> {
    let kind = match v {
        toml::Value::String(s) if STRING_KEYS.contains(&key) => ValueKind::Str(s.clone()),
        toml::Value::String(s) => {
            let mut parsed = parse_override_value(s, 0, at.src).map_err(|_| {
                Box::new(Diagnostic::error(at, format!("`{s}` is not a value an optimize setting takes"))
                    .label("not a name, number or duration")
                    .help("write names and durations as TOML strings: selection = \"thompson\", max_duration = \"30m\""))
            })?;
            respan(&mut parsed, at);
            return Ok(parsed);
        }
        toml::Value::Integer(_) | toml::Value::Float(_) => ValueKind::Number(v.to_string()),
        toml::Value::Boolean(b) => ValueKind::Bool(*b),
        toml::Value::Array(items) => ValueKind::List(
            items
                .iter()
                .map(|i| value_of(key, i, at))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err(Box::new(
                Diagnostic::error(at, format!("`{key}` cannot be {}", v.type_str()))
                    .label("not an optimize setting value"),
            ));
        }
    };
    Ok(Value { kind, span: at })
}

/// Points every span of a value parsed from a TOML string at the string.
fn respan(v: &mut Value, at: Span) {
    v.span = at;
    match &mut v.kind {
        ValueKind::Name(parts) => parts.iter_mut().for_each(|p| p.span = at),
        ValueKind::List(items) => items.iter_mut().for_each(|i| respan(i, at)),
        ValueKind::Call { name, args } => {
            name.span = at;
            args.iter_mut().for_each(|a| respan(a, at));
        }
        _ => {}
    }
}

fn add_if_unset(entries: &mut Vec<Entry>, entry: &Entry) {
    if !entries.iter().any(|e| e.key.name == entry.key.name) {
        entries.push(entry.clone());
    }
}

fn span(range: std::ops::Range<usize>, src: u16) -> Span {
    Span {
        start: range.start,
        end: range.end,
        src,
    }
}
