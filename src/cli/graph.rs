//! `simba-run graph`: draw programs' execution graphs as Graphviz dot or Mermaid.

use super::{GraphArgs, GraphFormat, exit, report_failure};
use crate::ir::{ModuleKind, ProgramGraph, Source, Step};
use crate::project::{LoadOptions, Project};
use crate::syntax::diagnostic::did_you_mean;

/// Runs the command; returns the exit code.
pub fn run(args: GraphArgs) -> i32 {
    let spec = match Project::load(&args.spec, &LoadOptions::default()) {
        Ok(project) => project.spec,
        Err(e) => return report_failure(&e),
    };
    let programs: Vec<&ProgramGraph> = match &args.program {
        Some(name) => match spec.programs.get(name) {
            Some(p) => vec![p],
            None => {
                let names: Vec<&str> = spec.programs.keys().map(String::as_str).collect();
                let hint = did_you_mean(name, names.iter().copied())
                    .unwrap_or_else(|| format!("programs: {}", names.join(", ")));
                errln!(
                    "error: {} has no program `{name}` ({hint})",
                    args.spec.display()
                );
                return exit::INPUT;
            }
        },
        None => spec.programs.values().collect(),
    };
    let text = match args.format {
        GraphFormat::Dot => dot(&programs),
        GraphFormat::Mermaid => mermaid(&programs),
    };
    out!("{text}");
    exit::OK
}

/// A step's box below its name: the call, and the model for a predictor.
fn call_lines(st: &Step) -> Vec<String> {
    match &st.module {
        ModuleKind::Predict => vec![
            format!("predict({})", st.signature.name),
            format!("lm: {}", st.lm),
        ],
        ModuleKind::ChainOfThought => vec![
            format!("chain_of_thought({})", st.signature.name),
            format!("lm: {}", st.lm),
        ],
        ModuleKind::Search(call) => vec![format!("search({}, k = {})", call.corpus, call.k)],
        ModuleKind::Tool(call) => vec![format!("{}(..)", call.item)],
    }
}

/// Edges of a program: (from node, to node, label), nodes named `in_x`, `step_s`, `out_y`.
fn edges(p: &ProgramGraph) -> Vec<(String, String, String)> {
    let node = |s: &Source| match s {
        Source::Input(x) => (format!("in_{x}"), x.clone()),
        Source::Step { step, field } => (format!("step_{step}"), field.clone()),
    };
    let mut out = Vec::new();
    for s in &p.steps {
        for (field, src) in &s.bindings {
            let (from, label) = node(src);
            let label = if &label == field {
                label
            } else {
                format!("{label} -> {field}")
            };
            out.push((from, format!("step_{}", s.name), label));
        }
    }
    for (name, src) in &p.outputs {
        let (from, label) = node(src);
        out.push((from, format!("out_{name}"), label));
    }
    out
}

/// Graphviz: one cluster per program.
pub fn dot(programs: &[&ProgramGraph]) -> String {
    let mut s = String::from("digraph simba {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for p in programs {
        let id = |n: &str| format!("\"{}.{}\"", p.name, n);
        s.push_str(&format!(
            "  subgraph \"cluster_{}\" {{\n    label=\"program {} (lm: {})\";\n",
            p.name, p.name, p.lm
        ));
        for f in &p.inputs {
            s.push_str(&format!(
                "    {} [label=\"{}: {}\", shape=ellipse];\n",
                id(&format!("in_{}", f.name)),
                f.name,
                escape(&f.ty.to_string())
            ));
        }
        for st in &p.steps {
            s.push_str(&format!(
                "    {} [label=\"{}\\n{}\", shape=box];\n",
                id(&format!("step_{}", st.name)),
                st.name,
                call_lines(st).join("\\n")
            ));
        }
        for (name, _) in &p.outputs {
            s.push_str(&format!(
                "    {} [label=\"{name}\", shape=ellipse, style=bold];\n",
                id(&format!("out_{name}"))
            ));
        }
        for (from, to, label) in edges(p) {
            s.push_str(&format!(
                "    {} -> {} [label=\"{}\"];\n",
                id(&from),
                id(&to),
                escape(&label)
            ));
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid flowchart: one subgraph per program.
pub fn mermaid(programs: &[&ProgramGraph]) -> String {
    let mut s = String::from("flowchart LR\n");
    for p in programs {
        let id = |n: &str| format!("{}__{}", p.name, n);
        s.push_str(&format!(
            "  subgraph {}[\"program {} (lm: {})\"]\n",
            p.name, p.name, p.lm
        ));
        for f in &p.inputs {
            s.push_str(&format!(
                "    {}([\"{}: {}\"])\n",
                id(&format!("in_{}", f.name)),
                f.name,
                f.ty.to_string().replace('"', "'")
            ));
        }
        for st in &p.steps {
            s.push_str(&format!(
                "    {}[\"{}<br/>{}\"]\n",
                id(&format!("step_{}", st.name)),
                st.name,
                call_lines(st).join("<br/>")
            ));
        }
        for (name, _) in &p.outputs {
            s.push_str(&format!(
                "    {}([\"{name}\"])\n",
                id(&format!("out_{name}"))
            ));
        }
        for (from, to, label) in edges(p) {
            s.push_str(&format!(
                "    {} -- \"{}\" --> {}\n",
                id(&from),
                label.replace('"', "'"),
                id(&to)
            ));
        }
        s.push_str("  end\n");
    }
    s
}
