//! Content hashes of what a run depends on beyond its settings, one per
//! part, stored in every checkpoint: a resume after the data rows, the
//! program, the metric, a model or a plugin changed would silently continue
//! a search on other inputs, so it is refused, naming the parts that changed.
//!
//! Each part is the SHA-256 of its canonical JSON (object keys sorted, so
//! a reordered row or setting is no change). The engine hashes what it is
//! given (the data rows and the program); the caller adds what only the spec
//! and the plugin host know (the metric, the models, their oracle rows, the
//! plugins), see [`Fingerprint::of_block`].

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::ir::{MetricExpr, ModelDecl, OptimizeDecl, ProgramGraph, Provider, Spec, StrategyRef};
use crate::value::Example;

/// Part name -> SHA-256 (hex). Names: `trainset`, `devset`, `valset`,
/// `signatures`, `program`, `metric`, `model:NAME`, `oracle:NAME`,
/// `plugin:NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(BTreeMap<String, String>);

impl Fingerprint {
    /// The parts the engine is given: the data rows and the program (its
    /// signatures apart, so a changed instruction is named as such).
    pub fn of_run(
        trainset: &[Example],
        devset: Option<&[Example]>,
        valset: Option<&[Example]>,
        program: &ProgramGraph,
    ) -> Self {
        let mut f = Self::default();
        f.insert("trainset", &trainset);
        if let Some(dev) = devset {
            f.insert("devset", &dev);
        }
        if let Some(val) = valset {
            f.insert("valset", &val);
        }
        let signatures: Vec<_> = program.steps.iter().map(|s| &s.signature).collect();
        f.insert("signatures", &signatures);
        f.insert("program", program);
        f
    }

    /// The spec items block `decl` uses beyond its program and data: the
    /// metric, every model it calls (program steps, teacher, prompt model,
    /// judges) with the rows of their oracles. Plugins are added by the
    /// caller ([`Fingerprint::add_plugin`] for each of [`plugins_used`]).
    pub fn of_block(
        spec: &Spec,
        decl: &OptimizeDecl,
        oracles: &IndexMap<String, Vec<Example>>,
    ) -> Self {
        let mut f = Self::default();
        if let Some(metric) = spec.metrics.get(&decl.metric) {
            f.insert("metric", metric);
        }
        for model in models_used(spec, decl) {
            f.insert(&format!("model:{}", model.name), &answer_settings(model));
            if let Some(rows) = model.oracle.as_ref().and_then(|o| oracles.get(o)) {
                let name = model.oracle.as_deref().unwrap_or_default();
                f.insert(&format!("oracle:{name}"), rows);
            }
        }
        f
    }

    /// Plugin `name`'s identity: its manifest and the library file's bytes
    /// (not its path: moving the project must not break a resume).
    pub fn add_plugin(
        &mut self,
        name: &str,
        manifest: &impl Serialize,
        library: &Path,
    ) -> std::io::Result<()> {
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::fs::File::open(library)?, &mut hasher)?;
        let identity = (manifest, hex(&hasher.finalize()));
        self.insert(&format!("plugin:{name}"), &identity);
        Ok(())
    }

    /// Corpus `name`'s identity (a local file's content hash, a server's
    /// URL): changed passages change what `search` steps return.
    pub fn add_corpus(&mut self, name: &str, identity: &str) {
        self.insert(&format!("corpus:{name}"), &identity);
    }

    /// Adds `other`'s parts.
    pub fn extend(&mut self, other: &Fingerprint) {
        self.0
            .extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// What differs from `saved` (the checkpoint's), described for a
    /// message ("the trainset rows", "model `sim`"); empty when nothing.
    pub fn changes_since(&self, saved: &Fingerprint) -> Vec<String> {
        let names: BTreeSet<&String> = self.0.keys().chain(saved.0.keys()).collect();
        let mut changed: Vec<&str> = names
            .into_iter()
            .filter(|n| self.0.get(*n) != saved.0.get(*n))
            .map(String::as_str)
            .collect();
        changed.sort_by_key(|n| rank(n));
        changed
            .iter()
            // The program's hash covers its signatures (and its spec text
            // quotes them): a changed signature is named once, as such.
            .filter(|n| !(**n == "program" && changed.contains(&"signatures")))
            .map(|n| describe(n))
            .collect()
    }

    fn insert(&mut self, part: &str, value: &impl Serialize) {
        self.0.insert(part.to_string(), digest(value));
    }
}

/// The plugins block `decl` uses: those of its plugin strategies and of the
/// plugin models it calls.
pub fn plugins_used(spec: &Spec, decl: &OptimizeDecl) -> Vec<String> {
    let strategies = decl.strategies.iter().filter_map(|s| match s {
        StrategyRef::Plugin { plugin, .. } => Some(plugin.clone()),
        _ => None,
    });
    let models = models_used(spec, decl)
        .into_iter()
        .filter_map(|m| match &m.provider {
            Provider::Plugin { plugin, .. } => Some(plugin.clone()),
            _ => None,
        });
    let names: BTreeSet<String> = strategies.chain(models).collect();
    names.into_iter().collect()
}

/// The models block `decl` calls, in spec order.
fn models_used<'s>(spec: &'s Spec, decl: &OptimizeDecl) -> Vec<&'s ModelDecl> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    if let Some(graph) = spec.programs.get(&decl.program) {
        names.insert(&graph.lm);
        names.extend(graph.steps.iter().map(|s| s.lm.as_str()));
        names.insert(decl.prompt_model.as_deref().unwrap_or(&graph.lm));
    }
    names.extend(decl.teacher.as_deref());
    if let Some(metric) = spec.metrics.get(&decl.metric) {
        judges(&metric.expr, &mut names);
    }
    spec.models
        .values()
        .filter(|m| names.contains(m.name.as_str()))
        .collect()
}

