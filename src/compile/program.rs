//! `program NAME { .. }` -> [`ProgramGraph`]: steps, bindings, types, DAG order.

use super::signature::field_type;
use super::{Ctx, Kind};
use crate::ir::{Field, FieldType, ModuleKind, ProgramGraph, Signature, Source, Step};
use crate::syntax::ast::{
    Binding, Ident, ProgramBody, ProgramEntry, ProgramItem, Span, StepDecl, ValueKind, dotted,
    dotted_span,
};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;

struct StepInfo<'a> {
    decl: &'a StepDecl,
    module: ModuleKind,
    sig: Signature,
    sig_span: Span,
    lm: Option<String>,
}

impl StepInfo<'_> {
    fn outputs(&self) -> Vec<Field> {
        let mut out = Vec::new();
        if self.module == ModuleKind::ChainOfThought {
            out.push(Field {
                name: "reasoning".into(),
                ty: FieldType::String,
                description: None,
            });
        }
        out.extend(self.sig.outputs.iter().cloned());
        out
    }
}

/// Whether a value of type `src` may feed a field of type `dst`: equal types,
/// or any value into `string` (rendered as text) and `json`.
fn assignable(src: &FieldType, dst: &FieldType) -> bool {
    src == dst || matches!(dst, FieldType::String | FieldType::Json)
}

