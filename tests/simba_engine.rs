//! The SIMBA loop on deterministic fakes: LM-call accounting, reproducibility,
//! a real gain, and bad input.

mod common;

use common::*;
use simba_run::artifacts::AttemptResult;
use simba_run::optimize::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run(s: Setup) -> Result<OptimizeOutput, OptimizeError> {
    rt().block_on(optimize(s.input))
}

#[test]
fn call_accounting_per_step_and_final() {
    let train = dataset(18);
    for steps in [1usize, 3] {
        let (bsize, nc) = (6, 3);
        let ev = FakeEvaluator::new(&train);
        let s = setup(decl(bsize, nc, steps), train.clone(), ev.clone());
        let advisor = s.advisor.clone();
        let out = run(s).unwrap();
        assert_eq!(out.trials.len(), steps);
        // Exactly bsize * num_candidates sampling executions per step.
        assert_eq!(ev.count(Kind::Sampling), steps * bsize * nc);
        // Candidates * bsize evaluations per step, then picks * trainset.
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
        for t in &out.trials {
            let n = t
                .candidates
                .iter()
                .filter(|c| c.pool_index.is_some())
                .count();
            assert!(n <= nc + 1, "step {} built {n} candidates", t.step);
            let advice = t
                .candidates
                .iter()
                .flat_map(|c| &c.attempts)
                .filter(|a| a.strategy == "append_rule" && a.result != AttemptResult::Skipped)
                .count();
            assert!(advice <= nc + 1);
        }
        let picks = out.candidates.candidates.len();
        assert_eq!(
            ev.count(Kind::Evaluation),
            built * bsize + picks * train.len()
        );
        let advice_calls = advisor.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            advice_calls <= steps * (nc + 1),
            "{advice_calls} advice requests"
        );
        // Picks are the evenly spaced winners.
        let winners = 1 + out.trials.iter().filter(|t| t.winner.is_some()).count();
        let expect = simba_run::optimize::select::final_indices(winners - 1, nc + 1);
        let got: Vec<usize> = out
            .candidates
            .candidates
            .iter()
            .map(|c| c.winner_index)
            .collect();
        assert_eq!(got, expect);
    }
}

fn artifacts(seed: u64, concurrency: usize, jitter: bool) -> Vec<(String, Vec<u8>)> {
    let train = dataset(24);
    let mut ev = FakeEvaluator::new(&train);
    Arc::get_mut(&mut ev).unwrap().jitter = jitter;
    let mut d = decl(8, 4, 4);
    d.seed = seed;
    d.concurrency = concurrency;
    let out = run(setup(d, train, ev)).unwrap();
    out.files()
        .unwrap()
        .into_iter()
        .filter(|(name, _)| *name != "run.json")
        .collect()
}

use std::sync::Arc;

#[test]
fn same_seed_is_byte_identical() {
    let a = artifacts(0, 4, false);
    let b = artifacts(0, 4, false);
    assert_eq!(a, b);
}

#[test]
fn concurrency_does_not_change_the_result() {
    let a = artifacts(5, 1, true);
    let b = artifacts(5, 64, true);
    assert_eq!(a, b);
}

#[test]
fn seeds_differ() {
    let a = artifacts(0, 4, false);
    let b = artifacts(1, 4, false);
    let trials =
        |x: &Vec<(String, Vec<u8>)>| x.iter().find(|f| f.0 == "trials.jsonl").unwrap().1.clone();
    assert_ne!(trials(&a), trials(&b));
}

#[test]
fn the_optimizer_finds_a_gain() {
    let train = dataset(30);
    let ev = FakeEvaluator::new(&train);
    let out = run(setup(decl(10, 4, 6), train, ev)).unwrap();
    let base = out.run.baseline.train.unwrap();
    let best = out.run.best.train.unwrap();
    assert!(best >= base + 0.15, "baseline {base}, best {best}");
    // The returned program is the candidate marked best, with the top score.
    let c = &out.candidates.candidates[out.candidates.best];
    assert!(c.is_best);
    assert_eq!(c.train_score, Some(best));
    assert!(
        out.candidates
            .candidates
            .iter()
            .all(|x| x.train_score.unwrap() <= best)
    );
    // program.json carries the best program's demos.
    let demos = &out.program_json.predictors["answer"].demos;
    assert_eq!(demos.len(), out.best.predictors["answer"].demos.len());
    assert!(
        demos
            .iter()
            .all(|d| d["augmented"] == serde_json::json!(true))
    );
}

