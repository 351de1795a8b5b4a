//! Overhead of one plugin strategy call with a typical bucket payload: the
//! request encoded to JSON, passed through the C ABI, decoded by the plugin,
//! the strategy run (`extras.swap_demo`), the reply encoded and decoded by
//! the host. Expected well under 1 ms.

use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use indexmap::IndexMap;
use simba_run::ir::PluginDecl;
use simba_run::plugin::{HostServices, PluginHost, StrategyReply, StrategyRequest};

/// Builds the extras plugin with the bench's own profile and target dir.
fn extras_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let profile_dir = exe
        .ancestors()
        .nth(2)
        .unwrap()
        .file_name()
        .unwrap()
        .to_owned();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "simba-extras"])
        .env("CARGO_TARGET_DIR", &target);
    if profile_dir == "release" {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().unwrap().success(),
        "building simba-extras failed"
    );
    target.join(profile_dir).join(format!(
        "{}simba_extras{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// A typical SIMBA bucket: 8 trajectories of a two-step program, each with
/// a paragraph of context; 4 demos on the answering step.
fn typical_request() -> StrategyRequest {
    let context = "The Nile is a major north-flowing river in northeastern Africa. \
        It flows into the Mediterranean Sea and is among the longest rivers in the world. "
        .repeat(3);
    let traj = |i: usize| {
        let answer = if i.is_multiple_of(3) {
            "Nile".to_string()
        } else {
            format!("guess {i}")
        };
        serde_json::json!({
            "score": if i.is_multiple_of(3) { 1.0 } else { 0.0 },
            "feedback": format!("expected Nile, got {answer}"),
            "prediction": {"answer": answer},
            "trace": [
                {"step": "draft", "inputs": {"question": "Which river flows north into the Mediterranean?", "context": context},
                 "outputs": {"reasoning": "It is the longest river in Africa.", "draft": answer}},
                {"step": "answer", "inputs": {"question": "Which river flows north into the Mediterranean?", "draft": answer},
                 "outputs": {"answer": answer}}
            ]
        })
    };
    let demos: Vec<_> = (0..4)
        .map(|i| serde_json::json!({"fields": {"question": format!("question {i}?"), "draft": format!("draft {i}"), "answer": format!("answer {i}")}, "augmented": true}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "step": 4,
        "bucket": (0..8).map(traj).collect::<Vec<_>>(),
        "program": {"predictors": [
            {"name": "draft", "instructions": "Read the context and draft an answer.", "demos": [],
             "inputs": [{"name": "question", "type": "string"}, {"name": "context", "type": "string"}],
             "outputs": [{"name": "draft", "type": "string"}]},
            {"name": "answer", "instructions": "Give the final answer as a short factoid.", "demos": demos,
             "inputs": [{"name": "question", "type": "string"}, {"name": "draft", "type": "string"}],
             "outputs": [{"name": "answer", "type": "string", "description": "1 to 4 words"}]}
        ]},
        "percentiles": {"p10": 0.0, "p90": 1.0},
        "prompt_model": "prompter",
        "max_demos": 4,
        "config": {}
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut decls = IndexMap::new();
    decls.insert(
        "extras".to_string(),
        PluginDecl {
            name: "extras".into(),
            path: extras_path(),
        },
    );
    let host = PluginHost::load(&decls).unwrap();
    let strategy = host
        .strategy("extras", "swap_demo", &serde_json::json!({}))
        .unwrap();
    let request = typical_request();
    let bytes = serde_json::to_vec(&request).unwrap().len();
    eprintln!("typical strategy request: {bytes} bytes of JSON");
    let services = HostServices::without_models(0);
    let reply = strategy.apply_blocking(&request, &services).unwrap();
    assert!(matches!(reply, StrategyReply::Applied { .. }));

    c.bench_function("plugin strategy call (swap_demo, direct)", |b| {
        b.iter(|| strategy.apply_blocking(&request, &services).unwrap())
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    c.bench_function("plugin strategy call (swap_demo, blocking pool)", |b| {
        b.iter(|| {
            rt.block_on(strategy.apply(request.clone(), services.clone()))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
