//! The run's artifacts as serde types: what `simba-run` writes into the output
//! folder and what `report` (and users' scripts) read back.
//!
//! - `program.json` ([`ProgramJson`]): the optimized program in the layout of
//!   DSPy's `Module.save("x.json")`, so `dspy_program.load("program.json")`
//!   restores instructions and demos into the equivalent DSPy program.
//! - `candidates/NN.program.json` (also [`ProgramJson`]): every final
//!   candidate, loadable the same way.
//! - `candidates.json` ([`CandidatesJson`]): the final candidates, their
//!   full-trainset scores, which one won, and their files best first.
//! - `trials.jsonl` ([`TrialRecord`], one per line): one line per step.
//! - `run.json` ([`RunJson`]): configuration, usage, requests sent per step,
//!   timings, stop reason.
//!
//! Everything but `run.json` is a pure function of spec, seed and the LM's
//! answers (no timings, no request counts, no cache hits, no paths of temp
//! files), so reruns are byte-identical, whether the cache was cold or warm.
//! All files are written atomically (temp file beside the final one, then
//! rename), and all of a run's files are staged before the first rename so a
//! failed run leaves nothing half-written.
//!
//! | file | job |
//! |---|---|
//! | `program_json.rs` | [`ProgramJson`]: DSPy's `save()` layout, field prefixes |
//! | `candidates.rs` | [`CandidatesJson`] |
//! | `trials.rs` | [`TrialRecord`] and its parts |
//! | `run_json.rs` | [`RunJson`], [`StopReason`] |
//! | `write.rs` | serializing, atomic writes, stale candidate files |

mod candidates;
mod program_json;
mod run_json;
mod trials;
mod write;

pub use candidates::{
    CandidateEntry, CandidateRaceRecord, CandidatesJson, RaceEnd, RaceResult, RaceSummary,
    RankedCandidate,
};
pub use program_json::{
    FieldJson, PredictorJson, ProgramJson, ProgramMetadata, SignatureJson, SimbaRunMetadata,
    demo_json, dspy_key, dspy_prefix,
};
pub use run_json::{RequestRecord, RunJson, ScorePair, StopReason};
pub use trials::{
    AttemptRecord, AttemptResult, BatchStats, BucketRecord, CallUsage, CandidateRecord,
    TrialRecord, UsageRecord, VariantRecord,
};
pub use write::{WriteError, remove_stale_candidates, to_jsonl, to_pretty, write_all_atomic};

/// Version of the artifact layout below; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// File name of the returned program ([`ProgramJson`]).
pub const PROGRAM_JSON: &str = "program.json";
/// File name of the final candidates ([`CandidatesJson`]).
pub const CANDIDATES_JSON: &str = "candidates.json";
/// File name of the per-step trial log ([`TrialRecord`] lines).
pub const TRIALS_JSONL: &str = "trials.jsonl";
/// File name of the run summary ([`RunJson`]).
pub const RUN_JSON: &str = "run.json";
/// Folder (inside the output folder) of every final candidate's program, each
/// in `program.json`'s layout ([`candidate_program_file`]).
pub const CANDIDATES_DIR: &str = "candidates";

/// Where the final candidate at `position` in `candidates.json` is saved,
/// relative to the output folder: `candidates/00.program.json`, ... Loadable
/// like `program.json` (DSPy's `load()`, `simba-run eval --program`).
pub fn candidate_program_file(position: usize) -> String {
    format!("{CANDIDATES_DIR}/{position:02}.program.json")
}
