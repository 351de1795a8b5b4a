//! Opening the database: the checks made before SQLite touches anything
//! (the folder, only regular files where SQLite will open one), the
//! connection settings, the integrity check and the schema.

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database file inside the cache folder.
pub const DB_FILE: &str = "responses.sqlite";

/// `PRAGMA user_version` of the schema below; a database with a larger one
/// was written by a newer simba-run and is left alone. 2: hits are logged
/// in `hit_log` (hit_log.rs); a version 1 database is upgraded in place by
/// adding it, and builds that only know version 1 no longer use it (they
/// would prune entries whose last use is still in the log).
const SCHEMA_VERSION: i64 = 2;

/// How long a connection waits for another process's write lock. Writers
/// hold it for one batch (milliseconds), so this is only reached when a
/// process is stuck holding it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS responses (
    key               BLOB PRIMARY KEY,  -- SHA-256 of the request identity (key.rs)
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,     -- the provider's model id
    text              TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created           INTEGER NOT NULL,  -- unix seconds
    last_hit          INTEGER,           -- unix seconds; NULL until the first hit
    hits              INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hit_log (
    key               BLOB NOT NULL,     -- an answer's key
    hits              INTEGER NOT NULL,  -- hits on it in one batch
    at                INTEGER NOT NULL   -- unix seconds
) STRICT;
";

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The folder or the files in it are not usable (not a folder, not a
    /// regular file, no permission, ...).
    #[error("cannot use the response cache in {}: {reason}", dir.display())]
    Unusable {
        /// The cache folder.
        dir: PathBuf,
        /// What is wrong, for people.
        reason: String,
    },
    /// The database file is not a sound SQLite database.
    #[error("the response cache {} is damaged ({detail})", path.display())]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// SQLite's account of the damage.
        detail: String,
    },
    /// The database has a schema this version does not know.
    #[error("the response cache {} was written by a newer simba-run (schema {found})", path.display())]
    Newer {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
}

/// Whether a database can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
}

/// The database file of the cache in `dir`.
pub(super) fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// The database and the two files SQLite keeps beside it in WAL mode.
pub(super) fn db_files(dir: &Path) -> [PathBuf; 3] {
    [
        dir.join(DB_FILE),
        dir.join(format!("{DB_FILE}-wal")),
        dir.join(format!("{DB_FILE}-shm")),
    ]
}

/// Creates the cache folder if needed and checks it is safe to open.
pub(super) fn prepare_folder(dir: &Path) -> Result<(), CacheError> {
    std::fs::create_dir_all(dir).map_err(|e| CacheError::Unusable {
        dir: dir.to_path_buf(),
        reason: format!("cannot create the folder: {e}"),
    })?;
    check_files(dir)
}

