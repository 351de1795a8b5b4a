//! The LM response cache: one SQLite database per cache folder
//! (`responses.sqlite`), keyed by a SHA-256 of everything that can change
//! an answer (see [`key`]). Only successes are stored.
//!
//! # Concurrency
//!
//! - Within a process, lookups run in place on the caller's thread through a
//!   small pool of read connections; stores and hit counts go to one writer
//!   thread, which commits them in batches (one transaction per few
//!   milliseconds of answers). Until its batch is committed an answer sits
//!   in an in-memory map that lookups check first, so a repeated request is
//!   a hit at once.
//! - Across processes (several runs sharing one folder), the database is in
//!   WAL mode: readers never wait for writers; writers take turns, waiting
//!   up to 10 s (`busy_timeout`) for each other's short transactions.
//!   `INSERT OR IGNORE` keeps the first answer stored for a key, so two
//!   runs that ask the same question both succeed and one answer stays.
//! - The owner of a run calls [`ResponseCache::flush`] before writing its
//!   artifacts; dropping the cache also commits what is queued, so a run
//!   that ends by returning (or by an interrupt) loses no answer.
//!
//! # When the cache cannot be used
//!
//! Checked when it is opened, before SQLite opens anything: a folder that
//! cannot be made, or anything but a regular file where the database (or
//! its `-wal`/`-shm` files) should be (a FIFO would block forever), turns
//! the cache off. So does a database that fails `PRAGMA quick_check` or is
//! not a database at all: it is left as it is (never written to) and the
//! run goes on without the cache until `simba-run cache clear` deletes it.
//! A write-protected database is used read-only. A failed write or lookup
//! later in the run is reported too. Each problem yields one warning
//! ([`ResponseCache::take_warnings`]), never one per call. The old layout
//! (one JSON file per entry in `ab/cd/` folders) is not read; its presence
//! is noted once.

pub mod admin;
mod hit_log;
pub mod key;
mod layer;
mod notices;
mod open;
mod opening;
mod store;
mod writer;

pub use key::{CacheKey, CacheScope};
pub use layer::Cached;
pub use open::{CacheError, DB_FILE};
pub use store::ResponseCache;

#[cfg(test)]
mod tests;
