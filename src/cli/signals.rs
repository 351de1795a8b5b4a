//! SIGINT and SIGTERM during a run.
//!
//! Both are caught from the moment the runtime starts, so neither kills the
//! process at an arbitrary point: while the optimizer runs, either one stops
//! it (the checkpoint on disk already holds the state after the last finished
//! step); once the optimizer has returned, artifacts are written to the end
//! and the run completes, since stopping half-way through the renames would
//! leave a mix of two runs' files. Both exit with 130, the contract's
//! "interrupted" code.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals a run listens for; create inside the runtime.
pub struct Interrupts {
    int: Signal,
    term: Signal,
}

impl Interrupts {
    /// Installs the handlers (replacing the default "terminate" action).
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM and names it.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}
