//! A fake ColBERTv2 retrieval server on 127.0.0.1 (`GET /api/search?query=..&k=..`
//! answering `{"topk": [..]}`), which answers the first requests with
//! scripted faults and then with passages built from the query.
#![allow(dead_code)]

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status and body.
    Status(u16, String),
    /// Wait this long before answering normally (past a client's timeout).
    Hang(Duration),
    /// 200 with this body (not a search result).
    Garbage(String),
}

#[derive(Deserialize)]
struct Params {
    query: String,
    k: usize,
}

struct Shared {
    faults: Mutex<Vec<Fault>>,
    seen: Mutex<Vec<(String, usize)>>,
}

/// A running fake server.
pub struct Colbert {
    /// `http://127.0.0.1:PORT/api/search`.
    pub url: String,
    shared: Arc<Shared>,
}

/// The passages the server returns for `query`: `k` of them (at most 5),
/// the `long_text` of each naming the query and its rank.
pub fn passages(query: &str, k: usize) -> Vec<String> {
    (0..k.min(5))
        .map(|i| format!("{query} | passage {i}"))
        .collect()
}

impl Colbert {
    /// Starts a server whose first requests meet `faults`, in order.
    pub async fn start(faults: Vec<Fault>) -> Colbert {
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults.into_iter().rev().collect()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/api/search", get(search))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/search", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Colbert { url, shared }
    }

    /// Every request's query and k, in arrival order.
    pub fn seen(&self) -> Vec<(String, usize)> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn search(State(shared): State<Arc<Shared>>, Query(p): Query<Params>) -> Response {
    shared.seen.lock().unwrap().push((p.query.clone(), p.k));
    let fault = shared.faults.lock().unwrap().pop();
    match fault {
        Some(Fault::Status(code, body)) => {
            return (StatusCode::from_u16(code).unwrap(), body).into_response();
        }
        Some(Fault::Garbage(body)) => {
            return ([(header::CONTENT_TYPE, "text/html")], body).into_response();
        }
        Some(Fault::Hang(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let topk: Vec<_> = passages(&p.query, p.k)
        .into_iter()
        .enumerate()
        .map(|(i, long)| json!({"text": format!("short {i}"), "long_text": long, "score": 10.0 - i as f64, "pid": i}))
        .collect();
    axum::Json(json!({"query": p.query, "topk": topk})).into_response()
}
