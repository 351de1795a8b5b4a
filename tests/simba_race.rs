//! `final = race`: byte-identical at any concurrency, scores reused from the
//! loop and equal to what a full selection computes, the call reserve that
//! buys more steps under a cap, and what it refuses.

mod common;

use async_trait::async_trait;
use common::sim::*;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use simba_run::artifacts::{RaceEnd, RaceResult};
use simba_run::ir::{FinalSelection, StopRules};
use simba_run::lm::{Lm, LmError, ModelSet, Request, Response};
use simba_run::optimize::checkpoint::ScoreRange;
use simba_run::optimize::runtime::{load_data, prepare};
use simba_run::optimize::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A raced run on the fakes: 80 examples, rounds of 8.
fn fake_race(concurrency: usize) -> (OptimizeOutput, Arc<FakeEvaluator>) {
    let train = dataset(80);
    let mut ev = FakeEvaluator::new(&train);
    Arc::get_mut(&mut ev).unwrap().jitter = true;
    let mut d = decl(8, 4, 5);
    d.final_selection = FinalSelection::Race;
    d.concurrency = concurrency;
    d.seed = 3;
    let mut s = setup(d, train, ev.clone());
    s.input.score_range = ScoreRange::UNIT;
    (rt().block_on(optimize(s.input)).unwrap(), ev)
}

fn files(out: &OptimizeOutput) -> Vec<(String, Vec<u8>)> {
    out.files()
        .unwrap()
        .into_iter()
        .filter(|(name, _)| name != "run.json")
        .collect()
}

#[test]
fn a_race_is_byte_identical_at_concurrency_1_and_8() {
    let (one, _) = fake_race(1);
    let (eight, _) = fake_race(8);
    assert_eq!(files(&one), files(&eight));
    let race = one.candidates.race.as_ref().expect("a race summary");
    assert_eq!(race.on, "trainset");
    assert_eq!(race.round_size, 8);
    assert!(race.rounds >= 1);
}

#[test]
fn a_race_runs_only_what_it_reports_and_records_every_candidate() {
    let (out, ev) = fake_race(4);
    let c = &out.candidates;
    let race = c.race.as_ref().unwrap();
    // Every evaluation beyond the mini-batches is a race execution.
    let built: usize = out
        .trials
        .iter()
        .map(|t| {
            t.candidates
                .iter()
                .filter(|x| x.pool_index.is_some())
                .count()
        })
        .sum();
    assert_eq!(ev.count(Kind::Evaluation), built * 8 + race.executions);
    assert_eq!(race.full_executions, c.candidates.len() * 80);
    assert!(race.executions + race.reused <= race.full_executions);
    let returned: Vec<usize> = c
        .candidates
        .iter()
        .enumerate()
        .filter(|(_, x)| x.race.as_ref().unwrap().result == RaceResult::Returned)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(returned, vec![c.best]);
    for x in &c.candidates {
        let r = x.race.as_ref().unwrap();
        // train_scores hold exactly the examples it was raced on.
        assert_eq!(x.train_scores.len(), 80);
        assert_eq!(x.train_scores.iter().flatten().count(), r.examples);
        assert_eq!(x.train_score, r.estimate);
        if r.result == RaceResult::Dropped {
            let [lo, hi] = r.interval.unwrap();
            assert!(lo <= hi && hi < 0.0, "{lo}..{hi}");
            assert!(r.dropped_after_round.is_some() && r.compared_with.is_some());
        }
    }
    // candidate_programs starts with the returned program.
    assert_eq!(c.candidate_programs[0].candidate, c.best);
    assert_eq!(out.run.best.train, c.candidates[c.best].train_score);
}

#[test]
fn a_metric_without_bounds_cannot_race() {
    let train = dataset(20);
    let ev = FakeEvaluator::new(&train);
    let mut d = decl(8, 4, 2);
    d.final_selection = FinalSelection::Race;
    let s = setup(d, train, ev);
    let err = match rt().block_on(optimize(s.input)) {
        Err(e) => e,
        Ok(_) => panic!("raced with an unbounded metric"),
    };
    assert!(err.is_input_error());
    let msg = err.to_string();
    assert!(
        msg.contains("`final = race` needs a metric whose scores are bounded")
            && msg.contains("metric `correct`"),
        "{msg}"
    );
}