pub(super) fn compile(ctx: &mut Ctx, item: &ProgramItem) {
    let pname = &item.name.name;
    let errors_before = ctx.d.list.len();
    let shorthand;
    let entries: &[ProgramEntry] = match &item.body {
        ProgramBody::Block(e) => e,
        ProgramBody::Shorthand(call) => {
            shorthand = [ProgramEntry::Step(StepDecl {
                name: item.name.clone(),
                call: call.clone(),
                bindings: Vec::new(),
                span: call.span,
            })];
            &shorthand
        }
    };

    // The program's model.
    let mut lm_decl: Option<&Ident> = None;
    for e in entries {
        if let ProgramEntry::Lm { model, .. } = e {
            if let Some(first) = lm_decl {
                ctx.d.push(
                    Diagnostic::error(model.span, format!("program `{pname}` sets `lm` twice"))
                        .label("second `lm`")
                        .related(first.span, "first `lm`"),
                );
            } else {
                lm_decl = Some(model);
            }
        }
    }
    let lm = match lm_decl {
        Some(m) => ctx.resolve(m, Kind::Model).then(|| m.name.clone()),
        None => default_model(ctx, item),
    };

    // Declared inputs.
    let mut declared: IndexMap<String, (Field, Span)> = IndexMap::new();
    for e in entries {
        if let ProgramEntry::In { name, ty, desc, .. } = e {
            if let Some((_, first)) = declared.get(&name.name) {
                ctx.d.push(
                    Diagnostic::error(
                        name.span,
                        format!("input `{}` is declared twice", name.name),
                    )
                    .label("again")
                    .related(*first, "first declared here"),
                );
                continue;
            }
            let ty = match ty {
                Some(t) => match field_type(ctx, t) {
                    Some(t) => t,
                    None => continue,
                },
                None => FieldType::String,
            };
            let f = Field {
                name: name.name.clone(),
                ty,
                description: desc.as_ref().map(|d| d.value.clone()),
            };
            declared.insert(name.name.clone(), (f, name.span));
        }
    }
    let has_in = entries.iter().any(|e| matches!(e, ProgramEntry::In { .. }));

    // Steps.
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
        return;
    }
    if broken {
        return;
    }

    // Bindings.
    let index: IndexMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.decl.name.name.clone(), i))
        .collect();
    let mut inferred: IndexMap<String, (Field, Span)> = IndexMap::new();
    let mut bound: Vec<Vec<(String, Source)>> = Vec::new();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut dep_span: IndexMap<(usize, usize), Span> = IndexMap::new();
    for (i, st) in steps.iter().enumerate() {
        let mut explicit: IndexMap<&str, &Binding> = IndexMap::new();
        for b in &st.decl.bindings {
            if b.field.name == "lm" {
                continue;
            }
            if let Some(first) = explicit.get(b.field.name.as_str()) {
                ctx.d.push(
                    Diagnostic::error(b.field.span, format!("`{}` is bound twice", b.field.name))
                        .label("again")
                        .related(first.field.span, "first bound here"),
                );
                continue;
            }
            if !st.sig.inputs.iter().any(|f| f.name == b.field.name) {
                let names: Vec<&str> = st.sig.inputs.iter().map(|f| f.name.as_str()).collect();
                let outputs_have = st.sig.outputs.iter().any(|f| f.name == b.field.name);
                ctx.d.push(
                    Diagnostic::error(
                        b.field.span,
                        format!(
                            "signature `{}` has no input `{}`",
                            st.sig.name, b.field.name
                        ),
                    )
                    .label(if outputs_have {
                        "an output, not an input"
                    } else {
                        "not an input"
                    })
                    .related(st.sig_span, "signature used here")
                    .help(
                        did_you_mean(&b.field.name, names.iter().copied())
                            .unwrap_or_else(|| format!("its inputs: {}", names.join(", "))),
                    ),
                );
                continue;
            }
            explicit.insert(&b.field.name, b);
        }
        let mut list = Vec::new();
        for f in &st.sig.inputs {
            let source = if let Some(b) = explicit.get(f.name.as_str()) {
                explicit_source(
                    ctx,
                    &steps,
                    &index,
                    i,
                    f,
                    b,
                    has_in,
                    &declared,
                    &mut inferred,
                )
            } else {
                implicit_source(ctx, &steps, i, f, has_in, &declared, &mut inferred)
            };
            let Some(source) = source else { continue };
            if let Source::Step { step, .. } = &source {
                let j = index[step];
                if !deps[i].contains(&j) {
                    deps[i].push(j);
                    let span = explicit
                        .get(f.name.as_str())
                        .map(|b| b.span)
                        .unwrap_or(st.decl.name.span);
                    dep_span.insert((i, j), span);
                }
            }
            list.push((f.name.clone(), source));
        }
        bound.push(list);
    }
    if ctx.d.list[errors_before..].iter().any(Diagnostic::is_error) {
        return;
    }

    // Topological order, declaration order where free.
    let Some(order) = topo_order(&deps) else {
        let cycle = find_cycle(&deps);
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| steps[i].decl.name.name.as_str())
            .collect();
        let first = cycle[0];
        let next = cycle[1 % cycle.len()];
        let span = dep_span
            .get(&(first, next))
            .copied()
            .unwrap_or(steps[first].decl.span);
        ctx.d.push(
            Diagnostic::error(span, format!("the steps of program `{pname}` form a cycle: {} -> {}", names.join(" -> "), names[0]))
                .label("this binding closes the cycle")
                .help("a step can only read program inputs and the outputs of steps that do not depend on it"),
        );
        return;
    };

    // Outputs.
    let outs: Vec<(&Ident, &Option<Vec<Ident>>)> = entries
        .iter()
        .filter_map(|e| match e {
            ProgramEntry::Out { name, source, .. } => Some((name, source)),
            _ => None,
        })
        .collect();
    let mut outputs: Vec<(String, Source)> = Vec::new();
    if outs.is_empty() {
        // The last step in execution order: the one nothing else waits for.
        let last = &steps[*order.last().expect("at least one step")];
        for f in &last.sig.outputs {
            outputs.push((
                f.name.clone(),
                Source::Step {
                    step: last.decl.name.name.clone(),
                    field: f.name.clone(),
                },
            ));
        }
    }
    for (name, source) in outs {
        if outputs.iter().any(|(n, _)| n == &name.name) {
            ctx.d.push(
                Diagnostic::error(
                    name.span,
                    format!("output `{}` is declared twice", name.name),
                )
                .label("again"),
            );
            continue;
        }
        let src = match source {
            Some(parts) => out_source(ctx, &steps, &index, parts, has_in, &declared, &inferred),
            None => {
                let found = steps
                    .iter()
                    .rev()
                    .find(|s| s.outputs().iter().any(|f| f.name == name.name));
                match found {
                    Some(s) => Some(Source::Step {
                        step: s.decl.name.name.clone(),
                        field: name.name.clone(),
                    }),
                    None => {
                        ctx.d.push(
                            Diagnostic::error(
                                name.span,
                                format!("no step of program `{pname}` outputs `{}`", name.name),
                            )
                            .label("nothing produces this")
                            .help(format!("write `out {} = STEP.FIELD`", name.name)),
                        );
                        None
                    }
                }
            }
        };
        if let Some(s) = src {
            outputs.push((name.name.clone(), s));
        }
    }
    if ctx.d.list[errors_before..].iter().any(Diagnostic::is_error) {
        return;
    }
    let Some(lm) = lm else { return };
    if has_in {
        for (n, (_, span)) in &declared {
            let used = bound
                .iter()
                .flatten()
                .any(|(_, s)| matches!(s, Source::Input(x) if x == n))
                || outputs
                    .iter()
                    .any(|(_, s)| matches!(s, Source::Input(x) if x == n));
            if !used {
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
    let inputs: Vec<Field> = if has_in {
        declared.into_values().map(|(f, _)| f).collect()
    } else {
        inferred.into_values().map(|(f, _)| f).collect()
    };
    let mut remap = vec![0; steps.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old] = new;
    }
    let mut ir_steps = Vec::new();
    let mut ir_deps = Vec::new();
    let mut sig_spans: Vec<Span> = Vec::new();
    for &old in &order {
        let st = &steps[old];
        if !sig_spans.iter().any(|s| s.start == st.sig_span.start) {
            sig_spans.push(st.sig_span);
        }
        ir_steps.push(Step {
            name: st.decl.name.name.clone(),
            module: st.module.clone(),
            signature: st.sig.clone(),
            lm: st.lm.clone().unwrap_or_else(|| lm.clone()),
            bindings: bound[old].clone(),
        });
        let mut d: Vec<usize> = deps[old].iter().map(|&j| remap[j]).collect();
        d.sort_unstable();
        ir_deps.push(d);
    }
    let mut texts: Vec<&str> = sig_spans.iter().map(|s| ctx.text(*s)).collect();
    texts.push(ctx.text(item.span));
    let spec_text = texts.join("\n\n");
    ctx.spec.programs.insert(
        pname.clone(),
        ProgramGraph {
            name: pname.clone(),
            lm,
            inputs,
            steps: ir_steps,
            outputs,
            deps: ir_deps,
            spec_text,
        },
    );
}

fn default_model(ctx: &mut Ctx, item: &ProgramItem) -> Option<String> {
    let models = ctx.names_of(Kind::Model);
    if models.iter().any(|m| m == "default") {
        ctx.used.insert("default".into());
        return Some("default".into());
    }
    match models.as_slice() {
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
            ctx.d.push(
                Diagnostic::error(item.name.span, format!("program `{}` does not say which model to use", item.name.name))
                    .label("no `lm` here")
                    .help(format!(
                        "the spec declares several models ({}): add `lm = {}` to the program, or name one model `default`",
                        many.join(", "),
                        many[0]
                    )),
            );
            None
        }
    }
}

