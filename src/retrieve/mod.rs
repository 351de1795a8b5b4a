//! Retrieval: the corpora `search` steps call (docs/language.md, "corpus").
//!
//! A corpus answers "the `k` passages best matching this query, best
//! first". Both kinds are served through the model layers of [`crate::lm`],
//! so a search is counted, retried, capped and cached exactly as a model
//! call is: the query is the request's one user message, `k` its `k` param
//! and the reply text the passages as a JSON array.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Corpus`], [`CorpusSet`], [`Corpora`]: a spec's corpora built and counted |
//! | `local.rs` | a jsonl/csv corpus: its BM25 index on disk, reused until the file changes |
//! | `bm25.rs` | the index itself (tantivy): build, open, search; `bm25_off.rs` stands in without the `bm25` feature |
//! | `remote.rs` | a ColBERTv2-style retrieval server over HTTP |

#[cfg(feature = "bm25")]
mod bm25;
// Without the `bm25` feature (the fuzz build): the same API, refusing to build.
#[cfg(not(feature = "bm25"))]
#[path = "bm25_off.rs"]
mod bm25;
pub mod local;
pub mod remote;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ir::{CorpusDecl, CorpusSource, ModuleKind, ProgramGraph, Spec};
use crate::lm::cache::{CacheScope, Cached, ResponseCache};
use crate::lm::limit::ConcurrencyCap;
use crate::lm::retry::{Backoff, Retry};
use crate::lm::timeout::Timeout;
use crate::lm::usage::{CountAttempts, CountCalls, UsageBook, UsageSnapshot};
use crate::lm::{Lm, LmError, Message, Request, ResponseFormat};

pub use local::{LocalIndex, Opened};

/// Why a search failed (after the corpus's retries).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("corpus `{corpus}`: {message}")]
pub struct SearchError {
    /// The corpus item searched.
    pub corpus: String,
    /// What went wrong (a URL, an HTTP status, a reply quoted safely).
    pub message: String,
}

/// Why a corpus could not be set up: names the corpus and, for a local one,
/// the file and line at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("corpus `{corpus}`: {message}")]
pub struct CorpusError {
    /// The corpus item.
    pub corpus: String,
    /// What went wrong.
    pub message: String,
}

/// A searchable collection of passages.
#[async_trait]
pub trait Corpus: Send + Sync {
    /// The `k` passages best matching `query`, best first (fewer when fewer match).
    async fn search(&self, query: &str, k: usize) -> Result<Vec<String>, SearchError>;
}

/// The corpora a program's `search` steps call, by item name.
pub trait CorpusSet: Send + Sync {
    /// The corpus named `name` in the spec.
    fn corpus(&self, name: &str) -> Option<Arc<dyn Corpus>>;
}

/// No corpora at all: for programs without `search` steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCorpora;

impl CorpusSet for NoCorpora {
    fn corpus(&self, _name: &str) -> Option<Arc<dyn Corpus>> {
        None
    }
}

/// The request a search is sent as through the layers.
pub fn search_request(corpus: &str, query: &str, k: usize) -> Request {
    let mut params = IndexMap::new();
    params.insert(remote::K_PARAM.to_string(), Value::from(k as u64));
    Request {
        model: corpus.to_string(),
        messages: vec![Message::user(query)],
        temperature: 0.0,
        max_tokens: None,
        seed: None,
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params,
    }
}

/// A corpus behind its layer stack: searches go out as requests.
struct Layered {
    name: String,
    stack: Arc<dyn Lm>,
}

#[async_trait]
impl Corpus for Layered {
    async fn search(&self, query: &str, k: usize) -> Result<Vec<String>, SearchError> {
        let fail = |message: String| SearchError {
            corpus: self.name.clone(),
            message,
        };
        let reply = self
            .stack
            .complete(&search_request(&self.name, query, k))
            .await
            .map_err(|e| match e {
                LmError::Transient { message, .. } | LmError::Fatal { message, .. } => {
                    fail(message)
                }
            })?;
        serde_json::from_str::<Vec<String>>(&reply.text)
            .map_err(|e| fail(format!("a stored search result did not read back: {e}")))
    }
}

/// How [`Corpora::build`] sets corpora up.
#[derive(Clone, Default)]
pub struct CorporaOptions {
    /// The optimize block's cache folder: local indexes without their own
    /// `index = ..` live in `<folder>/index/<corpus>`; `None` (`cache =
    /// false`): such indexes are built in memory for the run.
    pub index_root: Option<PathBuf>,
    /// The run's response cache (shared with its models), for remote
    /// corpora; `None`: searches are not cached (`--no-cache`).
    pub cache: Option<Arc<ResponseCache>>,
    /// Waits between retries of a remote corpus.
    pub backoff: Backoff,
}

