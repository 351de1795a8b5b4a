//! Reading one data file (jsonl or csv) into examples.

use std::path::Path;

use super::DataError;
use super::types::{describe, fits};
use crate::ir::{DataFile, FieldType};
use crate::value::{Example, Record};

/// Read a data file; every row must carry every field named in `inputs`.
pub fn read_file(file: &DataFile, inputs: &[String]) -> Result<Vec<Example>, DataError> {
    read_file_checked(file, inputs, &[])
}

/// [`read_file`], also checking each row's values of the fields in `types`
/// (see [`super::types`]).
pub fn read_file_checked(
    file: &DataFile,
    inputs: &[String],
    types: &[(String, FieldType)],
) -> Result<Vec<Example>, DataError> {
    let rows = match file {
        DataFile::Jsonl(path) => read_jsonl(path, inputs, types),
        DataFile::Csv(path) => read_csv(path, inputs, types),
    }?;
    Ok(rows)
}

/// The file's text; invalid UTF-8 is refused naming the line and byte
/// column of the first bad byte, like every other data error.
fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        DataError::Utf8 {
            path: path.to_path_buf(),
            line: before.iter().filter(|b| **b == b'\n').count() + 1,
            column: at - line_start + 1,
            byte: bytes[at],
        }
    })
}

fn example(
    fields: Record,
    inputs: &[String],
    types: &[(String, FieldType)],
    path: &Path,
    line: usize,
) -> Result<Example, DataError> {
    if let Some(missing) = inputs.iter().find(|k| !fields.contains_key(*k)) {
        return Err(DataError::MissingField {
            path: path.to_path_buf(),
            line,
            field: missing.clone(),
        });
    }
    for (name, ty) in types {
        if let Some(v) = fields.get(name)
            && !fits(v, ty)
        {
            return Err(DataError::WrongType {
                path: path.to_path_buf(),
                line,
                field: name.clone(),
                expected: ty.to_string(),
                found: describe(v),
            });
        }
    }
    Ok(Example {
        fields,
        input_keys: inputs.to_vec(),
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn read_jsonl(
    path: &Path,
    inputs: &[String],
    types: &[(String, FieldType)],
) -> Result<Vec<Example>, DataError> {
    let text = read_text(path)?;
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| DataError::Json {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(DataError::NotObject {
                path: path.to_path_buf(),
                line,
                found: json_kind(&value),
            });
        };
        rows.push(example(
            map.into_iter().collect(),
            inputs,
            types,
            path,
            line,
        )?);
    }
    Ok(rows)
}

fn read_csv(
    path: &Path,
    inputs: &[String],
    types: &[(String, FieldType)],
) -> Result<Vec<Example>, DataError> {
    let text = read_text(path)?;
    // Flexible so a ragged row reaches our own check, which names the line
    // and both lengths.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| DataError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line() as usize),
        message: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                column: h.clone(),
            });
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        // A line holding only separators or nothing is not a row.
        if record.iter().all(|v| v.trim().is_empty()) && record.len() <= 1 {
            continue;
        }
        if record.len() != header.len() {
            return Err(DataError::Ragged {
                path: path.to_path_buf(),
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        let fields: Record = header
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
            .collect();
        rows.push(example(fields, inputs, types, path, line)?);
    }
    Ok(rows)
}