/// The models `judge(..)` calls in `e` asks.
fn judges<'e>(e: &'e MetricExpr, out: &mut BTreeSet<&'e str>) {
    match e {
        MetricExpr::Judge { model, args, .. } => {
            out.insert(model);
            args.iter().for_each(|a| judges(a, out));
        }
        MetricExpr::Unary(_, a) => judges(a, out),
        MetricExpr::Binary(_, a, b) => {
            judges(a, out);
            judges(b, out);
        }
        MetricExpr::Call(_, args) => args.iter().for_each(|a| judges(a, out)),
        MetricExpr::Number(_)
        | MetricExpr::Str(_)
        | MetricExpr::Bool(_)
        | MetricExpr::Ref(..)
        | MetricExpr::Code(_) => {}
    }
}

/// A model's settings that shape its answers. Transport settings (where and
/// how requests go, how long they wait, the sim model's latency) may change
/// on resume, like the block's `concurrency`.
fn answer_settings(m: &ModelDecl) -> ModelDecl {
    ModelDecl {
        base_urls: Vec::new(),
        api_key: None,
        timeout: Duration::ZERO,
        concurrency: 0,
        retries: 0,
        latency: Duration::ZERO,
        max_response_bytes: 0,
        ..m.clone()
    }
}

/// Where a part comes in a message: data first, plugins last.
fn rank(part: &str) -> usize {
    const ORDER: [&str; 10] = [
        "trainset",
        "devset",
        "valset",
        "signatures",
        "program",
        "metric",
        "model",
        "oracle",
        "corpus",
        "plugin",
    ];
    let kind = part.split_once(':').map_or(part, |(kind, _)| kind);
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// How a part is named in a message.
fn describe(part: &str) -> String {
    match part.split_once(':') {
        Some(("model", name)) => format!("model `{name}`"),
        Some(("oracle", name)) => format!("the rows of dataset `{name}` (a sim model's oracle)"),
        Some(("plugin", name)) => format!("plugin `{name}`"),
        Some(("corpus", name)) => format!("the passages of corpus `{name}`"),
        _ => match part {
            "trainset" | "devset" | "valset" => format!("the {part} rows"),
            "signatures" => "the program's signatures".into(),
            other => format!("the {other}"),
        },
    }
}

/// SHA-256 of `value`'s canonical JSON, hex.
fn digest(value: &impl Serialize) -> String {
    // Serializing IR and rows cannot fail (string keys, no custom errors);
    // `Null` would only make every such part hash alike.
    let canonical = sorted(serde_json::to_value(value).unwrap_or(Value::Null));
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// `v` with every object's keys in sorted order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let entries: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(answer: &str) -> Vec<Example> {
        let fields = json!({"question": "q", "answer": answer});
        vec![Example {
            fields: serde_json::from_value(fields).unwrap(),
            input_keys: vec!["question".into()],
        }]
    }

    fn graph(instructions: &str) -> ProgramGraph {
        let source = format!(
            "dataset d {{ train = jsonl(\"d.jsonl\")  inputs = [q] }}\nmodel m {{ provider = \"sim\"  oracle = d }}\nsignature S {{\n  \"\"\"{instructions}\"\"\"\n  in q: string\n  out a: string\n}}\nprogram p {{\n  lm = m\n  step s = predict(S)\n  out a = s.a\n}}\n"
        );
        let (spec, _) = crate::compile::compile_source(Path::new("x.simba"), &source, &[]).unwrap();
        spec.programs["p"].clone()
    }

    #[test]
    fn a_changed_row_or_signature_is_named() {
        let base = Fingerprint::of_run(&rows("a"), None, None, &graph("Answer."));
        assert!(base.changes_since(&base).is_empty());
        let rows_changed = Fingerprint::of_run(&rows("b"), None, None, &graph("Answer."));
        assert_eq!(rows_changed.changes_since(&base), ["the trainset rows"]);
        let sig_changed = Fingerprint::of_run(&rows("a"), None, None, &graph("Reply."));
        assert_eq!(
            sig_changed.changes_since(&base),
            ["the program's signatures"]
        );
        let with_dev = Fingerprint::of_run(&rows("a"), Some(&rows("a")), None, &graph("Answer."));
        assert_eq!(with_dev.changes_since(&base), ["the devset rows"]);
    }

    #[test]
    fn key_order_is_no_change() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"b": 2, "a": 3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": {"a": 3, "b": 2}, "x": 1}"#).unwrap();
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&json!([1, 2])), digest(&json!([2, 1])));
    }

    #[test]
    fn plugins_are_their_manifest_and_library_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"one").unwrap();
        let manifest = json!({"name": "x", "version": "1"});
        let mut a = Fingerprint::default();
        a.add_plugin("x", &manifest, &lib).unwrap();
        std::fs::write(&lib, b"two").unwrap();
        let mut b = Fingerprint::default();
        b.add_plugin("x", &manifest, &lib).unwrap();
        assert_eq!(b.changes_since(&a), ["plugin `x`"]);
        assert!(
            b.add_plugin("y", &manifest, &dir.path().join("none"))
                .is_err()
        );
    }
}
