//! `model NAME { .. }` -> [`ModelDecl`].

use super::values::set;
use super::{Ctx, Kind};
use crate::ir::{ModelDecl, Provider, Setting};
use crate::syntax::ast::{BlockItem, Entry, EntryValue, Ident, Value, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};

const COMMON: [&str; 10] = [
    "provider",
    "model",
    "base_url",
    "api_key",
    "temperature",
    "max_tokens",
    "timeout",
    "concurrency",
    "retries",
    "params",
];
const SIM_ONLY: [&str; 3] = ["oracle", "skill", "latency"];
const OPENAI_ONLY: [&str; 1] = ["max_response_bytes"];
/// The sim model's rule constants (docs/sim.md, "Tuning the rules"): numbers
/// passed to it through `ModelDecl.extra`.
const SIM_TUNING: [&str; 7] = [
    "demo_gain",
    "max_relevant_demos",
    "advice_gain",
    "overload_free_demos",
    "overload_penalty",
    "advice_accuracy",
    "passage_gain",
];

pub(super) fn compile(ctx: &mut Ctx, item: &BlockItem) {
    let name = item.name.name.clone();
    let entries = ctx.d.unique(&item.entries);
    let provider_entry = entries.iter().copied().find(|e| e.key.name == "provider");
    let provider = match provider_entry {
        None => Some(Provider::OpenAi),
        Some(e) => ctx.d.plain(e).and_then(|v| provider(ctx, v)),
    };
    let Some(provider) = provider else { return };
    let mut m = ModelDecl::new(name.clone(), provider);
    let errors_before = ctx.d.list.len();
    let mut oracle_seen = false;
    for e in &entries {
        oracle_seen |= entry(ctx, &mut m, e);
    }
    if m.provider == Provider::Sim && !oracle_seen {
        ctx.d.push(
            Diagnostic::error(
                item.name.span,
                format!("sim model `{name}` has no `oracle`"),
            )
            .label("which dataset does it know?")
            .help("add `oracle = DATASET`: the dataset whose labels the simulated model knows"),
        );
    }
    if m.provider == Provider::OpenAi && m.base_urls.is_empty() {
        m.base_urls.push(Setting::openai_base_url());
    }
    if let (Provider::Plugin { plugin, item }, Some(at)) = (&m.provider, provider_entry) {
        // The plugin's own keys: every one simba-run does not read itself.
        // `spec_dir`, which the host passes, a block may set to override.
        let host_keys: Vec<&str> = COMMON.iter().copied().chain(["spec_dir"]).collect();
        let own: Vec<&Entry> = entries
            .iter()
            .copied()
            .filter(|e| !host_keys.contains(&e.key.name.as_str()))
            .collect();
        let span = at.value_span();
        let ident = |name: &str| Ident {
            name: name.to_string(),
            span,
        };
        ctx.plugin_model_config([ident(plugin), ident(item)], &own, &m.extra, &host_keys);
        spec_dir_is_a_path(ctx, &entries, &m.extra);
    }
    let failed = ctx.d.list[errors_before..].iter().any(Diagnostic::is_error);
    if !failed {
        ctx.spec.models.insert(name, m);
    }
}

/// A plugin model's own `spec_dir` replaces the spec's folder it is given:
/// it must be a path (a string, or `env(..)`).
fn spec_dir_is_a_path(
    ctx: &mut Ctx,
    entries: &[&Entry],
    extra: &indexmap::IndexMap<String, serde_json::Value>,
) {
    let Some(e) = entries.iter().find(|e| e.key.name == "spec_dir") else {
        return;
    };
    let is_path = match extra.get("spec_dir") {
        Some(serde_json::Value::String(_)) => true,
        Some(serde_json::Value::Object(env)) => env.contains_key(crate::ir::ENV_KEY),
        _ => false,
    };
    if !is_path {
        ctx.d.push(
            Diagnostic::error(e.value_span(), "`spec_dir` takes a path (a string)")
                .label("not a path")
                .help("it replaces the spec's folder the plugin is given; a relative path is taken from the spec's folder"),
        );
    }
}

