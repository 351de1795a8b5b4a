//! Hits are appended to a log table and folded into the answers' rows
//! later, many runs at a time.
//!
//! Counting a hit in place rewrote the answer's whole row (text included)
//! on a random page: a warm rerun of a DSPy-default run rewrote the whole
//! database two and a half times over in the write-ahead log, and spent a
//! sixth of its instructions doing so. A log row is a key, a count and a
//! time, appended in order. `cache stats` reads the log with the rows;
//! `cache prune` folds it in first; a run's writer folds it when it has
//! grown past [`FOLD_AT`] rows. The table is part of schema version 2
//! (`open.rs`); a version 1 database (an older build's) may lack it until a
//! run opens it for writing.

use super::key::KeyMap;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Log rows past which a run folds the log into the answers (in its
/// writer thread, before its first batch): about 2.5 MB, some twelve warm
/// reruns of a DSPy-default run.
pub(super) const FOLD_AT: i64 = 50_000;

/// The log summed per key, for folding and for `cache stats`. Only rows
/// this build could have written count (a positive whole count, a whole
/// time): the file is outside input, and a row of another shape must not
/// spread into the answers' counts or fail every later `stats`. A key's
/// sum stops at 10^15 instead of overflowing.
pub(super) const LOGGED: &str = "
    SELECT key, CAST(min(total(hits), 1e15) AS INTEGER) AS n, max(at) AS at
    FROM hit_log
    WHERE typeof(hits) = 'integer' AND hits > 0 AND typeof(at) = 'integer'
    GROUP BY key";

/// Log rows written by one statement.
const ROWS_PER_INSERT: usize = 64;

/// Appends one row per key of `hits` whose answer the database holds. A
/// hit on an answer that is gone (another process cleared the cache
/// meanwhile) is dropped, as counting it in place would have: logged, it
/// would count for the answer stored again later under the same key.
pub(super) fn append(conn: &Connection, hits: &KeyMap<i64>, now: i64) -> rusqlite::Result<()> {
    let hits: Vec<_> = hits.iter().collect();
    for chunk in hits.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO hit_log (key, hits, at)
             SELECT column1, column2, column3 FROM (VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(?,?,?)" } else { ",(?,?,?)" });
        }
        sql.push_str(") WHERE EXISTS (SELECT 1 FROM responses WHERE key = column1)");
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
/// the log, in one transaction; the log rows there were. Hits on keys no
/// longer stored are dropped.
pub(super) fn fold(conn: &mut Connection) -> rusqlite::Result<usize> {
    if !exists(conn)? {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        &format!(
            "UPDATE responses
                 SET hits = responses.hits + logged.n,
                     last_hit = max(coalesce(responses.last_hit, 0), logged.at)
                 FROM ({LOGGED}) AS logged
                 WHERE responses.key = logged.key"
        ),
        [],
    )?;
    let rows = tx.execute("DELETE FROM hit_log", [])?;
    tx.commit()?;
    Ok(rows)
}
