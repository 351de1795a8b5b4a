//! Binding every step input to a program input or an earlier step's output.

use super::super::Ctx;
use super::inputs::Inputs;
use super::step::StepInfo;
use crate::compile::names::listing;
use crate::ir::{Field, FieldType, ModuleKind, REASONING_FIELD, Source};
use crate::syntax::ast::{Binding, Ident, Span, dotted, dotted_span};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};

/// Where every step input comes from, and the step DAG that follows.
pub(super) struct Bound {
    /// Per step (declaration order): each signature input and its source.
    pub sources: Vec<Vec<(String, Source)>>,
    /// Per step: the steps it reads from, in the order first read.
    pub deps: Vec<Vec<usize>>,
    /// The binding that makes step `i` read step `j`: where a cycle is reported.
    pub dep_span: IndexMap<(usize, usize), Span>,
}

/// Binds every input of every step: explicitly (`{ x = STEP.FIELD }`), else
/// by name to the latest earlier step with that output, else to a program
/// input. Errors are reported; the inputs that failed are left out.
pub(super) fn bind_steps(
    ctx: &mut Ctx,
    steps: &[StepInfo],
    index: &IndexMap<String, usize>,
    inputs: &mut Inputs,
) -> Bound {
    let mut producers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, st) in steps.iter().enumerate() {
        for name in st.outputs.keys() {
            producers.entry(name).or_default().push(i);
        }
    }
    let mut binder = Binder {
        steps,
        index,
        producers,
        inputs,
    };
    let mut bound = Bound {
        sources: Vec::new(),
        deps: vec![Vec::new(); steps.len()],
        dep_span: IndexMap::new(),
    };
    for (i, st) in steps.iter().enumerate() {
        let explicit = explicit_bindings(ctx, st);
        let mut list = Vec::new();
        for f in &st.sig.inputs {
            let source = match explicit.get(f.name.as_str()) {
                Some(b) => binder.explicit(ctx, i, f, b),
                None => binder.implicit(ctx, i, f),
            };
            let Some(source) = source else { continue };
            if let Source::Step { step, .. } = &source {
                let j = index[step];
                if !bound.dep_span.contains_key(&(i, j)) {
                    bound.deps[i].push(j);
                    let span = explicit
                        .get(f.name.as_str())
                        .map(|b| b.span)
                        .unwrap_or(st.decl.name.span);
                    bound.dep_span.insert((i, j), span);
                }
            }
            list.push((f.name.clone(), source));
        }
        bound.sources.push(list);
    }
    bound
}

/// A step's `{ field = source }` bindings by field (`lm` aside), each naming
/// an input of its signature once.
fn explicit_bindings<'s>(ctx: &mut Ctx, st: &'s StepInfo) -> IndexMap<&'s str, &'s Binding> {
    let mut explicit: IndexMap<&str, &Binding> = IndexMap::new();
    let inputs: HashSet<&str> = st.sig.inputs.iter().map(|f| f.name.as_str()).collect();
    for b in &st.bindings {
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
        if !inputs.contains(b.field.name.as_str()) {
            let names = || st.sig.inputs.iter().map(|f| f.name.as_str());
            // `outputs` adds chain_of_thought's own `reasoning` to the signature's.
            let added = st.module == ModuleKind::ChainOfThought && b.field.name == REASONING_FIELD;
            let outputs_have = st.outputs.contains_key(&b.field.name) && !added;
            let help = ctx
                .suggest
                .did_you_mean(&b.field.name, names())
                .unwrap_or_else(|| format!("its inputs: {}", listing(names())));
            let mut d = Diagnostic::error(
                b.field.span,
                match st.module {
                    ModuleKind::Tool(_) => {
                        format!("tool `{}` has no input `{}`", st.sig.name, b.field.name)
                    }
                    _ => format!(
                        "signature `{}` has no input `{}`",
                        st.sig.name, b.field.name
                    ),
                },
            )
            .label(if outputs_have {
                "an output, not an input"
            } else {
                "not an input"
            });
            if let Some(span) = st.sig_span {
                d = d.related(span, "signature used here");
            }
            ctx.d.push(d.help(help));
            continue;
        }
        explicit.insert(&b.field.name, b);
    }
    explicit
}

/// What binding needs to see: the program's steps and its inputs.
struct Binder<'a, 's> {
    steps: &'a [StepInfo<'s>],
    /// Step name -> index in `steps`.
    index: &'a IndexMap<String, usize>,
    /// Output name -> the steps with that output, in declaration order.
    producers: HashMap<&'a str, Vec<usize>>,
    inputs: &'a mut Inputs,
}

