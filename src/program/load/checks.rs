//! What a loaded program.json holds that the run will not use, or that
//! looks saved for another program: each a warning, never an error (DSPy's
//! own `load()` checks none of it).

use serde_json::Value;

use crate::ir::{FieldType, Step};
use crate::program::dspy_fields::{DspyField, dspy_fields};
use crate::value::Demo;

/// A saved `lm` (DSPy writes the model's settings there when one was set on
/// the predictor) is not used: the spec's model runs the step. Only a real
/// value is worth a warning: DSPy writes `"lm": null` for none, and any
/// other value Python counts as false (`{}`, `""`, `false`, `0`, `[]`) sets
/// no model either.
pub(super) fn warn_ignored_lm(key: &str, step: &Step, pred: &Value, warnings: &mut Vec<String>) {
    let Some(lm) = pred.get("lm").filter(|lm| !python_falsy(lm)) else {
        return;
    };
    let saved = match lm.get("model").and_then(Value::as_str) {
        Some(model) => format!("a saved `lm` (model {model:?})"),
        None => "a saved `lm`".to_string(),
    };
    warnings.push(format!(
        "predictor `{key}` has {saved}, which is ignored: step `{}` runs on the spec's model `{}`",
        step.name, step.lm
    ));
}

/// Whether Python's `bool()` of the JSON value is false.
fn python_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Demos whose value of an enum output is not one of its labels: the model
/// would be shown an answer it may not give.
pub(super) fn warn_labels_outside_enums(
    key: &str,
    step: &Step,
    demos: &[Demo],
    warnings: &mut Vec<String>,
) {
    for field in &step.signature.outputs {
        let FieldType::Enum(labels) = &field.ty else {
            continue;
        };
        for (i, demo) in demos.iter().enumerate() {
            let Some(value) = demo.fields.get(&field.name) else {
                continue;
            };
            if value
                .as_str()
                .is_some_and(|v| labels.iter().any(|l| l == v))
            {
                continue;
            }
            warnings.push(format!(
                "predictor `{key}`, demo {}: `{}` is {value}, not one of its labels {}",
                i + 1,
                field.name,
                field.ty
            ));
        }
    }
}

/// The saved `signature.fields` (a prefix and a description per field, no
/// names) against the ones DSPy would save for `step`: a file saved for
/// other fields loads its instructions and demos all the same, so say so.
/// DSPy's `load()` pairs fields by position without a check. A saved field
/// is taken for the spec's when its prefix or description is the one DSPy
/// gives that name (or the spec's description); no `fields`, or an empty
/// list, says nothing and is not checked.
pub(super) fn warn_field_names(key: &str, step: &Step, pred: &Value, warnings: &mut Vec<String>) {
    let Some(saved) = pred
        .get("signature")
        .and_then(|s| s.get("fields"))
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
    else {
        return;
    };
    let expected = dspy_fields(step);
    let same =
        saved.len() == expected.len() && saved.iter().zip(&expected).all(|(s, e)| same_field(s, e));
    if same {
        return;
    }
    let saved_names: Vec<String> = saved.iter().map(saved_field_name).collect();
    let spec_names: Vec<String> = expected.iter().map(|f| format!("`{}`", f.name)).collect();
    warnings.push(format!(
        "predictor `{key}` was saved for the fields {}, not step `{}`'s {}: its instructions and demos are loaded, the spec's fields are used",
        saved_names.join(", "),
        step.name,
        spec_names.join(", ")
    ));
}

/// Whether a saved `{prefix, description}` is DSPy's for `field`.
fn same_field(saved: &Value, field: &DspyField) -> bool {
    let text = |k: &str| saved.get(k).and_then(Value::as_str);
    text("prefix") == Some(field.prefix.as_str())
        || text("description") == Some(field.description.as_str())
        || text("description") == Some(format!("${{{}}}", field.name).as_str())
}

/// A saved field's name as far as the file tells it: the `${name}` of
/// DSPy's placeholder description, else its prefix.
fn saved_field_name(saved: &Value) -> String {
    let text = |k: &str| saved.get(k).and_then(Value::as_str);
    if let Some(name) = text("description")
        .and_then(|d| d.strip_prefix("${"))
        .and_then(|d| d.strip_suffix('}'))
    {
        return format!("`{name}`");
    }
    match text("prefix") {
        Some(prefix) => format!("{prefix:?}"),
        None => "(unnamed)".to_string(),
    }
}