fn step_info<'a>(ctx: &mut Ctx, s: &'a StepDecl) -> Option<StepInfo<'a>> {
    let m = &s.call.module;
    let module = match m.as_slice() {
        [one] if one.name == "predict" => ModuleKind::Predict,
        [one] if one.name == "chain_of_thought" => ModuleKind::ChainOfThought,
        [one] => {
            ctx.d.push(
                Diagnostic::error(one.span, format!("unknown module `{}`", one.name))
                    .label("not a module")
                    .help(
                        did_you_mean(&one.name, ["predict", "chain_of_thought"]).unwrap_or_else(
                            || "modules: predict(Signature), chain_of_thought(Signature)".into(),
                        ),
                    ),
            );
            return None;
        }
        [plugin, _] => {
            if ctx.resolve(plugin, Kind::Plugin) {
                ctx.d.push(
                    Diagnostic::error(
                        dotted_span(m),
                        format!("plugin tool steps (`{}`) are not supported yet", dotted(m)),
                    )
                    .label("reserved for a later version")
                    .help("steps can be `predict(Signature)` or `chain_of_thought(Signature)`"),
                );
            }
            return None;
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(dotted_span(m), format!("`{}` is not a module", dotted(m)))
                    .label("not a module")
                    .help("steps can be `predict(Signature)` or `chain_of_thought(Signature)`"),
            );
            return None;
        }
    };
    let sig_id = match s.call.args.as_slice() {
        [v] => match &v.kind {
            ValueKind::Name(p) if p.len() == 1 => p[0].clone(),
            _ => {
                ctx.d.push(
                    Diagnostic::error(
                        v.span,
                        format!(
                            "`{}` takes a signature name, found {}",
                            m[0].name,
                            v.kind.describe()
                        ),
                    )
                    .label("expected a signature name")
                    .help("declare `signature Name { .. }` and write `predict(Name)`"),
                );
                return None;
            }
        },
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    s.call.span,
                    format!("`{}` takes exactly one signature", m[0].name),
                )
                .label(format!("{} arguments", s.call.args.len()))
                .help(format!("write `{}(SignatureName)`", m[0].name)),
            );
            return None;
        }
    };
    if !ctx.resolve(&sig_id, Kind::Signature) {
        return None;
    }
    let sig = ctx.spec.signatures.get(&sig_id.name)?.clone();
    let sig_span = *ctx.item_spans.get(&sig_id.name)?;
    if module == ModuleKind::ChainOfThought && sig.outputs.iter().any(|f| f.name == "reasoning") {
        ctx.d.push(
            Diagnostic::error(
                sig_id.span,
                format!("signature `{}` has an output named `reasoning`", sig.name),
            )
            .label("clashes with chain_of_thought's own `reasoning` output")
            .help("rename that output, or use `predict`"),
        );
        return None;
    }
    let mut lm = None;
    let mut lm_seen = false;
    for b in &s.bindings {
        if b.field.name != "lm" {
            continue;
        }
        if lm_seen {
            ctx.d.push(
                Diagnostic::error(b.field.span, "`lm` is set twice for this step").label("again"),
            );
            return None;
        }
        lm_seen = true;
        match b.source.as_slice() {
            [id] if ctx.resolve(id, Kind::Model) => lm = Some(id.name.clone()),
            [_] => return None,
            _ => {
                ctx.d.push(
                    Diagnostic::error(dotted_span(&b.source), "`lm` expects a model name")
                        .label("not a model name")
                        .help("write `lm = MODEL`"),
                );
                return None;
            }
        }
    }
    Some(StepInfo {
        decl: s,
        module,
        sig,
        sig_span,
        lm,
    })
}

