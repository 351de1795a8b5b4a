//! The values a metric can score, worked out from its expression, so a
//! checkpoint's scores can be checked against them.
//!
//! Metrics are not clamped: `exact_match` gives 0 or 1, but `2 * f1(..)`
//! gives up to 2 and `pred.x` any number. So the range is computed by
//! interval arithmetic over the expression: the built-ins, comparisons,
//! logic and `judge` lie in [0, 1], literals are points, a field read is
//! any number, and arithmetic combines its operands' intervals (a division
//! by an interval holding 0 is unbounded). A metric that cannot be computed
//! and a failed execution score 0, so 0 is always in range.

use crate::ir::{BinaryOp, Builtin, MetricDecl, MetricExpr, UnaryOp};
use crate::metric::parse_number;

/// The closed interval a metric's scores lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    min: f64,
    max: f64,
}

/// Any number: what a field read, or a division by a range holding 0, gives.
const ANY: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);
/// Built-ins, comparisons, logic and `judge`.
const UNIT: (f64, f64) = (0.0, 1.0);

impl Default for ScoreRange {
    fn default() -> Self {
        Self::ANY
    }
}

impl ScoreRange {
    /// Any finite score (an evaluator whose metric is not known).
    pub const ANY: ScoreRange = ScoreRange {
        min: f64::NEG_INFINITY,
        max: f64::INFINITY,
    };

    /// The scores `metric` can give, 0 included.
    pub fn of_metric(metric: &MetricDecl) -> Self {
        let (lo, hi) = bounds(&metric.expr);
        Self {
            min: lo.min(0.0),
            max: hi.max(0.0),
        }
    }

    /// Scores between 0 and 1: the built-ins, comparisons and `judge`.
    pub const UNIT: ScoreRange = ScoreRange { min: 0.0, max: 1.0 };

    /// The lowest and highest score, when both and the width between them
    /// are finite (`[-1e308, 1e308]` is not: its width overflows, and the
    /// race divides differences by it).
    pub fn finite_bounds(&self) -> Option<(f64, f64)> {
        (self.max - self.min)
            .is_finite()
            .then_some((self.min, self.max))
    }

    /// Whether `score` is finite and in range. The bounds get a relative
    /// slack of 1e-9: a score and a bound computed in floating point may
    /// round differently.
    pub fn contains(&self, score: f64) -> bool {
        let slack = |b: f64| 1e-9 * b.abs().max(1.0);
        score.is_finite()
            && score >= self.min - slack(self.min)
            && score <= self.max + slack(self.max)
    }

    /// The range, for messages: `[0, 1]`.
    pub fn describe(&self) -> String {
        if self.min.is_finite() || self.max.is_finite() {
            format!("[{}, {}]", self.min, self.max)
        } else {
            "any finite number".into()
        }
    }
}

