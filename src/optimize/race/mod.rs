//! `final = race`: the final candidates scored in rounds over one shuffled
//! order of the selection set, a candidate dropped once it is confidently
//! worse than the leader (docs/optimizer.md, "Racing the final selection").
//!
//! This module is the race's bookkeeping and rules only, without any
//! execution: the engine asks [`Race::next_round`] which (candidate,
//! example) pairs to run, runs them as one wave, and hands the scores back
//! to [`Race::close_round`]. So the eliminations are a pure function of the
//! order and the scores, whatever the concurrency.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | rounds, the leader, eliminations, the per-candidate outcome |
//! | `bound.rs` | the test by betting the eliminations use, and its interval |

pub mod bound;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;

pub use crate::artifacts::RaceEnd;

/// The error rate of the whole race: the chance that the program a full
/// selection would return is dropped is at most this.
pub const DELTA: f64 = 0.05;
/// The fewest examples a round reads.
pub const MIN_ROUND: usize = 8;
/// The ChaCha20 stream of the race order (0 and 1 are the run's choices
/// and Poisson streams), so drawing it never shifts the loop's draws.
const ORDER_STREAM: u64 = 2;

/// Examples per round: the effective bsize, at least [`MIN_ROUND`].
pub fn round_size(bsize: usize) -> usize {
    bsize.max(MIN_ROUND)
}

/// The order the race reads a set of `len` examples in: a shuffle from its
/// own stream seeded from the block's `seed`.
pub fn race_order(seed: u64, len: usize) -> Vec<usize> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(ORDER_STREAM);
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut rng);
    order
}

/// Where a candidate stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    /// Still in the race (or in it when the race ended).
    Racing,
    /// Dropped at the end of a round.
    Dropped {
        /// The 1-based round.
        round: usize,
        /// The candidate it was compared with: the leader then.
        leader: usize,
        /// The interval of (its mean - the leader's mean) on the whole set,
        /// scaled to the metric's range, when it was dropped.
        interval: (f64, f64),
    },
}

/// The next round's work.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// 1-based.
    pub number: usize,
    /// The set's examples the round reads, in race order.
    pub examples: Vec<usize>,
    /// The (candidate, example) pairs to run: every racing candidate on
    /// every example of the round whose score is not known yet,
    /// candidate-major.
    pub jobs: Vec<(usize, usize)>,
}

/// A race between `candidates` programs on a set of examples.
#[derive(Debug, Clone)]
pub struct Race {
    order: Vec<usize>,
    round_size: usize,
    /// Per comparison error rate: [`DELTA`] over the comparisons the best
    /// can lose (one against each other candidate).
    alpha: f64,
    /// The metric's range: differences are divided by it.
    scale: f64,
    /// `[candidate][example]`: known before the race, or read in it.
    scores: Vec<Vec<Option<f64>>>,
    /// `[candidate][example]`: the score came from earlier in the run.
    reused: Vec<Vec<bool>>,
    standing: Vec<Standing>,
    /// Examples of `order` read so far (every racing candidate has them).
    read: usize,
    /// Examples read when each candidate left the race (or so far).
    read_at_end: Vec<Option<usize>>,
    rounds: usize,
    end: Option<RaceEnd>,
}

impl Race {
    /// A race in `order` (indices into the set) with `known[c]` the scores
    /// candidate `c` already has (`None`: unknown), for a metric scoring in
    /// `range`.
    pub fn new(
        order: Vec<usize>,
        known: Vec<Vec<Option<f64>>>,
        round_size: usize,
        range: (f64, f64),
    ) -> Self {
        let n = known.len();
        let width = range.1 - range.0;
        let reused = known
            .iter()
            .map(|k| k.iter().map(Option::is_some).collect())
            .collect();
        let mut race = Self {
            alpha: DELTA / n.saturating_sub(1).max(1) as f64,
            scale: if width > 0.0 && width.is_finite() {
                width
            } else {
                1.0
            },
            order,
            round_size: round_size.max(1),
            scores: known,
            reused,
            standing: vec![Standing::Racing; n],
            read: 0,
            read_at_end: vec![None; n],
            rounds: 0,
            end: None,
        };
        race.settle_end();
        race
    }

    /// The per-comparison error rate.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Examples of the order read so far.
    pub fn read(&self) -> usize {
        self.read
    }

    /// Rounds closed so far.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Why the race ended (None while it goes on).
    pub fn end(&self) -> Option<RaceEnd> {
        self.end
    }

    /// Candidate `c`'s standing.
    pub fn standing(&self, c: usize) -> Standing {
        self.standing[c]
    }

    fn racing(&self) -> Vec<usize> {
        (0..self.standing.len())
            .filter(|&c| self.standing[c] == Standing::Racing)
            .collect()
    }

    /// The next round, or None once the race is over.
    pub fn next_round(&self) -> Option<Round> {
        if self.end.is_some() {
            return None;
        }
        let stop = (self.read + self.round_size).min(self.order.len());
        let examples = self.order[self.read..stop].to_vec();
        let jobs = self
            .racing()
            .into_iter()
            .flat_map(|c| {
                examples
                    .iter()
                    .filter(move |&&e| self.scores[c][e].is_none())
                    .map(move |&e| (c, e))
            })
            .collect();
        Some(Round {
            number: self.rounds + 1,
            examples,
            jobs,
        })
    }

