//! `metric m = plugin.item(pred, gold) { .. }` and
//! `metric m = command("program args") { timeout = 30s }` -> [`CodeMetric`].

use super::{Ctx, Kind};
use crate::ir::{CodeMetric, CommandMetric, DEFAULT_COMMAND_TIMEOUT, PluginItem, ScoreBounds};
use crate::syntax::ast::{self, MetricItem, Value, ValueKind, dotted};
use crate::syntax::diagnostic::Diagnostic;

/// The keys a `command` metric's config takes.
const COMMAND_KEYS: [&str; 2] = ["timeout", "range"];

/// The code metric `code` of `item`, or `None` after a diagnostic.
pub(super) fn compile(
    ctx: &mut Ctx,
    item: &MetricItem,
    code: &ast::CodeMetric,
) -> Option<CodeMetric> {
    if let Some(f) = &item.feedback {
        ctx.d.push(
            Diagnostic::error(f.span, "a metric written as code gives its own feedback")
                .label("not allowed here")
                .help("return the feedback from the plugin or the command instead"),
        );
        return None;
    }
    match code.callee.as_slice() {
        [c] if c.name == "command" => command(ctx, code).map(CodeMetric::Command),
        [plugin, name] => {
            let config = code
                .config
                .as_ref()
                .map(|c| ctx.plugin_config(&code.callee, "metric", c))
                .unwrap_or_default();
            let args_ok = pred_gold(ctx, code);
            (ctx.resolve(plugin, Kind::Plugin) && args_ok).then(|| {
                CodeMetric::Plugin(PluginItem {
                    plugin: plugin.name.clone(),
                    item: name.name.clone(),
                    config,
                })
            })
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    code.span,
                    format!("`{}` is not a metric", dotted(&code.callee)),
                )
                .label("expected `plugin.item(pred, gold)` or `command(\"..\")`"),
            );
            None
        }
    }
}

/// A plugin metric's arguments: exactly `pred, gold`.
fn pred_gold(ctx: &mut Ctx, code: &ast::CodeMetric) -> bool {
    let names: Vec<Option<String>> = code
        .args
        .iter()
        .map(|a| match &a.kind {
            ValueKind::Name(p) => Some(dotted(p)),
            _ => None,
        })
        .collect();
    if names == [Some("pred".to_string()), Some("gold".to_string())] {
        return true;
    }
    ctx.d.push(
        Diagnostic::error(code.span, "a plugin metric is called as `plugin.item(pred, gold)`")
            .label("expected the arguments `pred, gold`")
            .help("the plugin receives the whole prediction and gold example; choose fields in its config"),
    );
    false
}

fn command(ctx: &mut Ctx, code: &ast::CodeMetric) -> Option<CommandMetric> {
    let line = match code.args.as_slice() {
        [v] => match &v.kind {
            ValueKind::Str(s) if !s.trim().is_empty() => Some((s.clone(), v.span)),
            _ => None,
        },
        _ => None,
    };
    let Some((line, span)) = line else {
        ctx.d.push(
            Diagnostic::error(code.span, "`command` takes one string: the command line")
                .label("expected `command(\"program args\")`")
                .help("e.g. `command(\"python3 metrics/score.py\")`; the program runs in the spec's folder"),
        );
        return None;
    };
    let Some(argv) = shlex::split(&line).filter(|a| !a.is_empty()) else {
        ctx.d.push(
            Diagnostic::error(span, "cannot split this command line into arguments")
                .label("unbalanced quotes or a trailing backslash")
                .help("arguments are split like a POSIX shell does, without running a shell"),
        );
        return None;
    };
    let mut timeout = DEFAULT_COMMAND_TIMEOUT;
    let mut range = None;
    for e in ctx.d.unique(code.config.as_deref().unwrap_or_default()) {
        if !COMMAND_KEYS.contains(&e.key.name.as_str()) {
            ctx.d
                .unknown_key(&e.key, "a `command` metric", &COMMAND_KEYS);
            continue;
        }
        let Some(v) = ctx.d.plain(e) else {
            continue;
        };
        if e.key.name == "range" {
            range = score_bounds(ctx, v);
        } else if let Some(t) = ctx.d.duration(v, "timeout", false) {
            timeout = t;
        }
    }
    // Checked here, not only when the first call fails: `check` and every
    // command report it at the command string, before any LM call.
    for problem in super::command_preflight::problems(&argv, &ctx.base_dir) {
        ctx.d.push(
            Diagnostic::error(span, problem)
                .label("this command cannot run")
                .help("the program runs in the spec's folder; a bare name is looked up on PATH"),
        );
    }
    Some(CommandMetric {
        command: line,
        argv,
        dir: ctx.base_dir.clone(),
        timeout,
        range,
    })
}

/// `range = [lo, hi]`: two finite numbers, `lo < hi`.
fn score_bounds(ctx: &mut Ctx, v: &Value) -> Option<ScoreBounds> {
    let items = match &v.kind {
        ValueKind::List(items) if items.len() == 2 => items,
        _ => {
            ctx.d.push(
                Diagnostic::error(v.span, "`range` is a list of two numbers")
                    .label("expected `[lo, hi]`")
                    .help("e.g. `range = [0, 1]`: the lowest and highest score the program gives"),
            );
            return None;
        }
    };
    let lo = ctx.d.float(&items[0], "range");
    let hi = ctx.d.float(&items[1], "range");
    let (lo, hi) = (lo?, hi?);
    if lo < hi {
        return Some(ScoreBounds { lo, hi });
    }
    ctx.d.push(
        Diagnostic::error(
            v.span,
            format!("`range = [{lo}, {hi}]`: the low end must be below the high end"),
        )
        .label("empty range"),
    );
    None
}