#[test]
fn trainset_smaller_than_bsize_is_clamped_with_a_warning() {
    let train = dataset(5);
    let ev = FakeEvaluator::new(&train);
    let out = run(setup(decl(32, 2, 2), train, ev.clone())).unwrap();
    assert_eq!(out.run.effective_bsize, 5);
    assert!(
        out.run
            .warnings
            .iter()
            .any(|w| w.contains("bsize 32") && w.contains("using bsize = 5"))
    );
    assert_eq!(ev.count(Kind::Sampling), 2 * 5 * 2);
    assert!(out.trials.iter().all(|t| t.batch.len() == 5));
}

#[test]
fn empty_trainset_is_an_input_error() {
    let ev = FakeEvaluator::new(&[]);
    let err = run(setup(decl(4, 2, 2), vec![], ev)).unwrap_err();
    assert!(err.is_input_error());
    assert!(
        err.to_string().contains("trainset `d.train` is empty"),
        "{err}"
    );
}

#[test]
fn a_model_failing_every_call_fails_the_run() {
    let train = dataset(8);
    let mut ev = FakeEvaluator::new(&train);
    Arc::get_mut(&mut ev).unwrap().fail_all = true;
    let err = run(setup(decl(4, 2, 2), train, ev)).unwrap_err();
    assert!(!err.is_input_error());
    let msg = err.to_string();
    assert!(msg.contains("every program execution failed"), "{msg}");
    assert!(msg.contains("connection refused"), "{msg}");
}

#[test]
fn a_metric_failing_everywhere_fails_the_run() {
    let train = dataset(8);
    let mut ev = FakeEvaluator::new(&train);
    Arc::get_mut(&mut ev).unwrap().metric_fails = true;
    let err = run(setup(decl(4, 2, 2), train, ev)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("metric `correct` failed on every example"),
        "{msg}"
    );
    assert!(msg.contains("gold.label"), "{msg}");
}

#[test]
fn zero_steps_returns_the_baseline() {
    let train = dataset(6);
    let ev = FakeEvaluator::new(&train);
    let out = run(setup(decl(4, 3, 0), train.clone(), ev.clone())).unwrap();
    assert_eq!(out.candidates.candidates.len(), 1);
    assert_eq!(out.candidates.best, 0);
    assert_eq!(ev.count(Kind::Evaluation), train.len());
    assert_eq!(out.best, simba_run::program::Program::baseline(graph()));
}

#[test]
fn devset_scores_baseline_and_best() {
    let train = dataset(12);
    let dev = dataset(9);
    let ev = FakeEvaluator::new(&train);
    let mut s = setup(decl(6, 3, 3), train, ev);
    s.input.devset = Some(dev);
    let out = run(s).unwrap();
    assert!(out.run.baseline.dev.is_some());
    assert!(out.run.best.dev.is_some());
    let c = &out.candidates.candidates;
    assert!(c[0].dev_score.is_some());
    assert!(c[out.candidates.best].dev_score.is_some());
}

#[test]
fn unmatched_advice_is_recorded() {
    let train = dataset(12);
    let ev = FakeEvaluator::new(&train);
    // Batches large enough that some scores reach the 90th percentile: with
    // DSPy's inclusive skip rule, a batch where it is 0 asks for no advice.
    let mut d = decl(12, 4, 3);
    d.strategies = vec![simba_run::ir::StrategyRef::AppendRule];
    let mut s = setup(d, train, ev);
    // One predictor: any key applies; so give two keys, one bogus.
    let adv = Arc::new(FakeAdvisor {
        topics: s.advisor.topics.clone(),
        calls: Default::default(),
        key: "Answer".into(),
    });
    s.input.prompt = Some(prompt(adv));
    let out = run(s).unwrap();
    // "Answer" matches the step `answer` case-insensitively.
    let applied = out
        .trials
        .iter()
        .flat_map(|t| &t.candidates)
        .flat_map(|c| &c.attempts)
        .filter(|a| a.result == AttemptResult::Applied)
        .count();
    assert!(applied > 0);
}

/// A strategy that never applies, to exercise the multi-strategy fallback.
struct AlwaysSkip;

#[async_trait::async_trait]
impl Strategy for AlwaysSkip {
    fn name(&self) -> String {
        "always_skip".into()
    }
    async fn apply(
        &self,
        _ctx: &StrategyContext<'_>,
        _candidate: &mut simba_run::program::Program,
    ) -> Result<StrategyReport, StrategyError> {
        Ok(StrategyReport::skipped("never applies"))
    }
}