/// One built corpus.
struct Entry {
    corpus: Arc<dyn Corpus>,
    /// What identifies its passages: a local file's content hash, a
    /// server's URL (for checkpoint fingerprints).
    identity: String,
    /// A local index: whether this run built it (false: reused from disk).
    built: Option<bool>,
}

/// A spec's corpora, each behind its layers, with their usage counters.
pub struct Corpora {
    entries: IndexMap<String, Entry>,
    usage: UsageBook,
}

impl std::fmt::Debug for Corpora {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corpora")
            .field("corpora", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The corpora the steps of `graph` search, in step order, each once.
pub fn corpora_used(graph: &ProgramGraph) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for step in &graph.steps {
        if let ModuleKind::Search(call) = &step.module
            && !out.contains(&call.corpus)
        {
            out.push(call.corpus.clone());
        }
    }
    out
}

impl Corpora {
    /// No corpora.
    pub fn empty() -> Self {
        Corpora {
            entries: IndexMap::new(),
            usage: UsageBook::default(),
        }
    }

    /// Builds the corpora `names` of `spec`: local ones open (or build)
    /// their index, remote ones read their URL and key.
    pub fn build(
        spec: &Spec,
        names: &[String],
        options: &CorporaOptions,
    ) -> Result<Self, CorpusError> {
        let mut corpora = Corpora::empty();
        for name in names {
            let decl = spec.corpora.get(name).ok_or_else(|| CorpusError {
                corpus: name.clone(),
                message: "not declared in the spec".into(),
            })?;
            corpora.add(decl, options)?;
        }
        Ok(corpora)
    }

    fn add(&mut self, decl: &CorpusDecl, options: &CorporaOptions) -> Result<(), CorpusError> {
        let name = &decl.name;
        let counter = self.usage.start(name);
        let (stack, identity, built): (Arc<dyn Lm>, String, Option<bool>) = match &decl.source {
            CorpusSource::Local(local) => {
                let dir = local.index.clone().or_else(|| {
                    options
                        .index_root
                        .as_ref()
                        .map(|root| default_index_dir(root, name))
                });
                let opened = LocalIndex::open(name, local, dir.as_deref())?;
                let identity = format!("local:{}", opened.index.content_hash());
                let provider: Arc<dyn Lm> = Arc::new(opened.index);
                // In-process and a pure function of the query: no cache,
                // no retries; counted like any call.
                let stack: Arc<dyn Lm> = Arc::new(CountAttempts::new(provider, counter.clone()));
                (stack, identity, Some(opened.built))
            }
            CorpusSource::Remote(remote) => {
                let client =
                    remote::ColbertClient::new(name, remote).map_err(|message| CorpusError {
                        corpus: name.clone(),
                        message,
                    })?;
                let url = client.shown_url();
                let mut lm: Arc<dyn Lm> = Arc::new(Timeout::new(Arc::new(client), remote.timeout));
                lm = Arc::new(CountAttempts::new(lm, counter.clone()));
                lm = Arc::new(ConcurrencyCap::new(lm, remote.concurrency));
                lm = Arc::new(Retry::new(lm, remote.retries, options.backoff));
                if let Some(cache) = options.cache.as_ref().filter(|c| c.is_on()) {
                    let scope = CacheScope {
                        provider: "colbert".into(),
                        model_id: url.clone(),
                    };
                    lm = Arc::new(Cached::new(lm, cache.clone(), scope));
                }
                (lm, format!("remote:{url}"), None)
            }
        };
        let stack: Arc<dyn Lm> = Arc::new(CountCalls::new(stack, counter));
        let corpus = Arc::new(Layered {
            name: name.clone(),
            stack,
        });
        self.entries.insert(
            name.clone(),
            Entry {
                corpus,
                identity,
                built,
            },
        );
        Ok(())
    }

    /// Searches so far, per corpus (calls, cache hits, failures, requests
    /// sent with their retries) and in total.
    pub fn usage(&self) -> UsageSnapshot {
        self.usage.snapshot()
    }

    /// What identifies the passages of corpus `name` (a local file's
    /// content hash, a server's URL), for checkpoint fingerprints.
    pub fn identity(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.identity.as_str())
    }

    /// For a local corpus: whether this run built its index (`false`:
    /// reused from disk).
    pub fn index_built(&self, name: &str) -> Option<bool> {
        self.entries.get(name).and_then(|e| e.built)
    }

    /// The corpus names, in build order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl CorpusSet for Corpora {
    fn corpus(&self, name: &str) -> Option<Arc<dyn Corpus>> {
        self.entries.get(name).map(|e| e.corpus.clone())
    }
}

/// Where a local corpus's index lives when its block does not say:
/// `<cache folder>/index/<corpus>`.
pub fn default_index_dir(cache_root: &Path, corpus: &str) -> PathBuf {
    cache_root.join("index").join(corpus)
}