#[allow(clippy::too_many_arguments)]
fn explicit_source(
    ctx: &mut Ctx,
    steps: &[StepInfo],
    index: &IndexMap<String, usize>,
    i: usize,
    target: &Field,
    b: &Binding,
    has_in: bool,
    declared: &IndexMap<String, (Field, Span)>,
    inferred: &mut IndexMap<String, (Field, Span)>,
) -> Option<Source> {
    let span = dotted_span(&b.source);
    match b.source.as_slice() {
        [inp, x] if inp.name == "input" => input_source(
            ctx,
            target,
            x,
            has_in,
            declared,
            inferred,
            steps[i].decl.name.name.as_str(),
        ),
        [s, f] => {
            let Some(&j) = index.get(&s.name) else {
                let names: Vec<&str> = index.keys().map(String::as_str).chain(["input"]).collect();
                ctx.d.push(
                    Diagnostic::error(s.span, format!("unknown step `{}`", s.name))
                        .label("no such step in this program")
                        .help(
                            did_you_mean(&s.name, names.iter().copied())
                                .unwrap_or_else(|| "bind to `input.NAME` or `STEP.FIELD`".into()),
                        ),
                );
                return None;
            };
            if j == i {
                ctx.d.push(
                    Diagnostic::error(span, format!("step `{}` reads its own output", s.name))
                        .label("a step cannot feed itself")
                        .help("bind to a program input or to another step's output"),
                );
                return None;
            }
            let outs = steps[j].outputs();
            let Some(of) = outs.iter().find(|o| o.name == f.name) else {
                let names: Vec<&str> = outs.iter().map(|o| o.name.as_str()).collect();
                unknown_output(ctx, f, &s.name, &names);
                return None;
            };
            if !assignable(&of.ty, &target.ty) {
                type_mismatch(
                    ctx,
                    span,
                    &format!("{}.{}", s.name, f.name),
                    &of.ty,
                    target,
                    steps[i].decl.name.name.as_str(),
                );
                return None;
            }
            Some(Source::Step {
                step: s.name.clone(),
                field: f.name.clone(),
            })
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    span,
                    format!("cannot bind `{}` to `{}`", b.field.name, dotted(&b.source)),
                )
                .label("expected `input.NAME` or `STEP.FIELD`")
                .help(format!("e.g. `{} = input.{}`", b.field.name, b.field.name)),
            );
            None
        }
    }
}

