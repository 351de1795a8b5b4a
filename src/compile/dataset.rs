//! `dataset NAME { .. }` -> [`DatasetDecl`].

use super::Ctx;
use crate::ir::{DataFile, DatasetDecl, DatasetSource, SplitSize};
use crate::syntax::ast::{BlockItem, Entry, EntryValue, Value, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;

const RESERVED: [&str; 3] = ["inputs", "all", "split"];

pub(super) fn compile(ctx: &mut Ctx, item: &BlockItem) {
    let name = &item.name.name;
    let entries = ctx.d.unique(&item.entries);
    let mut files: IndexMap<String, DataFile> = IndexMap::new();
    let mut all = None;
    let mut split: Option<&Entry> = None;
    let mut inputs: Option<Vec<String>> = None;
    let mut ok = true;
    for e in &entries {
        match e.key.name.as_str() {
            "inputs" => {
                let Some(v) = ctx.d.plain(e) else {
                    ok = false;
                    continue;
                };
                inputs = input_list(ctx, v);
                ok &= inputs.is_some();
            }
            "split" => {
                if ctx.d.block(e).is_some() {
                    split = Some(e);
                } else {
                    ok = false;
                }
            }
            "all" => {
                let Some(v) = ctx.d.plain(e) else {
                    ok = false;
                    continue;
                };
                all = data_file(ctx, v, "all");
                ok &= all.is_some();
            }
            key => {
                let Some(v) = ctx.d.plain(e) else {
                    ok = false;
                    continue;
                };
                if !matches!(v.kind, ValueKind::Call { .. }) {
                    // Not a file: most likely a misspelt key.
                    let help = did_you_mean(key, RESERVED).unwrap_or_else(|| {
                        format!("a split is written `{key} = jsonl(\"path\")` or `csv(\"path\")`")
                    });
                    ctx.d.push(
                        Diagnostic::error(
                            e.key.span,
                            format!("unknown key `{key}` in dataset `{name}`"),
                        )
                        .label("not a split, `inputs`, `all` or `split`")
                        .help(help),
                    );
                    ok = false;
                    continue;
                }
                match data_file(ctx, v, key) {
                    Some(f) => {
                        files.insert(key.to_string(), f);
                    }
                    None => ok = false,
                }
            }
        }
    }
    let source = match (all, split) {
        (Some(all_file), Some(split_entry)) => {
            if let Some(first) = files.keys().next() {
                let at = entries
                    .iter()
                    .find(|e| &e.key.name == first)
                    .map(|e| e.key.span)
                    .unwrap_or(item.name.span);
                ctx.d.push(
                    Diagnostic::error(
                        at,
                        format!(
                            "dataset `{name}` has both `all` with `split` and its own split files"
                        ),
                    )
                    .label("a split file")
                    .help("use either `all = ..` with `split { .. }`, or one file per split"),
                );
                ok = false;
            }
            let parts = split_parts(ctx, split_entry);
            parts.map(|(parts, shuffle_seed)| DatasetSource::Split {
                all: all_file,
                parts,
                shuffle_seed,
            })
        }
        (Some(_), None) => {
            ctx.d.push(
                Diagnostic::error(
                    item.name.span,
                    format!("dataset `{name}` has `all` but no `split {{ }}` block"),
                )
                .label("how should `all` be divided?")
                .help("add e.g. `split { train = 200, dev = rest, shuffle_seed = 0 }`"),
            );
            None
        }
        (None, Some(s)) => {
            ctx.d.push(
                Diagnostic::error(
                    s.key.span,
                    format!("dataset `{name}` has `split` but no `all` file to split"),
                )
                .label("nothing to split")
                .help("add `all = jsonl(\"data/all.jsonl\")`"),
            );
            None
        }
        (None, None) if files.is_empty() => {
            if ok {
                ctx.d.push(
                    Diagnostic::error(item.name.span, format!("dataset `{name}` declares no data"))
                        .label("no files")
                        .help("add `train = jsonl(\"data/train.jsonl\")`, or `all = ..` with `split { .. }`"),
                );
            }
            None
        }
        (None, None) => Some(DatasetSource::Files(files)),
    };
    if inputs.is_none() && ok {
        ctx.d.push(
            Diagnostic::error(
                item.name.span,
                format!("dataset `{name}` does not say which fields are inputs"),
            )
            .label("missing `inputs`")
            .help("add `inputs = [question]`: the fields the program sees (the rest are labels)"),
        );
    }
    if let (Some(source), Some(inputs)) = (source, inputs) {
        ctx.spec.datasets.insert(
            name.clone(),
            DatasetDecl {
                name: name.clone(),
                source,
                inputs,
            },
        );
    }
}

fn input_list(ctx: &mut Ctx, v: &Value) -> Option<Vec<String>> {
    let ValueKind::List(items) = &v.kind else {
        ctx.d.push(
            Diagnostic::error(
                v.span,
                format!(
                    "`inputs` expects a list of field names, found {}",
                    v.kind.describe()
                ),
            )
            .label("not a list")
            .help("write `inputs = [question]`"),
        );
        return None;
    };
    if items.is_empty() {
        ctx.d.push(
            Diagnostic::error(v.span, "`inputs` is empty")
                .label("no input fields")
                .help("list the fields the program reads, e.g. `inputs = [question]`"),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let name = ctx.d.name(i, "inputs", "field names")?;
        if out.contains(&name.name) {
            ctx.d.push(
                Diagnostic::error(
                    name.span,
                    format!("`{}` is listed twice in `inputs`", name.name),
                )
                .label("again"),
            );
            return None;
        }
        out.push(name.name.clone());
    }
    Some(out)
}

fn data_file(ctx: &mut Ctx, v: &Value, key: &str) -> Option<DataFile> {
    let ValueKind::Call { name, args } = &v.kind else {
        ctx.d.push(
            Diagnostic::error(
                v.span,
                format!("`{key}` expects a data file, found {}", v.kind.describe()),
            )
            .label("not a file")
            .help(format!(
                "write `{key} = jsonl(\"data/{key}.jsonl\")` or `csv(\"...\")`"
            )),
        );
        return None;
    };
    let path = match args.as_slice() {
        [
            Value {
                kind: ValueKind::Str(p),
                ..
            },
        ] if !p.trim().is_empty() => ctx.base_dir.join(p),
        _ => {
            ctx.d.push(
                Diagnostic::error(v.span, format!("`{}` takes one path string", name.name))
                    .label("expected one path")
                    .help(format!("write `{}(\"data/{key}.jsonl\")`", name.name)),
            );
            return None;
        }
    };
    match name.name.as_str() {
        "jsonl" => Some(DataFile::Jsonl(path)),
        "csv" => Some(DataFile::Csv(path)),
        other => {
            ctx.d.push(
                Diagnostic::error(name.span, format!("unknown data format `{other}`"))
                    .label("not a data format")
                    .help(
                        did_you_mean(other, ["jsonl", "csv"])
                            .unwrap_or_else(|| "formats: jsonl, csv".into()),
                    ),
            );
            None
        }
    }
}

fn split_parts(ctx: &mut Ctx, e: &Entry) -> Option<(Vec<(String, SplitSize)>, u64)> {
    let EntryValue::Block(inner) = &e.value else {
        return None;
    };
    let mut parts = Vec::new();
    let mut seed = 0;
    let mut rest_at = None;
    let mut fraction_sum = 0.0;
    let mut ok = true;
    for p in ctx.d.unique(inner) {
        let Some(v) = ctx.d.plain(p) else {
            ok = false;
            continue;
        };
        if p.key.name == "shuffle_seed" {
            match ctx.d.u64(v, "shuffle_seed", 0) {
                Some(s) => seed = s,
                None => ok = false,
            }
            continue;
        }
        let size = match &v.kind {
            ValueKind::Name(n) if n.len() == 1 && n[0].name == "rest" => {
                if let Some(first) = rest_at {
                    ctx.d.push(
                        Diagnostic::error(v.span, "only one split part can be `rest`")
                            .label("second `rest`")
                            .related(first, "first `rest`"),
                    );
                    ok = false;
                }
                rest_at = Some(v.span);
                SplitSize::Rest
            }
            ValueKind::Number(t) if t.contains(['.', 'e', 'E']) => {
                match ctx
                    .d
                    .float_where(v, &p.key.name, "a fraction in (0, 1]", |f| {
                        f > 0.0 && f <= 1.0
                    }) {
                    Some(f) => {
                        fraction_sum += f;
                        SplitSize::Fraction(f)
                    }
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            ValueKind::Number(_) => match ctx.d.usize(v, &p.key.name, 1) {
                Some(n) => SplitSize::Count(n),
                None => {
                    ok = false;
                    continue;
                }
            },
            _ => {
                ctx.d.push(
                    Diagnostic::error(
                        v.span,
                        format!(
                            "split part `{}` expects a count, a fraction or `rest`",
                            p.key.name
                        ),
                    )
                    .label(format!("{} here", v.kind.describe()))
                    .help("e.g. `train = 200`, `dev = 0.2`, `test = rest`"),
                );
                ok = false;
                continue;
            }
        };
        parts.push((p.key.name.clone(), size));
    }
    if fraction_sum > 1.0 + 1e-9 {
        ctx.d.push(
            Diagnostic::error(
                e.key.span,
                format!("split fractions add up to {fraction_sum}, more than 1"),
            )
            .label("too much")
            .help("fractions are shares of all rows; they must add up to at most 1"),
        );
        ok = false;
    }
    if parts.is_empty() && ok {
        ctx.d.push(
            Diagnostic::error(e.key.span, "`split` names no parts")
                .label("empty split")
                .help("e.g. `split { train = 200, dev = rest }`"),
        );
        ok = false;
    }
    ok.then_some((parts, seed))
}
