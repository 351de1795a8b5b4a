//! The output folder of a run, checked and locked before the first LM call.
//!
//! Two runs writing into one folder would mix their artifacts, and one
//! finishing run would delete the other's checkpoint. So a run holds an
//! exclusive OS advisory lock (`flock` on Unix, through `std::fs::File`) on
//! `.simba-run.lock` in the folder from before its first LM call until its
//! artifacts are written; a second run fails at once, naming the holder's
//! pid. The lock is released by the OS when the process ends, however it
//! ends, so a killed run never leaves a stale lock. The file itself stays:
//! deleting it while another process waits on it would let two runs hold
//! locks on two different files.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::Error;

/// The lock file's name inside an output folder.
pub const LOCK_FILE: &str = ".simba-run.lock";

/// An exclusive hold on an output folder; released when dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Creates `dir` when needed, checks that it is a writable folder other
    /// than the filesystem root, and takes its lock.
    pub fn acquire(dir: &Path) -> Result<OutputLock, Error> {
        let shown = dir.display();
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if absolute.parent().is_none() {
            return Err(Error::Input(format!(
                "output folder {shown} is the filesystem root; choose a folder of its own (--out)"
            )));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Input(format!(
                "output folder {shown} is a file, not a folder; choose another (--out)"
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Input(format!("cannot create output folder {shown}: {e}")))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::Input(format!("cannot write into output folder {shown}: {e}")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another simba-run".to_string()
                } else {
                    format!("another simba-run (pid {holder})")
                };
                return Err(Error::Input(format!(
                    "output folder {shown} is in use by {who}; wait for it to finish or choose another folder (--out)"
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::Input(format!(
                    "cannot lock output folder {shown}: {e}"
                )));
            }
        }
        // Ours now: record who holds it, for the message a second run prints.
        record_pid(&mut file)
            .map_err(|e| Error::Input(format!("cannot write into output folder {shown}: {e}")))?;
        Ok(OutputLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn record_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_hold_fails_naming_the_holder_and_a_released_one_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::acquire(&out).unwrap();
        // Another open file description conflicts like another process would.
        let e = OutputLock::acquire(&out).unwrap_err().to_string();
        assert!(
            e.contains("in use by another simba-run")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(OutputLock::acquire(&out).is_ok());
    }

    #[test]
    fn a_file_or_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = OutputLock::acquire(&file).unwrap_err().to_string();
        assert!(e.contains("is a file, not a folder"), "{e}");
        let e = OutputLock::acquire(&file.join("sub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot create output folder"), "{e}");
        let e = OutputLock::acquire(Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("filesystem root"), "{e}");
    }
}
