//! `candidates.json`: the final candidates, their scores, and their files.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::program::PredictorState;

/// `candidates.json`: the programs picked from the winners for the final
/// full-trainset evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidatesJson {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// The spec's program name.
    pub program: String,
    /// The metric's name the candidates were scored with.
    pub metric: String,
    /// Number of trainset examples each `train_scores` covers.
    pub trainset_size: usize,
    /// Where the returned program was chosen: `valset` or `devset`; absent
    /// for the trainset (DSPy's way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_on: Option<String>,
    /// Position in `candidates` of the returned program.
    pub best: usize,
    /// Every final candidate, in winner order.
    pub candidates: Vec<CandidateEntry>,
    /// How the race went, with `final = race` (absent for a full selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race: Option<RaceSummary>,
    /// Every final candidate's saved program, best first: the order of the
    /// `candidate_programs` DSPy attaches to the program it returns (by the
    /// score the selection compared, highest first; ties in winner order),
    /// so the first is the returned program and the second the runner-up.
    #[serde(default)]
    pub candidate_programs: Vec<RankedCandidate>,
}

/// One entry of [`CandidatesJson::candidate_programs`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedCandidate {
    /// Position in `candidates`.
    pub candidate: usize,
    /// The score the final selection compared: `train_score`, or
    /// `val_score` / `dev_score` when chosen on a valset / devset.
    pub score: f64,
    /// The program's file, relative to the output folder
    /// ([`candidate_program_file`]).
    pub program: String,
}

/// One final candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateEntry {
    /// Index in the list of winning programs: 0 is the baseline, k the winner
    /// of step k (1-based steps).
    pub winner_index: usize,
    /// The step whose best candidate this is; None for the baseline.
    pub step: Option<usize>,
    /// Index in the program pool (0 = baseline).
    pub pool_index: usize,
    /// Mean metric over the full trainset. With `final = race`: over the
    /// trainset examples the race scored it on, absent when it raced on
    /// another split (or on none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_score: Option<f64>,
    /// Per-example metric values, in trainset order; `null` where the race
    /// did not score it (empty when it raced on another split).
    pub train_scores: Vec<Option<f64>>,
    /// Mean metric over the devset, when one was given and this candidate is
    /// the baseline or the best.
    pub dev_score: Option<f64>,
    /// Mean metric over the valset, when the final program is chosen there
    /// (`valset` / `select_on = valset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_score: Option<f64>,
    /// True for the returned program.
    pub is_best: bool,
    /// Its race, with `final = race`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race: Option<CandidateRaceRecord>,
    /// Instructions and demos of every predictor, keyed by step name.
    pub predictors: IndexMap<String, PredictorState>,
}

/// `candidates.json`'s `race`: how `final = race` went
/// (docs/optimizer.md, "Racing the final selection").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceSummary {
    /// The split raced on: `trainset`, `valset` or `devset`.
    pub on: String,
    /// Examples in that split.
    pub set_size: usize,
    /// Examples per round.
    pub round_size: usize,
    /// Rounds run.
    pub rounds: usize,
    /// The race's error rate: the chance that the program a full selection
    /// would return is dropped is at most this.
    pub delta: f64,
    /// The error rate of each comparison (`delta` over the candidates but one).
    pub alpha: f64,
    /// Why the race ended.
    pub end: RaceEnd,
    /// Program executions the race ran.
    pub executions: usize,
    /// Scores it took from earlier in the run instead of running them.
    pub reused: usize,
    /// Executions a full selection runs: candidates x set size.
    pub full_executions: usize,
}

/// Why a race ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceEnd {
    /// One candidate was left.
    OneLeft,
    /// Every example was read; the best mean among the rest won.
    Exhausted,
    /// The next round would have passed a budget; the leader won.
    Budget,
}

/// How the race ended for one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceResult {
    /// The program returned.
    Returned,
    /// Still racing when the race ended, but not returned.
    Survived,
    /// Dropped: confidently worse than the leader.
    Dropped,
}

/// One candidate's race.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRaceRecord {
    /// Returned, survived or dropped.
    pub result: RaceResult,
    /// The round it was dropped after (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_after_round: Option<usize>,
    /// Examples it was scored on, in race order.
    pub examples: usize,
    /// Of those, scores taken from earlier in the run.
    pub reused: usize,
    /// Its mean on those examples (None when it was scored on none).
    pub estimate: Option<f64>,
    /// The candidate it was compared with: the leader that dropped it, or
    /// the returned program (None for the returned program itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<usize>,
    /// The confidence interval of (its mean - `compared_with`'s mean) on
    /// the whole split, each side at the race's `alpha`: dropped when the
    /// upper end fell below 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}
