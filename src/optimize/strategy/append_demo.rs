//! `append_demo`: the best trajectory of a bucket becomes a demo of every
//! predictor it called.

use async_trait::async_trait;
use indexmap::IndexMap;

use crate::program::Program;
use crate::value::{Demo, Record};

use super::{Strategy, StrategyContext, StrategyError, StrategyReport};

/// Appended to an input value cut at `demo_input_field_maxlen` characters.
pub const TRUNCATION_MARKER: &str = "\n... [truncated]";

/// The built-in `append_demo` strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendDemo;

/// Whether append_demo passes over a bucket whose best run scored `best`:
/// when that score is at or below the batch's 10th percentile, the run is
/// no better than the batch's weak runs and teaches nothing (inclusive, as
/// DSPy's `append_a_demo`: with 0/1 scores and p10 = 0 a demo is never
/// copied from a run that scored 0).
pub fn demo_skips(best: f64, p10: f64) -> bool {
    best <= p10
}

/// `value` as text, cut to `maxlen` characters plus the marker when longer
/// (0 = no limit). Values that fit are kept as they are, typed.
pub fn truncate_value(value: &serde_json::Value, maxlen: usize) -> serde_json::Value {
    if maxlen == 0 {
        return value.clone();
    }
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= maxlen {
        return value.clone();
    }
    let cut: String = text.chars().take(maxlen).collect();
    serde_json::Value::String(format!("{cut}{TRUNCATION_MARKER}"))
}

#[async_trait]
impl Strategy for AppendDemo {
    fn name(&self) -> String {
        "append_demo".into()
    }

    async fn apply(
        &self,
        ctx: &StrategyContext<'_>,
        candidate: &mut Program,
    ) -> Result<StrategyReport, StrategyError> {
        let best = ctx.bucket.best();
        if demo_skips(best.score.value, ctx.p10) {
            return Ok(StrategyReport::skipped(format!(
                "best score {} is at or below the batch's 10th percentile {}",
                best.score.value, ctx.p10
            )));
        }
        // The last successful call of each step wins, as in DSPy.
        let mut demos: IndexMap<String, Record> = IndexMap::new();
        for entry in &best.execution.trace {
            if entry.outputs.is_empty() || !candidate.predictors.contains_key(&entry.step) {
                continue;
            }
            let mut fields: Record = entry
                .inputs
                .iter()
                .map(|(k, v)| (k.clone(), truncate_value(v, ctx.demo_input_field_maxlen)))
                .collect();
            for (k, v) in &entry.outputs {
                fields.insert(k.clone(), v.clone());
            }
            demos.insert(entry.step.clone(), fields);
        }
        if demos.is_empty() {
            return Ok(StrategyReport::skipped(
                "the best trajectory has no successful predictor call",
            ));
        }
        let names: Vec<String> = demos.keys().cloned().collect();
        for (step, fields) in demos {
            if let Some(p) = candidate.predictors.get_mut(&step) {
                p.demos.push(Demo {
                    fields,
                    augmented: true,
                });
            }
        }
        Ok(StrategyReport::applied(format!(
            "appended a demo (score {}) to {}",
            best.score.value,
            names.join(", ")
        )))
    }
}
