//! The plugin half of `simba-run check`: load every plugin, list what each
//! provides, and create every instance the spec names (strategies, models,
//! metrics, tools) with its config, so a config the plugin rejects fails
//! `check` and not the run. A rejection is shown as a diagnostic at the
//! item's place in the spec.

use crate::compile::{Style, sources_for};
use crate::ir::{CodeMetric, MetricExpr, ModuleKind, PluginItem, Provider, StrategyRef};
use crate::plugin::{PluginError, PluginHost};
use crate::project::Project;
use crate::syntax::ast::{
    EntryValue, File, Item, MetricBody, ProgramBody, ProgramEntry, Span, Value, ValueKind,
};
use crate::syntax::diagnostic::{Diagnostic, render_all};

/// Every problem found (not only the first), each ready to print.
pub fn check_plugins(project: &Project) -> Vec<String> {
    let spec = &project.spec;
    if spec.plugins.is_empty() {
        return Vec::new();
    }
    let search_path = &project.config.plugin_search_path;
    let (host, errors) = PluginHost::load_each_in(&spec.plugins, search_path);
    let host = host.with_spec_dir(&spec.base_dir);
    let mut problems: Vec<String> = errors.iter().map(|e| format!("error: {e}")).collect();
    for listing in host.listings() {
        outln!("{listing}");
    }
    // (who, the item, the model block it configures if a model, the result)
    type Use = (String, PluginItem, Option<String>, Result<(), PluginError>);
    let mut uses: Vec<Use> = Vec::new();
    let loaded = |plugin: &str| host.manifest(plugin).is_some();
    for o in &spec.optimizes {
        for s in &o.strategies {
            if let StrategyRef::Plugin {
                plugin,
                item,
                config,
            } = s
                && loaded(plugin)
            {
                let what = PluginItem {
                    plugin: plugin.clone(),
                    item: item.clone(),
                    config: config.clone(),
                };
                let made = host.strategy(plugin, item, &config.json()).map(drop);
                uses.push((format!("optimize {}", o.program), what, None, made));
            }
        }
    }
    for m in spec.models.values() {
        if let Provider::Plugin { plugin, item } = &m.provider
            && loaded(plugin)
        {
            let what = PluginItem {
                plugin: plugin.clone(),
                item: item.clone(),
                config: Default::default(),
            };
            let made = host.model(m).map(drop);
            uses.push((
                format!("model {}", m.name),
                what,
                Some(m.name.clone()),
                made,
            ));
        }
    }
    for m in spec.metrics.values() {
        if let MetricExpr::Code(CodeMetric::Plugin(what)) = &m.expr
            && loaded(&what.plugin)
        {
            uses.push((
                format!("metric {}", m.name),
                what.clone(),
                None,
                host.metric(what).map(drop),
            ));
        }
    }
    for p in spec.programs.values() {
        for s in &p.steps {
            if let ModuleKind::Tool(call) = &s.module
                && loaded(&call.item.plugin)
            {
                let made = host.tool(&call.item).map(drop);
                uses.push((
                    format!("program {} step {}", p.name, s.name),
                    call.item.clone(),
                    None,
                    made,
                ));
            }
        }
    }
    let parsed = crate::syntax::parse(&project.source).ok();
    for (who, what, model, made) in uses {
        if let Err(e) = made {
            problems.push(refusal(project, parsed.as_ref(), &who, &what, model, &e));
        }
    }
    problems
}

/// How `check` shows that creating `what` failed: drawn at its place in
/// the spec when the failure has one (for a model, its own `provider`, as
/// several models may use one item), else one line naming `who`.
fn refusal(
    project: &Project,
    parsed: Option<&crate::syntax::Parsed>,
    who: &str,
    what: &PluginItem,
    model: Option<String>,
    e: &PluginError,
) -> String {
    let span = parsed.and_then(|p| match &model {
        Some(name) => provider_span(&p.file, name),
        None => item_span(&p.file, what),
    });
    let drawn = match e {
        PluginError::Create { message, .. } => Some((
            match &model {
                Some(name) => format!("plugin `{}` rejected model `{name}`", what.plugin),
                None => format!("plugin `{}` rejected `{what}`", what.plugin),
            },
            message,
            match model {
                Some(_) => {
                    "the block's keys beyond simba-run's own are handed to the plugin as its config"
                }
                None => "the `{ .. }` after the item is handed to the plugin as its config",
            },
        )),
        PluginError::ConfigEnv { message, .. } => Some((
            format!("cannot build the config of `{what}`"),
            message,
            "set the variable, or give `env(\"NAME\", \"default\")` a default",
        )),
        _ => None,
    };
    match (drawn, span) {
        (Some((title, message, help)), Some(span)) => {
            let d = Diagnostic::error(span, title)
                .label(crate::printable::escape_controls(message).into_owned())
                .help(help);
            let sources = sources_for(&project.spec.path, &project.source, &[]);
            render_all(&[d], &sources, Style::Plain)
                .trim_end()
                .to_string()
        }
        _ => format!("error: {who}: {e}"),
    }
}

/// The `provider` value of model `name`'s block.
fn provider_span(file: &File, name: &str) -> Option<Span> {
    file.items.iter().find_map(|item| match item {
        Item::Model(m) if m.name.name == name => {
            m.entries
                .iter()
                .find_map(|e| match (&e.value, e.key.name == "provider") {
                    (EntryValue::Value(v), true) => Some(v.span),
                    _ => None,
                })
        }
        _ => None,
    })
}

/// Where the spec names `what`: the first use carrying a `{ .. }` config,
/// else the first use.
fn item_span(file: &File, what: &PluginItem) -> Option<Span> {
    let is = |name: &[crate::syntax::ast::Ident]| {
        name.len() == 2 && name[0].name == what.plugin && name[1].name == what.item
    };
    let mut found: Vec<(bool, Span)> = Vec::new();
    let in_value = |v: &Value, found: &mut Vec<(bool, Span)>| {
        let mut todo = vec![v];
        while let Some(v) = todo.pop() {
            match &v.kind {
                ValueKind::Configured { name, .. } if is(name) => found.push((true, v.span)),
                ValueKind::Name(name) if is(name) => found.push((false, v.span)),
                ValueKind::List(items) => todo.extend(items.iter().rev()),
                _ => {}
            }
        }
    };
    for item in &file.items {
        match item {
            Item::Optimize(o) => {
                for e in &o.entries {
                    if let EntryValue::Value(v) = &e.value {
                        in_value(v, &mut found);
                    }
                }
            }
            Item::Metric(m) => {
                if let MetricBody::Code(c) = &m.body
                    && is(&c.callee)
                {
                    found.push((c.config.is_some(), c.span));
                }
            }
            Item::Program(p) => {
                if let ProgramBody::Block(entries) = &p.body {
                    for e in entries {
                        if let ProgramEntry::Step(s) = e
                            && is(&s.call.module)
                        {
                            found.push((s.config.is_some(), s.span));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    found
        .iter()
        .find(|(configured, _)| *configured)
        .or(found.first())
        .map(|(_, s)| *s)
}