impl Binder<'_, '_> {
    /// `{ target = input.x }` or `{ target = STEP.FIELD }` on step `i`.
    fn explicit(&mut self, ctx: &mut Ctx, i: usize, target: &Field, b: &Binding) -> Option<Source> {
        let span = dotted_span(&b.source);
        // A copy of the slice reference, so the name outlives borrows of self.
        match b.source.as_slice() {
            [inp, x] if inp.name == "input" => self.input(ctx, target, x, i),
            [s, f] => self.step_output(ctx, i, target, s, f, span),
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

    /// `{ target = s.f }` on step `i`: an output of another step, of a type
    /// that fits.
    fn step_output(
        &mut self,
        ctx: &mut Ctx,
        i: usize,
        target: &Field,
        s: &Ident,
        f: &Ident,
        span: Span,
    ) -> Option<Source> {
        let Some(&j) = self.index.get(&s.name) else {
            let names = self.index.keys().map(String::as_str).chain(["input"]);
            let help = match ctx.suggest.afford(self.index.len() + 1) {
                true => did_you_mean(&s.name, names),
                false => None,
            };
            ctx.d.push(
                Diagnostic::error(s.span, format!("unknown step `{}`", s.name))
                    .label("no such step in this program")
                    .help(help.unwrap_or_else(|| "bind to `input.NAME` or `STEP.FIELD`".into())),
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
        let outs = &self.steps[j].outputs;
        let Some(of) = outs.get(&f.name) else {
            unknown_output(ctx, f, &s.name, outs);
            return None;
        };
        if !self.steps[i].accepts(&of.ty, &target.ty) {
            let from = format!("{}.{}", s.name, f.name);
            type_mismatch(ctx, span, &from, &of.ty, target, &self.steps[i]);
            return None;
        }
        Some(Source::Step {
            step: s.name.clone(),
            field: f.name.clone(),
        })
    }

    /// `{ target = input.x }` on step `i`.
    fn input(&mut self, ctx: &mut Ctx, target: &Field, x: &Ident, i: usize) -> Option<Source> {
        let steps = self.steps;
        let step = &steps[i];
        if self.inputs.declares {
            let Some((f, _)) = self.inputs.declared.get(&x.name) else {
                let declared = self.inputs.declared.keys().map(String::as_str);
                let help = ctx
                    .suggest
                    .did_you_mean(&x.name, declared)
                    .unwrap_or_else(|| format!("declare it: `in {}: {}`", x.name, target.ty));
                ctx.d.push(
                    Diagnostic::error(x.span, format!("the program has no input `{}`", x.name))
                        .label("not declared with `in`")
                        .help(help),
                );
                return None;
            };
            if !step.accepts(&f.ty, &target.ty) {
                let from = format!("input.{}", x.name);
                type_mismatch(ctx, x.span, &from, &f.ty, target, step);
                return None;
            }
        } else {
            self.inputs
                .infer(ctx, &x.name, x.span, target, step.name())?;
        }
        Some(Source::Input(x.name.clone()))
    }

    /// An input of step `i` with no binding: the latest earlier step with
    /// an output of that name, else the program input of that name.
    fn implicit(&mut self, ctx: &mut Ctx, i: usize, target: &Field) -> Option<Source> {
        let steps = self.steps;
        let st = &steps[i];
        let step_name = st.name();
        let at = st.decl.name.span;
        let before_i = self.producers.get(target.name.as_str()).and_then(|js| {
            let earlier = js.partition_point(|&j| j < i);
            earlier.checked_sub(1).map(|k| js[k])
        });
        if let Some(j) = before_i {
            let producer = &steps[j];
            let of = &producer.outputs[&target.name];
            if !st.accepts(&of.ty, &target.ty) {
                let from = format!("{}.{}", producer.name(), of.name);
                type_mismatch(ctx, at, &from, &of.ty, target, st);
                return None;
            }
            return Some(Source::Step {
                step: producer.name().to_string(),
                field: target.name.clone(),
            });
        }
        if !self.inputs.declares {
            self.inputs
                .infer(ctx, &target.name, at, target, step_name)?;
            return Some(Source::Input(target.name.clone()));
        }
        let Some((f, _)) = self.inputs.declared.get(&target.name) else {
            ctx.d.push(
                Diagnostic::error(
                    at,
                    format!("input `{}` of step `{step_name}` is not bound", target.name),
                )
                .label("unbound input")
                .help(match &st.module {
                    ModuleKind::Tool(call) => format!(
                        "bind it in the call (`{}.{}({n} = STEP.FIELD)`) or declare `in {n}: {}`",
                        call.item.plugin,
                        call.item.item,
                        target.ty,
                        n = target.name
                    ),
                    _ => format!(
                        "bind it (`{{ {n} = input.x }}` or `{{ {n} = STEP.FIELD }}`) or declare `in {n}: {}`",
                        target.ty,
                        n = target.name
                    ),
                }),
            );
            return None;
        };
        if !st.accepts(&f.ty, &target.ty) {
            let from = format!("input.{}", f.name);
            type_mismatch(ctx, at, &from, &f.ty, target, st);
            return None;
        }
        Some(Source::Input(target.name.clone()))
    }
}

/// A value of type `src` cannot feed `target` of step `step`.
fn type_mismatch(
    ctx: &mut Ctx,
    span: Span,
    from: &str,
    src: &FieldType,
    target: &Field,
    step: &StepInfo,
) {
    let help = if step.module.is_predictor() {
        "change one of the types; any type may feed a `string` or `json` field".to_string()
    } else {
        format!(
            "`{}` takes exactly `{}: {}`; bind it to a value of that type",
            step.name(),
            target.name,
            target.ty
        )
    };
    ctx.d.push(
        Diagnostic::error(
            span,
            format!(
                "type mismatch: `{from}` is {src}, but `{}` expects `{}: {}`",
                step.name(),
                target.name,
                target.ty
            ),
        )
        .label(format!("{src} here"))
        .help(help),
    );
}

/// `step.field` names an output the step does not have.
pub(super) fn unknown_output(
    ctx: &mut Ctx,
    field: &Ident,
    step: &str,
    outputs: &IndexMap<String, Field>,
) {
    let names = || outputs.keys().map(String::as_str);
    let help = ctx
        .suggest
        .did_you_mean(&field.name, names())
        .unwrap_or_else(|| format!("its outputs: {}", listing(names())));
    ctx.d.push(
        Diagnostic::error(
            field.span,
            format!("step `{step}` has no output `{}`", field.name),
        )
        .label("unknown field")
        .help(help),
    );
}
