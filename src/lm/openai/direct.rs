//! A plain-HTTP/1.1 keep-alive client for `http://` model servers (a local
//! vLLM, llama.cpp or Ollama), on hyper's connection-level API.
//!
//! Why not reqwest here: reqwest runs each connection as a task of its own,
//! so every request crosses threads twice (the caller hands the request to
//! the connection task, which hands the reply back), and goes through
//! reqwest's and hyper-util's layers (pool checkout, URL re-parsing, tower
//! services). Against a local server that answers at once, that was most of
//! simba-run's CPU time per LM call. Here the connection is driven inside
//! the task that sends the request: one task, no hand-offs.
//!
//! It does only what a model call needs, the same way the reqwest client
//! does it: a pool of at most `max_idle` idle connections per origin (the
//! model's `concurrency`, so steady traffic never opens new ones), TCP
//! no-delay, same-origin redirects only ([`super::redirect`]), a body cap,
//! and the caller's headers (key marked sensitive, user agent). `https://`
//! URLs and setups with a proxy variable stay on reqwest
//! ([`use_direct`] decides).

use super::body::Body;
use super::redirect::{MAX_HOPS, refusal};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest, handshake};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Mutex;
use tokio::net::TcpStream;

type Io = TokioIo<TcpStream>;

/// Whether requests to `url` go through [`DirectClient`]: plain `http://`
/// with no proxy variable set (reqwest honours those; this client does not).
pub fn use_direct(url: &Url) -> bool {
    const PROXY_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
    url.scheme() == "http"
        && url.host_str().is_some()
        && PROXY_VARS
            .iter()
            .all(|v| std::env::var_os(v).is_none_or(|v| v.is_empty()))
}

/// One open connection: the handle requests go through and the state
/// machine that must be polled for them to move.
struct Conn {
    /// What the `Host` header says, `host[:port]` as in the URL: with the
    /// scheme always `http`, it also names the connection's origin.
    host: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
    conn: Connection<Io, Full<Bytes>>,
}

/// What a server answered, with the body read up to a limit.
pub struct Exchange {
    /// The final status (after same-origin redirects).
    pub status: StatusCode,
    /// The `Retry-After` header, when there is a readable one.
    pub retry_after: Option<String>,
    /// The `Content-Length` the server announced.
    pub announced: Option<u64>,
    /// The body; left unread (empty) when a success announced more than
    /// its limit.
    pub body: Body,
}

/// Why no answer came back.
#[derive(Debug)]
pub enum DirectError {
    /// No TCP connection: the cause ("Connection refused (os error 111)").
    Connect(String),
    /// A redirect that was not followed: the reason.
    Redirect(String),
    /// The exchange broke off: the error and its causes.
    Failed(String),
}

/// Body limits by outcome: a success's reply, an error's quoted start.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most read of a 2xx body; one announced longer is not read.
    pub reply: u64,
    /// The most read of any other body.
    pub error: u64,
}

/// Plain-HTTP/1.1 client with keep-alive, driving each connection in the
/// calling task.
pub struct DirectClient {
    headers: HeaderMap,
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
}

