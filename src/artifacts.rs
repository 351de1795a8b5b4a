//! The run's artifacts as serde types: what `simba-run` writes into the output
//! folder and what `report` (and users' scripts) read back.
//!
//! - `program.json` ([`ProgramJson`]): the optimized program in the layout of
//!   DSPy's `Module.save("x.json")`, so `dspy_program.load("program.json")`
//!   restores instructions and demos into the equivalent DSPy program.
//! - `candidates.json` ([`CandidatesJson`]): the final candidates, their
//!   full-trainset scores, and which one won.
//! - `trials.jsonl` ([`TrialRecord`], one per line): one line per step.
//! - `run.json` ([`RunJson`]): configuration, usage, timings, stop reason.
//!
//! Everything but `run.json` is a pure function of spec, seed and the LM's
//! answers (no timings, no paths of temp files), so reruns are byte-identical.
//! All files are written atomically (temp file in the same folder, then rename),
//! and all of a run's files are staged before the first rename so a failed run
//! leaves nothing half-written.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ir::{ModuleKind, OptimizeDecl, ProgramGraph, REASONING_FIELD, Step};
use crate::program::{PredictorState, Program};
use crate::value::Record;

/// Version of the artifact layout below; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// File names inside the output folder.
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

// ---------------------------------------------------------------------------
// program.json
// ---------------------------------------------------------------------------

/// `program.json`: one entry per predictor, keyed as DSPy names the predictor
/// of the equivalent module (`step` for `predict`, `step.predict` for
/// `chain_of_thought`, as DSPy's `ChainOfThought` wraps a `Predict`), plus
/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramJson {
    /// Predictor states keyed by DSPy predictor name, flattened to the top level as DSPy expects.
    #[serde(flatten)]
    pub predictors: IndexMap<String, PredictorJson>,
    /// Versions DSPy checks on load, and our own mapping back to the spec.
    pub metadata: ProgramMetadata,
}

/// One predictor's state, as DSPy's `Predict.dump_state()` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorJson {
    /// Always empty (DSPy keeps these for compatibility).
    pub traces: Vec<serde_json::Value>,
    /// Always empty.
    pub train: Vec<serde_json::Value>,
    /// Each demo's fields, then `"augmented": true` for demos made from the
    /// program's own trajectories.
    pub demos: Vec<Record>,
    /// The predictor's instructions and field prefixes.
    pub signature: SignatureJson,
    /// Always null: the model is configured on the DSPy side.
    pub lm: Option<serde_json::Value>,
}

/// DSPy's `Signature.dump_state()`: instructions and, for every field (inputs
/// then outputs, chain-of-thought `reasoning` first among outputs), its prompt
/// prefix and description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureJson {
    /// The optimized instruction text.
    pub instructions: String,
    /// Inputs in declaration order, then outputs.
    pub fields: Vec<FieldJson>,
}

/// One signature field as DSPy stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldJson {
    /// `"Question:"` for `question` (DSPy's default prefix rule).
    pub prefix: String,
    /// The field's description, or DSPy's default `${name}` when none.
    pub description: String,
}

/// `metadata` of `program.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramMetadata {
    /// DSPy's `load()` compares each listed package with the installed one
    /// (and fails on an unknown key), so this stays empty: nothing to compare.
    pub dependency_versions: IndexMap<String, String>,
    /// Ours: which engine wrote the file and how keys map to spec steps.
    pub simba_run: SimbaRunMetadata,
}

/// The simba-run part of `program.json`'s metadata (DSPy ignores it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimbaRunMetadata {
    /// simba-run's version.
    pub version: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// The spec's program name.
    pub program: String,
    /// DSPy predictor key -> spec step name.
    pub steps: IndexMap<String, String>,
}

