//! `model NAME { .. }` -> [`ModelDecl`].

use super::{Ctx, Kind};
use crate::ir::{MAX_RESPONSE_BYTES_KEY, ModelDecl, Provider, Setting};
use crate::syntax::ast::{BlockItem, Entry, EntryValue, Ident, Value, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;
use std::time::Duration;

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
/// The sim model's rule constants (docs/sim.md, "Tuning the rules"): numbers
/// passed to it through `ModelDecl.extra`.
const SIM_TUNING: [&str; 6] = [
    "demo_gain",
    "max_relevant_demos",
    "advice_gain",
    "overload_free_demos",
    "overload_penalty",
    "advice_accuracy",
];

pub(super) fn compile(ctx: &mut Ctx, item: &BlockItem) {
    let name = item.name.name.clone();
    let entries = ctx.d.unique(&item.entries);
    let provider_entry = entries.iter().find(|e| e.key.name == "provider");
    let provider = match provider_entry {
        None => Some(Provider::OpenAi),
        Some(e) => ctx.d.plain(e).and_then(|v| provider(ctx, v)),
    };
    let Some(provider) = provider else { return };
    let mut m = ModelDecl {
        name: name.clone(),
        provider: provider.clone(),
        model: name.clone(),
        base_urls: Vec::new(),
        api_key: None,
        temperature: 0.0,
        max_tokens: None,
        timeout: Duration::from_secs(60),
        concurrency: 32,
        retries: 5,
        params: IndexMap::new(),
        oracle: None,
        skill: 0.3,
        latency: Duration::ZERO,
        extra: IndexMap::new(),
    };
    let open = matches!(provider, Provider::Local | Provider::Plugin { .. });
    let is_sim = provider == Provider::Sim;
    let errors_before = ctx.d.list.len();
    let mut oracle_seen = false;
    for e in entries {
        let key = e.key.name.as_str();
        if key == "provider" {
            continue;
        }
        if key == "params" {
            if let Some(b) = ctx.d.block(e) {
                m.params = ctx.d.json_block(b);
            }
            continue;
        }
        if is_sim && SIM_TUNING.contains(&key) {
            if let Some(v) = ctx.d.plain(e)
                && let Some(x) = ctx.d.float_where(v, key, "a number >= 0", |x| x >= 0.0)
            {
                m.extra.insert(key.to_string(), serde_json::json!(x));
            }
            continue;
        }
        if provider == Provider::OpenAi && key == MAX_RESPONSE_BYTES_KEY {
            reply_limit(ctx, e, &mut m);
            continue;
        }
        let known = COMMON.contains(&key) || (is_sim && SIM_ONLY.contains(&key));
        if !known {
            if open {
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
                let all: Vec<&str> = COMMON
                    .iter()
                    .chain(if is_sim { &SIM_ONLY[..] } else { &[] })
                    .chain(if is_sim { &SIM_TUNING[..] } else { &[] })
                    .copied()
                    .collect();
                ctx.d.unknown_key(&e.key, &format!("model `{name}`"), &all);
            }
            continue;
        }
        let Some(v) = ctx.d.plain(e) else { continue };
        match key {
            "model" => {
                if let Some(s) = ctx.d.string(v, key) {
                    m.model = s;
                }
            }
            "base_url" => match &v.kind {
                ValueKind::List(items) if items.is_empty() => ctx.d.push(
                    Diagnostic::error(v.span, "`base_url` lists no URL")
                        .label("empty list")
                        .help("give one URL or several"),
                ),
                ValueKind::List(items) => {
                    m.base_urls = items.iter().filter_map(|i| ctx.d.setting(i, key)).collect();
                }
                _ => m.base_urls = ctx.d.setting(v, key).into_iter().collect(),
            },
            "api_key" => {
                // A literal key is accepted but never echoed back: no warning
                // here, since rendering one would print the line holding it.
                m.api_key = ctx.d.setting(v, key);
            }
            "temperature" => {
                if let Some(t) = ctx
                    .d
                    .float_where(v, key, "between 0 and 2", |t| (0.0..=2.0).contains(&t))
                {
                    m.temperature = t;
                }
            }
            "max_tokens" => m.max_tokens = ctx.d.int(v, key, 1, u32::MAX as i128).map(|n| n as u32),
            "timeout" => {
                if let Some(d) = ctx.d.duration(v, key, false) {
                    m.timeout = d;
                }
            }
            "concurrency" => {
                if let Some(n) = ctx.d.usize(v, key, 1) {
                    m.concurrency = n;
                }
            }
            "retries" => {
                if let Some(n) = ctx.d.int(v, key, 0, 1000) {
                    m.retries = n as u32;
                }
            }
            "oracle" => {
                oracle_seen = true;
                if let Some(id) = ctx.d.name(v, key, "a dataset name") {
                    let id: Ident = id.clone();
                    if ctx.resolve(&id, Kind::Dataset) {
                        m.oracle = Some(id.name);
                    }
                }
            }
            "skill" => {
                if let Some(s) = ctx
                    .d
                    .float_where(v, key, "between 0 and 1", |s| (0.0..=1.0).contains(&s))
                {
                    m.skill = s;
                }
            }
            "latency" => {
                if let Some(d) = ctx.d.duration(v, key, true) {
                    m.latency = d;
                }
            }
            _ => unreachable!("key list and match agree"),
        }
    }
    if is_sim && !oracle_seen {
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
        m.base_urls.push(Setting::Env {
            var: "OPENAI_BASE_URL".into(),
            default: Some("https://api.openai.com/v1".into()),
        });
    }
    let failed = ctx.d.list[errors_before..].iter().any(Diagnostic::is_error);
    if !failed {
        ctx.spec.models.insert(name, m);
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

/// `max_response_bytes = N` of an `openai` model: a whole number of bytes,
/// kept in `extra` for the provider ([`ModelDecl::max_response_bytes`]).
fn reply_limit(ctx: &mut Ctx, e: &Entry, m: &mut ModelDecl) {
    if let Some(v) = ctx.d.plain(e)
        && let Some(n) = ctx.d.int(v, MAX_RESPONSE_BYTES_KEY, 1, u64::MAX as i128)
    {
        m.extra
            .insert(MAX_RESPONSE_BYTES_KEY.into(), serde_json::json!(n as u64));
    }
}
