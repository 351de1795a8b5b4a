//! The optimizer end to end on the offline `sim` model: LM-call accounting
//! and the quickstart's gain.

mod common;

use async_trait::async_trait;
use common::sim::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use simba_run::lm::{Lm, LmError, ModelSet, Request, Response};
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;

/// Counts requests by kind: sampling (with a rollout id), advice (the
/// feedback request), other (candidate and final evaluation).
#[derive(Default)]
struct Tally {
    sampling: AtomicUsize,
    advice: AtomicUsize,
    other: AtomicUsize,
}

struct Counting {
    inner: Arc<dyn Lm>,
    tally: Arc<Tally>,
    fail: bool,
}

#[async_trait]
impl Lm for Counting {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let text: String = request
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        if text.contains("worse_trajectory") {
            self.tally.advice.fetch_add(1, Ordering::SeqCst);
        } else if request.rollout_id.is_some() {
            self.tally.sampling.fetch_add(1, Ordering::SeqCst);
        } else {
            self.tally.other.fetch_add(1, Ordering::SeqCst);
        }
        if self.fail {
            return Err(LmError::Fatal {
                model: request.model.clone(),
                message: "HTTP 401: invalid API key".into(),
            });
        }
        self.inner.complete(request).await
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run_quickstart(
    seed: u64,
    steps: usize,
    fail: bool,
) -> (Result<OptimizeOutput, OptimizeError>, Arc<Tally>) {
    let mut spec = quickstart_spec();
    spec.optimizes[0].seed = seed;
    spec.optimizes[0].max_steps = steps;
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    let models = models_with(&spec, move |inner| {
        Arc::new(Counting {
            inner,
            tally: t.clone(),
            fail,
        })
    });
    let decl = spec.optimizes[0].clone();
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let input = prepare(&spec, &decl, models, train, dev, EventSink::none(), vec![]).unwrap();
    (rt().block_on(optimize(input)), tally)
}

#[test]
fn lm_call_accounting_on_sim() {
    for steps in [1usize, 2] {
        let (out, tally) = run_quickstart(3, steps, false);
        let out = out.unwrap();
        let (bsize, nc, train) = (15, 6, 30);
        // Sampling: exactly bsize * num_candidates per step.
        assert_eq!(tally.sampling.load(Ordering::SeqCst), steps * bsize * nc);
        // Advice: at most num_candidates + 1 per step.
        let advice = tally.advice.load(Ordering::SeqCst);
        assert!(advice <= steps * (nc + 1), "{advice} advice requests");
        // Evaluation: candidates * bsize per step; final: picks * trainset;
        // dev: baseline and best (once when the baseline wins).
        let built: usize = out
            .trials
            .iter()
            .map(|t| {
                t.candidates
                    .iter()
                    .filter(|c| c.pool_index.is_some())
                    .count()
            })
            .sum();
        let picks = out.candidates.candidates.len();
        let dev_programs = if out.candidates.best == 0 { 1 } else { 2 };
        assert_eq!(
            tally.other.load(Ordering::SeqCst),
            built * bsize + picks * train + dev_programs * 15
        );
        // The usage meter saw every call.
        let total =
            tally.sampling.load(Ordering::SeqCst) + advice + tally.other.load(Ordering::SeqCst);
        assert_eq!(out.run.usage.lm_calls as usize, total);
        let per_step: u64 = out.trials.iter().map(|t| t.usage.lm_calls).sum();
        assert!(per_step <= out.run.usage.lm_calls);
    }
}

#[test]
fn quickstart_gains_at_least_0_15_median_of_5_seeds() {
    let mut gains: Vec<f64> = (0..5)
        .map(|seed| {
            let out = run_quickstart(seed, 8, false).0.unwrap();
            out.run.best.train.unwrap() - out.run.baseline.train.unwrap()
        })
        .collect();
    gains.sort_by(f64::total_cmp);
    eprintln!("quickstart gains (sorted): {gains:?}");
    assert!(gains[2] >= 0.15, "gains per seed (sorted): {gains:?}");
}

#[test]
fn a_model_failing_every_call_is_a_run_failure() {
    let (out, _) = run_quickstart(0, 2, true);
    let err = out.unwrap_err();
    assert!(!err.is_input_error());
    let msg = err.to_string();
    assert!(msg.contains("every program execution failed"), "{msg}");
    assert!(msg.contains("invalid API key"), "{msg}");
}
