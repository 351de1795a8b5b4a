//! The values a metric expression can score, by interval arithmetic: the
//! built-ins, comparisons, logic and `judge` lie in [0, 1], literals are
//! points, a field read is any number, and arithmetic combines its
//! operands' intervals (a division by an interval holding 0 is unbounded).
//! The compiler refuses `final = race` with an unbounded metric by it, and
//! the optimizer checks scores and scales a race's differences by it, so
//! `check`, the dry run and a run agree.

use crate::ir::{BinaryOp, Builtin, CodeMetric, CommandMetric, MetricExpr, UnaryOp};
use crate::value::parse_number;

/// Any number: what a field read, or a division by a range holding 0, gives.
const ANY: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);
/// Built-ins, comparisons, logic and `judge`.
const UNIT: (f64, f64) = (0.0, 1.0);

/// The interval `e` evaluates to (before the failure score 0 is added):
/// infinite ends when the expression is unbounded.
pub fn metric_bounds(e: &MetricExpr) -> (f64, f64) {
    let interval = match e {
        MetricExpr::Number(n) => (*n, *n),
        MetricExpr::Str(s) => parse_number(s).map_or(ANY, |n| (n, n)),
        MetricExpr::Bool(_) | MetricExpr::Judge { .. } => UNIT,
        // Code decides its own scale, unless a command declares it.
        MetricExpr::Code(CodeMetric::Command(CommandMetric { range: Some(r), .. })) => (r.lo, r.hi),
        MetricExpr::Ref(..) | MetricExpr::Code(_) => ANY,
        MetricExpr::Unary(UnaryOp::Neg, a) => {
            let (lo, hi) = metric_bounds(a);
            (-hi, -lo)
        }
        MetricExpr::Unary(UnaryOp::Not, _) => UNIT,
        MetricExpr::Binary(op, a, b) => binary(*op, metric_bounds(a), metric_bounds(b)),
        MetricExpr::Call(builtin, args) => call(*builtin, args),
    };
    // inf - inf or 0 * inf: nothing is known.
    if interval.0.is_nan() || interval.1.is_nan() {
        ANY
    } else {
        interval
    }
}

fn binary(op: BinaryOp, (a, b): (f64, f64), (c, d): (f64, f64)) -> (f64, f64) {
    let spread = |xs: [f64; 4]| {
        if xs.iter().any(|x| x.is_nan()) {
            return ANY;
        }
        (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    match op {
        BinaryOp::Add => (a + c, b + d),
        BinaryOp::Sub => (a - d, b - c),
        BinaryOp::Mul => spread([a * c, a * d, b * c, b * d]),
        BinaryOp::Div if c <= 0.0 && d >= 0.0 => ANY,
        BinaryOp::Div => spread([a / c, a / d, b / c, b / d]),
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => UNIT,
    }
}

fn call(builtin: Builtin, args: &[MetricExpr]) -> (f64, f64) {
    let each = args.iter().map(metric_bounds);
    match builtin {
        Builtin::ExactMatch
        | Builtin::F1
        | Builtin::Contains
        | Builtin::RegexMatch
        | Builtin::NumberClose => UNIT,
        // No argument is an error at run time (score 0).
        _ if args.is_empty() => (0.0, 0.0),
        Builtin::Min => each.fold((f64::INFINITY, f64::INFINITY), |(a, b), (lo, hi)| {
            (a.min(lo), b.min(hi))
        }),
        Builtin::Max => each.fold(
            (f64::NEG_INFINITY, f64::NEG_INFINITY),
            |(a, b), (lo, hi)| (a.max(lo), b.max(hi)),
        ),
    }
}
