//! The adapter's reply parser (LM replies are untrusted input), in both
//! formats over signatures of every field type, and the prompt reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simba_run::adapter::{Format, parse_reply, read_prompt};
use simba_run::ir::{Field, FieldType};
use simba_run::lm::Message;

fn field(name: &str, ty: FieldType) -> Field {
    Field {
        name: name.into(),
        ty,
        description: None,
    }
}

fn signatures() -> Vec<Vec<Field>> {
    vec![
        vec![field("answer", FieldType::String)],
        vec![
            field("reasoning", FieldType::String),
            field("answer", FieldType::String),
        ],
        vec![
            field(
                "label",
                FieldType::Enum(vec!["positive".into(), "negative".into(), "neutral".into()]),
            ),
            field("confidence", FieldType::Float),
        ],
        vec![
            field("count", FieldType::Int),
            field("ok", FieldType::Bool),
            field("items", FieldType::List(Box::new(FieldType::String))),
            field("scores", FieldType::List(Box::new(FieldType::Int))),
            field("extra", FieldType::Json),
        ],
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let sigs = signatures();
    let outputs = &sigs[(selector as usize) % sigs.len()];
    let format = if selector & 0x80 == 0 {
        Format::Chat
    } else {
        Format::Json
    };
    let _ = parse_reply(format, outputs, &text);
    let other = if format == Format::Chat {
        Format::Json
    } else {
        Format::Chat
    };
    let _ = parse_reply(other, outputs, &text);
    // The same text as a prompt (the sim model reads prompts back).
    let messages = vec![
        Message::system(text.to_string()),
        Message::user(text.to_string()),
    ];
    let _ = read_prompt(&messages);
});
