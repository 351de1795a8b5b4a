//! `simba-run eval`: run a program (the baseline, or a saved program.json)
//! over one split and print its score and failures.

use std::io::Write;

use super::{EvalArgs, exit, report_failure};
use crate::printable::escape_controls;
use crate::project::{Error, EvalOptions, EvalReport, LoadOptions, Project, evaluate};

/// Runs the command; returns the exit code.
pub fn run(args: EvalArgs) -> i32 {
    match execute(&args) {
        Ok(report) => print_report(&report, args.json),
        Err(e) => report_failure(&e),
    }
}

fn execute(args: &EvalArgs) -> Result<EvalReport, Error> {
    let project = Project::load(&args.spec, &LoadOptions::default())?;
    for w in &project.warnings {
        err!("{}", escape_controls(w));
    }
    let runtime = super::engine_runtime()?;
    let options = EvalOptions {
        program: args.program.clone(),
        split: args.split.clone(),
        only: args.only.clone(),
        no_cache: args.no_cache,
    };
    let bar = progress_bar(args.json);
    let progress = |done: usize, total: usize, mean: f64| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("mean {mean:.3}"));
    };
    let report = runtime.block_on(evaluate(&project, &options, &progress));
    bar.finish_and_clear();
    report
}

/// Prints the report; exit code 3 when every execution failed, or the
/// metric could not score any prediction.
fn print_report(report: &EvalReport, json: bool) -> i32 {
    for w in &report.warnings {
        errln!("warning: {}", escape_controls(w));
    }
    let mut out = std::io::stdout().lock();
    if json {
        for i in 0..report.outcomes.len() {
            let _ = writeln!(out, "{}", report.json_line(i));
        }
        errln!("{}", report.summary());
    } else {
        let _ = writeln!(out, "{}", report.summary());
        for (i, o) in report.outcomes.iter().enumerate() {
            if let Some(e) = &o.execution.error {
                let _ = writeln!(out, "  example {i}: {}", escape_controls(e));
            }
        }
    }
    let n = report.outcomes.len();
    if n > 0 && report.failed == n {
        errln!("error: every execution failed");
        return exit::RUN_FAILED;
    }
    if let Some(e) = report.metric_never_scored() {
        errln!("error: {}", escape_controls(&e));
        return exit::RUN_FAILED;
    }
    exit::OK
}

/// A bar on stderr (hidden with `--json`); its length comes with the first
/// progress report, once the split is loaded.
fn progress_bar(json: bool) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed}] {msg}")
    {
        bar.set_style(style);
    }
    bar
}
