//! The `openai` provider and its layers against a local test server.

mod lm_support;

use indexmap::IndexMap;
use lm_support::{
    Act, COMPLETION_TOKENS, PROMPT_TOKENS, Server, ask, decl, fast_backoff, refused_url,
};
use serde_json::json;
use simba_run::ir::{ModelDecl, Setting};
use simba_run::lm::gate::Gate;
use simba_run::lm::openai::OpenAiProvider;
use simba_run::lm::{
    LmError, Message, ModelSet, ModelUsage, Models, ModelsOptions, Request, ResponseFormat,
    UsageBook,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A registry holding one openai model, no cache, tiny backoff.
fn registry(decl: &ModelDecl) -> Models {
    let mut models = Models::new(ModelsOptions { cache_dir: None });
    models.set_backoff(fast_backoff());
    models.insert(decl, Arc::new(OpenAiProvider::new(decl).unwrap()));
    models
}

#[tokio::test(flavor = "current_thread")]
async fn requests_reuse_kept_alive_connections() {
    let server = Server::start().await;
    server.set_delay_ms(5);
    let mut d = decl("fast", &[&server.base_url]);
    d.concurrency = 3;
    let models = registry(&d);
    let lm = models.lm("fast").unwrap();
    for wave in 0..3 {
        let calls = (0..12).map(|i| {
            let lm = lm.clone();
            async move { lm.complete(&ask("fast", &format!("q{wave}.{i}"))).await }
        });
        for reply in futures::future::join_all(calls).await {
            reply.unwrap();
        }
    }
    assert_eq!(server.count(), 36);
    assert_eq!(server.max_in_flight(), 3);
    // 36 requests, at most 3 at a time, over a handful of connections
    // (HTTP/1.1 keep-alive): not one connection per request. (A request
    // may start just before a finished one's connection is back in the
    // pool, so the bound is loose.)
    let connections = server.connections();
    eprintln!("36 requests over {connections} connections");
    assert!((1..=6).contains(&connections), "{connections} connections");
}

#[tokio::test]
async fn sends_the_exact_body() {
    let server = Server::start().await;
    let mut d = decl("fast", &[&server.base_url]);
    d.model = "gpt-4o-mini".into();
    d.max_tokens = Some(64);
    d.params.insert("top_p".into(), json!(0.9));
    d.params.insert("stop".into(), json!(["\n\n"]));
    let models = registry(&d);
    let lm = models.lm("fast").unwrap();

    let mut request = models.template("fast").unwrap();
    request.messages = vec![
        Message::system("sys"),
        Message::user("q?"),
        Message::assistant("a"),
        Message::user("q2?"),
    ];
    request.temperature = 0.7;
    request.seed = Some(7);
    request.rollout_id = Some(3);
    request.response_format = ResponseFormat::JsonObject;
    let response = lm.complete(&request).await.unwrap();
    assert_eq!(response.text, "reply to: q2?");
    assert_eq!(response.usage.prompt_tokens, PROMPT_TOKENS);
    assert_eq!(response.usage.completion_tokens, COMPLETION_TOKENS);
    assert!(!response.cached);

    // Only what is set is sent: no max_tokens, seed or response_format.
    let mut plain = models.template("fast").unwrap();
    plain.max_tokens = None;
    plain.params.clear();
    plain.messages = vec![Message::user("hi")];
    lm.complete(&plain).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q?"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q2?"}
            ],
            "temperature": 0.7,
            "max_tokens": 64,
            "seed": 7,
            "response_format": {"type": "json_object"},
            "top_p": 0.9,
            "stop": ["\n\n"]
        })
    );
    assert_eq!(
        seen[1].body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.0
        })
    );
    // No api_key declared: no Authorization header.
    assert_eq!(seen[0].authorization, None);
}

