//! `optimize PROGRAM with simba { .. }` -> [`OptimizeDecl`], DSPy's defaults filled in.

use super::metric_range::metric_bounds;
use super::names::listing;
use super::values::set;
use super::{Ctx, Kind};
use crate::ir::{
    CodeMetric, DataRef, DatasetSource, FinalSelection, MetricExpr, OptimizeDecl, ProgramGraph,
    Resample, SelectOn, Selection, StopRules, StrategyRef,
};
use crate::syntax::ast::{Entry, Ident, OptimizeItem, Span, Value, ValueKind, dotted};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use std::collections::HashSet;

/// Every key an optimize block accepts (also what `--set` may change).
pub const KEYS: [&str; 24] = [
    "trainset",
    "devset",
    "valset",
    "select_on",
    "metric",
    "bsize",
    "num_candidates",
    "max_steps",
    "max_demos",
    "demo_input_field_maxlen",
    "temperature_for_sampling",
    "temperature_for_candidates",
    "strategies",
    "prompt_model",
    "teacher",
    "selection",
    "dedup",
    "resample",
    "final",
    "concurrency",
    "seed",
    "stop",
    "output",
    "cache",
];

/// Every key of a `stop { }` block.
pub const STOP_KEYS: [&str; 7] = [
    "patience",
    "min_delta",
    "target",
    "max_lm_calls",
    "max_tokens",
    "max_cost",
    "max_duration",
];

pub(super) fn compile(ctx: &mut Ctx, item: &OptimizeItem) {
    let errors_before = ctx.d.list.len();
    check_optimizer(ctx, &item.optimizer);
    let program_ok = ctx.resolve(&item.program, Kind::Program);
    let pname = item.program.name.clone();
    // trainset and metric are required: placeholders until the block says.
    let placeholder = DataRef {
        dataset: String::new(),
        split: String::new(),
    };
    let mut o = OptimizeDecl::new(pname.clone(), placeholder, String::new(), &ctx.base_dir);
    let mut given = Given::default();
    for e in ctx.d.unique(&item.entries) {
        entry(ctx, &mut o, &mut given, e);
    }
    required_keys(ctx, &item.program, &given);
    o.strategies = match given.strategies {
        Some(s) => s,
        None => StrategyRef::defaults(o.max_demos),
    };
    o.select_on = select_on(ctx, &o, given.select_on);
    let program = if program_ok {
        ctx.spec.programs.get(&pname).cloned()
    } else {
        None
    };
    if let (Some(program), Some((train, train_span))) = (&program, &given.trainset) {
        check_dataset_inputs(ctx, program, train, *train_span);
    }
    if let (Some(program), Some(m)) = (&program, &given.metric) {
        check_metric_reads(ctx, program, m);
    }
    if let Some(m) = &given.metric {
        check_race_metric(ctx, &o, given.final_span, m);
    }
    if ctx.d.list[errors_before..].iter().any(Diagnostic::is_error) {
        return;
    }
    let (Some((trainset, _)), Some(metric)) = (given.trainset, given.metric) else {
        return;
    };
    o.trainset = trainset;
    o.metric = metric.name;
    ctx.spec.optimizes.push(o);
}

/// What a block said whose meaning is settled only once the whole block is
/// read (the required keys, and the settings whose default depends on others).
#[derive(Default)]
struct Given {
    /// `trainset`, when it names a real split.
    trainset: Option<(DataRef, Span)>,
    /// `metric`, when it names a metric.
    metric: Option<Ident>,
    /// `strategies`, when every entry checked out (default: by `max_demos`).
    strategies: Option<Vec<StrategyRef>>,
    /// `select_on` and where (its split must be given).
    select_on: Option<(SelectOn, Span)>,
    /// Whether `trainset` was written at all (even with a bad value).
    seen_train: bool,
    /// Whether `metric` was written at all (even with a bad value).
    seen_metric: bool,
    /// Where `final` was set, for a race refused on its metric.
    final_span: Option<Span>,
}

