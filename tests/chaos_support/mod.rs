//! A faulty OpenAI-compatible server for chaos tests.
//!
//! Each request draws one [`Fault`] from a seeded RNG at the configured
//! rates; a request with no fault is answered correctly by an in-process
//! [`SimModel`], so a SIMBA run against the server can still make progress.
//! The server counts every request it receives and every fault it served,
//! which the tests compare with what the client recorded.

#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::stream;
use indexmap::IndexMap;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simba_run::lm::{Lm, Message, Request, ResponseFormat};
use simba_run::sim::SimModel;

/// One way of answering a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 429 with `Retry-After: 0`.
    RateLimitedRetryAfter,
    /// 429 without `Retry-After`.
    RateLimited,
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// No answer until well past the client's timeout.
    Hang,
    /// Headers and half the body, then the connection is dropped.
    CloseMidBody,
    /// A 200 whose JSON body is cut short (complete HTTP message).
    TruncatedJson,
    /// A valid completion whose content ignores the field format.
    IgnoresFormat,
    /// A correct answer, slowly (below the client's timeout).
    Slow,
    /// 502 whose body echoes the request's `Authorization` header (some
    /// proxies do): the client must not copy the key anywhere.
    EchoesKey,
}

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::RateLimitedRetryAfter,
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Hang,
        Fault::CloseMidBody,
        Fault::TruncatedJson,
        Fault::IgnoresFormat,
        Fault::Slow,
        Fault::EchoesKey,
    ];

    /// True when the client sees a failed request (the others return a
    /// readable completion).
    pub fn fails_request(self) -> bool {
        !matches!(self, Fault::IgnoresFormat | Fault::Slow)
    }
}

/// Fault rates (each a probability per request; their sum at most 1) and
/// delays.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub seed: u64,
    pub rates: Vec<(Fault, f64)>,
    /// How long a hanging request is held.
    pub hang: Duration,
    /// How long a slow answer takes.
    pub slow: Duration,
}

impl ChaosConfig {
    /// `total` spread evenly over every fault.
    pub fn even(seed: u64, total: f64) -> Self {
        let each = total / Fault::ALL.len() as f64;
        Self {
            seed,
            rates: Fault::ALL.iter().map(|f| (*f, each)).collect(),
            hang: Duration::from_secs(2),
            slow: Duration::from_millis(80),
        }
    }
}

/// What the server saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Every request received.
    pub requests: u64,
    /// Requests answered correctly (no fault, or only slowly).
    pub answered: u64,
    /// Faults served, by kind.
    pub faults: IndexMap<String, u64>,
}

impl Tally {
    /// Requests whose fault the client sees as a failed request.
    pub fn failed_requests(&self) -> u64 {
        Fault::ALL
            .iter()
            .filter(|f| f.fails_request())
            .map(|f| self.faults.get(&format!("{f:?}")).copied().unwrap_or(0))
            .sum()
    }
}

struct Inner {
    config: ChaosConfig,
    rng: Mutex<ChaCha8Rng>,
    tally: Mutex<Tally>,
    model: SimModel,
    /// Every Authorization header value seen (the tests check the key went
    /// only where it belongs).
    auth: Mutex<Vec<String>>,
}

/// A running chaos server.
#[derive(Clone)]
pub struct ChaosServer {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
}

impl ChaosServer {
    /// Starts a server on a free port answering with `model` when no fault
    /// is drawn. Runs on the caller's tokio runtime.
    pub async fn start(config: ChaosConfig, model: SimModel) -> ChaosServer {
        let inner = Arc::new(Inner {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)),
            config,
            tally: Mutex::new(Tally::default()),
            model,
            auth: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ChaosServer { inner, base_url }
    }

    pub fn tally(&self) -> Tally {
        self.inner.tally.lock().unwrap().clone()
    }

    pub fn auth_headers(&self) -> Vec<String> {
        self.inner.auth.lock().unwrap().clone()
    }
}

