//! Metrics: scoring a prediction against its gold example.
//!
//! A metric is an expression over `pred.x` (the program's outputs) and
//! `gold.x` (the example's fields) built from the built-ins of docs/language.md.
//! Semantics chosen here:
//! - string built-ins (`exact_match`, `f1`, `contains`, `regex_match`) use the
//!   string form of their arguments: integral numbers print without a
//!   fraction (`42`), booleans as `true`/`false`, lists as their items
//!   joined by `, `, objects as JSON,
//!   a missing or null field as the empty string;
//! - `exact_match`, `f1` and `contains` compare SQuAD-normalised text;
//!   `regex_match` searches the raw text;
//! - `number_close(a, b, tol)` is 1 when |a - b| <= tol; a side that is not a
//!   number (strings are parsed, `1,234` allowed) makes it 0;
//! - `==`/`!=` compare numerically when one side is a number and the other
//!   parses as one, else by string form; `<`, `<=`, `>`, `>=` need numbers;
//! - `and`/`or` short-circuit (a judge on the right is not asked when the left
//!   decides); booleans count as 1.0/0.0 in the final value;
//! - an expression that cannot be computed (division by zero, a non-number in
//!   arithmetic, a bad regex, a failed judge call) scores 0 with feedback
//!   saying why.

pub mod command;
mod expr;
mod judge;
pub mod normalize;
mod value;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::ir::{CodeMetric, MetricDecl, MetricExpr, Side, TemplatePart};
use crate::lm::ModelSet;
use crate::value::{Example, Record};

pub use command::{COMMAND_TARGET, CommandScorer, CommandStats};
pub use value::{Val, parse_number};

/// A metric computed by code outside this crate's expression language (a
/// plugin metric): the layer above implements it and hands it to
/// [`MetricFn::with_code`].
#[async_trait]
pub trait CodeScorer: Send + Sync {
    /// Scores one prediction; `Err` is a failed metric call with its reason.
    async fn score(&self, gold: &Record, pred: &Record) -> Result<Score, String>;
}

/// The largest score magnitude a code metric may return: far beyond any
/// real metric, and small enough that means over any dataset stay finite
/// (a score of 1e308 made them overflow to infinity).
pub const MAX_CODE_SCORE: f64 = 1e12;

/// Whether a code metric's score is a number within [`MAX_CODE_SCORE`].
pub(crate) fn code_score_fits(value: f64) -> bool {
    value.is_finite() && value.abs() <= MAX_CODE_SCORE
}

/// What scores a code metric.
enum Code {
    Command(CommandScorer),
    Scorer(Arc<dyn CodeScorer>),
}

/// A metric's verdict on one prediction: a value (usually in [0, 1]) and an
/// optional feedback text for strategies such as append_rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The metric's value; 0 when the program failed or the expression could not be computed.
    pub value: f64,
    /// The filled feedback template, or why the score is 0; `None` when the metric has no template.
    pub feedback: Option<String>,
}

impl Score {
    /// The score of a program run that produced no prediction.
    pub fn no_prediction() -> Self {
        Score {
            value: 0.0,
            feedback: Some("the program failed and produced no prediction".into()),
        }
    }
}

/// A metric that could not be computed on a prediction (division by zero, a
/// non-number in arithmetic, a bad regex, a failed judge call), as opposed to
/// a prediction that scored low.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("metric `{metric}` could not be computed: {reason}")]
pub struct MetricError {
    /// The metric's name in the spec.
    pub metric: String,
    /// Why it could not be computed.
    pub reason: String,
}

impl MetricError {
    /// The score a failed metric gives: 0, with the error as feedback (so
    /// strategies and reports see why).
    pub fn to_score(&self) -> Score {
        Score {
            value: 0.0,
            feedback: Some(self.to_string()),
        }
    }
}

/// A compiled metric, ready to score predictions (cheap to share behind an
/// `Arc`; scoring takes `&self`).
pub struct MetricFn {
    decl: MetricDecl,
    models: Arc<dyn ModelSet>,
    regexes: expr::RegexCache,
    code: Option<Code>,
}