fn input_source(
    ctx: &mut Ctx,
    target: &Field,
    x: &Ident,
    has_in: bool,
    declared: &IndexMap<String, (Field, Span)>,
    inferred: &mut IndexMap<String, (Field, Span)>,
    step: &str,
) -> Option<Source> {
    if has_in {
        let Some((f, _)) = declared.get(&x.name) else {
            ctx.d.push(
                Diagnostic::error(x.span, format!("the program has no input `{}`", x.name))
                    .label("not declared with `in`")
                    .help(
                        did_you_mean(&x.name, declared.keys().map(String::as_str)).unwrap_or_else(
                            || format!("declare it: `in {}: {}`", x.name, target.ty),
                        ),
                    ),
            );
            return None;
        };
        if !assignable(&f.ty, &target.ty) {
            type_mismatch(
                ctx,
                x.span,
                &format!("input.{}", x.name),
                &f.ty,
                target,
                step,
            );
            return None;
        }
    } else {
        infer_input(ctx, &x.name, x.span, target, inferred, step)?;
    }
    Some(Source::Input(x.name.clone()))
}

fn infer_input(
    ctx: &mut Ctx,
    name: &str,
    span: Span,
    target: &Field,
    inferred: &mut IndexMap<String, (Field, Span)>,
    step: &str,
) -> Option<()> {
    match inferred.get(name) {
        Some((f, first)) if f.ty != target.ty => {
            let first = *first;
            let ty = f.ty.clone();
            ctx.d.push(
                Diagnostic::error(
                    span,
                    format!(
                        "program input `{name}` is used as {} and as {ty}",
                        target.ty
                    ),
                )
                .label(format!("step `{step}` reads it as {}", target.ty))
                .related(first, format!("read as {ty} here"))
                .help(format!("declare it with one type: `in {name}: {ty}`")),
            );
            None
        }
        Some(_) => Some(()),
        None => {
            let f = Field {
                name: name.to_string(),
                ty: target.ty.clone(),
                description: target.description.clone(),
            };
            inferred.insert(name.to_string(), (f, span));
            Some(())
        }
    }
}

fn implicit_source(
    ctx: &mut Ctx,
    steps: &[StepInfo],
    i: usize,
    target: &Field,
    has_in: bool,
    declared: &IndexMap<String, (Field, Span)>,
    inferred: &mut IndexMap<String, (Field, Span)>,
) -> Option<Source> {
    let st = &steps[i];
    let step_name = st.decl.name.name.as_str();
    for j in (0..i).rev() {
        if let Some(of) = steps[j].outputs().iter().find(|o| o.name == target.name) {
            let producer = steps[j].decl.name.name.clone();
            if !assignable(&of.ty, &target.ty) {
                type_mismatch(
                    ctx,
                    st.decl.name.span,
                    &format!("{producer}.{}", of.name),
                    &of.ty,
                    target,
                    step_name,
                );
                return None;
            }
            return Some(Source::Step {
                step: producer,
                field: target.name.clone(),
            });
        }
    }
    if has_in {
        match declared.get(&target.name) {
            Some((f, _)) => {
                if !assignable(&f.ty, &target.ty) {
                    type_mismatch(
                        ctx,
                        st.decl.name.span,
                        &format!("input.{}", f.name),
                        &f.ty,
                        target,
                        step_name,
                    );
                    return None;
                }
                Some(Source::Input(target.name.clone()))
            }
            None => {
                ctx.d.push(
                    Diagnostic::error(
                        st.decl.name.span,
                        format!("input `{}` of step `{step_name}` is not bound", target.name),
                    )
                    .label("unbound input")
                    .help(format!(
                        "bind it (`{{ {n} = input.x }}` or `{{ {n} = STEP.FIELD }}`) or declare `in {n}: {}`",
                        target.ty,
                        n = target.name
                    )),
                );
                None
            }
        }
    } else {
        infer_input(
            ctx,
            &target.name,
            st.decl.name.span,
            target,
            inferred,
            step_name,
        )?;
        Some(Source::Input(target.name.clone()))
    }
}