fn check_optimizer(ctx: &mut Ctx, optimizer: &Ident) {
    if optimizer.name != "simba" {
        ctx.d.push(
            Diagnostic::error(
                optimizer.span,
                format!("unknown optimizer `{}`", optimizer.name),
            )
            .label("not an optimizer")
            .help(
                did_you_mean(&optimizer.name, ["simba"])
                    .unwrap_or_else(|| "the only optimizer is `simba`".into()),
            ),
        );
    }
}

/// Applies one entry of the block.
fn entry(ctx: &mut Ctx, o: &mut OptimizeDecl, given: &mut Given, e: &Entry) {
    let key = e.key.name.as_str();
    if key == "stop" {
        if let Some(b) = ctx.d.block(e) {
            o.stop = stop_rules(ctx, b);
        }
        return;
    }
    if !KEYS.contains(&key) {
        let what = format!("optimize block `{}`", o.program);
        ctx.d.unknown_key(&e.key, &what, &KEYS);
        return;
    }
    let Some(v) = ctx.d.plain(e) else { return };
    if key == "final" {
        given.final_span = Some(v.span);
    }
    match key {
        "trainset" | "devset" | "valset" | "select_on" | "metric" => {
            data_key(ctx, o, given, key, v)
        }
        "strategies" => given.strategies = strategy_list(ctx, v),
        "output" => output(ctx, o, v),
        "cache" => cache(ctx, o, v),
        _ => setting(ctx, o, key, v),
    }
}

/// The keys that say what the block trains on, selects on and scores by.
fn data_key(ctx: &mut Ctx, o: &mut OptimizeDecl, given: &mut Given, key: &str, v: &Value) {
    match key {
        "trainset" => {
            given.seen_train = true;
            given.trainset = data_ref(ctx, v, key).map(|r| (r, v.span));
        }
        "devset" => o.devset = data_ref(ctx, v, key),
        "valset" if is_auto(v) => o.valset_auto = true,
        "valset" => o.valset = data_ref(ctx, v, key),
        "select_on" => {
            given.select_on = ctx
                .d
                .choice(v, key, &["trainset", "valset", "devset"])
                .map(|c| {
                    let s = match c {
                        "valset" => SelectOn::Valset,
                        "devset" => SelectOn::Devset,
                        _ => SelectOn::Trainset,
                    };
                    (s, v.span)
                })
        }
        "metric" => {
            given.seen_metric = true;
            if let Some(id) = ctx.d.name(v, key, "a metric name")
                && ctx.resolve(id, Kind::Metric)
            {
                given.metric = Some(id.clone());
            }
        }
        _ => unreachable!("entry routes only data keys here"),
    }
}

/// The keys stored straight into the block: numbers, models and choices.
fn setting(ctx: &mut Ctx, o: &mut OptimizeDecl, key: &str, v: &Value) {
    let positive = |t: f64| t > 0.0;
    match key {
        "bsize" => set(&mut o.bsize, ctx.d.usize(v, key, 1)),
        "num_candidates" => set(&mut o.num_candidates, ctx.d.usize(v, key, 1)),
        "max_steps" => set(&mut o.max_steps, ctx.d.usize(v, key, 1)),
        "max_demos" => set(&mut o.max_demos, ctx.d.usize(v, key, 0)),
        "demo_input_field_maxlen" => set(&mut o.demo_input_field_maxlen, ctx.d.usize(v, key, 0)),
        "temperature_for_sampling" => set(
            &mut o.temperature_for_sampling,
            ctx.d.float_where(v, key, "greater than 0", positive),
        ),
        "temperature_for_candidates" => set(
            &mut o.temperature_for_candidates,
            ctx.d.float_where(v, key, "greater than 0", positive),
        ),
        "prompt_model" => o.prompt_model = model_name(ctx, v, key),
        "teacher" => o.teacher = model_name(ctx, v, key),
        "dedup" => set(&mut o.dedup, ctx.d.bool(v, key)),
        "selection" => set(
            &mut o.selection,
            ctx.d
                .choice(v, key, &["softmax", "thompson"])
                .map(|c| match c {
                    "thompson" => Selection::Thompson,
                    _ => Selection::Softmax,
                }),
        ),
        "resample" => set(
            &mut o.resample,
            ctx.d
                .choice(v, key, &["rollout", "temperature"])
                .map(|c| match c {
                    "temperature" => Resample::Temperature,
                    _ => Resample::Rollout,
                }),
        ),
        "final" => set(
            &mut o.final_selection,
            ctx.d.choice(v, key, &["full", "race"]).map(|c| match c {
                "race" => FinalSelection::Race,
                _ => FinalSelection::Full,
            }),
        ),
        "concurrency" => set(&mut o.concurrency, ctx.d.usize(v, key, 1)),
        "seed" => set(&mut o.seed, ctx.d.u64(v, key, 0)),
        _ => unreachable!("KEYS and match agree"),
    }
}

