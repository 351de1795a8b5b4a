//! Checkpoint and resume: the coordinator's whole state after a finished
//! step, as `checkpoint.json` in the output folder.
//!
//! The state is everything the next step depends on (pool, scores, winners,
//! both random streams' positions, the data order and cursor, best so far,
//! usage, stop-rule state) plus the trial records so far, so a resumed run
//! continues exactly where the interrupted one was and writes the same
//! artifacts. Floats round-trip exactly (serde_json's `float_roundtrip`).

use indexmap::IndexMap;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ir::OptimizeDecl;
use crate::program::PredictorState;

use super::stop::{Convergence, Reserve};
use crate::artifacts::{TrialRecord, UsageRecord};

/// The file name inside the output folder.
pub const CHECKPOINT_JSON: &str = "checkpoint.json";
/// Layout version of checkpoint.json.
pub const CHECKPOINT_SCHEMA: u32 = 1;

/// A ChaCha20 stream's exact position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte key, hex.
    pub seed: String,
    pub stream: u64,
    /// The word position (a u128, as a decimal string).
    pub word_pos: String,
}

impl RngState {
    pub fn of(rng: &ChaCha20Rng) -> Self {
        Self {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn restore(&self) -> Result<ChaCha20Rng, String> {
        let bytes: Vec<u8> = (0..self.seed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.seed.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| "a random stream's seed is not hex".to_string())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a random stream's seed is not 32 bytes".to_string())?;
        let pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| "a random stream's position is not a number".to_string())?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }
}

/// One pool entry (the program's graph comes from the spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEntryState {
    pub predictors: IndexMap<String, PredictorState>,
    pub scores: Vec<f64>,
    pub step: Option<usize>,
}

/// The coordinator's state after `steps_done` finished steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub schema: u32,
    pub simba_run_version: String,
    /// The optimize block the state belongs to.
    pub config: OptimizeDecl,
    pub steps_done: usize,
    pub pool: Vec<PoolEntryState>,
    pub winners: Vec<usize>,
    pub rng_choices: RngState,
    pub rng_poisson: RngState,
    pub data_order: Vec<usize>,
    pub cursor: usize,
    pub best_so_far: Option<f64>,
    pub trials: Vec<TrialRecord>,
    pub step_durations_ms: Vec<u64>,
    pub usage: UsageRecord,
    pub cached_calls: u64,
    pub convergence: Convergence,
    /// Budget bookkeeping: requests admitted and tokens used so far.
    pub budget_started: u64,
    pub budget_tokens: u64,
    #[serde(default)]
    pub budget_cost: f64,
    pub step_usage: Reserve,
    pub per_execution: (f64, f64),
    /// Time already spent, counted against `max_duration` on resume.
    pub elapsed_ms: u64,
}

/// Why a checkpoint could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid checkpoint: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} was written for another configuration: {message}")]
    Mismatch { path: PathBuf, message: String },
}

impl Checkpoint {
    /// Reads `dir/checkpoint.json`.
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        let path = dir.join(CHECKPOINT_JSON);
        let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Read {
            path: path.clone(),
            source,
        })?;
        let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if cp.schema != CHECKPOINT_SCHEMA {
            return Err(CheckpointError::Invalid {
                path,
                message: format!(
                    "schema {} (this version reads {CHECKPOINT_SCHEMA})",
                    cp.schema
                ),
            });
        }
        Ok(cp)
    }

    /// Whether this checkpoint can continue a run of `decl`: every setting
    /// that shapes the result must match; `output`, `cache`, `concurrency`,
    /// `max_steps` and the stop rules may change.
    pub fn check_matches(&self, decl: &OptimizeDecl, dir: &Path) -> Result<(), CheckpointError> {
        let norm = |d: &OptimizeDecl| {
            let mut d = d.clone();
            d.output = PathBuf::new();
            d.cache = None;
            d.concurrency = 0;
            d.max_steps = 0;
            d.stop = Default::default();
            serde_json::to_value(d).unwrap_or_default()
        };
        let (a, b) = (norm(&self.config), norm(decl));
        if a == b {
            return Ok(());
        }
        let keys: Vec<String> = match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => Vec::new(),
        };
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
    use super::*;
    use rand::RngExt;

    #[test]
    fn rng_state_round_trips_mid_block() {
        let mut a = ChaCha20Rng::seed_from_u64(9);
        a.set_stream(1);
        for _ in 0..7 {
            let _: u32 = a.random();
        }
        let state = RngState::of(&a);
        let json = serde_json::to_string(&state).unwrap();
        let mut b = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        let xs: Vec<u64> = (0..20).map(|_| a.random()).collect();
        let ys: Vec<u64> = (0..20).map(|_| b.random()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn bad_rng_state_is_an_error() {
        let s = RngState {
            seed: "zz".into(),
            stream: 0,
            word_pos: "0".into(),
        };
        assert!(s.restore().is_err());
    }
}
