//! Plugins inside a real optimization (the quickstart on the offline `sim`
//! model): plugin strategies are applied and logged in the trials, a
//! panicking one is a failed attempt and the run goes on, an LM call made
//! through the host callback is counted in the run's usage, host random
//! draws keep runs reproducible, and a model plugin can serve the run.

mod common;
mod plugin_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::sim::*;
use plugin_support::{decls, fixture_crate, workspace_plugin};
use simba_run::artifacts::{AttemptRecord, AttemptResult};
use simba_run::ir::{Provider, Spec, StrategyRef};
use simba_run::lm::{Lm, LmError, ModelSet, Request, Response};
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;
use simba_run::plugin::{PluginHost, resolve_strategies};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn plugin(plugin: &str, item: &str) -> StrategyRef {
    StrategyRef::Plugin {
        plugin: plugin.into(),
        item: item.into(),
        config: Default::default(),
    }
}

fn host() -> PluginHost {
    let extras = workspace_plugin("simba-extras");
    let faulty = fixture_crate("faulty");
    PluginHost::load(&decls(&[("extras", &extras), ("faulty", &faulty)])).unwrap()
}

/// Runs the quickstart with `strategies` resolved through the plugin host.
fn run(
    spec: &Spec,
    strategies: Vec<StrategyRef>,
    models: Arc<dyn ModelSet>,
    host: &PluginHost,
) -> OptimizeOutput {
    let mut decl = spec.optimizes[0].clone();
    decl.strategies = strategies.clone();
    let (train, dev) = load_data(spec, &decl).unwrap();
    // `prepare` resolves built-ins only; plugin strategies come from the host.
    let mut builtin = decl.clone();
    builtin.strategies = vec![StrategyRef::AppendDemo, StrategyRef::AppendRule];
    let mut input = prepare(
        spec,
        &builtin,
        models,
        train,
        dev,
        EventSink::none(),
        vec![],
    )
    .unwrap();
    input.decl.strategies = strategies.clone();
    input.strategies = resolve_strategies(&strategies, host).unwrap();
    rt().block_on(optimize(input)).unwrap()
}

fn attempts(out: &OptimizeOutput) -> Vec<AttemptRecord> {
    out.trials
        .iter()
        .flat_map(|t| t.candidates.iter().flat_map(|c| c.attempts.clone()))
        .collect()
}

fn short_spec(seed: u64) -> Spec {
    let mut spec = quickstart_spec();
    spec.optimizes[0].seed = seed;
    spec.optimizes[0].max_steps = 2;
    spec
}

fn sim_models(spec: &Spec) -> Arc<dyn ModelSet> {
    Arc::new(models_with(spec, |inner| inner))
}

#[test]
fn plugin_strategies_are_applied_and_runs_are_reproducible() {
    let host = host();
    let spec = short_spec(7);
    let strategies = vec![
        plugin("extras", "swap_demo"),
        plugin("extras", "shuffle_demos"),
    ];
    let a = run(&spec, strategies.clone(), sim_models(&spec), &host);
    let all = attempts(&a);
    let applied = |name: &str| {
        all.iter()
            .filter(|r| r.strategy == name && r.result == AttemptResult::Applied)
            .count()
    };
    assert!(applied("extras.swap_demo") > 0, "{all:#?}");
    assert!(
        all.iter()
            .any(|r| r.detail.starts_with("swapped a demo in answer")),
        "{all:#?}"
    );
    // Only the plugin strategies ran.
    assert!(
        all.iter().all(|r| r.strategy.starts_with("extras.")),
        "{all:#?}"
    );
    // Same seed, same artifacts (shuffle_demos draws through the host).
    let b = run(&spec, strategies.clone(), sim_models(&spec), &host);
    assert_eq!(
        serde_json::to_value(&a.trials).unwrap(),
        serde_json::to_value(&b.trials).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&a.program_json).unwrap(),
        serde_json::to_value(&b.program_json).unwrap()
    );
}

