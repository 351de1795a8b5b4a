//! Checkpoint and resume: the coordinator's whole state after a finished
//! step, as `checkpoint.json` in the output folder.
//!
//! The state is everything the next step depends on (pool, scores, winners,
//! both random streams' positions, the data order and cursor, best so far,
//! usage, stop-rule state) plus the trial records so far, so a resumed run
//! continues exactly where the interrupted one was and writes the same
//! artifacts. Floats round-trip exactly (serde_json's `float_roundtrip`).
//!
//! A checkpoint is outside input: before a run continues from one, every
//! field is checked against the run and against the others (`validate.rs`),
//! and the inputs it was written for must hash the same (`fingerprint.rs`).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the layout, loading, the settings check, the sink |
//! | `validate.rs` | every field against the run and the invariants |
//! | `fingerprint.rs` | content hashes of the data, program, metric, models, plugins |
//! | `score_range.rs` | the values a metric can score |
//! | `rng_state.rs` | a random stream's exact position |

mod earned;
mod fingerprint;
mod rng_state;
mod score_range;
mod validate;

pub use fingerprint::{Fingerprint, plugins_used};
pub use rng_state::RngState;
pub use score_range::ScoreRange;
pub use validate::RunFacts;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::artifacts::{RequestRecord, TrialRecord, UsageRecord};
use crate::ir::OptimizeDecl;
use crate::program::PredictorState;

use super::stop::Convergence;

/// The file name inside the output folder.
pub const CHECKPOINT_JSON: &str = "checkpoint.json";
/// Layout version of checkpoint.json. 2: input hashes (`fingerprint`), the
/// USD spent kept without a budget (`spent_usd`), and no more budget
/// counters (they follow from `usage` and the trial records). 3: the
/// requests each step sent moved out of the trial records into
/// `step_requests`.
pub const CHECKPOINT_SCHEMA: u32 = 3;

/// One pool entry (the program's graph comes from the spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolEntryState {
    /// Instructions and demos by step name.
    pub predictors: IndexMap<String, PredictorState>,
    /// The mini-batch scores it earned.
    pub scores: Vec<f64>,
    /// The step that built it (None for the baseline).
    pub step: Option<usize>,
}

/// The coordinator's state after `steps_done` finished steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_SCHEMA`].
    pub schema: u32,
    /// The simba-run version that wrote it (only the same version resumes).
    pub simba_run_version: String,
    /// The optimize block the state belongs to.
    pub config: OptimizeDecl,
    /// Hashes of the inputs the run depends on.
    pub fingerprint: Fingerprint,
    /// Finished steps.
    pub steps_done: usize,
    /// Every program seen, index 0 the baseline.
    pub pool: Vec<PoolEntryState>,
    /// Pool indices: the baseline, then each step's winner.
    pub winners: Vec<usize>,
    /// The choices stream.
    pub rng_choices: RngState,
    /// The Poisson stream.
    pub rng_poisson: RngState,
    /// The shuffled trainset indices mini-batches are read from.
    pub data_order: Vec<usize>,
    /// The next unread position of `data_order`.
    pub cursor: usize,
    /// The best candidate score of any step so far.
    pub best_so_far: Option<f64>,
    /// One record per finished step.
    pub trials: Vec<TrialRecord>,
    /// Wall time of each finished step.
    pub step_durations_ms: Vec<u64>,
    /// What each finished step sent to the providers (run.json's
    /// `step_requests` so far).
    pub step_requests: Vec<RequestRecord>,
    /// LM usage so far (the budgets continue from its calls and tokens).
    pub usage: UsageRecord,
    /// Of `usage.lm_calls`, cache hits.
    pub cached_calls: u64,
    /// The convergence rules' state.
    pub convergence: Convergence,
    /// USD spent so far on priced models (with or without a `max_cost`,
    /// so a cap added on resume counts it).
    pub spent_usd: f64,
    /// Most LM calls and tokens one execution used, `[calls, tokens]`.
    pub per_execution: (f64, f64),
    /// Time already spent, counted against `max_duration` on resume.
    pub elapsed_ms: u64,
}

