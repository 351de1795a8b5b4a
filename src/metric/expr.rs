//! Evaluating a metric expression for one (gold, prediction) pair.

use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

use super::normalize;
use super::value::{EvalError, Val};
use crate::ir::{BinaryOp, Builtin, MetricExpr, Side, UnaryOp};
use crate::lm::ModelSet;
use crate::value::Record;

/// Regexes written as literals in the expression, compiled once.
pub struct RegexCache(BTreeMap<String, Result<regex::Regex, String>>);

impl RegexCache {
    pub fn from_expr(e: &MetricExpr) -> Self {
        let mut map = BTreeMap::new();
        collect_regexes(e, &mut map);
        Self(map)
    }

    fn get(&self, pattern: &str) -> Result<regex::Regex, EvalError> {
        let compiled = match self.0.get(pattern) {
            Some(r) => r.clone(),
            None => regex::Regex::new(pattern).map_err(|e| e.to_string()),
        };
        compiled.map_err(|e| EvalError(format!("bad regex {pattern:?}: {e}")))
    }
}

fn collect_regexes(e: &MetricExpr, map: &mut BTreeMap<String, Result<regex::Regex, String>>) {
    match e {
        MetricExpr::Call(b, args) => {
            if *b == Builtin::RegexMatch
                && let Some(MetricExpr::Str(p)) = args.get(1)
            {
                map.entry(p.clone())
                    .or_insert_with(|| regex::Regex::new(p).map_err(|e| e.to_string()));
            }
            args.iter().for_each(|a| collect_regexes(a, map));
        }
        MetricExpr::Unary(_, a) => collect_regexes(a, map),
        MetricExpr::Binary(_, a, b) => {
            collect_regexes(a, map);
            collect_regexes(b, map);
        }
        MetricExpr::Judge { args, .. } => args.iter().for_each(|a| collect_regexes(a, map)),
        MetricExpr::Number(_) | MetricExpr::Str(_) | MetricExpr::Bool(_) | MetricExpr::Ref(..) => {}
    }
}

/// Everything one evaluation reads.
pub struct Ctx<'a> {
    pub gold: &'a Record,
    pub pred: &'a Record,
    pub models: &'a dyn ModelSet,
    pub regexes: &'a RegexCache,
}

fn builtin_name(b: Builtin) -> &'static str {
    match b {
        Builtin::ExactMatch => "exact_match",
        Builtin::F1 => "f1",
        Builtin::Contains => "contains",
        Builtin::RegexMatch => "regex_match",
        Builtin::NumberClose => "number_close",
        Builtin::Min => "min",
        Builtin::Max => "max",
    }
}

fn arity(b: Builtin, args: &[Val], n: usize) -> Result<(), EvalError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(EvalError(format!(
            "{} takes {n} arguments, got {}",
            builtin_name(b),
            args.len()
        )))
    }
}

fn bool_num(b: bool) -> Val {
    Val::Num(if b { 1.0 } else { 0.0 })
}