/// DSPy's default prompt prefix for a field name (`infer_prefix` in
/// `dspy/signatures/signature.py`, then a colon): camelCase humps and runs of
/// digits become words of their own, words are split at underscores, and each
/// word is capitalised unless it is all capitals (`passage_text` ->
/// `Passage Text:`, `HTMLParser` -> `HTML Parser:`, `text2number` ->
/// `Text 2 Number:`). Empty words are kept, so doubled underscores give
/// doubled spaces, exactly as DSPy writes them.
pub fn dspy_prefix(name: &str) -> String {
    use regex::Regex;
    use std::sync::LazyLock;
    // The same four rewrites, in the same order, as DSPy applies them.
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let re = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            // A capitalised word after any character: `camelCase` -> `camel_Case`.
            (re("(.)([A-Z][a-z]+)"), "${1}_${2}"),
            // A capital after a lower-case letter or digit: `HTMLParser` keeps `HTML`.
            (re("([a-z0-9])([A-Z])"), "${1}_${2}"),
            // Digits after a letter, and a letter after digits, split off.
            (re("([a-zA-Z])([0-9])"), "${1}_${2}"),
            (re("([0-9])([a-zA-Z])"), "${1}_${2}"),
        ]
    });
    let mut snake = name.to_string();
    for (pattern, replacement) in RULES.iter() {
        snake = pattern.replace_all(&snake, *replacement).into_owned();
    }
    let words: Vec<String> = snake.split('_').map(title_word).collect();
    format!("{}:", words.join(" "))
}

