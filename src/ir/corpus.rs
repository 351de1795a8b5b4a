//! Corpora: `corpus NAME { .. }`, the passages a `search` step retrieves.

use super::defaults;
use super::{DataFile, Setting};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `corpus NAME { .. }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusDecl {
    /// The item name `search(NAME, ..)` refers to.
    pub name: String,
    /// Where the passages come from.
    pub source: CorpusSource,
}

/// A local file searched in-process, or a retrieval server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CorpusSource {
    /// `docs = jsonl(..)` or `csv(..)`: BM25 over an on-disk index.
    Local(LocalCorpus),
    /// `url = ..`: a server speaking ColBERTv2's HTTP API.
    Remote(RemoteCorpus),
}

/// A corpus file indexed with BM25.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalCorpus {
    /// One passage per row; resolved against the spec's folder.
    pub docs: DataFile,
    /// The field searched and returned. Default [`defaults::CORPUS_TEXT_FIELD`].
    pub text: String,
    /// A field shown before the text as `title | text`, if any.
    pub title: Option<String>,
    /// Where the index lives (resolved against the spec's folder); `None`:
    /// under the optimize block's cache folder.
    pub index: Option<PathBuf>,
}

impl LocalCorpus {
    /// A corpus of `docs` with every other setting at its default.
    pub fn new(docs: DataFile) -> Self {
        LocalCorpus {
            docs,
            text: defaults::CORPUS_TEXT_FIELD.into(),
            title: None,
            index: None,
        }
    }
}

/// A retrieval server: `GET url?query=..&k=..` answering `{"topk": [..]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteCorpus {
    /// The search endpoint (`http://host:8893/api/search`).
    pub url: Setting,
    /// Sent as a bearer token when set; never printed.
    pub api_key: Option<Setting>,
    /// Per request. Default [`defaults::CORPUS_TIMEOUT`].
    pub timeout: Duration,
    /// Retries on timeouts, connection errors, 429, 5xx and unreadable
    /// replies. Default [`defaults::MODEL_RETRIES`].
    pub retries: u32,
    /// Max in-flight searches. Default [`defaults::CORPUS_CONCURRENCY`].
    pub concurrency: usize,
    /// The largest reply body read. Default [`defaults::CORPUS_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: u64,
}

impl RemoteCorpus {
    /// A server at `url` with every other setting at its default.
    pub fn new(url: Setting) -> Self {
        RemoteCorpus {
            url,
            api_key: None,
            timeout: defaults::CORPUS_TIMEOUT,
            retries: defaults::MODEL_RETRIES,
            concurrency: defaults::CORPUS_CONCURRENCY,
            max_response_bytes: defaults::CORPUS_MAX_RESPONSE_BYTES,
        }
    }
}