impl Ctx<'_> {
    /// Evaluate `e`; boxed because judge calls make it async and it recurses.
    pub fn eval<'s>(&'s self, e: &'s MetricExpr) -> BoxFuture<'s, Result<Val, EvalError>> {
        async move {
            match e {
                MetricExpr::Number(n) => Ok(Val::Num(*n)),
                MetricExpr::Str(s) => Ok(Val::Str(s.clone())),
                MetricExpr::Bool(b) => Ok(Val::Bool(*b)),
                MetricExpr::Ref(side, field) => {
                    let rec = match side {
                        Side::Pred => self.pred,
                        Side::Gold => self.gold,
                    };
                    Ok(Val::from_json(rec.get(field)))
                }
                MetricExpr::Unary(UnaryOp::Neg, a) => {
                    Ok(Val::Num(-self.eval(a).await?.number("unary minus")?))
                }
                MetricExpr::Unary(UnaryOp::Not, a) => Ok(Val::Bool(!self.eval(a).await?.truthy())),
                MetricExpr::Binary(BinaryOp::And, a, b) => {
                    if !self.eval(a).await?.truthy() {
                        return Ok(Val::Bool(false));
                    }
                    Ok(Val::Bool(self.eval(b).await?.truthy()))
                }
                MetricExpr::Binary(BinaryOp::Or, a, b) => {
                    if self.eval(a).await?.truthy() {
                        return Ok(Val::Bool(true));
                    }
                    Ok(Val::Bool(self.eval(b).await?.truthy()))
                }
                MetricExpr::Binary(op, a, b) => {
                    let l = self.eval(a).await?;
                    let r = self.eval(b).await?;
                    binary(*op, &l, &r)
                }
                MetricExpr::Call(b, args) => {
                    let mut vals = Vec::with_capacity(args.len());
                    for a in args {
                        vals.push(self.eval(a).await?);
                    }
                    self.call(*b, &vals)
                }
                MetricExpr::Judge {
                    model,
                    question,
                    args,
                } => {
                    let mut values = Vec::with_capacity(args.len());
                    for a in args {
                        values.push(self.eval(a).await?.text());
                    }
                    super::judge::judge(self.models, model, question, &values)
                        .await
                        .map(Val::Num)
                }
            }
        }
        .boxed()
    }

    fn call(&self, b: Builtin, args: &[Val]) -> Result<Val, EvalError> {
        match b {
            Builtin::ExactMatch => {
                arity(b, args, 2)?;
                Ok(Val::Num(normalize::exact_match(
                    &args[0].text(),
                    &args[1].text(),
                )))
            }
            Builtin::F1 => {
                arity(b, args, 2)?;
                Ok(Val::Num(normalize::f1(&args[0].text(), &args[1].text())))
            }
            Builtin::Contains => {
                arity(b, args, 2)?;
                Ok(Val::Num(normalize::contains(
                    &args[0].text(),
                    &args[1].text(),
                )))
            }
            Builtin::RegexMatch => {
                arity(b, args, 2)?;
                let re = self.regexes.get(&args[1].text())?;
                Ok(bool_num(re.is_match(&args[0].text())))
            }
            Builtin::NumberClose => {
                arity(b, args, 3)?;
                let tol = args[2].number("number_close tolerance")?;
                Ok(bool_num(match (args[0].as_number(), args[1].as_number()) {
                    (Some(x), Some(y)) => (x - y).abs() <= tol,
                    _ => false,
                }))
            }
            Builtin::Min | Builtin::Max => {
                if args.is_empty() {
                    return Err(EvalError(format!("{} needs an argument", builtin_name(b))));
                }
                let mut best: Option<f64> = None;
                for a in args {
                    let n = a.number(builtin_name(b))?;
                    best = Some(match best {
                        None => n,
                        Some(m) if b == Builtin::Min => m.min(n),
                        Some(m) => m.max(n),
                    });
                }
                Ok(Val::Num(best.unwrap_or(0.0)))
            }
        }
    }
}

fn binary(op: BinaryOp, l: &Val, r: &Val) -> Result<Val, EvalError> {
    let sym = match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Eq => "==",
        BinaryOp::Ne => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
    };
    match op {
        BinaryOp::Eq | BinaryOp::Ne => {
            let equal = values_equal(l, r);
            Ok(Val::Bool(if op == BinaryOp::Eq { equal } else { !equal }))
        }
        BinaryOp::And => Ok(Val::Bool(l.truthy() && r.truthy())),
        BinaryOp::Or => Ok(Val::Bool(l.truthy() || r.truthy())),
        _ => {
            let what = format!("`{sym}`");
            let x = l.number(&what)?;
            let y = r.number(&what)?;
            Ok(match op {
                BinaryOp::Add => Val::Num(x + y),
                BinaryOp::Sub => Val::Num(x - y),
                BinaryOp::Mul => Val::Num(x * y),
                BinaryOp::Div => {
                    if y == 0.0 {
                        return Err(EvalError("division by zero".into()));
                    }
                    Val::Num(x / y)
                }
                BinaryOp::Lt => Val::Bool(x < y),
                BinaryOp::Le => Val::Bool(x <= y),
                BinaryOp::Gt => Val::Bool(x > y),
                BinaryOp::Ge => Val::Bool(x >= y),
                BinaryOp::Eq | BinaryOp::Ne | BinaryOp::And | BinaryOp::Or => unreachable!(),
            })
        }
    }
}

/// Numeric equality when either side is a number (or boolean) and the other
/// reads as one; otherwise the string forms must be identical.
fn values_equal(l: &Val, r: &Val) -> bool {
    let numeric_side = |v: &Val| matches!(v, Val::Num(_) | Val::Bool(_));
    if (numeric_side(l) || numeric_side(r))
        && let (Some(x), Some(y)) = (l.as_number(), r.as_number())
    {
        return x == y;
    }
    l.text() == r.text()
}
