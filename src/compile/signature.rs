//! `signature NAME { .. }` / `signature NAME = "a -> b"` -> [`Signature`].

use super::Ctx;
use crate::ir::{Field, FieldType, Signature, default_instructions};
use crate::syntax::ast::{Dir, SigField, SignatureBody, SignatureItem, TypeExpr};
use crate::syntax::diagnostic::{Diagnostic, did_you_mean};
use indexmap::IndexMap;

const TYPES: [&str; 7] = ["string", "int", "float", "bool", "json", "list", "enum"];

pub(super) fn compile(ctx: &mut Ctx, item: &SignatureItem) {
    // A docstring is kept as written, except that one of only whitespace
    // becomes '' (DSPy's instructions are `inspect.cleandoc(__doc__)`, which
    // leaves nothing of it); without one, the instructions are DSPy's default
    // sentence, filled in once the fields are known. Empty instructions are
    // shown to the model as that same sentence (the adapter's fallback).
    let (doc, fields): (Option<String>, &[SigField]) = match &item.body {
        SignatureBody::Block { doc, fields } => {
            (doc.as_ref().map(|d| cleaned_doc(&d.value)), fields)
        }
        SignatureBody::Line(_, fields) => (None, fields),
    };
    let mut seen: IndexMap<&str, &SigField> = IndexMap::new();
    let mut sig = Signature {
        name: item.name.name.clone(),
        instructions: String::new(),
        inputs: vec![],
        outputs: vec![],
    };
    let mut ok = true;
    for f in fields {
        if let Some(first) = seen.get(f.name.name.as_str()) {
            ctx.d.push(
                Diagnostic::error(
                    f.name.span,
                    format!(
                        "field `{}` is declared twice in signature `{}`",
                        f.name.name, item.name.name
                    ),
                )
                .label("declared again here")
                .related(first.name.span, "first declared here")
                .help("inputs and outputs of a signature need distinct names"),
            );
            ok = false;
            continue;
        }
        seen.insert(&f.name.name, f);
        let ty = match &f.ty {
            Some(t) => match field_type(ctx, t) {
                Some(t) => t,
                None => {
                    ok = false;
                    continue;
                }
            },
            None => FieldType::String,
        };
        let field = Field {
            name: f.name.name.clone(),
            ty,
            description: f.desc.as_ref().map(|d| d.value.clone()),
        };
        match f.dir {
            Dir::In => sig.inputs.push(field),
            Dir::Out => sig.outputs.push(field),
        }
    }
    if sig.outputs.is_empty() && ok {
        let help = match &item.body {
            SignatureBody::Line(..) => {
                "write `\"inputs -> outputs\"`, e.g. `\"question -> answer\"`"
            }
            SignatureBody::Block { .. } => "add `out answer: string`",
        };
        ctx.d.push(
            Diagnostic::error(
                item.name.span,
                format!("signature `{}` has no outputs", item.name.name),
            )
            .label("nothing for the model to produce")
            .help(help),
        );
        ok = false;
    }
    if ok {
        sig.instructions = doc.unwrap_or_else(|| default_instructions(&sig.inputs, &sig.outputs));
        ctx.spec.signatures.insert(sig.name.clone(), sig);
    }
}

/// A docstring's instructions: '' for one of only whitespace, as Python's
/// `inspect.cleandoc` makes it; any other is kept (the `"""` body is already
/// dedented by the parser).
fn cleaned_doc(doc: &str) -> String {
    if doc.trim().is_empty() {
        String::new()
    } else {
        doc.to_string()
    }
}

/// A written type -> [`FieldType`].
pub(super) fn field_type(ctx: &mut Ctx, t: &TypeExpr) -> Option<FieldType> {
    match t {
        TypeExpr::Enum { labels, span } => {
            let mut out: Vec<String> = Vec::new();
            for l in labels {
                if l.value.trim().is_empty() {
                    ctx.d.push(
                        Diagnostic::error(l.span, "an enum label cannot be empty")
                            .label("empty label"),
                    );
                    return None;
                }
                if out.contains(&l.value) {
                    ctx.d.push(
                        Diagnostic::error(
                            l.span,
                            format!("enum label {:?} is listed twice", l.value),
                        )
                        .label("duplicate label")
                        .related(*span, "in this enum"),
                    );
                    return None;
                }
                out.push(l.value.clone());
            }
            Some(FieldType::Enum(out))
        }
        TypeExpr::Named { name, arg, span } => {
            let simple = match name.name.as_str() {
                "string" | "str" => Some(FieldType::String),
                "int" => Some(FieldType::Int),
                "float" => Some(FieldType::Float),
                "bool" => Some(FieldType::Bool),
                "json" => Some(FieldType::Json),
                _ => None,
            };
            match (name.name.as_str(), simple, arg) {
                ("list", _, Some(inner)) => {
                    Some(FieldType::List(Box::new(field_type(ctx, inner)?)))
                }
                ("list", _, None) => {
                    ctx.d.push(
                        Diagnostic::error(*span, "`list` needs an element type")
                            .label("list of what?")
                            .help("write e.g. `list<string>`"),
                    );
                    None
                }
                (_, Some(t), None) => Some(t),
                (n, Some(_), Some(a)) => {
                    ctx.d.push(
                        Diagnostic::error(a.span(), format!("`{n}` takes no type argument"))
                            .label("unexpected `<..>`")
                            .help("only `list<T>` has an element type"),
                    );
                    None
                }
                (n, None, _) => {
                    ctx.d.push(
                        Diagnostic::error(name.span, format!("unknown field type `{n}`"))
                            .label("not a type")
                            .help(did_you_mean(n, TYPES).unwrap_or_else(|| {
                                "types: string, int, float, bool, json, list<T>, enum(\"a\", \"b\")".into()
                            })),
                    );
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::compile_source;
    use std::path::Path;

    fn instructions(spec_text: &str, signature: &str) -> String {
        let (spec, _) = compile_source(Path::new("t.simba"), spec_text, &[])
            .unwrap_or_else(|d| panic!("{d:#?}"));
        spec.signatures[signature].instructions.clone()
    }

    #[test]
    fn a_signature_without_docstring_gets_dspys_default_sentence() {
        // As DSPy 3.4.1's `_default_instructions`: inputs, then outputs, each
        // in backticks, comma separated, in declaration order.
        assert_eq!(
            instructions(r#"signature S = "question, context -> answer, score""#, "S"),
            "Given the fields `question`, `context`, produce the fields `answer`, `score`."
        );
        let block = r#"
signature B {
  in  text: string "a review"
  out label: enum("a", "b")
  in  topic: string
}
"#;
        assert_eq!(
            instructions(block, "B"),
            "Given the fields `text`, `topic`, produce the fields `label`."
        );
    }

    #[test]
    fn a_docstring_is_kept_as_written() {
        let block = r#"
signature B {
  """Label the review."""
  in  text: string
  out label: string
}
"#;
        assert_eq!(instructions(block, "B"), "Label the review.");
    }

    #[test]
    fn a_blank_docstring_becomes_empty_instructions() {
        // `inspect.cleandoc` leaves nothing of a docstring of only
        // whitespace, on one line or several.
        for doc in [
            r#""   ""#,
            "\"\"\"\n   \n\t\n  \"\"\"",
            r#""""  """"#,
            r#""""#,
        ] {
            let block =
                format!("signature B {{\n  {doc}\n  in text: string\n  out label: string\n}}\n");
            assert_eq!(instructions(&block, "B"), "", "{doc}");
        }
    }
}