/// Applies one entry of the block to `m`; true when it is a (well-formed)
/// `oracle`, which a sim model requires.
fn entry(ctx: &mut Ctx, m: &mut ModelDecl, e: &Entry) -> bool {
    let key = e.key.name.as_str();
    let is_sim = m.provider == Provider::Sim;
    if key == "provider" {
        return false;
    }
    if key == "params" {
        if let Some(b) = ctx.d.block(e) {
            m.params = ctx.d.json_block(b);
            // Sent inside every request: a reader (a plugin's, a server's)
            // would refuse it on each call instead.
            let params = serde_json::Value::Object(m.params.clone().into_iter().collect());
            ctx.check_nesting(key, e.value_span(), &params);
        }
        return false;
    }
    if is_sim && SIM_TUNING.contains(&key) {
        if let Some(v) = ctx.d.plain(e)
            && let Some(x) = ctx.d.float_where(v, key, "a number >= 0", |x| x >= 0.0)
        {
            m.extra.insert(key.to_string(), serde_json::json!(x));
        }
        return false;
    }
    if m.provider == Provider::OpenAi && OPENAI_ONLY.contains(&key) {
        reply_limit(ctx, m, e);
        return false;
    }
    let known = COMMON.contains(&key) || (is_sim && SIM_ONLY.contains(&key));
    if !known {
        other_key(ctx, m, e);
        return false;
    }
    let Some(v) = ctx.d.plain(e) else {
        return false;
    };
    if key == "oracle" {
        oracle(ctx, m, v);
        return true;
    }
    setting(ctx, m, key, v);
    false
}

/// A key outside the provider's list: configuration for local and plugin
/// models, an error for the others.
fn other_key(ctx: &mut Ctx, m: &mut ModelDecl, e: &Entry) {
    let key = e.key.name.as_str();
    let is_sim = m.provider == Provider::Sim;
    if matches!(m.provider, Provider::Local | Provider::Plugin { .. }) {
        let v = match &e.value {
            EntryValue::Value(v) => ctx.d.json(v, key),
            EntryValue::Block(b) => Some(serde_json::Value::Object(
                ctx.d.json_block(b).into_iter().collect(),
            )),
        };
        if let Some(v) = v {
            m.extra.insert(key.to_string(), v);
        }
    } else if SIM_ONLY.contains(&key) {
        ctx.d.push(
            Diagnostic::error(
                e.key.span,
                format!("`{key}` applies only to `provider = \"sim\"` models"),
            )
            .label("not for this provider")
            .help("remove it, or make this a sim model"),
        );
    } else {
        let is_openai = m.provider == Provider::OpenAi;
        let all: Vec<&str> = COMMON
            .iter()
            .chain(if is_sim { &SIM_ONLY[..] } else { &[] })
            .chain(if is_sim { &SIM_TUNING[..] } else { &[] })
            .chain(if is_openai { &OPENAI_ONLY[..] } else { &[] })
            .copied()
            .collect();
        ctx.d
            .unknown_key(&e.key, &format!("model `{}`", m.name), &all);
    }
}

/// `max_response_bytes = N` of an `openai` model: a whole number of bytes.
fn reply_limit(ctx: &mut Ctx, m: &mut ModelDecl, e: &Entry) {
    if let Some(v) = ctx.d.plain(e)
        && let Some(n) = ctx.d.int(v, "max_response_bytes", 1, u64::MAX as i128)
    {
        m.max_response_bytes = n as u64;
    }
}

/// `oracle = DATASET`.
fn oracle(ctx: &mut Ctx, m: &mut ModelDecl, v: &Value) {
    if let Some(id) = ctx.d.name(v, "oracle", "a dataset name") {
        let id: Ident = id.clone();
        if ctx.resolve(&id, Kind::Dataset) {
            m.oracle = Some(id.name);
        }
    }
}

