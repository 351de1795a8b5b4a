//! A checkpoint checked before a run continues from it: its version and
//! settings, the hashes of its inputs, then every field against the run
//! (trainset size, baseline, metric range, seed) and against the others
//! (the trial records determine the winners, the pool's growth, the usage
//! totals and the best score). Whatever passes can be resumed without a
//! panic or a wrapped counter; whatever fails is refused naming the field.

use indexmap::IndexMap;
use std::path::{Path, PathBuf};

use crate::artifacts::{CallUsage, RequestRecord, TrialRecord};
use crate::ir::{OptimizeDecl, Selection};
use crate::optimize::rng::Rngs;
use crate::program::PredictorState;

use super::{CHECKPOINT_JSON, Checkpoint, CheckpointError, Fingerprint, ScoreRange};

/// The largest usage count a checkpoint may hold: 2^53, far above any real
/// run and still exact as a JSON number, so continuing never wraps it.
const MAX_COUNT: u64 = 1 << 53;

/// What a checkpoint is checked against: the run it would continue.
pub struct RunFacts<'a> {
    /// The run's optimize block (settings applied).
    pub decl: &'a OptimizeDecl,
    /// Hashes of the run's inputs.
    pub fingerprint: &'a Fingerprint,
    /// The baseline program's predictors (pool entry 0).
    pub baseline: &'a IndexMap<String, PredictorState>,
    /// Rows in the trainset.
    pub trainset_len: usize,
    /// What the run's metric can score.
    pub scores: ScoreRange,
}