fn draw(inner: &Inner) -> Option<Fault> {
    let x = {
        let mut rng = inner.rng.lock().unwrap();
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut acc = 0.0;
    for (fault, rate) in &inner.config.rates {
        acc += rate;
        if x < acc {
            return Some(*fault);
        }
    }
    None
}

/// The request the client meant, rebuilt from the wire body.
fn request_of(body: &Value) -> Option<Request> {
    let messages: Vec<Message> = serde_json::from_value(body.get("messages")?.clone()).ok()?;
    Some(Request {
        model: body["model"].as_str().unwrap_or("").to_string(),
        messages,
        temperature: body["temperature"].as_f64().unwrap_or(0.0),
        max_tokens: body["max_tokens"].as_u64().map(|v| v as u32),
        seed: body["seed"].as_u64(),
        rollout_id: None,
        response_format: if body.get("response_format") == Some(&json!({"type": "json_object"})) {
            ResponseFormat::JsonObject
        } else {
            ResponseFormat::Text
        },
        params: IndexMap::new(),
    })
}

fn completion(model: &Value, text: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-chaos",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
}

async fn complete(
    State(inner): State<Arc<Inner>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_string());
    if let Some(a) = &auth {
        inner.auth.lock().unwrap().push(a.clone());
    }
    let fault = draw(&inner);
    {
        let mut t = inner.tally.lock().unwrap();
        t.requests += 1;
        match fault {
            Some(f) => *t.faults.entry(format!("{f:?}")).or_default() += 1,
            None => t.answered += 1,
        }
        if fault == Some(Fault::Slow) {
            t.answered += 1;
        }
    }
    let error = |status: StatusCode, msg: &str| {
        (
            status,
            Json(json!({"error": {"message": msg, "type": "chaos"}})),
        )
            .into_response()
    };
    match fault {
        Some(Fault::RateLimitedRetryAfter) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limited");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
            return r;
        }
        Some(Fault::RateLimited) => return error(StatusCode::TOO_MANY_REQUESTS, "slow down"),
        Some(Fault::EchoesKey) => {
            let echoed = format!(
                "bad gateway; you sent Authorization: {}",
                auth.unwrap_or_default()
            );
            return error(StatusCode::BAD_GATEWAY, &echoed);
        }
        Some(Fault::ServerError) => return error(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        Some(Fault::Unavailable) => return error(StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        Some(Fault::Hang) => {
            tokio::time::sleep(inner.config.hang).await;
            return error(StatusCode::GATEWAY_TIMEOUT, "too late");
        }
        Some(Fault::TruncatedJson) => {
            let text = completion(&body["model"], "[[ ## answer ## ]]\nNile", 10, 4).to_string();
            let cut = text.len() / 2;
            return (
                [(header::CONTENT_TYPE, "application/json")],
                text[..cut].to_string(),
            )
                .into_response();
        }
        Some(Fault::IgnoresFormat) => {
            let text = "Sure! I think the answer is probably something like that.";
            return Json(completion(&body["model"], text, 10, 12)).into_response();
        }
        _ => {}
    }
    if fault == Some(Fault::Slow) {
        tokio::time::sleep(inner.config.slow).await;
    }
    let Some(request) = request_of(&body) else {
        return error(StatusCode::BAD_REQUEST, "no messages");
    };
    let reply = match inner.model.complete(&request).await {
        Ok(r) => completion(
            &body["model"],
            &r.text,
            r.usage.prompt_tokens,
            r.usage.completion_tokens,
        ),
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let text = reply.to_string();
    match fault {
        Some(Fault::CloseMidBody) => {
            // Declares the whole length, sends half, then fails the stream:
            // hyper drops the connection and the client sees a broken body.
            let cut = text.len() / 2;
            let first = Bytes::from(text.as_bytes()[..cut].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(first),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "chaos: dropped mid-body",
                )),
            ];
            let mut r = Response::new(Body::from_stream(stream::iter(chunks)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&text.len().to_string()).unwrap(),
            );
            r
        }
        _ => Json(reply).into_response(),
    }
}
