//! `metric NAME = expr [feedback ".."]` -> [`MetricDecl`].

use super::{Ctx, Kind};
use crate::ir::{BinaryOp, Builtin, MetricDecl, MetricExpr, Side, TemplatePart, UnaryOp};
use crate::syntax::ast::{BinOp, Expr, Ident, MetricBody, MetricItem, Span, Str, UnOp, dotted};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use crate::syntax::nesting::MAX_DEPTH;

/// Built-in functions: name, meaning, min and max argument counts.
const BUILTINS: [(&str, Option<Builtin>, usize, usize); 8] = [
    ("exact_match", Some(Builtin::ExactMatch), 2, 2),
    ("f1", Some(Builtin::F1), 2, 2),
    ("contains", Some(Builtin::Contains), 2, 2),
    ("regex_match", Some(Builtin::RegexMatch), 2, 2),
    ("number_close", Some(Builtin::NumberClose), 3, 3),
    ("min", Some(Builtin::Min), 1, usize::MAX),
    ("max", Some(Builtin::Max), 1, usize::MAX),
    ("judge", None, 2, usize::MAX),
];

pub(super) fn compile(ctx: &mut Ctx, item: &MetricItem) {
    let e = match &item.body {
        MetricBody::Expr(e) => e,
        MetricBody::Code(code) => {
            if let Some(code) = super::code_metric::compile(ctx, item, code) {
                ctx.metric_pred_refs
                    .insert(item.name.name.clone(), Vec::new());
                ctx.spec.metrics.insert(
                    item.name.name.clone(),
                    MetricDecl {
                        name: item.name.name.clone(),
                        expr: MetricExpr::Code(code),
                        feedback: None,
                    },
                );
            }
            return;
        }
    };
    let mut refs = Vec::new();
    let expr = lower(ctx, e, &mut refs, 0);
    let feedback = item.feedback.as_ref().map(|s| template(ctx, s, &mut refs));
    let feedback = match feedback {
        Some(None) => return,
        Some(Some(t)) => Some(t),
        None => None,
    };
    let Some(expr) = expr else { return };
    let pred: Vec<(String, Span)> = refs
        .into_iter()
        .filter(|(side, _, _)| *side == Side::Pred)
        .map(|(_, f, s)| (f, s))
        .collect();
    ctx.metric_pred_refs.insert(item.name.name.clone(), pred);
    ctx.spec.metrics.insert(
        item.name.name.clone(),
        MetricDecl {
            name: item.name.name.clone(),
            expr,
            feedback,
        },
    );
}

type Refs = Vec<(Side, String, Span)>;

fn side_ref(ctx: &mut Ctx, parts: &[Ident], span: Span, refs: &mut Refs) -> Option<(Side, String)> {
    match parts {
        [s, f] if s.name == "pred" || s.name == "gold" => {
            let side = if s.name == "pred" {
                Side::Pred
            } else {
                Side::Gold
            };
            refs.push((side, f.name.clone(), f.span));
            Some((side, f.name.clone()))
        }
        [s, _] => {
            ctx.d.push(
                Diagnostic::error(s.span, format!("unknown name `{}` in a metric", s.name))
                    .label("expected `pred` or `gold`")
                    .help(did_you_mean(&s.name, ["pred", "gold"]).unwrap_or_else(|| {
                        "`pred.FIELD` is the program's output, `gold.FIELD` the example's".into()
                    })),
            );
            None
        }
        _ => {
            let name = dotted(parts);
            ctx.d.push(
                Diagnostic::error(span, format!("unknown name `{name}` in a metric"))
                    .label("not a value")
                    .help(format!(
                        "write `pred.{0}` (the program's output) or `gold.{0}` (the example's)",
                        parts.last().map(|p| p.name.as_str()).unwrap_or("x")
                    )),
            );
            None
        }
    }
}