#[tokio::test]
async fn sends_the_key_from_the_environment_as_bearer() {
    let server = Server::start().await;
    let var = "SIMBA_TEST_BEARER_KEY_1";
    // SAFETY: the variable name is unique to this test.
    unsafe { std::env::set_var(var, "sk-bearer-test-value") };
    let mut d = decl("fast", &[&server.base_url]);
    d.api_key = Some(Setting::Env {
        var: var.into(),
        default: None,
    });
    let models = registry(&d);
    models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "x"))
        .await
        .unwrap();
    assert_eq!(
        server.seen()[0].authorization.as_deref(),
        Some("Bearer sk-bearer-test-value")
    );
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let server = Server::start().await;
    server.script([Act::Status(429, Some("1".into()), "slow down".into())]);
    let models = registry(&decl("fast", &[&server.base_url]));
    let start = Instant::now();
    let response = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap();
    assert_eq!(response.text, "reply to: q");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    // The backoff alone is a few ms; the server asked for a second.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn retries_server_errors_then_succeeds() {
    let server = Server::start().await;
    server.script([
        Act::Status(500, None, "boom".into()),
        Act::Status(502, None, "bad gateway".into()),
    ]);
    let models = registry(&decl("fast", &[&server.base_url]));
    let response = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap();
    assert_eq!(response.text, "reply to: q");
    assert_eq!(server.count(), 3);
    let usage = models.usage().models["fast"];
    assert_eq!(usage.requests, 3);
    assert_eq!(usage.failed_requests, 2);
    assert_eq!(usage.calls, 1);
    assert_eq!(usage.failed_calls, 0);
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_retried() {
    let server = Server::start().await;
    server.script([Act::Hang(Duration::from_secs(5))]);
    let mut d = decl("fast", &[&server.base_url]);
    d.timeout = Duration::from_millis(300);
    let models = registry(&d);
    let start = Instant::now();
    let response = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap();
    assert_eq!(response.text, "reply to: q");
    assert_eq!(server.count(), 2);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(models.usage().models["fast"].failed_requests, 1);

    // Out of retries, the error says which URL did not answer.
    server.script([
        Act::Hang(Duration::from_secs(5)),
        Act::Hang(Duration::from_secs(5)),
    ]);
    d.retries = 1;
    let models = registry(&d);
    let err = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!(
            "model `fast`: no reply from {}/chat/completions within the timeout of 300ms (gave up after 1 retry)",
            server.base_url
        )
    );
}

#[tokio::test]
async fn exhausted_retries_surface_the_transient_error() {
    let server = Server::start().await;
    server.script((0..10).map(|_| Act::Status(503, None, "overloaded".into())));
    let mut d = decl("fast", &[&server.base_url]);
    d.retries = 2;
    let models = registry(&d);
    let err = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap_err();
    assert_eq!(server.count(), 3);
    assert!(err.is_retryable(), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("model `fast`: "), "{text}");
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("overloaded"), "{text}");
    assert!(
        text.contains(&format!("{}/chat/completions", server.base_url)),
        "{text}"
    );
    assert!(text.contains("gave up after 2 retries"), "{text}");
    let usage = models.usage().models["fast"];
    assert_eq!(
        (usage.requests, usage.failed_requests, usage.failed_calls),
        (3, 3, 1)
    );
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    let url = refused_url();
    let mut d = decl("local", &[&url]);
    d.retries = 1;
    let models = registry(&d);
    let err = models
        .lm("local")
        .unwrap()
        .complete(&ask("local", "q"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LmError::Transient { .. }), "{err:?}");
    assert!(
        text.starts_with("model `local`: cannot connect to "),
        "{text}"
    );
    assert!(text.contains(&format!("{url}/chat/completions")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert_eq!(models.usage().models["local"].requests, 2);
}

#[tokio::test]
async fn a_400_is_fatal_without_retry() {
    let server = Server::start().await;
    server.script([Act::Status(
        400,
        None,
        r#"{"error":{"message":"unknown parameter: top_q"}}"#.into(),
    )]);
    let models = registry(&decl("fast", &[&server.base_url]));
    let err = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap_err();
    assert_eq!(server.count(), 1);
    assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("400"), "{text}");
    assert!(text.contains("unknown parameter: top_q"), "{text}");
}

