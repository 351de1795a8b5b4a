//! Warnings the cache has for the user, each said at most once.
//!
//! The cache cannot print: the run owns the terminal and run.json. So it
//! files its warnings here and the owner takes them (after opening, and
//! after the final flush) and reports them the way it reports any warning.
//! A problem that repeats on every call (an unwritable database, a read
//! error) is filed once per kind, not once per call.

use std::collections::HashSet;
use std::sync::Mutex;

/// What kind of problem a warning is about; one warning per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// The cache could not be opened (or was found damaged) and is off.
    Unusable,
    /// The database is read-only: hits only.
    ReadOnly,
    /// The old one-file-per-entry layout is present and ignored.
    OldLayout,
    /// Writing a batch of answers failed.
    Write,
    /// Counting hits (or folding their log) failed; answers are unaffected.
    Hits,
    /// Reading an entry failed; the cache is off from then on.
    Read,
}

#[derive(Default)]
struct State {
    said: HashSet<Kind>,
    untaken: Vec<String>,
}

/// The warnings filed so far and not yet taken.
#[derive(Default)]
pub(super) struct Notices {
    state: Mutex<State>,
}

impl Notices {
    /// Files `message` unless a warning of this kind was already filed.
    pub(super) fn once(&self, kind: Kind, message: impl FnOnce() -> String) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.said.insert(kind) {
            let message = message();
            state.untaken.push(message);
        }
    }

    /// The warnings filed since the last call, oldest first.
    pub(super) fn take(&self) -> Vec<String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.untaken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_said_once_and_taken_once() {
        let notices = Notices::default();
        notices.once(Kind::Write, || "disk full".into());
        notices.once(Kind::Write, || "disk full again".into());
        notices.once(Kind::OldLayout, || "old files".into());
        assert_eq!(notices.take(), ["disk full", "old files"]);
        assert!(notices.take().is_empty());
        notices.once(Kind::Write, || "still full".into());
        assert!(notices.take().is_empty());
    }
}