/// One of the [`COMMON`] keys or a sim-only key other than `oracle`.
fn setting(ctx: &mut Ctx, m: &mut ModelDecl, key: &str, v: &Value) {
    match key {
        "model" => set(&mut m.model, ctx.d.string(v, key)),
        "base_url" => base_urls(ctx, m, v),
        // A literal key is accepted but never echoed back: no warning
        // here, since rendering one would print the line holding it.
        "api_key" => m.api_key = ctx.d.setting(v, key),
        "temperature" => set(
            &mut m.temperature,
            ctx.d
                .float_where(v, key, "between 0 and 2", |t| (0.0..=2.0).contains(&t)),
        ),
        "max_tokens" => m.max_tokens = ctx.d.int(v, key, 1, u32::MAX as i128).map(|n| n as u32),
        "timeout" => set(&mut m.timeout, ctx.d.duration(v, key, false)),
        "concurrency" => set(&mut m.concurrency, ctx.d.usize(v, key, 1)),
        "retries" => set(&mut m.retries, ctx.d.int(v, key, 0, 1000).map(|n| n as u32)),
        "skill" => set(
            &mut m.skill,
            ctx.d
                .float_where(v, key, "between 0 and 1", |s| (0.0..=1.0).contains(&s)),
        ),
        "latency" => set(&mut m.latency, ctx.d.duration(v, key, true)),
        _ => unreachable!("key list and match agree"),
    }
}

/// `base_url = "..."`, `env(..)`, or a non-empty list of them.
fn base_urls(ctx: &mut Ctx, m: &mut ModelDecl, v: &Value) {
    match &v.kind {
        ValueKind::List(items) if items.is_empty() => ctx.d.push(
            Diagnostic::error(v.span, "`base_url` lists no URL")
                .label("empty list")
                .help("give one URL or several"),
        ),
        ValueKind::List(items) => {
            m.base_urls = items
                .iter()
                .filter_map(|i| ctx.d.setting(i, "base_url"))
                .collect();
        }
        _ => m.base_urls = ctx.d.setting(v, "base_url").into_iter().collect(),
    }
}

fn provider(ctx: &mut Ctx, v: &Value) -> Option<Provider> {
    const BUILTIN: [&str; 3] = ["openai", "sim", "local"];
    let (text, parts) = match &v.kind {
        ValueKind::Str(s) => (s.clone(), None),
        ValueKind::Name(p) if p.len() == 2 => (format!("{}.{}", p[0].name, p[1].name), Some(p)),
        ValueKind::Name(p) if p.len() == 1 => (p[0].name.clone(), None),
        _ => {
            ctx.d.push(
                Diagnostic::error(v.span, format!("`provider` expects \"openai\", \"sim\", \"local\" or a plugin model, found {}", v.kind.describe()))
                    .label("not a provider"),
            );
            return None;
        }
    };
    match text.as_str() {
        "openai" => return Some(Provider::OpenAi),
        "sim" => return Some(Provider::Sim),
        "local" => return Some(Provider::Local),
        _ => {}
    }
    if let Some((plugin, item)) = text.split_once('.') {
        let span = parts.map(|p| p[0].span).unwrap_or(v.span);
        let id = Ident {
            name: plugin.to_string(),
            span,
        };
        if ctx.resolve(&id, Kind::Plugin) {
            return Some(Provider::Plugin {
                plugin: plugin.into(),
                item: item.into(),
            });
        }
        return None;
    }
    ctx.d.push(
        Diagnostic::error(v.span, format!("unknown provider `{text}`"))
            .label("not a provider")
            .help(match did_you_mean(&text, BUILTIN) {
                Some(h) => h,
                None => {
                    "providers: \"openai\", \"sim\", \"local\", or a plugin model `plugin.item`"
                        .into()
                }
            }),
    );
    None
}
