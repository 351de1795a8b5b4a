//! The manifests of a spec's plugins, read before the spec compiles, so
//! tool steps can be typed and item configs checked against their declared
//! keys: the compiler never loads a library itself.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::PluginHost;
use crate::compile::{ConfigKeySpec, ToolFields, ToolTable};
use crate::ir::PluginDecl;
use crate::syntax::ast::Item;

/// The tools and declared config keys of every plugin `source` (the spec
/// at `spec_path`) declares. A spec that does not parse gives an empty
/// table (its compile reports why).
pub fn tool_table(spec_path: &Path, source: &str, search_path: &[PathBuf]) -> ToolTable {
    let Ok(parsed) = crate::syntax::parse(source) else {
        return ToolTable::default();
    };
    let dir = match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut declared: IndexMap<String, PluginDecl> = IndexMap::new();
    for item in &parsed.file.items {
        if let Item::Plugin(p) = item {
            declared.insert(
                p.name.name.clone(),
                PluginDecl {
                    name: p.name.name.clone(),
                    path: dir.join(&p.path.value),
                },
            );
        }
    }
    // Every declared plugin: besides tool steps, any strategy, tool or
    // metric may carry a config checked against the keys it declares.
    let needed = declared;
    let mut table = ToolTable::default();
    if needed.is_empty() {
        return table;
    }
    let (host, errors) = PluginHost::load_each_in(&needed, search_path);
    for e in errors {
        if let Some(name) = e.plugin() {
            table.failed.insert(name.to_string(), e.to_string());
        }
    }
    for name in needed.keys() {
        let Some(manifest) = host.manifest(name) else {
            continue;
        };
        table.loaded.push(name.clone());
        for t in &manifest.tools {
            let fields = |list: &[simba_plugin_sdk::FieldSpec]| {
                list.iter()
                    .map(|f| (f.name.clone(), f.ty.clone()))
                    .collect()
            };
            table.tools.insert(
                (name.clone(), t.name.clone()),
                ToolFields {
                    inputs: fields(&t.inputs),
                    outputs: fields(&t.outputs),
                },
            );
        }
        for c in &manifest.config {
            let keys = c
                .keys
                .iter()
                .map(|k| ConfigKeySpec {
                    name: k.name.clone(),
                    ty: k.ty.clone(),
                    doc: k.doc.clone(),
                })
                .collect();
            table
                .config_keys
                .insert((name.clone(), c.kind.clone(), c.item.clone()), keys);
        }
    }
    table
}