/// `e`, `depth` levels below the metric's root, as IR. The parser already
/// refuses trees deeper than [`MAX_DEPTH`]; the check here keeps the
/// recursion bounded for trees built any other way.
fn lower(ctx: &mut Ctx, e: &Expr, refs: &mut Refs, depth: usize) -> Option<MetricExpr> {
    if depth > MAX_DEPTH {
        ctx.d.push(
            Diagnostic::error(
                e.span(),
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            )
            .label(format!("level {}", MAX_DEPTH + 1)),
        );
        return None;
    }
    let below = depth + 1;
    Some(match e {
        Expr::Number(t, span) => MetricExpr::Number(number(ctx, t, *span)?),
        Expr::Str(s) => MetricExpr::Str(s.value.clone()),
        Expr::Bool(b, _) => MetricExpr::Bool(*b),
        Expr::Name(parts, span) => {
            let (side, f) = side_ref(ctx, parts, *span, refs)?;
            MetricExpr::Ref(side, f)
        }
        Expr::Unary(op, inner, _) => {
            let inner = lower(ctx, inner, refs, below)?;
            MetricExpr::Unary(unary_op(*op), Box::new(inner))
        }
        Expr::Binary(op, l, r, _) => {
            // Both sides are lowered so each reports its own errors.
            let l = lower(ctx, l, refs, below);
            let r = lower(ctx, r, refs, below);
            MetricExpr::Binary(binary_op(*op), Box::new(l?), Box::new(r?))
        }
        Expr::Call { name, args, span } => call(ctx, name, args, *span, refs, below)?,
    })
}

/// A number literal, which must be finite.
fn number(ctx: &mut Ctx, text: &str, span: Span) -> Option<f64> {
    match text.replace('_', "").parse::<f64>() {
        Ok(f) if f.is_finite() => Some(f),
        _ => {
            ctx.d.push(
                Diagnostic::error(span, format!("`{text}` is not a finite number"))
                    .label("bad number"),
            );
            None
        }
    }
}

fn unary_op(op: UnOp) -> UnaryOp {
    match op {
        UnOp::Neg => UnaryOp::Neg,
        UnOp::Not => UnaryOp::Not,
    }
}

fn binary_op(op: BinOp) -> BinaryOp {
    match op {
        BinOp::Or => BinaryOp::Or,
        BinOp::And => BinaryOp::And,
        BinOp::Eq => BinaryOp::Eq,
        BinOp::Ne => BinaryOp::Ne,
        BinOp::Lt => BinaryOp::Lt,
        BinOp::Le => BinaryOp::Le,
        BinOp::Gt => BinaryOp::Gt,
        BinOp::Ge => BinaryOp::Ge,
        BinOp::Add => BinaryOp::Add,
        BinOp::Sub => BinaryOp::Sub,
        BinOp::Mul => BinaryOp::Mul,
        BinOp::Div => BinaryOp::Div,
    }
}

/// `name(args..)`: a built-in with the right number of arguments, or `judge`.
/// `depth` is the level of the arguments.
fn call(
    ctx: &mut Ctx,
    name: &Ident,
    args: &[Expr],
    span: Span,
    refs: &mut Refs,
    depth: usize,
) -> Option<MetricExpr> {
    let Some(&(_, builtin, min, max)) = BUILTINS.iter().find(|b| b.0 == name.name) else {
        let names = || BUILTINS.iter().map(|b| b.0);
        ctx.d.push(
            Diagnostic::error(
                name.span,
                format!("unknown metric function `{}`", name.name),
            )
            .label("not a built-in")
            .help(did_you_mean(&name.name, names()).unwrap_or_else(|| {
                format!("built-ins: {}", names().collect::<Vec<_>>().join(", "))
            })),
        );
        return None;
    };
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        ctx.d.push(
            Diagnostic::error(
                span,
                format!(
                    "`{}` takes {want} arguments, found {}",
                    name.name,
                    args.len()
                ),
            )
            .label("wrong number of arguments")
            .help(usage(&name.name)),
        );
        return None;
    }
    match builtin {
        Some(b) => builtin_call(ctx, b, args, refs, depth),
        None => judge(ctx, args, refs, depth),
    }
}