#[test]
fn a_skipping_strategy_falls_back_to_the_next() {
    let train = dataset(12);
    let ev = FakeEvaluator::new(&train);
    let mut s = setup(decl(6, 3, 2), train, ev);
    s.input.strategies = vec![Arc::new(AlwaysSkip), Arc::new(AppendDemo)];
    let out = run(s).unwrap();
    let mut fell_back = 0;
    for c in out.trials.iter().flat_map(|t| &t.candidates) {
        let names: Vec<&str> = c.attempts.iter().map(|a| a.strategy.as_str()).collect();
        if names[0] == "always_skip" {
            assert_eq!(c.attempts[0].result, AttemptResult::Skipped);
            assert_eq!(c.attempts[0].detail, "never applies");
            assert_eq!(names.get(1), Some(&"append_demo"));
            fell_back += 1;
        }
        // A candidate exists exactly when some attempt applied.
        let applied = c
            .attempts
            .iter()
            .any(|a| a.result == AttemptResult::Applied);
        assert_eq!(applied, c.pool_index.is_some());
    }
    assert!(fell_back > 0);
}

#[test]
fn when_every_strategy_skips_there_is_no_candidate() {
    let train = dataset(12);
    let ev = FakeEvaluator::new(&train);
    let mut s = setup(decl(6, 3, 2), train.clone(), ev.clone());
    s.input.strategies = vec![Arc::new(AlwaysSkip)];
    let out = run(s).unwrap();
    for t in &out.trials {
        // Every bucket was tried, none produced a candidate, nobody won.
        assert_eq!(t.candidates.len(), 6);
        assert!(t.candidates.iter().all(|c| c.pool_index.is_none()));
        assert_eq!(t.winner, None);
    }
    // Only the baseline reaches the end.
    assert_eq!(out.candidates.candidates.len(), 1);
    assert_eq!(ev.count(Kind::Evaluation), train.len());
    // Skips are not failures: no step warning, but the run says it changed nothing.
    assert_eq!(
        out.run.warnings,
        [
            "no strategy applied in 2 steps: every attempt skipped or failed, so the result is the baseline program (see trials.jsonl)"
        ]
    );
}

