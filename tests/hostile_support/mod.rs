//! A hostile OpenAI-compatible server on 127.0.0.1: it echoes the API key,
//! sends terminal escapes, endless bodies and lying `Content-Length`s.
//! Shared by `lm_hostile.rs` (the provider) and `cli_hostile.rs` (the binary).
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The key the tests configure, distinctive enough to grep for.
pub const KEY: &str = "sk-hostile-Zq81Xv-7f3a9c1e5b2d8046";

/// What a terminal must never receive raw from a server: a window-title
/// sequence, a bell and a carriage return.
pub const TERMINAL_ATTACK: &str = "\x1b]0;pwned\x07\r";

/// Every run of 8 bytes of [`KEY`] that `text` holds (a leak if any).
pub fn key_pieces(text: &str) -> Vec<&'static str> {
    (0..=KEY.len() - 8)
        .map(|i| &KEY[i..i + 8])
        .filter(|piece| text.contains(piece))
        .collect()
}

/// The raw terminal control characters in `text`, other than newline and tab.
pub fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect()
}

/// An error body with the key starting `offset` characters in (the cut
/// of an error snippet is at 400) and the terminal attack after it.
pub fn echo_body(offset: usize) -> String {
    format!(
        "{}{KEY}{TERMINAL_ATTACK} and then some more text",
        "e".repeat(offset)
    )
}

/// What the server answers to every request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status and body.
    Status(u16, String),
    /// 200 with a chat completion of this text.
    Completion(String),
    /// 200 with exactly this body.
    Raw(String),
    /// This status and a chunked body that never ends (generated from one
    /// static chunk, so the server allocates nothing per chunk).
    Endless(u16),
    /// 200 announcing a body of this many bytes, then sending one byte and
    /// stalling: a client that waits for the body waits until its timeout.
    Announce(u64),
    /// The adapter's field-marker reply `answer: yes` on even requests and
    /// `answer: no` on odd ones, so a SIMBA run sees varied scores.
    YesNo,
}

struct Shared {
    answer: Answer,
    requests: AtomicUsize,
}

/// A running hostile server.
pub struct Hostile {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts a server that answers every request with `answer`, on the
    /// caller's tokio runtime.
    pub async fn start(answer: Answer) -> Hostile {
        let shared = Arc::new(Shared {
            answer,
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hostile { base_url, shared }
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];

fn completion(text: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    }))
    .into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, Json(_body): Json<Value>) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match &shared.answer {
        Answer::Status(code, body) => (status(*code), body.clone()).into_response(),
        Answer::Completion(text) => completion(text),
        Answer::Raw(body) => {
            ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
        }
        Answer::Endless(code) => {
            let chunks =
                futures::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from_static(&CHUNK)));
            (status(*code), Body::from_stream(chunks)).into_response()
        }
        Answer::Announce(len) => {
            let start =
                futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"{")) });
            let mut r = Response::new(Body::from_stream(start.chain(futures::stream::pending())));
            r.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&len.to_string()).unwrap(),
            );
            r
        }
        Answer::YesNo => {
            let answer = if n % 2 == 0 { "yes" } else { "no" };
            completion(&format!(
                "[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
            ))
        }
    }
}

/// A server that answers every request, on any path, with a 307: from a
/// path under `/hop` to `/next` on itself (a same-origin hop), from any
/// other path to `target`, or to itself when there is none (a foreign
/// server that keeps redirecting to itself). It records each request's
/// `Authorization` header.
pub struct Redirector {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

struct RedirectState {
    origin: String,
    target: Option<String>,
    seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl Redirector {
    /// Starts a redirector sending requests on to `target` (or to itself).
    pub async fn start(target: Option<String>) -> Redirector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = Arc::new(RedirectState {
            origin: url.clone(),
            target,
            seen: seen.clone(),
        });
        let app = Router::new().fallback(redirect).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Redirector { url, seen }
    }

    /// The `Authorization` header of every request that arrived, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }
}

async fn redirect(
    State(state): State<Arc<RedirectState>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("<binary>").to_string());
    state.seen.lock().unwrap().push(auth);
    let location = if uri.path().starts_with("/hop") {
        format!("{}/next{}", state.origin, uri.path())
    } else {
        match &state.target {
            Some(target) => target.clone(),
            None => format!("{}{}?again", state.origin, uri.path()),
        }
    };
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}