#[tokio::test]
async fn a_reply_that_is_not_json_is_fatal() {
    let server = Server::start().await;
    server.script([Act::Garbage]);
    let models = registry(&decl("fast", &[&server.base_url]));
    let err = models
        .lm("fast")
        .unwrap()
        .complete(&ask("fast", "q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
    assert!(err.to_string().contains("not JSON"), "{err}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn usage_counts_match_the_servers_count() {
    let server = Server::start().await;
    server.script([
        Act::Status(500, None, String::new()),
        Act::Status(429, Some("0".into()), String::new()),
        Act::Reply("one".into()),
        Act::Status(503, None, String::new()),
        Act::Reply("two".into()),
        Act::Status(400, None, "no".into()),
    ]);
    let models = registry(&decl("fast", &[&server.base_url]));
    let lm = models.lm("fast").unwrap();
    assert_eq!(lm.complete(&ask("fast", "a")).await.unwrap().text, "one");
    assert_eq!(lm.complete(&ask("fast", "b")).await.unwrap().text, "two");
    assert!(lm.complete(&ask("fast", "c")).await.is_err());
    assert_eq!(
        lm.complete(&ask("fast", "d")).await.unwrap().text,
        "reply to: d"
    );
    let snapshot = models.usage();
    let usage = snapshot.models["fast"];
    assert_eq!(usage.requests as usize, server.count());
    assert_eq!(
        usage,
        ModelUsage {
            calls: 4,
            cache_hits: 0,
            failed_calls: 1,
            requests: 7,
            failed_requests: 4,
            prompt_tokens: 3 * PROMPT_TOKENS,
            completion_tokens: 3 * COMPLETION_TOKENS,
        }
    );
    assert_eq!(snapshot.total, usage);
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["models"]["fast"]["requests"], 7);
    assert_eq!(json["total"]["prompt_tokens"], 3 * PROMPT_TOKENS);
}

#[tokio::test]
async fn base_urls_share_the_requests_and_cover_a_dead_one() {
    let a = Server::start().await;
    let b = Server::start().await;
    let models = registry(&decl("fast", &[&a.base_url, &b.base_url]));
    let lm = models.lm("fast").unwrap();
    for i in 0..6 {
        lm.complete(&ask("fast", &format!("{i}"))).await.unwrap();
    }
    assert_eq!((a.count(), b.count()), (3, 3));

    // One URL down: each call that lands there is retried on the other.
    let dead = refused_url();
    let models = registry(&decl("fast", &[&dead, &a.base_url]));
    let lm = models.lm("fast").unwrap();
    for i in 0..4 {
        lm.complete(&ask("fast", &format!("{i}"))).await.unwrap();
    }
    assert_eq!(a.count(), 3 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_capped_per_model() {
    let server = Server::start().await;
    server.set_delay_ms(80);
    let mut d = decl("fast", &[&server.base_url]);
    d.concurrency = 2;
    let models = registry(&d);
    let lm = models.lm("fast").unwrap();
    let calls = (0..8).map(|i| {
        let lm = lm.clone();
        async move { lm.complete(&ask("fast", &format!("{i}"))).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(server.count(), 8);
    assert_eq!(server.max_in_flight(), 2);
}

/// A token budget: refuses once the model has used `limit` tokens.
struct TokenBudget {
    book: UsageBook,
    limit: u64,
}

impl Gate for TokenBudget {
    fn check(&self, request: &Request) -> Result<(), LmError> {
        let used = self.book.model(&request.model).unwrap_or_default();
        if used.total_tokens() < self.limit {
            Ok(())
        } else {
            Err(LmError::Fatal {
                model: request.model.clone(),
                message: format!("token budget of {} spent", self.limit),
            })
        }
    }
}

#[tokio::test]
async fn a_gate_is_asked_before_every_attempt() {
    let server = Server::start().await;
    let d = decl("fast", &[&server.base_url]);
    let mut models = registry(&d);
    let per_reply = PROMPT_TOKENS + COMPLETION_TOKENS;
    models.set_gate(Some(Arc::new(TokenBudget {
        book: models.usage_book(),
        limit: 2 * per_reply,
    })));
    let lm = models.lm("fast").unwrap();
    lm.complete(&ask("fast", "a")).await.unwrap();
    lm.complete(&ask("fast", "b")).await.unwrap();
    let err = lm.complete(&ask("fast", "c")).await.unwrap_err();
    assert_eq!(
        err,
        LmError::Fatal {
            model: "fast".into(),
            message: format!("token budget of {} spent", 2 * per_reply),
        }
    );
    assert_eq!(server.count(), 2);
    let usage = models.usage().models["fast"];
    assert_eq!((usage.calls, usage.requests, usage.failed_calls), (3, 2, 1));

    // Retries are checked too: a 500 then the gate (now refusing) stops it.
    let server = Server::start().await;
    server.script([Act::Status(500, None, String::new())]);
    let d = decl("slow", &[&server.base_url]);
    let mut models = registry(&d);
    let book = models.usage_book();
    struct OneAttempt(UsageBook);
    impl Gate for OneAttempt {
        fn check(&self, request: &Request) -> Result<(), LmError> {
            match self.0.model(&request.model) {
                Some(u) if u.requests >= 1 => Err(LmError::Fatal {
                    model: request.model.clone(),
                    message: "one attempt only".into(),
                }),
                _ => Ok(()),
            }
        }
    }
    models.set_gate(Some(Arc::new(OneAttempt(book))));
    let err = models
        .lm("slow")
        .unwrap()
        .complete(&ask("slow", "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("one attempt only"), "{err}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn template_carries_the_model_settings() {
    let mut d = decl("fast", &["http://127.0.0.1:9/v1"]);
    d.temperature = 0.4;
    d.max_tokens = Some(128);
    d.params.insert("top_p".into(), json!(0.5));
    let models = registry(&d);
    let mut params = IndexMap::new();
    params.insert("top_p".to_string(), json!(0.5));
    assert_eq!(
        models.template("fast").unwrap(),
        Request {
            model: "fast".into(),
            messages: vec![],
            temperature: 0.4,
            max_tokens: Some(128),
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params,
        }
    );
    assert!(models.template("slow").is_none());
    assert!(models.lm("slow").is_none());
}