#[test]
fn a_race_on_the_valset_leaves_train_scores_out() {
    let train = dataset(40);
    let val = dataset(24);
    let ev = FakeEvaluator::new(&train);
    let mut d = decl(8, 4, 4);
    d.final_selection = FinalSelection::Race;
    d.valset = Some(simba_run::ir::DataRef {
        dataset: "d".into(),
        split: "val".into(),
    });
    d.select_on = simba_run::ir::SelectOn::Valset;
    let mut s = setup(d, train, ev);
    s.input.valset = Some(val);
    s.input.score_range = ScoreRange::UNIT;
    let out = rt().block_on(optimize(s.input)).unwrap();
    let c = &out.candidates;
    assert_eq!(c.race.as_ref().unwrap().on, "valset");
    assert_eq!(c.race.as_ref().unwrap().reused, 0);
    for x in &c.candidates {
        assert_eq!(x.train_score, None);
        assert!(x.train_scores.is_empty());
        assert_eq!(x.val_score, x.race.as_ref().unwrap().estimate);
    }
    assert_eq!(out.run.best.train, None);
}

/// A race selecting on the devset: the baseline's and the returned
/// program's dev scores in run.json are means over the whole devset (what a
/// full selection there gives them), not estimates over the rows read.
#[test]
fn a_race_on_the_devset_reports_whole_devset_scores() {
    let run = |final_selection| {
        let train = dataset(40);
        let ev = FakeEvaluator::new(&train);
        let mut d = decl(8, 4, 4);
        d.final_selection = final_selection;
        d.devset = Some(simba_run::ir::DataRef {
            dataset: "d".into(),
            split: "dev".into(),
        });
        d.select_on = simba_run::ir::SelectOn::Devset;
        let mut s = setup(d, train, ev);
        s.input.devset = Some(dataset(40));
        s.input.score_range = ScoreRange::UNIT;
        rt().block_on(optimize(s.input)).unwrap()
    };
    let full = run(FinalSelection::Full);
    let raced = run(FinalSelection::Race);
    let race = raced.candidates.race.as_ref().unwrap();
    assert_eq!(race.on, "devset");
    let read = |c: usize| {
        raced.candidates.candidates[c]
            .race
            .as_ref()
            .unwrap()
            .examples
    };
    assert!(
        (0..raced.candidates.candidates.len()).any(|c| read(c) < race.set_size),
        "some candidate was dropped early, or the test shows nothing"
    );
    let dev_of = |c: usize| full.candidates.candidates[c].dev_score;
    assert_eq!(raced.run.baseline.dev, dev_of(0));
    assert_eq!(raced.run.best.dev, dev_of(raced.candidates.best));
    for (c, x) in raced.candidates.candidates.iter().enumerate() {
        let whole = read(c) == race.set_size || c == 0 || c == raced.candidates.best;
        assert_eq!(x.dev_score.is_some(), whole, "candidate {c}");
    }
}

/// Counts the requests that reach the model.
struct Counting {
    inner: Arc<dyn Lm>,
    requests: Arc<AtomicU64>,
}

#[async_trait]
impl Lm for Counting {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.inner.complete(request).await
    }
}

/// The quickstart on the sim model with `edit` applied to its block; the
/// output and the requests the model received.
fn quickstart(edit: impl Fn(&mut simba_run::ir::OptimizeDecl)) -> (OptimizeOutput, u64) {
    let mut spec = quickstart_spec();
    edit(&mut spec.optimizes[0]);
    let requests = Arc::new(AtomicU64::new(0));
    let r = requests.clone();
    let models = models_with(&spec, move |inner| {
        Arc::new(Counting {
            inner,
            requests: r.clone(),
        })
    });
    let decl = spec.optimizes[0].clone();
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let input = prepare(&spec, &decl, models, train, dev, EventSink::none(), vec![]).unwrap();
    let out = rt().block_on(optimize(input)).unwrap();
    (out, requests.load(Ordering::SeqCst))
}

