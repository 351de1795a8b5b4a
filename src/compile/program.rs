//! `program NAME { .. }` -> [`ProgramGraph`]: steps, bindings, types, DAG order.
//!
//! One function per section of a program: its model, its inputs
//! (`inputs.rs`), its steps (`step.rs`), their bindings (`bind.rs`), their
//! order (`order.rs`) and its outputs (`outputs.rs`). Each section reports
//! every problem it finds; a later section runs only when the ones it builds
//! on came out whole.

mod bind;
mod inputs;
mod order;
mod outputs;
mod search;
mod step;
mod tool;

use super::names::listing;
use super::{Ctx, Kind};
use crate::ir::{FieldType, ProgramGraph, Source, Step};
use crate::syntax::ast::{Ident, ProgramBody, ProgramEntry, ProgramItem, Span, StepDecl};
use crate::syntax::diagnostic::Diagnostic;
use bind::{Bound, bind_steps};
use indexmap::IndexMap;
use inputs::Inputs;
use order::{report_cycle, topo_order};
use outputs::Outputs;
use std::collections::HashSet;
use step::{StepInfo, step_info};

/// Whether a value of type `src` may feed a field of type `dst`: equal types,
/// or any value into `string` (rendered as text) and `json`.
fn assignable(src: &FieldType, dst: &FieldType) -> bool {
    src == dst || matches!(dst, FieldType::String | FieldType::Json)
}

pub(super) fn compile(ctx: &mut Ctx, item: &ProgramItem) {
    let pname = &item.name.name;
    let errors_before = ctx.d.list.len();
    let failed = |ctx: &Ctx| ctx.d.list[errors_before..].iter().any(Diagnostic::is_error);
    let shorthand;
    let entries: &[ProgramEntry] = match &item.body {
        ProgramBody::Block(e) => e,
        ProgramBody::Shorthand(call) => {
            shorthand = [ProgramEntry::Step(StepDecl {
                name: item.name.clone(),
                call: call.clone(),
                bindings: Vec::new(),
                config: None,
                span: call.span,
            })];
            &shorthand
        }
    };
    let lm = program_lm(ctx, item, entries);
    let mut inputs = Inputs::declared(ctx, entries);
    let Some(steps) = steps(ctx, item, entries) else {
        return;
    };
    let index: IndexMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name().to_string(), i))
        .collect();
    let bound = bind_steps(ctx, &steps, &index, &mut inputs);
    if failed(ctx) {
        return;
    }
    let Some(order) = topo_order(&bound.deps) else {
        report_cycle(ctx, pname, &steps, &bound);
        return;
    };
    let outputs = Outputs {
        pname,
        steps: &steps,
        index: &index,
        inputs: &inputs,
    }
    .resolve(ctx, entries, &order);
    if failed(ctx) {
        return;
    }
    let Some(lm) = lm else { return };
    warn_unused_inputs(ctx, pname, &inputs, &bound, &outputs);
    let spec_text = spec_text(ctx, item, &steps, &order);
    let (steps, deps) = steps_in_order(&steps, bound, &order, &lm);
    let graph = ProgramGraph {
        name: pname.clone(),
        lm,
        inputs: inputs.into_fields(),
        steps,
        outputs,
        deps,
        spec_text,
    };
    ctx.spec.programs.insert(pname.clone(), graph);
}

/// The program's model: its `lm = MODEL`, else the spec's default model.
fn program_lm(ctx: &mut Ctx, item: &ProgramItem, entries: &[ProgramEntry]) -> Option<String> {
    let mut lm_decl: Option<&Ident> = None;
    for e in entries {
        let ProgramEntry::Lm { model, .. } = e else {
            continue;
        };
        if let Some(first) = lm_decl {
            ctx.d.push(
                Diagnostic::error(
                    model.span,
                    format!("program `{}` sets `lm` twice", item.name.name),
                )
                .label("second `lm`")
                .related(first.span, "first `lm`"),
            );
        } else {
            lm_decl = Some(model);
        }
    }
    match lm_decl {
        Some(m) => ctx.resolve(m, Kind::Model).then(|| m.name.clone()),
        None => default_model(ctx, item),
    }
}