/// One word of a prefix: kept when it is all capitals (Python's
/// `str.isupper`: some cased letter and no lower-case one), else first
/// letter upper-cased and the rest lower-cased (`str.capitalize`).
fn title_word(word: &str) -> String {
    let has_cased = word.chars().any(|c| c.is_uppercase() || c.is_lowercase());
    if has_cased && !word.chars().any(char::is_lowercase) {
        return word.to_string();
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// The DSPy key of a step's predictor.
pub fn dspy_key(step: &Step) -> String {
    match step.module {
        ModuleKind::Predict => step.name.clone(),
        ModuleKind::ChainOfThought => format!("{}.predict", step.name),
    }
}

fn signature_json(step: &Step, state: &PredictorState) -> SignatureJson {
    let mut fields = Vec::new();
    for f in &step.signature.inputs {
        fields.push(FieldJson {
            prefix: dspy_prefix(&f.name),
            description: f
                .description
                .clone()
                .unwrap_or_else(|| format!("${{{}}}", f.name)),
        });
    }
    for f in step.lm_outputs() {
        // DSPy 3.4.1's ChainOfThought adds `reasoning` with the default
        // prefix and the placeholder description; our own description of
        // the field is for prompts only.
        let description = if step.module == ModuleKind::ChainOfThought && f.name == REASONING_FIELD
        {
            format!("${{{REASONING_FIELD}}}")
        } else {
            f.description
                .clone()
                .unwrap_or_else(|| format!("${{{}}}", f.name))
        };
        fields.push(FieldJson {
            prefix: dspy_prefix(&f.name),
            description,
        });
    }
    SignatureJson {
        instructions: state.instructions.clone(),
        fields,
    }
}

/// A demo as DSPy stores it: `augmented` first when set (DSPy builds the
/// demo as `Example(augmented=True, **inputs, **outputs)`), then its fields.
pub fn demo_json(demo: &crate::value::Demo) -> Record {
    let mut r = Record::new();
    if demo.augmented {
        r.insert("augmented".into(), serde_json::Value::Bool(true));
    }
    r.extend(demo.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    r
}

impl ProgramJson {
    /// The DSPy-compatible dump of `program`.
    pub fn from_program(program: &Program) -> Self {
        let graph: &ProgramGraph = &program.graph;
        let mut predictors = IndexMap::new();
        let mut steps = IndexMap::new();
        for step in &graph.steps {
            let Some(state) = program.predictors.get(&step.name) else {
                continue;
            };
            let key = dspy_key(step);
            steps.insert(key.clone(), step.name.clone());
            predictors.insert(
                key,
                PredictorJson {
                    traces: Vec::new(),
                    train: Vec::new(),
                    demos: state.demos.iter().map(demo_json).collect(),
                    signature: signature_json(step, state),
                    lm: None,
                },
            );
        }
        ProgramJson {
            predictors,
            metadata: ProgramMetadata {
                dependency_versions: IndexMap::new(),
                simba_run: SimbaRunMetadata {
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    schema: SCHEMA_VERSION,
                    program: graph.name.clone(),
                    steps,
                },
            },
        }
    }
}

// ---------------------------------------------------------------------------
// candidates.json
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// trials.jsonl
// ---------------------------------------------------------------------------

/// LM usage over a span of the run (a step, or the whole run). Counts every
/// request the engine made, answered from the cache or not, so it does not
/// depend on the cache's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Completions asked for, cache hits included.
    pub lm_calls: u64,
    /// Completions that failed after all retries.
    pub failed_calls: u64,
    /// Prompt tokens of the successful completions (a cache hit counts the tokens it first cost).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful completions, counted like `prompt_tokens`.
    pub completion_tokens: u64,
    /// Requests sent to providers, every retry included (cache hits and
    /// in-process models sent none); 0 when the run had no model registry.
    #[serde(default)]
    pub requests: u64,
    /// Of `requests`, those that failed (error status, timeout, broken
    /// connection, unreadable reply).
    #[serde(default)]
    pub failed_requests: u64,
}

impl UsageRecord {
    /// `self - earlier`, for a step's share of running totals.
    pub fn since(&self, earlier: &UsageRecord) -> UsageRecord {
        UsageRecord {
            lm_calls: self.lm_calls - earlier.lm_calls,
            failed_calls: self.failed_calls - earlier.failed_calls,
            prompt_tokens: self.prompt_tokens - earlier.prompt_tokens,
            completion_tokens: self.completion_tokens - earlier.completion_tokens,
            requests: self.requests - earlier.requests,
            failed_requests: self.failed_requests - earlier.failed_requests,
        }
    }
}

/// One sampling model variant of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// The model item (the teacher's name, or the program's model).
    pub model: String,
    /// The sampling temperature; `None` keeps the model's own.
    pub temperature: Option<f64>,
    /// Cache-key salt that keeps this variant's samples distinct from the others'.
    pub rollout_id: Option<u64>,
    /// The request seed sent to providers that honour one; `None` sends none.
    pub seed: Option<u64>,
}

/// Score statistics of the step's whole sampling batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchStats {
    /// Mean score over every trajectory of the batch.
    pub mean: f64,
    /// 10th percentile of the scores (linear interpolation, as numpy).
    pub p10: f64,
    /// 90th percentile of the scores.
    pub p90: f64,
    /// Executions that failed (scored 0).
    pub failed_executions: usize,
}

/// One bucket (one example of the batch), in bucket order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Trainset index of the example.
    pub example: usize,
    /// Scores of its trajectories, best first.
    pub scores: Vec<f64>,
    /// Best minus worst score: how much this example separates trajectories (first sort key).
    pub max_to_min_gap: f64,
    /// Best score (second sort key).
    pub max_score: f64,
    /// Best minus mean score (third sort key).
    pub max_to_avg_gap: f64,
}

/// What one strategy did on one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The strategy's name, e.g. `append_demo` or `append_rule`.
    pub strategy: String,
    /// `applied`, `skipped` or `failed`.
    pub result: AttemptResult,
    /// What changed, or why it skipped or failed.
    pub detail: String,
    /// Advice the prompt model gave for names that match no predictor.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub unmatched_advice: IndexMap<String, String>,
}

/// Result of a strategy attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    /// The strategy changed the program and a candidate was made.
    Applied,
    /// The strategy did not apply here (e.g. nothing to learn from the bucket).
    Skipped,
    /// The strategy returned an error, e.g. its call to the prompt model failed.
    Failed,
}

