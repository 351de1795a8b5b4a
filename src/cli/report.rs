//! `simba-run report OUTDIR`: (re)write `report.html` for a run's output folder.

use super::{ReportArgs, exit};

/// Runs the command; returns the exit code.
pub fn run(args: ReportArgs) -> i32 {
    match crate::report::write_report(&args.outdir) {
        Ok(path) => {
            outln!("wrote {}", path.display());
            exit::OK
        }
        Err(err) => {
            errln!("error: {err}");
            if err.is_input_error() {
                exit::INPUT
            } else {
                exit::RUN_FAILED
            }
        }
    }
}
