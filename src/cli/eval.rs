//! `simba-run eval`.

use super::{EvalArgs, exit};

pub fn run(_args: EvalArgs) -> i32 {
    eprintln!("error: `eval` is not built yet");
    exit::USAGE
}