fn out_source(
    ctx: &mut Ctx,
    steps: &[StepInfo],
    index: &IndexMap<String, usize>,
    parts: &[Ident],
    has_in: bool,
    declared: &IndexMap<String, (Field, Span)>,
    inferred: &IndexMap<String, (Field, Span)>,
) -> Option<Source> {
    match parts {
        [inp, x] if inp.name == "input" => {
            let known = if has_in {
                declared.contains_key(&x.name)
            } else {
                inferred.contains_key(&x.name)
            };
            if known {
                Some(Source::Input(x.name.clone()))
            } else {
                ctx.d.push(
                    Diagnostic::error(x.span, format!("the program has no input `{}`", x.name))
                        .label("unknown input"),
                );
                None
            }
        }
        [s, f] => {
            let Some(&j) = index.get(&s.name) else {
                ctx.d.push(
                    Diagnostic::error(s.span, format!("unknown step `{}`", s.name))
                        .label("no such step in this program")
                        .help(
                            did_you_mean(&s.name, index.keys().map(String::as_str)).unwrap_or_else(
                                || {
                                    format!(
                                        "steps: {}",
                                        index.keys().cloned().collect::<Vec<_>>().join(", ")
                                    )
                                },
                            ),
                        ),
                );
                return None;
            };
            let outs = steps[j].outputs();
            if outs.iter().any(|o| o.name == f.name) {
                Some(Source::Step {
                    step: s.name.clone(),
                    field: f.name.clone(),
                })
            } else {
                let names: Vec<&str> = outs.iter().map(|o| o.name.as_str()).collect();
                unknown_output(ctx, f, &s.name, &names);
                None
            }
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    dotted_span(parts),
                    format!("cannot read `{}`", dotted(parts)),
                )
                .label("expected `STEP.FIELD` or `input.NAME`"),
            );
            None
        }
    }
}

fn type_mismatch(
    ctx: &mut Ctx,
    span: Span,
    from: &str,
    src: &FieldType,
    target: &Field,
    step: &str,
) {
    ctx.d.push(
        Diagnostic::error(
            span,
            format!(
                "type mismatch: `{from}` is {src}, but `{step}` expects `{}: {}`",
                target.name, target.ty
            ),
        )
        .label(format!("{src} here"))
        .help("change one of the types; any type may feed a `string` or `json` field"),
    );
}

/// Kahn's algorithm, always taking the lowest declaration index that is ready.
fn topo_order(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = deps.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]))?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

/// A cycle in a graph known to have one, as a list of nodes (each reads the next).
fn find_cycle(deps: &[Vec<usize>]) -> Vec<usize> {
    // Walk dependency edges from a node on a cycle until a node repeats.
    let n = deps.len();
    let mut alive = vec![true; n];
    // Peel nodes that cannot be on a cycle (no live deps), repeatedly.
    loop {
        let mut changed = false;
        for i in 0..n {
            if alive[i] && !deps[i].iter().any(|&j| alive[j]) {
                alive[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let start = (0..n).find(|&i| alive[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let Some(&next) = deps[cur].iter().filter(|&&j| alive[j]).min() else {
            return path;
        };
        if let Some(p) = path.iter().position(|&x| x == next) {
            return path[p..].to_vec();
        }
        path.push(next);
        cur = next;
    }
}

/// `step.field` names an output the step does not have.
fn unknown_output(ctx: &mut Ctx, field: &Ident, step: &str, outputs: &[&str]) {
    ctx.d.push(
        Diagnostic::error(
            field.span,
            format!("step `{step}` has no output `{}`", field.name),
        )
        .label("unknown field")
        .help(
            did_you_mean(&field.name, outputs.iter().copied())
                .unwrap_or_else(|| format!("its outputs: {}", outputs.join(", "))),
        ),
    );
}
