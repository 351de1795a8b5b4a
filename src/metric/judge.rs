//! `judge(model, "question", args..)`: an LM asked to rate values in [0, 1].

use crate::adapter::{PredictSpec, predict};
use crate::ir::{Field, FieldType};
use crate::lm::ModelSet;
use crate::value::Record;

use super::value::{EvalError, Val};

const INSTRUCTIONS: &str = "You are a careful grader. Read the question and the values it \
refers to (value_1, value_2, .. in the order the question mentions them), then answer with a \
score from 0.0 (no, wrong) to 1.0 (yes, right); use values in between only for partial credit.";

/// Ask `model` the judge question about `values`; the score is clamped to
/// [0, 1]. A failed call (unknown model, LM error, unparseable reply) is an
/// error naming the model.
pub async fn judge(
    models: &dyn ModelSet,
    model: &str,
    question: &str,
    values: &[String],
) -> Result<f64, EvalError> {
    let fail = |why: String| EvalError(format!("judge `{model}` failed: {why}"));
    let lm = models
        .lm(model)
        .ok_or_else(|| fail("no such model".into()))?;
    let template = models
        .template(model)
        .ok_or_else(|| fail("no such model".into()))?;
    let mut inputs_spec = vec![Field {
        name: "question".into(),
        ty: FieldType::String,
        description: Some("what to judge".into()),
    }];
    let mut inputs = Record::default();
    inputs.insert("question".into(), question.into());
    for (i, v) in values.iter().enumerate() {
        let name = format!("value_{}", i + 1);
        inputs_spec.push(Field {
            name: name.clone(),
            ty: FieldType::String,
            description: None,
        });
        inputs.insert(name, v.clone().into());
    }
    let outputs = [Field {
        name: "score".into(),
        ty: FieldType::Float,
        description: Some("a number from 0.0 to 1.0".into()),
    }];
    let spec = PredictSpec {
        instructions: INSTRUCTIONS,
        inputs: &inputs_spec,
        outputs: &outputs,
    };
    let prediction = predict(lm.as_ref(), &template, &spec, &[], &inputs)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let score = Val::from_json(prediction.outputs.get("score"))
        .as_number()
        .filter(|s| !s.is_nan())
        .ok_or_else(|| fail("the reply has no numeric score".into()))?;
    Ok(score.clamp(0.0, 1.0))
}
