//! The values a metric expression computes with, and their conversions.

use std::fmt;

/// An intermediate value of a metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A number (JSON numbers and number literals).
    Num(f64),
    /// A string; a missing or null record value is the empty string.
    Str(String),
    /// A boolean, from a literal, a comparison or a record value.
    Bool(bool),
    /// A list or object from a record, used through its JSON text.
    Json(serde_json::Value),
}

/// Why an expression could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl Val {
    /// A record value: numbers become numbers, null becomes the empty string.
    pub fn from_json(v: Option<&serde_json::Value>) -> Val {
        match v {
            None | Some(serde_json::Value::Null) => Val::Str(String::new()),
            Some(serde_json::Value::String(s)) => Val::Str(s.clone()),
            Some(serde_json::Value::Bool(b)) => Val::Bool(*b),
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(f) => Val::Num(f),
                None => Val::Json(serde_json::Value::Number(n.clone())),
            },
            Some(other) => Val::Json(other.clone()),
        }
    }

    /// The number this value stands for: numbers, booleans as 1/0, and
    /// strings that parse as a number (surrounding spaces allowed).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Str(s) => parse_number(s),
            Val::Json(_) => None,
        }
    }

    /// [`Val::as_number`], or an error naming `what` when it is not a number.
    pub fn number(&self, what: &str) -> Result<f64, EvalError> {
        self.as_number()
            .ok_or_else(|| EvalError(format!("{what}: {self} is not a number")))
    }

    /// Truth for `and`, `or`, `not`: false, 0 and the empty string are false.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Json(v) => match v {
                serde_json::Value::Array(a) => !a.is_empty(),
                serde_json::Value::Object(o) => !o.is_empty(),
                _ => true,
            },
        }
    }

    /// The text string built-ins compare (a string as it is, without a
    /// copy: every `exact_match` call reads two).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Val::Str(s) => std::borrow::Cow::Borrowed(s),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
}

/// Re-exported from the leaf [`crate::value`], where the compiler reads
/// number literals with it too.
pub use crate::value::parse_number;

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Str(s) => f.write_str(s),
            Val::Bool(b) => write!(f, "{b}"),
            // Integral numbers print without a fraction so 42 matches "42".
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Val::Num(n) => write!(f, "{n}"),
            // A list reads as its items joined by ", " (so ["x", "y"] is
            // "x, y", which normalises to "x y"); objects as JSON text.
            Val::Json(serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Val::from_json(Some(item)))?;
                }
                Ok(())
            }
            Val::Json(v) => write!(f, "{v}"),
        }
    }
}
