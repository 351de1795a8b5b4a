//! A local corpus: passages from a jsonl/csv file, searched with a BM25
//! index kept on disk.
//!
//! The index folder holds the tantivy index and `simba-corpus.json`, which
//! records what it was built from: the SHA-256 of the corpus file's bytes,
//! the `text`/`title` fields and the index format. A run reuses the index
//! when all of these match, and rebuilds it otherwise (hashing the file
//! each run costs a few milliseconds per megabyte and, unlike size and
//! mtime, cannot miss an edit). A rebuild goes into a temporary folder
//! beside the index, the manifest written last, and is then renamed into
//! place, so a crash or a concurrent run never sees half an index. A folder
//! that is neither empty nor one of these indexes is never replaced.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CorpusError;
use super::bm25::Bm25;
use super::remote::search_args;
use crate::data::{file_path, read_file_checked};
use crate::ir::{FieldType, LocalCorpus};
use crate::lm::{Lm, LmError, Request, Response, Usage};

/// The manifest file inside an index folder.
pub const MANIFEST: &str = "simba-corpus.json";
/// Bumped when the index layout, the analysis or the passage text changes:
/// older indexes are then rebuilt.
const FORMAT: u32 = 1;
/// Between a title and its text, as DSPy's wiki passages are written.
pub const TITLE_SEPARATOR: &str = " | ";

/// What an index was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// SHA-256 of the corpus file's bytes, in hex.
    docs_sha256: String,
    text: String,
    title: Option<String>,
    passages: u64,
}

impl Manifest {
    /// Whether an index built from `self` serves a corpus described by `want`.
    fn serves(&self, want: &Manifest) -> bool {
        self.format == want.format
            && self.docs_sha256 == want.docs_sha256
            && self.text == want.text
            && self.title == want.title
    }
}

/// A local corpus's index, ready to search.
pub struct LocalIndex {
    name: String,
    bm25: Bm25,
    sha256: String,
}

/// An index and whether opening it built it.
pub struct Opened {
    /// The index.
    pub index: LocalIndex,
    /// True when this call built the index; false when it was reused.
    pub built: bool,
}

impl LocalIndex {
    /// Opens corpus `name`'s index in `dir`, building it first when it is
    /// missing or was built from something else; with no `dir`, builds it
    /// in memory.
    pub fn open(name: &str, decl: &LocalCorpus, dir: Option<&Path>) -> Result<Opened, CorpusError> {
        let fail = |message: String| CorpusError {
            corpus: name.into(),
            message,
        };
        let path = file_path(&decl.docs);
        let bytes = std::fs::read(path)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        let mut want = Manifest {
            format: FORMAT,
            docs_sha256: hex::encode(Sha256::digest(&bytes)),
            text: decl.text.clone(),
            title: decl.title.clone(),
            passages: 0,
        };
        drop(bytes);
        if let Some(dir) = dir
            && read_manifest(dir).is_some_and(|m| m.serves(&want))
        {
            match Bm25::open(dir) {
                Ok(bm25) => {
                    tracing::debug!(corpus = name, dir = %dir.display(), "reusing the index");
                    return Ok(Opened {
                        index: LocalIndex {
                            name: name.into(),
                            bm25,
                            sha256: want.docs_sha256,
                        },
                        built: false,
                    });
                }
                Err(e) => tracing::warn!(
                    corpus = name,
                    "the index in {} cannot be opened ({e}); rebuilding it",
                    dir.display()
                ),
            }
        }
        let started = Instant::now();
        let passages = passages(decl).map_err(&fail)?;
        want.passages = passages.len() as u64;
        let bm25 = match dir {
            Some(dir) => install(dir, &want, &passages).map_err(&fail)?,
            None => Bm25::build(&passages, None)
                .map_err(|e| fail(format!("cannot build the index: {e}")))?,
        };
        tracing::info!(
            corpus = name,
            passages = passages.len(),
            ms = started.elapsed().as_millis() as u64,
            "built the index"
        );
        Ok(Opened {
            index: LocalIndex {
                name: name.into(),
                bm25,
                sha256: want.docs_sha256,
            },
            built: true,
        })
    }