    /// Close `round` with the scores of its jobs (in job order): record
    /// them, find the leader, drop every candidate confidently worse.
    /// Returns the candidates dropped.
    pub fn close_round(&mut self, round: &Round, scores: &[f64]) -> Vec<usize> {
        assert_eq!(round.jobs.len(), scores.len(), "one score per job");
        for (&(c, e), &s) in round.jobs.iter().zip(scores) {
            self.scores[c][e] = Some(s);
        }
        self.read += round.examples.len();
        self.rounds = round.number;
        let leader = self.leader();
        let mut dropped = Vec::new();
        for c in self.racing() {
            if c == leader {
                continue;
            }
            let d = self.differences(c, leader);
            if bound::rejects_at_least(&d, self.order.len(), 0.0, self.alpha) {
                let interval = bound::interval(&d, self.order.len(), self.alpha);
                self.standing[c] = Standing::Dropped {
                    round: round.number,
                    leader,
                    interval,
                };
                self.read_at_end[c] = Some(self.read);
                dropped.push(c);
            }
        }
        self.settle_end();
        dropped
    }

    /// End the race before the next round (a budget would be passed).
    pub fn stop_for_budget(&mut self) {
        if self.end.is_none() {
            self.end = Some(RaceEnd::Budget);
        }
    }

    fn settle_end(&mut self) {
        if self.end.is_some() {
            return;
        }
        // A lone candidate has nothing to race against: it reads the whole
        // set (round by round, so a budget can still end it), scored as a
        // full selection would score it, never left without a score.
        if self.standing.len() > 1 && self.racing().len() <= 1 {
            self.end = Some(RaceEnd::OneLeft);
        } else if self.read >= self.order.len() {
            self.end = Some(RaceEnd::Exhausted);
        }
    }

    /// The racing candidate with the highest mean on the examples read so
    /// far; ties go to the earlier candidate (so the baseline wins a tie,
    /// as in a full selection).
    pub fn leader(&self) -> usize {
        let racing = self.racing();
        let mut best = racing[0];
        for &c in &racing[1..] {
            if self.mean(c, self.read) > self.mean(best, self.read) {
                best = c;
            }
        }
        best
    }

    /// Candidate `c`'s mean on the first `read` examples of the order.
    fn mean(&self, c: usize, read: usize) -> f64 {
        if read == 0 {
            return 0.0;
        }
        let sum: f64 = self.order[..read]
            .iter()
            .map(|&e| self.scores[c][e].unwrap_or(0.0))
            .sum();
        sum / read as f64
    }

    /// `(score of c - score of leader) / range` on the examples read, in
    /// race order.
    fn differences(&self, c: usize, leader: usize) -> Vec<f64> {
        self.order[..self.read]
            .iter()
            .map(|&e| {
                let a = self.scores[c][e].unwrap_or(0.0);
                let b = self.scores[leader][e].unwrap_or(0.0);
                ((a - b) / self.scale).clamp(-1.0, 1.0)
            })
            .collect()
    }

    /// The result: the winner and each candidate's outcome. Call once the
    /// race is over ([`Race::next_round`] is None).
    pub fn outcome(&self) -> RaceOutcome {
        let winner = self.leader();
        let candidates = (0..self.standing.len())
            .map(|c| {
                let read = self.read_at_end[c].unwrap_or(self.read);
                let examples: Vec<usize> = self.order[..read].to_vec();
                let reused = examples.iter().filter(|&&e| self.reused[c][e]).count();
                let (result, interval) = match self.standing[c] {
                    Standing::Dropped {
                        round,
                        leader,
                        interval,
                    } => (CandidateResult::Dropped { round, leader }, Some(interval)),
                    Standing::Racing if c == winner => (CandidateResult::Returned, None),
                    Standing::Racing => {
                        let d = self.differences(c, winner);
                        let i = bound::interval(&d, self.order.len(), self.alpha);
                        (CandidateResult::Survived, Some(i))
                    }
                };
                let scale = self.scale;
                let mut scores = vec![None; self.order.len()];
                for &e in &examples {
                    scores[e] = self.scores[c][e];
                }
                CandidateRace {
                    scores,
                    examples: read,
                    reused,
                    estimate: self.mean(c, read),
                    interval: interval.map(|(lo, hi)| (lo * scale, hi * scale)),
                    result,
                }
            })
            .collect();
        RaceOutcome {
            winner,
            end: self.end.unwrap_or(RaceEnd::Exhausted),
            rounds: self.rounds,
            candidates,
        }
    }
}

/// How the race ended for one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CandidateResult {
    /// The program returned.
    Returned,
    /// Still racing when the race ended, but not returned.
    Survived,
    /// Dropped at the end of `round` against `leader`.
    Dropped {
        /// 1-based round.
        round: usize,
        /// The leader it was compared with.
        leader: usize,
    },
}

/// One candidate's race.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRace {
    /// Its scores by set index; None where it was not scored.
    pub scores: Vec<Option<f64>>,
    /// Examples it was scored on.
    pub examples: usize,
    /// Of those, how many scores came from earlier in the run.
    pub reused: usize,
    /// Its mean on those examples.
    pub estimate: f64,
    /// The interval of (its mean - the compared leader's mean) on the whole
    /// set, in metric units; None for the returned program.
    pub interval: Option<(f64, f64)>,
    /// Returned, survived or dropped.
    pub result: CandidateResult,
}

/// The race's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceOutcome {
    /// The candidate returned.
    pub winner: usize,
    /// Why the race ended.
    pub end: RaceEnd,
    /// Rounds run.
    pub rounds: usize,
    /// Per candidate, in candidate order.
    pub candidates: Vec<CandidateRace>,
}

#[cfg(test)]
mod tests;
