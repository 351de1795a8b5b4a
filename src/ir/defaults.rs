//! Every default a spec leaves out, written once.
//!
//! `compile` fills these in ([`ModelDecl::new`](super::ModelDecl::new),
//! [`OptimizeDecl::new`](super::OptimizeDecl::new)), the IR's field docs cite
//! them, and tests build declarations from the same constructors, so a
//! default changes here and nowhere else. docs/language.md lists them for
//! spec authors.

use std::time::Duration;

// --- `model NAME { .. }` ---

/// `temperature` of a model.
pub const MODEL_TEMPERATURE: f64 = 0.0;
/// `timeout` of one request.
pub const MODEL_TIMEOUT: Duration = Duration::from_secs(60);
/// `concurrency`: max in-flight requests to one model.
pub const MODEL_CONCURRENCY: usize = 32;
/// `retries` on timeouts, connection errors, 429 and 5xx.
pub const MODEL_RETRIES: u32 = 5;
/// `max_response_bytes` of an openai model: 8 MiB. A chat completion is a
/// few kilobytes; the cap only stops a broken or hostile server from
/// filling memory with an endless or huge body.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// `skill` of a sim model: its accuracy with no help.
pub const SIM_SKILL: f64 = 0.3;
/// `latency` of a sim model.
pub const SIM_LATENCY: Duration = Duration::ZERO;
/// The variable an OpenAI model's `base_url` is read from when none is given.
pub const OPENAI_BASE_URL_VAR: &str = "OPENAI_BASE_URL";
/// The `base_url` of an OpenAI model when neither the spec nor
/// [`OPENAI_BASE_URL_VAR`] gives one.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

// --- `optimize PROGRAM with simba { .. }` (DSPy's values) ---

/// `bsize`: examples per mini-batch.
pub const BSIZE: usize = 32;
/// `num_candidates`: sampling variants per step.
pub const NUM_CANDIDATES: usize = 6;
/// `max_steps`: optimizer steps.
pub const MAX_STEPS: usize = 8;
/// `max_demos`: demos kept per predictor.
pub const MAX_DEMOS: usize = 4;
/// `demo_input_field_maxlen`: characters of an input field kept in a demo.
pub const DEMO_INPUT_FIELD_MAXLEN: usize = 100_000;
/// `temperature_for_sampling`.
pub const TEMPERATURE_FOR_SAMPLING: f64 = 0.2;
/// `temperature_for_candidates`.
pub const TEMPERATURE_FOR_CANDIDATES: f64 = 0.2;
/// `concurrency`: in-flight program executions.
pub const OPTIMIZE_CONCURRENCY: usize = 16;
/// `seed`.
pub const SEED: u64 = 0;
/// `dedup`: off, since merging identical candidates is not DSPy's behaviour.
pub const DEDUP: bool = false;
/// `output` is `<OUTPUT_DIR>/<program>` beside the spec.
pub const OUTPUT_DIR: &str = "out";
/// `cache` is this folder beside the spec.
pub const CACHE_DIR: &str = ".simba-cache";
/// `stop { min_delta }`: the gain `patience` asks for.
pub const MIN_DELTA: f64 = 0.0;
/// `valset = auto`: the share of the trainset held out for the final
/// selection (rounded to the nearest row).
pub const AUTO_VALSET_FRACTION: f64 = 0.3;
/// `valset = auto`: the fewest rows held out, whatever the fraction gives;
/// fewer cannot tell two programs apart by more than noise.
pub const AUTO_VALSET_MIN_ROWS: usize = 10;
/// `valset = auto`: the fewest rows left to train on; a smaller trainset is
/// refused rather than split.
pub const AUTO_VALSET_MIN_TRAIN: usize = 10;

// --- `corpus NAME { .. }` and `search(..)` ---

/// `text` of a local corpus: the field searched and returned.
pub const CORPUS_TEXT_FIELD: &str = "text";
/// `k` of a `search` step when the call leaves it out (DSPy's `Retrieve` default).
pub const SEARCH_K: usize = 3;
/// The largest `k` a `search` step may ask for (the hosted ColBERTv2 server's
/// own limit, and far more passages than a prompt can use).
pub const SEARCH_MAX_K: usize = 100;
/// `timeout` of one request to a remote corpus (DSPy's ColBERTv2 client
/// waits 10 s).
pub const CORPUS_TIMEOUT: Duration = Duration::from_secs(10);
/// `concurrency` of a remote corpus: max in-flight searches.
pub const CORPUS_CONCURRENCY: usize = 8;
/// `max_response_bytes` of a remote corpus: 4 MiB, ample for 100 passages.
pub const CORPUS_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
