//! The direct client (plain `http://` models) against servers that frame
//! their replies every way HTTP/1.1 allows, or close connections under it:
//! raw bytes scripted per request, and a count of connections opened.

mod lm_support;

use lm_support::{ask, read_raw_request};
use simba_run::lm::openai::{ApiKey, OpenAiProvider};
use simba_run::lm::{Lm, LmError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const CONTENT: &str = "[[ ## answer ## ]]\\nok";

fn json_reply() -> String {
    format!(r#"{{"choices":[{{"message":{{"content":"{CONTENT}"}}}}]}}"#)
}

/// One scripted answer: the raw bytes written back, and whether the server
/// closes the connection after writing them.
struct Answer {
    bytes: Vec<u8>,
    close: bool,
}

fn answer(bytes: impl Into<Vec<u8>>, close: bool) -> Answer {
    Answer {
        bytes: bytes.into(),
        close,
    }
}

/// What a scripted server counts.
struct Served {
    url: String,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Requests read in full.
    requests: Arc<AtomicUsize>,
}

/// A server answering its n-th request (over all connections) with
/// `script(n)`.
async fn serve(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(script);
    let count = accepted.clone();
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let (script, requests) = (script.clone(), counted.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                loop {
                    if read_raw_request(&mut read).await.is_none() {
                        return;
                    }
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let Answer { bytes, close } = script(n);
                    if write.write_all(&bytes).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    Served {
        url,
        accepted,
        requests,
    }
}

fn provider(url: &str) -> OpenAiProvider {
    OpenAiProvider::from_parts("m", "gpt-x", &[url.to_string()], None).unwrap()
}

const KEY: &str = "sk-wire-test-9a8b7c6d5e4f";

fn keyed_provider(url: &str) -> OpenAiProvider {
    OpenAiProvider::from_parts("m", "gpt-x", &[url.to_string()], Some(ApiKey::new(KEY))).unwrap()
}

/// The error of one call that must fail.
async fn first_error(provider: &OpenAiProvider) -> LmError {
    ask_n(provider, 1).await.remove(0).unwrap_err()
}

async fn ask_n(provider: &OpenAiProvider, n: usize) -> Vec<Result<String, LmError>> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            provider
                .complete(&ask("m", &format!("q{i}")))
                .await
                .map(|r| r.text),
        );
    }
    out
}

fn with_length(head: &str, body: &str) -> String {
    format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len())
}

fn chunked(body: &str, piece: usize) -> String {
    let mut out = String::from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    for part in body.as_bytes().chunks(piece) {
        out.push_str(&format!("{:x};ext=1\r\n", part.len()));
        out.push_str(std::str::from_utf8(part).unwrap());
        out.push_str("\r\n");
    }
    out.push_str("0\r\nx-trailer: 1\r\n\r\n");
    out
}

#[tokio::test]
async fn chunked_replies_are_read_and_the_connection_kept() {
    let served = serve(|_| answer(chunked(&json_reply(), 7), false)).await;
    for text in ask_n(&provider(&served.url), 3).await {
        assert_eq!(text.unwrap(), "[[ ## answer ## ]]\nok");
    }
    assert_eq!(
        served.accepted.load(Ordering::SeqCst),
        1,
        "one kept-alive connection"
    );
}

#[tokio::test]
async fn interim_heads_are_skipped() {
    let served = serve(|_| {
        let mut bytes = "HTTP/1.1 100 Continue\r\n\r\n".to_string();
        bytes.push_str(&with_length("HTTP/1.1 200 OK", &json_reply()));
        answer(bytes, false)
    })
    .await;
    assert_eq!(
        ask_n(&provider(&served.url), 1).await[0]
            .as_deref()
            .unwrap(),
        "[[ ## answer ## ]]\nok"
    );
}

