//! A remote corpus: a retrieval server speaking the HTTP API of DSPy's
//! `ColBERTv2` client, `GET URL?query=..&k=..` answering
//! `{"topk": [{"text": .., "long_text"?: .., "score"?: ..}, ..]}`.
//!
//! The client is an [`Lm`] so the model layers wrap it unchanged (retries
//! with backoff, the concurrency cap, the per-request timeout, the response
//! cache under the `colbert` provider, usage counters): the query is the
//! request's one user message, `k` its `k` param, and the reply text the
//! passages as a JSON array. One attempt per call. As with models, a reply
//! body is read up to `max_response_bytes` and the optional key is redacted
//! from anything quoted back. Unlike a model's, an unreadable success body
//! (not JSON, no `topk`) is retried: a retrieval server answers garbage while
//! it restarts behind a proxy, and the same query asked again is cheap.

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use std::time::{Duration, SystemTime};

use crate::ir::RemoteCorpus;
use crate::lm::openai::body::{Body, ERROR_BODY_BYTES, read_capped, snippet};
use crate::lm::openai::redact::KeyRedactor;
use crate::lm::openai::{error_chain, is_retryable_status, parse_retry_after, send_failure};
use crate::lm::{Lm, LmError, Request, Response, Usage};

/// The request param carrying `k`.
pub const K_PARAM: &str = "k";

/// The HTTP client of one remote corpus.
pub struct ColbertClient {
    corpus: String,
    url: reqwest::Url,
    redactor: Option<KeyRedactor>,
    timeout: Duration,
    max_response_bytes: u64,
    client: reqwest::Client,
}

impl std::fmt::Debug for ColbertClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColbertClient")
            .field("corpus", &self.corpus)
            .field("url", &self.shown_url())
            .finish_non_exhaustive()
    }
}

impl ColbertClient {
    /// The client of corpus `name`, its `url` and `api_key` read now. The
    /// error names the setting at fault, never its value.
    pub fn new(name: &str, decl: &RemoteCorpus) -> Result<Self, String> {
        let url = decl.url.resolve().map_err(|e| format!("url: {e}"))?;
        let parsed = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| format!("url `{url}` is not an http:// or https:// URL"))?;
        let key = match &decl.api_key {
            Some(s) => Some(s.resolve().map_err(|e| format!("api_key: {e}"))?),
            None => None,
        };
        let mut headers = HeaderMap::new();
        if let Some(key) = &key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                "the api_key contains characters not allowed in an HTTP header".to_string()
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(crate::lm::openai::redirect::same_origin_only())
            .user_agent(concat!("simba-run/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        Ok(Self {
            corpus: name.into(),
            url: parsed,
            redactor: key.as_deref().and_then(KeyRedactor::new),
            timeout: decl.timeout,
            max_response_bytes: decl.max_response_bytes,
            client,
        })
    }

    /// The URL for messages and the cache: scheme, host, port and path only
    /// (a query string may carry a token).
    pub fn shown_url(&self) -> String {
        let mut u = self.url.clone();
        u.set_query(None);
        u.set_fragment(None);
        let _ = u.set_password(None);
        let _ = u.set_username("");
        u.to_string()
    }

    fn transient(&self, message: String, retry_after_ms: Option<u64>) -> LmError {
        LmError::Transient {
            model: self.corpus.clone(),
            message,
            retry_after_ms,
        }
    }

    fn fatal(&self, message: String) -> LmError {
        LmError::Fatal {
            model: self.corpus.clone(),
            message,
        }
    }

    fn quote(&self, body: &Body) -> String {
        snippet(body, self.redactor.as_ref())
    }

    fn send_error(&self, error: reqwest::Error) -> LmError {
        let url = self.shown_url();
        let e = error.without_url();
        let message = send_failure(&e, &url, self.timeout);
        if e.is_redirect() {
            // Refused the same way every time: not worth a retry.
            return self.fatal(message);
        }
        self.transient(message, None)
    }

    async fn status_error(&self, answer: reqwest::Response) -> LmError {
        let status = answer.status();
        let retry_after_ms = answer
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = match read_capped(answer, ERROR_BODY_BYTES.min(self.max_response_bytes)).await {
            Ok(body) => body,
            Err(e) => return self.send_error(e),
        };
        let message = format!(
            "{} answered HTTP {status}: {}",
            self.shown_url(),
            self.quote(&body)
        );
        if is_retryable_status(status) {
            self.transient(message, retry_after_ms)
        } else {
            self.fatal(message)
        }
    }

    /// The passages of a success body, at most `k`, best first.
    fn passages(&self, body: &Body, k: usize) -> Result<Vec<String>, LmError> {
        let garbage = |why: &str| {
            self.transient(
                format!(
                    "{} sent a reply that is not a search result ({why}): {}",
                    self.shown_url(),
                    self.quote(body)
                ),
                None,
            )
        };
        let reply: Value = serde_json::from_slice(&body.bytes).map_err(|_| garbage("not JSON"))?;
        let topk = reply
            .get("topk")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("no `topk` list"))?;
        topk.iter()
            .take(k)
            .map(|hit| {
                // DSPy reads `long_text`, which its client sets from `text`.
                let text = hit
                    .get("long_text")
                    .or_else(|| hit.get("text"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| garbage("a `topk` entry without `text`"))?;
                // As with a model's reply: a key echoed back is not kept.
                Ok(match &self.redactor {
                    Some(r) => r.redact(text).into_owned(),
                    None => text.to_string(),
                })
            })
            .collect()
    }
}

/// The query and `k` of a search request.
pub fn search_args(request: &Request) -> (String, usize) {
    let query = request
        .messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let k = request
        .params
        .get(K_PARAM)
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    (query, k)
}

#[async_trait]
impl Lm for ColbertClient {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let (query, k) = search_args(request);
        let get = self
            .client
            .get(self.url.clone())
            .query(&[("query", query.as_str()), ("k", &k.to_string())])
            .timeout(self.timeout);
        let answer = get.send().await.map_err(|e| self.send_error(e))?;
        if !answer.status().is_success() {
            return Err(self.status_error(answer).await);
        }
        let limit = self.max_response_bytes;
        if let Some(announced) = answer.content_length().filter(|n| *n > limit) {
            return Err(self.fatal(format!(
                "{} announced a reply of {announced} bytes, over max_response_bytes = {limit}; not read",
                self.shown_url()
            )));
        }
        let body = read_capped(answer, limit)
            .await
            .map_err(|e| self.send_error(e))?;
        if body.over_limit {
            return Err(self.fatal(format!(
                "{} sent a reply of more than max_response_bytes = {limit} bytes; reading stopped there",
                self.shown_url()
            )));
        }
        let passages = self.passages(&body, k)?;
        Ok(Response {
            text: Value::from(passages).to_string(),
            usage: Usage::default(),
            cached: false,
        })
    }
}