    /// SHA-256 (hex) of the corpus file the index was built from.
    pub fn content_hash(&self) -> &str {
        &self.sha256
    }

    /// How many passages the index holds.
    pub fn len(&self) -> u64 {
        self.bm25.len()
    }

    /// Whether the index holds no passage (never true: an empty corpus is
    /// refused when it is built).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` best passages for `query`, best first.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<String>, String> {
        self.bm25.search(query, k)
    }
}

#[async_trait]
impl Lm for LocalIndex {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let (query, k) = search_args(request);
        let passages = self.search(&query, k).map_err(|message| LmError::Fatal {
            model: self.name.clone(),
            message: format!("the search failed: {message}"),
        })?;
        Ok(Response {
            text: serde_json::Value::from(passages).to_string(),
            usage: Usage::default(),
            cached: false,
        })
    }
}

/// The corpus file's passages, in row order: `title | text` when the block
/// names a title field. A row without the field, or with a non-string value,
/// is an error naming the file and line.
fn passages(decl: &LocalCorpus) -> Result<Vec<String>, String> {
    let mut fields = vec![decl.text.clone()];
    fields.extend(decl.title.clone());
    let types: Vec<(String, FieldType)> = fields
        .iter()
        .map(|f| (f.clone(), FieldType::String))
        .collect();
    let rows = read_file_checked(&decl.docs, &fields, &types).map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Err(format!(
            "{} holds no passages",
            file_path(&decl.docs).display()
        ));
    }
    let text_of = |row: &crate::value::Example, field: &str| {
        row.fields
            .get(field)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(rows
        .iter()
        .map(|row| {
            let text = text_of(row, &decl.text);
            match &decl.title {
                Some(t) => format!("{}{TITLE_SEPARATOR}{text}", text_of(row, t)),
                None => text,
            }
        })
        .collect())
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `dir` may be replaced by a new index: it does not exist, is
/// empty, or holds an index of ours.
fn replaceable(dir: &Path) -> Result<bool, String> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(format!(
            "cannot read the index folder {}: {e}",
            dir.display()
        )),
        Ok(mut entries) => Ok(entries.next().is_none() || dir.join(MANIFEST).is_file()),
    }
}

/// Builds the index of `passages` beside `dir` and renames it into place.
fn install(dir: &Path, manifest: &Manifest, passages: &[String]) -> Result<Bm25, String> {
    if !replaceable(dir)? {
        return Err(format!(
            "the index folder {} exists and is not a simba-run index; set `index` to another folder",
            dir.display()
        ));
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |what: &str, e: std::io::Error| format!("cannot {what}: {e}");
    std::fs::create_dir_all(parent).map_err(|e| io(&format!("create {}", parent.display()), e))?;
    let base = dir
        .file_name()
        .map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{base}.building-"))
        .tempdir_in(parent)
        .map_err(|e| io(&format!("create a folder in {}", parent.display()), e))?;
    Bm25::build(passages, Some(staging.path()))
        .map_err(|e| format!("cannot build the index: {e}"))?;
    let json = serde_json::to_string_pretty(manifest).expect("a manifest serializes");
    std::fs::write(staging.path().join(MANIFEST), json)
        .map_err(|e| io("write the index manifest", e))?;
    let staged: PathBuf = staging.keep();
    // A directory cannot be renamed over a non-empty one: the old index is
    // moved aside first, then removed.
    let aside = parent.join(format!(".{base}.old-{}", std::process::id()));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &aside)
            .map_err(|e| io(&format!("move the old index {} aside", dir.display()), e))?;
    }
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another run may have just put the same index there.
        if read_manifest(dir).is_some_and(|m| m.serves(manifest)) {
            return Bm25::open(dir)
                .map_err(|e| format!("cannot open the index in {}: {e}", dir.display()));
        }
        return Err(io(&format!("move the new index into {}", dir.display()), e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&aside);
    }
    Bm25::open(dir)
        .map_err(|e| format!("cannot open the index just built in {}: {e}", dir.display()))
}
