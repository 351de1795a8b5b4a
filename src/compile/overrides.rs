//! `--set KEY=VALUE`: rewrites optimize blocks before they are compiled, so
//! an override is checked exactly like the value it replaces. Diagnostics
//! point into the override's own text (source index `n` for the `n`-th).

use super::Override;
use super::names::listing;
use super::values::Diags;
use crate::syntax::ast::{Entry, EntryValue, File, Ident, Item, Span};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use crate::syntax::parser::parse_override_value;

pub(super) fn apply(file: &mut File, overrides: &[Override], d: &mut Diags) {
    let programs: Vec<String> = file
        .items
        .iter()
        .filter_map(|it| match it {
            Item::Optimize(b) => Some(b.program.name.clone()),
            _ => None,
        })
        .collect();
    for (i, o) in overrides.iter().enumerate() {
        let src = (i + 1) as u16;
        if let Some(target) = target_of(o, src, &programs, d)
            && let Some(entry) = entry_of(o, src, d)
        {
            insert(file, &target, entry);
        }
    }
}

/// Where an override goes: which blocks, and whether inside `stop { }`.
struct Target {
    programs: Vec<String>,
    in_stop: bool,
}

/// The blocks and place an override's key names, or `None` after reporting
/// why it names none.
fn target_of(o: &Override, src: u16, programs: &[String], d: &mut Diags) -> Option<Target> {
    let key_span = Span {
        start: 0,
        end: o.key.len(),
        src,
    };
    let invalid = |why: &str, help: &str| {
        Diagnostic::error(key_span, format!("`{}` is not a valid override key", o.key))
            .label(why)
            .help(help)
    };
    let parts: Vec<&str> = o.key.split('.').collect();
    if parts.iter().any(|p| !crate::syntax::lex::is_ident(p)) {
        d.push(invalid(
            "invalid key",
            "write PROGRAM.key, PROGRAM.stop.key, or a bare key for every optimize block",
        ));
        return None;
    }
    if programs.is_empty() {
        d.push(
            Diagnostic::error(key_span, "the spec has no optimize block for this override")
                .label("nothing to override")
                .help("`--set` changes settings of `optimize` blocks"),
        );
        return None;
    }
    let (targets, rest): (Vec<String>, &[&str]) =
        if programs.iter().any(|p| p == parts[0]) && parts.len() > 1 {
            (vec![parts[0].to_string()], &parts[1..])
        } else if parts.len() == 1 || parts[0] == "stop" {
            (programs.to_vec(), &parts[..])
        } else {
            d.push(unknown_program(parts[0], src, programs));
            return None;
        };
    let in_stop = match rest {
        [_] => false,
        ["stop", _] => true,
        _ => {
            d.push(invalid(
                "too many parts",
                "write PROGRAM.key or PROGRAM.stop.key",
            ));
            return None;
        }
    };
    Some(Target {
        programs: targets,
        in_stop,
    })
}

fn unknown_program(name: &str, src: u16, programs: &[String]) -> Diagnostic {
    let first = Span {
        start: 0,
        end: name.len(),
        src,
    };
    Diagnostic::error(first, format!("no optimize block for program `{name}`"))
        .label("unknown program")
        .help(
            did_you_mean(name, programs.iter().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "optimize blocks: {}",
                    listing(programs.iter().map(String::as_str))
                )
            }),
        )
}

/// The override as an optimize-block entry, its spans in the override's text.
fn entry_of(o: &Override, src: u16, d: &mut Diags) -> Option<Entry> {
    let text = o.text();
    let key_name = o.key.rsplit('.').next().unwrap_or(&o.key);
    let key = Ident {
        name: key_name.to_string(),
        span: Span {
            start: o.key.len() - key_name.len(),
            end: o.key.len(),
            src,
        },
    };
    let value = match parse_override_value(&text, o.key.len() + 1, src) {
        Ok(v) => v,
        Err(diag) => {
            d.push(diag);
            return None;
        }
    };
    Some(Entry {
        key,
        value: EntryValue::Value(value),
        span: Span {
            start: 0,
            end: text.len(),
            src,
        },
    })
}

/// Sets `entry` in every targeted block, replacing a value already there.
fn insert(file: &mut File, target: &Target, entry: Entry) {
    for item in &mut file.items {
        let Item::Optimize(block) = item else {
            continue;
        };
        if !target.programs.contains(&block.program.name) {
            continue;
        }
        if !target.in_stop {
            set(&mut block.entries, entry.clone());
            continue;
        }
        if let Some(stop) = stop_entries(&mut block.entries, &entry) {
            set(stop, entry.clone());
        }
    }
}

/// The entries of a block's `stop { }`, created empty (spanned like `like`)
/// when absent; `None` when the block writes `stop` as a plain value (its
/// lowering reports that).
pub(super) fn stop_entries<'a>(
    entries: &'a mut Vec<Entry>,
    like: &Entry,
) -> Option<&'a mut Vec<Entry>> {
    let at = match entries.iter().position(|e| e.key.name == "stop") {
        Some(at) => at,
        None => {
            entries.push(Entry {
                key: Ident {
                    name: "stop".into(),
                    span: like.key.span,
                },
                value: EntryValue::Block(Vec::new()),
                span: like.span,
            });
            entries.len() - 1
        }
    };
    match &mut entries[at].value {
        EntryValue::Block(inner) => Some(inner),
        EntryValue::Value(_) => None,
    }
}

fn set(entries: &mut Vec<Entry>, entry: Entry) {
    match entries.iter().position(|e| e.key.name == entry.key.name) {
        Some(p) => entries[p] = entry,
        None => entries.push(entry),
    }
}
