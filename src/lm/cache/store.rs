//! [`ResponseCache`]: lookups through a small pool of read connections,
//! answers and hits handed to the writer thread, and the warnings of both.

use super::key::{CacheKey, CacheScope};
use super::notices::{Kind, Notices};
use super::open::{Access, CacheError, db_path, old_layout_folders, open_main, open_reader};
use super::opening;
use super::writer::{Entry, Shared, Writer};
use crate::lm::{Response, Usage};
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Read connections kept open between lookups. Lookups are short and run on
/// the async workers, so more than a few are never busy at once.
const MAX_IDLE_READERS: usize = 4;

/// The response cache of one cache folder.
///
/// Opening never fails: a cache that cannot be used is off (every lookup
/// misses, nothing is stored) and says why in [`ResponseCache::take_warnings`].
pub struct ResponseCache {
    dir: PathBuf,
    notices: Arc<Notices>,
    store: Option<Store>,
}

/// An open database.
struct Store {
    path: PathBuf,
    access: Access,
    readers: Mutex<Vec<Connection>>,
    /// None when the database is read-only.
    writer: Option<Writer>,
    /// Set after a failed lookup: a database that cannot be read is not
    /// asked again in this run.
    failed: AtomicBool,
}

impl ResponseCache {
    /// Opens (creating if needed) the cache in `dir`. A folder that cannot
    /// be made, a file in the way that is not a regular file, a damaged or
    /// unwritable database: each turns the cache off, or read-only, with
    /// one warning.
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let notices = Arc::new(Notices::default());
        let store = match Store::open(&dir, &notices) {
            Ok(store) => Some(store),
            Err(e) => {
                notices.once(Kind::Unusable, || unusable_warning(&dir, &e));
                None
            }
        };
        Self {
            dir,
            notices,
            store,
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        db_path(&self.dir)
    }

    /// Whether lookups can find anything.
    pub fn is_on(&self) -> bool {
        self.store
            .as_ref()
            .is_some_and(|s| !s.failed.load(Ordering::Relaxed))
    }

    /// The stored answer for `key`, counted as a hit.
    pub fn get(&self, key: &CacheKey) -> Option<Response> {
        let store = self
            .store
            .as_ref()
            .filter(|s| !s.failed.load(Ordering::Relaxed))?;
        let shared = store.writer.as_ref().map(Writer::shared);
        let found = match shared {
            Some(s) => match s.stored(key) {
                Some(entry) => Some(entry.response()),
                None => match s.at_opening(key) {
                    Some(answer) => Some(answer.response()),
                    None if !s.may_hold(key) => None,
                    None => store.read(key, &self.notices),
                },
            },
            None => store.read(key, &self.notices),
        };
        if let (Some(_), Some(shared)) = (&found, shared) {
            shared.hit(*key);
        }
        found
    }

    /// Stores an answer (in the background; this process finds it at once).
    /// The first answer stored for a key stays.
    pub fn put(&self, key: CacheKey, scope: &Arc<CacheScope>, response: &Response) {
        let Some(store) = &self.store else { return };
        let Some(writer) = &store.writer else { return };
        let entry = Arc::new(Entry {
            scope: scope.clone(),
            text: response.text.clone(),
            usage: response.usage,
        });
        writer.store(key, entry);
    }

    /// Blocks until every answer and hit handed over so far is committed.
    /// Dropping the cache does the same.
    pub fn flush(&self) {
        if let Some(writer) = self.store.as_ref().and_then(|s| s.writer.as_ref()) {
            writer.flush();
        }
    }

    /// The warnings not yet taken: each problem once, for the run to report
    /// like its other warnings.
    pub fn take_warnings(&self) -> Vec<String> {
        self.notices.take()
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("dir", &self.dir)
            .field("on", &self.is_on())
            .finish()
    }
}

impl Store {
    fn open(dir: &Path, notices: &Arc<Notices>) -> Result<Self, CacheError> {
        super::open::prepare_folder(dir)?;
        if !old_layout_folders(dir).is_empty() {
            notices.once(Kind::OldLayout, || {
                format!(
                    "{} also holds answers in the old one-file-per-entry layout, which is ignored \
                     (`simba-run cache clear --cache {}` removes them)",
                    dir.display(),
                    dir.display()
                )
            });
        }
        let (conn, access) = open_main(dir)?;
        let path = db_path(dir);
        let opening = match access {
            Access::ReadWrite => opening::read(&conn, opening::LOAD_WHOLE_BYTES).ok(),
            Access::ReadOnly => None,
        };
        let version = opening.as_ref().map(|o| o.version);
        let mut readers = Vec::new();
        let writer = match access {
            Access::ReadWrite => Some(
                Writer::start(
                    conn,
                    path.clone(),
                    Arc::new(Shared::new(opening)),
                    version,
                    notices.clone(),
                )
                .map_err(|e| CacheError::Unusable {
                    dir: dir.to_path_buf(),
                    reason: format!("cannot start the writer thread: {e}"),
                })?,
            ),
            Access::ReadOnly => {
                notices.once(Kind::ReadOnly, || {
                    format!(
                        "the response cache {} is read-only: stored answers are used, new ones are not stored",
                        path.display()
                    )
                });
                readers.push(conn);
                None
            }
        };
        Ok(Self {
            path,
            access,
            readers: Mutex::new(readers),
            writer,
            failed: AtomicBool::new(false),
        })
    }

    /// Looks `key` up in the database. An error turns the cache off for
    /// the rest of the run, with one warning: a database that fails here
    /// (damaged since it was opened, gone, locked for too long) is not
    /// trusted again.
    fn read(&self, key: &CacheKey, notices: &Notices) -> Option<Response> {
        let found = self.with_reader(|conn| {
            conn.prepare_cached(
                "SELECT text, prompt_tokens, completion_tokens FROM responses WHERE key = ?1",
            )?
            .query_row([&key.as_bytes()[..]], |row| {
                Ok(Response {
                    text: row.get(0)?,
                    usage: Usage {
                        prompt_tokens: row.get::<_, i64>(1)? as u64,
                        completion_tokens: row.get::<_, i64>(2)? as u64,
                    },
                    cached: true,
                })
            })
            .optional()
        });
        match found {
            Ok(found) => found,
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                notices.once(Kind::Read, || {
                    format!(
                        "cannot read the response cache {}: {e}; running without it from now on",
                        self.path.display()
                    )
                });
                None
            }
        }
    }

    /// Runs `f` on an idle read connection, opening one when none is idle.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path, self.access)?,
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }
}

/// The one warning of a cache that cannot be used.
fn unusable_warning(dir: &Path, e: &CacheError) -> String {
    match e {
        CacheError::Damaged { .. } => format!(
            "{e}; running without it (`simba-run cache clear --cache {}` deletes it)",
            dir.display()
        ),
        _ => format!("{e}; running without it (every call goes to the model)"),
    }
}
