//! Typed values: how a field value is written into a prompt and how a reply's
//! text (chat format) or JSON value (JSON format) becomes a value of the
//! field's declared type.

use serde_json::Value;

use crate::ir::FieldType;

/// Why a reply could not be read as the requested output fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// An output field the signature asks for is absent from the reply.
    #[error("the reply has no value for output field `{field}`")]
    MissingField {
        /// The missing field's name.
        field: String,
    },
    /// The field is there but its value is not of the declared type.
    #[error("output field `{field}` ({ty}): {reason} (got {value:?})")]
    BadValue {
        /// The field's name.
        field: String,
        /// The declared type, as written in a spec.
        ty: String,
        /// The offending text, cut to a readable length.
        value: String,
        /// Why the text is not a value of that type.
        reason: String,
    },
    /// JSON format: the reply holds no JSON object.
    #[error("the reply is not a JSON object: {reason}")]
    NotJson {
        /// What the JSON parser or the object check reported.
        reason: String,
    },
}

impl ParseError {
    pub(crate) fn bad_value(field: &str, ty: &FieldType, value: &str, reason: String) -> Self {
        const MAX: usize = 200;
        let value = if value.len() > MAX {
            let mut cut = MAX;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}...", &value[..cut])
        } else {
            value.to_string()
        };
        ParseError::BadValue {
            field: field.to_string(),
            ty: ty.to_string(),
            value,
            reason,
        }
    }
}

/// Writes a value the way prompts show it: strings raw, everything else as
/// compact JSON (so lists and objects read back unambiguously).
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        other => {
            use std::fmt::Write as _;
            let _ = write!(out, "{other}");
        }
    }
}

/// A short hint of what a value of `ty` looks like, for the reply instructions.
/// None for strings, which need no hint.
pub(crate) fn type_hint(ty: &FieldType) -> Option<String> {
    match ty {
        FieldType::String => None,
        FieldType::Int => Some("an integer".into()),
        FieldType::Float => Some("a number".into()),
        FieldType::Bool => Some("true or false".into()),
        FieldType::Json => Some("a JSON value".into()),
        FieldType::List(inner) => Some(format!("a JSON array of {inner}")),
        FieldType::Enum(labels) => Some(format!("exactly one of: {}", labels.join(", "))),
    }
}

/// Removes a Markdown code fence around a value (```json ... ```), which
/// models often add around JSON.
pub(crate) fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return t;
    };
    // Drop the info string (`json`) on the opening line.
    match body.find('\n') {
        Some(nl) => body[nl + 1..].trim(),
        None => body.trim(),
    }
}

/// Trims a scalar answer: whitespace, a trailing period, and one pair of
/// surrounding quotes or backticks (`"positive".` reads as `positive`).
fn clean_scalar(text: &str) -> &str {
    let mut t = text.trim();
    t = t.strip_suffix('.').unwrap_or(t).trim();
    for q in ['"', '\'', '`'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            t = t[1..t.len() - 1].trim();
            break;
        }
    }
    t.strip_suffix('.').unwrap_or(t).trim()
}

fn parse_int(t: &str) -> Result<Value, String> {
    let c = clean_scalar(t);
    if let Ok(i) = c.parse::<i64>() {
        return Ok(Value::from(i));
    }
    match c.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
        _ => Err("not an integer".into()),
    }
}

fn parse_float(t: &str) -> Result<Value, String> {
    let c = clean_scalar(t);
    match c.parse::<f64>() {
        Ok(f) if f.is_finite() => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| "not a finite number".into()),
        _ => Err("not a number".into()),
    }
}

fn parse_bool(t: &str) -> Result<Value, String> {
    let c = clean_scalar(t);
    if c.eq_ignore_ascii_case("true") || c.eq_ignore_ascii_case("yes") {
        Ok(Value::Bool(true))
    } else if c.eq_ignore_ascii_case("false") || c.eq_ignore_ascii_case("no") {
        Ok(Value::Bool(false))
    } else {
        Err("not true or false".into())
    }
}

