//! Reading replies: field sections of the chat format, or the JSON object of
//! the JSON format, each value parsed into its field's declared type.

use serde_json::Value;

use super::Format;
use super::value::{ParseError, coerce, parse_text, strip_fence};
use crate::ir::Field;
use crate::value::Record;

/// The field name of a `[[ ## name ## ]]` header at the start of `line`
/// (after whitespace), and the byte offset just past the header.
fn header_at(line: &str) -> Option<(&str, usize)> {
    let lead = line.len() - line.trim_start().len();
    let rest = line[lead..].strip_prefix("[[ ## ")?;
    let end = rest.find(" ## ]]")?;
    let name = &rest[..end];
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some((name, lead + 6 + end + 6))
}

/// Splits a chat-format text into `(field name, trimmed body)` sections, in
/// order. Text before the first header is dropped; text on a header's own
/// line after the marker belongs to that field.
pub(crate) fn sections(text: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    let mut current: Option<(&str, usize)> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if let Some((name, skip)) = header_at(line) {
            if let Some((prev, start)) = current {
                out.push((prev, text[start..pos].trim()));
            }
            current = Some((name, pos + skip));
        }
        pos += line.len();
    }
    if let Some((prev, start)) = current {
        out.push((prev, text[start..].trim()));
    }
    out
}

fn parse_chat(outputs: &[Field], text: &str) -> Result<Record, ParseError> {
    let secs = sections(text);
    let mut record = Record::with_capacity_and_hasher(outputs.len(), Default::default());
    for f in outputs {
        // The first section of a name wins: later repeats are usually the
        // model continuing with an invented next turn.
        let body = secs
            .iter()
            .find(|(name, _)| *name == f.name)
            .map(|(_, body)| *body)
            .ok_or_else(|| ParseError::MissingField {
                field: f.name.clone(),
            })?;
        let value =
            parse_text(&f.ty, body).map_err(|r| ParseError::bad_value(&f.name, &f.ty, body, r))?;
        record.insert(f.name.clone(), value);
    }
    Ok(record)
}

/// The JSON object of a reply, tolerating a code fence or prose around it.
pub(crate) fn json_object(text: &str) -> Result<serde_json::Map<String, Value>, ParseError> {
    let t = strip_fence(text);
    let (Some(start), Some(end)) = (t.find('{'), t.rfind('}')) else {
        return Err(ParseError::NotJson {
            reason: "no `{ .. }` in the reply".into(),
        });
    };
    if end < start {
        return Err(ParseError::NotJson {
            reason: "no `{ .. }` in the reply".into(),
        });
    }
    match serde_json::from_str::<Value>(&t[start..=end]) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParseError::NotJson {
            reason: "not an object".into(),
        }),
        Err(e) => Err(ParseError::NotJson {
            reason: e.to_string(),
        }),
    }
}

fn parse_json(outputs: &[Field], text: &str) -> Result<Record, ParseError> {
    let map = json_object(text)?;
    let mut record = Record::with_capacity_and_hasher(outputs.len(), Default::default());
    for f in outputs {
        let v = map
            .get(&f.name)
            .or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| ParseError::MissingField {
                field: f.name.clone(),
            })?;
        let value = coerce(&f.ty, v)
            .map_err(|r| ParseError::bad_value(&f.name, &f.ty, &v.to_string(), r))?;
        record.insert(f.name.clone(), value);
    }
    Ok(record)
}

/// Reads the output fields from a reply in `format`. Every output field must
/// be present and of its declared type; extra fields are ignored.
pub fn parse_reply(format: Format, outputs: &[Field], text: &str) -> Result<Record, ParseError> {
    match format {
        Format::Chat => parse_chat(outputs, text),
        Format::Json => parse_json(outputs, text),
    }
}