/// One processed bucket: where a candidate came from, or why none did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Position of the bucket in bucket order.
    pub bucket: usize,
    /// Trainset index of the bucket's example.
    pub example: usize,
    /// Pool index of the program copied.
    pub source: usize,
    /// Demo positions dropped (drawn with repetition) from every predictor.
    pub dropped_demos: Vec<usize>,
    /// Strategies tried, the drawn one first.
    pub attempts: Vec<AttemptRecord>,
    /// Pool index the candidate was registered under; None when every
    /// strategy skipped or failed (no candidate).
    pub pool_index: Option<usize>,
    /// Mean mini-batch score; None without a candidate.
    pub score: Option<f64>,
    /// Per-example mini-batch scores, in batch order.
    pub scores: Vec<f64>,
    /// With `dedup = true`: the candidate equalled the program at
    /// `pool_index`, which took its scores instead of a new entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// One line of `trials.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 1-based step number.
    pub step: usize,
    /// Trainset indices of the mini-batch, in batch order.
    pub batch: Vec<usize>,
    /// The sampling models of the step, in sampling order.
    pub variants: Vec<VariantRecord>,
    /// Pool indices of the programs sampled: `[variant][example position]`.
    pub sampled_programs: Vec<Vec<usize>>,
    /// Score statistics over every trajectory of the batch.
    pub batch_stats: BatchStats,
    /// All buckets in bucket order.
    pub buckets: Vec<BucketRecord>,
    /// Every bucket processed, in order.
    pub candidates: Vec<CandidateRecord>,
    /// Pool index of the step's best candidate (joins the winners).
    pub winner: Option<usize>,
    /// Best mini-batch score among this step's candidates.
    pub best_candidate_score: Option<f64>,
    /// Best mini-batch candidate score of any step so far.
    pub best_so_far: Option<f64>,
    /// LM usage of this step.
    pub usage: UsageRecord,
}

// ---------------------------------------------------------------------------
// run.json
// ---------------------------------------------------------------------------

/// Train and dev score of one program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScorePair {
    /// Mean metric over the full trainset.
    pub train: f64,
    /// Mean metric over the devset; `None` without one.
    pub dev: Option<f64>,
}

/// `run.json`: everything about the run, including what is not reproducible
/// (timings, cache hits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// Version of simba-run that wrote the file.
    pub simba_run_version: String,
    /// The spec's program name.
    pub program: String,
    /// The spec file the run came from; `None` when it was not read from a file.
    pub spec: Option<PathBuf>,
    /// The run seed every random choice derives from.
    pub seed: u64,
    /// The optimize block with every default and override applied.
    pub config: OptimizeDecl,
    /// The mini-batch size used (bsize clamped to the trainset size).
    pub effective_bsize: usize,
    /// Number of trainset examples.
    pub trainset_size: usize,
    /// Number of devset examples; `None` without a devset.
    pub devset_size: Option<usize>,
    /// Steps completed (fewer than `max_steps` when the run stopped early).
    pub steps_run: usize,
    /// Why the loop ended.
    pub stop_reason: StopReason,
    /// Warnings from loading and preparing the run (e.g. a clamped bsize), in the order raised.
    pub warnings: Vec<String>,
    /// Scores of the unoptimized program.
    pub baseline: ScorePair,
    /// Scores of the returned program.
    pub best: ScorePair,
    /// Position of the best program in `candidates.json`.
    pub best_candidate: usize,
    /// LM usage of the whole run, final evaluation included.
    pub usage: UsageRecord,
    /// Requests answered from the response cache.
    pub cached_calls: u64,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// Wall time of each step, then of the final evaluation.
    pub step_durations_ms: Vec<u64>,
    /// Wall time of the final evaluation, in milliseconds.
    pub final_eval_ms: u64,
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every step ran.
    MaxSteps,
    /// The best score did not improve by more than `min_delta` for `patience` steps.
    Patience,
    /// The best score reached `target`.
    Target,
    /// The `max_lm_calls` budget would have been passed.
    MaxLmCalls,
    /// The `max_tokens` budget would have been passed.
    MaxTokens,
    /// The `max_cost` budget would have been passed.
    MaxCost,
    /// The `max_duration` budget ran out.
    MaxDuration,
}

