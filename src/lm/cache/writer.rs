//! The one writer of a process: a thread that owns the write connection
//! and stores answers and hit counts in batches, one transaction each.
//!
//! Callers never wait for it. An answer handed over stays in the shared
//! `pending` map until its batch is committed, so the process itself finds
//! it at once, and is then kept in memory (up to a budget) so a repeat
//! costs no read; other processes find it after the commit. Hits are only
//! counted in memory (a lookup sends nothing) and appended to the hit log
//! (`hit_log.rs`) with the next batch of answers, or at the flush that ends
//! the run.

use super::key::{CacheKey, CacheScope, KeyMap, KeySet};
use super::notices::{Kind, Notices};
use super::open::now;
use super::opening::{Answer, Opening, data_version};
use crate::lm::{Response, Usage};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer lets answers gather after the first of a batch: one
/// transaction (and one wake-up) for many answers instead of one each. A
/// flush cuts it short. 100 ms rather than 20: each commit rewrites the
/// pages it touched, and random keys touch many, so a cold bench run wrote
/// 875 pages to the log instead of 1,977; a crash loses at most this much
/// of the answers, which a cache can afford.
const LINGER: Duration = Duration::from_millis(100);

/// The most messages one transaction takes.
const MAX_BATCH: usize = 2048;

/// How much of the answers it committed (text and overhead) this process
/// keeps in memory, so a repeated request in the same run costs no
/// database read (a read takes file locks and, after each commit, rereads
/// pages). Past this the database answers.
const KEPT_BYTES: usize = 16 << 20;

/// What keeping an answer costs besides its text (key, counts, the map's
/// slot and the allocation), so empty answers count too.
const KEPT_OVERHEAD: usize = 128;

/// An answer on its way to the database.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) scope: Arc<CacheScope>,
    pub(super) text: String,
    pub(super) usage: Usage,
}

impl Entry {
    /// The answer as the cache serves it.
    pub(super) fn response(&self) -> Response {
        Response {
            text: self.text.clone(),
            usage: self.usage,
            cached: true,
        }
    }
}

/// What the lookups and the writer share.
#[derive(Default)]
pub(super) struct Shared {
    /// Answers handed to the writer and not yet committed, by key.
    pending: Mutex<KeyMap<Arc<Entry>>>,
    /// Answers this process stored and committed, up to [`KEPT_BYTES`].
    kept: Mutex<Kept>,
    /// Hits not yet written, by key.
    hits: Mutex<KeyMap<i64>>,
    /// The keys the database held when it was opened, and those stored
    /// since: a key outside them is not in the database unless another
    /// process put it there.
    known: Mutex<KeySet>,
    /// Another process has written to the database since it was opened (or
    /// its keys could not be read): every lookup asks the database.
    foreign: AtomicBool,
    /// The answers read at opening (a small database's), never changed.
    answers: KeyMap<Answer>,
}

impl Shared {
    /// Shared state for a database as it was at `opening`; `None` when it
    /// could not be read.
    pub(super) fn new(opening: Option<Opening>) -> Self {
        let foreign = AtomicBool::new(opening.is_none());
        let opening = opening.unwrap_or_default();
        Self {
            foreign,
            known: Mutex::new(opening.keys),
            answers: opening.answers,
            ..Self::default()
        }
    }

    /// The answer to `key` read at opening, if the database was small enough.
    pub(super) fn at_opening(&self, key: &CacheKey) -> Option<&Answer> {
        self.answers.get(key)
    }

    /// Whether the database may hold `key`: a lookup of any other key is a
    /// miss without reading the database (most lookups of a cold run).
    pub(super) fn may_hold(&self, key: &CacheKey) -> bool {
        self.foreign.load(Ordering::Relaxed) || lock(&self.known).contains(key)
    }

    /// The answer to `key` this process stored, if it waits for its batch
    /// or is kept in memory.
    pub(super) fn stored(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let pending = lock(&self.pending).get(key).cloned();
        pending.or_else(|| lock(&self.kept).answers.get(key).cloned())
    }

    /// Counts a hit on `key` (written with the next batch).
    pub(super) fn hit(&self, key: CacheKey) {
        self.add_hits(key, 1);
    }

    /// Adds `n` hits on `key` to those the writer logs next.
    fn add_hits(&self, key: CacheKey, n: i64) {
        *lock(&self.hits).entry(key).or_default() += n;
    }

    fn take_hits(&self) -> KeyMap<i64> {
        std::mem::take(&mut *lock(&self.hits))
    }
}

