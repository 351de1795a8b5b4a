//! The `openai` provider: any server speaking OpenAI's `/chat/completions`
//! (OpenAI, vLLM, Ollama, llama.cpp's server, a LiteLLM proxy, ...).
//!
//! One attempt per call: retries and concurrency caps are the layers around
//! it. It applies the model's `timeout` itself, so a timeout names the URL
//! that did not answer (the registry adds no timeout layer of its own).
//! Errors name the model item and the URL, never the key.
//!
//! Everything the server sends is untrusted: a reply body is read up to the
//! model's `max_response_bytes` (`openai/body.rs`, also used by the remote
//! corpus client in `crate::retrieve`), the key is redacted from
//! error bodies and from reply text before either goes anywhere
//! (`openai/redact.rs`), and quoted bodies have their control characters
//! escaped (`crate::printable`).

pub mod body;
pub mod direct;
pub mod h1;
pub mod redact;
pub mod redirect;
mod wire;

use super::{LmError, ModelError, Request, Response, Usage};
use crate::ir::ModelDecl;
use crate::ir::defaults::MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES;
use async_trait::async_trait;
use body::{Body, ERROR_BODY_BYTES, read_capped, snippet};
use direct::{DirectClient, DirectError, Limits};
use redact::KeyRedactor;
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use wire::{ChatBody, Reply};

/// An API key. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from a setting.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A model served over the OpenAI chat-completions protocol.
pub struct OpenAiProvider {
    /// The spec's model item name, for error messages.
    item: String,
    /// The provider's model id, sent as `model`.
    model_id: String,
    /// Full `.../chat/completions` endpoints, one per base URL: parsed once
    /// (a request takes a copy), and as text for messages.
    endpoints: Vec<(Url, String)>,
    api_key: Option<ApiKey>,
    /// Removes the key from what the server sends back; `None` without a key.
    redactor: Option<KeyRedactor>,
    /// Per-attempt limit; `None` leaves it to the layers.
    timeout: Option<Duration>,
    /// The largest reply body read, in bytes.
    max_response_bytes: u64,
    client: reqwest::Client,
    /// The client for plain `http://` endpoints when no proxy is set
    /// (`openai/direct.rs`); `None` sends everything through `client`.
    direct: Option<DirectClient>,
    /// Round-robin position over `endpoints`.
    next: AtomicUsize,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("item", &self.item)
            .field("model_id", &self.model_id)
            .field("endpoints", &self.endpoints)
            .field("api_key", &self.api_key)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// Builds the provider of a model item, reading `base_url` and `api_key`
    /// from the environment where the spec says `env(..)`. No `api_key`
    /// means no `Authorization` header (local servers need none).
    ///
    /// Up to the model's `concurrency` connections per server stay open
    /// between requests (HTTP/1.1 keep-alive): the model never has more
    /// requests in flight, so once they are up no request opens a new one.
    pub fn new(decl: &ModelDecl) -> Result<Self, ModelError> {
        let setting_error = |field, source| ModelError::Setting {
            model: decl.name.clone(),
            field,
            source,
        };
        let mut base_urls = Vec::with_capacity(decl.base_urls.len());
        for setting in &decl.base_urls {
            base_urls.push(
                setting
                    .resolve()
                    .map_err(|e| setting_error("base_url", e))?,
            );
        }
        let api_key = match &decl.api_key {
            Some(setting) => Some(ApiKey(
                setting.resolve().map_err(|e| setting_error("api_key", e))?,
            )),
            None => None,
        };
        let idle = decl.concurrency;
        let provider = Self::build(&decl.name, &decl.model, &base_urls, api_key, idle)?
            .with_timeout(Some(decl.timeout))
            .with_max_response_bytes(decl.max_response_bytes);
        Ok(provider)
    }

    /// Sets the per-attempt time limit.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest reply body read (default 8 MiB): a longer reply
    /// fails the call instead of filling memory.
    pub fn with_max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Sends every request through reqwest, the path of `https://` servers
    /// and proxied setups, even to a plain `http://` server: lets tests hold
    /// the two paths to the same behaviour.
    pub fn without_direct(mut self) -> Self {
        self.direct = None;
        self
    }

