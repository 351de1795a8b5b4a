//! Figures for `provider = "local"` on a real GGUF model (`SIMBA_TEST_GGUF`):
//! load time; requests per second one at a time vs 8 in flight; the gain of
//! prompt-prefix reuse; and the parse rate and accuracy on the dev set of
//! `examples/local` with and without the output grammar.
//!
//! Run with `benches/local_throughput.sh` (it fetches SmolLM2 if needed).
//! Not a criterion bench: each figure takes seconds of model time, and the
//! point is to record them side by side.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{Value, json};
use simba_run::adapter::{Format, PredictSpec, format_messages, parse_reply};
use simba_run::ir::{Field, FieldType, ModelDecl, Provider};
use simba_run::lm::{Lm, Request, ResponseFormat};
use simba_run::local::LocalModel;
use simba_run::value::{Demo, Record};

fn decl(extra: Value) -> ModelDecl {
    ModelDecl {
        max_tokens: Some(48),
        timeout: Duration::from_secs(600),
        concurrency: 8,
        retries: 0,
        extra: serde_json::from_value(extra).unwrap(),
        ..ModelDecl::new("smol", Provider::Local)
    }
}

fn rows(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                v["label"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The labels of `examples/local` (its `Topic` signature).
const LABELS: [&str; 3] = ["food", "travel", "tech"];

struct Task {
    inputs: Vec<Field>,
    outputs: Vec<Field>,
    demos: Vec<Demo>,
    dev: Vec<(String, String)>,
}

impl Task {
    fn load() -> Task {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/local/data");
        let train = rows(&dir.join("train.jsonl"));
        // Four demos, the first row of each label and then the next row: the
        // kind of prompt SIMBA builds with append_demo.
        let mut picks: Vec<usize> = LABELS
            .iter()
            .map(|l| train.iter().position(|r| r.1 == *l).expect("every label"))
            .collect();
        picks.push(
            (0..train.len())
                .find(|i| !picks.contains(i))
                .expect("a fourth row"),
        );
        let demos = picks
            .iter()
            .map(|&i| Demo {
                fields: [("text", &train[i].0), ("label", &train[i].1)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect(),
                augmented: false,
            })
            .collect();
        Task {
            inputs: vec![Field {
                name: "text".into(),
                ty: FieldType::String,
                description: Some("a one-sentence review".into()),
            }],
            outputs: vec![Field {
                name: "label".into(),
                ty: FieldType::Enum(LABELS.iter().map(|l| l.to_string()).collect()),
                description: None,
            }],
            demos,
            dev: rows(&dir.join("dev.jsonl")),
        }
    }

    fn request(&self, text: &str, with_demos: bool, grammar: bool) -> Request {
        let spec = PredictSpec {
            instructions: "Say what the short review is about: food, travel or tech.",
            inputs: &self.inputs,
            outputs: &self.outputs,
        };
        let mut record = Record::default();
        record.insert("text".into(), Value::String(text.into()));
        let demos: &[Demo] = if with_demos { &self.demos } else { &[] };
        let mut params = IndexMap::new();
        params.insert("grammar".to_string(), Value::Bool(grammar));
        Request {
            model: "smol".into(),
            messages: format_messages(Format::Chat, &spec, demos, &record),
            temperature: 0.0,
            max_tokens: Some(48),
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params,
        }
    }
}

async fn one_at_a_time(lm: &LocalModel, requests: &[Request]) -> Duration {
    let t = Instant::now();
    for r in requests {
        lm.complete(r).await.unwrap();
    }
    t.elapsed()
}

async fn all_at_once(lm: &Arc<LocalModel>, requests: &[Request]) -> Duration {
    let t = Instant::now();
    let handles: Vec<_> = requests
        .iter()
        .cloned()
        .map(|r| {
            let lm = lm.clone();
            tokio::spawn(async move { lm.complete(&r).await.unwrap() })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    t.elapsed()
}

/// Parse rate and accuracy over the dev set.
async fn score(
    lm: &LocalModel,
    task: &Task,
    with_demos: bool,
    grammar: bool,
) -> (usize, usize, Duration) {
    let (mut parsed, mut correct) = (0, 0);
    let t = Instant::now();
    for (text, gold) in &task.dev {
        let reply = lm
            .complete(&task.request(text, with_demos, grammar))
            .await
            .unwrap();
        if let Ok(out) = parse_reply(Format::Chat, &task.outputs, &reply.text) {
            parsed += 1;
            if out["label"].as_str() == Some(gold.as_str()) {
                correct += 1;
            }
        }
    }
    (parsed, correct, t.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(path) = std::env::var_os("SIMBA_TEST_GGUF").map(PathBuf::from) else {
        eprintln!("skipped: set SIMBA_TEST_GGUF to a GGUF file (benches/local_throughput.sh does)");
        return;
    };
    let threads = std::env::var("SIMBA_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse::<u32>().ok())
        .unwrap_or(2);
    let task = Task::load();
    let base = json!({"path": path, "threads": threads, "context": 2048});
    let t = Instant::now();
    let lm = Arc::new(LocalModel::load(&decl(base.clone()), Path::new("/")).unwrap());
    println!(
        "load: {:.0} ms (reported by the engine: {:.0} ms), context {} tokens, template from GGUF: {}",
        t.elapsed().as_secs_f64() * 1e3,
        lm.info().load_time.as_secs_f64() * 1e3,
        lm.info().context,
        lm.info().own_template
    );
    let mut cold = base.clone();
    cold["prefix_cache"] = json!(false);
    let lm_cold = LocalModel::load(&decl(cold), Path::new("/")).unwrap();

    // Throughput: 8 distinct classification requests with 4 demos each.
    let burst: Vec<Request> = task.dev[..8]
        .iter()
        .map(|(text, _)| task.request(text, true, true))
        .collect();
    // Warm up (first-call allocations), then alternate the two ways twice.
    one_at_a_time(&lm, &burst[..1]).await;
    let mut seq = Duration::ZERO;
    let mut par = Duration::ZERO;
    for _ in 0..2 {
        seq += one_at_a_time(&lm, &burst).await;
        par += all_at_once(&lm, &burst).await;
    }
    let rps = |d: Duration| 16.0 / d.as_secs_f64();
    println!(
        "throughput (8 requests x2, 4 demos, greedy, grammar): one at a time {:.2} req/s, 8 in flight {:.2} req/s",
        rps(seq),
        rps(par)
    );

    // Prefix reuse: the same sequence with the KV cache prefix kept vs not.
    let cold_time = one_at_a_time(&lm_cold, &burst).await;
    let warm_time = one_at_a_time(&lm, &burst).await;
    println!(
        "prefix reuse (8 requests, 4 demos): on {:.0} ms/request, off {:.0} ms/request, speed-up {:.2}x",
        warm_time.as_secs_f64() * 1e3 / 8.0,
        cold_time.as_secs_f64() * 1e3 / 8.0,
        cold_time.as_secs_f64() / warm_time.as_secs_f64()
    );
    // Opt-in batching: the same 8 requests in flight, decoded 8 at a time,
    // against one at a time without prefix reuse (batches do not reuse).
    let mut batched = base.clone();
    batched["batch"] = json!(8);
    let lm_batched = Arc::new(LocalModel::load(&decl(batched), Path::new("/")).unwrap());
    all_at_once(&lm_batched, &burst).await;
    let batch_time = all_at_once(&lm_batched, &burst).await;
    let mut same_batched = 0;
    for r in &burst {
        let a = lm_batched.complete(r).await.unwrap().text;
        let b = lm_cold.complete(r).await.unwrap().text;
        same_batched += usize::from(a == b);
    }
    println!(
        "batch = 8 (8 in flight): {:.2} req/s vs one at a time without prefix reuse {:.2} req/s ({:.2}x); \
         lone replies identical to one-at-a-time: {same_batched}/8",
        8.0 / batch_time.as_secs_f64(),
        8.0 / cold_time.as_secs_f64(),
        cold_time.as_secs_f64() / batch_time.as_secs_f64()
    );

    // Identical replies with and without reuse: reuse is an optimisation only.
    let mut same = 0;
    for r in &burst {
        let a = lm.complete(r).await.unwrap().text;
        let b = lm_cold.complete(r).await.unwrap().text;
        same += usize::from(a == b);
    }
    println!("replies identical with and without prefix reuse: {same}/8");

    let n = task.dev.len();
    for (demos, grammar) in [(false, false), (false, true), (true, false), (true, true)] {
        let (parsed, correct, took) = score(&lm, &task, demos, grammar).await;
        println!(
            "dev ({n} rows), {} demos, grammar {}: parsed {parsed}/{n}, correct {correct}/{n}, {:.0} ms/request",
            if demos { 4 } else { 0 },
            if grammar { "on " } else { "off" },
            took.as_secs_f64() * 1e3 / n as f64
        );
    }
}
