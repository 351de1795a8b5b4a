//! `simba-run check`: parse and compile a spec; print a summary or every diagnostic.

use super::{CheckArgs, exit};
use crate::compile::{LoadError, load_spec};
use crate::ir::Spec;

pub fn run(args: CheckArgs) -> i32 {
    match load_spec(&args.spec, &[], None) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprint!("{w}");
            }
            print!("{}", summary(&loaded.spec));
            exit::OK
        }
        Err(LoadError::Io(msg)) => {
            eprintln!("error: {msg}");
            exit::INPUT
        }
        Err(LoadError::Invalid { rendered, count }) => {
            eprint!("{rendered}");
            let s = if count == 1 { "" } else { "s" };
            eprintln!("error: {} has {count} error{s}", args.spec.display());
            exit::INPUT
        }
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

/// What a spec declares, in a few lines.
pub fn summary(spec: &Spec) -> String {
    let mut out = format!("{}: ok\n", spec.path.display());
    let parts = [
        names("plugin", spec.plugins.keys()),
        names("model", spec.models.keys()),
        names("signature", spec.signatures.keys()),
        names("dataset", spec.datasets.keys()),
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
