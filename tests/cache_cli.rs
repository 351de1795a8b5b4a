//! The response cache as a user meets it: `simba-run` runs against a local
//! OpenAI-compatible server that counts the requests it gets, with a cache
//! folder that is warm, shared by two runs at once, damaged, unwritable or
//! blocked by a FIFO; and the `cache` command looking after it.

#[path = "sim_openai/mod.rs"]
mod sim_openai;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use simba_run::lm::cache::DB_FILE;
use simba_run::lm::{Lm, ModelSet, ModelsOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longer than any run here takes; a run still going then is stuck.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The server's state: the requests it got, and the model that answers.
#[derive(Clone)]
struct Server {
    count: Arc<AtomicUsize>,
    sim: Arc<dyn Lm>,
}

/// Counts requests and answers each with the quickstart's `sim` model (the
/// replies `provider = "sim"` would give: they vary with the prompt, so the
/// runs learn demos and rules), the same answer for the same request.
async fn complete(
    State(server): State<Server>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    server.count.fetch_add(1, Ordering::SeqCst);
    let request =
        sim_openai::request_from_body(&body, "sim").map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let reply = server
        .sim
        .complete(&request)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(sim_openai::completion_body(
        &body,
        &reply.text,
        &reply.usage,
    )))
}

/// The quickstart's `sim` model with its oracle data, uncached.
fn quickstart_sim() -> Arc<dyn Lm> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/quickstart.simba");
    let loaded = simba_run::compile::load_spec(&spec, &[], None).unwrap();
    let oracles = simba_run::optimize::runtime::oracles(&loaded.spec).unwrap();
    let options = ModelsOptions { cache_dir: None };
    let models = simba_run::models::from_spec(&loaded.spec, &oracles, options).unwrap();
    models.lm("sim").unwrap()
}

/// The server's base URL and its request counter.
async fn start() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let server = Server {
        count: count.clone(),
        sim: quickstart_sim(),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(complete))
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

/// The quickstart's data and program on an openai model at `url`, small
/// enough to run in a moment; `cache` is the optimize block's cache line.
fn project(url: &str, cache: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for f in ["data/train.jsonl", "data/dev.jsonl"] {
        std::fs::copy(quickstart.join(f), dir.path().join(f)).unwrap();
    }
    let spec = std::fs::read_to_string(quickstart.join("quickstart.simba"))
        .unwrap()
        .replace(
            "  provider = \"sim\"\n  oracle   = trivia        # the dataset whose labels the simulated model knows\n  skill    = 0.3           # its accuracy with no help\n",
            &format!(
                "  provider = \"openai\"\n  model    = \"test-model\"\n  base_url = \"{url}\"\n  api_key  = \"k\"\n  retries  = 0\n"
            ),
        )
        .replace("bsize = 15 ", "bsize = 4 ")
        .replace("num_candidates = 6", "num_candidates = 2")
        .replace("max_steps = 8", &format!("max_steps = 2\n  {cache}"));
    assert!(spec.contains("test-model") && spec.contains("bsize = 4 "));
    std::fs::write(dir.path().join("spec.simba"), spec).unwrap();
    dir
}

