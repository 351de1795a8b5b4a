//! What the database holds when a run opens it: its keys (so lookups of
//! keys it never held skip it) and, when it is small, its answers too (so a
//! warm rerun is served from memory, one read of the file in all).

use super::key::{CacheKey, KeyMap, KeySet};
use crate::lm::{Response, Usage};
use rusqlite::Connection;

/// A database up to this size (pages in use, the log included) has its
/// answers read into memory when opened: a few milliseconds, and a hit then
/// costs no read. A larger one is read per lookup.
pub(super) const LOAD_WHOLE_BYTES: i64 = 16 << 20;

/// A stored answer, as it was at opening.
#[derive(Debug)]
pub(super) struct Answer {
    text: String,
    usage: Usage,
}

impl Answer {
    /// The answer as the cache serves it.
    pub(super) fn response(&self) -> Response {
        Response {
            text: self.text.clone(),
            usage: self.usage,
            cached: true,
        }
    }
}

/// The database at opening.
#[derive(Debug, Default)]
pub(super) struct Opening {
    /// `PRAGMA data_version` before the keys were read: a write by another
    /// process since changes it.
    pub(super) version: i64,
    /// Every key.
    pub(super) keys: KeySet,
    /// Every answer, when the database is at most [`LOAD_WHOLE_BYTES`].
    pub(super) answers: KeyMap<Answer>,
}

/// The connection's `PRAGMA data_version`.
pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "data_version", |row| row.get(0))
}

/// Reads the database's version first, then its keys, and its answers too
/// when it is at most `whole_limit` bytes: a write by another process after
/// the version was read shows as a change of it.
pub(super) fn read(conn: &Connection, whole_limit: i64) -> rusqlite::Result<Opening> {
    let version = data_version(conn)?;
    let page: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let pages: i64 = conn.pragma_query_value(None, "page_count", |row| row.get(0))?;
    let whole = page.saturating_mul(pages) <= whole_limit;
    let mut opening = Opening {
        version,
        ..Opening::default()
    };
    let sql = if whole {
        "SELECT key, text, prompt_tokens, completion_tokens FROM responses"
    } else {
        "SELECT key FROM responses"
    };
    let mut select = conn.prepare(sql)?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        // A key of another length is no SHA-256: it never matches a lookup.
        let Ok(bytes) = <[u8; 32]>::try_from(row.get::<_, Vec<u8>>(0)?) else {
            continue;
        };
        let key = CacheKey::from_bytes(bytes);
        opening.keys.insert(key);
        if whole {
            let answer = Answer {
                text: row.get(1)?,
                usage: Usage {
                    prompt_tokens: row.get::<_, i64>(2)? as u64,
                    completion_tokens: row.get::<_, i64>(3)? as u64,
                },
            };
            opening.answers.insert(key, answer);
        }
    }
    Ok(opening)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::cache::{CacheScope, ResponseCache};
    use std::sync::Arc;

    #[test]
    fn a_small_database_is_read_whole_and_a_large_one_for_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::open(dir.path());
        let scope = Arc::new(CacheScope {
            provider: "openai".into(),
            model_id: "gpt".into(),
        });
        let key = CacheKey::from_bytes([7; 32]);
        let reply = Response {
            text: "Paris".into(),
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
            },
            cached: false,
        };
        cache.put(key, &scope, &reply);
        drop(cache);
        let conn = Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();

        let small = read(&conn, LOAD_WHOLE_BYTES).unwrap();
        assert_eq!(small.keys, KeySet::from_iter([key]));
        let answer = small.answers[&key].response();
        assert_eq!(
            (answer.text.as_str(), answer.usage, answer.cached),
            ("Paris", reply.usage, true)
        );
        let large = read(&conn, 0).unwrap();
        assert_eq!(large.keys, KeySet::from_iter([key]));
        assert!(large.answers.is_empty());
    }
}