    /// Builds the provider from resolved values, with the default
    /// `concurrency`'s worth of idle connections per server.
    pub fn from_parts(
        item: &str,
        model_id: &str,
        base_urls: &[String],
        api_key: Option<ApiKey>,
    ) -> Result<Self, ModelError> {
        let idle = crate::ir::defaults::MODEL_CONCURRENCY;
        Self::build(item, model_id, base_urls, api_key, idle)
    }

    fn build(
        item: &str,
        model_id: &str,
        base_urls: &[String],
        api_key: Option<ApiKey>,
        idle: usize,
    ) -> Result<Self, ModelError> {
        if base_urls.is_empty() {
            return Err(ModelError::NoBaseUrl { model: item.into() });
        }
        let mut endpoints = Vec::with_capacity(base_urls.len());
        for url in base_urls {
            let trimmed = url.trim().trim_end_matches('/');
            let bad = || ModelError::BadUrl {
                model: item.into(),
                url: url.clone(),
            };
            let parsed = Url::parse(trimmed).map_err(|_| bad())?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad());
            }
            let endpoint = format!("{trimmed}/chat/completions");
            let parsed = Url::parse(&endpoint).map_err(|_| bad())?;
            endpoints.push((parsed, endpoint));
        }
        let mut headers = HeaderMap::new();
        if let Some(ApiKey(key)) = &api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| ModelError::BadKey { model: item.into() })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let direct = endpoints
            .iter()
            .any(|(url, _)| direct::use_direct(url))
            .then(|| {
                let mut headers = headers.clone();
                headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
                headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
                DirectClient::new(headers, idle)
            });
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(idle.max(1))
            .redirect(redirect::same_origin_only())
            .user_agent(USER_AGENT_VALUE)
            .build()
            .map_err(|e| ModelError::Client {
                model: item.into(),
                message: error_chain(&e.without_url()),
            })?;
        Ok(Self {
            item: item.into(),
            model_id: model_id.into(),
            endpoints,
            redactor: api_key
                .as_ref()
                .and_then(|ApiKey(key)| KeyRedactor::new(key)),
            api_key,
            timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            client,
            direct,
            next: AtomicUsize::new(0),
        })
    }

    /// The JSON body sent for `request`, written straight from it. The
    /// rollout id is left out: it only distinguishes cache entries.
    pub fn body(&self, request: &Request) -> Vec<u8> {
        ChatBody {
            model_id: &self.model_id,
            request,
        }
        .to_bytes()
    }

    fn pick_endpoint(&self) -> &(Url, String) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        &self.endpoints[i]
    }

    fn transient(&self, message: String, retry_after_ms: Option<u64>) -> LmError {
        LmError::Transient {
            model: self.item.clone(),
            message,
            retry_after_ms,
        }
    }

    fn fatal(&self, message: String) -> LmError {
        LmError::Fatal {
            model: self.item.clone(),
            message,
        }
    }

    /// A failure to get a reply: all worth a retry.
    fn send_error(&self, url: &str, error: reqwest::Error) -> LmError {
        let e = error.without_url();
        let message = send_failure(&e, url, self.timeout.unwrap_or_default());
        if e.is_redirect() {
            // A redirect away from the model's origin is refused the same
            // way every time: not worth a retry.
            return self.fatal(message);
        }
        self.transient(message, None)
    }

    /// `text` from the server without the key or any long piece of it.
    fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.redactor {
            Some(redactor) => redactor.redact(text),
            None => text.into(),
        }
    }

    /// The start of a body for an error message: key redacted, cut short,
    /// control characters escaped.
    fn quote(&self, body: &Body) -> String {
        snippet(body, self.redactor.as_ref())
    }

    /// The error for a non-2xx answer, quoting the start of its body (of
    /// which at most [`ERROR_BODY_BYTES`] are read, whatever its size).
    async fn status_error(&self, url: &str, answer: reqwest::Response) -> LmError {
        let status = answer.status();
        let retry_after_ms = answer
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let limit = ERROR_BODY_BYTES.min(self.max_response_bytes);
        let body = match read_capped(answer, limit).await {
            Ok(body) => body,
            Err(e) => return self.send_error(url, e),
        };
        self.status_failure(url, status, retry_after_ms, &body)
    }

    /// The error for a non-2xx `status` with the start of its `body`.
    fn status_failure(
        &self,
        url: &str,
        status: StatusCode,
        retry_after_ms: Option<u64>,
        body: &Body,
    ) -> LmError {
        let message = format!("{url} answered HTTP {status}: {}", self.quote(body));
        if is_retryable_status(status) {
            self.transient(message, retry_after_ms)
        } else {
            self.fatal(message)
        }
    }

    /// A successful answer's body, refused (not retried: the same server
    /// would send the same) when it is over `max_response_bytes`: before
    /// reading when its `Content-Length` says so, else once that many bytes
    /// have arrived.
    async fn reply_body(&self, url: &str, answer: reqwest::Response) -> Result<Body, LmError> {
        self.announced_size(url, answer.content_length())?;
        let body = read_capped(answer, self.max_response_bytes)
            .await
            .map_err(|e| self.send_error(url, e))?;
        self.read_size(url, &body)?;
        Ok(body)
    }

    /// Refuses a reply announced longer than `max_response_bytes`.
    fn announced_size(&self, url: &str, announced: Option<u64>) -> Result<(), LmError> {
        let limit = self.max_response_bytes;
        if let Some(announced) = announced.filter(|n| *n > limit) {
            return Err(self.fatal(format!(
                "{url} announced a reply of {announced} bytes, over max_response_bytes = {limit}; \
                 not read (raise max_response_bytes in the model block if replies are that large)"
            )));
        }
        Ok(())
    }

    /// Refuses a reply whose reading stopped at `max_response_bytes`.
    fn read_size(&self, url: &str, body: &Body) -> Result<(), LmError> {
        let limit = self.max_response_bytes;
        if body.over_limit {
            return Err(self.fatal(format!(
                "{url} sent a reply of more than max_response_bytes = {limit} bytes; \
                 reading stopped there (raise max_response_bytes in the model block if replies are that large)"
            )));
        }
        Ok(())
    }

    /// One attempt through the direct client: the same checks and the same
    /// messages as through reqwest.
    async fn complete_direct(
        &self,
        direct: &DirectClient,
        endpoint: &Url,
        url: &str,
        request: &Request,
    ) -> Result<Response, LmError> {
        let limits = Limits {
            reply: self.max_response_bytes,
            error: ERROR_BODY_BYTES.min(self.max_response_bytes),
        };
        let body = self.body(request);
        let exchange = direct.post(endpoint, &body, limits);
        let exchange = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| self.transient(timeout_message(url, limit), None))?,
            None => exchange.await,
        };
        let exchange = exchange.map_err(|e| self.direct_error(url, e))?;
        if !exchange.status.is_success() {
            let retry_after_ms = exchange
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(self.status_failure(url, exchange.status, retry_after_ms, &exchange.body));
        }
        self.announced_size(url, exchange.announced)?;
        self.read_size(url, &exchange.body)?;
        self.parse_reply(url, &exchange.body)
    }

    /// The direct client's failures, worded as [`send_failure`] words
    /// reqwest's.
    fn direct_error(&self, url: &str, error: DirectError) -> LmError {
        match error {
            DirectError::Connect(cause) => {
                self.transient(format!("cannot connect to {url}: {cause}"), None)
            }
            // Refused the same way every time: not worth a retry.
            DirectError::Redirect(reason) => self.fatal(format!(
                "request to {url} failed: error following redirect: {reason}"
            )),
            DirectError::Failed(chain) => {
                self.transient(format!("request to {url} failed: {chain}"), None)
            }
        }
    }

    /// The completion in a successful body. Reply text that echoes the key
    /// is kept with the key redacted, so neither the cache nor an artifact
    /// ever holds it.
    fn parse_reply(&self, url: &str, body: &Body) -> Result<Response, LmError> {
        if body.is_blank() {
            // Nothing was lost in transit (the body ended where the server
            // said): the server answered nothing, which another try won't fix.
            return Err(self.fatal(format!(
                "{url} sent a blank reply (HTTP 200 with no JSON in the body)"
            )));
        }
        let no_content = || {
            self.fatal(format!(
                "{url} sent a reply without choices[0].message.content: {}",
                self.quote(body)
            ))
        };
        let reply = Reply::read(&body.bytes).map_err(|e| {
            if e.is_data() {
                // JSON, but not shaped like a completion.
                return no_content();
            }
            let message = format!(
                "{url} sent a reply that is not JSON ({e}): {}",
                self.quote(body)
            );
            // A body cut short (a proxy or the server dropped the rest) is a
            // transport fault worth another try; other garbage is not.
            if e.is_eof() {
                self.transient(message, None)
            } else {
                self.fatal(message)
            }
        })?;
        let text = reply.text().ok_or_else(no_content)?;
        let (prompt_tokens, completion_tokens) = reply.tokens();
        Ok(Response {
            text: self.redact(text).into_owned(),
            usage: Usage {
                prompt_tokens,
                completion_tokens,
            },
            cached: false,
        })
    }
}