/// `output = "folder"`, resolved against the spec folder.
fn output(ctx: &mut Ctx, o: &mut OptimizeDecl, v: &Value) {
    let Some(s) = ctx.d.string(v, "output") else {
        return;
    };
    if s.trim().is_empty() {
        ctx.d
            .push(Diagnostic::error(v.span, "`output` cannot be empty").label("empty path"));
    } else {
        o.output = ctx.base_dir.join(s);
    }
}

/// `cache = "folder"`, `true` (the default folder) or `false` (off).
fn cache(ctx: &mut Ctx, o: &mut OptimizeDecl, v: &Value) {
    match &v.kind {
        ValueKind::Bool(false) => o.cache = None,
        ValueKind::Bool(true) => {}
        ValueKind::Str(s) if !s.trim().is_empty() => o.cache = Some(ctx.base_dir.join(s)),
        _ => ctx.d.push(
            Diagnostic::error(
                v.span,
                format!(
                    "`cache` expects a folder path, `true` or `false`, found {}",
                    v.kind.describe()
                ),
            )
            .label("not a cache setting")
            .help("write `cache = \".simba-cache\"`, or `cache = false` to turn it off"),
        ),
    }
}

/// `trainset` and `metric` must be written.
fn required_keys(ctx: &mut Ctx, program: &Ident, given: &Given) {
    let pname = &program.name;
    if !given.seen_train {
        ctx.d.push(
            Diagnostic::error(
                program.span,
                format!("optimize block `{pname}` has no `trainset`"),
            )
            .label("what should it train on?")
            .help("add `trainset = DATASET.train`"),
        );
    }
    if !given.seen_metric {
        ctx.d.push(
            Diagnostic::error(
                program.span,
                format!("optimize block `{pname}` has no `metric`"),
            )
            .label("how should it score answers?")
            .help("add `metric = NAME` (declared with `metric NAME = ...`)"),
        );
    }
}

/// `valset = auto`: a one-part name, so never a `DATASET.SPLIT` reference.
fn is_auto(v: &Value) -> bool {
    matches!(&v.kind, ValueKind::Name(p) if p.len() == 1 && p[0].name == "auto")
}

/// `select_on` as written (its split must be given), else its default.
fn select_on(ctx: &mut Ctx, o: &OptimizeDecl, written: Option<(SelectOn, Span)>) -> SelectOn {
    let has_valset = o.valset.is_some() || o.valset_auto;
    match written {
        // Rows held out and then not chosen on would only shrink the trainset.
        Some((s @ (SelectOn::Trainset | SelectOn::Devset), span)) if o.valset_auto => {
            ctx.d.push(
                Diagnostic::error(
                    span,
                    "`valset = auto` holds trainset rows out for the final selection, which this `select_on` does not use",
                )
                .label("selects elsewhere")
                .help("remove `select_on` (it defaults to `valset`), or remove `valset = auto`"),
            );
            s
        }
        // A valset that is never scored would be silently ignored.
        Some((s @ SelectOn::Trainset, span)) if o.valset.is_some() => {
            ctx.d.push(
                Diagnostic::error(
                    span,
                    "`valset` is given for the final selection, which `select_on = trainset` does not use",
                )
                .label("selects on the trainset")
                .help("remove `select_on` (it defaults to `valset`), or remove `valset`"),
            );
            s
        }
        Some((SelectOn::Valset, span)) if !has_valset => {
            missing_for_select(ctx, span, "valset");
            SelectOn::Valset
        }
        Some((SelectOn::Devset, span)) if o.devset.is_none() => {
            missing_for_select(ctx, span, "devset");
            SelectOn::Devset
        }
        Some((s, _)) => s,
        None => SelectOn::default_for(has_valset),
    }
}

