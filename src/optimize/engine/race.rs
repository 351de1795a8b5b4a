//! `final = race` (docs/optimizer.md, "Racing the final selection"): the
//! picks raced on the selection split in rounds, each round one wave; scores
//! the loop already has reused; a round that would pass a budget not run.
//! The race's rules are in [`crate::optimize::race`]; this file runs it.

use std::sync::Arc;

use crate::artifacts::{CandidateRaceRecord, RaceResult, RaceSummary, TrialRecord};
use crate::ir::SelectOn;
use crate::optimize::pool::mean_or_zero;
use crate::program::{ModelOverride, Program};
use crate::value::Example;

use crate::optimize::events::{Event, Phase};
use crate::optimize::race::{
    self, CandidateResult, DELTA, Race, RaceOutcome, race_order, round_size,
};

use super::OptimizeError;
use super::finish::FinalScores;
use super::run::Run;
use super::wave::Job;

/// A finished race and what candidates.json says about it.
pub(super) struct RaceReport {
    outcome: RaceOutcome,
    /// `trainset`, `valset` or `devset`.
    on: &'static str,
    set_size: usize,
    round_size: usize,
    alpha: f64,
    /// Executions actually run.
    executions: usize,
}

impl RaceReport {
    /// candidates.json's `race`.
    pub fn summary(&self) -> RaceSummary {
        RaceSummary {
            on: self.on.into(),
            set_size: self.set_size,
            round_size: self.round_size,
            rounds: self.outcome.rounds,
            delta: DELTA,
            alpha: self.alpha,
            end: self.outcome.end,
            executions: self.executions,
            reused: self.outcome.candidates.iter().map(|c| c.reused).sum(),
            full_executions: self.outcome.candidates.len() * self.set_size,
        }
    }

    /// Candidate `c`'s entry.
    pub fn record(&self, c: usize) -> CandidateRaceRecord {
        let r = &self.outcome.candidates[c];
        let (result, dropped_after_round, compared_with) = match r.result {
            CandidateResult::Returned => (RaceResult::Returned, None, None),
            CandidateResult::Survived => (RaceResult::Survived, None, Some(self.outcome.winner)),
            CandidateResult::Dropped { round, leader } => {
                (RaceResult::Dropped, Some(round), Some(leader))
            }
        };
        CandidateRaceRecord {
            result,
            dropped_after_round,
            examples: r.examples,
            reused: r.reused,
            estimate: (r.examples > 0).then_some(r.estimate),
            compared_with,
            interval: r.interval.map(|(lo, hi)| [lo, hi]),
        }
    }

    /// The candidates best first: the returned program, then by how long
    /// each lasted (examples scored), then by estimate; ties in candidate
    /// order. Estimates on different numbers of examples are not compared
    /// first: a candidate dropped early may have a lucky estimate.
    pub fn ranking(&self) -> Vec<usize> {
        let cands = &self.outcome.candidates;
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by(|&a, &b| {
            let returned = |c: usize| c == self.outcome.winner;
            returned(b)
                .cmp(&returned(a))
                .then(cands[b].examples.cmp(&cands[a].examples))
                .then(cands[b].estimate.total_cmp(&cands[a].estimate))
        });
        order
    }
}

impl Run {
    /// The picks raced on the selection split (the trainset unless the
    /// block selects on a valset or devset).
    pub(super) async fn raced_selection(
        &self,
        picks: Vec<usize>,
        programs: &[Arc<Program>],
        trials: &[TrialRecord],
    ) -> Result<FinalScores, OptimizeError> {
        let n = picks.len();
        let (set, on, phase) = match &self.data.select {
            Some(s) if s.on == SelectOn::Devset => (s.examples.clone(), "devset", Phase::Dev),
            Some(s) => (s.examples.clone(), "valset", Phase::Valset),
            None => (self.data.trainset.clone(), "trainset", Phase::Final),
        };
        let known = if self.data.select.is_none() {
            known_scores(self, programs, trials)
        } else {
            vec![vec![None; set.len()]; n]
        };
        // Rounds leave room for the devset evaluation that follows.
        self.reserve_for(self.dev_executions());
        let rounds = round_size(self.data.bsize);
        let race = Race::new(
            race_order(self.decl.seed, set.len()),
            known,
            rounds,
            self.race_range(),
        );
        let alpha = race.alpha();
        let (outcome, executions) = self.run_race(race, programs, &set, phase).await?;
        let estimates: Vec<Option<f64>> = outcome
            .candidates
            .iter()
            .map(|c| (c.examples > 0).then_some(c.estimate))
            .collect();
        let on_train = self.data.select.is_none();
        let split = |wanted: &str| {
            if on == wanted {
                estimates.clone()
            } else {
                vec![None; n]
            }
        };
        let mut dev = split("devset");
        if on == "devset" {
            self.complete_on_devset(&outcome, programs, &set, &mut dev)
                .await?;
        }
        Ok(FinalScores {
            train: if on_train {
                outcome
                    .candidates
                    .iter()
                    .map(|c| c.scores.clone())
                    .collect()
            } else {
                vec![Vec::new(); n]
            },
            train_means: split("trainset"),
            val: split("valset"),
            dev,
            best: outcome.winner,
            picks,
            race: Some(RaceReport {
                outcome,
                on,
                set_size: set.len(),
                round_size: rounds,
                alpha,
                executions,
            }),
        })
    }

