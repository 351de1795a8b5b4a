//! Checking input values against the types the programs declare for them.
//!
//! Values are checked, never converted: csv cells stay strings, so a cell
//! is accepted for an `int`, `float`, `bool` or `list` input when its text
//! reads as one (`"3"`, `"2.5"`, `"true"`, `"[\"a\"]"`).

use serde_json::Value;

use crate::ir::{FieldType, Spec};

/// The declared types of `dataset`'s input fields: the inputs of every
/// program an optimize block runs on this dataset.
pub fn input_types(spec: &Spec, dataset: &str) -> Vec<(String, FieldType)> {
    let mut out: Vec<(String, FieldType)> = Vec::new();
    for block in &spec.optimizes {
        let uses = std::iter::once(&block.trainset)
            .chain(block.devset.iter())
            .chain(block.valset.iter())
            .any(|r| r.dataset == dataset);
        let Some(graph) = spec.programs.get(&block.program) else {
            continue;
        };
        if !uses {
            continue;
        }
        for f in &graph.inputs {
            let entry = (f.name.clone(), f.ty.clone());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

/// Whether `v` is acceptable for an input of type `ty`.
pub fn fits(v: &Value, ty: &FieldType) -> bool {
    match (ty, v) {
        (FieldType::Json, _) => true,
        (FieldType::String, Value::String(_)) => true,
        (FieldType::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (FieldType::Int, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
        (FieldType::Float, Value::Number(_)) => true,
        (FieldType::Float, Value::String(s)) => s.trim().parse::<f64>().is_ok(),
        (FieldType::Bool, Value::Bool(_)) => true,
        (FieldType::Bool, Value::String(s)) => matches!(s.trim(), "true" | "false"),
        (FieldType::Enum(labels), Value::String(s)) => labels.iter().any(|l| l == s),
        (FieldType::List(inner), Value::Array(items)) => items.iter().all(|i| fits(i, inner)),
        (FieldType::List(inner), Value::String(s)) => {
            matches!(serde_json::from_str::<Value>(s), Ok(Value::Array(items)) if items.iter().all(|i| fits(i, inner)))
        }
        _ => false,
    }
}

/// A short description of a value for error messages.
pub fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_against_types() {
        let list = FieldType::List(Box::new(FieldType::Int));
        let labels = FieldType::Enum(vec!["pos".into(), "neg".into()]);
        assert!(fits(&json!("x"), &FieldType::String));
        assert!(!fits(&json!(3), &FieldType::String));
        assert!(fits(&json!(3), &FieldType::Int));
        assert!(fits(&json!(" 3 "), &FieldType::Int));
        assert!(!fits(&json!(3.5), &FieldType::Int));
        assert!(fits(&json!("2.5"), &FieldType::Float));
        assert!(!fits(&json!("two"), &FieldType::Float));
        assert!(fits(&json!("true"), &FieldType::Bool));
        assert!(fits(&json!([1, 2]), &list));
        assert!(fits(&json!("[1, 2]"), &list));
        assert!(!fits(&json!(["a"]), &list));
        assert!(fits(&json!("pos"), &labels));
        assert!(!fits(&json!("meh"), &labels));
        assert!(fits(&json!(null), &FieldType::Json));
    }
}
