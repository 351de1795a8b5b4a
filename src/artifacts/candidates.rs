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
    /// Mean metric over the full trainset.
    pub train_score: f64,
    /// Per-example metric values, in trainset order.
    pub train_scores: Vec<f64>,
    /// Mean metric over the devset, when one was given and this candidate is
    /// the baseline or the best.
    pub dev_score: Option<f64>,
    /// Mean metric over the valset, when the final program is chosen there
    /// (`valset` / `select_on = valset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_score: Option<f64>,
    /// True for the returned program.
    pub is_best: bool,
    /// Instructions and demos of every predictor, keyed by step name.
    pub predictors: IndexMap<String, PredictorState>,
}
