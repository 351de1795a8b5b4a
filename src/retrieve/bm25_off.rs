//! The BM25 index in a build without the `bm25` cargo feature: every
//! attempt to build or open one says how to get a build that has it.

use std::path::Path;

const WHY: &str =
    "this build has no BM25 index: rebuild simba-run with the `bm25` cargo feature (on by default)";

/// Stands in for the tantivy index.
pub(super) struct Bm25;

impl Bm25 {
    /// Always an error naming the missing feature.
    pub fn build(_passages: &[String], _dir: Option<&Path>) -> Result<Bm25, String> {
        Err(WHY.into())
    }

    /// Always an error naming the missing feature.
    pub fn open(_dir: &Path) -> Result<Bm25, String> {
        Err(WHY.into())
    }

    /// Never reached: no `Bm25` value exists.
    pub fn len(&self) -> u64 {
        0
    }

    /// Never reached: no `Bm25` value exists.
    pub fn search(&self, _query: &str, _k: usize) -> Result<Vec<String>, String> {
        Err(WHY.into())
    }
}