/// Checks that nothing but regular files stands where SQLite will open one:
/// opening a FIFO would block forever, a device or folder makes no sense.
/// (Symbolic links to regular files are fine.)
pub(super) fn check_files(dir: &Path) -> Result<(), CacheError> {
    for path in db_files(dir) {
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(CacheError::Unusable {
                    dir: dir.to_path_buf(),
                    reason: format!("{} is not a regular file", path.display()),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The two-hex-digit fan-out folders of the old one-file-per-entry layout.
pub(super) fn old_layout_folders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 2
                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Opens the database of the cache in `dir` (a prepared folder), creating
/// it if needed: integrity check first (a damaged file is never written
/// to), then WAL mode and the schema. A database SQLite can only read (a
/// write-protected file) opens read-only.
pub(super) fn open_main(dir: &Path) -> Result<(Connection, Access), CacheError> {
    // SQLite answers "database is locked" at once, without waiting out the
    // busy timeout, when two processes switch a new file to WAL mode at the
    // same moment (the switch cannot wait without risking a deadlock). The
    // other process is done within milliseconds, so try again a few times.
    let mut attempt = 0;
    loop {
        match open_main_once(dir) {
            Err(CacheError::Unusable { reason, .. })
                if attempt < OPEN_ATTEMPTS && reason.contains("database is locked") =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20 * attempt as u64));
            }
            other => return other,
        }
    }
}

/// How many times opening is retried when another process holds the lock
/// (about 2 s in all).
const OPEN_ATTEMPTS: usize = 12;

/// One attempt of [`open_main`].
fn open_main_once(dir: &Path) -> Result<(Connection, Access), CacheError> {
    let path = db_path(dir);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let failed = |e: rusqlite::Error| classify(dir, &path, e);
    let mut conn = Connection::open_with_flags(&path, flags).map_err(failed)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    check_integrity(&conn, dir, &path)?;
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(failed)? {
        check_version(&conn, &path, false)?;
        return Ok((conn, Access::ReadOnly));
    }
    // Readers never block a writer nor each other in WAL mode; NORMAL
    // syncs at checkpoints only, which can lose the last answers on a power
    // cut but never corrupts the file: right for a cache.
    conn.pragma_update_and_check(None, "journal_mode", "wal", |_| Ok(()))
        .map_err(failed)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(failed)?;
    match create_schema(&mut conn, &path) {
        Ok(()) => Ok((conn, Access::ReadWrite)),
        Err(Created::Failed(e)) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {
            check_version(&conn, &path, false)?;
            Ok((conn, Access::ReadOnly))
        }
        Err(Created::Failed(e)) => Err(failed(e)),
        Err(Created::Refused(e)) => Err(e),
    }
}

/// Opens an existing database that [`open_main`] accepted, for reads only.
pub(super) fn open_reader(path: &Path, access: Access) -> rusqlite::Result<Connection> {
    let flags = match access {
        Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Opens an existing database for the `cache` command, with the same checks
/// as a run (but creating nothing). `None` when there is no database.
pub(super) fn open_existing(dir: &Path) -> Result<Option<Connection>, CacheError> {
    check_files(dir)?;
    let path = db_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let failed = |e: rusqlite::Error| classify(dir, &path, e);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    check_integrity(&conn, dir, &path)?;
    if check_version(&conn, &path, true)? == 0 {
        // An empty file (a run that was stopped while creating it).
        return Ok(None);
    }
    Ok(Some(conn))
}

/// `PRAGMA quick_check`: the b-tree structure and record formats of every
/// page (not index contents); it reads the whole file, so it costs time in
/// proportion to the cache's size.
fn check_integrity(conn: &Connection, dir: &Path, path: &Path) -> Result<(), CacheError> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|e| classify(dir, path, e))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(CacheError::Damaged {
            path: path.to_path_buf(),
            detail: verdict,
        })
    }
}

/// The database's schema version; an error when it is newer than this
/// build's, or (unless `allow_empty`) when there is no schema at all.
fn check_version(conn: &Connection, path: &Path, allow_empty: bool) -> Result<i64, CacheError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| classify(path.parent().unwrap_or(path), path, e))?;
    if found > SCHEMA_VERSION {
        return Err(CacheError::Newer {
            path: path.to_path_buf(),
            found,
        });
    }
    if found == 0 && !allow_empty {
        return Err(CacheError::Unusable {
            dir: path.parent().unwrap_or(path).to_path_buf(),
            reason: format!("{} is read-only and holds no cache yet", path.display()),
        });
    }
    Ok(found)
}

/// Why the schema could not be set up.
enum Created {
    /// SQLite refused (a read-only file, an I/O error, ...).
    Failed(rusqlite::Error),
    /// The database is one this build must not use.
    Refused(CacheError),
}

/// Creates the tables in a new database (or adds what an older schema
/// lacks), under the write lock so that two processes opening a new cache
/// at once do it one after the other.
fn create_schema(conn: &mut Connection, path: &Path) -> Result<(), Created> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Created::Failed)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(Created::Failed)?;
    if found > SCHEMA_VERSION {
        return Err(Created::Refused(CacheError::Newer {
            path: path.to_path_buf(),
            found,
        }));
    }
    if found < SCHEMA_VERSION {
        tx.execute_batch(SCHEMA).map_err(Created::Failed)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(Created::Failed)?;
    }
    tx.commit().map_err(Created::Failed)
}

/// An SQLite error as a cache error: damage when SQLite says the file is
/// not a database or is malformed, otherwise the location is unusable.
pub(super) fn classify(dir: &Path, path: &Path, e: rusqlite::Error) -> CacheError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => CacheError::Damaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => CacheError::Unusable {
            dir: dir.to_path_buf(),
            reason: format!("{}: {e}", path.display()),
        },
    }
}

/// Seconds since the Unix epoch.
pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
