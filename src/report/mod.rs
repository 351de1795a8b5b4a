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
//!
//! The page is self-contained (inline CSS and SVG, no script, no network), and
//! [`render_report`] is a pure function of the artifacts, so rewriting the
//! report of a finished run gives the same bytes.

mod diff;
mod escape;
pub mod format;
mod html;
mod load;
pub mod plot;

pub use escape::escape_html;
pub use load::{ReportInputs, WinningPredictor};

use std::path::{Path, PathBuf};

/// The report's file name inside the output folder.
pub const REPORT_HTML: &str = "report.html";

/// Why a report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("output folder {} does not exist", path.display())]
    NoFolder { path: PathBuf },
    #[error(
        "{} holds no run artifacts (neither run.json nor trials.jsonl): is it a simba-run output folder?",
        dir.display()
    )]
    NoArtifacts { dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: malformed artifact: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}:{line}: malformed trial record: {source}", path.display())]
    ParseLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{}: {message}", path.display())]
    Inconsistent { path: PathBuf, message: String },
    #[error("cannot draw the score plot: {0}")]
    Plot(String),
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
