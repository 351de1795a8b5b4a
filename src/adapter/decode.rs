//! Reading a prompt written by [`format_messages`](super::format_messages)
//! back into its parts: what offline models (the `sim` provider) need to
//! understand a request the way a real LM reads it.

use serde_json::Value;

use super::format::{
    CHAT_REPLY_CUE, COMPLETED, INPUTS_TITLE, JSON_REPLY_CUE, OUTPUTS_TITLE, TASK_CUE,
};
use super::parse::{json_object, sections};
use super::value::read_type;
use crate::ir::FieldType;
use crate::lm::Message;

/// One demo of a prompt: field values as the prompt shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoView {
    /// Input fields by name, as raw text.
    pub inputs: Vec<(String, String)>,
    /// Output fields by name, as raw text (strings unquoted, others as JSON).
    pub outputs: Vec<(String, String)>,
}

/// A prompt in the adapter's format, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptView {
    /// Input field names and types, in order.
    pub inputs: Vec<(String, FieldType)>,
    /// Output field names and types, in order.
    pub outputs: Vec<(String, FieldType)>,
    /// The task instructions (including any appended advice).
    pub instructions: String,
    /// The demos, in prompt order.
    pub demos: Vec<DemoView>,
    /// The real inputs by name, as raw text.
    pub query: Vec<(String, String)>,
}

impl PromptView {
    /// The raw text of query input `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `1. `name` (type): description` -> (name, type).
fn read_field_line(line: &str) -> Option<(String, FieldType)> {
    let (_, rest) = line.split_once(". `")?;
    let (name, rest) = rest.split_once('`')?;
    let rest = rest.strip_prefix(" (")?;
    let (ty, rest) = read_type(rest)?;
    rest.strip_prefix(')')?;
    Some((name.to_string(), ty))
}

fn read_field_list(system: &str, title: &str) -> Option<Vec<(String, FieldType)>> {
    let start = system.find(title)? + title.len();
    let mut fields = Vec::new();
    for line in system[start..].lines().skip(1) {
        if line.trim().is_empty() {
            break;
        }
        fields.push(read_field_line(line)?);
    }
    Some(fields)
}

fn field_texts(text: &str) -> Vec<(String, String)> {
    sections(text)
        .into_iter()
        .filter(|(name, _)| *name != COMPLETED)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn reply_texts(text: &str) -> Vec<(String, String)> {
    if text.trim_start().starts_with('{')
        && let Ok(map) = json_object(text)
    {
        return map
            .into_iter()
            .map(|(k, v)| {
                let t = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, t)
            })
            .collect();
    }
    field_texts(text)
}

/// The real user message without its closing reply instructions.
fn strip_reply_cue(text: &str) -> &str {
    for cue in [CHAT_REPLY_CUE, JSON_REPLY_CUE] {
        let marker = format!("\n\n{cue}");
        if let Some(at) = text.rfind(&marker) {
            return &text[..at];
        }
        if text.starts_with(cue) {
            return "";
        }
    }
    text
}

/// Reads `messages` as the adapter writes them: None when they are not in
/// its format (no system message with field lists, no final user message).
pub fn read_prompt(messages: &[Message]) -> Option<PromptView> {
    let (system, rest) = messages.split_first()?;
    if system.role != "system" {
        return None;
    }
    let (last, middle) = rest.split_last()?;
    if last.role != "user" {
        return None;
    }
    let inputs = read_field_list(&system.content, INPUTS_TITLE)?;
    let outputs = read_field_list(&system.content, OUTPUTS_TITLE)?;
    let instructions = system
        .content
        .find(TASK_CUE)
        .map(|at| system.content[at + TASK_CUE.len()..].to_string())
        .unwrap_or_default();
    let demos = middle
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| DemoView {
            inputs: field_texts(&pair[0].content),
            outputs: reply_texts(&pair[1].content),
        })
        .collect();
    let query = field_texts(strip_reply_cue(&last.content));
    Some(PromptView {
        inputs,
        outputs,
        instructions,
        demos,
        query,
    })
}
