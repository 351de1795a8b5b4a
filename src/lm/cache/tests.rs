//! The store, its warnings and the admin operations, on real folders.

use super::admin;
use super::*;
use crate::lm::{Message, Request, Response, ResponseFormat, Usage};
use indexmap::IndexMap;
use std::sync::Arc;

fn scope() -> Arc<CacheScope> {
    Arc::new(CacheScope {
        provider: "openai".into(),
        model_id: "gpt".into(),
    })
}

fn key(question: &str) -> CacheKey {
    let request = Request {
        model: "fast".into(),
        messages: vec![Message::user(question)],
        temperature: 0.0,
        max_tokens: None,
        seed: None,
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    };
    CacheKey::of(&scope(), &request)
}

fn answer(text: &str) -> Response {
    Response {
        text: text.into(),
        usage: Usage {
            prompt_tokens: 3,
            completion_tokens: 1,
        },
        cached: false,
    }
}

#[test]
fn an_answer_is_found_at_once_and_after_reopening_with_its_hits_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    assert!(cache.is_on());
    assert!(cache.take_warnings().is_empty());
    assert!(cache.get(&key("q")).is_none());
    cache.put(key("q"), &scope(), &answer("Paris"));
    // Before the writer commits: served from the pending answers.
    let hit = cache.get(&key("q")).unwrap();
    assert_eq!((hit.text.as_str(), hit.cached), ("Paris", true));
    assert_eq!(hit.usage.prompt_tokens, 3);
    // A second answer for the same key does not replace the first.
    cache.flush();
    cache.put(key("q"), &scope(), &answer("Lyon"));
    cache.flush();
    drop(cache);

    let again = ResponseCache::open(dir.path());
    assert_eq!(again.get(&key("q")).unwrap().text, "Paris");
    assert!(again.get(&key("other")).is_none());
    drop(again);

    let stats = admin::stats(dir.path()).unwrap();
    assert_eq!((stats.entries(), stats.hits()), (1, 2));
    assert_eq!(stats.models[0].provider, "openai");
    assert_eq!(stats.models[0].model, "gpt");
    assert_eq!(stats.models[0].last_used.len(), "2026-01-01 00:00:00".len());
    assert!(stats.bytes > 0);
    // The last connection closed checkpointed the log into the database.
    assert!(!dir.path().join(format!("{DB_FILE}-wal")).exists());
}

#[test]
fn an_answer_this_run_stored_is_served_from_memory_after_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("q"), &scope(), &answer("Paris"));
    cache.flush();
    // The row is gone from the database: only memory can still answer.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    assert_eq!(conn.execute("DELETE FROM responses", []).unwrap(), 1);
    assert_eq!(cache.get(&key("q")).unwrap().text, "Paris");
    // Two answers to one key in one batch: the database keeps the first,
    // and so does memory (the run goes on reading what a rerun will).
    cache.put(key("twice"), &scope(), &answer("first"));
    cache.put(key("twice"), &scope(), &answer("second"));
    cache.flush();
    assert_eq!(cache.get(&key("twice")).unwrap().text, "first");
    let stored: String = conn
        .query_row("SELECT text FROM responses", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, "first");
    conn.execute("DELETE FROM responses", []).unwrap();
    assert_eq!(cache.get(&key("twice")).unwrap().text, "first");
    // An answer over the memory budget is read back from the database.
    let long = "x".repeat(16 << 20);
    cache.put(key("long"), &scope(), &answer(&long));
    cache.flush();
    conn.execute("DELETE FROM responses", []).unwrap();
    assert!(cache.get(&key("long")).is_none());
}

