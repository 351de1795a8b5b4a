//! The layer rules and size limits of docs/architecture.md, checked on the
//! source: a module imports only from lower layers; no file under src/ is
//! over 700 lines (test files excepted); no function is over 120 lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 120;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Test code: a `tests.rs` file, or any file below a `tests/` folder of src.
fn is_test_file(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
        || rel.components().any(|c| c.as_os_str() == "tests")
}

/// The layer table of docs/architecture.md: module name -> layer number.
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let section = doc
        .split("## Layers")
        .nth(1)
        .expect("docs/architecture.md has a `## Layers` section");
    let mut out = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(n), Some(modules)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(layer) = n.parse::<u32>() else {
            continue;
        };
        for m in modules.split(',') {
            out.insert(m.trim().trim_matches('`').to_string(), layer);
        }
    }
    assert!(out.len() > 10, "layer table not found: {out:?}");
    out
}

/// Source text with comments and string/char literals blanked out (same
/// length and line breaks), so neither doc links nor message text count
/// as imports or braces.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, bytes: &[u8]| {
        for &c in bytes {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2)
        } else if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = 2 + hashes;
            rest[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| start + p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.len() > 2 && (rest[1] == b'\\' || rest[2] == b'\'') {
            // A char literal (not a lifetime): 'x', '\n', '\u{..}'.
            let mut j = 2;
            while j < rest.len() && rest[j] != b'\'' {
                j += 1;
            }
            (j + 1).min(rest.len())
        } else {
            0
        };
        if end == 0 {
            // Identifiers and punctuation are copied as they are; a
            // multi-byte character is copied whole.
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        } else {
            blank(&mut out, &rest[..end]);
            i += end;
        }
    }
    out
}

/// The crate-level module a file belongs to (`src/lm/cache.rs` -> `lm`).
fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// How many `super::` steps from this file reach the crate root: the depth
/// of its module path (`src/a.rs` and `src/a/mod.rs` are 1, `src/a/b.rs` 2).
fn depth(rel: &Path) -> usize {
    let parts = rel.components().count();
    if rel.file_name().is_some_and(|n| n == "mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// The crate-level modules a file's code names: `crate::x`, the items of
/// `use crate::{x, y::z}`, and `super::...::x` paths that climb to the root.
fn imported_modules(rel: &Path, code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut level = 0;
            let mut item_start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        item_start = true;
                        continue;
                    }
                    c if c.is_whitespace() => continue,
                    _ => {}
                }
                if item_start && level == 0 && (c.is_alphanumeric() || c == '_') {
                    out.push(ident(&group[k..]));
                }
                item_start = false;
            }
        } else {
            out.push(ident(after));
        }
    }
    let climb = "super::".repeat(depth(rel));
    for (at, _) in code.match_indices(&climb) {
        let after = &code[at + climb.len()..];
        if !after.starts_with("super::") && (at == 0 || !code[..at].ends_with("super::")) {
            out.push(ident(after));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

#[test]
fn every_module_imports_only_from_lower_layers() {
    let layers = layers();
    let src = root().join("src");
    let mut problems = Vec::new();
    for path in rust_files(&src) {
        let rel = path.strip_prefix(&src).unwrap().to_path_buf();
        let top = top_module(&rel);
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(&own) = layers.get(&top) else {
            problems.push(format!(
                "src/{}: module `{top}` is not in the layer table",
                rel.display()
            ));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        for module in imported_modules(&rel, &code) {
            if module == top {
                continue;
            }
            match layers.get(&module) {
                Some(&layer) if layer < own => {}
                Some(&layer) => problems.push(format!(
                    "src/{}: `{top}` (layer {own}) imports `{module}` (layer {layer})",
                    rel.display()
                )),
                // Not a module of ours (a macro path or an item at the root).
                None => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_super_imports() {
    let code = code_only(
        "use crate::{lm::Lm, value::{Example, Demo}, ir};\n// crate::cli in a comment\nlet s = \"crate::report\";\nuse super::super::optimize::X;\n",
    );
    let found = imported_modules(Path::new("a/b.rs"), &code);
    assert_eq!(found, ["lm", "value", "ir", "optimize"]);
    assert_eq!(
        imported_modules(Path::new("a/mod.rs"), &code),
        ["lm", "value", "ir"]
    );
}

#[test]
fn no_source_file_is_over_the_limit() {
    let src = root().join("src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter(|p| !is_test_file(p.strip_prefix(&src).unwrap()))
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// `(name, first line, lines)` of every function in `code` (comments and
/// literals already blanked), nested functions included.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else {
            continue;
        };
        let before = &line[..at];
        let is_item = before.split_whitespace().all(|w| {
            matches!(
                w,
                "pub" | "async" | "const" | "unsafe" | "extern" | "\"C\"" | "default"
            ) || w.starts_with("pub(")
        });
        if !is_item || line[at + 3..].starts_with('(') {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut level = 0i32;
        let mut opened = false;
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    '{' => {
                        level += 1;
                        opened = true;
                    }
                    '}' => level -= 1,
                    _ => {}
                }
            }
            if !opened && l.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            if opened && level <= 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_is_over_the_limit() {
    let src = root().join("src");
    let mut long = Vec::new();
    for path in rust_files(&src) {
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        for (name, line, n) in functions(&code) {
            if n > MAX_FN_LINES {
                long.push(format!("{}:{line} {name}: {n} lines", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn function_lengths_count_from_signature_to_closing_brace() {
    let code = code_only(
        "fn a() {\n    let s = \"}\";\n}\npub(crate) async fn b(\n    x: u8,\n) -> u8 {\n    x\n}\n",
    );
    assert_eq!(
        functions(&code),
        [("a".to_string(), 1, 3), ("b".to_string(), 4, 5)]
    );
}