/// A field that does not fit: its name and what is wrong.
pub(super) type Check = Result<(), (&'static str, String)>;

fn fail(field: &'static str, message: String) -> Check {
    Err((field, message))
}

impl Checkpoint {
    /// Whether this checkpoint can continue `run`: written by this version,
    /// for the same settings and inputs, and every field consistent.
    pub fn validate(&self, run: &RunFacts) -> Result<(), CheckpointError> {
        let path = PathBuf::from(CHECKPOINT_JSON);
        let field = |(field, message): (&str, String)| CheckpointError::Field {
            path: path.clone(),
            field: field.to_string(),
            message,
        };
        self.version().map_err(field)?;
        self.check_matches(run.decl, Path::new(""))?;
        let changes = run.fingerprint.changes_since(&self.fingerprint);
        if !changes.is_empty() {
            return Err(CheckpointError::Changed {
                path,
                what: changes.join(" and "),
            });
        }
        self.steps(run).map_err(field)?;
        self.pool_entries(run).map_err(field)?;
        self.trials(run).map_err(field)?;
        self.registrations().map_err(field)?;
        self.earned_scores(run.decl.selection == Selection::Thompson)
            .map_err(field)?;
        self.winners().map_err(field)?;
        self.data_order(run).map_err(field)?;
        self.rngs(run).map_err(field)?;
        self.best_scores(run).map_err(field)?;
        self.usage().map_err(field)?;
        self.estimates().map_err(field)
    }

    fn version(&self) -> Check {
        let version = env!("CARGO_PKG_VERSION");
        if self.simba_run_version == version {
            return Ok(());
        }
        let found = crate::printable::escape_controls(&self.simba_run_version);
        fail(
            "simba_run_version",
            format!("written by simba-run `{found}`; only the same version ({version}) resumes it"),
        )
    }

    /// Steps done within both runs' `max_steps`, one trial record each.
    fn steps(&self, run: &RunFacts) -> Check {
        let done = self.steps_done;
        if done > self.config.max_steps {
            return fail(
                "steps_done",
                format!(
                    "{done}, more than its own max_steps ({})",
                    self.config.max_steps
                ),
            );
        }
        if done > run.decl.max_steps {
            return fail(
                "steps_done",
                format!(
                    "{done} steps are done, more than this run's max_steps ({}); resume with max_steps of at least {done}",
                    run.decl.max_steps
                ),
            );
        }
        if self.trials.len() != done {
            return fail(
                "trials",
                format!("{} records for {done} finished steps", self.trials.len()),
            );
        }
        Ok(())
    }

    /// Entry 0 is the run's baseline; every entry has the program's
    /// predictors, a finished step and scores in the metric's range.
    fn pool_entries(&self, run: &RunFacts) -> Check {
        let Some(first) = self.pool.first() else {
            return fail("pool", "empty; it holds at least the baseline".into());
        };
        if first.predictors != *run.baseline || first.step.is_some() {
            return fail(
                "pool",
                "entry 0 has other predictors than the program's baseline".into(),
            );
        }
        for (i, e) in self.pool.iter().enumerate().skip(1) {
            if e.predictors.keys().ne(run.baseline.keys()) {
                return fail(
                    "pool",
                    format!("entry {i} has other predictors than the program"),
                );
            }
            if !e.step.is_some_and(|s| (1..=self.steps_done).contains(&s)) {
                return fail("pool", format!("entry {i} names no finished step"));
            }
        }
        for (i, e) in self.pool.iter().enumerate() {
            if let Some(s) = e.scores.iter().find(|s| !run.scores.contains(**s)) {
                return fail("pool", out_of_range(&format!("entry {i}"), *s, run.scores));
            }
        }
        Ok(())
    }

    /// Each record is for its step and names only trainset rows and pool
    /// entries that exist, with scores in the metric's range; `best_so_far`
    /// follows from the step bests.
    fn trials(&self, run: &RunFacts) -> Check {
        let mut best: Option<f64> = None;
        for (i, t) in self.trials.iter().enumerate() {
            let at = |what: String| format!("record {} (step {}): {what}", i + 1, t.step);
            if t.step != i + 1 {
                return fail("trials", at(format!("expected step {}", i + 1)));
            }
            trial_indices(t, run.trainset_len, self.pool.len()).map_err(|m| ("trials", at(m)))?;
            trial_scores(t, run.scores).map_err(|m| ("trials", at(m)))?;
            best = match (best, t.best_candidate_score) {
                (b, None) => b,
                (b, Some(s)) => Some(b.map_or(s, |b| b.max(s))),
            };
            if t.best_so_far != best {
                return fail(
                    "trials",
                    at("best_so_far is not the best step score so far".into()),
                );
            }
        }
        Ok(())
    }

    /// The pool grew exactly by the candidates the records registered, in
    /// order, each entry built by the step that registered it.
    fn registrations(&self) -> Check {
        let mut next = 1;
        for t in &self.trials {
            for idx in t
                .candidates
                .iter()
                .filter(|c| !c.merged)
                .filter_map(|c| c.pool_index)
            {
                if idx != next || self.pool.get(idx).map(|e| e.step) != Some(Some(t.step)) {
                    return fail(
                        "pool",
                        format!(
                            "entry {idx} is not the candidate step {} registered",
                            t.step
                        ),
                    );
                }
                next += 1;
            }
        }
        if next != self.pool.len() {
            return fail(
                "pool",
                format!(
                    "{} entries, but the trial records registered {} programs after the baseline",
                    self.pool.len(),
                    next - 1
                ),
            );
        }
        Ok(())
    }

    /// The baseline, then each step's winner as its record names it.
    fn winners(&self) -> Check {
        let expected: Vec<usize> = std::iter::once(0)
            .chain(self.trials.iter().filter_map(|t| t.winner))
            .collect();
        if self.winners != expected {
            return fail(
                "winners",
                format!(
                    "must be the baseline then each step's winner in the trial records: {expected:?}"
                ),
            );
        }
        Ok(())
    }

    fn data_order(&self, run: &RunFacts) -> Check {
        let n = run.trainset_len;
        if !is_permutation(&self.data_order, n) {
            return fail(
                "data_order",
                format!("not an order of the trainset's {n} rows"),
            );
        }
        if self.cursor > self.data_order.len() {
            return fail(
                "cursor",
                format!("{} is past the data order's end ({n})", self.cursor),
            );
        }
        Ok(())
    }

    /// Both streams restore, with the key and stream the run's seed gives.
    fn rngs(&self, run: &RunFacts) -> Check {
        let fresh = Rngs::new(run.decl.seed);
        self.rng_choices
            .restore_as(&fresh.choices)
            .map_err(|m| ("rng_choices", m))?;
        self.rng_poisson
            .restore_as(&fresh.poisson)
            .map_err(|m| ("rng_poisson", m))?;
        Ok(())
    }

    /// `best_so_far` is the last record's; the convergence state follows
    /// the checkpoint's own rules and has a best some step reached.
    fn best_scores(&self, run: &RunFacts) -> Check {
        let last = self.trials.last().and_then(|t| t.best_so_far);
        if self.best_so_far != last {
            return fail(
                "best_so_far",
                format!(
                    "{:?}, but the last trial record says {last:?}",
                    self.best_so_far
                ),
            );
        }
        let c = &self.convergence;
        if !c.follows(&self.config.stop) {
            return fail(
                "convergence",
                "its rules are not the checkpoint's stop rules".into(),
            );
        }
        if c.stale() > self.steps_done {
            return fail(
                "convergence",
                format!(
                    "{} steps without improvement, of {} done",
                    c.stale(),
                    self.steps_done
                ),
            );
        }
        let reached = |b: f64| self.trials.iter().any(|t| t.best_so_far == Some(b));
        if c.best()
            .is_some_and(|b| !reached(b) || !run.scores.contains(b))
        {
            return fail(
                "convergence",
                "its best score is none a step reached".into(),
            );
        }
        Ok(())
    }

    /// The totals are the sums of the trial records' calls and tokens and of
    /// the steps' request figures (one per step), within [`MAX_COUNT`], with
    /// no more failures or cache hits than calls or requests.
    fn usage(&self) -> Check {
        if self.step_requests.len() != self.steps_done {
            return fail(
                "step_requests",
                format!(
                    "{} entries for {} finished steps",
                    self.step_requests.len(),
                    self.steps_done
                ),
            );
        }
        let overflow = |field| (field, "the per-step figures overflow".to_string());
        let calls = self
            .trials
            .iter()
            .try_fold(CallUsage::default(), |a, t| add_calls(&a, &t.usage))
            .ok_or_else(|| overflow("usage"))?;
        let sent = self
            .step_requests
            .iter()
            .try_fold(RequestRecord::default(), add_requests)
            .ok_or_else(|| overflow("step_requests"))?;
        let u = &self.usage;
        if u.calls() != calls
            || (u.requests, u.failed_requests) != (sent.requests, sent.failed_requests)
        {
            return fail(
                "usage",
                "the totals are not the sum of the steps' calls, tokens and requests".into(),
            );
        }
        if self.cached_calls != sent.cached_calls {
            return fail(
                "cached_calls",
                "the total is not the sum of the steps' cache hits".into(),
            );
        }
        let counts = [u.lm_calls, u.prompt_tokens, u.completion_tokens, u.requests];
        if counts.iter().any(|&c| c > MAX_COUNT) {
            return fail("usage", format!("a count is above {MAX_COUNT}"));
        }
        if u.failed_calls > u.lm_calls || u.failed_requests > u.requests {
            return fail("usage", "more failures than calls or requests".into());
        }
        let step_hits_fit =
            self.trials.iter().zip(&self.step_requests).all(|(t, r)| {
                r.cached_calls <= t.usage.lm_calls && r.failed_requests <= r.requests
            });
        if !step_hits_fit {
            return fail(
                "step_requests",
                "a step with more cache hits than calls, or more failed requests than requests"
                    .into(),
            );
        }
        Ok(())
    }

    /// One duration per finished step; the budget estimates: at least one
    /// call per execution and no more than the largest step used; the USD
    /// spent finite and not negative.
    fn estimates(&self) -> Check {
        if self.step_durations_ms.len() != self.steps_done {
            return fail(
                "step_durations_ms",
                format!(
                    "{} durations for {} finished steps",
                    self.step_durations_ms.len(),
                    self.steps_done
                ),
            );
        }
        let (calls, tokens) = self.per_execution;
        let most_calls = self
            .trials
            .iter()
            .map(|t| t.usage.lm_calls)
            .max()
            .unwrap_or(0);
        let most_tokens = self
            .trials
            .iter()
            .map(|t| {
                t.usage
                    .prompt_tokens
                    .saturating_add(t.usage.completion_tokens)
            })
            .max()
            .unwrap_or(0);
        let calls_ok = (1.0..=(most_calls as f64).max(1.0)).contains(&calls);
        let tokens_ok = (0.0..=most_tokens as f64).contains(&tokens);
        if !(calls_ok && tokens_ok) {
            return fail(
                "per_execution",
                format!(
                    "[{calls}, {tokens}] is not within [1, {most_calls}] calls and [0, {most_tokens}] tokens"
                ),
            );
        }
        if !(self.spent_usd.is_finite() && self.spent_usd >= 0.0) {
            return fail("spent_usd", format!("{} is not an amount", self.spent_usd));
        }
        Ok(())
    }
}

/// Rows and pool entries a record names exist.
fn trial_indices(t: &TrialRecord, rows: usize, pool: usize) -> Result<(), String> {
    let row = |i: &usize| *i < rows;
    let entry = |i: &usize| *i < pool;
    let candidates_ok = t
        .candidates
        .iter()
        .all(|c| row(&c.example) && entry(&c.source) && c.pool_index.as_ref().is_none_or(entry));
    if !t.batch.iter().all(row) || !t.buckets.iter().all(|b| row(&b.example)) || !candidates_ok {
        return Err(format!(
            "names a row outside the trainset ({rows} rows) or a pool entry outside the pool ({pool})"
        ));
    }
    if !t.sampled_programs.iter().flatten().all(entry) || !t.winner.as_ref().is_none_or(entry) {
        return Err(format!(
            "names a pool entry outside the pool ({pool} entries)"
        ));
    }
    Ok(())
}

/// Every score a record holds is in the metric's range.
fn trial_scores(t: &TrialRecord, range: ScoreRange) -> Result<(), String> {
    let stats = [t.batch_stats.mean, t.batch_stats.p10, t.batch_stats.p90];
    let buckets = t
        .buckets
        .iter()
        .flat_map(|b| b.scores.iter().copied().chain([b.max_score]));
    let candidates = t
        .candidates
        .iter()
        .flat_map(|c| c.scores.iter().copied().chain(c.score));
    let bests = t.best_candidate_score.into_iter().chain(t.best_so_far);
    let mut all = stats
        .into_iter()
        .chain(buckets)
        .chain(candidates)
        .chain(bests);
    match all.find(|s| !range.contains(*s)) {
        Some(s) => Err(out_of_range("a score", s, range)),
        None => Ok(()),
    }
}

fn out_of_range(what: &str, score: f64, range: ScoreRange) -> String {
    format!(
        "{what}: {score} is outside the metric's range ({})",
        range.describe()
    )
}

/// `a + b`, or None when a count overflows.
fn add_calls(a: &CallUsage, b: &CallUsage) -> Option<CallUsage> {
    Some(CallUsage {
        lm_calls: a.lm_calls.checked_add(b.lm_calls)?,
        failed_calls: a.failed_calls.checked_add(b.failed_calls)?,
        prompt_tokens: a.prompt_tokens.checked_add(b.prompt_tokens)?,
        completion_tokens: a.completion_tokens.checked_add(b.completion_tokens)?,
    })
}

/// `a + b`, or None when a count overflows.
fn add_requests(a: RequestRecord, b: &RequestRecord) -> Option<RequestRecord> {
    Some(RequestRecord {
        requests: a.requests.checked_add(b.requests)?,
        failed_requests: a.failed_requests.checked_add(b.failed_requests)?,
        cached_calls: a.cached_calls.checked_add(b.cached_calls)?,
    })
}

/// Whether `order` holds each of `0..n` exactly once (a checkpoint's data
/// order indexes the trainset directly).
fn is_permutation(order: &[usize], n: usize) -> bool {
    let mut seen = vec![false; n];
    order.len() == n
        && order
            .iter()
            .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permutation_holds_each_index_once() {
        assert!(is_permutation(&[2, 0, 1], 3));
        assert!(!is_permutation(&[0, 0, 1], 3));
        assert!(!is_permutation(&[0, 1, 3], 3));
        assert!(!is_permutation(&[0, 1], 3));
    }

    #[test]
    fn usage_sums_refuse_to_wrap() {
        let one = CallUsage {
            lm_calls: 1,
            ..CallUsage::default()
        };
        let top = CallUsage {
            lm_calls: u64::MAX,
            ..CallUsage::default()
        };
        assert_eq!(add_calls(&one, &one).unwrap().lm_calls, 2);
        assert!(add_calls(&one, &top).is_none());
        let sent = RequestRecord {
            requests: 2,
            failed_requests: 1,
            cached_calls: 3,
        };
        assert_eq!(add_requests(sent, &sent).unwrap().cached_calls, 6);
        let full = RequestRecord {
            requests: u64::MAX,
            ..sent
        };
        assert!(add_requests(full, &sent).is_none());
    }
}
