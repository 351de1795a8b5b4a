//! Chaos: a full SIMBA run through the CLI against an OpenAI-compatible
//! server that fails a quarter of its requests in every way it can. The run
//! must finish, write complete artifacts, count every failed request, and
//! report exactly as many requests as the server received. The same run is
//! grepped for the API key (it must appear in no output).

mod chaos_support;

use chaos_support::{ChaosConfig, ChaosServer, Fault};
use simba_run::artifacts::{CandidatesJson, RunJson, TrialRecord};
use simba_run::compile::load_spec;
use simba_run::lm::{Lm, Message, Request, ResponseFormat};
use simba_run::sim::SimModel;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const KEY_VAR: &str = "SIMBA_CHAOS_TEST_KEY";
const KEY: &str = "sk-chaos-7f3a9c1e5b2d8046-do-not-leak";

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// The quickstart's sim model, which answers for the server.
fn sim_model() -> SimModel {
    let loaded = load_spec(&quickstart().join("quickstart.simba"), &[], None).unwrap();
    let oracles = simba_run::optimize::runtime::oracles(&loaded.spec).unwrap();
    SimModel::new(&loaded.spec.models["sim"], oracles["trivia"].clone())
}

/// The quickstart, on an openai model pointed at `base_url`.
fn write_spec(dir: &Path, base_url: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["train.jsonl", "dev.jsonl"] {
        std::fs::copy(quickstart().join("data").join(f), dir.join("data").join(f)).unwrap();
    }
    let spec = format!(
        r#"
model chaos {{
  provider    = "openai"
  model       = "chaos-sim"
  base_url    = "{base_url}"
  api_key     = env("{KEY_VAR}")
  timeout     = 300ms
  retries     = 3
  concurrency = 12
}}

dataset trivia {{
  train  = jsonl("data/train.jsonl")
  dev    = jsonl("data/dev.jsonl")
  inputs = [question]
}}

signature Answer {{
  """Answer the trivia question with a short factoid."""
  in  question: string "a trivia question"
  out answer:   string "a name, often between 1 and 4 words"
}}

program qa {{
  lm = chaos
  step answer = predict(Answer)
  out answer = answer.answer
}}

metric correct = exact_match(pred.answer, gold.answer)

optimize qa with simba {{
  trainset = trivia.train
  devset   = trivia.dev
  metric   = correct
  bsize = 8
  num_candidates = 3
  max_steps = 3
  seed = 7
  output = "out/qa"
}}
"#
    );
    let path = dir.join("chaos.simba");
    std::fs::write(&path, spec).unwrap();
    path
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `simba-run SPEC --json` in `cwd`, with the key in the environment and
/// short retry waits.
async fn run_cli(spec: &Path, cwd: &Path) -> std::process::Output {
    let spec = spec.to_path_buf();
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .arg(&spec)
            .arg("--json")
            .current_dir(&cwd)
            .env(KEY_VAR, KEY)
            .env("SIMBA_RETRY_BASE_MS", "5")
            .env("SIMBA_RETRY_MAX_MS", "40")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The key (or a distinctive part of it) is in no file under `dir`, nor in
/// stdout or stderr.
fn assert_no_key(dir: &Path, stdout: &str, stderr: &str) {
    let part = &KEY[9..25];
    let mut files = Vec::new();
    files_under(dir, &mut files);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(part),
            "the API key leaked into {}",
            f.display()
        );
    }
    assert!(!stdout.contains(part), "the API key leaked into stdout");
    assert!(!stderr.contains(part), "the API key leaked into stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simba_run_survives_a_faulty_server() {
    let started = Instant::now();
    let server = ChaosServer::start(ChaosConfig::even(11, 0.27), sim_model()).await;
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &server.base_url);
    let output = run_cli(&spec, tmp.path()).await;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "run failed ({:?}); stderr:\n{stderr}",
        output.status
    );
    let tally = server.tally();
    eprintln!("server tally: {tally:?} in {:?}", started.elapsed());

    // Every kind of fault was served, at roughly the configured rate.
    for f in Fault::ALL {
        assert!(
            tally.faults.get(&format!("{f:?}")).copied().unwrap_or(0) > 0,
            "fault {f:?} never drawn: {tally:?}"
        );
    }
    let faulty: u64 = tally.faults.values().sum();
    let rate = faulty as f64 / tally.requests as f64;
    assert!((0.18..0.36).contains(&rate), "fault rate {rate}");

    // --json: stdout carries only events, each one JSON object.
    let mut events = 0;
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert!(v.is_object());
        events += 1;
    }
    assert!(events > 3, "only {events} events");

    // Artifacts: complete and parseable.
    let out = tmp.path().join("out/qa");
    let program_text = std::fs::read_to_string(out.join("program.json")).unwrap();
    let program: serde_json::Value = serde_json::from_str(&program_text).unwrap();
    assert!(program.is_object());
    let loaded = load_spec(&tmp.path().join("chaos.simba"), &[], None).unwrap();
    let graph = std::sync::Arc::new(loaded.spec.programs["qa"].clone());
    simba_run::program::load::load_program_json(&out.join("program.json"), graph)
        .expect("program.json loads back");
    let candidates: CandidatesJson =
        serde_json::from_str(&std::fs::read_to_string(out.join("candidates.json")).unwrap())
            .unwrap();
    assert!(candidates.best < candidates.candidates.len());
    let trials: Vec<TrialRecord> = std::fs::read_to_string(out.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let run: RunJson =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(trials.len(), 3);
    assert_eq!(run.steps_run, 3);
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("</html>"), "report.html is complete");

    // Accounting: the client's books equal the server's.
    assert_eq!(
        run.usage.requests, tally.requests,
        "requests in run.json vs received by the server"
    );
    assert_eq!(
        run.usage.failed_requests,
        tally.failed_requests(),
        "failed requests in run.json vs faults served"
    );
    assert!(run.usage.requests >= run.usage.lm_calls - run.cached_calls);
    // The requests of each step are in run.json (trials.jsonl holds only
    // what the replies decide).
    assert_eq!(run.step_requests.len(), trials.len());
    let step_requests: u64 = run.step_requests.iter().map(|r| r.requests).sum();
    let step_failed: u64 = run.step_requests.iter().map(|r| r.failed_requests).sum();
    assert!(step_requests > 0 && step_requests <= run.usage.requests);
    assert!(step_failed > 0 && step_failed <= run.usage.failed_requests);
    let step_calls: u64 = trials.iter().map(|t| t.usage.lm_calls).sum();
    assert!(step_calls <= run.usage.lm_calls);
    eprintln!(
        "chaos run: {} requests ({} failed), {} calls ({} failed, {} cached), best train {:.3} (baseline {:.3}), {:?}",
        run.usage.requests,
        run.usage.failed_requests,
        run.usage.lm_calls,
        run.usage.failed_calls,
        run.cached_calls,
        run.best.train.unwrap_or(f64::NAN),
        run.baseline.train.unwrap_or(f64::NAN),
        started.elapsed()
    );

    // The key went to the server in the Authorization header, and nowhere
    // else: no artifact, cache entry, event or log line carries it.
    assert!(
        server
            .auth_headers()
            .iter()
            .all(|h| h == &format!("Bearer {KEY}"))
    );
    assert_no_key(tmp.path(), &stdout, &stderr);
    assert!(started.elapsed() < Duration::from_secs(90));
}

