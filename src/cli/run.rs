//! `simba-run spec.simba`: run the optimize blocks.

use super::{RunArgs, exit};

pub fn run(_args: RunArgs) -> i32 {
    eprintln!("error: running a spec is not built yet");
    exit::USAGE
}
