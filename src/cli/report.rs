//! `simba-run report`.

use super::{ReportArgs, exit};

pub fn run(_args: ReportArgs) -> i32 {
    eprintln!("error: `report` is not built yet");
    exit::USAGE
}
