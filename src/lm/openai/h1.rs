//! HTTP/1.1 response framing for the direct client ([`super::direct`]):
//! the head, parsed by httparse, and the body's extent (`Content-Length`,
//! chunked, or up to the close), decoded from bytes as they arrive.
//!
//! Pure functions over byte slices, with no I/O: the direct client feeds
//! them what it reads, and the fuzz target `h1_response` feeds them
//! anything. Every length a server states is bounded here before it is
//! trusted: the head ([`MAX_HEAD_BYTES`]), a chunk-size line, the trailers;
//! the body itself is capped by the caller.

use reqwest::StatusCode;

/// The longest response head read (status line and headers, and any
/// `1xx` heads before it).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// More headers than this in one head is refused.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The longest trailer section after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;
/// All chunk extensions of a body together (hyper's bound): without it,
/// 1-byte chunks with long extensions hold a call, and a CPU, until the
/// timeout while the body cap counts only the data.
const MAX_EXTENSIONS: usize = 16 * 1024;
/// Interim (`1xx`) heads before the response: each makes the whole head be
/// parsed again when more arrives, so their number is bounded too.
const MAX_INTERIM: usize = 32;

/// What the head of a response says about it.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    /// `Retry-After`, when readable (visible ASCII).
    pub retry_after: Option<String>,
    /// `Content-Length`, when it frames the body.
    pub content_length: Option<u64>,
    /// `Location`, when readable (visible ASCII).
    pub location: Option<String>,
    pub framing: Framing,
    /// The server lets the connection carry another request afterwards.
    pub keep_alive: bool,
}

/// Where the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (`204`, `304`).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// At the close of the connection (no length given).
    UntilClose,
}

/// Parses the response head at the start of `buf`: `None` while it is
/// incomplete, else the head and the bytes it took. Interim `1xx` heads
/// are skipped (`101`, an upgrade never asked for, is refused).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut at = 0;
    for _ in 0..=MAX_INTERIM {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(&buf[at..]) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(format!(
                    "the response head is longer than {} KiB",
                    MAX_HEAD_BYTES / 1024
                ));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed response head: {e}")),
        };
        let code = response.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| format!("malformed response head: status {code}"))?;
        at += used;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err("the server switched protocols (HTTP 101)".into());
        }
        if status.is_informational() {
            continue;
        }
        let http10 = response.version == Some(0);
        let head = read_headers(status, http10, response.headers)?;
        return Ok(Some((head, at)));
    }
    Err(format!(
        "the server sent more than {MAX_INTERIM} interim (1xx) responses"
    ))
}

fn read_headers(
    status: StatusCode,
    http10: bool,
    headers: &[httparse::Header],
) -> Result<Head, String> {
    let mut length: Option<u64> = None;
    let mut encodings = false;
    let mut chunked = false;
    let mut close = http10;
    let mut retry_after = None;
    let mut location = None;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            for value in list(header.value) {
                let n = parse_length(value)?;
                if length.is_some_and(|seen| seen != n) {
                    return Err("the response has conflicting Content-Length headers".into());
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in list(header.value) {
                encodings = true;
                // Only a final `chunked` frames the body.
                chunked = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in list(header.value) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("retry-after") && retry_after.is_none() {
            retry_after = visible(header.value);
        } else if name.eq_ignore_ascii_case("location") && location.is_none() {
            location = visible(header.value);
        }
    }
    let framing = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Empty
    } else if encodings {
        // A length beside a transfer coding is not to be trusted (a
        // smuggling pattern): the coding frames the body, and the
        // connection is not reused.
        if length.take().is_some() || !chunked {
            close = true;
        }
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => {
                close = true;
                Framing::UntilClose
            }
        }
    };
    Ok(Head {
        status,
        retry_after,
        content_length: length,
        location,
        framing,
        keep_alive: !close,
    })
}

/// The elements of a comma-separated header value, trimmed.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
}

fn parse_length(value: &[u8]) -> Result<u64, String> {
    // The value is not quoted: a hostile server could echo the key there,
    // and this message reaches the terminal and the trial log.
    let bad = || "the response has an invalid Content-Length".to_string();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(bad)
}

/// A header value as text when it is all visible ASCII (or tabs), as
/// `HeaderValue::to_str` reads it.
fn visible(value: &[u8]) -> Option<String> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| String::from_utf8_lossy(value).into_owned())
}

