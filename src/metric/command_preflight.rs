//! What `check`, a run and `eval` verify of a `command` metric before the
//! first LM call, without starting it: that its program can be started and
//! that a script it is given exists.

use crate::printable::escape_controls;

/// Each `command` metric whose program cannot be run, as an `error: ..`
/// line: `check`, a run and `eval` say so before the first LM call rather
/// than every metric call failing. A name without a slash is looked up on
/// `PATH`; a path is relative to the spec's folder, where the program runs,
/// and must be an executable file. An argument naming a script file (by its
/// extension, such as `metrics/score.py`) must exist there too.
pub fn missing_programs(spec: &crate::ir::Spec) -> Vec<String> {
    use crate::ir::{CodeMetric, MetricExpr};
    let mut problems = Vec::new();
    for m in spec.metrics.values() {
        let MetricExpr::Code(CodeMetric::Command(c)) = &m.expr else {
            continue;
        };
        let Some((program, args)) = c.argv.split_first() else {
            continue;
        };
        let what = |part: &str| {
            format!(
                "error: metric {}: {part} of `command({:?})`",
                m.name, c.command
            )
        };
        if let Some(problem) = program_problem(program, &c.dir) {
            let part = format!("the program `{}`", escape_controls(program));
            problems.push(format!("{} {problem}", what(&part)));
        }
        for arg in args.iter().filter(|a| names_script(a)) {
            if !c.dir.join(arg).exists() {
                let part = format!("the script `{}`", escape_controls(arg));
                problems.push(format!(
                    "{} is not found in {}",
                    what(&part),
                    c.dir.display()
                ));
            }
        }
    }
    problems
}

/// The file extensions of scripts an interpreter is given as an argument.
const SCRIPT_EXTENSIONS: [&str; 12] = [
    "py", "js", "mjs", "cjs", "ts", "rb", "pl", "sh", "php", "lua", "R", "jl",
];

/// Whether a command-line argument names a script file (`score.py`), not
/// an option (`-c`) or a value.
fn names_script(arg: &str) -> bool {
    !arg.starts_with('-')
        && std::path::Path::new(arg)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e))
}

/// Why `program` cannot be started from `dir`, or `None` when it can.
fn program_problem(program: &str, dir: &std::path::Path) -> Option<String> {
    if !program.contains('/') {
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|d| is_executable_file(&d.join(program)))
        });
        return (!on_path).then(|| "is not found on PATH".to_string());
    }
    let path = dir.join(program);
    if path.is_dir() {
        Some(format!("is a directory (in {})", dir.display()))
    } else if !path.is_file() {
        Some(format!("is not found in {}", dir.display()))
    } else if !is_executable_file(&path) {
        Some(format!(
            "is not executable (in {}); chmod +x {}",
            dir.display(),
            escape_controls(program)
        ))
    } else {
        None
    }
}

/// A file whose mode lets someone execute it (what `execvp` needs).
fn is_executable_file(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_argument_is_told_by_its_extension() {
        assert!(names_script("metrics/score.py"));
        assert!(names_script("check.R"));
        assert!(!names_script("--config=a.py"));
        assert!(!names_script("-u"));
        assert!(!names_script("strict"));
        assert!(!names_script("data.json"));
    }
}