/// Every step, checked; None when one is broken or there is none.
fn steps<'a>(
    ctx: &mut Ctx,
    item: &ProgramItem,
    entries: &'a [ProgramEntry],
) -> Option<Vec<StepInfo<'a>>> {
    let pname = &item.name.name;
    let mut steps: Vec<StepInfo> = Vec::new();
    let mut broken = false;
    let mut step_spans: IndexMap<String, Span> = IndexMap::new();
    for e in entries {
        let ProgramEntry::Step(s) = e else { continue };
        if let Some(first) = step_spans.get(&s.name.name) {
            ctx.d.push(
                Diagnostic::error(
                    s.name.span,
                    format!(
                        "step `{}` is declared twice in program `{pname}`",
                        s.name.name
                    ),
                )
                .label("again")
                .related(*first, "first declared here"),
            );
            broken = true;
            continue;
        }
        step_spans.insert(s.name.name.clone(), s.name.span);
        if s.name.name == "input" {
            ctx.d.push(
                Diagnostic::error(s.name.span, "a step cannot be named `input`")
                    .label("reserved")
                    .help("`input.x` refers to the program's inputs; pick another name"),
            );
            broken = true;
            continue;
        }
        match step_info(ctx, s) {
            Some(info) => steps.push(info),
            None => broken = true,
        }
    }
    if steps.is_empty() && !broken {
        ctx.d.push(
            Diagnostic::error(item.name.span, format!("program `{pname}` has no steps"))
                .label("nothing to run")
                .help("add e.g. `step answer = predict(Answer)`"),
        );
        return None;
    }
    (!broken).then_some(steps)
}

/// Warns about declared inputs that no step and no output reads.
fn warn_unused_inputs(
    ctx: &mut Ctx,
    pname: &str,
    inputs: &Inputs,
    bound: &Bound,
    outputs: &[(String, Source)],
) {
    if !inputs.declares {
        return;
    }
    let read: HashSet<&str> = bound
        .sources
        .iter()
        .flatten()
        .chain(outputs)
        .filter_map(|(_, s)| match s {
            Source::Input(x) => Some(x.as_str()),
            Source::Step { .. } => None,
        })
        .collect();
    for (n, (_, span)) in &inputs.declared {
        if !read.contains(n.as_str()) {
            ctx.d.push(
                Diagnostic::warning(
                    *span,
                    format!("input `{n}` of program `{pname}` is never read"),
                )
                .label("unused"),
            );
        }
    }
}

/// The IR steps in run order, with their dependencies renumbered to match.
fn steps_in_order(
    steps: &[StepInfo],
    bound: Bound,
    order: &[usize],
    lm: &str,
) -> (Vec<Step>, Vec<Vec<usize>>) {
    let mut remap = vec![0; steps.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old] = new;
    }
    let mut ir_steps = Vec::new();
    let mut ir_deps = Vec::new();
    for &old in order {
        let st = &steps[old];
        // A tool step calls no model.
        let step_lm = match (&st.lm, st.module.is_predictor()) {
            (_, false) => String::new(),
            (Some(own), true) => own.clone(),
            (None, true) => lm.to_string(),
        };
        ir_steps.push(Step {
            name: st.name().to_string(),
            module: st.module.clone(),
            signature: st.sig.clone(),
            lm: step_lm,
            bindings: bound.sources[old].clone(),
        });
        let mut d: Vec<usize> = bound.deps[old].iter().map(|&j| remap[j]).collect();
        d.sort_unstable();
        ir_deps.push(d);
    }
    (ir_steps, ir_deps)
}

/// The signatures the program uses (once each, in run order), then the
/// program block, as written.
fn spec_text(ctx: &Ctx, item: &ProgramItem, steps: &[StepInfo], order: &[usize]) -> String {
    let mut sig_spans: Vec<Span> = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    for &i in order {
        let Some(span) = steps[i].sig_span else {
            continue;
        };
        if seen.insert(span.start) {
            sig_spans.push(span);
        }
    }
    let mut texts: Vec<&str> = sig_spans.iter().map(|s| ctx.text(*s)).collect();
    texts.push(ctx.text(item.span));
    texts.join("\n\n")
}

/// With no `lm`: the model named `default`, else the spec's only model.
fn default_model(ctx: &mut Ctx, item: &ProgramItem) -> Option<String> {
    if matches!(ctx.names.get("default"), Some((Kind::Model, _))) {
        ctx.used.insert("default".into());
        return Some("default".into());
    }
    let models = ctx.names_of(Kind::Model);
    match models {
        [only] => {
            let only = only.clone();
            ctx.used.insert(only.clone());
            Some(only)
        }
        [] => {
            ctx.d.push(
                Diagnostic::error(item.name.span, format!("program `{}` has no model to run on", item.name.name))
                    .label("no `lm`, and the spec declares no model")
                    .help("declare a model, e.g. `model fast { provider = \"openai\" model = \"gpt-4o-mini\" }`"),
            );
            None
        }
        many => {
            let help = format!(
                "the spec declares several models ({}): add `lm = {}` to the program, or name one model `default`",
                listing(many.iter().map(String::as_str)),
                many[0]
            );
            ctx.d.push(
                Diagnostic::error(
                    item.name.span,
                    format!(
                        "program `{}` does not say which model to use",
                        item.name.name
                    ),
                )
                .label("no `lm` here")
                .help(help),
            );
            None
        }
    }
}