/// Decodes a body as its bytes arrive.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// Chunk-extension bytes seen so far.
    extensions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// So many bytes left of a `Content-Length` body.
    Length(u64),
    /// Before a chunk-size line.
    ChunkSize,
    /// So many bytes left of the current chunk.
    ChunkData(u64),
    /// The line break after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, with the bytes seen so far.
    Trailers(usize),
    /// Everything until the connection closes.
    UntilClose,
    Done,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            extensions: 0,
        }
    }

    /// The whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what it can of `input`, handing body bytes to `sink`, and
    /// returns how many bytes of `input` it took. Fewer than all (and not
    /// done) means the rest is an incomplete line: call again with it and
    /// more. Stops early when `sink` returns `false`.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, String> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                State::Done => return Ok(at),
                State::Length(left) | State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    at += take;
                    let left = left - take as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                    if !sink(&rest[..take]) {
                        return Ok(at);
                    }
                }
                State::UntilClose => {
                    at += rest.len();
                    if rest.is_empty() || !sink(rest) {
                        return Ok(at);
                    }
                }
                State::ChunkSize => {
                    let Some((line, used)) = line(rest, MAX_CHUNK_LINE, "a chunk-size line")?
                    else {
                        return Ok(at);
                    };
                    at += used;
                    let (size, extension) = chunk_size(line)?;
                    self.extensions += extension;
                    if self.extensions > MAX_EXTENSIONS {
                        return Err("the chunk extensions of the response are too long".into());
                    }
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::ChunkSize;
                    }
                    [b'\n', ..] => {
                        at += 1;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(at),
                    _ => return Err("a chunk is longer than its stated size".into()),
                },
                State::Trailers(seen) => {
                    let room = MAX_TRAILERS.saturating_sub(seen);
                    let Some((line, used)) = line(rest, room, "the trailers")? else {
                        return Ok(at);
                    };
                    at += used;
                    self.state = if line.is_empty() {
                        State::Done
                    } else {
                        State::Trailers(seen + used)
                    };
                }
            }
        }
    }

    /// The connection closed: fine only where the body may end there.
    pub fn finish_at_close(&self) -> Result<(), String> {
        match self.state {
            State::Done | State::UntilClose => Ok(()),
            State::Length(left) => Err(format!(
                "the connection closed {left} bytes before the end of the body"
            )),
            _ => Err("the connection closed before the last chunk of the body".into()),
        }
    }
}

