//! A program's outputs: `out NAME [= STEP.FIELD | input.NAME]`, or by
//! default every output of the step that runs last.

use super::super::Ctx;
use super::bind::unknown_output;
use super::inputs::Inputs;
use super::step::StepInfo;
use crate::compile::names::listing;
use crate::ir::Source;
use crate::syntax::ast::{Ident, ProgramEntry, dotted, dotted_span};
use crate::syntax::diagnostic::Diagnostic;
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};

/// What a program's outputs read from.
pub(super) struct Outputs<'a, 's> {
    pub pname: &'a str,
    pub steps: &'a [StepInfo<'s>],
    /// Step name -> index in `steps`.
    pub index: &'a IndexMap<String, usize>,
    pub inputs: &'a Inputs,
}

impl Outputs<'_, '_> {
    /// The program's outputs; `order` is the order steps run in.
    pub fn resolve(
        &self,
        ctx: &mut Ctx,
        entries: &[ProgramEntry],
        order: &[usize],
    ) -> Vec<(String, Source)> {
        let outs: Vec<(&Ident, &Option<Vec<Ident>>)> = entries
            .iter()
            .filter_map(|e| match e {
                ProgramEntry::Out { name, source, .. } => Some((name, source)),
                _ => None,
            })
            .collect();
        if outs.is_empty() {
            return self.last_step_outputs(order);
        }
        // Output name -> the last step (in declaration order) with it.
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (i, st) in self.steps.iter().enumerate() {
            latest.extend(st.outputs.keys().map(|n| (n.as_str(), i)));
        }
        let mut outputs: Vec<(String, Source)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for (name, source) in outs {
            if !seen.insert(&name.name) {
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
                Some(parts) => self.source(ctx, parts),
                None => self.by_name(ctx, name, &latest),
            };
            if let Some(s) = src {
                outputs.push((name.name.clone(), s));
            }
        }
        outputs
    }

    /// With no `out` lines: the outputs of the last step in execution
    /// order, the one nothing else waits for.
    fn last_step_outputs(&self, order: &[usize]) -> Vec<(String, Source)> {
        let last = &self.steps[*order.last().expect("at least one step")];
        last.sig
            .outputs
            .iter()
            .map(|f| {
                let source = Source::Step {
                    step: last.name().to_string(),
                    field: f.name.clone(),
                };
                (f.name.clone(), source)
            })
            .collect()
    }

    /// `out NAME`: the latest step with an output of that name.
    /// `latest` maps each output name to the last step that has it.
    fn by_name(
        &self,
        ctx: &mut Ctx,
        name: &Ident,
        latest: &HashMap<&str, usize>,
    ) -> Option<Source> {
        match latest.get(name.name.as_str()).map(|&i| &self.steps[i]) {
            Some(s) => Some(Source::Step {
                step: s.name().to_string(),
                field: name.name.clone(),
            }),
            None => {
                ctx.d.push(
                    Diagnostic::error(
                        name.span,
                        format!(
                            "no step of program `{}` outputs `{}`",
                            self.pname, name.name
                        ),
                    )
                    .label("nothing produces this")
                    .help(format!("write `out {} = STEP.FIELD`", name.name)),
                );
                None
            }
        }
    }

    /// `out NAME = STEP.FIELD` or `out NAME = input.NAME`.
    fn source(&self, ctx: &mut Ctx, parts: &[Ident]) -> Option<Source> {
        match parts {
            [inp, x] if inp.name == "input" => {
                if self.inputs.contains(&x.name) {
                    return Some(Source::Input(x.name.clone()));
                }
                ctx.d.push(
                    Diagnostic::error(x.span, format!("the program has no input `{}`", x.name))
                        .label("unknown input"),
                );
                None
            }
            [s, f] => self.step_output(ctx, s, f),
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

    /// `out NAME = s.f`: an output of a step of this program.
    fn step_output(&self, ctx: &mut Ctx, s: &Ident, f: &Ident) -> Option<Source> {
        let Some(&j) = self.index.get(&s.name) else {
            let steps = || self.index.keys().map(String::as_str);
            let help = ctx
                .suggest
                .did_you_mean(&s.name, steps())
                .unwrap_or_else(|| format!("steps: {}", listing(steps())));
            ctx.d.push(
                Diagnostic::error(s.span, format!("unknown step `{}`", s.name))
                    .label("no such step in this program")
                    .help(help),
            );
            return None;
        };
        let outs = &self.steps[j].outputs;
        if outs.contains_key(&f.name) {
            return Some(Source::Step {
                step: s.name.clone(),
                field: f.name.clone(),
            });
        }
        unknown_output(ctx, f, &s.name, outs);
        None
    }
}