#[async_trait]
impl super::Lm for OpenAiProvider {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let (endpoint, url) = self.pick_endpoint();
        // `direct` is only there when no proxy is set (checked once).
        if let Some(direct) = &self.direct
            && endpoint.scheme() == "http"
        {
            return self.complete_direct(direct, endpoint, url, request).await;
        }
        let mut post = self.client.post(endpoint.clone()).body(self.body(request));
        if let Some(limit) = self.timeout {
            post = post.timeout(limit);
        }
        let answer = post.send().await.map_err(|e| self.send_error(url, e))?;
        if !answer.status().is_success() {
            return Err(self.status_error(url, answer).await);
        }
        let body = self.reply_body(url, answer).await?;
        self.parse_reply(url, &body)
    }
}

/// 408, 429 and 5xx are worth another try; other failures are not.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// What went wrong sending a request to `url` (shown without secrets):
/// a timeout after `timeout`, a refused connection with its cause, or the
/// error with its causes. Models and remote corpora word it the same.
pub(crate) fn send_failure(e: &reqwest::Error, url: &str, timeout: std::time::Duration) -> String {
    if e.is_timeout() {
        timeout_message(url, timeout)
    } else if e.is_connect() {
        format!("cannot connect to {url}: {}", root_cause(e))
    } else {
        format!("request to {url} failed: {}", error_chain(e))
    }
}