/// A poisoned lock still holds consistent maps (every update is one insert).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Committed answers kept in memory, and what they cost (text and overhead).
#[derive(Default)]
struct Kept {
    answers: KeyMap<Arc<Entry>>,
    bytes: usize,
}

impl Kept {
    /// Keeps `entry` while the budget lasts.
    fn keep(&mut self, key: CacheKey, entry: &Arc<Entry>) {
        let size = entry.text.len() + KEPT_OVERHEAD;
        if self.bytes + size <= KEPT_BYTES && !self.answers.contains_key(&key) {
            self.bytes += size;
            self.answers.insert(key, entry.clone());
        }
    }
}

enum Msg {
    Store(CacheKey, Arc<Entry>),
    /// Answered once everything sent before it (and every hit counted
    /// before it) is committed.
    Flush(Sender<()>),
}

/// The handle on the writer thread; dropping it commits what is queued and
/// waits for the thread to end.
pub(super) struct Writer {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer on `conn` (a read-write connection to `path`).
    /// `data_version` is the one read at opening (`None`: unknown, so
    /// lookups never trust the known keys).
    pub(super) fn start(
        conn: Connection,
        path: PathBuf,
        shared: Arc<Shared>,
        data_version: Option<i64>,
        notices: Arc<Notices>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let job = Job {
            data_version,
            conn,
            path,
            shared: shared.clone(),
            notices,
        };
        let thread = std::thread::Builder::new()
            .name("simba-cache-writer".into())
            .spawn(move || job.run(rx))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            shared,
        })
    }

    /// The state shared with lookups.
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stores an answer: in `pending` at once, in the database with the
    /// next batch.
    pub(super) fn store(&self, key: CacheKey, entry: Arc<Entry>) {
        lock(&self.shared.known).insert(key);
        lock(&self.shared.pending).insert(key, entry.clone());
        self.send(Msg::Store(key, entry));
    }

    /// Blocks until everything queued before is committed (or failed).
    pub(super) fn flush(&self) {
        let (ack, done) = mpsc::channel();
        self.send(Msg::Flush(ack));
        // Ends the writer's linger: nothing more is coming.
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        // An error means the thread is gone, so nothing is left to wait for.
        let _ = done.recv();
    }

    fn send(&self, msg: Msg) {
        if let Some(tx) = &self.tx {
            // Fails only when the thread has died; its answers are lost
            // either way and the run goes on.
            let _ = tx.send(msg);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel lets the thread drain it, write the last
        // hits and end.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// What the writer thread owns.
struct Job {
    conn: Connection,
    /// `PRAGMA data_version` when the database was opened: it changes when
    /// another connection (another process: this one's readers never
    /// write) commits.
    data_version: Option<i64>,
    path: PathBuf,
    shared: Arc<Shared>,
    notices: Arc<Notices>,
}

impl Job {
    fn run(mut self, rx: Receiver<Msg>) {
        // Here rather than at opening: the run goes on meanwhile.
        let log_rows = super::hit_log::rows(&self.conn).unwrap_or(0);
        if log_rows > super::hit_log::FOLD_AT
            && let Err(e) = super::hit_log::fold(&mut self.conn)
        {
            self.notices.once(Kind::Hits, || {
                format!(
                    "cannot fold the hit log of the response cache {}: {e}; answers are still stored",
                    self.path.display()
                )
            });
        }
        let mut batch = Vec::new();
        // Ends when every sender is gone and the channel is drained.
        while let Ok(first) = rx.recv() {
            if !matches!(first, Msg::Flush(_)) {
                // Senders do not wake a parked writer (only a flush does),
                // so answers arriving meanwhile cost them nothing.
                std::thread::park_timeout(LINGER);
            }
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.write(&mut batch);
        }
        // The run is over: the hits counted since the last batch.
        self.write(&mut batch);
    }

    /// Commits one batch and the hits counted so far, then lets go of the
    /// batch's pending answers and answers its flushes.
    fn write(&mut self, batch: &mut Vec<Msg>) {
        let mut stored = Vec::new();
        let mut acks = Vec::new();
        for msg in batch.drain(..) {
            match msg {
                Msg::Store(key, entry) => stored.push((key, entry)),
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        let hits = self.hits_due(&stored);
        if !stored.is_empty() || !hits.is_empty() {
            self.watch_others();
            let done = match commit(&mut self.conn, &stored, &hits, now()) {
                Ok(done) => done,
                Err(e) => {
                    self.notices.once(Kind::Write, || {
                        format!(
                            "cannot store answers in the response cache {}: {e}; a later run will ask the model again",
                            self.path.display()
                        )
                    });
                    Committed::default()
                }
            };
            if let Some(e) = &done.hits_failed {
                self.notices.once(Kind::Hits, || {
                    format!(
                        "cannot count hits in the response cache {}: {e}; answers are still stored",
                        self.path.display()
                    )
                });
            }
            // Kept in memory while the budget lasts: exactly the answers the
            // database now holds, so the run goes on reading what a rerun
            // will (of two answers to one key, the first inserted).
            let mut kept = lock(&self.shared.kept);
            for ((key, entry), _) in stored.iter().zip(&done.inserted).filter(|(_, new)| **new) {
                kept.keep(*key, entry);
            }
            drop(kept);
            // Committed or given up: either way no longer pending. Only the
            // very entry this batch carried goes (a newer one stays).
            let mut pending = lock(&self.shared.pending);
            for (key, entry) in &stored {
                if pending.get(key).is_some_and(|p| Arc::ptr_eq(p, entry)) {
                    pending.remove(key);
                }
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

impl Job {
    /// The hits counted so far, but those on answers still waiting for a
    /// later batch than `stored`: they go back to wait with them, since the
    /// log only takes hits on answers the database holds.
    fn hits_due(&self, stored: &[(CacheKey, Arc<Entry>)]) -> KeyMap<i64> {
        let mut hits = self.shared.take_hits();
        let pending = lock(&self.shared.pending);
        let mut later: Vec<CacheKey> = hits
            .keys()
            .filter(|key| pending.contains_key(*key))
            .copied()
            .collect();
        drop(pending);
        if !later.is_empty() {
            let this_batch: KeySet = stored.iter().map(|(key, _)| *key).collect();
            later.retain(|key| !this_batch.contains(key));
        }
        // Given back, to be logged with a batch after their answers'.
        for key in later {
            if let Some(n) = hits.remove(&key) {
                self.shared.add_hits(key, n);
            }
        }
        hits
    }

    /// Once another process has written to the database (or the version
    /// cannot be read), lookups stop trusting the keys known at opening.
    fn watch_others(&self) {
        if self.shared.foreign.load(Ordering::Relaxed) {
            return;
        }
        let now = data_version(&self.conn).ok();
        if now.is_none() || now != self.data_version {
            self.shared.foreign.store(true, Ordering::Relaxed);
        }
    }
}

/// What one transaction did.
#[derive(Default)]
struct Committed {
    /// For each stored answer, whether it is the one the database now holds
    /// (false: the database already had an answer to its key).
    inserted: Vec<bool>,
    /// Why the hits could not be logged (the answers were committed).
    hits_failed: Option<rusqlite::Error>,
}

/// One transaction: the new answers (the first stored answer to a key
/// wins, in this process or another), then the hit counts (to the log).
fn commit(
    conn: &mut Connection,
    stored: &[(CacheKey, Arc<Entry>)],
    hits: &KeyMap<i64>,
    now: i64,
) -> rusqlite::Result<Committed> {
    let mut done = Committed::default();
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO responses
                 (key, provider, model, text, prompt_tokens, completion_tokens, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (key, entry) in stored {
            let rows = insert.execute(params![
                &key.as_bytes()[..],
                entry.scope.provider,
                entry.scope.model_id,
                entry.text,
                entry.usage.prompt_tokens as i64,
                entry.usage.completion_tokens as i64,
                now,
            ])?;
            done.inserted.push(rows == 1);
        }
    }
    // In a savepoint of their own: hits that cannot be logged (a damaged or
    // foreign log table) never cost the batch its answers.
    let logged = tx.savepoint().and_then(|sp| {
        super::hit_log::append(&sp, hits, now)?;
        sp.commit()
    });
    done.hits_failed = logged.err();
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_answers_count_against_the_memory_budget() {
        let entry = Arc::new(Entry {
            scope: Arc::new(CacheScope {
                provider: "openai".into(),
                model_id: "m".into(),
            }),
            text: String::new(),
            usage: Usage::default(),
        });
        let mut kept = Kept::default();
        for i in 0..(KEPT_BYTES / KEPT_OVERHEAD + 10) {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            kept.keep(CacheKey::from_bytes(key), &entry);
        }
        assert_eq!(kept.answers.len(), KEPT_BYTES / KEPT_OVERHEAD);
        assert!(kept.bytes <= KEPT_BYTES);
    }
}
