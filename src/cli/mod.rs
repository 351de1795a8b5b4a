//! The command line: argument parsing and dispatch. Each subcommand lives in
//! its own file and returns the process exit code; no engine logic here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub mod cache;
pub mod check;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod report;
pub mod run;
mod signals;

/// Exit codes (LANGUAGE.md, "Command line").
pub mod exit {
    pub const OK: i32 = 0;
    /// A spec, data or other input error.
    pub const INPUT: i32 = 1;
    /// A usage error (bad flags); clap uses 2 too.
    pub const USAGE: i32 = 2;
    /// The run failed (for example every LM call failing).
    pub const RUN_FAILED: i32 = 3;
    /// Interrupted by SIGINT or SIGTERM; the checkpoint holds the last finished step.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "simba-run",
    version,
    about = "Optimize LM programs with SIMBA, from a .simba spec file",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, compile and load plugins; print diagnostics (exit 1 on error).
    Check(CheckArgs),
    /// Draw a program's execution graph.
    Graph(GraphArgs),
    /// Run a program (the baseline, or a saved program.json) over a split.
    Eval(EvalArgs),
    /// Rewrite a spec in the canonical layout.
    Fmt(FmtArgs),
    /// (Re)write report.html for a run's output folder.
    Report(ReportArgs),
    /// Look after the LM response cache: stats, clear, prune.
    Cache(cache::CacheArgs),
}

/// `simba-run spec.simba [flags]`: run the spec's optimize blocks.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The spec file.
    #[arg(required = true)]
    pub spec: Option<PathBuf>,
    /// Run only this optimize block (by program name).
    #[arg(long)]
    pub only: Option<String>,
    /// Override every optimize block's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override an optimize key: `--set qa.max_steps=2`.
    #[arg(long = "set", value_name = "K=V")]
    pub set: Vec<String>,
    /// Output folder (instead of the spec's `output`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the output folder's checkpoint.json.
    #[arg(long)]
    pub resume: bool,
    /// Print the LM calls (and cost) the configuration implies, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON event per line on stdout instead of progress bars.
    #[arg(long)]
    pub json: bool,
    /// No progress output; errors only.
    #[arg(long)]
    pub quiet: bool,
    /// Bypass the LM response cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    pub spec: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    pub spec: PathBuf,
    /// The program to draw (default: every program).
    #[arg(long)]
    pub program: Option<String>,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    pub spec: PathBuf,
    /// A program.json whose instructions and demos replace the baseline's.
    #[arg(long)]
    pub program: Option<PathBuf>,
    /// The split to score (`dev`, or `dataset.split`); default: the optimize block's devset, else its trainset.
    #[arg(long)]
    pub split: Option<String>,
    /// Which optimize block (by program name) supplies dataset and metric.
    #[arg(long)]
    pub only: Option<String>,
    /// One JSON line per example on stdout.
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    pub spec: PathBuf,
    /// Exit 1 if the file is not formatted, instead of rewriting it.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    pub outdir: PathBuf,
}

/// Parse arguments and run; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(a)) => check::run(a),
        Some(Command::Graph(a)) => graph::run(a),
        Some(Command::Eval(a)) => eval::run(a),
        Some(Command::Fmt(a)) => fmt::run(a),
        Some(Command::Report(a)) => report::run(a),
        Some(Command::Cache(a)) => cache::run(a),
        None => run::run(cli.run),
    }
}
