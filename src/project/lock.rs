//! The output folder of a run, checked and locked before the first LM call.
//!
//! Two runs writing into one folder would mix their artifacts, and one
//! finishing run would delete the other's checkpoint. So a run holds an
//! exclusive OS advisory lock (`flock` on Unix, through `std::fs::File`) on
//! `.simba-run.lock` in the folder from before its first LM call until its
//! artifacts are written; a second run fails at once, naming the holder's
//! pid. The lock is released by the OS when the process ends, however it
//! ends, so a killed run never leaves a stale lock (only its file, which
//! the next run reuses).
//!
//! A run that ends normally removes the lock file while still holding the
//! lock, and the folder too when the run created it and wrote nothing into
//! it (a failed run writes nothing). A run that opened the file just before
//! it was removed would lock a file no longer in the folder; so after
//! locking, a run checks that the path still names the file it locked, and
//! starts over when it does not.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::Error;

/// The lock file's name inside an output folder.
pub const LOCK_FILE: &str = ".simba-run.lock";

/// How many times a run starts over when the lock file it locked was
/// removed under it (each time, another run just finished).
const ATTEMPTS: usize = 8;

/// An exclusive hold on an output folder; released when dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
    /// The folders this run created, deepest first (removed again when
    /// left empty).
    created: Vec<PathBuf>,
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
        let created: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Input(format!("cannot create output folder {shown}: {e}")))?;
        let unwritable = |e: std::io::Error| {
            Error::Input(format!("cannot write into output folder {shown}: {e}"))
        };
        let path = dir.join(LOCK_FILE);
        for _ in 0..ATTEMPTS {
            let mut file = open_lock_file(&path).map_err(|e| match e {
                Opened::Foreign(what) => Error::Input(format!(
                    "lock file {} is {what}, not a file simba-run made; \
                     remove it (or choose another folder, --out)",
                    path.display()
                )),
                Opened::Io(e) => unwritable(e),
            })?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(busy(dir, &mut file)),
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Input(format!(
                        "cannot lock output folder {shown}: {e}"
                    )));
                }
            }
            if !still_named_by(&file, &path) {
                continue;
            }
            // Ours now: record who holds it, for the message a second run prints.
            record_pid(&mut file).map_err(unwritable)?;
            return Ok(OutputLock {
                file,
                path,
                created,
            });
        }
        Err(Error::Input(format!(
            "cannot lock output folder {shown}: other runs keep finishing in it"
        )))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Still locked here: a run that opens the file now fails as busy,
        // and one that opened it before finds it gone and starts over.
        let _ = std::fs::remove_file(&self.path);
        for dir in &self.created {
            // Fails, as it should, when the run wrote anything.
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
        let _ = self.file.unlock();
    }
}

/// Why the lock file could not be opened.
enum Opened {
    /// Something other than a regular file of its own is at the name: a
    /// symbolic link, FIFO, folder or a hard link to another file.
    Foreign(&'static str),
    Io(std::io::Error),
}

/// Opens (creating) the lock file without following a symbolic link and
/// without blocking on a FIFO, and only when it is a regular file with no
/// other name: the pid is written into it, which must never overwrite a
/// file outside the folder.
fn open_lock_file(path: &Path) -> Result<File, Opened> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            // ELOOP is how O_NOFOLLOW refuses a link; EISDIR a folder.
            match e.raw_os_error() {
                Some(libc::ELOOP) => Opened::Foreign("a symbolic link"),
                Some(libc::EISDIR) => Opened::Foreign("a folder"),
                _ => Opened::Io(e),
            }
        })?;
    let meta = file.metadata().map_err(Opened::Io)?;
    let kind = meta.file_type();
    if kind.is_fifo() {
        return Err(Opened::Foreign("a FIFO"));
    }
    if !kind.is_file() {
        return Err(Opened::Foreign("not a regular file"));
    }
    if meta.nlink() > 1 {
        return Err(Opened::Foreign("a hard link to another file"));
    }
    Ok(file)
}

/// The error for a folder another run holds, naming its pid when recorded.
fn busy(dir: &Path, file: &mut File) -> Error {
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let holder = holder.trim();
    let who = if holder.is_empty() {
        "another simba-run".to_string()
    } else {
        format!("another simba-run (pid {holder})")
    };
    Error::Input(format!(
        "output folder {} is in use by {who}; wait for it to finish or choose another folder (--out)",
        dir.display()
    ))
}

/// True when `path` still names the file `file` has open.
fn still_named_by(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
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
        let out = dir.path().join("out/qa");
        let first = OutputLock::acquire(&out).unwrap();
        // Another open file description conflicts like another process would.
        let e = OutputLock::acquire(&out).unwrap_err().to_string();
        assert!(
            e.contains("in use by another simba-run")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        // Released and cleaned up: the folders this hold created are gone again.
        assert!(!dir.path().join("out").exists());
        let again = OutputLock::acquire(&out).unwrap();
        std::fs::write(out.join("program.json"), "{}").unwrap();
        drop(again);
        // A folder with something written into it stays; the lock file goes.
        assert!(out.join("program.json").exists());
        assert!(!out.join(LOCK_FILE).exists());
    }

    /// Round two, finding 2: a symbolic link at the lock file's name had
    /// its target overwritten with the pid; a FIFO or folder there gave
    /// "Invalid argument".
    #[test]
    fn a_link_fifo_or_folder_at_the_lock_name_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        type Make<'a> = &'a dyn Fn(&Path);
        let cases: [(&str, Make); 5] = [
            ("a symbolic link", &|p| {
                std::os::unix::fs::symlink(&victim, p).unwrap()
            }),
            ("a symbolic link", &|p| {
                std::os::unix::fs::symlink(dir.path().join("absent"), p).unwrap()
            }),
            ("a hard link", &|p| std::fs::hard_link(&victim, p).unwrap()),
            ("a folder", &|p| std::fs::create_dir(p).unwrap()),
            ("a FIFO", &|p| {
                let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }),
        ];
        for (i, (what, make)) in cases.iter().enumerate() {
            let out = dir.path().join(format!("out{i}"));
            std::fs::create_dir(&out).unwrap();
            make(&out.join(LOCK_FILE));
            let e = OutputLock::acquire(&out).unwrap_err().to_string();
            assert!(
                e.contains(&format!("lock file {}", out.join(LOCK_FILE).display()))
                    && e.contains(what),
                "{what}: {e}"
            );
            assert!(
                out.join(LOCK_FILE).symlink_metadata().is_ok(),
                "left in place"
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !dir.path().join("absent").exists(),
            "nothing created through a link"
        );
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
