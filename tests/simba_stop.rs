//! Stop rules on the offline `sim` model: one test per rule, budgets checked
//! against a counter of the requests that reached the model.

mod common;

use async_trait::async_trait;
use common::sim::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use simba_run::ir::{Spec, StopRules};
use simba_run::lm::{Lm, LmError, ModelSet, Request, Response};
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;

/// Counts the requests that reach the model and the tokens they used.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    tokens: AtomicU64,
}

struct Counting {
    inner: Arc<dyn Lm>,
    tally: Arc<Tally>,
}

#[async_trait]
impl Lm for Counting {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.tally.requests.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.complete(request).await;
        if let Ok(r) = &r {
            self.tally
                .tokens
                .fetch_add(r.usage.total(), Ordering::SeqCst);
        }
        r
    }
}

struct Ran {
    out: OptimizeOutput,
    tally: Arc<Tally>,
    events: Vec<Event>,
}

fn run(stop: StopRules, latency: Duration) -> Ran {
    let mut spec: Spec = quickstart_spec();
    spec.optimizes[0].stop = stop;
    for m in spec.models.values_mut() {
        m.latency = latency;
    }
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    let models = models_with(&spec, move |inner| {
        Arc::new(Counting {
            inner,
            tally: t.clone(),
        })
    });
    let decl = spec.optimizes[0].clone();
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let input = prepare(&spec, &decl, models, train, dev, EventSink::new(tx), vec![]).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(optimize(input)).unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Ran { out, tally, events }
}

fn stopped_event(events: &[Event]) -> Option<(usize, StopReason)> {
    events.iter().find_map(|e| match e {
        Event::Stopped { steps_run, reason } => Some((*steps_run, *reason)),
        _ => None,
    })
}

fn finished_reason(events: &[Event]) -> StopReason {
    events
        .iter()
        .find_map(|e| match e {
            Event::RunFinished { stop_reason, .. } => Some(*stop_reason),
            _ => None,
        })
        .unwrap()
}

fn none() -> StopRules {
    StopRules::default()
}

#[test]
fn without_rules_every_step_runs() {
    let r = run(none(), Duration::ZERO);
    assert_eq!(r.out.run.steps_run, 8);
    assert_eq!(r.out.run.stop_reason, StopReason::MaxSteps);
    assert_eq!(finished_reason(&r.events), StopReason::MaxSteps);
    assert!(stopped_event(&r.events).is_none());
}

#[test]
fn patience_stops_when_the_best_stalls() {
    // min_delta 1.0: no step can improve on the first by more than 1.
    let r = run(
        StopRules {
            patience: Some(2),
            min_delta: 1.0,
            ..none()
        },
        Duration::ZERO,
    );
    assert_eq!(
        r.out.run.steps_run, 3,
        "first step sets the best, two stall"
    );
    assert_eq!(r.out.run.stop_reason, StopReason::Patience);
    assert_eq!(stopped_event(&r.events), Some((3, StopReason::Patience)));
    assert_eq!(finished_reason(&r.events), StopReason::Patience);
    // The final selection still ran.
    assert!(!r.out.candidates.candidates.is_empty());
}

#[test]
fn target_stops_once_the_best_reaches_it() {
    let full = run(none(), Duration::ZERO);
    let first = full.out.trials[0].best_so_far.unwrap();
    let r = run(
        StopRules {
            target: Some(first),
            ..none()
        },
        Duration::ZERO,
    );
    assert_eq!(r.out.run.steps_run, 1);
    assert_eq!(r.out.run.stop_reason, StopReason::Target);
    // Same seed: the one step run is the full run's first step.
    assert_eq!(r.out.trials[0], full.out.trials[0]);
}

#[test]
fn max_lm_calls_is_a_hard_cap_including_the_final_selection() {
    for cap in [600u64, 1000] {
        let r = run(
            StopRules {
                max_lm_calls: Some(cap),
                ..none()
            },
            Duration::ZERO,
        );
        let sent = r.tally.requests.load(Ordering::SeqCst);
        assert!(sent <= cap, "{sent} requests > cap {cap}");
        assert_eq!(r.out.run.usage.lm_calls, sent);
        assert_eq!(r.out.run.stop_reason, StopReason::MaxLmCalls);
        assert!(r.out.run.steps_run >= 1 && r.out.run.steps_run < 8);
        assert!(!r.out.candidates.candidates.is_empty());
    }
}

#[test]
fn a_call_budget_running_out_mid_step_sends_nothing_beyond_the_cap() {
    // The loop skips a step its estimate says will not fit; a step larger
    // than every earlier one still runs out mid-way. Scan caps until that
    // happens, and check the cap holds for every one.
    let mut cut_mid_step = 0;
    for cap in (285..=700).step_by(6) {
        let r = run(
            StopRules {
                max_lm_calls: Some(cap),
                ..none()
            },
            Duration::ZERO,
        );
        let sent = r.tally.requests.load(Ordering::SeqCst);
        assert!(sent <= cap, "{sent} requests > cap {cap}");
        assert_eq!(r.out.run.usage.lm_calls, sent);
        assert_eq!(r.out.run.stop_reason, StopReason::MaxLmCalls);
        // The final selection still ran, on train and dev.
        assert!(!r.out.candidates.candidates.is_empty());
        assert!(r.out.run.baseline.dev.is_some());
        let started = r
            .events
            .iter()
            .filter(|e| matches!(e, Event::StepStarted { .. }))
            .count();
        let finished = r
            .events
            .iter()
            .filter(|e| matches!(e, Event::StepFinished { .. }))
            .count();
        assert_eq!(finished, r.out.run.steps_run);
        if started > finished {
            // The cut step was dropped whole: no trial record for it.
            assert_eq!(started, finished + 1);
            assert_eq!(r.out.trials.len(), finished);
            cut_mid_step += 1;
        }
    }
    assert!(cut_mid_step > 0, "no cap ran out mid-step");
}

#[test]
fn max_tokens_is_a_hard_cap() {
    let cap = 120_000;
    let r = run(
        StopRules {
            max_tokens: Some(cap),
            ..none()
        },
        Duration::ZERO,
    );
    let used = r.tally.tokens.load(Ordering::SeqCst);
    assert!(used <= cap, "{used} tokens > cap {cap}");
    assert_eq!(r.out.run.stop_reason, StopReason::MaxTokens);
    assert!(r.out.run.steps_run < 8);
}

#[test]
fn max_duration_stops_the_loop_and_keeps_the_final_selection() {
    let r = run(
        StopRules {
            max_duration: Some(Duration::from_millis(400)),
            ..none()
        },
        Duration::from_millis(20),
    );
    assert_eq!(r.out.run.stop_reason, StopReason::MaxDuration);
    assert!(r.out.run.steps_run < 8);
    assert!(!r.out.candidates.candidates.is_empty());
    assert!(r.out.run.baseline.dev.is_some());
}