impl MetricFn {
    /// Prepare a metric; `models` serves any `judge` calls. A `command`
    /// metric starts its processes on first use; a plugin metric needs
    /// [`MetricFn::with_code`] (without it every call fails, saying so).
    pub fn new(decl: MetricDecl, models: Arc<dyn ModelSet>) -> Self {
        let regexes = expr::RegexCache::from_expr(&decl.expr);
        let code = match &decl.expr {
            MetricExpr::Code(CodeMetric::Command(c)) => {
                Some(Code::Command(CommandScorer::new(&decl.name, c.clone())))
            }
            _ => None,
        };
        Self {
            decl,
            models,
            regexes,
            code,
        }
    }

    /// A metric scored by `scorer` (a plugin metric's instance).
    pub fn with_code(
        decl: MetricDecl,
        models: Arc<dyn ModelSet>,
        scorer: Arc<dyn CodeScorer>,
    ) -> Self {
        Self {
            code: Some(Code::Scorer(scorer)),
            ..Self::new(decl, models)
        }
    }

    /// A line about a `command` metric's failed calls and restarts; `None`
    /// when every call was answered (or the metric is not a command).
    pub fn command_warning(&self) -> Option<String> {
        let Some(Code::Command(c)) = &self.code else {
            return None;
        };
        let s = c.stats();
        (s.failures() > 0).then(|| {
            format!(
                "metric `{}` (command `{}`): {} of {} calls failed and scored 0; the program was started {} times",
                self.decl.name,
                c.command(),
                s.failures(),
                s.calls(),
                s.starts()
            )
        })
    }

    /// The counters of a `command` metric; `None` for other metrics.
    pub fn command_stats(&self) -> Option<&CommandStats> {
        match &self.code {
            Some(Code::Command(c)) => Some(c.stats()),
            _ => None,
        }
    }

    /// The metric's name in the spec.
    pub fn name(&self) -> &str {
        &self.decl.name
    }

    /// Score one prediction. `None` (the program failed) scores 0; a metric
    /// that cannot be computed scores 0 with feedback saying why (see
    /// [`MetricFn::try_score`] to tell that apart from a low score).
    pub async fn score(&self, gold: &Example, prediction: Option<&Record>) -> Score {
        match prediction {
            None => Score::no_prediction(),
            Some(pred) => self
                .try_score(gold, pred)
                .await
                .unwrap_or_else(|e| e.to_score()),
        }
    }

    /// Score a prediction, or say why the metric could not be computed.
    pub async fn try_score(&self, gold: &Example, pred: &Record) -> Result<Score, MetricError> {
        if let MetricExpr::Code(code) = &self.decl.expr {
            let fail = |reason: String| MetricError {
                metric: self.decl.name.clone(),
                reason,
            };
            let score = match &self.code {
                Some(Code::Command(c)) => c.score(&gold.fields, pred).await,
                Some(Code::Scorer(s)) => s.score(&gold.fields, pred).await,
                None => Err(format!("the metric `{code}` was not loaded")),
            };
            return score.map_err(fail).and_then(|s| {
                if code_score_fits(s.value) {
                    Ok(s)
                } else {
                    Err(fail(format!(
                        "`{code}` returned the score {:e}, which is not a number within ±1e12",
                        s.value
                    )))
                }
            });
        }
        let ctx = expr::Ctx {
            gold: &gold.fields,
            pred,
            models: self.models.as_ref(),
            regexes: &self.regexes,
        };
        let computed = ctx.eval(&self.decl.expr).await.and_then(|v| {
            let n = v.number("the metric's value")?;
            if n.is_nan() {
                return Err(value::EvalError(
                    "the metric's value is not a number".into(),
                ));
            }
            Ok(n)
        });
        match computed {
            Ok(value) => Ok(Score {
                value,
                feedback: self
                    .decl
                    .feedback
                    .as_ref()
                    .map(|t| interpolate(t, &gold.fields, pred)),
            }),
            Err(e) => Err(MetricError {
                metric: self.decl.name.clone(),
                reason: e.0,
            }),
        }
    }
}

/// Fill a feedback template with the string forms of `pred.x` / `gold.x`.
pub fn interpolate(template: &[TemplatePart], gold: &Record, pred: &Record) -> String {
    let mut out = String::new();
    for part in template {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Ref(side, field) => {
                let rec = match side {
                    Side::Pred => pred,
                    Side::Gold => gold,
                };
                out.push_str(&Val::from_json(rec.get(field)).text());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
