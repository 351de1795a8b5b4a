//! `append_rule`: contrast the best and worst trajectories of a bucket, ask the
//! prompt model what each predictor should do differently, and append that
//! advice to the predictors' instructions.
//!
//! The request's field names are a contract with the `sim` model (it reads
//! them); the wording is ours. The program is described by its spec text, not
//! by source code, to keep the request small.

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::ir::{Field, FieldType};
use crate::program::Program;
use crate::value::Record;

use super::{Strategy, StrategyContext, StrategyError, StrategyReport, Trajectory};

/// The feedback signature's instructions.
pub const FEEDBACK_INSTRUCTIONS: &str = "\
You are shown two runs of the same LM program on one input: a worse run and a better run, \
each with every predictor's inputs and outputs, the final outputs, the score the metric gave \
and the metric's feedback. Compare them and work out where the worse run went wrong. Then \
write advice for the predictors so that, on similar inputs in the future, they behave like \
the better run.

Each predictor will only see your advice, not these runs, so make it concrete yet general: \
\"when the input looks like X, do Y (and avoid Z)\". Advise each predictor on its own \
sub-task, not on the program as a whole. Skip boilerplate. Use each predictor's name, \
exactly as listed, once as a key of the advice object.";

fn field(name: &str, ty: FieldType, desc: &str) -> Field {
    Field {
        name: name.into(),
        ty,
        description: Some(desc.into()),
    }
}

/// The feedback signature's input fields (names fixed by contract).
pub fn feedback_inputs() -> Vec<Field> {
    use FieldType::*;
    vec![
        field(
            "program",
            String,
            "the program's definition in the spec language",
        ),
        field(
            "predictors",
            Json,
            "each predictor: name, current instructions, input and output fields",
        ),
        field(
            "example_inputs",
            Json,
            "the program's inputs on this example",
        ),
        field(
            "example_labels",
            Json,
            "the example's hidden labels (the expected answer)",
        ),
        field(
            "worse_trajectory",
            Json,
            "the worse run: each predictor call's inputs and outputs",
        ),
        field("worse_outputs", Json, "the worse run's final outputs"),
        field("worse_score", Float, "the worse run's score"),
        field(
            "worse_feedback",
            String,
            "the metric's comment on the worse run",
        ),
        field(
            "better_trajectory",
            Json,
            "the better run: each predictor call's inputs and outputs",
        ),
        field("better_outputs", Json, "the better run's final outputs"),
        field("better_score", Float, "the better run's score"),
        field(
            "better_feedback",
            String,
            "the metric's comment on the better run",
        ),
    ]
}

/// The feedback signature's output fields (names fixed by contract).
pub fn feedback_outputs() -> Vec<Field> {
    vec![
        field(
            "analysis",
            FieldType::String,
            "where each predictor went wrong in the worse run, if it did",
        ),
        field(
            "advice",
            FieldType::Json,
            "an object from predictor name to advice: if the predictor receives <inputs like these>, \
             it should <what to do or avoid>",
        ),
    ]
}

/// The built-in `append_rule` strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendRule;

/// Whether append_rule passes over a bucket whose best and worst runs scored
/// `best` and `worst`: when the best is at or below the batch's 10th
/// percentile (nothing good to learn from) or the worst at or above its 90th
/// (nothing bad to correct). Inclusive, as DSPy's `append_a_rule`, so with
/// 0/1 scores a bucket whose runs all scored the same is never sent for advice.
pub fn rule_skips(best: f64, worst: f64, p10: f64, p90: f64) -> bool {
    best <= p10 || worst >= p90
}

/// Which side of the advice request is blanked (no trajectory, no score).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blanked {
    /// Both runs are shown (the best scored above the worst).
    Neither,
    /// Every run scored the same, above the 90th percentile: only the better side is shown.
    Worse,
    /// Every run scored the same, at or below the 90th percentile: only the worse side is shown.
    Better,
}

/// The blanking rule of DSPy's `append_a_rule`: when the best run scored no
/// more than the worst, there is no contrast, so one side is left empty.
pub fn blanked_side(best: f64, worst: f64, p90: f64) -> Blanked {
    if best > worst {
        Blanked::Neither
    } else if best > p90 {
        Blanked::Worse
    } else {
        Blanked::Better
    }
}

fn trajectory_json(t: Option<&Trajectory>) -> Value {
    match t {
        None => json!([]),
        Some(t) => Value::Array(
            t.execution
                .trace
                .iter()
                .map(|e| json!({"predictor": e.step, "inputs": e.inputs, "outputs": e.outputs}))
                .collect(),
        ),
    }
}

fn outputs_json(t: Option<&Trajectory>) -> Value {
    match t.and_then(|t| t.execution.prediction.as_ref()) {
        Some(p) => serde_json::to_value(p).unwrap_or(Value::Null),
        None => json!({"N/A": "not available"}),
    }
}

fn predictors_json(program: &Program) -> Value {
    // Tool steps are not predictors: advice cannot be addressed to them.
    Value::Array(
        program
            .graph
            .steps
            .iter()
            .filter(|s| s.is_predictor())
            .map(|s| {
                let instructions = program
                    .predictors
                    .get(&s.name)
                    .map(|p| p.instructions.clone())
                    .unwrap_or_default();
                let fields = |fs: &[Field]| -> Vec<String> {
                    fs.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect()
                };
                json!({
                    "name": s.name,
                    "instructions": instructions,
                    "inputs": fields(&s.signature.inputs),
                    "outputs": fields(&s.lm_outputs()),
                })
            })
            .collect(),
    )
}