#[test]
fn a_damaged_database_is_left_alone_and_the_cache_is_off_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"this is not a database, just some bytes ".repeat(200);
    std::fs::write(dir.path().join(DB_FILE), &garbage).unwrap();
    let cache = ResponseCache::open(dir.path());
    assert!(!cache.is_on());
    cache.put(key("q"), &scope(), &answer("Paris"));
    assert!(cache.get(&key("q")).is_none());
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("is damaged"), "{}", warnings[0]);
    assert!(warnings[0].contains("cache clear"), "{}", warnings[0]);
    drop(cache);
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), garbage);

    // `cache clear` deletes it, and the next open starts a fresh one.
    let cleared = admin::clear(dir.path()).unwrap();
    assert!(cleared.was_damaged);
    assert_eq!(cleared.bytes, garbage.len() as u64);
    let fresh = ResponseCache::open(dir.path());
    assert!(fresh.is_on());
    assert!(fresh.take_warnings().is_empty());
}

#[test]
fn a_fifo_where_the_database_should_be_is_refused_without_opening_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in [DB_FILE.to_string(), format!("{DB_FILE}-wal")] {
        let fifo = dir.path().join(&name);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening the FIFO for reading would block: the check must come first.
        let cache = ResponseCache::open(dir.path());
        assert!(!cache.is_on());
        let warnings = cache.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("is not a regular file"),
            "{}",
            warnings[0]
        );
        assert!(matches!(
            admin::stats(dir.path()),
            Err(CacheError::Unusable { .. })
        ));
        std::fs::remove_file(&fifo).unwrap();
    }
}

#[test]
fn a_folder_that_cannot_be_made_turns_the_cache_off_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let cache = ResponseCache::open(file.join("cache"));
    assert!(!cache.is_on());
    for i in 0..5 {
        let k = key(&format!("q{i}"));
        assert!(cache.get(&k).is_none());
        cache.put(k, &scope(), &answer("a"));
    }
    cache.flush();
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("cannot create the folder"),
        "{}",
        warnings[0]
    );
    assert!(cache.take_warnings().is_empty());
}

#[test]
fn the_old_layout_is_noted_once_and_removed_by_clear() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("ab").join("cd");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join(format!("ab{}.json", "0".repeat(62))), "{}").unwrap();
    let cache = ResponseCache::open(dir.path());
    assert!(cache.is_on());
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("old one-file-per-entry layout"));
    cache.put(key("q"), &scope(), &answer("a"));
    drop(cache);
    assert_eq!(admin::stats(dir.path()).unwrap().old_layout_folders, 1);
    let cleared = admin::clear(dir.path()).unwrap();
    assert_eq!((cleared.entries, cleared.old_layout_folders), (1, 1));
    assert!(!dir.path().join("ab").exists());
    let stats = admin::stats(dir.path()).unwrap();
    assert_eq!((stats.entries(), stats.old_layout_folders), (0, 0));
}

#[test]
fn prune_drops_only_entries_unused_for_longer_than_the_age() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    for q in ["old", "used", "new"] {
        cache.put(key(q), &scope(), &answer(q));
    }
    drop(cache);
    // Age two entries by 40 days, then use one of them.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let forty_days = 40 * 86_400;
    conn.execute(
        "UPDATE responses SET created = created - ?1 WHERE text IN ('old', 'used')",
        [forty_days],
    )
    .unwrap();
    drop(conn);
    let cache = ResponseCache::open(dir.path());
    assert!(cache.get(&key("used")).is_some());
    drop(cache);

    let month = std::time::Duration::from_secs(30 * 86_400);
    let pruned = admin::prune(dir.path(), month).unwrap();
    assert_eq!((pruned.removed, pruned.left), (1, 2));
    let cache = ResponseCache::open(dir.path());
    assert!(cache.get(&key("old")).is_none());
    assert!(cache.get(&key("used")).is_some());
    assert!(cache.get(&key("new")).is_some());
}

