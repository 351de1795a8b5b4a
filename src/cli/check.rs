//! `simba-run check`: parse and compile a spec; print a summary or every diagnostic.

use super::{CheckArgs, exit, report_failure};
use crate::compile::LoadError;
use crate::ir::Spec;
use crate::printable::escape_controls;
use crate::project::{Error, LoadOptions, Project};

/// Runs the command; returns the exit code.
pub fn run(args: CheckArgs) -> i32 {
    match Project::load(&args.spec, &LoadOptions::default()) {
        Ok(project) => {
            for w in &project.warnings {
                err!("{}", escape_controls(w));
            }
            let problems = super::check_plugins::check_plugins(&project);
            if problems.is_empty() {
                out!("{}", summary(&project.spec));
                return exit::OK;
            }
            for p in &problems {
                // Each problem is an `error: ..` line or a rendered
                // diagnostic, plugin text already escaped.
                errln!("{p}");
            }
            let count = problems.len();
            let s = if count == 1 { "" } else { "s" };
            errln!("error: {} has {count} error{s}", args.spec.display());
            exit::INPUT
        }
        Err(Error::Spec(LoadError::Invalid { rendered, count })) => {
            err!("{rendered}");
            let s = if count == 1 { "" } else { "s" };
            errln!("error: {} has {count} error{s}", args.spec.display());
            exit::INPUT
        }
        Err(e) => report_failure(&e),
    }
}

fn names<'a>(what: &str, items: impl Iterator<Item = &'a String>) -> Option<String> {
    let list: Vec<&str> = items.map(String::as_str).collect();
    if list.is_empty() {
        return None;
    }
    let plural = if list.len() == 1 { "" } else { "s" };
    Some(format!(
        "  {} {what}{plural}: {}\n",
        list.len(),
        list.join(", ")
    ))
}

/// `  2 corpora: wiki (local), remote (remote)`.
fn corpora(spec: &Spec) -> Option<String> {
    let n = spec.corpora.len();
    let list: Vec<String> = spec
        .corpora
        .values()
        .map(|c| match c.source {
            crate::ir::CorpusSource::Local(_) => format!("{} (local)", c.name),
            crate::ir::CorpusSource::Remote(_) => format!("{} (remote)", c.name),
        })
        .collect();
    (n > 0).then(|| {
        let noun = if n == 1 { "corpus" } else { "corpora" };
        format!("  {n} {noun}: {}\n", list.join(", "))
    })
}

/// What a spec declares, in a few lines.
pub fn summary(spec: &Spec) -> String {
    let mut out = format!("{}: ok\n", spec.path.display());
    let parts = [
        names("plugin", spec.plugins.keys()),
        names("model", spec.models.keys()),
        names("signature", spec.signatures.keys()),
        names("dataset", spec.datasets.keys()),
        corpora(spec),
        names("metric", spec.metrics.keys()),
    ];
    for p in parts.into_iter().flatten() {
        out.push_str(&p);
    }
    if !spec.programs.is_empty() {
        let n = spec.programs.len();
        out.push_str(&format!(
            "  {n} program{}:\n",
            if n == 1 { "" } else { "s" }
        ));
        for p in spec.programs.values() {
            let steps: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
            let ins: Vec<&str> = p.inputs.iter().map(|f| f.name.as_str()).collect();
            let outs: Vec<&str> = p.outputs.iter().map(|(n, _)| n.as_str()).collect();
            out.push_str(&format!(
                "    {} ({} -> {}) on {}: {}\n",
                p.name,
                ins.join(", "),
                outs.join(", "),
                p.lm,
                steps.join(" -> ")
            ));
        }
    }
    for o in &spec.optimizes {
        out.push_str(&format!(
            "  optimize {}: trainset {}, metric {}, bsize {}, {} candidates, {} steps\n",
            o.program, o.trainset, o.metric, o.bsize, o.num_candidates, o.max_steps
        ));
    }
    out
}
