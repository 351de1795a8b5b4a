//! `corpus NAME { .. }` -> [`CorpusDecl`]: a local file (`docs = ..`) or a
//! retrieval server (`url = ..`), never both.

use super::Ctx;
use super::dataset::data_file;
use super::values::set;
use crate::ir::{CorpusDecl, CorpusSource, LocalCorpus, RemoteCorpus};
use crate::syntax::ast::{BlockItem, Entry, Value, ValueKind};
use crate::syntax::diagnostic::Diagnostic;

/// The keys of a local corpus.
const LOCAL: [&str; 4] = ["docs", "text", "title", "index"];
/// The keys of a remote corpus.
const REMOTE: [&str; 6] = [
    "url",
    "api_key",
    "timeout",
    "retries",
    "concurrency",
    "max_response_bytes",
];

pub(super) fn compile(ctx: &mut Ctx, item: &BlockItem) {
    let name = &item.name.name;
    let entries = ctx.d.unique(&item.entries);
    let errors_before = ctx.d.list.len();
    let docs = entries.iter().find(|e| e.key.name == "docs");
    let url = entries.iter().find(|e| e.key.name == "url");
    let source = match (docs, url) {
        (Some(d), Some(u)) => {
            ctx.d.push(
                Diagnostic::error(
                    u.key.span,
                    format!("corpus `{name}` has both `docs` and `url`"),
                )
                .label("a retrieval server")
                .related(d.key.span, "a local file")
                .help(
                    "a corpus is either a local file (`docs = jsonl(..)`) or a server (`url = ..`)",
                ),
            );
            None
        }
        (Some(d), None) => local(ctx, name, d, &entries).map(CorpusSource::Local),
        (None, Some(u)) => remote(ctx, name, u, &entries).map(CorpusSource::Remote),
        (None, None) => {
            ctx.d.push(
                Diagnostic::error(item.name.span, format!("corpus `{name}` has no passages"))
                    .label("no `docs` and no `url`")
                    .help("add `docs = jsonl(\"data/passages.jsonl\")` (one passage a row), or `url = \"http://host:8893/api/search\"` for a ColBERTv2 server"),
            );
            None
        }
    };
    let failed = ctx.d.list[errors_before..].iter().any(Diagnostic::is_error);
    if let (Some(source), false) = (source, failed) {
        ctx.spec.corpora.insert(
            name.clone(),
            CorpusDecl {
                name: name.clone(),
                source,
            },
        );
    }
}

/// A local corpus: `docs`, then `text`, `title` and `index`.
fn local(ctx: &mut Ctx, name: &str, docs: &Entry, entries: &[&Entry]) -> Option<LocalCorpus> {
    let v = ctx.d.plain(docs)?;
    let file = data_file(ctx, v, "docs")?;
    let mut c = LocalCorpus::new(file);
    for e in entries {
        let key = e.key.name.as_str();
        if key == "docs" {
            continue;
        }
        if !LOCAL.contains(&key) {
            misplaced_key(ctx, name, e, "docs", &REMOTE, &LOCAL);
            continue;
        }
        let Some(v) = ctx.d.plain(e) else { continue };
        match key {
            "text" => set(&mut c.text, field_name(ctx, v, key)),
            "title" => c.title = field_name(ctx, v, key),
            "index" => c.index = index_path(ctx, v),
            _ => unreachable!("key list and match agree"),
        }
    }
    Some(c)
}

/// A remote corpus: `url`, then the request settings models have too.
fn remote(ctx: &mut Ctx, name: &str, url: &Entry, entries: &[&Entry]) -> Option<RemoteCorpus> {
    let v = ctx.d.plain(url)?;
    let url = ctx.d.setting(v, "url")?;
    let mut c = RemoteCorpus::new(url);
    for e in entries {
        let key = e.key.name.as_str();
        if key == "url" {
            continue;
        }
        if !REMOTE.contains(&key) {
            misplaced_key(ctx, name, e, "url", &LOCAL, &REMOTE);
            continue;
        }
        let Some(v) = ctx.d.plain(e) else { continue };
        match key {
            // Never echoed back, like a model's key.
            "api_key" => c.api_key = ctx.d.setting(v, key),
            "timeout" => set(&mut c.timeout, ctx.d.duration(v, key, false)),
            "retries" => set(&mut c.retries, ctx.d.int(v, key, 0, 1000).map(|n| n as u32)),
            "concurrency" => set(&mut c.concurrency, ctx.d.usize(v, key, 1)),
            "max_response_bytes" => set(
                &mut c.max_response_bytes,
                ctx.d.int(v, key, 1, u64::MAX as i128).map(|n| n as u64),
            ),
            _ => unreachable!("key list and match agree"),
        }
    }
    Some(c)
}

/// A key of the other kind of corpus, or an unknown one.
fn misplaced_key(
    ctx: &mut Ctx,
    name: &str,
    e: &Entry,
    kind_key: &str,
    other: &[&str],
    own: &[&str],
) {
    let key = e.key.name.as_str();
    if other.contains(&key) {
        let (this, that) = if kind_key == "docs" {
            ("a local corpus (`docs`)", "a remote one (`url`)")
        } else {
            ("a remote corpus (`url`)", "a local one (`docs`)")
        };
        ctx.d.push(
            Diagnostic::error(
                e.key.span,
                format!("`{key}` does not apply to corpus `{name}`: it is {this}"),
            )
            .label(format!("a setting of {that}"))
            .help(format!("the keys of {this}: {}", own.join(", "))),
        );
    } else {
        let all: Vec<&str> = own.iter().chain(other).copied().collect();
        ctx.d.unknown_key(&e.key, &format!("corpus `{name}`"), &all);
    }
}

/// `text = text` or `text = "text"`: a field of the corpus rows.
fn field_name(ctx: &mut Ctx, v: &Value, key: &str) -> Option<String> {
    match &v.kind {
        ValueKind::Name(p) if p.len() == 1 => Some(p[0].name.clone()),
        ValueKind::Str(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    v.span,
                    format!("`{key}` expects a field name, found {}", v.kind.describe()),
                )
                .label("not a field name")
                .help(format!("write `{key} = {key}`: the field of each row")),
            );
            None
        }
    }
}

/// `index = "out/index/wiki"`: resolved against the spec's folder.
fn index_path(ctx: &mut Ctx, v: &Value) -> Option<std::path::PathBuf> {
    let p = ctx.d.string(v, "index")?;
    if p.trim().is_empty() {
        ctx.d.push(
            Diagnostic::error(v.span, "`index` cannot be empty")
                .label("empty path")
                .help("leave `index` out to keep the index in the cache folder"),
        );
        return None;
    }
    Some(ctx.base_dir.join(p))
}
