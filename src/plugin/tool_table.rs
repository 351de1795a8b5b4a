//! The manifests of a spec's plugins, read before the spec compiles, so
//! tool steps can be typed: the compiler never loads a library itself.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::PluginHost;
use crate::compile::{ToolFields, ToolTable};
use crate::ir::PluginDecl;
use crate::syntax::ast::{Item, ProgramBody, ProgramEntry};

/// The tools of every plugin that `source` (the spec at `spec_path`) calls
/// in a tool step; plugins without tool steps are not loaded here. A spec
/// that does not parse gives an empty table (its compile reports why).
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
    let mut needed: IndexMap<String, PluginDecl> = IndexMap::new();
    for item in &parsed.file.items {
        let Item::Program(p) = item else { continue };
        let ProgramBody::Block(entries) = &p.body else {
            continue;
        };
        for e in entries {
            if let ProgramEntry::Step(s) = e
                && let [plugin, _] = s.call.module.as_slice()
                && let Some(decl) = declared.get(&plugin.name)
            {
                needed.insert(plugin.name.clone(), decl.clone());
            }
        }
    }
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
    }
    table
}
