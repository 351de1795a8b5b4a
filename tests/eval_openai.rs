//! `eval` against a local OpenAI-compatible server: the JSON-mode retry,
//! replies that never parse, and the response cache.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simba_run::ir::*;
use simba_run::lm::Message;
use simba_run::project::{EvalOptions, EvalReport, Project, evaluate};

const KEY: &str = "sk-test-secret-4242";

#[derive(Clone, Default)]
struct Server {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    fn count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
    fn bodies_for(&self, question: &str) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.to_string().contains(question))
            .cloned()
            .collect()
    }
}

/// Answers by question: France in the chat format; the planet only in JSON
/// mode (garbage in chat mode); the poison question garbage forever.
async fn complete(State(server): State<Server>, Json(body): Json<Value>) -> Json<Value> {
    server.bodies.lock().unwrap().push(body.clone());
    let messages: Vec<Message> = serde_json::from_value(body["messages"].clone()).unwrap();
    let view = simba_run::adapter::read_prompt(&messages).expect("an adapter prompt");
    let question = view.query_value("question").unwrap_or("").to_string();
    let json_mode = body.get("response_format") == Some(&json!({"type": "json_object"}));
    let text = if question.contains("France") {
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".to_string()
    } else if question.contains("planet") && json_mode {
        json!({"answer": "Jupiter"}).to_string()
    } else {
        "I am not sure what you mean.".to_string()
    };
    Json(json!({
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    }))
}

async fn start() -> (Server, String) {
    let server = Server::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(complete))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (server, url)
}

fn field(name: &str) -> Field {
    Field {
        name: name.into(),
        ty: FieldType::String,
        description: None,
    }
}

fn spec(dir: &Path, base_url: &str) -> Spec {
    std::fs::write(
        dir.join("dev.jsonl"),
        concat!(
            "{\"question\": \"What is the capital of France?\", \"answer\": \"Paris\"}\n",
            "{\"question\": \"Which planet is largest?\", \"answer\": \"Jupiter\"}\n",
            "{\"question\": \"The poison question\", \"answer\": \"none\"}\n",
        ),
    )
    .unwrap();
    let model = ModelDecl {
        model: "test-model".into(),
        base_urls: vec![Setting::Literal(base_url.into())],
        api_key: Some(Setting::Literal(KEY.into())),
        max_tokens: Some(64),
        timeout: Duration::from_secs(10),
        concurrency: 4,
        retries: 0,
        ..ModelDecl::new("fast", Provider::OpenAi)
    };
    let sig = Signature {
        name: "Answer".into(),
        instructions: "Answer the question.".into(),
        inputs: vec![field("question")],
        outputs: vec![field("answer")],
    };
    let graph = ProgramGraph {
        name: "qa".into(),
        lm: "fast".into(),
        inputs: vec![field("question")],
        steps: vec![Step {
            name: "answer".into(),
            module: ModuleKind::Predict,
            signature: sig.clone(),
            lm: "fast".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        }],
        outputs: vec![(
            "answer".into(),
            Source::Step {
                step: "answer".into(),
                field: "answer".into(),
            },
        )],
        deps: vec![vec![]],
        spec_text: String::new(),
    };
    let dataset = DatasetDecl {
        name: "trivia".into(),
        source: DatasetSource::Files(
            [("dev".to_string(), DataFile::Jsonl(dir.join("dev.jsonl")))]
                .into_iter()
                .collect(),
        ),
        inputs: vec!["question".into()],
    };
    let metric = MetricDecl {
        name: "correct".into(),
        expr: MetricExpr::Call(
            Builtin::ExactMatch,
            vec![
                MetricExpr::Ref(Side::Pred, "answer".into()),
                MetricExpr::Ref(Side::Gold, "answer".into()),
            ],
        ),
        feedback: None,
    };
    let dev = DataRef {
        dataset: "trivia".into(),
        split: "dev".into(),
    };
    let block = OptimizeDecl {
        devset: Some(dev.clone()),
        concurrency: 2,
        output: dir.join("out"),
        ..OptimizeDecl::new("qa", dev, "correct", dir)
    };
    Spec {
        path: dir.join("qa.simba"),
        base_dir: dir.to_path_buf(),
        plugins: Default::default(),
        models: [("fast".to_string(), model)].into_iter().collect(),
        signatures: [("Answer".to_string(), sig)].into_iter().collect(),
        programs: [("qa".to_string(), graph)].into_iter().collect(),
        datasets: [("trivia".to_string(), dataset)].into_iter().collect(),
        metrics: [("correct".to_string(), metric)].into_iter().collect(),
        corpora: Default::default(),
        optimizes: vec![block],
    }
}

