//! GBNF grammars that force a reply into the adapter's layout, so even a tiny
//! model always writes something [`parse_reply`](crate::adapter::parse_reply)
//! accepts.
//!
//! The output fields come from the request itself: the adapter's system
//! message lists them with their types, and
//! [`read_prompt`](crate::adapter::read_prompt) reads them back. A request not
//! in the adapter's layout (free-form prompts) gets no grammar.

use crate::ir::FieldType;

/// The end-of-reply marker of the chat (field-marker) format.
const COMPLETED_HEADER: &str = "[[ ## completed ## ]]";

/// A GBNF string literal for `text` (quotes, backslashes and control
/// characters escaped).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Shared rules, referenced by the per-field rules.
const COMMON_RULES: &str = r#"ws ::= [ \t\n]{0,8}
int ::= "-"? [0-9]{1,18}
num ::= "-"? [0-9]{1,18} ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?
bool ::= "true" | "false"
jstr ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
jval ::= jobj | jarr | jstr | num | bool | "null"
jobj ::= "{" ws ( jstr ws ":" ws jval ws ( "," ws jstr ws ":" ws jval ws )* )? "}"
jarr ::= "[" ws ( jval ws ( "," ws jval ws )* )? "]"
text ::= [^\[\x00] ( [^\[\x00] | "[" [^\[\x00] )*
"#;

/// Collects the rules of one grammar, naming each generated rule once.
struct Builder {
    rules: Vec<String>,
}

impl Builder {
    fn new() -> Self {
        Self { rules: Vec::new() }
    }

    fn add(&mut self, body: String) -> String {
        let name = format!("r{}", self.rules.len());
        self.rules.push(format!("{name} ::= {body}"));
        name
    }

    /// A rule for a value of `ty` written as JSON (list elements, JSON-mode keys).
    fn json_value(&mut self, ty: &FieldType) -> String {
        match ty {
            FieldType::String => "jstr".into(),
            FieldType::Int => "int".into(),
            FieldType::Float => "num".into(),
            FieldType::Bool => "bool".into(),
            FieldType::Json => "jval".into(),
            FieldType::Enum(labels) => {
                let alts: Vec<String> = labels
                    .iter()
                    .map(|l| literal(&serde_json::Value::String(l.clone()).to_string()))
                    .collect();
                self.add(alts.join(" | "))
            }
            FieldType::List(inner) => {
                let item = self.json_value(inner);
                self.add(format!(
                    "\"[\" ws ( {item} ws ( \",\" ws {item} ws )* )? \"]\""
                ))
            }
        }
    }

    /// A rule for a value of `ty` in a chat-format section: strings as plain
    /// text, enums as exactly their labels, scalars by their syntax, lists
    /// and JSON as JSON.
    fn chat_value(&mut self, ty: &FieldType) -> String {
        match ty {
            FieldType::String => "text".into(),
            FieldType::Enum(labels) => {
                let alts: Vec<String> = labels.iter().map(|l| literal(l)).collect();
                self.add(alts.join(" | "))
            }
            other => self.json_value(other),
        }
    }

    fn finish(self, root: String) -> String {
        let mut out = format!("root ::= {root}\n");
        for rule in &self.rules {
            out.push_str(rule);
            out.push('\n');
        }
        out.push_str(COMMON_RULES);
        out
    }
}

/// The grammar of a chat-format reply with these output fields: each field's
/// `[[ ## name ## ]]` header in order, its value, then `[[ ## completed ## ]]`.
pub fn chat_grammar(outputs: &[(String, FieldType)]) -> String {
    let mut b = Builder::new();
    let mut parts = Vec::with_capacity(outputs.len() + 1);
    for (name, ty) in outputs {
        let value = b.chat_value(ty);
        parts.push(format!(
            "{} {value} \"\\n\\n\"",
            literal(&format!("[[ ## {name} ## ]]\n"))
        ));
    }
    parts.push(literal(COMPLETED_HEADER));
    b.finish(parts.join(" "))
}

/// The grammar of a JSON-format reply: one object with the output fields as
/// keys, in order, each value of its declared type.
pub fn json_grammar(outputs: &[(String, FieldType)]) -> String {
    let mut b = Builder::new();
    let mut parts = Vec::with_capacity(outputs.len());
    for (name, ty) in outputs {
        let value = b.json_value(ty);
        let key = serde_json::Value::String(name.clone()).to_string();
        parts.push(format!("{} ws \":\" ws {value} ws", literal(&key)));
    }
    b.finish(format!("\"{{\" ws {} \"}}\"", parts.join(" \",\" ws ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Vec<(String, FieldType)> {
        vec![
            ("reasoning".into(), FieldType::String),
            (
                "label".into(),
                FieldType::Enum(vec!["positive".into(), "say \"no\"".into()]),
            ),
            ("score".into(), FieldType::Float),
            ("tags".into(), FieldType::List(Box::new(FieldType::Int))),
        ]
    }

    #[test]
    fn chat_grammar_lists_headers_in_order_and_ends_with_completed() {
        let g = chat_grammar(&outputs());
        let root = g.lines().next().unwrap();
        let r = root.find("[[ ## reasoning ## ]]").unwrap();
        let l = root.find("[[ ## label ## ]]").unwrap();
        let s = root.find("[[ ## score ## ]]").unwrap();
        let t = root.find("[[ ## tags ## ]]").unwrap();
        let c = root.find("[[ ## completed ## ]]").unwrap();
        assert!(r < l && l < s && s < t && t < c, "{root}");
        assert!(root.starts_with("root ::= \"[[ ## reasoning ## ]]\\n\" text "));
        assert!(root.contains("num \"\\n\\n\""));
        assert!(root.ends_with("\"[[ ## completed ## ]]\""));
    }

    #[test]
    fn enum_labels_are_exact_escaped_literals() {
        let g = chat_grammar(&outputs());
        assert!(
            g.contains("r0 ::= \"positive\" | \"say \\\"no\\\"\""),
            "{g}"
        );
        // A list of ints is a JSON array of the int rule.
        assert!(g.contains("r1 ::= \"[\" ws ( int ws ( \",\" ws int ws )* )? \"]\""));
    }

    #[test]
    fn json_grammar_quotes_keys_and_enum_labels() {
        let g = json_grammar(&[(
            "label".into(),
            FieldType::Enum(vec!["a".into(), "b".into()]),
        )]);
        assert!(
            g.starts_with("root ::= \"{\" ws \"\\\"label\\\"\" ws \":\" ws r0 ws \"}\"\n"),
            "{g}"
        );
        assert!(g.contains("r0 ::= \"\\\"a\\\"\" | \"\\\"b\\\"\""), "{g}");
    }

    #[test]
    fn literal_escapes_control_characters() {
        assert_eq!(literal("a\u{1}b\\"), "\"a\\x01b\\\\\"");
    }
}
