//! `--set KEY=VALUE`: rewrites optimize blocks before they are compiled, so
//! an override is checked exactly like the value it replaces. Diagnostics
//! point into the override's own text (source index `n` for the `n`-th).

use super::Override;
use super::values::Diags;
use crate::syntax::ast::{Entry, EntryValue, File, Ident, Item, Span};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use crate::syntax::parser::parse_override_value;

pub(super) fn apply(file: &mut File, overrides: &[Override], d: &mut Diags) {
    for (i, o) in overrides.iter().enumerate() {
        let src = (i + 1) as u16;
        let text = o.text();
        let key_span = Span {
            start: 0,
            end: o.key.len(),
            src,
        };
        let parts: Vec<&str> = o.key.split('.').collect();
        if parts.iter().any(|p| !is_ident(p)) {
            d.push(
                Diagnostic::error(key_span, format!("`{}` is not a valid override key", o.key))
                    .label("invalid key")
                    .help("write PROGRAM.key, PROGRAM.stop.key, or a bare key for every optimize block"),
            );
            continue;
        }
        let programs: Vec<String> = file
            .items
            .iter()
            .filter_map(|it| match it {
                Item::Optimize(b) => Some(b.program.name.clone()),
                _ => None,
            })
            .collect();
        if programs.is_empty() {
            d.push(
                Diagnostic::error(key_span, "the spec has no optimize block for this override")
                    .label("nothing to override")
                    .help("`--set` changes settings of `optimize` blocks"),
            );
            continue;
        }
        let (targets, rest): (Vec<String>, &[&str]) =
            if programs.iter().any(|p| p == parts[0]) && parts.len() > 1 {
                (vec![parts[0].to_string()], &parts[1..])
            } else if parts.len() == 1 || parts[0] == "stop" {
                (programs.clone(), &parts[..])
            } else {
                let first = Span {
                    start: 0,
                    end: parts[0].len(),
                    src,
                };
                d.push(
                    Diagnostic::error(
                        first,
                        format!("no optimize block for program `{}`", parts[0]),
                    )
                    .label("unknown program")
                    .help(
                        did_you_mean(parts[0], programs.iter().map(String::as_str))
                            .unwrap_or_else(|| format!("optimize blocks: {}", programs.join(", "))),
                    ),
                );
                continue;
            };
        let in_stop = match rest {
            [_] => false,
            ["stop", _] => true,
            _ => {
                d.push(
                    Diagnostic::error(key_span, format!("`{}` is not a valid override key", o.key))
                        .label("too many parts")
                        .help("write PROGRAM.key or PROGRAM.stop.key"),
                );
                continue;
            }
        };
        let key_name = rest[rest.len() - 1];
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
                continue;
            }
        };
        let entry = Entry {
            key,
            value: EntryValue::Value(value),
            span: Span {
                start: 0,
                end: text.len(),
                src,
            },
        };
        for item in &mut file.items {
            let Item::Optimize(block) = item else {
                continue;
            };
            if !targets.contains(&block.program.name) {
                continue;
            }
            if in_stop {
                let stop = match block.entries.iter().position(|e| e.key.name == "stop") {
                    Some(p) => &mut block.entries[p],
                    None => {
                        block.entries.push(Entry {
                            key: Ident {
                                name: "stop".into(),
                                span: entry.key.span,
                            },
                            value: EntryValue::Block(Vec::new()),
                            span: entry.span,
                        });
                        block.entries.last_mut().expect("just pushed")
                    }
                };
                if let EntryValue::Block(inner) = &mut stop.value {
                    set(inner, entry.clone());
                }
            } else {
                set(&mut block.entries, entry.clone());
            }
        }
    }
}

fn set(entries: &mut Vec<Entry>, entry: Entry) {
    match entries.iter().position(|e| e.key.name == entry.key.name) {
        Some(p) => entries[p] = entry,
        None => entries.push(entry),
    }
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}
