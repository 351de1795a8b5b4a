//! What the compiler verifies of a `command` metric without starting it:
//! that its program can be started from the spec's folder and that a
//! script it is given exists. `check`, a run and `eval` all compile the
//! spec, so each reports these at the command string, with the rest of the
//! spec's diagnostics, before the first LM call.

use crate::printable::escape_controls;
use std::path::Path;

/// Each reason the command line `argv`, run in `dir`, cannot work: a
/// sentence naming the program or script. A name without a slash is looked
/// up on `PATH`; a path is relative to `dir` and must be an executable file
/// the kernel can start. An argument naming a script file (by its
/// extension, such as `metrics/score.py`) must exist in `dir` too.
pub(super) fn problems(argv: &[String], dir: &Path) -> Vec<String> {
    let Some((program, args)) = argv.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(problem) = program_problem(program, dir) {
        out.push(format!(
            "the program `{}` {problem}",
            escape_controls(program)
        ));
    }
    // An argument after `-c` or `-e` is code for the interpreter, not a file.
    let code_flag = |i: usize| i > 0 && matches!(args[i - 1].as_str(), "-c" | "-e");
    let scripts = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !code_flag(*i) && names_script(a))
        .map(|(_, a)| a);
    for arg in scripts {
        if !dir.join(arg).exists() {
            out.push(format!(
                "the script `{}` is not found in {}",
                escape_controls(arg),
                shown(dir)
            ));
        }
    }
    out
}

/// The file extensions of scripts an interpreter is given as an argument.
const SCRIPT_EXTENSIONS: [&str; 12] = [
    "py", "js", "mjs", "cjs", "ts", "rb", "pl", "sh", "php", "lua", "R", "jl",
];

/// Whether a command-line argument names a local script file
/// (`score.py`), not an option (`-c`), a URL (`https://../x.ts`) or a
/// piece of shell code (`'python3 score.py'` given to `sh -c`).
fn names_script(arg: &str) -> bool {
    !arg.starts_with('-')
        && !arg.contains("://")
        && !arg.chars().any(char::is_whitespace)
        && Path::new(arg)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e))
}

/// Why `program` cannot be started from `dir`, or `None` when it can.
fn program_problem(program: &str, dir: &Path) -> Option<String> {
    if !program.contains('/') {
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|d| is_executable_file(&d.join(program)))
        });
        return (!on_path).then(|| "is not found on PATH".to_string());
    }
    let path = dir.join(program);
    let place = shown(dir);
    if path.is_dir() {
        Some(format!("is a directory (in {place})"))
    } else if !path.is_file() {
        Some(format!("is not found in {place}"))
    } else if !is_executable_file(&path) {
        Some(format!(
            "is not executable (in {place}); chmod +x {}",
            escape_controls(program)
        ))
    } else if !startable(&path) {
        Some(format!(
            "is neither a program nor a script with a `#!` line (in {place}); start a \
             script with e.g. `#!/usr/bin/env python3`, or name its interpreter: \
             `command(\"python3 {}\")`",
            escape_controls(program)
        ))
    } else {
        None
    }
}

/// The folder as the user can find it: absolute, so a spec given as a bare
/// file name does not say "in .".
fn shown(dir: &Path) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    escape_controls(&dir.display().to_string()).into_owned()
}

/// A file whose mode lets someone execute it (what `execvp` needs).
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the kernel can start the file: a `#!` script, or (on Linux) an
/// ELF binary. Elsewhere any executable file is taken as startable. Without
/// this, a script with no `#!` line passes and every call fails with "Exec
/// format error".
fn startable(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    let Ok(n) = read else {
        return true; // Unreadable here: leave the verdict to the start.
    };
    let head = &head[..n];
    head.starts_with(b"#!") || !cfg!(target_os = "linux") || head.starts_with(b"\x7fELF")
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
        assert!(!names_script("python3 metrics/score.py"));
        assert!(!names_script("https://example.com/score.ts"));
    }

    #[test]
    fn code_given_to_a_shell_is_not_a_missing_script() {
        let dir = tempfile::tempdir().unwrap();
        let argv = |line: &str| shlex::split(line).unwrap();
        // Before, `sh -c '..'` was refused as a missing script.
        assert!(problems(&argv("sh -c 'python3 nothere.py'"), dir.path()).is_empty());
        assert!(problems(&argv("sh -c nothere.py"), dir.path()).is_empty());
        assert_eq!(problems(&argv("python3 nothere.py"), dir.path()).len(), 1);
    }

    #[test]
    fn an_executable_without_a_shebang_is_not_startable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write("bare.py", b"print('x')\n");
        write("ok.py", b"#!/usr/bin/env python3\nprint('x')\n");
        let argv = |p: &str| vec![p.to_string()];
        let bare = problems(&argv("./bare.py"), dir.path());
        assert_eq!(bare.len(), 1, "{bare:?}");
        assert!(bare[0].contains("with a `#!` line"), "{bare:?}");
        assert!(
            bare[0].contains(&dir.path().display().to_string()),
            "{bare:?}"
        );
        assert!(problems(&argv("./ok.py"), dir.path()).is_empty());
        assert!(problems(&argv("/bin/sh"), dir.path()).is_empty());
    }
}
