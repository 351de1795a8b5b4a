//! A plain-HTTP/1.1 keep-alive client for `http://` model servers (a local
//! vLLM, llama.cpp or Ollama): requests written whole in one write, replies
//! framed by [`super::h1`] (httparse for the head).
//!
//! Why not reqwest, or hyper's own client, here: against a local server
//! that answers at once, the client is most of simba-run's CPU time per LM
//! call. reqwest runs each connection as a task of its own (two thread
//! hand-offs per request, and its pool, URL and tower layers); hyper's
//! connection API still passes each request and each body frame through
//! channels and a dispatcher. Measured at 16 requests in flight on a
//! 2-core machine, hyper's path cost 35 µs of CPU per request and this one
//! 19 µs, most of that the kernel's loopback TCP (see docs/cache.md).
//!
//! It does only what a model call needs, the way the reqwest client does
//! it: a pool of at most `max_idle` idle connections per origin (the
//! model's `concurrency`, so steady traffic never opens new ones), TCP
//! no-delay, same-origin redirects only ([`super::redirect`]), body caps,
//! and the caller's headers (key, user agent). `https://` URLs and setups
//! with a proxy variable stay on reqwest ([`use_direct`] decides).

use super::body::Body;
use super::h1::{self, BodyDecoder, Framing, Head};
use super::redirect::{MAX_HOPS, refusal};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use std::io;
use std::sync::Mutex;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Room made in the read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

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

/// One open connection and the origin it leads to.
struct Conn {
    /// What the `Host` header says, `host[:port]` as in the URL: with the
    /// scheme always `http`, it also names the connection's origin.
    host: String,
    stream: TcpStream,
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
    /// The exchange broke off: what happened.
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
    /// The header lines every request carries, written out once
    /// (`name: value\r\n` each). Holds the key: never shown.
    fixed: Vec<u8>,
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
}

