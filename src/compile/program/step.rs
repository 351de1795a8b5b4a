//! One `step NAME = module(Signature) { .. }` line: its module, signature and model.

use super::super::{Ctx, Kind};
use super::assignable;
use super::search::{SEARCH_MODULE, search_step};
use super::tool::tool_step;
use crate::ir::{Field, FieldType, ModuleKind, REASONING_FIELD, Signature};
use crate::syntax::ast::{Binding, Ident, Span, StepDecl, ValueKind, dotted, dotted_span};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;

/// A step whose call checked out, before its inputs are bound.
pub(super) struct StepInfo<'a> {
    /// The step line as written.
    pub decl: &'a StepDecl,
    /// `predict`, `chain_of_thought` or `search`.
    pub module: ModuleKind,
    /// The signature it runs, as declared (a tool step's built-in one).
    pub sig: Signature,
    /// The whole signature item (for related labels and `spec_text`); none
    /// for a tool step.
    pub sig_span: Option<Span>,
    /// The step's own `lm = MODEL`, if any.
    pub lm: Option<String>,
    /// What later steps and program outputs may read: the LM outputs
    /// (`reasoning` first for chain_of_thought), as the runtime produces
    /// them, by name (bindings look them up one by one).
    pub outputs: IndexMap<String, Field>,
    /// Its `{ field = source }` bindings, and for a tool step the sources
    /// given as call arguments (`query = q.query`).
    pub bindings: Vec<Binding>,
}

impl StepInfo<'_> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.decl.name.name
    }

    /// Whether a value of type `src` may feed this step's input of type
    /// `dst`: a predictor renders any value as text; a tool step takes
    /// exactly its types (a search query is a string, not a list).
    pub fn accepts(&self, src: &FieldType, dst: &FieldType) -> bool {
        if self.module.is_predictor() {
            assignable(src, dst)
        } else {
            src == dst
        }
    }
}

/// A named call argument as a binding of its field to a source such as
/// `step.field`; anything else is an error at the value, saying what the
/// argument expects (`expects`) and how to write it (`help`).
pub(super) fn source_binding(
    ctx: &mut Ctx,
    arg: &crate::syntax::ast::NamedArg,
    expects: &str,
    help: &str,
) -> Option<Binding> {
    match &arg.value.kind {
        ValueKind::Name(parts) => Some(Binding {
            field: arg.name.clone(),
            source: parts.clone(),
            span: arg.span,
        }),
        other => {
            ctx.d.push(
                Diagnostic::error(
                    arg.value.span,
                    format!(
                        "{expects} a source such as `step.field`, found {}",
                        other.describe()
                    ),
                )
                .label("not a source")
                .help(help.to_string()),
            );
            None
        }
    }
}
/// A step's outputs keyed by name (bindings look them up one by one).
pub(super) fn outputs_by_name(fields: Vec<Field>) -> IndexMap<String, Field> {
    fields.into_iter().map(|f| (f.name.clone(), f)).collect()
}

/// Checks a step's call and its `lm`; None (with diagnostics) when it is unusable.
pub(super) fn step_info<'a>(ctx: &mut Ctx, s: &'a StepDecl) -> Option<StepInfo<'a>> {
    if matches!(s.call.module.as_slice(), [one] if one.name == SEARCH_MODULE) {
        no_config(ctx, s)?;
        return search_step(ctx, s);
    }
    if let [plugin, item] = s.call.module.as_slice() {
        return tool_step(ctx, s, plugin, item);
    }
    no_config(ctx, s)?;
    let module = module_kind(ctx, &s.call.module)?;
    if let Some(arg) = s.call.named.first() {
        ctx.d.push(
            Diagnostic::error(
                arg.span,
                format!("`{}` takes no named arguments", dotted(&s.call.module)),
            )
            .label("unexpected argument")
            .help("bind inputs in braces after the call: `{ question = input.question }`"),
        );
        return None;
    }
    let sig_id = signature_arg(ctx, s)?;
    if !ctx.resolve(&sig_id, Kind::Signature) {
        return None;
    }
    let sig = ctx.spec.signatures.get(&sig_id.name)?.clone();
    let sig_span = *ctx.item_spans.get(&sig_id.name)?;
    if module == ModuleKind::ChainOfThought && sig.outputs.iter().any(|f| f.name == REASONING_FIELD)
    {
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
    let lm = step_lm(ctx, s)?;
    let outputs = outputs_by_name(module.lm_outputs(&sig));
    Some(StepInfo {
        decl: s,
        module,
        sig,
        sig_span: Some(sig_span),
        lm,
        outputs,
        bindings: s.bindings.clone(),
    })
}

/// A `{ .. }` after a built-in module must hold bindings (`field = source`);
/// only plugin tools take a config.
fn no_config(ctx: &mut Ctx, s: &StepDecl) -> Option<()> {
    let Some(entries) = &s.config else {
        return Some(());
    };
    let at = entries.first().map_or(s.span, |e| e.span);
    ctx.d.push(
        Diagnostic::error(
            at,
            "the braces after a module hold bindings `field = source`",
        )
        .label("not a binding")
        .help("bind inputs as `{ question = input.question }`; only plugin tools take a config"),
    );
    None
}

/// `predict` or `chain_of_thought` (`search` is handled by `search.rs`,
/// plugin tools by `tool.rs`).
fn module_kind(ctx: &mut Ctx, m: &[Ident]) -> Option<ModuleKind> {
    match m {
        [one] if one.name == "predict" => Some(ModuleKind::Predict),
        [one] if one.name == "chain_of_thought" => Some(ModuleKind::ChainOfThought),
        [one] => {
            ctx.d.push(
                Diagnostic::error(one.span, format!("unknown module `{}`", one.name))
                    .label("not a module")
                    .help(
                        did_you_mean(&one.name, ["predict", "chain_of_thought", SEARCH_MODULE])
                            .unwrap_or_else(|| {
                                "modules: predict(Signature), chain_of_thought(Signature), search(corpus, query = ..)".into()
                            }),
                    ),
            );
            None
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(dotted_span(m), format!("`{}` is not a module", dotted(m)))
                    .label("not a module")
                    .help("steps can be `predict(Signature)` or `chain_of_thought(Signature)`"),
            );
            None
        }
    }
}

/// The one signature name a module call takes.
fn signature_arg(ctx: &mut Ctx, s: &StepDecl) -> Option<Ident> {
    let module = &s.call.module[0].name;
    match s.call.args.as_slice() {
        [v] => match &v.kind {
            ValueKind::Name(p) if p.len() == 1 => Some(p[0].clone()),
            _ => {
                ctx.d.push(
                    Diagnostic::error(
                        v.span,
                        format!(
                            "`{module}` takes a signature name, found {}",
                            v.kind.describe()
                        ),
                    )
                    .label("expected a signature name")
                    .help("declare `signature Name { .. }` and write `predict(Name)`"),
                );
                None
            }
        },
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    s.call.span,
                    format!("`{module}` takes exactly one signature"),
                )
                .label(format!("{} arguments", s.call.args.len()))
                .help(format!("write `{module}(SignatureName)`")),
            );
            None
        }
    }
}

/// The step's own `lm = MODEL`: Some(None) when it has none, None when it is wrong.
fn step_lm(ctx: &mut Ctx, s: &StepDecl) -> Option<Option<String>> {
    let mut lm = None;
    let mut lm_seen = false;
    for b in s.bindings.iter().filter(|b| b.field.name == "lm") {
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
    Some(lm)
}
