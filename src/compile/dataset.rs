//! `dataset NAME { .. }` -> [`DatasetDecl`].

use super::Ctx;
use crate::ir::{DataFile, DatasetDecl, DatasetSource, SplitSize};
use crate::syntax::ast::{BlockItem, Entry, EntryValue, Span, Value, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;
use std::collections::HashSet;

const RESERVED: [&str; 3] = ["inputs", "all", "split"];

pub(super) fn compile(ctx: &mut Ctx, item: &BlockItem) {
    let name = &item.name.name;
    let entries = ctx.d.unique(&item.entries);
    let mut read = read_entries(ctx, name, &entries);
    let source = source(ctx, item, &entries, &mut read);
    if read.inputs.is_none() && read.ok {
        ctx.d.push(
            Diagnostic::error(
                item.name.span,
                format!("dataset `{name}` does not say which fields are inputs"),
            )
            .label("missing `inputs`")
            .help("add `inputs = [question]`: the fields the program sees (the rest are labels)"),
        );
    }
    if let (Some(source), Some(inputs)) = (source, read.inputs) {
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

/// The entries of a dataset block, each checked on its own.
struct Read<'e> {
    /// `NAME = jsonl(..)` / `csv(..)`: one file per split.
    files: IndexMap<String, DataFile>,
    /// `all = ..`: one file to split.
    all: Option<DataFile>,
    /// `split { .. }`: how to cut `all`.
    split: Option<&'e Entry>,
    inputs: Option<Vec<String>>,
    /// False once any entry was wrong (and reported).
    ok: bool,
}

fn read_entries<'e>(ctx: &mut Ctx, name: &str, entries: &[&'e Entry]) -> Read<'e> {
    let mut read = Read {
        files: IndexMap::new(),
        all: None,
        split: None,
        inputs: None,
        ok: true,
    };
    for &e in entries {
        if e.key.name == "split" {
            if ctx.d.block(e).is_some() {
                read.split = Some(e);
            } else {
                read.ok = false;
            }
            continue;
        }
        let Some(v) = ctx.d.plain(e) else {
            read.ok = false;
            continue;
        };
        match e.key.name.as_str() {
            "inputs" => {
                read.inputs = input_list(ctx, v);
                read.ok &= read.inputs.is_some();
            }
            "all" => {
                read.all = data_file(ctx, v, "all");
                read.ok &= read.all.is_some();
            }
            key => match split_file(ctx, name, e, v) {
                Some(f) => {
                    read.files.insert(key.to_string(), f);
                }
                None => read.ok = false,
            },
        }
    }
    read
}

/// `NAME = jsonl("..")`: a split's own file. Anything else under an unknown
/// key is most likely a misspelt key.
fn split_file(ctx: &mut Ctx, name: &str, e: &Entry, v: &Value) -> Option<DataFile> {
    let key = e.key.name.as_str();
    if !matches!(v.kind, ValueKind::Call { .. }) {
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
        return None;
    }
    data_file(ctx, v, key)
}

/// Files per split, or `all` cut by `split { }`; never both.
fn source(
    ctx: &mut Ctx,
    item: &BlockItem,
    entries: &[&Entry],
    read: &mut Read,
) -> Option<DatasetSource> {
    let name = &item.name.name;
    match (read.all.take(), read.split) {
        (Some(all), Some(split_entry)) => {
            if let Some(first) = read.files.keys().next() {
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
                read.ok = false;
            }
            let (parts, shuffle_seed) = split_parts(ctx, split_entry)?;
            Some(DatasetSource::Split {
                all,
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
        (None, None) if read.files.is_empty() => {
            if read.ok {
                ctx.d.push(
                    Diagnostic::error(item.name.span, format!("dataset `{name}` declares no data"))
                        .label("no files")
                        .help("add `train = jsonl(\"data/train.jsonl\")`, or `all = ..` with `split { .. }`"),
                );
            }
            None
        }
        (None, None) => Some(DatasetSource::Files(std::mem::take(&mut read.files))),
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
    let mut seen: HashSet<&str> = HashSet::new();
    for i in items {
        let name = ctx.d.name(i, "inputs", "field names")?;
        if !seen.insert(name.name.as_str()) {
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

/// `jsonl("path")` or `csv("path")`, resolved against the spec's folder
/// (also a corpus's `docs`).
pub(super) fn data_file(ctx: &mut Ctx, v: &Value, key: &str) -> Option<DataFile> {
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
    let mut sizes = Sizes::default();
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
        match sizes.read(ctx, &p.key.name, v) {
            Some(size) => parts.push((p.key.name.clone(), size)),
            None => ok = false,
        }
    }
    ok &= !sizes.second_rest;
    let fraction_sum = sizes.fraction_sum;
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

/// The part sizes of one `split { }`, read in order.
#[derive(Default)]
struct Sizes {
    /// Where `rest` was first given: only one part may take it.
    rest_at: Option<Span>,
    fraction_sum: f64,
    /// A second `rest` was reported (that part is still kept).
    second_rest: bool,
}

impl Sizes {
    /// The size of part `key`: a count, a fraction or `rest`.
    fn read(&mut self, ctx: &mut Ctx, key: &str, v: &Value) -> Option<SplitSize> {
        match &v.kind {
            ValueKind::Name(n) if n.len() == 1 && n[0].name == "rest" => {
                if let Some(first) = self.rest_at {
                    ctx.d.push(
                        Diagnostic::error(v.span, "only one split part can be `rest`")
                            .label("second `rest`")
                            .related(first, "first `rest`"),
                    );
                    self.second_rest = true;
                }
                self.rest_at = Some(v.span);
                Some(SplitSize::Rest)
            }
            ValueKind::Number(t) if t.contains(['.', 'e', 'E']) => {
                let f = ctx
                    .d
                    .float_where(v, key, "a fraction in (0, 1]", |f| f > 0.0 && f <= 1.0)?;
                self.fraction_sum += f;
                Some(SplitSize::Fraction(f))
            }
            ValueKind::Number(_) => ctx.d.usize(v, key, 1).map(SplitSize::Count),
            _ => {
                ctx.d.push(
                    Diagnostic::error(
                        v.span,
                        format!("split part `{key}` expects a count, a fraction or `rest`"),
                    )
                    .label(format!("{} here", v.kind.describe()))
                    .help("e.g. `train = 200`, `dev = 0.2`, `test = rest`"),
                );
                None
            }
        }
    }
}
