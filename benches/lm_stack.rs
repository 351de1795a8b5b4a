//! CPU cost of the LM layer stack around a provider that answers instantly:
//! the overhead every predictor call pays outside the network.

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use indexmap::IndexMap;
use simba_run::ir::{ModelDecl, Provider};
use simba_run::lm::cache::{CacheKey, CacheScope};
use simba_run::lm::{
    Lm, LmError, Message, ModelSet, Models, ModelsOptions, Request, Response, ResponseFormat, Usage,
};
use std::hint::black_box;
use std::sync::Arc;

struct Instant;

#[async_trait]
impl Lm for Instant {
    async fn complete(&self, _request: &Request) -> Result<Response, LmError> {
        Ok(Response {
            text: "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".into(),
            usage: Usage {
                prompt_tokens: 300,
                completion_tokens: 12,
            },
            cached: false,
        })
    }
}

fn decl() -> ModelDecl {
    ModelDecl {
        model: "gpt-4o-mini".into(),
        max_tokens: Some(512),
        ..ModelDecl::new("fast", Provider::OpenAi)
    }
}

/// A request the size of a predictor call with four demos.
fn request() -> Request {
    let mut messages = vec![Message::system(
        "Your input fields are:\n1. `question` (str)\nYour output fields are:\n1. `answer` (str)\n"
            .repeat(6),
    )];
    for i in 0..4 {
        messages.push(Message::user(format!(
            "[[ ## question ## ]]\nWhat is the capital of country number {i}?"
        )));
        messages.push(Message::assistant(format!(
            "[[ ## answer ## ]]\nCity {i}\n\n[[ ## completed ## ]]"
        )));
    }
    messages.push(Message::user(
        "[[ ## question ## ]]\nWhat is the capital of France?",
    ));
    Request {
        model: "fast".into(),
        messages,
        temperature: 0.7,
        max_tokens: Some(512),
        seed: None,
        rollout_id: Some(3),
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let req = request();

    let mut models = Models::new(ModelsOptions { cache_dir: None });
    models.insert(&decl(), Arc::new(Instant));
    let lm = models.lm("fast").unwrap();
    c.bench_function("lm/stack_without_cache", |b| {
        b.iter(|| rt.block_on(lm.complete(black_box(&req))).unwrap())
    });

    let scope = CacheScope {
        provider: "openai".into(),
        model_id: "gpt-4o-mini".into(),
    };
    c.bench_function("lm/cache_key", |b| {
        b.iter(|| CacheKey::of(black_box(&scope), black_box(&req)))
    });

    let dir = tempfile::tempdir().unwrap();
    let mut cached = Models::new(ModelsOptions {
        cache_dir: Some(dir.path().to_path_buf()),
    });
    cached.insert(&decl(), Arc::new(Instant));
    let lm = cached.lm("fast").unwrap();
    rt.block_on(lm.complete(&req)).unwrap();
    c.bench_function("lm/stack_cache_hit", |b| {
        b.iter(|| {
            let r = rt.block_on(lm.complete(black_box(&req))).unwrap();
            assert!(r.cached);
        })
    });

    // A miss: key, lookup, the provider, and the answer handed to the writer.
    let mut fresh = req.clone();
    let mut rollout = 1_000_000;
    c.bench_function("lm/stack_cache_miss_store", |b| {
        b.iter(|| {
            rollout += 1;
            fresh.rollout_id = Some(rollout);
            let r = rt.block_on(lm.complete(black_box(&fresh))).unwrap();
            assert!(!r.cached);
        })
    });
    // What the writer still has queued is committed here, not in the loop.
    cached.cache().unwrap().flush();
}

criterion_group!(benches, bench);
criterion_main!(benches);