/// The message of an attempt cut off after `timeout`.
fn timeout_message(url: &str, timeout: Duration) -> String {
    format!("no reply from {url} within the timeout of {timeout:?}")
}

/// The user agent every model request carries.
const USER_AGENT_VALUE: &str = concat!("simba-run/", env!("CARGO_PKG_VERSION"));

/// An error and its causes, joined: reqwest's own message alone ("error
/// sending request") hides the useful part ("Connection refused").
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The innermost cause ("Connection refused (os error 111)"): for a
/// connection failure the layers above it only repeat "could not connect".
pub(crate) fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A `Retry-After` value in milliseconds: either delay-seconds or an HTTP
/// date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some((seconds * 1000.0) as u64);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(2000));
        assert_eq!(parse_retry_after(" 0.5 ", now), Some(500));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(7000));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn endpoints_and_bad_urls() {
        let p = OpenAiProvider::from_parts("m", "id", &["http://h:1/v1/".into()], None).unwrap();
        assert_eq!(p.endpoints[0].1, "http://h:1/v1/chat/completions");
        assert_eq!(p.endpoints[0].0.as_str(), "http://h:1/v1/chat/completions");
        let err =
            OpenAiProvider::from_parts("m", "id", &["localhost:8080".into()], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model `m`: base_url `localhost:8080` is not an http:// or https:// URL"
        );
        let err = OpenAiProvider::from_parts("m", "id", &[], None).unwrap_err();
        assert!(matches!(err, ModelError::NoBaseUrl { .. }));
    }
}
