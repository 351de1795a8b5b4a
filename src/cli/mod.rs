//! The command line: argument parsing and dispatch. Each subcommand lives in
//! its own file and returns the process exit code; no engine logic here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

// The CLI's only ways to print. `println!`/`eprintln!` panic when the stream
// is a closed pipe (`simba-run check x 2>&1 >/dev/null | head -0`, a reader
// gone), which turns the command's real exit code into a panic's 101. Text
// for a reader that has gone is lost; the exit code stays.

/// `eprintln!` that ignores a failed write (a closed stderr).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that ignores a failed write (a closed stderr).
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that ignores a failed write (a closed stdout).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a failed write (a closed stdout).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod cache;
pub mod check;
mod check_plugins;
pub mod eval;
pub mod fmt;
pub mod graph;
mod logs;
mod render;
pub mod report;
pub mod run;
mod signals;

use crate::printable::escape_controls;
use crate::project::Error;
pub use crate::project::exit;

/// The whole command line: a subcommand, or a spec to run.
#[derive(Debug, Parser)]
#[command(
    name = "simba-run",
    version,
    about = "Optimize LM programs with SIMBA, from a .simba spec file",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// The subcommand, when one was given.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The spec and flags of a run, used when no subcommand is given.
    #[command(flatten)]
    pub run: RunArgs,
    /// Show every log message (plugin `host.log` at every level, engine
    /// debug output) on stderr; `RUST_LOG` overrides the filter.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// The subcommands besides running a spec.
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

/// `simba-run check SPEC`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The spec file.
    pub spec: PathBuf,
}

/// The text format `simba-run graph` draws in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// `simba-run graph SPEC`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// The program to draw (default: every program).
    #[arg(long)]
    pub program: Option<String>,
    /// The output format.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}

/// `simba-run eval SPEC`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The spec file.
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
    /// Bypass the LM response cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// `simba-run fmt SPEC`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// Exit 1 if the file is not formatted, instead of rewriting it.
    #[arg(long)]
    pub check: bool,
}

/// `simba-run report OUTDIR`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's output folder.
    pub outdir: PathBuf,
}

/// Prints a failure on stderr (rendered diagnostics as they are, anything
/// else as one `error:` line) and returns its exit code.
fn report_failure(e: &Error) -> i32 {
    // Messages quote server bodies, plugin messages and data values.
    let message = e.to_string();
    let message = escape_controls(message.trim_end());
    if e.is_rendered() || message.starts_with("error") {
        errln!("{message}");
    } else {
        errln!("error: {message}");
    }
    e.exit_code()
}

/// The async runtime a run or an eval drives the engine on: one thread,
/// the caller's. The engine is one task whose LM calls run concurrently
/// inside it, and the direct HTTP client drives its connections in that
/// task too, so more worker threads gave no parallelism, only hand-offs:
/// each reply read by the worker that held the I/O driver woke the
/// engine's (a futex call and a context switch each). On one thread the
/// engine polls the sockets itself: 5% less CPU per LM call against an
/// instant local server (benches/http_run.sh). What blocks (plugin calls,
/// the local model, the cache writer) has threads of its own.
fn engine_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Run(format!("cannot start the async runtime: {e}")))
}

/// Parse arguments and run; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let verbosity = if cli.verbose {
        logs::Verbosity::Verbose
    } else if cli.command.is_none() && cli.run.quiet {
        logs::Verbosity::Quiet
    } else {
        logs::Verbosity::Normal
    };
    // Only a run's --json stream carries log events: eval's --json lines
    // are one record per example.
    let json = cli.command.is_none() && cli.run.json;
    logs::init(verbosity, json);
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
