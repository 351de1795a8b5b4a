//! A program's inputs: declared with `in`, or inferred from what its steps read.

use super::super::Ctx;
use crate::compile::signature::field_type;
use crate::ir::{Field, FieldType};
use crate::syntax::ast::{ProgramEntry, Span};
use crate::syntax::diagnostic::Diagnostic;
use indexmap::IndexMap;

/// The inputs of one program, each with where it was declared or first read.
pub(super) struct Inputs {
    /// Whether the program has `in` lines: then only those inputs exist;
    /// otherwise every `input.x` a step reads becomes an input.
    pub declares: bool,
    /// The `in` lines that checked out.
    pub declared: IndexMap<String, (Field, Span)>,
    /// Inputs inferred from reads (used only when nothing is declared).
    pub inferred: IndexMap<String, (Field, Span)>,
}

impl Inputs {
    /// Reads the `in` lines, reporting duplicates and bad types.
    pub fn declared(ctx: &mut Ctx, entries: &[ProgramEntry]) -> Self {
        let mut declared: IndexMap<String, (Field, Span)> = IndexMap::new();
        for e in entries {
            let ProgramEntry::In { name, ty, desc, .. } = e else {
                continue;
            };
            if let Some((_, first)) = declared.get(&name.name) {
                ctx.d.push(
                    Diagnostic::error(
                        name.span,
                        format!("input `{}` is declared twice", name.name),
                    )
                    .label("again")
                    .related(*first, "first declared here"),
                );
                continue;
            }
            let ty = match ty {
                Some(t) => match field_type(ctx, t) {
                    Some(t) => t,
                    None => continue,
                },
                None => FieldType::String,
            };
            let f = Field {
                name: name.name.clone(),
                ty,
                description: desc.as_ref().map(|d| d.value.clone()),
            };
            declared.insert(name.name.clone(), (f, name.span));
        }
        Inputs {
            declares: entries.iter().any(|e| matches!(e, ProgramEntry::In { .. })),
            declared,
            inferred: IndexMap::new(),
        }
    }

    /// Whether `name` is an input of the program.
    pub fn contains(&self, name: &str) -> bool {
        if self.declares {
            self.declared.contains_key(name)
        } else {
            self.inferred.contains_key(name)
        }
    }

    /// The program's input fields, in declaration (or first-read) order.
    pub fn into_fields(self) -> Vec<Field> {
        let list = if self.declares {
            self.declared
        } else {
            self.inferred
        };
        list.into_values().map(|(f, _)| f).collect()
    }

    /// With no `in` lines, step `step` reads `input.NAME` into `target`: the
    /// input takes the type of its first read, and later reads must agree.
    pub fn infer(
        &mut self,
        ctx: &mut Ctx,
        name: &str,
        span: Span,
        target: &Field,
        step: &str,
    ) -> Option<()> {
        match self.inferred.get(name) {
            Some((f, first)) if f.ty != target.ty => {
                let first = *first;
                let ty = f.ty.clone();
                ctx.d.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "program input `{name}` is used as {} and as {ty}",
                            target.ty
                        ),
                    )
                    .label(format!("step `{step}` reads it as {}", target.ty))
                    .related(first, format!("read as {ty} here"))
                    .help(format!("declare it with one type: `in {name}: {ty}`")),
                );
                None
            }
            Some(_) => Some(()),
            None => {
                let f = Field {
                    name: name.to_string(),
                    ty: target.ty.clone(),
                    description: target.description.clone(),
                };
                self.inferred.insert(name.to_string(), (f, span));
                Some(())
            }
        }
    }
}
