//! Writing artifacts: pretty JSON and JSON lines, every file of a run staged
//! before the first rename (and the previous files put back if a rename
//! fails), and candidate files an earlier run left behind.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::CANDIDATES_DIR;

/// Why artifacts could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output folder could not be created.
    #[error("cannot create output folder {path}: {source}")]
    CreateDir {
        /// The folder that could not be created.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file could not be written or renamed into place.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file's final path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A value could not be turned into JSON.
    #[error("cannot serialize {name}: {source}")]
    Serialize {
        /// The artifact being serialized, e.g. `candidates.json`.
        name: String,
        /// The underlying serde error.
        source: serde_json::Error,
    },
}

/// Pretty JSON with a trailing newline.
pub fn to_pretty(name: &str, value: &impl Serialize) -> Result<Vec<u8>, WriteError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| WriteError::Serialize {
        name: name.into(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// One JSON document per line.
pub fn to_jsonl<T: Serialize>(name: &str, rows: &[T]) -> Result<Vec<u8>, WriteError> {
    let mut bytes = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut bytes, row).map_err(|source| WriteError::Serialize {
            name: name.into(),
            source,
        })?;
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// The mode of every file written into an output folder: readable by all,
/// like a file `cp` or an editor makes (0666 less the process umask, so 0644
/// under the usual umask). Temp files are otherwise owner-only, and an
/// artifact is meant to be shared and served. Checkpoints get the same mode:
/// they hold nothing the artifacts do not (never a key).
fn shared_file_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

/// Write several files into `dir` all-or-nothing as far as the filesystem
/// allows: every file is first written in full to a temp file beside its
/// final place, and only when all are written are they renamed into place,
/// in the order given; if one rename fails, those done are undone (each
/// replaced file restored, each new one removed). A name may hold a subfolder (`candidates/00.program.json`),
/// created as needed.
pub fn write_all_atomic<S: AsRef<str>>(
    dir: &Path,
    files: &[(S, Vec<u8>)],
) -> Result<(), WriteError> {
    let create = |folder: &Path| {
        std::fs::create_dir_all(folder).map_err(|source| WriteError::CreateDir {
            path: folder.to_path_buf(),
            source,
        })
    };
    create(dir)?;
    let mut staged = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name.as_ref());
        // The temp file sits in the final file's own folder, so the rename
        // never crosses filesystems.
        let folder = path.parent().unwrap_or(dir);
        create(folder)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let err = |source| WriteError::Write {
            path: path.clone(),
            source,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .permissions(shared_file_mode())
            .tempfile_in(folder)
            .map_err(err)?;
        tmp.write_all(bytes).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        staged.push((tmp, path));
    }
    // Each rename keeps what it replaces until all are done, so a failure
    // part way (a folder where a file goes, a full disk) puts the previous
    // files back: the folder holds the old set or the new one, never a mix.
    let mut replaced: Vec<(PathBuf, Option<tempfile::TempPath>)> = Vec::new();
    for (tmp, path) in staged {
        let step = keep_previous(&path).and_then(|previous| {
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(previous)
        });
        match step {
            Ok(previous) => replaced.push((path, previous)),
            Err(source) => {
                restore(replaced);
                return Err(WriteError::Write { path, source });
            }
        }
    }
    // Done: the kept previous files are deleted as they drop.
    Ok(())
}

/// A link to (or, where links are refused, a copy of) the file now at
/// `path`, beside it, deleted when dropped; `None` when there is none.
fn keep_previous(path: &Path) -> std::io::Result<Option<tempfile::TempPath>> {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept = tempfile::Builder::new()
        .prefix(&format!(".{name}.previous."))
        .make_in(folder, |at| {
            std::fs::hard_link(path, at).or_else(|_| std::fs::copy(path, at).map(|_| ()))
        })?;
    Ok(Some(kept.into_temp_path()))
}

/// Undo the renames done so far, last first: a replaced file comes back,
/// a file that was new is removed. Best effort: the write already failed.
fn restore(replaced: Vec<(PathBuf, Option<tempfile::TempPath>)>) {
    for (path, previous) in replaced.into_iter().rev() {
        match previous {
            Some(kept) => {
                if let Ok(kept) = kept.keep() {
                    let _ = std::fs::rename(kept, &path);
                }
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Remove candidate programs a previous run left in `dir`'s
/// [`CANDIDATES_DIR`] beyond the `keep` this run wrote (`NN.program.json`
/// with NN >= keep), so the folder holds exactly the files `candidates.json`
/// lists. Other files there are left alone.
pub fn remove_stale_candidates(dir: &Path, keep: usize) -> Result<(), WriteError> {
    let folder = dir.join(CANDIDATES_DIR);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let position = name
            .strip_suffix(".program.json")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok());
        if position.is_some_and(|p| p >= keep) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| WriteError::Write { path, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::candidate_program_file;

    #[test]
    fn atomic_write_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_all_atomic(
            &out,
            &[("a.json", b"{}\n".to_vec()), ("b.jsonl", b"".to_vec())],
        )
        .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "b.jsonl"]);
        assert_eq!(std::fs::read(out.join("a.json")).unwrap(), b"{}\n");
    }

    #[test]
    fn a_failed_rename_leaves_the_previous_complete_set() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let set = |tag: &str, n: usize| -> Vec<(String, Vec<u8>)> {
            (0..n)
                .map(|i| (candidate_program_file(i), format!("{tag}{i}").into_bytes()))
                .chain([("run.json".to_string(), tag.as_bytes().to_vec())])
                .collect()
        };
        write_all_atomic(out, &set("old", 2)).unwrap();
        // A folder where the new set's third candidate goes: staging works,
        // that rename fails after the first two have been renamed in.
        std::fs::create_dir(out.join(candidate_program_file(2))).unwrap();
        let err = write_all_atomic(out, &set("new", 3)).unwrap_err();
        assert!(err.to_string().contains("02.program.json"), "{err}");
        for (name, bytes) in set("old", 2) {
            assert_eq!(std::fs::read(out.join(&name)).unwrap(), bytes, "{name}");
        }
        // Nothing staged or kept is left behind.
        let mut names: Vec<String> = std::fs::read_dir(out.join(CANDIDATES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["00.program.json", "01.program.json", "02.program.json"]
        );
        assert!(out.join(candidate_program_file(2)).is_dir());
        // A file the failed write would have added is removed again.
        std::fs::remove_dir(out.join(candidate_program_file(2))).unwrap();
        std::fs::create_dir(out.join("run.json.d")).unwrap();
        let files = [
            (candidate_program_file(5), b"new5".to_vec()),
            ("run.json.d".to_string(), b"x".to_vec()),
        ];
        write_all_atomic(out, &files).unwrap_err();
        assert!(!out.join(candidate_program_file(5)).exists());
        // And a successful write leaves no kept copies.
        write_all_atomic(out, &set("new", 3)).unwrap();
        let leftovers = std::fs::read_dir(out.join(CANDIDATES_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(leftovers, 0);
        assert_eq!(std::fs::read(out.join("run.json")).unwrap(), b"new");
    }

    #[test]
    fn atomic_write_creates_subfolders_and_stale_candidates_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let files: Vec<(String, Vec<u8>)> = (0..3)
            .map(|i| (candidate_program_file(i), format!("{i}\n").into_bytes()))
            .chain([("x.json".to_string(), b"x".to_vec())])
            .collect();
        write_all_atomic(out, &files).unwrap();
        assert_eq!(candidate_program_file(2), "candidates/02.program.json");
        assert_eq!(
            std::fs::read(out.join("candidates/02.program.json")).unwrap(),
            b"2\n"
        );
        // A later run with one candidate: the other two are removed, a
        // user's own file stays.
        std::fs::write(out.join("candidates/notes.txt"), "mine").unwrap();
        write_all_atomic(out, &files[..1]).unwrap();
        remove_stale_candidates(out, 1).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(out.join(CANDIDATES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["00.program.json", "notes.txt"]);
        // Nothing to clean in a folder without candidates.
        remove_stale_candidates(&out.join("nowhere"), 0).unwrap();
    }
}