/// The trainset's dataset must list every input the program reads.
fn check_dataset_inputs(ctx: &mut Ctx, program: &ProgramGraph, train: &DataRef, span: Span) {
    let Some(ds) = ctx.spec.datasets.get(&train.dataset) else {
        return;
    };
    let listed: HashSet<&str> = ds.inputs.iter().map(String::as_str).collect();
    let missing: Vec<String> = program
        .inputs
        .iter()
        .filter(|input| !listed.contains(input.name.as_str()))
        .map(|input| input.name.clone())
        .collect();
    let (pname, dname) = (&program.name, ds.name.clone());
    for input in missing {
        ctx.d.push(
            Diagnostic::error(
                span,
                format!("program `{pname}` reads `{input}`, but dataset `{dname}` does not list it in `inputs`"),
            )
            .label("the program's input is missing here")
            .help(format!("add `{input}` to `inputs` of dataset `{dname}`")),
        );
    }
}

/// Every `pred.x` the metric reads must be an output of the program.
fn check_metric_reads(ctx: &mut Ctx, program: &ProgramGraph, m: &Ident) {
    let pname = &program.name;
    let names = || program.outputs.iter().map(|(n, _)| n.as_str());
    let outputs: HashSet<&str> = names().collect();
    let reads = ctx
        .metric_pred_refs
        .get(&m.name)
        .cloned()
        .unwrap_or_default();
    for (field, span) in reads {
        if !outputs.contains(field.as_str()) {
            let help = ctx
                .suggest
                .did_you_mean(&field, names())
                .unwrap_or_else(|| format!("its outputs: {}", listing(names())));
            ctx.d.push(
                Diagnostic::error(span, format!("program `{pname}` has no output `{field}`"))
                    .label("`pred` is the program's output")
                    .related(
                        m.span,
                        format!("metric `{}` is used for program `{pname}` here", m.name),
                    )
                    .help(help),
            );
        }
    }
}

/// A race divides score differences by the metric's range, so `final =
/// race` needs a bounded metric; refused here (not only when the run
/// starts) so `check`, the dry run and a run agree.
fn check_race_metric(ctx: &mut Ctx, o: &OptimizeDecl, final_span: Option<Span>, m: &Ident) {
    if o.final_selection != FinalSelection::Race {
        return;
    }
    let Some(metric) = ctx.spec.metrics.get(&m.name) else {
        return;
    };
    // As the run measures it: the range with a failure's 0 in it, and its
    // width finite (the race divides differences by the width).
    let (lo, hi) = metric_bounds(&metric.expr);
    if (hi.max(0.0) - lo.min(0.0)).is_finite() {
        return;
    }
    let name = &m.name;
    // What makes it unbounded, and how to bound it, depend on its kind.
    let (why, help) = match &metric.expr {
        MetricExpr::Code(CodeMetric::Command(_)) => (
            "unbounded: the command declares no `range`",
            "declare the scores the program gives, e.g. `command(\"..\") { range = [0, 1] }`, or use `final = full`",
        ),
        MetricExpr::Code(CodeMetric::Plugin(_)) => (
            "unbounded: a plugin metric declares no score range",
            "a plugin metric cannot be raced: use `final = full`",
        ),
        _ => (
            "unbounded: it reads a number or divides by a range holding 0",
            "scale it into a range (e.g. with min/max or a comparison), or use `final = full`",
        ),
    };
    let title = format!(
        "`final = race` needs a metric whose scores are bounded, but metric `{name}` is not"
    );
    let diagnostic = match final_span {
        Some(span) => Diagnostic::error(span, title)
            .label("races need a bounded metric")
            .related(m.span, format!("metric `{name}` is used here")),
        None => Diagnostic::error(m.span, title).label(why),
    };
    ctx.d.push(diagnostic.help(help));
}

