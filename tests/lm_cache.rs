//! The response cache, through the registry and directly.

mod lm_support;

use lm_support::{Act, Server, ask, decl, fast_backoff};
use simba_run::lm::cache::{CacheKey, CacheScope, DB_FILE, ResponseCache, admin};
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

/// The entries stored in the cache folder `dir`, after `models` committed
/// what it has queued.
fn entries(models: &Models, dir: &Path) -> u64 {
    models.cache().unwrap().flush();
    admin::stats(dir).unwrap().entries()
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
    assert_eq!(entries(&models, dir.path()), 1);

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
    assert_eq!(entries(&models, dir.path()), 0);
    let ok = lm.complete(&ask("fast", "q")).await.unwrap();
    assert!(!ok.cached);
    assert_eq!(server.count(), 2);
    assert_eq!(entries(&models, dir.path()), 1);
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
async fn a_damaged_database_sends_every_call_and_warns_once() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DB_FILE),
        b"\0\0garbage, not SQLite".repeat(100),
    )
    .unwrap();
    let models = registry(&server, Some(dir.path().to_path_buf()));
    let lm = models.lm("fast").unwrap();
    for _ in 0..3 {
        assert!(!lm.complete(&ask("fast", "q")).await.unwrap().cached);
    }
    assert_eq!(server.count(), 3);
    let cache = models.cache().unwrap();
    cache.flush();
    let warnings = cache.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("is damaged"), "{}", warnings[0]);
}

#[test]
fn concurrent_writers_of_one_key_never_leave_a_broken_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(dir.path());
    let scope = Arc::new(CacheScope {
        provider: "openai".into(),
        model_id: "m".into(),
    });
    let key = CacheKey::of(&scope, &ask("fast", "q"));
    // Long texts make a torn write likely to show if writes were not atomic.
    let text_of = |writer: usize| format!("{writer}:{}", "x".repeat(64_000));
    std::thread::scope(|s| {
        for writer in 0..8 {
            let (cache, scope) = (&cache, &scope);
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
                    cache.put(key, scope, &response);
                }
            });
        }
        for _ in 0..4 {
            let cache = &cache;
            s.spawn(move || {
                for _ in 0..200 {
                    // Either no entry yet or one writer's whole entry.
                    if let Some(hit) = cache.get(&key) {
                        let writer: usize = hit.text.split(':').next().unwrap().parse().unwrap();
                        assert_eq!(hit.text, text_of(writer));
                        assert_eq!(hit.usage.prompt_tokens, writer as u64);
                    }
                }
            });
        }
    });
    cache.flush();
    // One writer's answer was stored and stays: the same from the database.
    let hit = cache.get(&key).unwrap();
    assert!(hit.cached);
    drop(cache);
    let reopened = ResponseCache::open(dir.path());
    let stored = reopened.get(&key).unwrap();
    let writer: usize = stored.text.split(':').next().unwrap().parse().unwrap();
    assert_eq!(stored.text, text_of(writer));
    assert_eq!(stored.usage.prompt_tokens, writer as u64);
    drop(reopened);
    assert_eq!(admin::stats(dir.path()).unwrap().entries(), 1);
    // Only the database is left: no temp files, the log checkpointed away.
    let names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names, vec![dir.path().join(DB_FILE)]);
}