#[test]
fn settings_of_issue_8_are_acted_on_without_warnings() {
    let train = dataset(6);
    let ev = FakeEvaluator::new(&train);
    let mut d = decl(3, 2, 1);
    d.selection = simba_run::ir::Selection::Thompson;
    d.stop.patience = Some(3);
    let out = run(setup(d, train, ev)).unwrap();
    // The fake strategies of this setup never apply: that warning is expected,
    // and it is the only one.
    let others: Vec<&String> = out
        .run
        .warnings
        .iter()
        .filter(|w| !w.starts_with("no strategy applied"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

/// Scores every execution 1.0: every candidate ties.
struct AlwaysRight;

#[async_trait::async_trait]
impl Evaluator for AlwaysRight {
    async fn run(
        &self,
        _program: &simba_run::program::Program,
        _example: &simba_run::value::Example,
        _ov: &simba_run::program::ModelOverride,
    ) -> Outcome {
        Outcome {
            execution: simba_run::program::Execution {
                prediction: Some(Default::default()),
                trace: vec![],
                error: None,
            },
            score: simba_run::metric::Score {
                value: 1.0,
                feedback: None,
            },
            metric_error: None,
        }
    }
}

#[test]
fn identical_scores_break_ties_toward_the_earlier() {
    let train = dataset(12);
    let ev = FakeEvaluator::new(&train);
    let mut s = setup(decl(6, 3, 3), train, ev);
    s.input.evaluator = Arc::new(AlwaysRight);
    // Every score equal: the built-ins skip every bucket (at or below the
    // 10th percentile, as DSPy), so candidates come from a strategy that
    // applies without changing anything.
    s.input.strategies = vec![Arc::new(Unchanged)];
    let out = run(s).unwrap();
    for t in &out.trials {
        // The first candidate built wins a tie.
        let first = t.candidates.iter().find_map(|c| c.pool_index);
        assert_eq!(t.winner, first);
    }
    // On the trainset every final candidate scores 1.0: the baseline, first,
    // is returned.
    assert!(out.candidates.candidates.len() > 1);
    assert!(
        out.candidates
            .candidates
            .iter()
            .all(|c| c.train_score == Some(1.0))
    );
    assert_eq!(out.candidates.best, 0);
    assert!(out.candidates.candidates[0].is_best);
    assert_eq!(out.best, simba_run::program::Program::baseline(graph()));
}

/// Applies without changing anything: every candidate equals its source.
struct Unchanged;

#[async_trait::async_trait]
impl Strategy for Unchanged {
    fn name(&self) -> String {
        "unchanged".into()
    }
    async fn apply(
        &self,
        _ctx: &StrategyContext<'_>,
        _candidate: &mut simba_run::program::Program,
    ) -> Result<StrategyReport, StrategyError> {
        Ok(StrategyReport {
            applied: true,
            detail: "nothing changed".into(),
            unmatched_advice: Default::default(),
        })
    }
}

#[test]
fn dedup_merges_identical_candidates_and_keeps_their_scores() {
    let train = dataset(12);
    let run_with = |dedup: bool| {
        let ev = FakeEvaluator::new(&train);
        let mut d = decl(4, 2, 3);
        d.dedup = dedup;
        let mut s = setup(d, train.clone(), ev);
        s.input.strategies = vec![Arc::new(Unchanged)];
        run(s).unwrap()
    };
    let on = run_with(true);
    // Every candidate is the baseline again: merged into pool entry 0.
    for t in &on.trials {
        for c in &t.candidates {
            assert_eq!(c.pool_index, Some(0), "step {}", t.step);
            assert!(c.merged);
            assert_eq!(c.scores.len(), 4);
        }
        assert_eq!(t.winner, Some(0));
        // The pool never grew, so every draw is the baseline.
        assert!(t.sampled_programs.iter().flatten().all(|&p| p == 0));
    }
    // Off (DSPy): each candidate is a new entry, and `merged` is not written.
    let off = run_with(false);
    let last = off.trials.last().unwrap();
    assert!(
        last.candidates
            .iter()
            .all(|c| !c.merged && c.pool_index > Some(0))
    );
    let line = serde_json::to_string(last).unwrap();
    assert!(!line.contains("merged"));
}

/// Scores trainset examples like the fake evaluator, but on valset examples
/// (questions starting with "val") only the unchanged baseline scores: every
/// optimized program overfits.
struct Overfit {
    inner: Arc<FakeEvaluator>,
}

#[async_trait::async_trait]
impl Evaluator for Overfit {
    async fn run(
        &self,
        program: &simba_run::program::Program,
        example: &simba_run::value::Example,
        ov: &simba_run::program::ModelOverride,
    ) -> Outcome {
        let q = example.fields["question"].as_str().unwrap();
        if !q.starts_with("val") {
            return self.inner.run(program, example, ov).await;
        }
        let p = &program.predictors["answer"];
        let plain = p.demos.is_empty() && !p.instructions.contains("about");
        let mut out = self.inner.run(program, &dataset(1)[0], ov).await;
        out.score.value = if plain { 1.0 } else { 0.0 };
        out
    }
}

#[test]
fn the_valset_chooses_the_final_program() {
    let train = dataset(20);
    let val: Vec<simba_run::value::Example> = (0..5)
        .map(|i| {
            let mut e = dataset(1)[0].clone();
            e.fields
                .insert("question".into(), serde_json::json!(format!("val {i}")));
            e
        })
        .collect();
    let build = |select: bool| {
        let ev = FakeEvaluator::new(&train);
        let mut d = decl(8, 4, 5);
        if select {
            d.valset = Some(simba_run::ir::DataRef {
                dataset: "d".into(),
                split: "val".into(),
            });
            d.select_on = simba_run::ir::SelectOn::Valset;
        }
        let mut s = setup(d, train.clone(), ev.clone());
        s.input.evaluator = Arc::new(Overfit { inner: ev });
        s.input.valset = select.then(|| val.clone());
        run(s).unwrap()
    };
    let on_train = build(false);
    let c = &on_train.candidates;
    assert_ne!(c.best, 0, "the trainset prefers an optimized program");
    assert!(c.selected_on.is_none());
    assert!(c.candidates.iter().all(|x| x.val_score.is_none()));

    let on_val = build(true);
    let c = &on_val.candidates;
    assert_eq!(c.selected_on.as_deref(), Some("valset"));
    assert!(c.candidates.len() > 1);
    // The baseline wins on the valset although it is not the train-best...
    assert_eq!(c.best, 0);
    assert!(c.candidates[0].is_best);
    assert_eq!(c.candidates[0].val_score, Some(1.0));
    assert!(c.candidates[1..].iter().all(|x| x.val_score == Some(0.0)));
    let train_best = c
        .candidates
        .iter()
        .map(|x| x.train_score.unwrap())
        .fold(f64::MIN, f64::max);
    assert!(c.candidates[0].train_score.unwrap() < train_best);
    // ...and train scores are still reported for every candidate.
    assert!(c.candidates.iter().all(|x| x.train_scores.len() == 20));
    assert_eq!(on_val.run.best.train, c.candidates[0].train_score);
    // The loop itself is unchanged by where the final choice is made.
    assert_eq!(on_val.trials, on_train.trials);
    // Saved candidates are ranked by the score the choice compared: the
    // valset's, so the baseline first, then the others in winner order.
    let ranked: Vec<usize> = c.candidate_programs.iter().map(|r| r.candidate).collect();
    let expect: Vec<usize> = (0..c.candidates.len()).collect();
    assert_eq!(ranked, expect);
    assert_eq!(c.candidate_programs[0].score, 1.0);
}

#[test]
fn every_final_candidate_is_saved_best_first() {
    let train = dataset(30);
    let ev = FakeEvaluator::new(&train);
    let out = run(setup(decl(10, 4, 6), train, ev)).unwrap();
    let c = &out.candidates;
    assert!(c.candidates.len() > 2, "{} candidates", c.candidates.len());
    // One program per candidate, in candidates order, each the candidate's own.
    assert_eq!(out.candidate_programs.len(), c.candidates.len());
    for (program, entry) in out.candidate_programs.iter().zip(&c.candidates) {
        let demos = entry.predictors["answer"].demos.len();
        assert_eq!(program.predictors["answer"].demos.len(), demos);
        assert_eq!(
            program.predictors["answer"].signature.instructions,
            entry.predictors["answer"].instructions
        );
    }
    // Listed as DSPy orders candidate_programs: train score, highest first,
    // ties in winner order; the first is the returned program.
    let listed: Vec<(usize, f64)> = c
        .candidate_programs
        .iter()
        .map(|r| (r.candidate, r.score))
        .collect();
    let mut expect: Vec<(usize, f64)> = c
        .candidates
        .iter()
        .enumerate()
        .map(|(i, x)| (i, x.train_score.unwrap()))
        .collect();
    expect.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(listed, expect);
    assert_eq!(listed[0].0, c.best);
    assert_eq!(out.candidate_programs[c.best], out.program_json);
    // Written beside candidates.json, which they precede, and named as listed.
    let files = out.files().unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let programs: Vec<String> = (0..c.candidates.len())
        .map(|i| format!("candidates/{i:02}.program.json"))
        .collect();
    assert_eq!(names[1..=programs.len()], programs[..]);
    assert_eq!(names[programs.len() + 1], "candidates.json");
    for r in &c.candidate_programs {
        assert_eq!(r.program, programs[r.candidate]);
    }
}

/// The fake's outcomes, with every metric call after the first `answered`
/// failing (a `command` program that crashes on each call from then on).
struct MetricBreaksAfter {
    inner: std::sync::Arc<FakeEvaluator>,
    answered: usize,
    seen: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Evaluator for MetricBreaksAfter {
    async fn run(
        &self,
        program: &simba_run::program::Program,
        example: &simba_run::value::Example,
        ov: &simba_run::program::ModelOverride,
    ) -> Outcome {
        let outcome = self.inner.run(program, example, ov).await;
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.answered {
            return outcome;
        }
        let error = simba_run::metric::MetricError {
            metric: "correct".into(),
            reason: "the process stopped without answering".into(),
        };
        Outcome::failed(outcome.execution, Some(error))
    }
}

#[test]
fn a_metric_that_scored_once_and_then_fails_whole_waves_does_not_stop_the_run() {
    // The first wave (4 examples x 2 sampling variants) is scored; every
    // later metric call fails. Before, the next wave stopped the run.
    let train = dataset(8);
    let ev = FakeEvaluator::new(&train);
    let mut s = setup(decl(4, 2, 2), train, ev.clone());
    s.input.evaluator = std::sync::Arc::new(MetricBreaksAfter {
        inner: ev,
        answered: 8,
        seen: Default::default(),
    });
    let out = run(s).unwrap();
    assert_eq!(out.run.steps_run, 2);
}