fn simba_run(args: &[&std::ffi::OsStr]) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child`, killing it (and failing) past [`RUN_LIMIT`].
fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_LIMIT {
            child.kill().unwrap();
            panic!("simba-run still running after {RUN_LIMIT:?}: it is blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Starts the optimize run of `dir`'s spec into `dir/out-NAME`.
fn start_run(dir: &Path, name: &str) -> Child {
    let spec = dir.join("spec.simba");
    let out = dir.join(format!("out-{name}"));
    simba_run(&[spec.as_os_str(), "--out".as_ref(), out.as_os_str()])
}

async fn run(dir: &Path, name: &str) -> Output {
    let child = start_run(dir, name);
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap()
}

async fn cache_command(args: &[&str]) -> Output {
    let args: Vec<std::ffi::OsString> = args.iter().map(|a| a.into()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let mut all = vec!["cache".as_ref()];
        all.extend(refs);
        finish(simba_run(&all))
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stderr lines that are warnings about the response cache.
fn cache_warnings(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("response cache"))
        .map(str::to_string)
        .collect()
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn run_json(dir: &Path, name: &str) -> Value {
    let path = dir.join(format!("out-{name}/run.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// run.json's `step_requests`, one entry per step.
fn step_requests(run: &Value) -> Vec<Value> {
    run["step_requests"].as_array().cloned().unwrap_or_default()
}

/// The runs `a` and `b` of `dir` wrote the same program.json,
/// candidates.json and trials.jsonl, byte for byte.
fn same_artifacts(dir: &Path, a: &str, b: &str) {
    for f in ["program.json", "candidates.json", "trials.jsonl"] {
        let (x, y) = (
            dir.join(format!("out-{a}/{f}")),
            dir.join(format!("out-{b}/{f}")),
        );
        assert!(
            read(x) == read(y),
            "{f} differs between run {a} and run {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_rerun_makes_no_request_and_the_cache_command_looks_after_it() {
    let (url, count) = start().await;
    let p = project(&url, "");
    let dir = p.path();
    let cache = dir.join(".simba-cache");

    let cold = run(dir, "cold").await;
    ok(&cold);
    assert!(cache_warnings(&cold).is_empty(), "{}", text(&cold.stderr));
    let sent = count.load(Ordering::SeqCst);
    assert!(sent > 20, "{sent} requests");

    let warm = run(dir, "warm").await;
    ok(&warm);
    assert_eq!(
        count.load(Ordering::SeqCst),
        sent,
        "the warm run sent requests"
    );
    same_artifacts(dir, "cold", "warm");
    // The requests each step sent are in run.json: all of the cold run's,
    // none of the warm run's, whose every call the cache answered.
    let (cold_run, warm_run) = (run_json(dir, "cold"), run_json(dir, "warm"));
    let cold_steps = step_requests(&cold_run);
    assert_eq!(cold_steps.len(), 2);
    let cold_sent: u64 = cold_steps
        .iter()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert!(cold_sent > 0 && cold_sent <= sent as u64, "{cold_steps:?}");
    assert_eq!(cold_run["usage"]["requests"].as_u64(), Some(sent as u64));
    assert_eq!(warm_run["usage"]["requests"].as_u64(), Some(0));
    let calls = warm_run["usage"]["lm_calls"].as_u64().unwrap();
    assert_eq!(warm_run["cached_calls"].as_u64(), Some(calls));
    let trials = read(dir.join("out-warm/trials.jsonl"));
    for (step, line) in step_requests(&warm_run).iter().zip(trials.lines()) {
        let step_calls = serde_json::from_str::<Value>(line).unwrap()["usage"]["lm_calls"].clone();
        assert_eq!(step["requests"].as_u64(), Some(0), "{step}");
        assert_eq!(step["cached_calls"], step_calls, "{step}");
    }

    let stats = cache_command(&["stats", "--cache", cache.to_str().unwrap()]).await;
    ok(&stats);
    let stats = text(&stats.stdout);
    // Every request sent was stored once (two identical requests in flight
    // at once may both be sent), and every warm call was a hit.
    let entries: usize = field_before(&stats, " entries");
    assert!(entries > 0 && entries <= sent, "{stats}");
    let hits: u64 = field_before(&stats, " hits");
    assert!(hits >= calls, "{hits} hits for {calls} calls: {stats}");
    assert!(stats.contains("openai/test-model"), "{stats}");

    // Everything was used just now: pruning at a day keeps it all.
    let pruned = cache_command(&[
        "prune",
        "--older-than",
        "1d",
        "--cache",
        cache.to_str().unwrap(),
    ])
    .await;
    ok(&pruned);
    assert!(
        text(&pruned.stdout).contains(&format!(": 0 entries unused for 1d, {entries} left")),
        "{}",
        text(&pruned.stdout)
    );

    let cleared = cache_command(&["clear", "--cache", cache.to_str().unwrap()]).await;
    ok(&cleared);
    assert!(
        text(&cleared.stdout).contains(&format!(": {entries} entries")),
        "{}",
        text(&cleared.stdout)
    );
    let stats = cache_command(&["--cache", cache.to_str().unwrap(), "stats"]).await;
    assert!(
        text(&stats.stdout).contains(": 0 entries, 0 hits"),
        "{}",
        text(&stats.stdout)
    );

    // Cleared: the next run asks the model again, each question at least once.
    ok(&run(dir, "after-clear").await);
    assert!(count.load(Ordering::SeqCst) >= sent + entries);
}

/// The number just before `suffix` in the first line of `text`.
fn field_before<T: std::str::FromStr>(text: &str, suffix: &str) -> T {
    let line = text.lines().next().unwrap();
    let head = &line[..line
        .find(suffix)
        .unwrap_or_else(|| panic!("{suffix} in {line}"))];
    let number = head.rsplit([' ', ':']).next().unwrap();
    number
        .parse()
        .unwrap_or_else(|_| panic!("{number} in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_share_a_cache_and_a_third_makes_no_request() {
    let (url, count) = start().await;
    let p = project(&url, "");
    let dir = p.path().to_path_buf();
    let (a, b) = (start_run(&dir, "a"), start_run(&dir, "b"));
    let (a, b) = tokio::task::spawn_blocking(move || (finish(a), finish(b)))
        .await
        .unwrap();
    ok(&a);
    ok(&b);
    let warnings = (cache_warnings(&a), cache_warnings(&b));
    assert!(
        warnings.0.is_empty() && warnings.1.is_empty(),
        "{warnings:?}"
    );
    let sent = count.load(Ordering::SeqCst);
    assert!(sent > 20);
    same_artifacts(&dir, "a", "b");

    let third = run(&dir, "c").await;
    ok(&third);
    assert_eq!(
        count.load(Ordering::SeqCst),
        sent,
        "the third run sent requests"
    );
    assert_eq!(run_json(&dir, "c")["usage"]["requests"].as_u64(), Some(0));
    same_artifacts(&dir, "a", "c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_reported_once_and_the_run_goes_on_without_it() {
    let (url, count) = start().await;
    let p = project(&url, "");
    let dir = p.path();
    let db = dir.join(".simba-cache").join(DB_FILE);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let garbage = b"not an SQLite file at all; ".repeat(1000);
    std::fs::write(&db, &garbage).unwrap();

    let out = run(dir, "1").await;
    ok(&out);
    let warnings = cache_warnings(&out);
    assert_eq!(warnings.len(), 1, "{}", text(&out.stderr));
    assert!(warnings[0].contains("is damaged"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("running without it"),
        "{}",
        warnings[0]
    );
    // Carried into run.json like the spec's warnings.
    let recorded = run_json(dir, "1")["warnings"].to_string();
    assert!(recorded.contains("is damaged"), "{recorded}");
    let sent = count.load(Ordering::SeqCst);
    assert!(sent > 20);

    // Never written to: the rerun asks again, and the file is as it was.
    ok(&run(dir, "2").await);
    assert_eq!(count.load(Ordering::SeqCst), 2 * sent);
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
    let stats = cache_command(&["stats", "--cache", db.parent().unwrap().to_str().unwrap()]).await;
    assert_eq!(stats.status.code(), Some(1));
    assert!(text(&stats.stderr).contains("is damaged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_cache_location_is_reported_once() {
    let (url, count) = start().await;
    // Tests run as root, which file modes do not stop: a folder below a
    // regular file cannot be made by anyone.
    let p = project(&url, "cache = \"blocker/cache\"");
    let dir = p.path();
    std::fs::write(dir.join("blocker"), "a file, not a folder").unwrap();

    let out = run(dir, "1").await;
    ok(&out);
    let warnings = cache_warnings(&out);
    assert_eq!(warnings.len(), 1, "{}", text(&out.stderr));
    assert!(
        warnings[0].contains("cannot create the folder"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("blocker"), "{}", warnings[0]);
    assert!(count.load(Ordering::SeqCst) > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_where_the_database_should_be_does_not_block_the_run() {
    let (url, count) = start().await;
    let p = project(&url, "");
    let dir = p.path();
    let cache = dir.join(".simba-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(cache.join(DB_FILE))
        .status()
        .unwrap();
    assert!(made.success());

    // `finish` fails the test if either blocks.
    let out = run(dir, "1").await;
    ok(&out);
    let warnings = cache_warnings(&out);
    assert_eq!(warnings.len(), 1, "{}", text(&out.stderr));
    assert!(
        warnings[0].contains("is not a regular file"),
        "{}",
        warnings[0]
    );
    assert!(count.load(Ordering::SeqCst) > 20);
    let stats = cache_command(&["stats", "--cache", cache.to_str().unwrap()]).await;
    assert_eq!(stats.status.code(), Some(1));
    assert!(text(&stats.stderr).contains("is not a regular file"));
}
