//! Writing prompts: the system message, demos as user/assistant pairs, and the
//! user message of the real inputs, in the chat (field-marker) or JSON format.

use std::cell::RefCell;
use std::fmt::Write as _;

use serde_json::Value;

use super::value::{type_hint, write_value};
use super::{Format, PredictSpec};
use crate::ir::Field;
use crate::lm::Message;
use crate::value::{Demo, Record};

/// Opens the system message's list of input fields.
pub(crate) const INPUTS_TITLE: &str = "Your input fields are:";
/// Opens the system message's list of output fields.
pub(crate) const OUTPUTS_TITLE: &str = "Your output fields are:";
/// Introduces the task instructions, which run to the end of the system message.
pub(crate) const TASK_CUE: &str = "In following this structure, your task is:\n";
/// Opens the closing sentence of a chat-format user message.
pub(crate) const CHAT_REPLY_CUE: &str = "Reply with the fields ";
/// Opens the closing sentence of a JSON-format user message.
pub(crate) const JSON_REPLY_CUE: &str = "Reply with one JSON object with the keys ";
/// Starts a demo user message that lacks some of the signature's fields.
const INCOMPLETE_NOTE: &str = "This example leaves some fields out.";
/// The end-of-reply marker of the chat format.
pub(crate) const COMPLETED: &str = "completed";

/// Writes `[[ ## name ## ]]`.
pub(crate) fn push_header(out: &mut String, name: &str) {
    out.push_str("[[ ## ");
    out.push_str(name);
    out.push_str(" ## ]]");
}

/// The instructions to show: the signature's own, else a sentence built from
/// the field names.
fn instructions(spec: &PredictSpec<'_>) -> String {
    let own = spec.instructions.trim();
    if !own.is_empty() {
        return own.to_string();
    }
    let mut s = String::from("Given the fields ");
    push_names(&mut s, spec.inputs);
    s.push_str(", produce the fields ");
    push_names(&mut s, spec.outputs);
    s.push('.');
    s
}

fn push_names(out: &mut String, fields: &[Field]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('`');
        out.push_str(&f.name);
        out.push('`');
    }
}

fn push_field_list(out: &mut String, title: &str, fields: &[Field]) {
    out.push_str(title);
    for (i, f) in fields.iter().enumerate() {
        out.push('\n');
        let _ = write!(out, "{}. `{}` ({})", i + 1, f.name, f.ty);
        if let Some(desc) = f.description.as_deref().filter(|d| !d.trim().is_empty()) {
            out.push_str(": ");
            // One line per field, so the list reads back line by line.
            out.push_str(&desc.trim().replace('\n', " "));
        }
    }
}

fn system_message(format: Format, spec: &PredictSpec<'_>) -> String {
    let mut s = String::with_capacity(512);
    push_field_list(&mut s, INPUTS_TITLE, spec.inputs);
    s.push_str("\n\n");
    push_field_list(&mut s, OUTPUTS_TITLE, spec.outputs);
    s.push_str("\n\nEvery exchange follows this structure, with the values filled in:\n\n");
    for f in spec.inputs {
        push_header(&mut s, &f.name);
        let _ = write!(s, "\n{{{}}}\n\n", f.name);
    }
    match format {
        Format::Chat => {
            for f in spec.outputs {
                push_header(&mut s, &f.name);
                let _ = write!(s, "\n{{{}}}", f.name);
                if let Some(hint) = type_hint(&f.ty) {
                    let _ = write!(s, "    (write {hint})");
                }
                s.push_str("\n\n");
            }
            push_header(&mut s, COMPLETED);
            s.push_str("\n\n");
        }
        Format::Json => {
            s.push_str("The reply is one JSON object with these keys, in this order:\n");
            for f in spec.outputs {
                let _ = writeln!(s, "  \"{}\": {}", f.name, json_slot(f));
            }
            s.push('\n');
        }
    }
    s.push_str(TASK_CUE);
    s.push_str(&instructions(spec));
    s
}

/// What a key's value looks like in the JSON format's structure description.
fn json_slot(f: &Field) -> String {
    match type_hint(&f.ty) {
        None => format!("{{{}}} (a string)", f.name),
        Some(hint) => format!("{{{}}} ({hint})", f.name),
    }
}

/// The input fields of a user message, each under its header.
fn push_inputs(out: &mut String, spec: &PredictSpec<'_>, values: &Record) {
    for f in spec.inputs {
        if let Some(v) = values.get(&f.name) {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            push_header(out, &f.name);
            out.push('\n');
            write_value(out, v);
        }
    }
}

/// The closing sentence of the real user message: which fields to produce.
fn push_reply_cue(out: &mut String, format: Format, spec: &PredictSpec<'_>) {
    out.push_str("\n\n");
    out.push_str(match format {
        Format::Chat => CHAT_REPLY_CUE,
        Format::Json => JSON_REPLY_CUE,
    });
    for (i, f) in spec.outputs.iter().enumerate() {
        if i > 0 {
            out.push_str(", then ");
        }
        out.push('`');
        match format {
            Format::Chat => push_header(out, &f.name),
            Format::Json => out.push_str(&f.name),
        }
        out.push('`');
        if let Some(hint) = type_hint(&f.ty) {
            let _ = write!(out, " ({hint})");
        }
    }
    out.push_str(match format {
        Format::Chat => ", and end with `[[ ## completed ## ]]`.",
        Format::Json => ".",
    });
}

