//! `simba-run eval` as a user runs it: a spec file, a local
//! OpenAI-compatible server, the JSON output, the cache, a saved program.

use assert_cmd::Command;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};

use simba_run::lm::Message;

#[derive(Clone, Default)]
struct Server {
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// Knows two capitals; answers with the instructions' first word when they
/// start with "SAY:" (to show a program.json's instructions reach the model).
async fn complete(State(server): State<Server>, Json(body): Json<Value>) -> Json<Value> {
    server.bodies.lock().unwrap().push(body.clone());
    let messages: Vec<Message> = serde_json::from_value(body["messages"].clone()).unwrap();
    let view = simba_run::adapter::read_prompt(&messages).expect("an adapter prompt");
    let q = view.query_value("question").unwrap_or("");
    let answer = if let Some(rest) = view.instructions.split("SAY:").nth(1) {
        rest.split_whitespace().next().unwrap_or("").to_string()
    } else if q.contains("France") {
        "Paris".into()
    } else if q.contains("Japan") {
        "Tokyo".into()
    } else {
        return reply(&body, "no idea");
    };
    reply(
        &body,
        &format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"),
    )
}

fn reply(body: &Value, text: &str) -> Json<Value> {
    Json(json!({
        "id": "c", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
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

fn write_spec(dir: &Path, url: &str, dev: &str) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/dev.jsonl"), dev).unwrap();
    std::fs::write(
        dir.join("data/train.jsonl"),
        "{\"question\": \"Capital of Japan?\", \"answer\": \"Tokyo\"}\n",
    )
    .unwrap();
    let spec = format!(
        r#"
model fast {{
  provider = "openai"
  model    = "test-model"
  base_url = "{url}"
  api_key  = env("SIMBA_EVAL_TEST_KEY")
  retries  = 0
}}

signature Answer {{
  """Answer the question."""
  in  question: string
  out answer:   string
}}

program qa {{
  lm = fast
  step answer = predict(Answer)
  out answer = answer.answer
}}

dataset trivia {{
  train  = jsonl("data/train.jsonl")
  dev    = jsonl("data/dev.jsonl")
  inputs = [question]
}}

metric correct = exact_match(pred.answer, gold.answer)
  feedback "expected {{gold.answer}}, got {{pred.answer}}"

optimize qa with simba {{
  trainset    = trivia.train
  devset      = trivia.dev
  metric      = correct
  concurrency = 2
}}
"#
    );
    std::fs::write(dir.join("qa.simba"), spec).unwrap();
}

const DEV: &str = concat!(
    "{\"question\": \"Capital of France?\", \"answer\": \"Paris\"}\n",
    "{\"question\": \"Capital of Japan?\", \"answer\": \"Kyoto\"}\n",
    "{\"question\": \"Capital of Peru?\", \"answer\": \"Lima\"}\n",
);

const KEY: &str = "sk-cli-test-secret-77";

async fn eval(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval".to_string(),
        dir.join("qa.simba").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        Command::cargo_bin("simba-run")
            .unwrap()
            .args(&args)
            .env("SIMBA_EVAL_TEST_KEY", KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_scores_failures_and_cache() {
    let (server, url) = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), &url, DEV);

    let out = eval(dir.path(), &["--json"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["index"], json!(0));
    assert_eq!(
        lines[0]["inputs"],
        json!({"question": "Capital of France?"})
    );
    assert_eq!(lines[0]["prediction"], json!({"answer": "Paris"}));
    assert_eq!(lines[0]["score"], json!(1.0));
    assert_eq!(lines[1]["score"], json!(0.0));
    assert_eq!(lines[1]["feedback"], json!("expected Kyoto, got Tokyo"));
    assert_eq!(lines[2]["prediction"], Value::Null);
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("step `answer` (model `fast`)")
    );
    assert!(stderr.contains("metric `correct`: 0.3333"), "{stderr}");
    assert!(stderr.contains("failed executions: 1"), "{stderr}");
    // France and Japan: one call each; Peru: the chat call and the JSON retry.
    let after_first = server.bodies.lock().unwrap().len();
    assert_eq!(after_first, 4);
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));

    // Text mode from the cache: same result, no requests.
    let out = eval(dir.path(), &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("qa on trivia.dev (3 examples), metric `correct`: 0.3333"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  example 2: step `answer` (model `fast`): the reply did not parse"),
        "{stdout}"
    );
    assert!(stdout.contains("from cache"), "{stdout}");
    assert_eq!(server.bodies.lock().unwrap().len(), after_first);

    // Another split by name.
    let out = eval(dir.path(), &["--split", "train", "--json"]).await;
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["score"], json!(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_program_changes_the_prompt() {
    let (server, url) = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), &url, DEV);
    let program = dir.path().join("program.json");
    std::fs::write(
        &program,
        json!({
            "answer": {
                "traces": [], "train": [],
                "demos": [{"question": "Capital of Italy?", "answer": "Rome", "augmented": true}],
                "signature": {"instructions": "SAY: Kyoto", "fields": []},
                "lm": null
            },
            "metadata": {"dependency_versions": {}}
        })
        .to_string(),
    )
    .unwrap();
    let out = eval(
        dir.path(),
        &[
            "--program",
            program.to_str().unwrap(),
            "--json",
            "--no-cache",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let scores: Vec<f64> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["score"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(scores, [0.0, 1.0, 0.0]);
    let bodies = server.bodies.lock().unwrap();
    assert!(
        bodies[0].to_string().contains("Capital of Italy?"),
        "the demo is in the prompt"
    );
    assert!(
        !dir.path().join(".simba-cache").exists(),
        "--no-cache writes no cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_lm_is_ignored_with_a_warning() {
    let (_server, url) = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), &url, DEV);
    let program = dir.path().join("program.json");
    std::fs::write(
        &program,
        json!({
            "answer": {
                "traces": [], "train": [], "demos": [],
                "signature": {"instructions": "SAY: Kyoto", "fields": []},
                "lm": {"model": "openai/gpt-4o-mini", "temperature": 1.0}
            },
            "metadata": {"dependency_versions": {}}
        })
        .to_string(),
    )
    .unwrap();
    let out = eval(
        dir.path(),
        &["--program", program.to_str().unwrap(), "--no-cache"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "program.json: predictor `answer` has a saved `lm` (model \"openai/gpt-4o-mini\"), which is ignored"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("warning: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_spec(
        dir.path(),
        "http://127.0.0.1:9/v1",
        "{\"question\": \"ok\", \"answer\": \"x\"}\n{\"question\": \"broken\"\n",
    );
    let out = eval(dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("dev.jsonl:2: malformed JSON"), "{stderr}");

    write_spec(dir.path(), "http://127.0.0.1:9/v1", DEV);
    let program = dir.path().join("saved.json");
    std::fs::write(
        &program,
        r#"{"nope": {"demos": [], "signature": {"instructions": ""}}}"#,
    )
    .unwrap();
    let out = eval(dir.path(), &["--program", program.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("saved.json: `nope` is not a step of program `qa`"),
        "{stderr}"
    );

    let out = eval(dir.path(), &["--split", "val"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("dataset `trivia` has no split `val` (it has: train, dev)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_execution_failing_exits_3() {
    // Nothing listens on port 9: every call fails with a connection error.
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), "http://127.0.0.1:9/v1", DEV);
    let out = eval(dir.path(), &["--no-cache"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("failed executions: 3"), "{stdout}");
    assert!(
        stdout.contains("127.0.0.1:9"),
        "the error names the URL: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_example_is_deterministic() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qa/qa.simba");
    let run = || {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            Command::cargo_bin("simba-run")
                .unwrap()
                .args(["eval", spec.to_str().unwrap(), "--json", "--no-cache"])
                .output()
                .unwrap()
        })
    };
    let a = run().await.unwrap();
    let b = run().await.unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(text(&a.stdout).lines().count(), 20);
    assert_eq!(a.stdout, b.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_spec_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = eval(dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: cannot read"), "{stderr}");
    assert!(stderr.contains("qa.simba"), "{stderr}");
}