/// A server that echoes the key in every error body: the run's failures are
/// reported, the key is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_by_the_server_is_never_written() {
    let mut config = ChaosConfig::even(5, 0.0);
    config.rates = vec![(Fault::EchoesKey, 1.0)];
    let server = ChaosServer::start(config, sim_model()).await;
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &server.base_url);
    let output = run_cli(&spec, tmp.path()).await;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let tally = server.tally();
    assert!(tally.requests > 0);
    // The echo reached the client and was redacted where it was reported.
    let mut seen = stdout.contains("<redacted>") || stderr.contains("<redacted>");
    let mut files = Vec::new();
    files_under(tmp.path(), &mut files);
    for f in &files {
        seen |= String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains("<redacted>");
    }
    assert!(seen, "no output reports the failure; stderr:\n{stderr}");
    assert_no_key(tmp.path(), &stdout, &stderr);
}

/// Regression: a 200 whose JSON body is cut short is a transport fault and
/// is retried (it used to fail the call at once as a fatal error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_retried() {
    let mut config = ChaosConfig::even(3, 0.0);
    config.rates = vec![(Fault::TruncatedJson, 1.0)];
    let server = ChaosServer::start(config, sim_model()).await;
    let decl = simba_run::ir::ModelDecl {
        model: "chaos-sim".into(),
        base_urls: vec![simba_run::ir::Setting::Literal(server.base_url.clone())],
        timeout: Duration::from_secs(5),
        concurrency: 1,
        retries: 0,
        ..simba_run::ir::ModelDecl::new("m", simba_run::ir::Provider::OpenAi)
    };
    let lm = simba_run::lm::openai::OpenAiProvider::new(&decl).unwrap();
    let request = Request {
        model: "m".into(),
        messages: vec![Message::user("hello")],
        temperature: 0.0,
        max_tokens: None,
        seed: None,
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params: Default::default(),
    };
    match lm.complete(&request).await {
        Err(simba_run::lm::LmError::Transient { message, .. }) => {
            assert!(message.contains("not JSON"), "{message}")
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
}

/// `SIMBA_RETRY_BASE_MS` / `SIMBA_RETRY_MAX_MS` shorten the waits; bad
/// values name the variable.
#[test]
fn retry_waits_from_the_environment() {
    use simba_run::lm::retry::Backoff;
    assert_eq!(Backoff::from_values(None, None).unwrap(), None);
    let b = Backoff::from_values(Some("5"), Some("40"))
        .unwrap()
        .unwrap();
    assert_eq!(b.base, Duration::from_millis(5));
    assert_eq!(b.max, Duration::from_millis(40));
    assert_eq!(b.max_retry_after, Duration::from_millis(40));
    assert!(b.delay(10, Some(60_000)) <= Duration::from_millis(40));
    let err = Backoff::from_values(Some("fast"), None).unwrap_err();
    assert!(err.contains("SIMBA_RETRY_BASE_MS"), "{err}");
}