/// A demo's assistant message: the output fields it has.
fn demo_reply(format: Format, spec: &PredictSpec<'_>, fields: &Record) -> String {
    match format {
        Format::Chat => {
            let mut out = String::new();
            for f in spec.outputs {
                if let Some(v) = fields.get(&f.name) {
                    push_header(&mut out, &f.name);
                    out.push('\n');
                    write_value(&mut out, v);
                    out.push_str("\n\n");
                }
            }
            push_header(&mut out, COMPLETED);
            out
        }
        Format::Json => {
            let obj: serde_json::Map<String, Value> = spec
                .outputs
                .iter()
                .filter_map(|f| fields.get(&f.name).map(|v| (f.name.clone(), v.clone())))
                .collect();
            Value::Object(obj).to_string()
        }
    }
}

/// System messages formatted lately, most recent last.
///
/// A SIMBA step sends the same system message (one predictor, one
/// instruction text) for every example of a batch; writing it again each
/// time was a tenth of a call's CPU. Entries are matched on their whole
/// content, so a hit is always the text that would have been written.
struct RecentSystems(Vec<RecentSystem>);

struct RecentSystem {
    format: Format,
    instructions: String,
    inputs: Vec<Field>,
    outputs: Vec<Field>,
    text: String,
}

/// Enough for the candidates of one step, each with a few predictors.
const RECENT_SYSTEMS: usize = 16;

thread_local! {
    static RECENT: RefCell<RecentSystems> = const { RefCell::new(RecentSystems(Vec::new())) };
}

impl RecentSystems {
    fn text(&mut self, format: Format, spec: &PredictSpec<'_>) -> String {
        let same = |r: &RecentSystem| {
            r.format == format
                && r.instructions == spec.instructions
                && r.inputs == spec.inputs
                && r.outputs == spec.outputs
        };
        if let Some(i) = self.0.iter().rposition(same) {
            let hit = self.0.remove(i);
            let text = hit.text.clone();
            self.0.push(hit);
            return text;
        }
        let text = system_message(format, spec);
        if self.0.len() == RECENT_SYSTEMS {
            self.0.remove(0);
        }
        self.0.push(RecentSystem {
            format,
            instructions: spec.instructions.to_string(),
            inputs: spec.inputs.to_vec(),
            outputs: spec.outputs.to_vec(),
            text: text.clone(),
        });
        text
    }
}

/// The system message of `spec` in `format`.
fn system_text(format: Format, spec: &PredictSpec<'_>) -> String {
    RECENT.with(|recent| recent.borrow_mut().text(format, spec))
}

/// The messages of one predictor call. Demos lacking every input or every
/// output field are left out (they show nothing of the task); the others show
/// the fields they have.
pub fn format_messages(
    format: Format,
    spec: &PredictSpec<'_>,
    demos: &[Demo],
    inputs: &Record,
) -> Vec<Message> {
    let mut messages = Vec::with_capacity(2 + 2 * demos.len());
    messages.push(Message::system(system_text(format, spec)));
    for demo in demos {
        let has = |fs: &[Field]| {
            fs.iter()
                .filter(|f| demo.fields.contains_key(&f.name))
                .count()
        };
        let (n_in, n_out) = (has(spec.inputs), has(spec.outputs));
        if n_in == 0 || n_out == 0 {
            continue;
        }
        let mut user = String::new();
        if n_in < spec.inputs.len() || n_out < spec.outputs.len() {
            user.push_str(INCOMPLETE_NOTE);
        }
        push_inputs(&mut user, spec, &demo.fields);
        messages.push(Message::user(user));
        messages.push(Message::assistant(demo_reply(format, spec, &demo.fields)));
    }
    let mut user = String::with_capacity(256);
    push_inputs(&mut user, spec, inputs);
    push_reply_cue(&mut user, format, spec);
    messages.push(Message::user(user));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::FieldType;

    fn field(name: &str, description: Option<&str>) -> Field {
        Field {
            name: name.into(),
            ty: FieldType::String,
            description: description.map(str::to_string),
        }
    }

    #[test]
    fn a_remembered_system_message_is_the_one_its_spec_writes() {
        let inputs = [field("question", None)];
        let outputs = [field("answer", Some("short"))];
        let described = [field("answer", Some("long"))];
        let specs = [
            (Format::Chat, "Answer.", &outputs[..]),
            (Format::Chat, "Answer briefly.", &outputs[..]),
            (Format::Json, "Answer.", &outputs[..]),
            (Format::Chat, "Answer.", &described[..]),
        ];
        // Each spec twice, interleaved, and more specs than are remembered.
        for round in 0..2 {
            for (i, (format, instructions, outputs)) in specs.iter().enumerate() {
                let spec = PredictSpec {
                    instructions,
                    inputs: &inputs,
                    outputs,
                };
                let text = system_text(*format, &spec);
                assert_eq!(
                    text,
                    system_message(*format, &spec),
                    "spec {i}, round {round}"
                );
            }
            for n in 0..RECENT_SYSTEMS {
                let instructions = format!("filler {n}");
                let spec = PredictSpec {
                    instructions: &instructions,
                    inputs: &inputs,
                    outputs: &outputs,
                };
                assert!(system_text(Format::Chat, &spec).ends_with(&instructions));
            }
        }
    }
}