impl DirectClient {
    /// A client sending `headers` with every request and keeping at most
    /// `max_idle` connections open between requests.
    pub fn new(headers: HeaderMap, max_idle: usize) -> Self {
        let mut fixed = Vec::new();
        for (name, value) in &headers {
            // Names and values are checked by `HeaderMap`: no line breaks.
            fixed.extend_from_slice(name.as_str().as_bytes());
            fixed.extend_from_slice(b": ");
            fixed.extend_from_slice(value.as_bytes());
            fixed.extend_from_slice(b"\r\n");
        }
        Self {
            fixed,
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
        body: &[u8],
        limits: Limits,
    ) -> Result<Exchange, DirectError> {
        let mut method = Method::POST;
        let mut body = Some(body);
        // Borrowed until a redirect: no copy of the URL per request.
        let mut at = std::borrow::Cow::Borrowed(url);
        for hop in 0..=MAX_HOPS {
            let (exchange, location) = self.send(&at, &method, body, limits).await?;
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
    /// turns out closed (the server dropped it while idle, so the request
    /// cannot be written) is replaced once.
    async fn send(
        &self,
        url: &Url,
        method: &Method,
        body: Option<&[u8]>,
        limits: Limits,
    ) -> Result<(Exchange, Option<String>), DirectError> {
        let host = host_header(url)?;
        let request = self.request(url, method, body, &host)?;
        if let Some(conn) = self.checkout(&host) {
            match self.exchange(conn, &request, true, limits).await {
                Err(Retry::Unsent) => {}
                Err(Retry::No(e)) => return Err(e),
                Ok(answer) => return Ok(answer),
            }
        }
        let conn = connect(url, host).await?;
        match self.exchange(conn, &request, false, limits).await {
            Err(Retry::Unsent) => Err(DirectError::Failed(
                "the connection closed before the request was sent".into(),
            )),
            Err(Retry::No(e)) => Err(e),
            Ok(answer) => Ok(answer),
        }
    }

    /// An idle connection to `host` that is still open.
    fn checkout(&self, host: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(i) = idle.iter().rposition(|c| c.host == host) {
            let conn = idle.swap_remove(i);
            if still_open(&conn.stream) {
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

    /// Sends `request` and reads the answer on `conn`, returning the
    /// connection to the pool when it can carry another request.
    async fn exchange(
        &self,
        mut conn: Conn,
        request: &[u8],
        reused: bool,
        limits: Limits,
    ) -> Result<(Exchange, Option<String>), Retry> {
        // Only a request that could not be written goes again by itself:
        // once it is out, the server may be working on it, and whether to
        // send it again is the model's `retries` to decide (and count).
        if let Err(e) = conn.stream.write_all(request).await {
            let e = failed("sending the request failed", &e);
            return Err(if reused { Retry::Unsent } else { Retry::No(e) });
        }
        let (head, buf, used) = read_head(&mut conn.stream).await?;
        let location = is_followed(head.status)
            .then(|| head.location.clone())
            .flatten();
        let limit = if head.status.is_success() {
            limits.reply
        } else {
            limits.error
        };
        let mut exchange = Exchange {
            status: head.status,
            retry_after: head.retry_after.clone(),
            announced: head.content_length,
            body: Body::default(),
        };
        let announced_over =
            head.status.is_success() && head.content_length.is_some_and(|n| n > limit);
        if location.is_some() || announced_over {
            // Not read: the connection is dropped instead.
            exchange.body.over_limit = location.is_none();
            return Ok((exchange, location));
        }
        let whole = read_body(
            &mut conn.stream,
            &head,
            buf,
            used,
            limit,
            &mut exchange.body,
        )
        .await
        .map_err(Retry::No)?;
        if whole && head.keep_alive {
            self.checkin(conn);
        }
        Ok((exchange, location))
    }

    /// The request's bytes: request line, headers and body.
    fn request(
        &self,
        url: &Url,
        method: &Method,
        body: Option<&[u8]>,
        host: &str,
    ) -> Result<Vec<u8>, DirectError> {
        let path = url.path();
        let query = url.query();
        // `Url` percent-encodes both; refused anyway if either could break
        // the request line.
        let unsafe_byte = |s: &str| s.bytes().any(|b| b <= b' ' || b == 0x7f);
        if unsafe_byte(path) || query.is_some_and(unsafe_byte) {
            return Err(DirectError::Failed(format!("cannot send to {url}")));
        }
        let body = body.unwrap_or_default();
        let mut out = Vec::with_capacity(160 + self.fixed.len() + body.len());
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(path.as_bytes());
        if let Some(query) = query {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.fixed);
        if *method != Method::GET {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(out)
    }
}

/// Whether a failed exchange may go again on a new connection.
enum Retry {
    /// The request could not be written on a reused connection: the
    /// server had closed it.
    Unsent,
    /// Anything else.
    No(DirectError),
}

impl From<DirectError> for Retry {
    fn from(e: DirectError) -> Self {
        Retry::No(e)
    }
}

fn failed(what: &str, e: &io::Error) -> DirectError {
    DirectError::Failed(format!("{what}: {e}"))
}

/// Whether an idle connection is still open: the server has neither closed
/// it nor sent anything unasked (either way it is not used again). Costs a
/// read attempt only when the socket reads as ready.
fn still_open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

/// Reads the response head, returning it with the bytes read so far and
/// where the body starts in them. Heads are parsed again only once a blank
/// line has arrived since the last try: a head dripped a byte at a time
/// costs one parse, not one per byte.
async fn read_head(stream: &mut TcpStream) -> Result<(Head, Vec<u8>, usize), DirectError> {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_ROOM);
    let mut scanned: usize = 0;
    loop {
        // From 2 bytes back: a blank line may straddle two reads.
        let fresh = &buf[scanned.saturating_sub(2)..];
        let blank_line = fresh.windows(2).any(|w| w == b"\n\n" || w == b"\n\r");
        if (blank_line || buf.len() > h1::MAX_HEAD_BYTES)
            && let Some((head, used)) = h1::parse_head(&buf).map_err(DirectError::Failed)?
        {
            return Ok((head, buf, used));
        }
        scanned = buf.len();
        match read_more(stream, &mut buf).await {
            Ok(0) if buf.is_empty() => {
                return Err(DirectError::Failed(
                    "the server closed the connection without answering".into(),
                ));
            }
            Ok(0) => {
                return Err(DirectError::Failed(
                    "the connection closed in the middle of the response head".into(),
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(failed("reading the response failed", &e)),
        }
    }
}

/// The redirects followed (reqwest's set): 300, 304, 305 and 306 are
/// answers, whatever `Location` they carry.
fn is_followed(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Reads what is there into `buf`'s spare room (made first).
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < READ_ROOM / 4 {
        buf.reserve(READ_ROOM);
    }
    stream.read_buf(buf).await
}

/// Reads the body that follows the head (`buf[used..]` already holds its
/// start) into `out`, up to `limit` bytes. `true` when the whole body was
/// read and nothing more came: the connection may carry another request.
async fn read_body(
    stream: &mut TcpStream,
    head: &Head,
    mut buf: Vec<u8>,
    used: usize,
    limit: u64,
    out: &mut Body,
) -> Result<bool, DirectError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let announced = match head.framing {
        Framing::Length(n) => usize::try_from(n).ok(),
        _ => None,
    };
    *out = Body::with_room(announced, limit);
    let mut decoder = BodyDecoder::new(head.framing);
    let mut full = false;
    let mut at = used;
    loop {
        let mut sink = |chunk: &[u8]| {
            full = !out.push_capped(chunk, limit);
            !full
        };
        at += decoder
            .decode(&buf[at..], &mut sink)
            .map_err(DirectError::Failed)?;
        if full {
            return Ok(false);
        }
        if decoder.is_done() {
            // Bytes past the end of the body were never asked for.
            return Ok(at == buf.len());
        }
        buf.drain(..at);
        at = 0;
        let read = read_more(stream, &mut buf)
            .await
            .map_err(|e| failed("reading the response body failed", &e))?;
        if read == 0 {
            decoder.finish_at_close().map_err(DirectError::Failed)?;
            return Ok(false);
        }
    }
}

/// The `Host` header for `url` (`host[:port]`, as the URL spells it).
fn host_header(url: &Url) -> Result<String, DirectError> {
    let host = url.host_str().unwrap_or_default();
    // Built per request, so without the formatting machinery.
    let mut value = String::with_capacity(host.len() + 6);
    value.push_str(host);
    if let Some(port) = url.port() {
        value.push(':');
        value.push_str(itoa::Buffer::new().format(port));
    }
    if value.is_empty() || value.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(DirectError::Failed(format!("cannot send to {url}")));
    }
    Ok(value)
}

async fn connect(url: &Url, host: String) -> Result<Conn, DirectError> {
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
    Ok(Conn { host, stream })
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