#[test]
fn the_admin_commands_on_a_folder_without_a_cache_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stats = admin::stats(dir.path()).unwrap();
    assert!(!stats.exists);
    assert_eq!((stats.entries(), stats.bytes), (0, 0));
    assert_eq!(admin::clear(dir.path()).unwrap(), admin::Cleared::default());
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(
        admin::prune(dir.path(), day).unwrap(),
        admin::Pruned::default()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn another_process_answers_are_found_once_its_writes_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let first = ResponseCache::open(dir.path());
    first.put(key("early"), &scope(), &answer("Paris"));
    first.flush();
    // Two caches on one folder stand for two processes (one connection each).
    let second = ResponseCache::open(dir.path());
    assert_eq!(second.get(&key("early")).unwrap().text, "Paris");
    first.put(key("late"), &scope(), &answer("Lyon"));
    first.flush();
    // Not among the keys the second knew at opening, and no write of the
    // first seen yet: a miss without reading the database.
    assert!(second.get(&key("late")).is_none());
    // Its next batch notices the first's write: from then on every lookup
    // reads the database.
    second.put(key("own"), &scope(), &answer("Rome"));
    second.flush();
    assert_eq!(second.get(&key("late")).unwrap().text, "Lyon");
    assert_eq!(second.get(&key("own")).unwrap().text, "Rome");
    assert!(second.get(&key("never")).is_none());
    drop((first, second));
    let stats = admin::stats(dir.path()).unwrap();
    assert_eq!((stats.entries(), stats.hits()), (3, 3));
}

/// A cache folder whose database holds the answer "Paris" to `q` (and
/// nothing else), closed.
fn folder_with_q() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("q"), &scope(), &answer("Paris"));
    drop(cache);
    dir
}

/// A connection of its own to the database in `dir` (another process).
fn db(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

/// A unix time this year or later, not a test's made-up one.
fn assert_recent(at: Option<i64>) {
    assert!(at.is_some_and(|at| at > 1_700_000_000), "{at:?}");
}

/// `(hits, last_hit)` of the answer to `q`, and the rows in the hit log.
fn hit_columns(dir: &std::path::Path, q: &str) -> ((i64, Option<i64>), i64) {
    let conn = db(dir);
    let row = conn
        .query_row(
            "SELECT hits, last_hit FROM responses WHERE key = ?1",
            [&key(q).as_bytes()[..]],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let logged = conn
        .query_row("SELECT count(*) FROM hit_log", [], |row| row.get(0))
        .unwrap();
    (row, logged)
}

#[test]
fn hits_are_logged_counted_by_stats_and_folded_into_their_rows_by_prune() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("q"), &scope(), &answer("Paris"));
    cache.flush();
    for _ in 0..3 {
        assert!(cache.get(&key("q")).is_some());
    }
    cache.flush();
    assert!(cache.get(&key("q")).is_some());
    drop(cache);
    // Two batches: two log rows, the answer's own row untouched.
    assert_eq!(hit_columns(dir.path(), "q"), ((0, None), 2));
    let stats = admin::stats(dir.path()).unwrap();
    assert_eq!((stats.entries(), stats.hits()), (1, 4));
    // Reading wrote nothing.
    assert_eq!(hit_columns(dir.path(), "q").1, 2);

    let year = std::time::Duration::from_secs(365 * 86_400);
    assert_eq!(admin::prune(dir.path(), year).unwrap().removed, 0);
    let ((hits, last_hit), logged) = hit_columns(dir.path(), "q");
    assert_eq!((hits, logged), (4, 0));
    assert_recent(last_hit);
    let after = admin::stats(dir.path()).unwrap();
    assert_eq!((after.hits(), &after.models), (4, &stats.models));
}

