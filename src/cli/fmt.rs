//! `simba-run fmt`: rewrite a spec in the canonical layout (or, with
//! `--check`, report whether it already is).

use super::{FmtArgs, exit};
use crate::compile::{LoadError, read_spec};
use crate::syntax::diagnostic::{Sources, Style, render_all};
use crate::syntax::format::format_source;

/// Runs the command; returns the exit code.
pub fn run(args: FmtArgs) -> i32 {
    let source = match read_spec(&args.spec) {
        Ok(s) => s,
        Err(LoadError::Io(msg)) => {
            errln!("error: {msg}");
            return exit::INPUT;
        }
        Err(LoadError::Invalid { rendered, .. }) => {
            err!("{rendered}");
            return exit::INPUT;
        }
    };
    let formatted = match format_source(&source) {
        Ok(f) => f,
        Err(diags) => {
            let sources = Sources::new(args.spec.display().to_string(), source.as_str());
            err!("{}", render_all(&diags, &sources, Style::Plain));
            errln!(
                "error: {} does not parse; nothing was formatted",
                args.spec.display()
            );
            return exit::INPUT;
        }
    };
    if args.check {
        if formatted == source {
            return exit::OK;
        }
        errln!(
            "{} is not formatted (run `simba-run fmt {}`)",
            args.spec.display(),
            args.spec.display()
        );
        return exit::INPUT;
    }
    if formatted == source {
        return exit::OK;
    }
    match write_atomic(&args.spec, &formatted) {
        Ok(()) => {
            errln!("formatted {}", args.spec.display());
            exit::OK
        }
        Err(e) => {
            errln!("error: cannot write {}: {e}", args.spec.display());
            exit::INPUT
        }
    }
}

/// Writes through a temporary file in the same folder, then renames.
fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
