//! The two HTTP paths of the `openai` provider (hyper's connection API
//! for plain `http://`, reqwest otherwise) send the same request and keep
//! their connections alive, checked on the raw bytes a server receives.

mod lm_support;

use lm_support::{ask, read_raw_request};
use simba_run::lm::Lm;
use simba_run::lm::openai::{ApiKey, OpenAiProvider};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const KEY: &str = "sk-direct-test-0b5e7c21";
const REPLY: &str = r#"{"choices":[{"message":{"content":"[[ ## answer ## ]]\nok"}}]}"#;

/// A server keeping every request head it reads, and one entry per
/// connection: (connection number, head).
#[derive(Clone, Default)]
struct Heads(Arc<Mutex<Vec<(usize, String)>>>);

async fn start() -> (String, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let heads = Heads::default();
    let kept = heads.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (socket, _) = listener.accept().await.unwrap();
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let Some(head) = read_raw_request(&mut read).await else {
                        return;
                    };
                    kept.0.lock().unwrap().push((n, head));
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{REPLY}",
                        REPLY.len()
                    );
                    write.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (url, heads)
}

/// Header lines of a head, sorted, with the request line first.
fn lines(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = head.lines().map(str::to_string).collect();
    lines[1..].sort();
    lines
}

async fn three_calls(direct: bool) -> (String, Vec<(usize, String)>) {
    let (url, heads) = start().await;
    let provider = OpenAiProvider::from_parts(
        "m",
        "gpt-x",
        std::slice::from_ref(&url),
        Some(ApiKey::new(KEY)),
    )
    .unwrap();
    let provider = if direct {
        provider
    } else {
        provider.without_direct()
    };
    for i in 0..3 {
        let reply = provider
            .complete(&ask("m", &format!("q{i}")))
            .await
            .unwrap();
        assert_eq!(reply.text, "[[ ## answer ## ]]\nok");
    }
    let kept = heads.0.lock().unwrap().clone();
    (url, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_paths_send_the_same_headers_over_one_kept_alive_connection() {
    let (url, direct) = three_calls(true).await;
    let port = url.trim_end_matches("/v1").rsplit(':').next().unwrap();
    assert_eq!(direct.len(), 3);
    assert!(
        direct.iter().all(|(n, _)| *n == 0),
        "one connection: {direct:?}"
    );
    let first = lines(&direct[0].1);
    assert_eq!(first[0], "POST /v1/chat/completions HTTP/1.1");
    for expected in [
        format!("authorization: Bearer {KEY}"),
        "content-type: application/json".to_string(),
        "accept: */*".to_string(),
        format!("host: 127.0.0.1:{port}"),
        format!("user-agent: simba-run/{}", env!("CARGO_PKG_VERSION")),
    ] {
        assert!(first.contains(&expected), "{expected} in {first:?}");
    }
    let (_, through_reqwest) = three_calls(false).await;
    assert_eq!(through_reqwest.len(), 3);
    assert!(through_reqwest.iter().all(|(n, _)| *n == 0));
    let strip_host = |l: &Vec<String>| -> Vec<String> {
        l.iter()
            .filter(|l| !l.starts_with("host:") && !l.starts_with("content-length:"))
            .cloned()
            .collect()
    };
    assert_eq!(
        strip_host(&first),
        strip_host(&lines(&through_reqwest[0].1)),
        "the same request line and headers either way"
    );
}
