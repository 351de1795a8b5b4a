//! The one writer of a process: a thread that owns the write connection
//! and stores answers and hit counts in batches, one transaction each.
//!
//! Callers never wait for it. An answer handed over stays in the shared
//! `pending` map until its batch is committed, so the process itself finds
//! it at once; other processes find it after the commit.

use super::key::{CacheKey, CacheScope};
use super::notices::{Kind, Notices};
use super::open::now;
use crate::lm::{Response, Usage};
use rusqlite::{Connection, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer lets messages gather after the first of a batch:
/// one transaction (and one wake-up) for many answers instead of one each.
const LINGER: Duration = Duration::from_millis(5);

/// The most messages one transaction takes.
const MAX_BATCH: usize = 2048;

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

/// Answers handed to the writer and not yet committed, by key.
pub(super) type Pending = Arc<Mutex<HashMap<CacheKey, Arc<Entry>>>>;

enum Msg {
    Store(CacheKey, Arc<Entry>),
    Hit(CacheKey),
    /// Answered once everything sent before it is committed.
    Flush(Sender<()>),
}

/// The handle on the writer thread; dropping it commits what is queued and
/// waits for the thread to end.
pub(super) struct Writer {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer on `conn` (a read-write connection to `path`).
    pub(super) fn start(
        conn: Connection,
        path: PathBuf,
        pending: Pending,
        notices: Arc<Notices>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let job = Job {
            conn,
            path,
            pending,
            notices,
        };
        let thread = std::thread::Builder::new()
            .name("simba-cache-writer".into())
            .spawn(move || job.run(rx))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues an answer (already in `pending`).
    pub(super) fn store(&self, key: CacheKey, entry: Arc<Entry>) {
        self.send(Msg::Store(key, entry));
    }

    /// Queues a hit on `key`.
    pub(super) fn hit(&self, key: CacheKey) {
        self.send(Msg::Hit(key));
    }

    /// Blocks until everything queued before is committed (or failed).
    pub(super) fn flush(&self) {
        let (ack, done) = mpsc::channel();
        self.send(Msg::Flush(ack));
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
        // Closing the channel lets the thread drain it and end.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the writer thread owns.
struct Job {
    conn: Connection,
    path: PathBuf,
    pending: Pending,
    notices: Arc<Notices>,
}

impl Job {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Vec::new();
        // Ends when every sender is gone and the channel is drained.
        while let Ok(first) = rx.recv() {
            if !matches!(first, Msg::Flush(_)) {
                std::thread::sleep(LINGER);
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
    }

    /// Commits one batch, then lets go of its pending answers and answers
    /// its flushes.
    fn write(&mut self, batch: &mut Vec<Msg>) {
        let mut stored = Vec::new();
        let mut hits: HashMap<CacheKey, i64> = HashMap::new();
        let mut acks = Vec::new();
        for msg in batch.drain(..) {
            match msg {
                Msg::Store(key, entry) => stored.push((key, entry)),
                Msg::Hit(key) => *hits.entry(key).or_default() += 1,
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        if !stored.is_empty() || !hits.is_empty() {
            if let Err(e) = commit(&mut self.conn, &stored, &hits, now()) {
                self.notices.once(Kind::Write, || {
                    format!(
                        "cannot store answers in the response cache {}: {e}; a later run will ask the model again",
                        self.path.display()
                    )
                });
            }
            // Committed or given up: either way no longer pending. Only the
            // very entry this batch carried goes (a newer one stays).
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
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

/// One transaction: the new answers (the first stored answer to a key
/// wins, in this process or another), then the hit counts.
fn commit(
    conn: &mut Connection,
    stored: &[(CacheKey, Arc<Entry>)],
    hits: &HashMap<CacheKey, i64>,
    now: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO responses
                 (key, provider, model, text, prompt_tokens, completion_tokens, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (key, entry) in stored {
            insert.execute(params![
                &key.as_bytes()[..],
                entry.scope.provider,
                entry.scope.model_id,
                entry.text,
                entry.usage.prompt_tokens as i64,
                entry.usage.completion_tokens as i64,
                now,
            ])?;
        }
        let mut hit = tx.prepare_cached(
            "UPDATE responses SET hits = hits + ?2, last_hit = ?3 WHERE key = ?1",
        )?;
        for (key, n) in hits {
            hit.execute(params![&key.as_bytes()[..], n, now])?;
        }
    }
    tx.commit()
}