/// The request's input values for a bucket. When best <= worst (every run
/// scored the same), one side is blanked, as DSPy does: the worse side when
/// the score is above the 90th percentile, else the better side.
pub fn feedback_values(ctx: &StrategyContext<'_>, program: &Program) -> Record {
    let bucket = ctx.bucket;
    let (best, worst) = (bucket.best(), bucket.worst());
    let (good, bad) = match blanked_side(best.score.value, worst.score.value, ctx.p90) {
        Blanked::Neither => (Some(best), Some(worst)),
        Blanked::Worse => (Some(best), None),
        Blanked::Better => (None, Some(worst)),
    };
    let score = |t: Option<&Trajectory>| t.map(|t| json!(t.score.value)).unwrap_or(Value::Null);
    let feedback = |t: Option<&Trajectory>| {
        Value::String(t.and_then(|t| t.score.feedback.clone()).unwrap_or_default())
    };
    let ex = &bucket.example;
    let labels: Record = ex
        .fields
        .iter()
        .filter(|(k, _)| !ex.input_keys.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut r = Record::default();
    r.insert(
        "program".into(),
        Value::String(program.graph.spec_text.clone()),
    );
    r.insert("predictors".into(), predictors_json(program));
    r.insert(
        "example_inputs".into(),
        serde_json::to_value(ex.inputs()).unwrap_or(Value::Null),
    );
    r.insert(
        "example_labels".into(),
        serde_json::to_value(labels).unwrap_or(Value::Null),
    );
    r.insert("worse_trajectory".into(), trajectory_json(bad));
    r.insert("worse_outputs".into(), outputs_json(bad));
    r.insert("worse_score".into(), score(bad));
    r.insert("worse_feedback".into(), feedback(bad));
    r.insert("better_trajectory".into(), trajectory_json(good));
    r.insert("better_outputs".into(), outputs_json(good));
    r.insert("better_score".into(), score(good));
    r.insert("better_feedback".into(), feedback(good));
    r
}

/// Advice as text: strings as they are, anything else as JSON.
fn advice_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// Append advice to the predictors it names (case-insensitively; with a
/// single predictor, any one key applies to it). Returns the predictors
/// advised and the advice that matched none.
pub fn apply_advice(
    program: &mut Program,
    advice: &serde_json::Map<String, Value>,
) -> (Vec<String>, IndexMap<String, String>) {
    let names: Vec<String> = program.predictors.keys().cloned().collect();
    let mut advised: Vec<String> = Vec::new();
    let mut unmatched = IndexMap::new();
    let mut pending: Vec<(String, String)> = Vec::new();
    for (key, value) in advice {
        let text = advice_text(value);
        if text.is_empty() {
            continue;
        }
        let target = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(key.trim()))
            .cloned();
        match target {
            Some(name) if !advised.contains(&name) => {
                advised.push(name.clone());
                pending.push((name, text));
            }
            _ => {
                unmatched.insert(key.clone(), text);
            }
        }
    }
    if advised.is_empty() && names.len() == 1 && !unmatched.is_empty() {
        // With one predictor, whatever the key, the advice is for it.
        let (key, text) = unmatched.shift_remove_index(0).expect("non-empty");
        let _ = key;
        advised.push(names[0].clone());
        pending.push((names[0].clone(), text));
    }
    for (name, text) in pending {
        if let Some(p) = program.predictors.get_mut(&name) {
            // Always a blank line between, as DSPy joins them: even empty
            // instructions (a blank docstring) get the separator, so a
            // program advised here reads the same as one advised by DSPy.
            p.instructions = format!("{}\n\n{}", p.instructions, text);
        }
    }
    (advised, unmatched)
}

#[async_trait]
impl Strategy for AppendRule {
    fn name(&self) -> String {
        "append_rule".into()
    }

    async fn apply(
        &self,
        ctx: &StrategyContext<'_>,
        candidate: &mut Program,
    ) -> Result<StrategyReport, StrategyError> {
        let (best, worst) = (
            ctx.bucket.best().score.value,
            ctx.bucket.worst().score.value,
        );
        if rule_skips(best, worst, ctx.p10, ctx.p90) {
            return Ok(StrategyReport::skipped(format!(
                "best score {best} is at or below the 10th percentile {} or worst score {worst} is at or above the 90th percentile {}",
                ctx.p10, ctx.p90
            )));
        }
        let Some(prompt) = ctx.prompt else {
            return Err(StrategyError("no prompt model is configured".into()));
        };
        let values = feedback_values(ctx, candidate);
        let outputs = prompt
            .predictor
            .predict(
                FEEDBACK_INSTRUCTIONS,
                &feedback_inputs(),
                &feedback_outputs(),
                &values,
            )
            .await
            .map_err(|e| {
                StrategyError(format!("advice request to `{}` failed: {e}", prompt.name))
            })?;
        let advice = match outputs.get("advice") {
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(StrategyError(format!(
                    "the advice is not an object of predictor name to advice: {other}"
                )));
            }
            None => return Err(StrategyError("the reply has no advice".into())),
        };
        let (advised, unmatched) = apply_advice(candidate, &advice);
        let mut report = if advised.is_empty() {
            StrategyReport::skipped("the advice named no predictor of the program")
        } else {
            StrategyReport::applied(format!("appended advice to {}", advised.join(", ")))
        };
        report.unmatched_advice = unmatched;
        Ok(report)
    }
}
