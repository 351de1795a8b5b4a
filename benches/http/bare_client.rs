//! The floor under `benches/http_run.sh`: the least a client can spend to
//! send the bench's requests to the instant server, with none of
//! simba-run's work (no prompt formatting, cache, parsing, metric or
//! optimizer).
//!
//!     bare_client BASE_URL TRAIN_JSONL REQUESTS CONCURRENCY
//!
//! It sends REQUESTS chat completions, each the baseline prompt of the
//! bench's program for one training question (so the server does the same
//! work; bodies average about 810 bytes against the run's 1,130, whose
//! later prompts carry demos), over CONCURRENCY keep-alive
//! connections driven by one thread, as simba-run drives its own. A reply
//! must be a 200 with a body; anything else fails the run (exit 1).
//!
//! Wall and CPU time are taken from outside (`measure.py`): what this
//! process costs is the machine's price for the HTTP exchanges alone
//! (loopback TCP, wake-ups, the server sharing the two cores), which no
//! client can go under.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bench program's system message (the adapter's layout for the
/// `Answer` signature of `benches/http/http.simba`).
const SYSTEM: &str = "Your input fields are:\n1. `question` (string): a question\n\n\
Your output fields are:\n1. `answer` (string): a name, often between 1 and 4 words\n\n\
Every exchange follows this structure, with the values filled in:\n\n\
[[ ## question ## ]]\n{question}\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]\n\n\
In following this structure, your task is:\nAnswer the question with a short factoid.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, train, requests, concurrency] = args.as_slice() else {
        eprintln!("usage: bare_client BASE_URL TRAIN_JSONL REQUESTS CONCURRENCY");
        std::process::exit(2);
    };
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .expect("a base URL like http://127.0.0.1:PORT/v1")
        .to_string();
    let requests: usize = requests.parse().expect("REQUESTS");
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY");
    let questions = questions(train);
    // Every request is built before the clock matters as little as it can:
    // the floor is the exchanges, not the formatting.
    let wires: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..requests)
            .map(|i| wire(&authority, &questions[i % questions.len()], i as u64))
            .collect(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let next = Arc::new(AtomicUsize::new(0));
    let result = runtime.block_on(async {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| tokio::spawn(worker(authority.clone(), wires.clone(), next.clone())))
            .collect();
        for worker in workers {
            worker.await.expect("a worker")?;
        }
        Ok::<(), String>(())
    });
    if let Err(message) = result {
        eprintln!("bare_client: {message}");
        std::process::exit(1);
    }
}

/// The questions of the training file, in order.
fn questions(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("TRAIN_JSONL");
    let questions: Vec<String> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
            row["question"].as_str().expect("a question").to_string()
        })
        .collect();
    assert!(!questions.is_empty(), "no rows in {path}");
    questions
}

/// One whole HTTP/1.1 request: head and JSON body.
fn wire(authority: &str, question: &str, seed: u64) -> Vec<u8> {
    let user = format!(
        "[[ ## question ## ]]\n{question}\n\nReply with the fields `[[ ## answer ## ]]`, \
         and end with `[[ ## completed ## ]]`."
    );
    let body = serde_json::json!({
        "model": "bench-model",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
        ],
        "temperature": 1.0,
        "seed": seed,
    })
    .to_string();
    let mut wire = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {authority}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(body.as_bytes());
    wire
}

/// Sends requests on one connection until none are left.
async fn worker(
    authority: String,
    wires: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
) -> Result<(), String> {
    let mut connection: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(8192);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(wire) = wires.get(i) else {
            return Ok(());
        };
        let stream = match connection.as_mut() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&authority)
                    .await
                    .map_err(|e| format!("connect {authority}: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                connection.insert(stream)
            }
        };
        stream.write_all(wire).await.map_err(|e| e.to_string())?;
        buffer.clear();
        read_reply(stream, &mut buffer)
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
    }
}

/// Reads one reply into `buffer`; fails unless it is a 200 with a body.
async fn read_reply(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    loop {
        if stream.read_buf(buffer).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection".into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = head.parse(buffer).map_err(|e| e.to_string())?
        else {
            continue;
        };
        if head.code != Some(200) {
            return Err(format!("status {:?}", head.code));
        }
        let length: usize = head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .ok_or("no content-length")?;
        if length == 0 {
            return Err("an empty body".into());
        }
        if buffer.len() >= head_len + length {
            return Ok(());
        }
    }
}