/// The interval `e` evaluates to (before the failure score 0 is added).
fn bounds(e: &MetricExpr) -> (f64, f64) {
    let interval = match e {
        MetricExpr::Number(n) => (*n, *n),
        MetricExpr::Str(s) => parse_number(s).map_or(ANY, |n| (n, n)),
        MetricExpr::Bool(_) | MetricExpr::Judge { .. } => UNIT,
        // Code decides its own scale.
        MetricExpr::Ref(..) | MetricExpr::Code(_) => ANY,
        MetricExpr::Unary(UnaryOp::Neg, a) => {
            let (lo, hi) = bounds(a);
            (-hi, -lo)
        }
        MetricExpr::Unary(UnaryOp::Not, _) => UNIT,
        MetricExpr::Binary(op, a, b) => binary(*op, bounds(a), bounds(b)),
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
    let each = args.iter().map(bounds);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Side;

    fn metric(expr: MetricExpr) -> ScoreRange {
        ScoreRange::of_metric(&MetricDecl {
            name: "m".into(),
            expr,
            feedback: None,
        })
    }

    fn num(n: f64) -> Box<MetricExpr> {
        Box::new(MetricExpr::Number(n))
    }

    fn builtin(b: Builtin) -> Box<MetricExpr> {
        let field = |side| MetricExpr::Ref(side, "answer".into());
        Box::new(MetricExpr::Call(
            b,
            vec![field(Side::Pred), field(Side::Gold)],
        ))
    }

    fn bin(op: BinaryOp, a: Box<MetricExpr>, b: Box<MetricExpr>) -> Box<MetricExpr> {
        Box::new(MetricExpr::Binary(op, a, b))
    }

    #[test]
    fn built_ins_score_in_the_unit_interval() {
        let r = metric(*builtin(Builtin::ExactMatch));
        assert!(r.contains(0.0) && r.contains(1.0) && r.contains(0.5));
        assert!(!r.contains(1.5) && !r.contains(-0.5) && !r.contains(f64::NAN));
        assert_eq!(r.describe(), "[0, 1]");
    }

    #[test]
    fn arithmetic_widens_and_shifts_the_range() {
        // 0.7 * f1 + 0.3 * contains: [0, 1] (up to rounding).
        let graded = bin(
            BinaryOp::Add,
            bin(BinaryOp::Mul, num(0.7), builtin(Builtin::F1)),
            bin(BinaryOp::Mul, num(0.3), builtin(Builtin::Contains)),
        );
        let r = metric(*graded);
        assert!(r.contains(0.7 + 0.3) && !r.contains(1.01));
        // 2 * f1 - 1: [-1, 1].
        let r = metric(*bin(
            BinaryOp::Sub,
            bin(BinaryOp::Mul, num(2.0), builtin(Builtin::F1)),
            num(1.0),
        ));
        assert_eq!(
            r,
            ScoreRange {
                min: -1.0,
                max: 1.0
            }
        );
        // A constant 5: 0 (a failure) and 5.
        assert_eq!(
            metric(MetricExpr::Number(5.0)),
            ScoreRange { min: 0.0, max: 5.0 }
        );
        // -f1: [-1, 0].
        let neg = MetricExpr::Unary(UnaryOp::Neg, builtin(Builtin::F1));
        assert_eq!(
            metric(neg),
            ScoreRange {
                min: -1.0,
                max: 0.0
            }
        );
    }

    #[test]
    fn field_reads_and_divisions_by_zero_are_unbounded() {
        let read = MetricExpr::Ref(Side::Pred, "score".into());
        assert_eq!(metric(read), ScoreRange::ANY);
        let r = metric(*bin(BinaryOp::Div, num(1.0), builtin(Builtin::F1)));
        assert_eq!(r, ScoreRange::ANY);
        assert!(r.contains(1e300) && !r.contains(f64::INFINITY));
        assert_eq!(r.describe(), "any finite number");
        // Dividing by [2, 4]: [0.25, 0.5] of f1's [0, 1]... and 0.
        let r = metric(*bin(
            BinaryOp::Div,
            builtin(Builtin::F1),
            bin(
                BinaryOp::Add,
                num(2.0),
                bin(BinaryOp::Mul, num(2.0), builtin(Builtin::F1)),
            ),
        ));
        assert_eq!(r, ScoreRange { min: 0.0, max: 0.5 });
    }

    #[test]
    fn min_max_comparisons_and_logic() {
        let two = bin(BinaryOp::Mul, num(2.0), builtin(Builtin::F1));
        let max = MetricExpr::Call(Builtin::Max, vec![*two.clone(), MetricExpr::Number(-3.0)]);
        assert_eq!(metric(max), ScoreRange { min: 0.0, max: 2.0 });
        let min = MetricExpr::Call(Builtin::Min, vec![*two, MetricExpr::Number(-3.0)]);
        assert_eq!(
            metric(min),
            ScoreRange {
                min: -3.0,
                max: 0.0
            }
        );
        let cmp = bin(BinaryOp::Gt, num(7.0), num(3.0));
        assert_eq!(metric(*cmp), ScoreRange { min: 0.0, max: 1.0 });
        let text = MetricExpr::Str(" 3.5 ".into());
        assert_eq!(metric(text), ScoreRange { min: 0.0, max: 3.5 });
    }

    #[test]
    fn a_range_too_wide_to_measure_has_no_finite_bounds() {
        // 1e308 * f1 - 1e308 * exact_match: both ends finite, the width not.
        let wide = metric(*bin(
            BinaryOp::Sub,
            bin(BinaryOp::Mul, num(1e308), builtin(Builtin::F1)),
            bin(BinaryOp::Mul, num(1e308), builtin(Builtin::ExactMatch)),
        ));
        assert_eq!((wide.min, wide.max), (-1e308, 1e308));
        assert_eq!(wide.finite_bounds(), None);
        assert_eq!(ScoreRange::UNIT.finite_bounds(), Some((0.0, 1.0)));
    }
}
