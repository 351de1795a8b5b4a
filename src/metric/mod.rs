//! Metrics: scoring a prediction against its gold example.

use serde::{Deserialize, Serialize};

/// A metric's verdict on one prediction: a value (usually in [0, 1]) and an
/// optional feedback text for strategies such as append_rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    pub feedback: Option<String>,
}