#[test]
fn a_database_an_older_build_made_gets_the_log_and_keeps_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let conn = db(dir.path());
    // The schema before the hit log, as an older simba-run left it.
    conn.execute_batch(
        "PRAGMA journal_mode = wal;
         CREATE TABLE responses (
             key BLOB PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
             text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
             completion_tokens INTEGER NOT NULL, created INTEGER NOT NULL,
             last_hit INTEGER, hits INTEGER NOT NULL DEFAULT 0);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO responses VALUES (?1, 'openai', 'gpt', 'Paris', 3, 1, 1000, 2000, 5)",
        [&key("q").as_bytes()[..]],
    )
    .unwrap();
    drop(conn);
    // Stats before any run of this build: no log, the stored counts.
    assert_eq!(admin::stats(dir.path()).unwrap().hits(), 5);

    let cache = ResponseCache::open(dir.path());
    assert!(cache.take_warnings().is_empty());
    assert_eq!(cache.get(&key("q")).unwrap().text, "Paris");
    drop(cache);
    assert_eq!(hit_columns(dir.path(), "q"), ((5, Some(2000)), 1));
    assert_eq!(admin::stats(dir.path()).unwrap().hits(), 6);
    // Upgraded: builds that only know version 1 now leave it alone.
    let conn = db(dir.path());
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
    drop(conn);
    let cleared = admin::clear(dir.path()).unwrap();
    assert_eq!(cleared.entries, 1);
    let logged: i64 = db(dir.path())
        .query_row("SELECT count(*) FROM hit_log", [], |row| row.get(0))
        .unwrap();
    assert_eq!(logged, 0);
}

#[test]
fn a_run_folds_a_log_grown_past_its_limit() {
    let dir = folder_with_q();
    let mut conn = db(dir.path());
    let tx = conn.transaction().unwrap();
    {
        let mut log = tx
            .prepare("INSERT INTO hit_log (key, hits, at) VALUES (?1, 1, 5000)")
            .unwrap();
        let q = key("q");
        let gone = key("deleted since");
        for i in 0..super::hit_log::FOLD_AT {
            let k = if i % 2 == 0 { &q } else { &gone };
            log.execute([&k.as_bytes()[..]]).unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);
    // At the limit exactly, a run leaves the log alone.
    let cache = ResponseCache::open(dir.path());
    cache.flush();
    drop(cache);
    let folded_q = super::hit_log::FOLD_AT / 2;
    assert_eq!(
        hit_columns(dir.path(), "q"),
        ((0, None), super::hit_log::FOLD_AT)
    );
    let conn = db(dir.path());
    conn.execute(
        "INSERT INTO hit_log (key, hits, at) VALUES (?1, 1, 6000)",
        [&key("q").as_bytes()[..]],
    )
    .unwrap();
    drop(conn);
    // One row more: the writer folds it before its first batch. Hits on
    // keys no longer stored are dropped.
    let cache = ResponseCache::open(dir.path());
    cache.flush();
    drop(cache);
    assert_eq!(
        hit_columns(dir.path(), "q"),
        ((folded_q + 1, Some(6000)), 0)
    );
    assert_eq!(
        admin::stats(dir.path()).unwrap().hits(),
        folded_q as u64 + 1
    );
}

#[test]
fn a_hit_log_that_takes_no_rows_costs_hits_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("first"), &scope(), &answer("Paris"));
    drop(cache);
    // The log replaced by something no insert fits (a foreign or damaged schema).
    let conn = db(dir.path());
    conn.execute_batch(
        "DROP TABLE hit_log; CREATE VIEW hit_log (key, hits, at) AS SELECT 1, 2, 3;",
    )
    .unwrap();
    drop(conn);
    let cache = ResponseCache::open(dir.path());
    // One batch holding both new answers and hits.
    assert!(cache.get(&key("first")).is_some());
    cache.put(key("second"), &scope(), &answer("Rome"));
    cache.flush();
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("cannot count hits")
            && warnings[0].contains("answers are still stored"),
        "{warnings:?}"
    );
    drop(cache);
    let again = ResponseCache::open(dir.path());
    assert_eq!(again.get(&key("second")).unwrap().text, "Rome");
}