#[tokio::test]
async fn a_connection_closed_after_each_reply_is_replaced_not_failed() {
    // The server closes every connection after its reply without saying so
    // (no `Connection: close`): each pooled connection is found closed and
    // a new one opened, with no failed call.
    let served = serve(|_| answer(with_length("HTTP/1.1 200 OK", &json_reply()), true)).await;
    let provider = provider(&served.url);
    for _ in 0..3 {
        // Time for the close to arrive, as between real calls.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(ask_n(&provider, 1).await[0].is_ok());
    }
    assert_eq!(served.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_the_server_took_is_not_sent_again_by_the_client() {
    // Request 1 (the second) reaches the kept connection and is read whole;
    // the server then closes without a byte. It may have done the work: the
    // call fails (the model's `retries` decide about another try, and count
    // it) instead of the client quietly sending it again.
    let served = serve(|n| match n {
        1 => answer(Vec::new(), true),
        _ => answer(with_length("HTTP/1.1 200 OK", &json_reply()), false),
    })
    .await;
    let results = ask_n(&provider(&served.url), 2).await;
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("closed the connection without answering"),
        "{err}"
    );
    assert_eq!(served.requests.load(Ordering::SeqCst), 2, "sent once each");
}

#[tokio::test]
async fn only_redirect_statuses_are_followed_and_other_hosts_are_not_named() {
    // A 304 or 300 with a Location is an answer, not a redirect.
    for status in ["304 Not Modified", "300 Multiple Choices"] {
        let served = serve(move |_| {
            answer(
                format!("HTTP/1.1 {status}\r\nlocation: /v1/next\r\ncontent-length: 0\r\n\r\n"),
                false,
            )
        })
        .await;
        let err = first_error(&provider(&served.url)).await;
        assert!(err.to_string().contains(&status[..3]), "{err}");
        assert_eq!(
            served.requests.load(Ordering::SeqCst),
            1,
            "{status}: not followed"
        );
    }
    // A host that spells the key (upper-cased: URLs lowercase hosts, past
    // the redactor's reach) is not repeated in the error.
    let served = serve(|_| {
        let to = format!("http://{}.evil.test/x", KEY.to_uppercase());
        answer(
            format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n"),
            false,
        )
    })
    .await;
    let err = first_error(&keyed_provider(&served.url)).await;
    let text = err.to_string().to_lowercase();
    assert!(!text.contains(&KEY[3..15]), "{text}");
    assert!(text.contains("another host"), "{text}");
}

#[tokio::test]
async fn connection_close_and_http10_replies_are_not_reused() {
    let served = serve(|n| {
        let reply = json_reply();
        let bytes = if n % 2 == 0 {
            format!(
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            )
        } else {
            // HTTP/1.0 with no length: the body runs to the close.
            format!("HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{reply}")
        };
        answer(bytes, true)
    })
    .await;
    for text in ask_n(&provider(&served.url), 4).await {
        assert_eq!(text.unwrap(), "[[ ## answer ## ]]\nok");
    }
    assert_eq!(served.accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn broken_framing_fails_the_call_with_the_reason() {
    let reply = json_reply();
    let cases = [
        (
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{}",
                reply.len() + 10,
                reply
            ),
            "10 bytes before the end of the body",
        ),
        (
            format!("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n{reply}"),
            "conflicting Content-Length",
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_string(),
            "invalid chunk size",
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabc".to_string(),
            "before the last chunk",
        ),
        (
            "HTTP/1.1 2000 OK\r\n\r\n".to_string(),
            "malformed response head",
        ),
    ];
    for (bytes, reason) in cases {
        let served = serve(move |_| answer(bytes.clone(), true)).await;
        let err = first_error(&provider(&served.url)).await;
        assert!(err.to_string().contains(reason), "{reason}: {err}");
    }
}

#[tokio::test]
async fn bytes_after_the_body_retire_the_connection() {
    // A reply followed by bytes nobody asked for: the connection is not
    // reused (they would be read as the next reply).
    let served = serve(|_| {
        let mut bytes = with_length("HTTP/1.1 200 OK", &json_reply());
        bytes.push_str("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        answer(bytes, false)
    })
    .await;
    for text in ask_n(&provider(&served.url), 2).await {
        assert_eq!(text.unwrap(), "[[ ## answer ## ]]\nok");
    }
    assert_eq!(served.accepted.load(Ordering::SeqCst), 2);
}
