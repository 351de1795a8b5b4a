//! Code items of the extras plugin: the tool `join` and the metric `rubric`.

use simba_plugin_sdk::{
    ConfigKey, FieldSpec, Host, Level, Metric, MetricRequest, MetricScore, Record, Tool, ToolSpec,
};

/// The string form of a field (missing: empty).
fn text(record: &Record, field: &str) -> String {
    match record.get(field) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        Some(other) => other.to_string(),
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `join`: `a: string, b: string -> text: string`, the two inputs joined by
/// `separator` (config; default `" | "`). A pure tool: what a step that
/// combines a question with a retrieved passage needs.
pub struct Join {
    separator: String,
}

impl Tool for Join {
    fn new(config: &serde_json::Value) -> Result<Self, String> {
        let separator = match config.get("separator") {
            None => " | ".to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("`separator` must be a string, got {other}")),
        };
        Ok(Join { separator })
    }

    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(vec![ConfigKey::new(
            "separator",
            "string",
            "put between the two inputs (default \" | \")",
        )])
    }

    fn signature() -> ToolSpec {
        ToolSpec {
            name: String::new(),
            inputs: vec![FieldSpec::new("a", "string"), FieldSpec::new("b", "string")],
            outputs: vec![FieldSpec::new("text", "string")],
        }
    }

    fn run(&self, inputs: Record, _host: &Host) -> Result<Record, String> {
        let joined = format!(
            "{}{}{}",
            text(&inputs, "a"),
            self.separator,
            text(&inputs, "b")
        );
        let mut out = Record::new();
        out.insert("text".into(), joined.into());
        Ok(out)
    }
}

/// `rubric`: the share of the gold `field`'s words (config `field`, default
/// `answer`) found in the prediction's; a share at or above `threshold`
/// (config, in [0, 1], default 1) scores 1, below it the share itself, with
/// feedback naming the missing words.
pub struct Rubric {
    field: String,
    threshold: f64,
}

impl Metric for Rubric {
    fn new(config: &serde_json::Value) -> Result<Self, String> {
        let threshold = match config.get("threshold") {
            None => 1.0,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => t,
                _ => return Err(format!("`threshold` must be a number in [0, 1], got {v}")),
            },
        };
        let field = match config.get("field") {
            None => "answer".to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("`field` must be a string, got {other}")),
        };
        Ok(Rubric { field, threshold })
    }

    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(vec![
            ConfigKey::new(
                "field",
                "string",
                "the gold and predicted field compared (default `answer`)",
            ),
            ConfigKey::new(
                "threshold",
                "float",
                "the share of gold words, in [0, 1], that scores 1 (default 1)",
            ),
        ])
    }

    fn score(&self, request: MetricRequest, host: &Host) -> Result<MetricScore, String> {
        if !request.gold.contains_key(&self.field) {
            return Err(format!("the gold example has no field `{}`", self.field));
        }
        let gold = words(&text(&request.gold, &self.field));
        let pred = words(&text(&request.pred, &self.field));
        if gold.is_empty() {
            host.log(Level::Debug, "rubric: empty gold answer");
            return Ok(MetricScore {
                score: 1.0,
                feedback: None,
            });
        }
        let missing: Vec<&str> = gold
            .iter()
            .filter(|w| !pred.contains(w))
            .map(String::as_str)
            .collect();
        let share = 1.0 - missing.len() as f64 / gold.len() as f64;
        if share >= self.threshold {
            return Ok(MetricScore {
                score: 1.0,
                feedback: None,
            });
        }
        Ok(MetricScore {
            score: share,
            feedback: Some(format!("the {} misses: {}", self.field, missing.join(", "))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: serde_json::Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn rubric_scores_the_share_of_gold_words_below_the_threshold() {
        let m = Rubric::new(&json!({"threshold": 0.9})).unwrap();
        let s = m
            .score(
                MetricRequest {
                    pred: record(json!({"answer": "Paris France"})),
                    gold: record(json!({"answer": "Paris, Ile de France"})),
                },
                &Host::none(),
            )
            .unwrap();
        assert_eq!(s.score, 0.5);
        assert_eq!(s.feedback.as_deref(), Some("the answer misses: ile, de"));
    }

    #[test]
    fn rubric_rejects_a_threshold_outside_0_1() {
        let err = Rubric::new(&json!({"threshold": 2})).err().unwrap();
        assert_eq!(err, "`threshold` must be a number in [0, 1], got 2");
    }

    #[test]
    fn join_uses_the_configured_separator() {
        let t = Join::new(&json!({"separator": " + "})).unwrap();
        let out = t
            .run(record(json!({"a": "x", "b": ["y", "z"]})), &Host::none())
            .unwrap();
        assert_eq!(out["text"], "x + y z");
    }
}
