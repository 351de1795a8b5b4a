//! `simba-run check`.

use super::{CheckArgs, exit};

pub fn run(_args: CheckArgs) -> i32 {
    eprintln!("error: `check` is not built yet");
    exit::USAGE
}