/// The line at the start of `input` without its line break (CRLF or LF)
/// and the bytes it took; `None` while no break has arrived. A line longer
/// than `max` is refused.
fn line<'a>(input: &'a [u8], max: usize, what: &str) -> Result<Option<(&'a [u8], usize)>, String> {
    let too_long = || format!("{what} of the response is too long");
    let Some(end) = input.iter().take(max + 2).position(|&b| b == b'\n') else {
        return if input.len() > max + 1 {
            Err(too_long())
        } else {
            Ok(None)
        };
    };
    let line = &input[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > max {
        return Err(too_long());
    }
    Ok(Some((line, end + 1)))
}

/// The size of a chunk-size line (hex digits, then optional extensions),
/// and the length of its extensions.
fn chunk_size(line: &[u8]) -> Result<(u64, usize), String> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = line[digits..].trim_ascii_start();
    // Not quoted, as in `parse_length`.
    let bad = || "the response has an invalid chunk size".to_string();
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(bad());
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| bad())?;
    let size = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
    Ok((size, line.len() - digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        let (head, used) = parse_head(text.as_bytes()).unwrap().unwrap();
        assert_eq!(used, text.len());
        head
    }

    /// Decodes `input` fed in pieces of `step` bytes, as reads deliver it.
    fn decode(framing: Framing, input: &[u8], step: usize) -> Result<(Vec<u8>, bool), String> {
        let mut decoder = BodyDecoder::new(framing);
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for piece in input.chunks(step.max(1)) {
            pending.extend_from_slice(piece);
            let used = decoder.decode(&pending, &mut |b| {
                out.extend_from_slice(b);
                true
            })?;
            pending.drain(..used);
        }
        Ok((out, decoder.is_done()))
    }

    #[test]
    fn a_length_frames_the_body_and_keeps_the_connection() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
        assert_eq!(h.content_length, Some(5));
        assert!(h.keep_alive);
        assert_eq!(
            decode(h.framing, b"hello", 2).unwrap(),
            (b"hello".to_vec(), true)
        );
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn interim_heads_are_skipped_and_101_refused() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n";
        let h = head(text);
        assert_eq!(h.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h.retry_after.as_deref(), Some("7"));
        let err = parse_head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").unwrap_err();
        assert!(err.contains("101"), "{err}");
        let flood = "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        let err = parse_head(flood.as_bytes()).unwrap_err();
        assert!(err.contains("interim"), "{err}");
    }

    #[test]
    fn conflicting_or_invalid_lengths_are_refused() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            assert!(parse_head(text.as_bytes()).is_err(), "{text:?}");
        }
        // The same length repeated is one length.
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn a_transfer_coding_wins_over_a_length_and_ends_the_connection() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(h.content_length, None);
        assert!(!h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
        // No length: the body runs to the close.
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive);
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").framing,
            Framing::Empty
        );
    }

    #[test]
    fn an_endless_head_is_refused() {
        let mut text = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
        text.resize(MAX_HEAD_BYTES + 10, b'a');
        let err = parse_head(&text).unwrap_err();
        assert!(err.contains("longer than 64 KiB"), "{err}");
    }

    #[test]
    fn unreadable_header_values_are_left_out() {
        let h = head("HTTP/1.1 302 Found\r\nLocation: /caf\u{e9}\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.location, None);
        let h = head("HTTP/1.1 302 Found\r\nLocation: /next?x=1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.location.as_deref(), Some("/next?x=1"));
    }

    #[test]
    fn chunks_decode_in_any_pieces() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in [1, 2, 3, 7, body.len()] {
            let (out, done) = decode(Framing::Chunked, body, step).unwrap();
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert!(done);
        }
        // Bare LF line breaks are read too.
        let (out, done) = decode(Framing::Chunked, b"3\nabc\n0\n\n", 1).unwrap();
        assert_eq!((out.as_slice(), done), (&b"abc"[..], true));
    }

    #[test]
    fn bad_chunks_are_refused() {
        for body in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"11111111111111111\r\n",
            b"3 x\r\nabc\r\n",
            b"3\r\nabcd\r\n0\r\n\r\n",
        ] {
            assert!(decode(Framing::Chunked, body, 64).is_err(), "{body:?}");
        }
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert!(decode(Framing::Chunked, &long, 64).is_err());
        // 1-byte chunks, each with a long extension: refused at 16 KiB of
        // extensions, not read until the timeout.
        let mut chunks = Vec::new();
        for _ in 0..10 {
            chunks.extend_from_slice(b"1;");
            chunks.extend(std::iter::repeat_n(b'x', 4000));
            chunks.extend_from_slice(b"\r\na\r\n");
        }
        let err = decode(Framing::Chunked, &chunks, 4096).unwrap_err();
        assert!(err.contains("extensions"), "{err}");
        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < MAX_TRAILERS + 100 {
            trailers.extend_from_slice(b"X-T: 1\r\n");
        }
        assert!(decode(Framing::Chunked, &trailers, 512).is_err());
    }

    #[test]
    fn the_close_ends_only_bodies_that_may_end_there() {
        let mut d = BodyDecoder::new(Framing::Length(10));
        d.decode(b"abc", &mut |_| true).unwrap();
        let err = d.finish_at_close().unwrap_err();
        assert!(err.contains("7 bytes before the end"), "{err}");
        let d = BodyDecoder::new(Framing::Chunked);
        assert!(d.finish_at_close().is_err());
        let mut d = BodyDecoder::new(Framing::UntilClose);
        d.decode(b"abc", &mut |_| true).unwrap();
        assert!(d.finish_at_close().is_ok());
    }

    #[test]
    fn a_full_sink_stops_the_decoder() {
        let mut d = BodyDecoder::new(Framing::Length(10));
        let mut calls = 0;
        let used = d
            .decode(b"abcdefghij", &mut |_| {
                calls += 1;
                false
            })
            .unwrap();
        assert_eq!((used, calls), (10, 1));
        let mut d = BodyDecoder::new(Framing::Chunked);
        let used = d.decode(b"2\r\nab\r\n2\r\ncd\r\n", &mut |_| false).unwrap();
        assert_eq!(used, 5, "stops after the first chunk's data");
    }
}
