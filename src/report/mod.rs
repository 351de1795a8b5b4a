//! The run report: `report.html` in a run's output folder, built from the
//! artifacts the optimizer wrote (`run.json`, `trials.jsonl`,
//! `candidates.json`, `program.json`; see [`crate::artifacts`]).
//!
//! | file | job |
//! |---|---|
//! | `load.rs` | read and check the artifacts, tolerating a run stopped early |
//! | `escape.rs` | the one HTML escape every piece of data goes through |
//! | `format.rs` | how numbers, durations and values are shown |
//! | `diff.rs` | the word diff of instructions against the original |
//! | `plot.rs` | the score plot, drawn by plotters' SVG backend |
//! | `html.rs` | the page: header, plot, candidates, winning program, steps |
//! | `decided.rs` | which split decided the final selection, full or raced |
//! | `race.rs` | the race of a `final = race` selection: rounds, eliminations |
//!
//! The page is self-contained (inline CSS and SVG, no script, no network), and
//! [`render_report`] is a pure function of the artifacts, so rewriting the
//! report of a finished run gives the same bytes.

mod decided;
mod diff;
mod escape;
pub mod format;
mod html;
mod load;
pub mod plot;
mod race;

pub use escape::escape_html;
pub use load::{ReportInputs, WinningPredictor};

use std::path::{Path, PathBuf};

/// The report's file name inside the output folder.
pub const REPORT_HTML: &str = "report.html";

/// Why a report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The output folder does not exist.
    #[error("output folder {} does not exist", path.display())]
    NoFolder {
        /// The folder asked for.
        path: PathBuf,
    },
    /// The folder exists but holds neither `run.json` nor `trials.jsonl`.
    #[error(
        "{} holds no run artifacts (neither run.json nor trials.jsonl): is it a simba-run output folder?",
        dir.display()
    )]
    NoArtifacts {
        /// The folder looked in.
        dir: PathBuf,
    },
    /// An artifact exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The artifact's path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON artifact does not parse as its [`crate::artifacts`] type.
    #[error("{}: malformed artifact: {source}", path.display())]
    Parse {
        /// The artifact's path.
        path: PathBuf,
        /// The serde error, with line and column.
        source: serde_json::Error,
    },
    /// A line of `trials.jsonl` does not parse as a [`crate::artifacts::TrialRecord`].
    #[error("{}:{line}: malformed trial record: {source}", path.display())]
    ParseLine {
        /// The `trials.jsonl` path.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The artifacts parse but contradict each other (e.g. `best` past the candidate list).
    #[error("{}: {message}", path.display())]
    Inconsistent {
        /// The artifact at fault.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// plotters failed to draw the score plot; holds its message.
    #[error("cannot draw the score plot: {0}")]
    Plot(String),
    /// `report.html` could not be written or renamed into place.
    #[error(transparent)]
    Write(#[from] crate::artifacts::WriteError),
}

impl ReportError {
    /// True when the artifacts are missing or malformed (the user's input),
    /// rather than the report failing to draw or write.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ReportError::Plot(_) | ReportError::Write(_))
    }
}

/// Render the report page for already-loaded artifacts.
pub fn render_report(inputs: &ReportInputs) -> Result<String, ReportError> {
    html::render(inputs)
}

/// Read the artifacts in `outdir` and (re)write `outdir/report.html`
/// atomically (temp file in the same folder, then rename). Returns the
/// report's path.
pub fn write_report(outdir: &Path) -> Result<PathBuf, ReportError> {
    let inputs = ReportInputs::load(outdir)?;
    let page = render_report(&inputs)?;
    let path = outdir.join(REPORT_HTML);
    crate::artifacts::write_all_atomic(outdir, &[(REPORT_HTML, page.into_bytes())])?;
    Ok(path)
}
