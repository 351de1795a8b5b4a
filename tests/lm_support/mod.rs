//! A scriptable OpenAI-compatible server on 127.0.0.1, and model helpers,
//! shared by the `lm_*` integration tests.
#![allow(dead_code)]

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use indexmap::IndexMap;
use serde_json::{Value, json};
use simba_run::ir::{ModelDecl, Provider, Setting};
use simba_run::lm::retry::Backoff;
use simba_run::lm::{Message, Request, ResponseFormat};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Act {
    /// 200 with this completion text.
    Reply(String),
    /// This status, an optional Retry-After header, and this body.
    Status(u16, Option<String>, String),
    /// Wait this long, then answer 200 (the client has usually given up).
    Hang(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    pub authorization: Option<String>,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<Act>>,
    /// Requests being handled right now, and the most at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Delay added to every default reply (to observe concurrency).
    delay_ms: AtomicUsize,
    /// The client addresses requests came from: one per connection.
    peers: Mutex<HashSet<SocketAddr>>,
}

/// A running test server.
pub struct Server {
    /// The base URL to put in a model (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
}

/// Tokens the server reports for every successful reply.
pub const PROMPT_TOKENS: u64 = 11;
pub const COMPLETION_TOKENS: u64 = 4;

impl Server {
    pub async fn start() -> Server {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            shared,
        }
    }

    /// Queues what the next requests get; after the script, requests get
    /// the default reply (`reply to: <last user message>`).
    pub fn script(&self, acts: impl IntoIterator<Item = Act>) {
        self.shared.script.lock().unwrap().extend(acts);
    }

    /// Delays every default reply by `ms`.
    pub fn set_delay_ms(&self, ms: usize) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many requests reached the server.
    pub fn count(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many connections the requests came over.
    pub fn connections(&self) -> usize {
        self.shared.peers.lock().unwrap().len()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    shared.peers.lock().unwrap().insert(peer);
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = answer(&shared, headers, body).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer(shared: &Shared, headers: HeaderMap, body: Value) -> Response {
    let authorization = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let last_user = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    shared.seen.lock().unwrap().push(Seen {
        body,
        authorization,
        at: Instant::now(),
    });
    let act = shared.script.lock().unwrap().pop_front();
    match act {
        Some(Act::Reply(text)) => completion(&text),
        Some(Act::Status(code, retry_after, body)) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", value.parse().unwrap());
            }
            response
        }
        Some(Act::Hang(d)) => {
            tokio::time::sleep(d).await;
            completion("too late")
        }
        Some(Act::Garbage) => (StatusCode::OK, "<html>not json</html>").into_response(),
        None => {
            let delay = shared.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            completion(&format!("reply to: {last_user}"))
        }
    }
}

fn completion(text: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
    }))
    .into_response()
}

/// A base URL where nothing listens (a port bound then released).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// An `openai` model item with the spec defaults, on the given base URLs.
pub fn decl(name: &str, base_urls: &[&str]) -> ModelDecl {
    ModelDecl {
        model: format!("{name}-id"),
        base_urls: base_urls
            .iter()
            .map(|u| Setting::Literal(u.to_string()))
            .collect(),
        ..ModelDecl::new(name, Provider::OpenAi)
    }
}

/// Backoff short enough for tests.
pub fn fast_backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(4),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A one-message request to model item `model`.
pub fn ask(model: &str, question: &str) -> Request {
    Request {
        model: model.into(),
        messages: vec![Message::system("be brief"), Message::user(question)],
        temperature: 0.0,
        max_tokens: None,
        seed: None,
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    }
}

/// Reads one HTTP/1.1 request from a raw connection: its head (request
/// line and headers, without the blank line) and, by its Content-Length,
/// its body, which is skipped. `None` once the client closed.
pub async fn read_raw_request<R>(read: &mut R) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.unwrap();
    Some(head)
}
