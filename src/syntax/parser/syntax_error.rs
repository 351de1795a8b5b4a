//! Syntax errors in words: what pest expected and found, as a diagnostic.

use super::{ITEM_KEYWORDS, Rule};
use crate::syntax::ast::Span;
use crate::syntax::diagnostic::{Diagnostic, suggest};
use pest::error::{ErrorVariant, InputLocation};

/// What a rule stands for, in words.
fn describe(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        file | kw_plugin | kw_model | kw_signature | kw_program | kw_dataset | kw_corpus
        | kw_metric | kw_optimize | item | plugin_item | model_item | signature_item
        | program_item | dataset_item | corpus_item | metric_item | optimize_item => {
            "an item (`model`, `signature`, `program`, `dataset`, `corpus`, `metric`, `optimize` or `plugin`)"
        }
        EOI => "the end of the file",
        ident => "a name",
        qname => "a name such as `input.question` or `step.field`",
        string | plain_string | triple_string => "a string",
        number => "a number",
        duration => "a duration such as `30s`",
        boolean => "`true` or `false`",
        value | list | call | configured => {
            "a value (string, number, duration, name, list or call)"
        }
        code_metric | code_callee | plugin_qname | kw_command => "a metric expression",
        assign => "`=`",
        lbrace => "`{`",
        rbrace => "`}`",
        lparen => "`(`",
        rparen => "`)`",
        colon => "`:`",
        arrow => "`->`",
        kw_with => "`with`",
        kw_in | kw_out | field_dir | sig_field => "a field (`in name: type` or `out name: type`)",
        kw_step | kw_lm | prog_lm | prog_in | prog_out | step => "`lm`, `in`, `out` or `step`",
        kw_enum | ty | enum_ty | named_ty => "a field type such as `string` or `list<string>`",
        kw_feedback => "`feedback`",
        entry | block => "a setting `key = value`",
        binding | bindings => "a binding such as `question = input.question`",
        module_call => "a module such as `predict(Signature)`",
        named_arg => "an argument `name = value`",
        expr | paren | call_expr | op_neg | op_not => "an expression",
        op_or | op_and | op_eq | op_ne | op_le | op_ge | op_lt | op_gt | op_add | op_sub
        | op_mul | op_div => "an operator",
        sig_line_field | sig_line_fields => "a field `name: type`",
        _ => return None,
    })
}

/// The thing found at `pos`, in words.
fn found_at(src: &str, pos: usize) -> (String, usize) {
    let rest = &src[pos.min(src.len())..];
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c.is_ascii_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let len = word.len();
        (format!("`{word}`"), len)
    } else if c == '"' {
        ("a string".into(), 1)
    } else {
        (format!("`{c}`"), c.len_utf8())
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A pest error, in words. `base` is the offset of `text` within the full source.
pub(super) fn syntax_error(
    e: &pest::error::Error<Rule>,
    full: &str,
    base: usize,
    src_id: u16,
) -> Diagnostic {
    let pos = base
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let (found, len) = found_at(full, pos);
    let mut expected: Vec<&str> = Vec::new();
    let mut item_expected = false;
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(w) = describe(*r) {
                item_expected |= w.starts_with("an item");
                if !expected.contains(&w) {
                    expected.push(w);
                }
            }
        }
    }
    if item_expected {
        expected.retain(|w| *w != "the end of the file");
    }
    if expected.len() > 1 {
        expected.retain(|w| *w != "a name");
    }
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let what = found
        .strip_prefix("a ")
        .or(found.strip_prefix("the "))
        .unwrap_or(&found);
    let mut d = Diagnostic::error(
        Span {
            start: pos,
            end: pos + len.max(1),
            src: src_id,
        },
        message,
    )
    .label(format!("unexpected {what}"));
    let word = found.trim_matches('`');
    if item_expected {
        d = d.maybe_help(suggest(word, ITEM_KEYWORDS).map(|k| format!("did you mean `{k}`?")));
    }
    if d.help.is_none() && expected.contains(&"`=`") && found == "`:`" {
        d = d.help("settings are written `key = value`");
    }
    d
}