#[test]
fn raced_scores_are_the_full_selections_and_loop_scores_are_reused() {
    // The sim model at temperature 0 answers a request the same every
    // time: a reused score is exactly what a re-run would give.
    let (full, _) = quickstart(|d| d.max_steps = 4);
    let (raced, sent) = quickstart(|d| {
        d.max_steps = 4;
        d.final_selection = FinalSelection::Race;
    });
    assert_eq!(full.trials, raced.trials, "the loop is the same");
    let (f, r) = (&full.candidates, &raced.candidates);
    assert!(f.race.is_none());
    assert!(!serde_json::to_string(f).unwrap().contains("\"race\""));
    for (a, b) in f.candidates.iter().zip(&r.candidates) {
        for (x, y) in a.train_scores.iter().zip(&b.train_scores) {
            if y.is_some() {
                assert_eq!(x, y);
            }
        }
    }
    let race = r.race.as_ref().unwrap();
    assert!(race.reused > 0, "mini-batch scores reused");
    // One predictor, exact_match: one call per execution. The final phase
    // is the race plus the devset (baseline and best).
    let loop_calls: u64 = raced.trials.iter().map(|t| t.usage.lm_calls).sum();
    let dev = raced.run.devset_size.unwrap() as u64 * if r.best == 0 { 1 } else { 2 };
    assert_eq!(sent - loop_calls, race.executions as u64 + dev);
    assert!(race.executions < race.full_executions);
    assert_ne!(race.end, RaceEnd::Budget);
}

#[test]
fn under_a_call_cap_a_race_reaches_more_steps_than_full() {
    // bsize 5: a step is about 72 calls; the reserve held back for the
    // final selection is 7 x 30 = 210 (+60 dev) for full, 105 (+60) for a
    // race, so the race's saving buys at least one more step.
    let capped = |final_selection| {
        quickstart(move |d| {
            d.bsize = 5;
            d.final_selection = final_selection;
            d.stop = StopRules {
                max_lm_calls: Some(500),
                ..StopRules::default()
            };
        })
    };
    let (full, full_sent) = capped(FinalSelection::Full);
    let (raced, race_sent) = capped(FinalSelection::Race);
    assert!(
        full_sent <= 500 && race_sent <= 500,
        "{full_sent} {race_sent}"
    );
    assert_eq!(full.run.stop_reason, StopReason::MaxLmCalls);
    assert!(
        raced.run.steps_run > full.run.steps_run,
        "race {} steps, full {}",
        raced.run.steps_run,
        full.run.steps_run
    );
}

#[test]
fn the_report_shows_the_race() {
    let (out, _) = fake_race(4);
    let dir = tempfile::tempdir().unwrap();
    out.write(dir.path()).unwrap();
    let page =
        std::fs::read_to_string(simba_run::report::write_report(dir.path()).unwrap()).unwrap();
    let race = out.candidates.race.as_ref().unwrap();
    assert!(page.contains("id=\"race-summary\""));
    assert!(page.contains(&format!(
        "in rounds of {}: {} round(s)",
        race.round_size, race.rounds
    )));
    assert_eq!(
        page.matches("class=\"race-row\"").count(),
        out.candidates.candidates.len()
    );
    assert!(page.contains("<td>returned</td>"));
}

#[test]
fn a_resumed_race_writes_what_an_uninterrupted_one_does() {
    let raced = |cp: Option<simba_run::optimize::checkpoint::Checkpoint>| {
        let saved: Arc<std::sync::Mutex<Vec<_>>> = Arc::default();
        let sink = saved.clone();
        let train = dataset(80);
        let ev = FakeEvaluator::new(&train);
        let mut d = decl(8, 4, 5);
        d.final_selection = FinalSelection::Race;
        let mut s = setup(d, train, ev.clone());
        s.input.score_range = ScoreRange::UNIT;
        let options = RunOptions {
            checkpoint: Some(Arc::new(move |cp: &_| {
                sink.lock().unwrap().push(cp.clone());
                Ok(())
            })),
            resume: cp,
            ..RunOptions::default()
        };
        let out = rt().block_on(optimize_with(s.input, options)).unwrap();
        let saved = saved.lock().unwrap().clone();
        (out, saved, ev)
    };
    let (whole, checkpoints, _) = raced(None);
    // Resumed after step 2: the reused scores of steps 1 and 2 come from
    // the checkpoint's trial records, so the race runs the same executions.
    let (resumed, _, ev) = raced(Some(checkpoints[1].clone()));
    assert_eq!(files(&whole), files(&resumed));
    let race = resumed.candidates.race.as_ref().unwrap();
    let built: usize = resumed.trials[2..]
        .iter()
        .map(|t| {
            t.candidates
                .iter()
                .filter(|x| x.pool_index.is_some())
                .count()
        })
        .sum();
    assert_eq!(ev.count(Kind::Evaluation), built * 8 + race.executions);
}
