//! `step x = plugin.tool(a = input.q, b = s.field) { config }`: a plugin
//! tool step, typed by the tool's manifest entry ([`ToolTable`]). Its
//! inputs are bound by the call's named arguments; the braces after the
//! call are the tool's config, not bindings.

use super::super::{Ctx, Kind, ToolFields};
use super::step::{StepInfo, outputs_by_name, source_binding};
use crate::ir::{Field, FieldType, ItemConfig, ModuleKind, PluginItem, Signature, ToolCall};
use crate::syntax::ast::{Ident, StepDecl, dotted, dotted_span};
use crate::syntax::diagnostic::Diagnostic;

/// Checks a plugin tool step; None (with diagnostics) when it is unusable.
pub(super) fn tool_step<'a>(
    ctx: &mut Ctx,
    s: &'a StepDecl,
    plugin: &Ident,
    item: &Ident,
) -> Option<StepInfo<'a>> {
    if !ctx.resolve(plugin, Kind::Plugin) {
        return None;
    }
    let name = dotted(&s.call.module);
    let span = dotted_span(&s.call.module);
    let fields = match ctx
        .tools
        .tools
        .get(&(plugin.name.clone(), item.name.clone()))
    {
        Some(f) => f.clone(),
        None => {
            let why = match ctx.tools.failed.get(&plugin.name) {
                Some(e) => format!("the plugin did not load: {e}"),
                None if ctx.tools.loaded.contains(&plugin.name) => {
                    format!("plugin `{}` has no tool `{}`", plugin.name, item.name)
                }
                None => "tool steps are typed by the plugin's manifest, which this compilation did not load".into(),
            };
            ctx.d.push(
                Diagnostic::error(span, format!("cannot type-check the tool step `{name}`"))
                    .label(why)
                    .help("`simba-run check` lists the tools each plugin provides"),
            );
            return None;
        }
    };
    let sig = signature(ctx, s, &name, &fields)?;
    let mut ok = true;
    if let Some(arg) = s.call.args.first() {
        ctx.d.push(
            Diagnostic::error(arg.span, format!("`{name}` takes named arguments only"))
                .label("positional argument")
                .help("bind each input by name: `tool(a = input.question)`"),
        );
        ok = false;
    }
    let mut bindings = Vec::new();
    for arg in &s.call.named {
        match source_binding(
            ctx,
            arg,
            "a tool input is bound to",
            "constants belong in the tool's `{ .. }` config",
        ) {
            Some(b) => bindings.push(b),
            None => ok = false,
        }
    }
    let config = config(ctx, s);
    let module = ModuleKind::Tool(ToolCall {
        item: PluginItem {
            plugin: plugin.name.clone(),
            item: item.name.clone(),
            config,
        },
    });
    ok.then(|| StepInfo {
        decl: s,
        outputs: outputs_by_name(module.lm_outputs(&sig)),
        module,
        sig,
        sig_span: None,
        lm: None,
        bindings,
    })
}

/// The config: the `{ .. }` after the call. Braces holding only
/// `key = name` pairs parse as bindings; for a tool they are config too
/// (the names become strings).
fn config(ctx: &mut Ctx, s: &StepDecl) -> ItemConfig {
    if let Some(entries) = &s.config {
        return ctx.plugin_config(&s.call.module, "tool", entries);
    }
    ctx.plugin_config_of_bindings(&s.call.module, &s.bindings)
}

/// The tool's signature from its manifest fields.
fn signature(ctx: &mut Ctx, s: &StepDecl, name: &str, fields: &ToolFields) -> Option<Signature> {
    let mut ok = true;
    let mut convert = |list: &[(String, String)]| -> Vec<Field> {
        list.iter()
            .filter_map(|(field, ty)| match field_type(ty) {
                Some(ty) => Some(Field {
                    name: field.clone(),
                    ty,
                    description: None,
                }),
                None => {
                    ctx.d.push(
                        Diagnostic::error(
                            dotted_span(&s.call.module),
                            format!(
                                "the tool `{name}` declares `{field}` with an unknown type `{ty}`"
                            ),
                        )
                        .label("unusable manifest")
                        .help("tool field types are string, int, float, bool, json or list<..>"),
                    );
                    ok = false;
                    None
                }
            })
            .collect()
    };
    let inputs = convert(&fields.inputs);
    let outputs = convert(&fields.outputs);
    ok.then(|| Signature {
        name: name.to_string(),
        instructions: String::new(),
        inputs,
        outputs,
    })
}

/// A manifest's type text (`string`, `list<int>`, ...) as a field type.
pub(crate) fn field_type(text: &str) -> Option<FieldType> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
        return field_type(inner).map(|i| FieldType::List(Box::new(i)));
    }
    Some(match t {
        "string" | "str" => FieldType::String,
        "int" => FieldType::Int,
        "float" => FieldType::Float,
        "bool" => FieldType::Bool,
        "json" => FieldType::Json,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_types_parse_nested_lists_and_refuse_unknown_names() {
        assert_eq!(
            field_type("list<list<int>>"),
            Some(FieldType::List(Box::new(FieldType::List(Box::new(
                FieldType::Int
            )))))
        );
        assert_eq!(field_type(" string "), Some(FieldType::String));
        assert_eq!(field_type("tensor"), None);
    }
}