fn missing_for_select(ctx: &mut Ctx, span: Span, what: &str) {
    ctx.d.push(
        Diagnostic::error(
            span,
            format!("`select_on = {what}` but no `{what}` is given"),
        )
        .label(format!("needs `{what}`"))
        .help(format!("add `{what} = DATASET.SPLIT`")),
    );
}

fn model_name(ctx: &mut Ctx, v: &Value, key: &str) -> Option<String> {
    let id = ctx.d.name(v, key, "a model name")?.clone();
    ctx.resolve(&id, Kind::Model).then_some(id.name)
}

/// `dataset.split`.
fn data_ref(ctx: &mut Ctx, v: &Value, key: &str) -> Option<DataRef> {
    // `valset` also takes `auto` (handled before this is called).
    let expects = if key == "valset" {
        "`DATASET.SPLIT` or `auto`"
    } else {
        "`DATASET.SPLIT`"
    };
    let ValueKind::Name(parts) = &v.kind else {
        let help = example_split(ctx, key, None);
        ctx.d.push(
            Diagnostic::error(
                v.span,
                format!("`{key}` expects {expects}, found {}", v.kind.describe()),
            )
            .label("not a dataset split")
            .help(help),
        );
        return None;
    };
    let [ds, split] = parts.as_slice() else {
        let help = example_split(ctx, key, Some(&parts[0].name));
        ctx.d.push(
            Diagnostic::error(
                v.span,
                format!("`{key}` expects {expects}, found `{}`", dotted(parts)),
            )
            .label("expected two parts")
            .help(help),
        );
        return None;
    };
    if !ctx.resolve(ds, Kind::Dataset) {
        return None;
    }
    let decl = ctx.spec.datasets.get(&ds.name)?;
    let splits: Vec<String> = match &decl.source {
        DatasetSource::Files(f) => f.keys().cloned().collect(),
        DatasetSource::Split { parts, .. } => parts.iter().map(|(n, _)| n.clone()).collect(),
    };
    if !splits.contains(&split.name) {
        ctx.d.push(
            Diagnostic::error(
                split.span,
                format!("dataset `{}` has no split `{}`", ds.name, split.name),
            )
            .label("unknown split")
            .help(
                did_you_mean(&split.name, splits.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("its splits: {}", splits.join(", "))),
            ),
        );
        return None;
    }
    Some(DataRef {
        dataset: ds.name.clone(),
        split: split.name.clone(),
    })
}

/// The help of a malformed `key = DATASET.SPLIT`: an example with a real
/// dataset of the spec (`written` when it names one, else the first) and
/// one of its splits (for `valset` one other than `train`, and `auto`).
fn example_split(ctx: &Ctx, key: &str, written: Option<&str>) -> String {
    let datasets = &ctx.spec.datasets;
    let example = written
        .and_then(|w| datasets.get(w))
        .or_else(|| datasets.values().next())
        .map(|d| {
            let splits: Vec<&String> = match &d.source {
                DatasetSource::Files(f) => f.keys().collect(),
                DatasetSource::Split { parts, .. } => parts.iter().map(|(n, _)| n).collect(),
            };
            // A valset is rarely the training split: show another one.
            let split = if key == "valset" {
                splits
                    .iter()
                    .find(|s| s.as_str() != "train")
                    .or(splits.first())
            } else {
                splits.first()
            };
            format!("{}.{}", d.name, split.map_or("train", |s| s.as_str()))
        })
        .unwrap_or_else(|| "trivia.train".into());
    if key == "valset" {
        format!("e.g. `{key} = {example}`, or `{key} = auto` to hold trainset rows out")
    } else {
        format!("e.g. `{key} = {example}`")
    }
}