impl StopReason {
    /// The name used in run.json, events and the summary (the stop key).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::Patience => "patience",
            StopReason::Target => "target",
            StopReason::MaxLmCalls => "max_lm_calls",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxCost => "max_cost",
            StopReason::MaxDuration => "max_duration",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why artifacts could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output folder could not be created.
    #[error("cannot create output folder {path}: {source}")]
    CreateDir {
        /// The folder that could not be created.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file could not be written or renamed into place.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file's final path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A value could not be turned into JSON.
    #[error("cannot serialize {name}: {source}")]
    Serialize {
        /// The artifact being serialized, e.g. `candidates.json`.
        name: String,
        /// The underlying serde error.
        source: serde_json::Error,
    },
}

/// Pretty JSON with a trailing newline.
pub fn to_pretty(name: &str, value: &impl Serialize) -> Result<Vec<u8>, WriteError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| WriteError::Serialize {
        name: name.into(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// One JSON document per line.
pub fn to_jsonl<T: Serialize>(name: &str, rows: &[T]) -> Result<Vec<u8>, WriteError> {
    let mut bytes = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut bytes, row).map_err(|source| WriteError::Serialize {
            name: name.into(),
            source,
        })?;
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// The mode of every file written into an output folder: readable by all,
/// like a file `cp` or an editor makes (0666 less the process umask, so 0644
/// under the usual umask). Temp files are otherwise owner-only, and an
/// artifact is meant to be shared and served. Checkpoints get the same mode:
/// they hold nothing the artifacts do not (never a key).
fn shared_file_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

/// Write several files into `dir` all-or-nothing as far as the filesystem
/// allows: every file is first written in full to a temp file beside its
/// final place, and only when all are written are they renamed into place,
/// in the order given. A name may hold a subfolder (`candidates/00.program.json`),
/// created as needed.
pub fn write_all_atomic<S: AsRef<str>>(
    dir: &Path,
    files: &[(S, Vec<u8>)],
) -> Result<(), WriteError> {
    let create = |folder: &Path| {
        std::fs::create_dir_all(folder).map_err(|source| WriteError::CreateDir {
            path: folder.to_path_buf(),
            source,
        })
    };
    create(dir)?;
    let mut staged = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name.as_ref());
        // The temp file sits in the final file's own folder, so the rename
        // never crosses filesystems.
        let folder = path.parent().unwrap_or(dir);
        create(folder)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let err = |source| WriteError::Write {
            path: path.clone(),
            source,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .permissions(shared_file_mode())
            .tempfile_in(folder)
            .map_err(err)?;
        tmp.write_all(bytes).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        staged.push((tmp, path));
    }
    for (tmp, path) in staged {
        tmp.persist(&path).map_err(|e| WriteError::Write {
            path: path.clone(),
            source: e.error,
        })?;
    }
    Ok(())
}

/// Remove candidate programs a previous run left in `dir`'s
/// [`CANDIDATES_DIR`] beyond the `keep` this run wrote (`NN.program.json`
/// with NN >= keep), so the folder holds exactly the files `candidates.json`
/// lists. Other files there are left alone.
pub fn remove_stale_candidates(dir: &Path, keep: usize) -> Result<(), WriteError> {
    let folder = dir.join(CANDIDATES_DIR);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let position = name
            .strip_suffix(".program.json")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok());
        if position.is_some_and(|p| p >= keep) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| WriteError::Write { path, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dspy_prefixes() {
        // Each pair checked against DSPy 3.4.1's `infer_prefix` (+ ":").
        for (name, prefix) in [
            ("question", "Question:"),
            ("passage_text", "Passage Text:"),
            ("camelCase", "Camel Case:"),
            ("camelCaseText", "Camel Case Text:"),
            ("HTMLCode", "HTML Code:"),
            ("HTMLParser", "HTML Parser:"),
            ("text2number", "Text 2 Number:"),
            ("a1b2", "A 1 B 2:"),
            ("x_2", "X 2:"),
            ("ABC", "ABC:"),
            ("HTML2Text", "HTML 2 Text:"),
            ("questionID", "Question ID:"),
            ("already_Upper", "Already  Upper:"),
            ("__x__", "  X  :"),
            ("reasoning", "Reasoning:"),
        ] {
            assert_eq!(dspy_prefix(name), prefix, "{name}");
        }
    }

    #[test]
    fn chain_of_thought_reasoning_is_saved_as_dspy_3_4_1_does() {
        use crate::ir::{Field, FieldType, Signature, Source};
        let f = |n: &str, d: Option<&str>| Field {
            name: n.into(),
            ty: FieldType::String,
            description: d.map(Into::into),
        };
        let step = Step {
            name: "answer".into(),
            module: ModuleKind::ChainOfThought,
            signature: Signature {
                name: "A".into(),
                instructions: "Answer.".into(),
                inputs: vec![f("question", Some("a trivia question"))],
                outputs: vec![f("answer", None)],
            },
            lm: "m".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        };
        let state = PredictorState {
            instructions: "Answer.".into(),
            demos: vec![],
        };
        let sig = serde_json::to_value(signature_json(&step, &state)).unwrap();
        assert_eq!(
            sig,
            serde_json::json!({
                "instructions": "Answer.",
                "fields": [
                    {"prefix": "Question:", "description": "a trivia question"},
                    {"prefix": "Reasoning:", "description": "${reasoning}"},
                    {"prefix": "Answer:", "description": "${answer}"}
                ]
            })
        );
    }

    #[test]
    fn augmented_comes_first_in_a_saved_demo() {
        let mut fields = Record::new();
        fields.insert("question".into(), serde_json::json!("q"));
        fields.insert("answer".into(), serde_json::json!("a"));
        let demo = crate::value::Demo {
            fields,
            augmented: true,
        };
        let text = serde_json::to_string(&demo_json(&demo)).unwrap();
        assert_eq!(text, r#"{"augmented":true,"question":"q","answer":"a"}"#);
    }

    #[test]
    fn atomic_write_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_all_atomic(
            &out,
            &[("a.json", b"{}\n".to_vec()), ("b.jsonl", b"".to_vec())],
        )
        .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "b.jsonl"]);
        assert_eq!(std::fs::read(out.join("a.json")).unwrap(), b"{}\n");
    }

    #[test]
    fn atomic_write_creates_subfolders_and_stale_candidates_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let files: Vec<(String, Vec<u8>)> = (0..3)
            .map(|i| (candidate_program_file(i), format!("{i}\n").into_bytes()))
            .chain([("x.json".to_string(), b"x".to_vec())])
            .collect();
        write_all_atomic(out, &files).unwrap();
        assert_eq!(candidate_program_file(2), "candidates/02.program.json");
        assert_eq!(
            std::fs::read(out.join("candidates/02.program.json")).unwrap(),
            b"2\n"
        );
        // A later run with one candidate: the other two are removed, a
        // user's own file stays.
        std::fs::write(out.join("candidates/notes.txt"), "mine").unwrap();
        write_all_atomic(out, &files[..1]).unwrap();
        remove_stale_candidates(out, 1).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(out.join(CANDIDATES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["00.program.json", "notes.txt"]);
        // Nothing to clean in a folder without candidates.
        remove_stale_candidates(&out.join("nowhere"), 0).unwrap();
    }
}