impl DirectClient {
    /// A client sending `headers` with every request and keeping at most
    /// `max_idle` connections open between requests.
    pub fn new(headers: HeaderMap, max_idle: usize) -> Self {
        Self {
            headers,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// POSTs `body` to `url`, following same-origin redirects (at most
    /// [`MAX_HOPS`]; 301, 302 and 303 turn the POST into a bodiless GET, as
    /// browsers and reqwest do).
    pub async fn post(
        &self,
        url: &Url,
        body: Bytes,
        limits: Limits,
    ) -> Result<Exchange, DirectError> {
        let mut method = Method::POST;
        let mut body = Some(body);
        // Borrowed until a redirect: no copy of the URL per request.
        let mut at = std::borrow::Cow::Borrowed(url);
        for hop in 0..=MAX_HOPS {
            let (exchange, location) = self.send(&at, &method, body.clone(), limits).await?;
            let Some(next) = location.and_then(|l| at.join(&l).ok()) else {
                return Ok(exchange);
            };
            if next.origin() != url.origin() {
                return Err(DirectError::Redirect(refusal(url, &next)));
            }
            if hop == MAX_HOPS {
                break;
            }
            let status = exchange.status;
            if status == StatusCode::SEE_OTHER
                || (method == Method::POST
                    && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
            {
                method = Method::GET;
                body = None;
            }
            at = std::borrow::Cow::Owned(next);
        }
        Err(DirectError::Redirect(format!(
            "more than {MAX_HOPS} redirects"
        )))
    }

    /// One request on a pooled or new connection. A pooled connection that
    /// the server closed before the request went out is replaced once.
    async fn send(
        &self,
        url: &Url,
        method: &Method,
        body: Option<Bytes>,
        limits: Limits,
    ) -> Result<(Exchange, Option<String>), DirectError> {
        let host = host_header(url)?;
        if let Some(conn) = self.checkout(&host) {
            match self.exchange(conn, url, method, body.clone(), limits).await {
                Err(Retry::Unsent) => {}
                Err(Retry::No(e)) => return Err(e),
                Ok(answer) => return Ok(answer),
            }
        }
        let conn = connect(url, host).await?;
        match self.exchange(conn, url, method, body, limits).await {
            Err(Retry::Unsent) => Err(DirectError::Failed(
                "the connection closed before the request was sent".into(),
            )),
            Err(Retry::No(e)) => Err(e),
            Ok(answer) => Ok(answer),
        }
    }

    /// An idle connection to `host` that is still open.
    fn checkout(&self, host: &HeaderValue) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(i) = idle.iter().rposition(|c| c.host == host) {
            let mut conn = idle.swap_remove(i);
            // One poll without waiting: a connection the server closed
            // while idle finishes here instead of failing the request.
            let closed =
                futures::FutureExt::now_or_never(poll_fn(|cx| conn.conn.poll_without_shutdown(cx)));
            if closed.is_none() && !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    /// Sends the request and reads the answer on `conn`, returning the
    /// connection to the pool when it can carry another request.
    async fn exchange(
        &self,
        mut conn: Conn,
        url: &Url,
        method: &Method,
        body: Option<Bytes>,
        limits: Limits,
    ) -> Result<(Exchange, Option<String>), Retry> {
        let request = self.request(url, method, body, conn.host.clone())?;
        let Conn {
            sender, conn: io, ..
        } = &mut conn;
        let (answer, finished) = driven(io, async {
            let response = sender.send_request(request).await.map_err(|e| {
                if e.is_canceled() {
                    Retry::Unsent
                } else {
                    Retry::No(DirectError::Failed(super::error_chain(&e)))
                }
            })?;
            Ok::<_, Retry>(read_answer(response, limits).await?)
        })
        .await;
        let answer = answer?;
        // Kept for the next request only if it was read to the end and the
        // connection, polled once more to take in that end, wants another
        // (never waited for: at worst a connection is not reused).
        let whole = !answer.0.body.over_limit && answer.1.is_none();
        if whole && !finished {
            let done = futures::FutureExt::now_or_never(poll_fn(|cx| io.poll_without_shutdown(cx)));
            if done.is_none() && sender.is_ready() {
                self.checkin(conn);
            }
        }
        Ok(answer)
    }

    fn request(
        &self,
        url: &Url,
        method: &Method,
        body: Option<Bytes>,
        host: HeaderValue,
    ) -> Result<hyper::Request<Full<Bytes>>, Retry> {
        let bad = || Retry::No(DirectError::Failed(format!("cannot send to {url}")));
        // Origin form (`/v1/chat/completions?..`) and the Host header: the
        // connection-level API adds neither.
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(target)
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| bad())?;
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(HOST, host);
        Ok(request)
    }
}

/// Whether a failed exchange may go again on a new connection.
enum Retry {
    /// The request never left: the pooled connection was already closed.
    Unsent,
    /// It did (or the failure is not about the connection).
    No(DirectError),
}

impl From<DirectError> for Retry {
    fn from(e: DirectError) -> Self {
        Retry::No(e)
    }
}

impl From<Retry> for DirectError {
    fn from(r: Retry) -> Self {
        match r {
            Retry::Unsent => DirectError::Failed("the connection closed".into()),
            Retry::No(e) => e,
        }
    }
}

/// The `Host` header for `url` (`host[:port]`, as the URL spells it).
fn host_header(url: &Url) -> Result<HeaderValue, DirectError> {
    let host = url.host_str().unwrap_or_default();
    let value = match url.port() {
        Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
        None => HeaderValue::from_str(host),
    };
    value.map_err(|_| DirectError::Failed(format!("cannot send to {url}")))
}

async fn connect(url: &Url, host: HeaderValue) -> Result<Conn, DirectError> {
    let name = url.host_str().unwrap_or_default();
    // An IPv6 literal comes bracketed in URLs, bare to the resolver.
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = TcpStream::connect((name, port))
        .await
        .map_err(|e| DirectError::Connect(e.to_string()))?;
    // Requests are written whole: Nagle's delay would only hold them back.
    stream
        .set_nodelay(true)
        .map_err(|e| DirectError::Connect(e.to_string()))?;
    let (sender, conn) = handshake(TokioIo::new(stream))
        .await
        .map_err(|e| DirectError::Failed(super::error_chain(&e)))?;
    Ok(Conn { host, sender, conn })
}

/// Runs `work` while polling `conn`, which moves the bytes `work` waits
/// for: the connection needs no task of its own. Also tells whether the
/// connection finished (closed) meanwhile: it must not be polled again.
async fn driven<T>(
    conn: &mut Connection<Io, Full<Bytes>>,
    work: impl Future<Output = T>,
) -> (T, bool) {
    let mut work = pin!(work);
    let mut finished = false;
    let out = poll_fn(|cx| {
        // The connection first: what it reads is then ready for `work`.
        if !finished && conn.poll_without_shutdown(cx).is_ready() {
            finished = true;
        }
        work.as_mut().poll(cx)
    })
    .await;
    (out, finished)
}

/// Status, headers and capped body of `response`, with the `Location` of a
/// redirect. A success announcing more than its limit is not read.
async fn read_answer(
    response: hyper::Response<Incoming>,
    limits: Limits,
) -> Result<(Exchange, Option<String>), DirectError> {
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header(RETRY_AFTER);
    let announced = header(CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    let location = status.is_redirection().then(|| header(LOCATION)).flatten();
    let limit = if status.is_success() {
        limits.reply
    } else {
        limits.error
    };
    let mut exchange = Exchange {
        status,
        retry_after,
        announced,
        body: Body::default(),
    };
    if location.is_some() || (status.is_success() && announced.is_some_and(|n| n > limit)) {
        // Not read: the connection is dropped instead.
        exchange.body.over_limit = location.is_none();
        return Ok((exchange, location));
    }
    exchange.body = read_capped(response.into_body(), limit, announced).await?;
    Ok((exchange, location))
}

/// [`super::body::read_capped`] for a hyper body.
async fn read_capped(
    mut body: Incoming,
    limit: u64,
    announced: Option<u64>,
) -> Result<Body, DirectError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let announced = announced.and_then(|n| usize::try_from(n).ok());
    let mut out = Body::with_room(announced, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| DirectError::Failed(super::error_chain(&e)))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if !out.push_capped(&chunk, limit) {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_goes_direct() {
        let plain = Url::parse("http://127.0.0.1:8000/v1/chat/completions").unwrap();
        let tls = Url::parse("https://api.example/v1/chat/completions").unwrap();
        assert!(!use_direct(&tls));
        // The proxy variables are the environment's: only check the rule
        // when none is set here.
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        assert_eq!(use_direct(&plain), !proxied);
    }
}