#[test]
fn a_hit_on_an_answer_cleared_meanwhile_is_not_logged_for_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("q"), &scope(), &answer("Paris"));
    cache.flush();
    // Another process clears the cache; this run still serves from memory.
    assert_eq!(admin::clear(dir.path()).unwrap().entries, 1);
    assert!(cache.get(&key("q")).is_some());
    cache.flush();
    drop(cache);
    // A later run stores the answer again: it starts with no hits.
    let later = ResponseCache::open(dir.path());
    later.put(key("q"), &scope(), &answer("Lyon"));
    drop(later);
    assert_eq!(hit_columns(dir.path(), "q"), ((0, None), 0));
    assert_eq!(admin::stats(dir.path()).unwrap().hits(), 0);
}

#[test]
fn log_rows_no_run_writes_are_ignored_by_stats_and_fold() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    cache.put(key("q"), &scope(), &answer("Paris"));
    cache.flush();
    assert!(cache.get(&key("q")).is_some());
    drop(cache);
    // Tampered: a log of another shape, with every kind of bad row.
    let conn = db(dir.path());
    conn.execute_batch(
        "CREATE TABLE loose (key, hits, at);
         INSERT INTO loose SELECT * FROM hit_log;
         DROP TABLE hit_log;
         ALTER TABLE loose RENAME TO hit_log;",
    )
    .unwrap();
    let q = key("q");
    let k = &q.as_bytes()[..];
    for (hits, at) in [
        ("-7", "5000"),
        ("2.5", "5000"),
        ("3", "'yesterday'"),
        ("NULL", "5000"),
        ("9223372036854775807", "5000"),
        ("9223372036854775807", "5000"),
    ] {
        conn.execute(
            &format!("INSERT INTO hit_log VALUES (?1, {hits}, {at})"),
            [k],
        )
        .unwrap();
    }
    drop(conn);
    // The one real hit, and two huge counts that stop at 10^15 together.
    let cap = 1_000_000_000_000_000u64;
    assert_eq!(admin::stats(dir.path()).unwrap().hits(), cap);
    let year = std::time::Duration::from_secs(365 * 86_400);
    admin::prune(dir.path(), year).unwrap();
    let ((hits, last_hit), logged) = hit_columns(dir.path(), "q");
    assert_eq!((hits, logged), (cap as i64, 0));
    assert_recent(last_hit);
    assert_eq!(admin::stats(dir.path()).unwrap().hits(), cap);
}

#[test]
fn prune_gives_back_the_space_of_a_large_folded_log() {
    let dir = folder_with_q();
    let mut conn = db(dir.path());
    let tx = conn.transaction().unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO hit_log SELECT ?1, 1, unixepoch() FROM n",
        [&key("q").as_bytes()[..]],
    )
    .unwrap();
    tx.commit().unwrap();
    drop(conn);
    let year = std::time::Duration::from_secs(365 * 86_400);
    let pruned = admin::prune(dir.path(), year).unwrap();
    assert_eq!((pruned.removed, pruned.left), (0, 1));
    assert!(pruned.bytes > 100_000, "{pruned:?}");
    let ((hits, last_hit), logged) = hit_columns(dir.path(), "q");
    assert_eq!((hits, logged), (20_000, 0));
    assert_recent(last_hit);
}

#[test]
fn a_database_of_a_newer_schema_is_left_alone() {
    let dir = folder_with_q();
    let conn = db(dir.path());
    conn.pragma_update(None, "user_version", 3).unwrap();
    drop(conn);
    let cache = ResponseCache::open(dir.path());
    assert!(!cache.is_on());
    assert!(cache.get(&key("q")).is_none());
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("written by a newer simba-run (schema 3)"),
        "{warnings:?}"
    );
    cache.put(key("other"), &scope(), &answer("Rome"));
    drop(cache);
    let err = admin::stats(dir.path()).unwrap_err().to_string();
    assert!(err.contains("newer simba-run (schema 3)"), "{err}");
    // Nothing was written: the answer and the version are as they were.
    let conn = db(dir.path());
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM responses", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}
