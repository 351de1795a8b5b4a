//! The `simba-run cache` operations on a cache folder: what it holds,
//! emptying it, and dropping the entries not used for a while. Each opens
//! the database with the same checks as a run and creates nothing.

use super::hit_log;
use super::open::{CacheError, check_files, db_files, now, old_layout_folders, open_existing};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a cache folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// The database file.
    pub path: PathBuf,
    /// Whether the database exists.
    pub exists: bool,
    /// Bytes on disk: the database and its write-ahead log.
    pub bytes: u64,
    /// Per provider and model, most entries first.
    pub models: Vec<ModelStats>,
    /// Fan-out folders of the old one-file-per-entry layout (ignored).
    pub old_layout_folders: usize,
}

impl CacheStats {
    /// Entries over every model.
    pub fn entries(&self) -> u64 {
        self.models.iter().map(|m| m.entries).sum()
    }

    /// Hits over every model.
    pub fn hits(&self) -> u64 {
        self.models.iter().map(|m| m.hits).sum()
    }
}

/// The entries of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStats {
    /// The provider kind (`openai`, `local`, ...).
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// Stored answers.
    pub entries: u64,
    /// Times a stored answer was served instead of a request.
    pub hits: u64,
    /// When an entry was last stored or served, UTC (`YYYY-MM-DD HH:MM:SS`).
    pub last_used: String,
}

/// What [`clear`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Entries deleted.
    pub entries: u64,
    /// Bytes freed on disk (database and log).
    pub bytes: u64,
    /// Old-layout fan-out folders removed.
    pub old_layout_folders: usize,
    /// The database was damaged, so its files were deleted whole.
    pub was_damaged: bool,
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries deleted.
    pub removed: u64,
    /// Entries left.
    pub left: u64,
    /// Bytes freed on disk.
    pub bytes: u64,
}

/// Entries, hits and size of the cache in `dir`.
pub fn stats(dir: &Path) -> Result<CacheStats, CacheError> {
    let old_layout_folders = old_layout_folders(dir).len();
    let path = db_files(dir)[0].clone();
    let Some(conn) = open_existing(dir)? else {
        return Ok(CacheStats {
            exists: path.exists(),
            path,
            bytes: disk_bytes(dir),
            models: Vec::new(),
            old_layout_folders,
        });
    };
    let models = per_model(&conn).map_err(|e| super::open::classify(dir, &path, e))?;
    Ok(CacheStats {
        path,
        exists: true,
        bytes: disk_bytes(dir),
        models,
        old_layout_folders,
    })
}

/// Deletes every entry (and the old layout's folders). A damaged database
/// is deleted whole; a sound one is emptied in place, so a run using it at
/// the same moment keeps working.
pub fn clear(dir: &Path) -> Result<Cleared, CacheError> {
    check_files(dir)?;
    let before = disk_bytes(dir);
    let mut cleared = Cleared::default();
    for folder in old_layout_folders(dir) {
        std::fs::remove_dir_all(&folder).map_err(|e| unusable(dir, &folder, e))?;
        cleared.old_layout_folders += 1;
    }
    match open_existing(dir) {
        Ok(None) => {}
        Ok(Some(conn)) => {
            let path = db_files(dir)[0].clone();
            let failed = |e| super::open::classify(dir, &path, e);
            cleared.entries = conn.execute("DELETE FROM responses", []).map_err(failed)? as u64;
            if hit_log::exists(&conn).map_err(failed)? {
                conn.execute("DELETE FROM hit_log", []).map_err(failed)?;
            }
            compact(&conn);
        }
        Err(CacheError::Damaged { .. }) => {
            for file in db_files(dir) {
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(unusable(dir, &file, e)),
                }
            }
            cleared.was_damaged = true;
        }
        Err(e) => return Err(e),
    }
    cleared.bytes = before.saturating_sub(disk_bytes(dir));
    Ok(cleared)
}

/// A folded log of this many rows (about half a megabyte) is worth giving
/// back to the file system even when no entry was pruned.
const COMPACT_AFTER_LOG_ROWS: usize = 10_000;

/// Deletes the entries neither stored nor served in the last `older_than`.
pub fn prune(dir: &Path, older_than: Duration) -> Result<Pruned, CacheError> {
    let Some(mut conn) = open_existing(dir)? else {
        return Ok(Pruned::default());
    };
    let path = db_files(dir)[0].clone();
    let failed = |e| super::open::classify(dir, &path, e);
    let before = disk_bytes(dir);
    // An entry's last use may still be in the log.
    let logged = hit_log::fold(&mut conn).map_err(failed)?;
    let cutoff = now().saturating_sub(older_than.as_secs() as i64);
    let removed = conn
        .execute(
            "DELETE FROM responses WHERE coalesce(last_hit, created) < ?1",
            [cutoff],
        )
        .map_err(failed)? as u64;
    let left: i64 = conn
        .query_row("SELECT count(*) FROM responses", [], |row| row.get(0))
        .map_err(failed)?;
    if removed > 0 || logged >= COMPACT_AFTER_LOG_ROWS {
        compact(&conn);
    }
    Ok(Pruned {
        removed,
        left: left as u64,
        bytes: before.saturating_sub(disk_bytes(dir)),
    })
}

/// Entries, hits and last use per model, the hits not yet folded in
/// counted too (reading does not fold: `stats` writes nothing).
fn per_model(conn: &Connection) -> rusqlite::Result<Vec<ModelStats>> {
    let logged = if hit_log::exists(conn)? {
        hit_log::LOGGED
    } else {
        "SELECT NULL AS key, 0 AS n, NULL AS at"
    };
    // total() and the float read: a count no run could have written (a
    // tampered file) shows as a saturated number, never an error.
    let mut query = conn.prepare(&format!(
        "SELECT provider, model, count(*), total(r.hits) + total(l.n),
                coalesce(datetime(max(max(coalesce(last_hit, created), coalesce(l.at, 0))),
                                  'unixepoch'), '?')
         FROM responses AS r LEFT JOIN ({logged}) AS l ON l.key = r.key
         GROUP BY provider, model
         ORDER BY count(*) DESC, provider, model"
    ))?;
    let rows = query.query_map([], |row| {
        Ok(ModelStats {
            provider: row.get(0)?,
            model: row.get(1)?,
            entries: row.get::<_, i64>(2)? as u64,
            hits: row.get::<_, f64>(3)? as u64,
            last_used: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// Gives the freed pages back to the file system. Best effort: another
/// process reading the cache at this moment makes it fail, and the pages
/// are reused by later answers anyway.
fn compact(conn: &Connection) {
    let _ = conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
}

/// The bytes of the database and its log.
fn disk_bytes(dir: &Path) -> u64 {
    db_files(dir)[..2]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn unusable(dir: &Path, path: &Path, e: std::io::Error) -> CacheError {
    CacheError::Unusable {
        dir: dir.to_path_buf(),
        reason: format!("{}: {e}", path.display()),
    }
}