#[test]
fn a_panicking_plugin_strategy_is_a_failed_attempt_and_the_run_goes_on() {
    let host = host();
    let spec = short_spec(1);
    let out = run(
        &spec,
        vec![plugin("faulty", "panics"), StrategyRef::AppendDemo],
        sim_models(&spec),
        &host,
    );
    let all = attempts(&out);
    let failed: Vec<_> = all
        .iter()
        .filter(|r| r.strategy == "faulty.panics")
        .collect();
    assert!(!failed.is_empty());
    for r in &failed {
        assert_eq!(r.result, AttemptResult::Failed);
        assert!(
            r.detail.starts_with(
                "plugin `faulty`: `panics` failed: plugin panicked: deliberate failure at step"
            ),
            "{}",
            r.detail
        );
    }
    // append_demo took over, so candidates were still built.
    assert!(
        all.iter()
            .any(|r| r.strategy == "append_demo" && r.result == AttemptResult::Applied)
    );
    assert!(out.trials.iter().any(|t| t.winner.is_some()));
}

/// Counts requests that are contrast_rewrite prompts.
struct Tally {
    inner: Arc<dyn Lm>,
    rewrites: Arc<AtomicUsize>,
    all: Arc<AtomicUsize>,
}

#[async_trait]
impl Lm for Tally {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.all.fetch_add(1, Ordering::SeqCst);
        if request
            .messages
            .iter()
            .any(|m| m.content.contains("Rewrite the instructions so the step"))
        {
            self.rewrites.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.complete(request).await
    }
}

#[test]
fn lm_calls_through_the_host_callback_are_counted_in_the_run_usage() {
    let host = host();
    let spec = short_spec(2);
    let rewrites = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(AtomicUsize::new(0));
    let (r, a) = (rewrites.clone(), all.clone());
    let models = Arc::new(models_with(&spec, move |inner| {
        Arc::new(Tally {
            inner,
            rewrites: r.clone(),
            all: a.clone(),
        })
    }));
    let out = run(
        &spec,
        vec![plugin("extras", "contrast_rewrite")],
        models,
        &host,
    );
    let attempts = attempts(&out);
    let asked = attempts
        .iter()
        .filter(|r| !r.detail.starts_with("no contrast"))
        .count();
    assert!(asked > 0, "{attempts:#?}");
    // One prompt-model call per attempt that had a contrast...
    assert_eq!(rewrites.load(Ordering::SeqCst), asked);
    // ...and every call, those included, is in the run's usage.
    assert_eq!(out.run.usage.lm_calls as usize, all.load(Ordering::SeqCst));
}

/// Records every request and answer of the sim model as a replay transcript line.
struct Recorder {
    inner: Arc<dyn Lm>,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

#[async_trait]
impl Lm for Recorder {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let response = self.inner.complete(request).await?;
        self.lines.lock().unwrap().push(serde_json::json!({
            "messages": request.messages,
            "temperature": request.temperature,
            "rollout_id": request.rollout_id,
            "seed": request.seed,
            "text": response.text,
            "usage": response.usage,
        }));
        Ok(response)
    }
}

#[test]
fn a_model_plugin_serves_a_whole_run() {
    let host = host();
    let spec = short_spec(3);
    let strategies = vec![StrategyRef::AppendDemo, plugin("extras", "swap_demo")];
    // Record a run on the sim model...
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let recorded = run(
        &spec,
        strategies.clone(),
        Arc::new(models_with(&spec, move |inner| {
            Arc::new(Recorder {
                inner,
                lines: l.clone(),
            })
        })),
        &host,
    );
    let dir = tempfile::tempdir().unwrap();
    let transcript: String = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("sim.jsonl"), transcript).unwrap();
    // ...then replay it through the replay plugin as the spec's model.
    let replay = workspace_plugin("simba-replay");
    let host = PluginHost::load(&decls(&[
        ("extras", &workspace_plugin("simba-extras")),
        ("rp", &replay),
    ]))
    .unwrap()
    .with_spec_dir(dir.path());
    let mut decl = spec.models["sim"].clone();
    decl.provider = Provider::Plugin {
        plugin: "rp".into(),
        item: "replay".into(),
    };
    decl.extra.insert("transcript".into(), "sim.jsonl".into());
    let replay_lm = host.model(&decl).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let models = Arc::new(models_with(&spec, move |_sim| {
        Arc::new(Tally {
            inner: replay_lm.clone(),
            rewrites: Arc::new(AtomicUsize::new(0)),
            all: c.clone(),
        })
    }));
    let replayed = run(&spec, strategies, models, &host);
    assert!(calls.load(Ordering::SeqCst) > 0);
    assert_eq!(
        serde_json::to_value(&recorded.trials).unwrap(),
        serde_json::to_value(&replayed.trials).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&recorded.program_json).unwrap(),
        serde_json::to_value(&replayed.program_json).unwrap()
    );
}