/// `strategies = [..]` (or a single name): no duplicates, at least one.
fn strategy_list(ctx: &mut Ctx, v: &Value) -> Option<Vec<StrategyRef>> {
    let items: Vec<&Value> = match &v.kind {
        ValueKind::List(items) => items.iter().collect(),
        ValueKind::Name(_) => vec![v],
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    v.span,
                    format!(
                        "`strategies` expects a list of strategy names, found {}",
                        v.kind.describe()
                    ),
                )
                .label("not a list")
                .help("e.g. `strategies = [append_demo, append_rule]`"),
            );
            return None;
        }
    };
    if items.is_empty() {
        ctx.d.push(
            Diagnostic::error(v.span, "`strategies` is empty")
                .label("no strategy")
                .help("list at least one, e.g. `[append_rule]`"),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for i in items {
        match strategy(ctx, i) {
            Some(s) if out.contains(&s) => {
                ctx.d.push(
                    Diagnostic::error(i.span, format!("strategy `{s}` is listed twice"))
                        .label("again"),
                );
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One entry of `strategies`: a built-in or `plugin.item`.
fn strategy(ctx: &mut Ctx, i: &Value) -> Option<StrategyRef> {
    match &i.kind {
        ValueKind::Name(p) if p.len() == 1 && p[0].name == "append_demo" => {
            Some(StrategyRef::AppendDemo)
        }
        ValueKind::Name(p) if p.len() == 1 && p[0].name == "append_rule" => {
            Some(StrategyRef::AppendRule)
        }
        ValueKind::Name(p) if p.len() == 2 => {
            ctx.resolve(&p[0], Kind::Plugin)
                .then(|| StrategyRef::Plugin {
                    plugin: p[0].name.clone(),
                    item: p[1].name.clone(),
                    config: Default::default(),
                })
        }
        ValueKind::Configured { name: p, config } if p.len() == 2 => {
            let config = ctx.plugin_config(p, "strategy", config);
            ctx.resolve(&p[0], Kind::Plugin)
                .then(|| StrategyRef::Plugin {
                    plugin: p[0].name.clone(),
                    item: p[1].name.clone(),
                    config,
                })
        }
        ValueKind::Configured { name: p, .. } => {
            ctx.d.push(
                Diagnostic::error(i.span, format!("`{}` takes no config", dotted(p)))
                    .label("only plugin items take a `{ .. }` config")
                    .help("built-in strategies have no settings; plugin strategies are `plugin.name { key = value }`"),
            );
            None
        }
        ValueKind::Name(p) => {
            let name = dotted(p);
            ctx.d.push(
                Diagnostic::error(i.span, format!("unknown strategy `{name}`"))
                    .label("not a strategy")
                    .help(did_you_mean(&name, ["append_demo", "append_rule"])
                        .unwrap_or_else(|| "built-in strategies: append_demo, append_rule; plugin strategies: `plugin.name`".into())),
            );
            None
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    i.span,
                    format!("a strategy is a name, found {}", i.kind.describe()),
                )
                .label("not a name")
                .help("e.g. `append_demo` or `extras.swap_demo`"),
            );
            None
        }
    }
}

fn stop_rules(ctx: &mut Ctx, entries: &[Entry]) -> StopRules {
    let mut s = StopRules::default();
    for e in ctx.d.unique(entries) {
        let key = e.key.name.as_str();
        if !STOP_KEYS.contains(&key) {
            ctx.d.unknown_key(&e.key, "the `stop` block", &STOP_KEYS);
            continue;
        }
        let Some(v) = ctx.d.plain(e) else { continue };
        match key {
            "patience" => s.patience = ctx.d.usize(v, key, 1),
            "min_delta" => set(
                &mut s.min_delta,
                ctx.d.float_where(v, key, "at least 0", |x| x >= 0.0),
            ),
            "target" => s.target = ctx.d.float(v, key),
            "max_lm_calls" => s.max_lm_calls = ctx.d.u64(v, key, 1),
            "max_tokens" => s.max_tokens = ctx.d.u64(v, key, 1),
            "max_cost" => s.max_cost = ctx.d.float_where(v, key, "greater than 0", |x| x > 0.0),
            "max_duration" => s.max_duration = ctx.d.duration(v, key, false),
            _ => unreachable!("STOP_KEYS and match agree"),
        }
    }
    s
}
