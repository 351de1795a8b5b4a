//! Remote corpora against a fake ColBERTv2 server: the API DSPy's client
//! speaks, faults (500, a hang past the timeout, a garbage body) retried and
//! counted like model calls, fatal statuses not retried, the key kept out of
//! messages, searches cached in the response cache.

mod colbert_support;

use colbert_support::{Colbert, Fault, passages};
use simba_run::compile::compile_source;
use simba_run::lm::cache::ResponseCache;
use simba_run::lm::retry::Backoff;
use simba_run::retrieve::{Corpora, CorporaOptions, CorpusSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "colbert-key-Zq81Xv-7f3a9c1e5b2d";

fn corpora(url: &str, extra: &str, cache: Option<Arc<ResponseCache>>) -> Corpora {
    let text = format!(
        "corpus remote {{\n  url = \"{url}\"\n  timeout = 300ms\n  retries = 3\n  {extra}\n}}\n"
    );
    let (spec, _) =
        compile_source(Path::new("remote.simba"), &text, &[]).unwrap_or_else(|d| panic!("{d:?}"));
    let options = CorporaOptions {
        index_root: None,
        cache,
        backoff: Backoff {
            base: Duration::from_millis(2),
            max: Duration::from_millis(10),
            max_retry_after: Duration::from_millis(10),
        },
    };
    Corpora::build(&spec, &["remote".to_string()], &options).unwrap()
}

#[tokio::test]
async fn faults_are_retried_and_counted_like_model_calls() {
    let server = Colbert::start(vec![
        Fault::Status(500, "overloaded".into()),
        Fault::Hang(Duration::from_secs(2)),
        Fault::Garbage("<html>502 bad gateway</html>".into()),
    ])
    .await;
    let corpora = corpora(&server.url, "", None);
    let corpus = corpora.corpus("remote").unwrap();
    let found = corpus
        .search("who founded Brightwater Mills?", 2)
        .await
        .unwrap();
    // DSPy's client reads `long_text`; k passages, best first.
    assert_eq!(found, passages("who founded Brightwater Mills?", 2));
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "three faults, then the answer: {seen:?}");
    assert!(
        seen.iter()
            .all(|(q, k)| q == "who founded Brightwater Mills?" && *k == 2)
    );
    let usage = corpora.usage().models["remote"];
    assert_eq!(
        (
            usage.calls,
            usage.requests,
            usage.failed_requests,
            usage.failed_calls
        ),
        (1, 4, 3, 0)
    );
}

#[tokio::test]
async fn a_search_that_keeps_failing_names_the_corpus_and_the_retries() {
    let faults = (0..4).map(|_| Fault::Status(503, "down".into())).collect();
    let server = Colbert::start(faults).await;
    let corpora = corpora(&server.url, "", None);
    let err = corpora
        .corpus("remote")
        .unwrap()
        .search("q", 3)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("corpus `remote`: "), "{msg}");
    assert!(
        msg.contains("HTTP 503") && msg.contains("gave up after 3 retries"),
        "{msg}"
    );
    let usage = corpora.usage().models["remote"];
    assert_eq!((usage.calls, usage.requests, usage.failed_calls), (1, 4, 1));
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_the_key_is_never_shown() {
    let server = Colbert::start(vec![Fault::Status(
        404,
        format!("no index for token {KEY}"),
    )])
    .await;
    let var = "SIMBA_TEST_COLBERT_KEY_404";
    // SAFETY: only this test reads this variable, and it reads it after this line.
    unsafe { std::env::set_var(var, KEY) };
    let corpora = corpora(&server.url, &format!("api_key = env(\"{var}\")"), None);
    let err = corpora
        .corpus("remote")
        .unwrap()
        .search("q", 3)
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), 1, "a 404 is not retried");
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 404") && msg.contains("<redacted>"),
        "{msg}"
    );
    assert!(!msg.contains(&KEY[..12]), "the key leaked: {msg}");
}

#[tokio::test]
async fn a_body_over_the_limit_fails_unretried() {
    let server = Colbert::start(vec![]).await;
    let corpora = corpora(&server.url, "max_response_bytes = 64", None);
    let err = corpora
        .corpus("remote")
        .unwrap()
        .search("a long enough query to pass sixty-four bytes", 5)
        .await
        .unwrap_err();
    assert!(
        err.message.contains("max_response_bytes = 64"),
        "{}",
        err.message
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn searches_are_cached_apart_from_model_answers() {
    let server = Colbert::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(ResponseCache::open(dir.path().to_path_buf()));
    let corpora = corpora(&server.url, "", Some(cache.clone()));
    let corpus = corpora.corpus("remote").unwrap();
    let a = corpus.search("alpha", 2).await.unwrap();
    let b = corpus.search("alpha", 2).await.unwrap();
    let c = corpus.search("alpha", 3).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(c.len(), 3);
    assert_eq!(server.seen().len(), 2, "the repeated search was not sent");
    let usage = corpora.usage().models["remote"];
    assert_eq!((usage.calls, usage.cache_hits, usage.requests), (3, 1, 2));
    cache.flush();
    let stats = simba_run::lm::cache::admin::stats(dir.path()).unwrap();
    let text = format!("{stats:?}");
    assert!(text.contains("colbert"), "{text}");
}

/// examples/multihop with its corpus served by `url`, in a fresh folder.
fn multihop_on(url: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multihop");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
    for f in ["data/train.jsonl", "data/dev.jsonl", "metrics/score.py"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(src.join("multihop.simba")).unwrap();
    let start = spec.find("corpus wiki {").unwrap();
    let end = start + spec[start..].find('}').unwrap() + 1;
    let remote = format!("corpus wiki {{\n  url = \"{url}\"\n  retries = 3\n}}");
    let spec = format!("{}{remote}{}", &spec[..start], &spec[end..]);
    std::fs::write(dir.path().join("multihop.simba"), spec).unwrap();
    dir
}

fn run_json(dir: &Path, out: &str) -> serde_json::Value {
    let o = assert_cmd::Command::cargo_bin("simba-run")
        .unwrap()
        .arg(dir.join("multihop.simba"))
        .args(["--quiet", "--out"])
        .arg(dir.join(out))
        .args(["--set", "multihop.max_steps=1", "--set", "multihop.bsize=4"])
        .env("SIMBA_RETRY_BASE_MS", "1")
        .env("SIMBA_RETRY_MAX_MS", "5")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(dir.join(out).join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_run_counts_its_remote_searches_and_caches_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Colbert::start(vec![
        Fault::Status(500, "overloaded".into()),
        Fault::Garbage("not json".into()),
    ]));
    let dir = multihop_on(&server.url);
    let first = run_json(dir.path(), "a");
    let wiki = &first["search"]["wiki"];
    let n = |k: &str| wiki[k].as_u64().unwrap();
    assert!(n("calls") > 0);
    assert_eq!(n("failed_requests"), 2, "{wiki}");
    assert_eq!(n("failed_calls"), 0, "{wiki}");
    assert_eq!(n("requests"), n("calls") - n("cache_hits") + 2, "{wiki}");
    assert_eq!(server.seen().len() as u64, n("requests"));
    // Same run again: every search is answered by the response cache.
    let second = run_json(dir.path(), "b");
    let wiki = &second["search"]["wiki"];
    assert_eq!(wiki["cache_hits"], wiki["calls"], "{wiki}");
    assert_eq!(wiki["requests"].as_u64(), Some(0));
    assert_eq!(first["best"], second["best"]);
}
