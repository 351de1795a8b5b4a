//! The fields DSPy's `Signature.dump_state` saves for a step (a prefix and a
//! description each, no name): written into every program.json's
//! `signature.fields`, and compared with a loaded file's to tell whether it
//! was saved for the same fields.

use crate::ir::{ModuleKind, REASONING_FIELD, Step};

/// One saved field: its name (not written; DSPy pairs fields by position),
/// prefix and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DspyField {
    /// The field's name in the spec.
    pub name: String,
    /// [`dspy_prefix`] of the name.
    pub prefix: String,
    /// The spec's description, or DSPy's placeholder `${name}`.
    pub description: String,
}

/// The fields DSPy saves for `step`'s signature, in its order: the inputs,
/// then the outputs the model writes (a chain of thought's `reasoning`
/// first).
pub fn dspy_fields(step: &Step) -> Vec<DspyField> {
    let placeholder = |name: &str| format!("${{{name}}}");
    let inputs = step.signature.inputs.iter().cloned();
    inputs
        .chain(step.lm_outputs())
        .map(|f| {
            // DSPy 3.4.1's ChainOfThought adds `reasoning` with the default
            // prefix and the placeholder description; our own description
            // of the field is for prompts only.
            let description =
                if step.module == ModuleKind::ChainOfThought && f.name == REASONING_FIELD {
                    placeholder(REASONING_FIELD)
                } else {
                    f.description
                        .clone()
                        .unwrap_or_else(|| placeholder(&f.name))
                };
            DspyField {
                prefix: dspy_prefix(&f.name),
                description,
                name: f.name,
            }
        })
        .collect()
}

/// DSPy's default prompt prefix for a field name (`infer_prefix` in
/// `dspy/signatures/signature.py`, then a colon): camelCase humps and runs of
/// digits become words of their own, words are split at underscores, and each
/// word is capitalised unless it is all capitals (`passage_text` ->
/// `Passage Text:`, `HTMLParser` -> `HTML Parser:`, `text2number` ->
/// `Text 2 Number:`). Empty words are kept, so doubled underscores give
/// doubled spaces, exactly as DSPy writes them.
pub fn dspy_prefix(name: &str) -> String {
    use regex::Regex;
    use std::sync::LazyLock;
    // The same four rewrites, in the same order, as DSPy applies them.
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let re = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            // A capitalised word after any character: `camelCase` -> `camel_Case`.
            (re("(.)([A-Z][a-z]+)"), "${1}_${2}"),
            // A capital after a lower-case letter or digit: `HTMLParser` keeps `HTML`.
            (re("([a-z0-9])([A-Z])"), "${1}_${2}"),
            // Digits after a letter, and a letter after digits, split off.
            (re("([a-zA-Z])([0-9])"), "${1}_${2}"),
            (re("([0-9])([a-zA-Z])"), "${1}_${2}"),
        ]
    });
    let mut snake = name.to_string();
    for (pattern, replacement) in RULES.iter() {
        snake = pattern.replace_all(&snake, *replacement).into_owned();
    }
    let words: Vec<String> = snake.split('_').map(title_word).collect();
    format!("{}:", words.join(" "))
}

/// One word of a prefix: kept when it is all capitals (Python's
/// `str.isupper`: some cased letter and no lower-case one), else first
/// letter upper-cased and the rest lower-cased (`str.capitalize`).
fn title_word(word: &str) -> String {
    let has_cased = word.chars().any(|c| c.is_uppercase() || c.is_lowercase());
    if has_cased && !word.chars().any(char::is_lowercase) {
        return word.to_string();
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// The DSPy key of a step's predictor (a tool step has none: its name).
pub fn dspy_key(step: &Step) -> String {
    match step.module {
        ModuleKind::Predict | ModuleKind::Search(_) | ModuleKind::Tool(_) => step.name.clone(),
        ModuleKind::ChainOfThought => format!("{}.predict", step.name),
    }
}
