//! An instant OpenAI-compatible server for `benches/http_run.sh`: every
//! `/v1/chat/completions` request is answered by the `sim` model of a spec,
//! so replies are the ones `provider = "sim"` gives (SIMBA behaves as on the
//! sim model) and cost microseconds, leaving the client's own costs to be
//! measured.
//!
//!     instant_openai ORACLE_SPEC MODEL_ITEM [MAX_SECONDS]
//!
//! Prints its base URL (`http://127.0.0.1:PORT/v1`) as the first line on
//! stdout, then serves until it is killed or MAX_SECONDS (default 900) have
//! passed, whichever comes first.
//!
//! HTTP/1.1 is spoken by hand, one thread, keep-alive always, bodies by
//! `content-length` only: just what an OpenAI client sends. It shares the
//! machine's two cores with the client it measures, and through axum and
//! hyper it took about 80 µs of CPU per request, more than the client's
//! whole budget.

#[path = "../../tests/sim_openai/mod.rs"]
mod sim_openai;

use serde_json::Value;
use simba_run::lm::{Lm, ModelSet, ModelsOptions};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The model that answers, and its spec item name.
struct Oracle {
    lm: std::sync::Arc<dyn Lm>,
    item: String,
}

/// The largest request head or body read (a bench prompt is a few KB).
const MAX_REQUEST_BYTES: usize = 16 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(spec), Some(item)) = (args.first(), args.get(1)) else {
        eprintln!("usage: instant_openai ORACLE_SPEC MODEL_ITEM [MAX_SECONDS]");
        std::process::exit(2);
    };
    let max_seconds: u64 = args.get(2).map_or(900, |s| s.parse().expect("MAX_SECONDS"));
    let oracle = Rc::new(load(&PathBuf::from(spec), item));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("http://{}/v1", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors, most likely: retrying at
                    // once would spin a core until a connection closes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::task::spawn_local(serve(stream, oracle.clone()));
            }
        };
        // Bounded in time: a bench that forgets it does not leave it running.
        let _ = tokio::time::timeout(Duration::from_secs(max_seconds), accept).await;
    });
}

/// The spec's `item` model with its oracle data, uncached.
fn load(spec: &std::path::Path, item: &str) -> Oracle {
    let loaded = simba_run::compile::load_spec(spec, &[], None).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let oracles = simba_run::optimize::runtime::oracles(&loaded.spec).expect("the oracle data");
    let models =
        simba_run::models::from_spec(&loaded.spec, &oracles, ModelsOptions { cache_dir: None })
            .expect("the models");
    let lm = models
        .lm(item)
        .unwrap_or_else(|| panic!("no model `{item}` in {}", spec.display()));
    Oracle {
        lm,
        item: item.to_string(),
    }
}

/// Answers the requests of one connection in order until the client
/// closes it or sends something this server does not read.
async fn serve(mut stream: TcpStream, oracle: Rc<Oracle>) {
    let mut buffer: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut reply: Vec<u8> = Vec::with_capacity(4 << 10);
    loop {
        let Some((head_len, path_ok, length)) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        while buffer.len() < head_len + length {
            match stream.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let (status, body) = if path_ok {
            answer(&oracle, &buffer[head_len..head_len + length]).await
        } else {
            ("404 Not Found", b"no such route\n".to_vec())
        };
        reply.clear();
        let kind = if status.starts_with("200") {
            "application/json"
        } else {
            "text/plain"
        };
        write!(
            reply,
            "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .expect("a write into a Vec");
        reply.extend_from_slice(&body);
        if stream.write_all(&reply).await.is_err() {
            return;
        }
        buffer.drain(..head_len + length);
    }
}

/// Reads until `buffer` starts with a whole request head; returns its
/// length, whether it is a POST to the chat route, and the body's length.
/// `None` when the connection ends or the request is not one read here.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(usize, bool, usize)> {
    loop {
        if !buffer.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(head_len) = request.parse(buffer).ok()? {
                let path_ok =
                    request.method == Some("POST") && request.path == Some("/v1/chat/completions");
                // No content-length: no body (a GET); one that does not
                // read as a number ends the connection.
                let length: usize = match request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                {
                    Some(h) => std::str::from_utf8(h.value).ok()?.trim().parse().ok()?,
                    None => 0,
                };
                return (length <= MAX_REQUEST_BYTES).then_some((head_len, path_ok, length));
            }
            if buffer.len() > MAX_REQUEST_BYTES {
                return None;
            }
        }
        match stream.read_buf(buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The status line's status and the body for one request body.
async fn answer(oracle: &Oracle, body: &[u8]) -> (&'static str, Vec<u8>) {
    let body: Value = match serde_json::from_slice(body) {
        Ok(body) => body,
        Err(e) => return ("400 Bad Request", e.to_string().into_bytes()),
    };
    let request = match sim_openai::request_from_body(&body, &oracle.item) {
        Ok(request) => request,
        Err(e) => return ("400 Bad Request", e.into_bytes()),
    };
    match oracle.lm.complete(&request).await {
        Ok(reply) => {
            let completion = sim_openai::completion_body(&body, &reply.text, &reply.usage);
            (
                "200 OK",
                serde_json::to_vec(&completion).expect("a JSON value"),
            )
        }
        Err(e) => ("500 Internal Server Error", e.to_string().into_bytes()),
    }
}