fn parse_enum(labels: &[String], t: &str) -> Result<Value, String> {
    let c = clean_scalar(t);
    labels
        .iter()
        .find(|l| l.as_str() == c || l.to_lowercase() == c.to_lowercase())
        .map(|l| Value::String(l.clone()))
        .ok_or_else(|| format!("not one of {}", labels.join(", ")))
}

/// Parses a chat-format field section (already trimmed) as `ty`.
pub(crate) fn parse_text(ty: &FieldType, text: &str) -> Result<Value, String> {
    match ty {
        FieldType::String => Ok(Value::String(text.to_string())),
        FieldType::Int => parse_int(text),
        FieldType::Float => parse_float(text),
        FieldType::Bool => parse_bool(text),
        FieldType::Enum(labels) => parse_enum(labels, text),
        FieldType::List(_) => {
            let v: Value = serde_json::from_str(strip_fence(text))
                .map_err(|_| "not a JSON array".to_string())?;
            if !v.is_array() {
                return Err("not a JSON array".into());
            }
            coerce(ty, &v)
        }
        FieldType::Json => {
            serde_json::from_str(strip_fence(text)).map_err(|e| format!("not valid JSON ({e})"))
        }
    }
}

/// Converts a JSON value (a key of a JSON-format reply, or a list element) to
/// `ty`. Strings holding a scalar (`"42"`) are read as that scalar.
pub(crate) fn coerce(ty: &FieldType, v: &Value) -> Result<Value, String> {
    match (ty, v) {
        (FieldType::Json, v) => Ok(v.clone()),
        (_, Value::String(s)) => match ty {
            FieldType::String => Ok(v.clone()),
            _ => parse_text(ty, s),
        },
        (_, Value::Null) => Err("null".into()),
        (FieldType::String, other) => Ok(Value::String(other.to_string())),
        (FieldType::Int, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Value::from(i))
            } else {
                parse_int(&n.to_string())
            }
        }
        (FieldType::Float, Value::Number(n)) => parse_float(&n.to_string()),
        (FieldType::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
        (FieldType::List(inner), Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| coerce(inner, item).map_err(|e| format!("element {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (FieldType::Int, _) => Err("not an integer".into()),
        (FieldType::Float, _) => Err("not a number".into()),
        (FieldType::Bool, _) => Err("not true or false".into()),
        (FieldType::Enum(labels), _) => Err(format!("not one of {}", labels.join(", "))),
        (FieldType::List(_), _) => Err("not a JSON array".into()),
    }
}

/// Reads a type back from its spec spelling (`list<enum("a", "b")>`), the way
/// the system message lists it. Returns the type and the unread rest.
pub(crate) fn read_type(s: &str) -> Option<(FieldType, &str)> {
    for (word, ty) in [
        ("string", FieldType::String),
        ("int", FieldType::Int),
        ("float", FieldType::Float),
        ("bool", FieldType::Bool),
        ("json", FieldType::Json),
    ] {
        if let Some(rest) = s.strip_prefix(word) {
            return Some((ty, rest));
        }
    }
    if let Some(rest) = s.strip_prefix("list<") {
        let (inner, rest) = read_type(rest)?;
        return Some((FieldType::List(Box::new(inner)), rest.strip_prefix('>')?));
    }
    let mut rest = s.strip_prefix("enum(")?;
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(')') {
            return Some((FieldType::Enum(labels), r));
        }
        if !labels.is_empty() {
            rest = rest.strip_prefix(',')?.trim_start();
        }
        // Labels are written with Rust's debug quoting: undo \" and \\ (other
        // escapes do not occur in labels a spec can declare sensibly).
        rest = rest.strip_prefix('"')?;
        let mut label = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => {
                    let (_, e) = chars.next()?;
                    label.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c => label.push(c),
            }
        };
        labels.push(label);
        rest = &rest[end + 1..];
    }
}