/// Why a checkpoint could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a checkpoint of this layout (unparseable, a field missing or unknown).
    #[error("{path} is not a valid checkpoint: {message}")]
    Invalid {
        /// The checkpoint file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Written by a simba-run with another layout.
    #[error(
        "{path} has checkpoint layout {found}, and this simba-run reads layout {CHECKPOINT_SCHEMA} only; run without --resume to start afresh"
    )]
    Layout {
        /// The checkpoint file.
        path: PathBuf,
        /// The layout it declares.
        found: u32,
    },
    /// A field that does not fit the run or the other fields.
    #[error("{path}: {field}: {message}")]
    Field {
        /// The checkpoint file.
        path: PathBuf,
        /// The field, as named in the file (`winners`, `usage.lm_calls`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Written for other settings.
    #[error("{path} was written for another configuration: {message}")]
    Mismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The settings that differ.
        message: String,
    },
    /// Written for other inputs (data rows, program, metric, models, plugins).
    #[error(
        "{path}: {what} changed since the checkpoint was written; run without --resume to start afresh"
    )]
    Changed {
        /// The checkpoint file.
        path: PathBuf,
        /// The parts that changed ("the trainset rows and model `sim`").
        what: String,
    },
}

/// Just the layout number, read before the rest so an older file gets a
/// clear message instead of a missing field.
#[derive(Deserialize)]
struct Layout {
    schema: u32,
}

impl Checkpoint {
    /// Reads `dir/checkpoint.json`, a checkpoint of this layout (the run it
    /// would continue checks the fields, see [`Checkpoint::validate`]).
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        let path = dir.join(CHECKPOINT_JSON);
        let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Read {
            path: path.clone(),
            source,
        })?;
        let invalid = |e: serde_json::Error| CheckpointError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        };
        let layout: Layout = serde_json::from_str(&text).map_err(invalid)?;
        if layout.schema != CHECKPOINT_SCHEMA {
            return Err(CheckpointError::Layout {
                path,
                found: layout.schema,
            });
        }
        let cp: Checkpoint = serde_json::from_str(&text).map_err(invalid)?;
        Ok(cp)
    }

    /// Whether this checkpoint can continue a run of `decl`: every setting
    /// that shapes the result must match; `output`, `cache`, `concurrency`,
    /// `max_steps`, `final` and the stop rules may change (a cap then counts what the
    /// checkpoint spent, and changed convergence rules apply from the next
    /// step; `max_steps` below the steps done is refused by
    /// [`Checkpoint::validate`]).
    pub fn check_matches(&self, decl: &OptimizeDecl, dir: &Path) -> Result<(), CheckpointError> {
        let norm = |d: &OptimizeDecl| {
            let mut d = d.clone();
            d.output = PathBuf::new();
            d.cache = None;
            d.concurrency = 0;
            d.max_steps = 0;
            d.stop = Default::default();
            // Only the end and the budget reserve depend on it.
            d.final_selection = Default::default();
            serde_json::to_value(d).unwrap_or_default()
        };
        let (a, b) = (norm(&self.config), norm(decl));
        if a == b {
            return Ok(());
        }
        let keys = differing_keys(&a, &b);
        Err(CheckpointError::Mismatch {
            path: dir.join(CHECKPOINT_JSON),
            message: format!("these settings differ: {}", keys.join(", ")),
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// The top-level keys whose values differ, from both sides: a setting left
/// out when off (e.g. `valset_auto`) is a difference too.
fn differing_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a
            .keys()
            .chain(b.keys().filter(|k| !a.contains_key(*k)))
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// Receives a checkpoint after every finished step; the CLI writes it to
/// disk. An error stops the run.
pub type CheckpointSink = Arc<dyn Fn(&Checkpoint) -> Result<(), String> + Send + Sync>;

/// A sink writing `dir/checkpoint.json` atomically.
pub fn file_sink(dir: PathBuf) -> CheckpointSink {
    Arc::new(move |cp: &Checkpoint| {
        let bytes = cp.to_bytes().map_err(|e| e.to_string())?;
        crate::artifacts::write_all_atomic(&dir, &[(CHECKPOINT_JSON, bytes)])
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::differing_keys;
    use serde_json::json;

    #[test]
    fn a_setting_only_one_side_writes_is_named() {
        // `valset = auto` added on resume: the checkpoint's config has no
        // `valset_auto` key (left out when off), the run's has it.
        let saved = json!({"bsize": 4, "select_on": "trainset"});
        let now = json!({"bsize": 4, "select_on": "valset", "valset_auto": true});
        assert_eq!(differing_keys(&saved, &now), ["select_on", "valset_auto"]);
        assert_eq!(differing_keys(&now, &saved), ["select_on", "valset_auto"]);
        assert!(differing_keys(&saved, &saved).is_empty());
    }
}
