//! `simba-run graph`.

use super::{GraphArgs, exit};

pub fn run(_args: GraphArgs) -> i32 {
    eprintln!("error: `graph` is not built yet");
    exit::USAGE
}
