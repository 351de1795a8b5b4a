//! `step hits = search(corpus, query = step.field, k = N)`: a built-in tool
//! step. Its fields are [`search_signature`]; the `query = ..` argument is a
//! binding like `{ query = .. }`, and `k` is checked here.

use super::super::{Ctx, Kind};
use super::step::{StepInfo, outputs_by_name, source_binding};
use crate::ir::defaults::{SEARCH_K, SEARCH_MAX_K};
use crate::ir::{ModuleKind, SEARCH_QUERY_FIELD, SearchCall, search_signature};
use crate::syntax::ast::{Binding, StepDecl, ValueKind};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};

/// The module name of the built-in retrieval step.
pub(super) const SEARCH_MODULE: &str = "search";

/// The named arguments `search` takes.
const ARGS: [&str; 2] = [SEARCH_QUERY_FIELD, "k"];

/// Checks a `search(..)` step; None (with diagnostics) when it is unusable.
pub(super) fn search_step<'a>(ctx: &mut Ctx, s: &'a StepDecl) -> Option<StepInfo<'a>> {
    let corpus = corpus_arg(ctx, s);
    let mut k = Some(SEARCH_K);
    let mut bindings: Vec<Binding> = s.bindings.clone();
    let mut ok = true;
    for arg in &s.call.named {
        match arg.name.name.as_str() {
            "k" => {
                k = ctx
                    .d
                    .int(&arg.value, "k", 1, SEARCH_MAX_K as i128)
                    .map(|n| n as usize);
            }
            SEARCH_QUERY_FIELD => match source_binding(
                ctx,
                arg,
                "`query` expects",
                "write `query = input.question` or `query = STEP.FIELD`",
            ) {
                Some(b) => bindings.push(b),
                None => ok = false,
            },
            other => {
                ctx.d.push(
                    Diagnostic::error(arg.name.span, format!("`search` has no argument `{other}`"))
                        .label("unknown argument")
                        .help(did_you_mean(other, ARGS).unwrap_or_else(|| {
                            "write `search(corpus, query = STEP.FIELD, k = 3)`".into()
                        })),
                );
                ok = false;
            }
        }
    }
    if let Some(lm) = s.bindings.iter().find(|b| b.field.name == "lm") {
        ctx.d.push(
            Diagnostic::error(lm.field.span, "a `search` step calls no model")
                .label("`lm` does not apply")
                .help("remove `lm = ..`: retrieval is not an LM call"),
        );
        ok = false;
    }
    let (corpus, k) = (corpus?, k?);
    let module = ModuleKind::Search(SearchCall { corpus, k });
    let sig = search_signature();
    ok.then(|| StepInfo {
        decl: s,
        outputs: outputs_by_name(module.lm_outputs(&sig)),
        module,
        sig,
        sig_span: None,
        lm: None,
        bindings: bindings
            .into_iter()
            .filter(|b| b.field.name != "lm")
            .collect(),
    })
}

/// The one positional argument: a `corpus` item.
fn corpus_arg(ctx: &mut Ctx, s: &StepDecl) -> Option<String> {
    let help = "write `search(CORPUS, query = STEP.FIELD, k = 3)`";
    match s.call.args.as_slice() {
        [v] => match &v.kind {
            ValueKind::Name(p) if p.len() == 1 => {
                ctx.resolve(&p[0], Kind::Corpus).then(|| p[0].name.clone())
            }
            other => {
                ctx.d.push(
                    Diagnostic::error(
                        v.span,
                        format!("`search` takes a corpus name, found {}", other.describe()),
                    )
                    .label("expected a corpus name")
                    .help(help),
                );
                None
            }
        },
        [] => {
            ctx.d.push(
                Diagnostic::error(s.call.span, "`search` needs a corpus to search")
                    .label("no corpus")
                    .help(help),
            );
            None
        }
        [_, extra, ..] => {
            ctx.d.push(
                Diagnostic::error(extra.span, "`search` takes one corpus")
                    .label("extra argument")
                    .help(help),
            );
            None
        }
    }
}
