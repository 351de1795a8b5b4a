//! Hits are appended to a log table and folded into the answers' rows
//! later, many runs at a time.
//!
//! Counting a hit in place rewrote the answer's whole row (text included)
//! on a random page: a warm rerun of a DSPy-default run rewrote the whole
//! database two and a half times over in the write-ahead log, and spent a
//! sixth of its instructions doing so. A log row is a key, a count and a
//! time, appended in order. `cache stats` reads the log with the rows;
//! `cache prune` folds it in first; a run's writer folds it when it has
//! grown past [`FOLD_AT`] rows.

use super::key::KeyMap;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The log. Created beside `responses` by every simba-run that writes the
/// database, so the schema version stays 1 and older builds, which do not
/// know it, keep using the database (counting their hits in place).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hit_log (
    key  BLOB NOT NULL,     -- an answer's key
    hits INTEGER NOT NULL,  -- hits on it in one batch
    at   INTEGER NOT NULL   -- unix seconds
);
";

/// Log rows past which a run folds the log into the answers (in its
/// writer thread, before its first batch): about 2.5 MB, some twelve warm
/// reruns of a DSPy-default run.
pub(super) const FOLD_AT: i64 = 50_000;

/// Log rows written by one statement.
const ROWS_PER_INSERT: usize = 64;

/// Appends one row per key of `hits`.
pub(super) fn append(conn: &Connection, hits: &KeyMap<i64>, now: i64) -> rusqlite::Result<()> {
    let hits: Vec<_> = hits.iter().collect();
    for chunk in hits.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from("INSERT INTO hit_log (key, hits, at) VALUES ");
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(?,?,?)" } else { ",(?,?,?)" });
        }
        let mut insert = conn.prepare_cached(&sql)?;
        let values = chunk.iter().flat_map(|(key, n)| {
            [
                ToSqlOutput::Borrowed(ValueRef::Blob(&key.as_bytes()[..])),
                ToSqlOutput::Borrowed(ValueRef::Integer(**n)),
                ToSqlOutput::Borrowed(ValueRef::Integer(now)),
            ]
        });
        insert.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// Rows in the log: it is only ever appended to and emptied whole, so the
/// last row id is the count, read without walking the table.
pub(super) fn rows(conn: &Connection) -> rusqlite::Result<i64> {
    if !exists(conn)? {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce(max(rowid), 0) FROM hit_log", [], |row| {
        row.get(0)
    })
}

/// Whether the database has the log (one an older build created may not).
pub(super) fn exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hit_log'",
        [],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// Adds the logged hits to their answers' counts and last use, and empties
/// the log, in one transaction. Hits on keys no longer stored are dropped.
pub(super) fn fold(conn: &mut Connection) -> rusqlite::Result<()> {
    if !exists(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "UPDATE responses
             SET hits = responses.hits + logged.n,
                 last_hit = max(coalesce(responses.last_hit, 0), logged.at)
             FROM (SELECT key, sum(hits) AS n, max(at) AS at FROM hit_log GROUP BY key)
                 AS logged
             WHERE responses.key = logged.key;
         DELETE FROM hit_log;",
    )?;
    tx.commit()
}
