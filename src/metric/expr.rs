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

/// Gathers the literal patterns of `e` (with an explicit stack: any depth).
fn collect_regexes(e: &MetricExpr, map: &mut BTreeMap<String, Result<regex::Regex, String>>) {
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            MetricExpr::Call(b, args) => {
                if *b == Builtin::RegexMatch
                    && let Some(MetricExpr::Str(p)) = args.get(1)
                {
                    map.entry(p.clone())
                        .or_insert_with(|| regex::Regex::new(p).map_err(|e| e.to_string()));
                }
                todo.extend(args);
            }
            MetricExpr::Unary(_, a) => todo.push(a),
            MetricExpr::Binary(_, a, b) => todo.extend([&**a, &**b]),
            MetricExpr::Judge { args, .. } => todo.extend(args),
            MetricExpr::Number(_)
            | MetricExpr::Str(_)
            | MetricExpr::Bool(_)
            | MetricExpr::Ref(..)
            | MetricExpr::Code(_) => {}
        }
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

/// One step of evaluation: an expression to evaluate, or what to do with
/// the values its parts left on the value stack.
enum Task<'e> {
    /// Evaluate this and push its value.
    Eval(&'e MetricExpr),
    /// Pop a value, push its negation.
    Negate,
    /// Pop a value, push `not` of it.
    Not,
    /// Pop `and`'s left value: false ends it, else evaluate the right.
    AndRight(&'e MetricExpr),
    /// Pop `or`'s left value: true ends it, else evaluate the right.
    OrRight(&'e MetricExpr),
    /// Pop a value, push its truth.
    Truth,
    /// Pop the right then the left value, push the result.
    Binary(BinaryOp),
    /// Pop the arguments, push the built-in's result.
    Call(Builtin, usize),
    /// Pop the arguments, ask the judge model.
    Judge(&'e str, &'e str, usize),
}

impl Ctx<'_> {
    /// Evaluate `e`: left to right, `and`/`or` short-circuiting, the first
    /// error ending it. Iterative (explicit stacks), so however deep the
    /// expression, evaluating it cannot overflow the stack.
    pub fn eval<'s>(&'s self, e: &'s MetricExpr) -> BoxFuture<'s, Result<Val, EvalError>> {
        async move {
            let mut tasks = vec![Task::Eval(e)];
            let mut vals: Vec<Val> = Vec::new();
            while let Some(task) = tasks.pop() {
                let pop = |vals: &mut Vec<Val>| vals.pop().expect("an operand was pushed");
                match task {
                    Task::Eval(e) => self.expand(e, &mut tasks, &mut vals),
                    Task::Negate => {
                        let x = pop(&mut vals).number("unary minus")?;
                        vals.push(Val::Num(-x));
                    }
                    Task::Not => {
                        let v = pop(&mut vals);
                        vals.push(Val::Bool(!v.truthy()));
                    }
                    Task::AndRight(right) | Task::OrRight(right) => {
                        let stop_on = matches!(task, Task::OrRight(_));
                        if pop(&mut vals).truthy() == stop_on {
                            vals.push(Val::Bool(stop_on));
                        } else {
                            tasks.push(Task::Truth);
                            tasks.push(Task::Eval(right));
                        }
                    }
                    Task::Truth => {
                        let v = pop(&mut vals);
                        vals.push(Val::Bool(v.truthy()));
                    }
                    Task::Binary(op) => {
                        let r = pop(&mut vals);
                        let l = pop(&mut vals);
                        vals.push(binary(op, &l, &r)?);
                    }
                    Task::Call(b, n) => {
                        let args = vals.split_off(vals.len() - n);
                        vals.push(self.call(b, &args)?);
                    }
                    Task::Judge(model, question, n) => {
                        let args = vals.split_off(vals.len() - n);
                        let texts: Vec<String> =
                            args.iter().map(|a| a.text().into_owned()).collect();
                        let score =
                            super::judge::judge(self.models, model, question, &texts).await?;
                        vals.push(Val::Num(score));
                    }
                }
            }
            Ok(vals.pop().expect("the expression has a value"))
        }
        .boxed()
    }

    /// A leaf's value onto `vals`, or a node's parts (first part on top)
    /// and what to do with their values onto `tasks`.
    fn expand<'e>(&self, e: &'e MetricExpr, tasks: &mut Vec<Task<'e>>, vals: &mut Vec<Val>) {
        match e {
            MetricExpr::Number(n) => vals.push(Val::Num(*n)),
            MetricExpr::Str(s) => vals.push(Val::Str(s.clone())),
            MetricExpr::Bool(b) => vals.push(Val::Bool(*b)),
            MetricExpr::Ref(side, field) => {
                let rec = match side {
                    Side::Pred => self.pred,
                    Side::Gold => self.gold,
                };
                vals.push(Val::from_json(rec.get(field)));
            }
            MetricExpr::Unary(op, a) => {
                tasks.push(match op {
                    UnaryOp::Neg => Task::Negate,
                    UnaryOp::Not => Task::Not,
                });
                tasks.push(Task::Eval(a));
            }
            MetricExpr::Binary(BinaryOp::And, a, b) => {
                tasks.push(Task::AndRight(b));
                tasks.push(Task::Eval(a));
            }
            MetricExpr::Binary(BinaryOp::Or, a, b) => {
                tasks.push(Task::OrRight(b));
                tasks.push(Task::Eval(a));
            }
            MetricExpr::Binary(op, a, b) => {
                tasks.push(Task::Binary(*op));
                tasks.push(Task::Eval(b));
                tasks.push(Task::Eval(a));
            }
            MetricExpr::Call(b, args) => {
                tasks.push(Task::Call(*b, args.len()));
                tasks.extend(args.iter().rev().map(Task::Eval));
            }
            MetricExpr::Judge {
                model,
                question,
                args,
            } => {
                tasks.push(Task::Judge(model, question, args.len()));
                tasks.extend(args.iter().rev().map(Task::Eval));
            }
            // A code metric is scored by `MetricFn` itself, never through an
            // expression; NaN makes a misuse fail loudly ("not a number").
            MetricExpr::Code(_) => vals.push(Val::Num(f64::NAN)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    struct NoModels;

    impl ModelSet for NoModels {
        fn lm(&self, _: &str) -> Option<std::sync::Arc<dyn crate::lm::Lm>> {
            None
        }
        fn template(&self, _: &str) -> Option<crate::lm::Request> {
            None
        }
    }

    /// `-(-(...(1)))` with `levels` minus signs, built without recursion.
    fn negations(levels: usize) -> MetricExpr {
        let mut e = MetricExpr::Number(1.0);
        for _ in 0..levels {
            e = MetricExpr::Unary(UnaryOp::Neg, Box::new(e));
        }
        e
    }

    fn eval(e: &MetricExpr) -> Result<Val, EvalError> {
        let record = Record::default();
        let regexes = RegexCache::from_expr(e);
        let ctx = Ctx {
            gold: &record,
            pred: &record,
            models: &NoModels,
            regexes: &regexes,
        };
        futures::executor::block_on(ctx.eval(e))
    }

    #[test]
    fn depth_does_not_matter() {
        // Far deeper than a spec may nest (taken apart from the top after,
        // since dropping it recursively would overflow the test's stack).
        let mut deep = negations(100_001);
        assert_eq!(eval(&deep), Ok(Val::Num(-1.0)));
        while let MetricExpr::Unary(_, inner) = deep {
            deep = *inner;
        }
    }

    #[test]
    fn order_short_circuits_and_first_error() {
        let num = |n| Box::new(MetricExpr::Number(n));
        let text = |s: &str| Box::new(MetricExpr::Str(s.into()));
        let bin = |op, a, b| MetricExpr::Binary(op, a, b);
        // `0 and (1 / 0)`: the right side is never evaluated.
        let and = bin(
            BinaryOp::And,
            num(0.0),
            Box::new(bin(BinaryOp::Div, num(1.0), num(0.0))),
        );
        assert_eq!(eval(&and), Ok(Val::Bool(false)));
        let or = bin(
            BinaryOp::Or,
            num(2.0),
            Box::new(bin(BinaryOp::Div, num(1.0), num(0.0))),
        );
        assert_eq!(eval(&or), Ok(Val::Bool(true)));
        let or_right = bin(BinaryOp::Or, num(0.0), text("x"));
        assert_eq!(eval(&or_right), Ok(Val::Bool(true)));
        // The left error is the one reported.
        let both = bin(
            BinaryOp::Sub,
            Box::new(bin(BinaryOp::Div, num(1.0), num(0.0))),
            Box::new(bin(BinaryOp::Mul, text("a"), num(1.0))),
        );
        assert_eq!(eval(&both).unwrap_err().0, "division by zero");
        // `10 - 4 - 3` keeps its operand order; calls get theirs in order.
        let sub = bin(
            BinaryOp::Sub,
            Box::new(bin(BinaryOp::Sub, num(10.0), num(4.0))),
            num(3.0),
        );
        assert_eq!(eval(&sub), Ok(Val::Num(3.0)));
        let min = MetricExpr::Call(Builtin::Min, vec![MetricExpr::Number(3.0), sub]);
        assert_eq!(eval(&min), Ok(Val::Num(3.0)));
        let close = MetricExpr::Call(
            Builtin::NumberClose,
            vec![
                MetricExpr::Number(1.0),
                MetricExpr::Number(1.5),
                MetricExpr::Number(0.1),
            ],
        );
        assert_eq!(eval(&close), Ok(Val::Num(0.0)));
    }
}
