//! The response cache, through the registry and directly.

mod lm_support;

use lm_support::{Act, Server, ask, decl, fast_backoff};
use simba_run::lm::cache::{CacheScope, ResponseCache};
use simba_run::lm::openai::OpenAiProvider;
use simba_run::lm::{ModelSet, Models, ModelsOptions, Response, Usage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn registry(server: &Server, cache_dir: Option<PathBuf>) -> Models {
    let d = decl("fast", &[&server.base_url]);
    let mut models = Models::new(ModelsOptions { cache_dir });
    models.set_backoff(fast_backoff());
    models.insert(&d, Arc::new(OpenAiProvider::new(&d).unwrap()));
    models
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_same_request_twice_is_sent_once() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let models = registry(&server, Some(dir.path().to_path_buf()));
    let lm = models.lm("fast").unwrap();
    let first = lm
        .complete(&ask("fast", "capital of France?"))
        .await
        .unwrap();
    let second = lm
        .complete(&ask("fast", "capital of France?"))
        .await
        .unwrap();
    assert_eq!(server.count(), 1);
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(first.text, second.text);
    assert_eq!(first.usage, second.usage);
    let usage = models.usage().models["fast"];
    assert_eq!((usage.calls, usage.cache_hits, usage.requests), (2, 1, 1));
    assert_eq!(files(dir.path()).len(), 1);

    // A new registry on the same folder (a second run) makes no request.
    let again = registry(&server, Some(dir.path().to_path_buf()));
    let third = again
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "capital of France?"))
        .await
        .unwrap();
    assert!(third.cached);
    assert_eq!(server.count(), 1);
    assert_eq!(again.usage().models["fast"].requests, 0);
}

#[tokio::test]
async fn another_rollout_id_or_temperature_misses() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let models = registry(&server, Some(dir.path().to_path_buf()));
    let lm = models.lm("fast").unwrap();
    let mut request = ask("fast", "q");
    request.rollout_id = Some(1);
    lm.complete(&request).await.unwrap();
    request.rollout_id = Some(2);
    assert!(!lm.complete(&request).await.unwrap().cached);
    request.temperature = 1.0;
    assert!(!lm.complete(&request).await.unwrap().cached);
    assert_eq!(server.count(), 3);
    request.rollout_id = Some(1);
    request.temperature = 0.0;
    assert!(lm.complete(&request).await.unwrap().cached);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let server = Server::start().await;
    server.script([Act::Status(400, None, "bad".into())]);
    let dir = tempfile::tempdir().unwrap();
    let models = registry(&server, Some(dir.path().to_path_buf()));
    let lm = models.lm("fast").unwrap();
    assert!(lm.complete(&ask("fast", "q")).await.is_err());
    assert!(files(dir.path()).is_empty());
    let ok = lm.complete(&ask("fast", "q")).await.unwrap();
    assert!(!ok.cached);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn no_cache_dir_means_every_call_is_sent() {
    let server = Server::start().await;
    let models = registry(&server, None);
    let lm = models.lm("fast").unwrap();
    lm.complete(&ask("fast", "q")).await.unwrap();
    assert!(!lm.complete(&ask("fast", "q")).await.unwrap().cached);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_corrupt_entry_is_a_miss_and_is_rewritten() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let models = registry(&server, Some(dir.path().to_path_buf()));
    let lm = models.lm("fast").unwrap();
    lm.complete(&ask("fast", "q")).await.unwrap();
    let entry = files(dir.path()).pop().unwrap();
    std::fs::write(&entry, b"{\"version\":1,\"key\":").unwrap();
    assert!(!lm.complete(&ask("fast", "q")).await.unwrap().cached);
    assert!(lm.complete(&ask("fast", "q")).await.unwrap().cached);
    assert_eq!(server.count(), 2);
}

#[test]
fn concurrent_writers_of_one_key_never_leave_a_broken_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::new(dir.path());
    let scope = CacheScope {
        provider: "openai".into(),
        model_id: "m".into(),
    };
    let key = ResponseCache::key(&scope, &ask("fast", "q"));
    // Long texts make a torn write likely to show if writes were not atomic.
    let text_of = |writer: usize| format!("{writer}:{}", "x".repeat(64_000));
    std::thread::scope(|s| {
        for writer in 0..8 {
            let cache = &cache;
            let key = &key;
            s.spawn(move || {
                let response = Response {
                    text: text_of(writer),
                    usage: Usage {
                        prompt_tokens: writer as u64,
                        completion_tokens: 1,
                    },
                    cached: false,
                };
                for _ in 0..20 {
                    cache.put(key, &response).unwrap();
                }
            });
        }
        for _ in 0..4 {
            let cache = &cache;
            let key = &key;
            s.spawn(move || {
                for _ in 0..200 {
                    // Either no entry yet or one writer's whole entry.
                    if let Some(hit) = cache.get(key) {
                        let writer: usize = hit.text.split(':').next().unwrap().parse().unwrap();
                        assert_eq!(hit.text, text_of(writer));
                        assert_eq!(hit.usage.prompt_tokens, writer as u64);
                    }
                }
            });
        }
    });
    let hit = cache.get(&key).unwrap();
    assert!(hit.cached);
    // Only the entry is left: no temp files.
    assert_eq!(files(dir.path()), vec![cache.path(&key)]);
}