    /// A race on the devset leaves run.json's dev scores as estimates over
    /// the rows read: the baseline and the returned program get the rows
    /// they were not scored on, so their dev scores are means over the whole
    /// devset (as a full selection's are). Other partly read candidates get
    /// no dev score (their estimate stays in the race record).
    async fn complete_on_devset(
        &self,
        outcome: &RaceOutcome,
        programs: &[Arc<Program>],
        set: &Arc<Vec<Example>>,
        dev: &mut [Option<f64>],
    ) -> Result<(), OptimizeError> {
        let mut complete: Vec<usize> = vec![0, outcome.winner];
        complete.dedup();
        let mut jobs = Vec::new();
        for &c in &complete {
            let rows = &outcome.candidates[c].scores;
            jobs.extend((0..set.len()).filter(|&e| rows[e].is_none()).map(|e| Job {
                program: programs[c].clone(),
                example: e,
                ov: ModelOverride::default(),
            }));
        }
        let outcomes = self.wave(set, jobs, None, Phase::Dev).await;
        self.check_wave(&outcomes, "evaluation on the devset")?;
        let mut ran = outcomes.iter().map(|o| o.score.value);
        for (c, slot) in dev.iter_mut().enumerate() {
            let rows = &outcome.candidates[c].scores;
            *slot = if complete.contains(&c) {
                let all: Vec<f64> = rows
                    .iter()
                    .map(|s| s.unwrap_or_else(|| ran.next().unwrap_or(0.0)))
                    .collect();
                Some(mean_or_zero(&all))
            } else if rows.iter().all(Option::is_some) {
                *slot
            } else {
                None
            };
        }
        Ok(())
    }

    /// The metric's range the race scales differences by (checked bounded
    /// when the run was built).
    fn race_range(&self) -> (f64, f64) {
        self.resume_check
            .scores
            .finite_bounds()
            .unwrap_or((0.0, 1.0))
    }

    /// Round after round, each one wave, until the race is over; the
    /// outcome and the executions run.
    async fn run_race(
        &self,
        mut race: Race,
        programs: &[Arc<Program>],
        set: &Arc<Vec<Example>>,
        phase: Phase,
    ) -> Result<(RaceOutcome, usize), OptimizeError> {
        let mut executions = 0;
        while let Some(round) = race.next_round() {
            // The first round always runs: the race needs a leader.
            if round.number > 1 && self.round_would_pass(round.jobs.len()).is_some() {
                race.stop_for_budget();
                break;
            }
            let jobs: Vec<Job> = round
                .jobs
                .iter()
                .map(|&(c, e)| Job {
                    program: programs[c].clone(),
                    example: e,
                    ov: ModelOverride::default(),
                })
                .collect();
            executions += jobs.len();
            let outcomes = self.wave(set, jobs, None, phase).await;
            let context = format!("final selection, race round {}", round.number);
            self.check_wave(&outcomes, &context)?;
            let scores: Vec<f64> = outcomes.iter().map(|o| o.score.value).collect();
            let dropped = race.close_round(&round, &scores);
            let racing: Vec<usize> = (0..programs.len())
                .filter(|&c| race.standing(c) == race::Standing::Racing)
                .collect();
            self.report.events.emit(Event::RaceRound {
                round: round.number,
                examples: race.read(),
                leader: race.leader(),
                racing,
                dropped,
            });
        }
        Ok((race.outcome(), executions))
    }
}

/// Scores each pick already earned on trainset examples, by trainset index:
/// every mini-batch evaluation (SIMBA step 6) of a candidate whose
/// instructions and demos equal the pick's, in every predictor. Step 6 runs
/// a program with its own model settings, as the final selection does, so
/// a re-run sends the same requests; the first score recorded is kept.
fn known_scores(
    run: &Run,
    programs: &[Arc<Program>],
    trials: &[TrialRecord],
) -> Vec<Vec<Option<f64>>> {
    let len = run.data.trainset.len();
    let pool = &run.progress.pool;
    programs
        .iter()
        .map(|program| {
            let mut known = vec![None; len];
            for t in trials {
                for record in &t.candidates {
                    let Some(i) = record.pool_index else { continue };
                    if pool.get(i).program.predictors != program.predictors {
                        continue;
                    }
                    for (&e, &s) in t.batch.iter().zip(&record.scores) {
                        known[e].get_or_insert(s);
                    }
                }
            }
            known
        })
        .collect()
}
