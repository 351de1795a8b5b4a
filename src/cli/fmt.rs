//! `simba-run fmt`.

use super::{FmtArgs, exit};

pub fn run(_args: FmtArgs) -> i32 {
    eprintln!("error: `fmt` is not built yet");
    exit::USAGE
}
