//! What one plugin provides, as `simba-run check` prints it: every item
//! with what a spec needs to use it (a tool's typed inputs and outputs, each
//! item's declared config keys with their types and docs), so a step or a
//! strategy can be written from the listing alone.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use simba_plugin_sdk::{FieldSpec, Manifest};

/// What one plugin provides (for `simba-run check`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginListing {
    /// The spec's name for the plugin.
    pub name: String,
    /// The library file loaded.
    pub path: PathBuf,
    /// The ABI version the plugin was built against.
    pub abi: (u32, u32),
    /// Everything the plugin says it provides.
    pub manifest: Manifest,
}

/// `a: string, b: list<int>`.
fn fields(list: &[FieldSpec]) -> String {
    list.iter()
        .map(|f| format!("{}: {}", f.name, f.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PluginListing {
    /// The config lines of `item` (a `kind`), indented under it.
    fn config(&self, out: &mut String, kind: &str, item: &str) {
        match self.manifest.config_keys(kind, item) {
            None if kind == "model" => out.push_str(
                "      config: not declared (the block's other keys are passed as JSON)\n",
            ),
            None => out.push_str("      config: not declared (any `{ .. }` is passed as JSON)\n"),
            Some([]) => out.push_str("      config: none\n"),
            Some(keys) => {
                // The plugin's text, shown on a terminal: escaped.
                let shown = |text: &str| crate::printable::escape_controls(text).into_owned();
                for k in keys {
                    let _ = write!(out, "      config {}: {}", shown(&k.name), shown(&k.ty));
                    if let Some(doc) = &k.doc {
                        let _ = write!(out, " - {}", shown(doc));
                    }
                    out.push('\n');
                }
            }
        }
    }

    /// A kind's section: `  label: -` when empty, else one item per line.
    fn section(&self, out: &mut String, label: &str, kind: &str, items: &[(String, String)]) {
        if items.is_empty() {
            let _ = writeln!(out, "  {label}: -");
            return;
        }
        let _ = writeln!(out, "  {label}:");
        for (item, shown) in items {
            let _ = writeln!(out, "    {shown}");
            self.config(out, kind, item);
        }
    }
}

impl fmt::Display for PluginListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        let p = &self.name;
        let named = |items: &[String]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|i| (i.clone(), format!("{p}.{i}")))
                .collect()
        };
        let mut out = format!(
            "plugin {p} ({} {}, ABI {}.{}) at {}\n",
            m.name,
            m.version,
            self.abi.0,
            self.abi.1,
            self.path.display()
        );
        self.section(&mut out, "strategies", "strategy", &named(&m.strategies));
        self.section(&mut out, "models", "model", &named(&m.models));
        let tools: Vec<(String, String)> = m
            .tools
            .iter()
            .map(|t| {
                let binds: Vec<String> = t
                    .inputs
                    .iter()
                    .map(|i| format!("{} = <{}>", i.name, i.ty))
                    .collect();
                let shown = format!(
                    "{p}.{}({}) -> {}\n      use: step NAME = {p}.{}({}), outputs read as {}",
                    t.name,
                    fields(&t.inputs),
                    fields(&t.outputs),
                    t.name,
                    binds.join(", "),
                    t.outputs
                        .iter()
                        .map(|o| format!("NAME.{}", o.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                (t.name.clone(), shown)
            })
            .collect();
        self.section(&mut out, "tools", "tool", &tools);
        let metrics: Vec<(String, String)> = m
            .metrics
            .iter()
            .map(|i| (i.clone(), format!("{p}.{i}(pred, gold)")))
            .collect();
        self.section(&mut out, "metrics", "metric", &metrics);
        f.write_str(out.trim_end())
    }
}