fn args(no_cache: bool) -> EvalOptions {
    EvalOptions {
        no_cache,
        ..EvalOptions::default()
    }
}

/// Runs the eval of a spec built in code, without progress output.
async fn eval(spec: &simba_run::ir::Spec, options: &EvalOptions) -> EvalReport {
    let project = Project::from_spec(spec.clone());
    evaluate(&project, options, &|_, _, _| {}).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_retry_recovers_and_garbage_fails_without_stopping_the_eval() {
    let (server, url) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &url);
    let report = eval(&spec, &args(true)).await;

    assert_eq!(report.outcomes.len(), 3);
    let scores: Vec<f64> = report.outcomes.iter().map(|o| o.score.value).collect();
    assert_eq!(scores, [1.0, 1.0, 0.0]);
    assert_eq!(report.failed, 1);
    assert!((report.mean - 2.0 / 3.0).abs() < 1e-12);

    // The planet question: a chat request, then the JSON-mode retry.
    let planet = server.bodies_for("planet");
    assert_eq!(planet.len(), 2);
    assert_eq!(planet[0].get("response_format"), None);
    assert_eq!(planet[1]["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        report.outcomes[1].execution.prediction.as_ref().unwrap()["answer"],
        json!("Jupiter")
    );

    // The poison question fails after its retry; the trace keeps the call.
    assert_eq!(server.bodies_for("poison").len(), 2);
    let failed = &report.outcomes[2].execution;
    assert_eq!(failed.prediction, None);
    let err = failed.error.as_deref().unwrap();
    assert!(
        err.starts_with("step `answer` (model `fast`): the reply did not parse"),
        "{err}"
    );
    assert_eq!(failed.trace.len(), 1);
    assert!(failed.trace[0].outputs.is_empty());

    assert_eq!(report.usage.calls, 5);
    assert_eq!(report.usage.requests, 5);
    assert_eq!(server.count(), 5);
    let summary = report.summary();
    assert!(summary.contains("metric `correct`: 0.6667"), "{summary}");
    assert!(summary.contains("failed executions: 1"), "{summary}");

    // The API key never reaches the report.
    let mut text = summary;
    for i in 0..3 {
        text.push_str(&report.json_line(i).to_string());
    }
    assert!(!text.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_eval_is_served_from_the_cache() {
    let (server, url) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &url);

    let first = eval(&spec, &args(false)).await;
    let after_first = server.count();
    assert_eq!(after_first, 5);
    assert_eq!(first.usage.cache_hits, 0);

    let second = eval(&spec, &args(false)).await;
    assert_eq!(
        server.count(),
        after_first,
        "zero requests on the second run"
    );
    assert_eq!(second.usage.requests, 0);
    assert_eq!(second.usage.cache_hits, 5);
    let scores = |r: &EvalReport| r.outcomes.iter().map(|o| o.score.value).collect::<Vec<_>>();
    assert_eq!(scores(&first), scores(&second));
    assert_eq!(second.failed, 1);

    // The cache never stores the key (the evaluation closed it, so the one
    // database file holds every answer).
    let cache_dir = dir.path().join(".simba-cache");
    let cache_files: Vec<PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cache_files, [cache_dir.join(simba_run::lm::cache::DB_FILE)]);
    let bytes = std::fs::read(&cache_files[0]).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("Paris"));
    assert!(!String::from_utf8_lossy(&bytes).contains(KEY));

    // --no-cache goes to the server again.
    eval(&spec, &args(true)).await;
    assert_eq!(server.count(), after_first * 2);
}