/// A built-in other than `judge`; `regex_match`'s pattern is checked here.
fn builtin_call(
    ctx: &mut Ctx,
    b: Builtin,
    args: &[Expr],
    refs: &mut Refs,
    depth: usize,
) -> Option<MetricExpr> {
    if b == Builtin::RegexMatch {
        regex_pattern(ctx, &args[1])?;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for a in args {
        match lower(ctx, a, refs, depth) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(MetricExpr::Call(b, out))
}

/// The pattern of `regex_match`: a string literal that compiles.
fn regex_pattern(ctx: &mut Ctx, pattern: &Expr) -> Option<()> {
    let Expr::Str(s) = pattern else {
        ctx.d.push(
            Diagnostic::error(
                pattern.span(),
                "the pattern of `regex_match` must be a string literal",
            )
            .label("not a string")
            .help(usage("regex_match")),
        );
        return None;
    };
    if let Err(err) = regex::Regex::new(&s.value) {
        let first = err
            .to_string()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        ctx.d.push(
            Diagnostic::error(s.span, "invalid regular expression")
                .label(first)
                .help("regex_match uses Rust regex syntax"),
        );
        return None;
    }
    Some(())
}

/// `judge(MODEL, "question", args..)`.
fn judge(ctx: &mut Ctx, args: &[Expr], refs: &mut Refs, depth: usize) -> Option<MetricExpr> {
    let model = match &args[0] {
        Expr::Name(p, _) if p.len() == 1 => {
            if !ctx.resolve(&p[0], Kind::Model) {
                return None;
            }
            p[0].name.clone()
        }
        other => {
            ctx.d.push(
                Diagnostic::error(
                    other.span(),
                    "the first argument of `judge` must be a model name",
                )
                .label("not a model")
                .help(usage("judge")),
            );
            return None;
        }
    };
    let question = match &args[1] {
        Expr::Str(s) => s.value.clone(),
        other => {
            ctx.d.push(
                Diagnostic::error(
                    other.span(),
                    "the second argument of `judge` must be a question string",
                )
                .label("not a string")
                .help(usage("judge")),
            );
            return None;
        }
    };
    let mut rest = Vec::new();
    for a in &args[2..] {
        rest.push(lower(ctx, a, refs, depth)?);
    }
    Some(MetricExpr::Judge {
        model,
        question,
        args: rest,
    })
}

fn usage(name: &str) -> String {
    let example = match name {
        "exact_match" => "exact_match(pred.answer, gold.answer)",
        "f1" => "f1(pred.answer, gold.answer)",
        "contains" => "contains(pred.answer, gold.answer)",
        "regex_match" => "regex_match(pred.answer, \"^[0-9]+$\")",
        "number_close" => "number_close(pred.value, gold.value, 0.01)",
        "min" => "min(a, b, ...)",
        "max" => "max(a, b, ...)",
        "judge" => "judge(MODEL, \"Is the answer correct?\", pred.answer, gold.answer)",
        _ => "",
    };
    format!("usage: {example}")
}

/// `"expected {gold.label}, got {pred.label}"` -> parts; `{{` and `}}` are literal braces.
fn template(ctx: &mut Ctx, s: &Str, refs: &mut Refs) -> Option<Vec<TemplatePart>> {
    let text = &s.value;
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let (side, field, close) = field_ref(ctx, s, i)?;
                if !lit.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut lit)));
                }
                refs.push((side, field.clone(), span_in(s, i, close + 1)));
                parts.push(TemplatePart::Ref(side, field));
                while chars.peek().is_some_and(|p| p.0 <= i + close) {
                    chars.next();
                }
            }
            '}' => {
                ctx.d.push(
                    Diagnostic::error(span_in(s, i, 1), "unmatched `}` in feedback")
                        .label("no `{` before it")
                        .help("write `}}` for a literal brace"),
                );
                return None;
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(TemplatePart::Text(lit));
    }
    Some(parts)
}

/// The `{side.field}` opening at byte `i` of the template: its side, its
/// field, and the offset of its `}` from `i`.
fn field_ref(ctx: &mut Ctx, s: &Str, i: usize) -> Option<(Side, String, usize)> {
    let text = &s.value;
    let Some(close) = text[i..].find('}') else {
        ctx.d.push(
            Diagnostic::error(span_in(s, i, 1), "unclosed `{` in feedback")
                .label("opened here")
                .help("write `{pred.field}` or `{gold.field}`; `{{` for a literal brace"),
        );
        return None;
    };
    let inner = text[i + 1..i + close].trim();
    let pieces: Vec<&str> = inner.split('.').collect();
    match pieces.as_slice() {
        [side @ ("pred" | "gold"), field] if !field.is_empty() => {
            let side = if *side == "pred" {
                Side::Pred
            } else {
                Side::Gold
            };
            Some((side, field.to_string(), close))
        }
        _ => {
            ctx.d.push(
                Diagnostic::error(
                    span_in(s, i, close + 1),
                    format!("`{{{inner}}}` is not a field reference"),
                )
                .label("expected `{pred.FIELD}` or `{gold.FIELD}`")
                .help("use `{{` and `}}` for literal braces"),
            );
            None
        }
    }
}

/// The span of `len` bytes at byte `i` of a string literal's value, kept
/// inside the literal (escapes make value and source offsets differ).
fn span_in(s: &Str, i: usize, len: usize) -> Span {
    let start = (s.span.start + 1 + i).min(s.span.end.saturating_sub(1));
    Span {
        start,
        end: (start + len).min(s.span.end),
        src: s.span.src,
    }
}
