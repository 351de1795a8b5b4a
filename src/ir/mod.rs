//! The Spec IR: what a `.simba` file means once parsed and checked.
//!
//! Produced by `compile` from the AST; consumed by every later stage (runtime,
//! optimizer, report). Nothing here carries source spans: errors after this
//! point name the item involved instead. Collections keep declaration order
//! (`IndexMap`) so everything derived from a spec is deterministic.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// A whole compiled spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The spec file as given on the command line.
    pub path: PathBuf,
    /// The folder relative paths in the spec resolve against.
    pub base_dir: PathBuf,
    pub plugins: IndexMap<String, PluginDecl>,
    pub models: IndexMap<String, ModelDecl>,
    pub signatures: IndexMap<String, Signature>,
    pub programs: IndexMap<String, ProgramGraph>,
    pub datasets: IndexMap<String, DatasetDecl>,
    pub metrics: IndexMap<String, MetricDecl>,
    /// One per `optimize NAME with simba { .. }` block, in file order.
    pub optimizes: Vec<OptimizeDecl>,
}

/// A value that may come from the environment, read only when needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setting {
    Literal(String),
    Env {
        var: String,
        default: Option<String>,
    },
}

impl Setting {
    /// The value: the literal, else the environment variable, else its
    /// default. An unset or empty variable with no default is an error that
    /// names the variable (never a value, since settings may hold secrets).
    pub fn resolve(&self) -> Result<String, SettingError> {
        match self {
            Setting::Literal(value) => Ok(value.clone()),
            Setting::Env { var, default } => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(value),
                Ok(_) | Err(std::env::VarError::NotPresent) => default
                    .clone()
                    .ok_or_else(|| SettingError::Unset { var: var.clone() }),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SettingError::NotUnicode { var: var.clone() })
                }
            },
        }
    }
}

/// Why a [`Setting`] has no value. Names the variable only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("environment variable `{var}` is not set and has no default")]
    Unset { var: String },
    #[error("environment variable `{var}` is not valid UTF-8")]
    NotUnicode { var: String },
}

/// `plugin NAME = "path"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDecl {
    pub name: String,
    /// Path as written, resolved against the spec folder; the platform
    /// prefix/suffix may still be missing (the plugin host adds it).
    pub path: PathBuf,
}

/// Where a model's answers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Provider {
    /// Any OpenAI-compatible `/chat/completions` server.
    OpenAi,
    /// The offline simulated model.
    Sim,
    /// In-process llama.cpp (cargo feature `local`).
    Local,
    /// A model provided by a plugin: `plugin.item`.
    Plugin { plugin: String, item: String },
}

/// `model NAME { .. }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDecl {
    pub name: String,
    pub provider: Provider,
    /// The provider's model id (`model = "gpt-4o-mini"`); defaults to the item name.
    pub model: String,
    /// One or more base URLs; requests spread over them.
    pub base_urls: Vec<Setting>,
    pub api_key: Option<Setting>,
    /// Default 0.0.
    pub temperature: f64,
    pub max_tokens: Option<u32>,
    /// Default 60 s.
    pub timeout: Duration,
    /// Max in-flight requests to this model. Default 32.
    pub concurrency: usize,
    /// Retries on timeouts, connection errors, 429 and 5xx. Default 5.
    pub retries: u32,
    /// Passed through to the provider unchanged.
    pub params: IndexMap<String, serde_json::Value>,
    /// `sim` only: the dataset whose labels the simulated model knows.
    pub oracle: Option<String>,
    /// `sim` only: accuracy with no help, in [0, 1]. Default 0.3.
    pub skill: f64,
    /// `sim` only: simulated delay per call. Default 0.
    pub latency: Duration,
    /// `local` only: GGUF path; plugins: their own keys. Any key not listed
    /// above lands here (plugin models receive these as their JSON config).
    /// `openai`: `max_response_bytes` (see [`ModelDecl::max_response_bytes`]).
    pub extra: IndexMap<String, serde_json::Value>,
}

/// The `max_response_bytes` key of an `openai` model: the largest reply body
/// read from the server. Kept in [`ModelDecl::extra`] (like the sim model's
/// tuning numbers) so that adding it changed no struct literal.
pub const MAX_RESPONSE_BYTES_KEY: &str = "max_response_bytes";

/// The default `max_response_bytes`: 8 MiB. A chat completion is a few
/// kilobytes; the cap only stops a broken or hostile server from filling
/// memory with an endless or huge body.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

impl ModelDecl {
    /// The largest reply body an `openai` model reads: the spec's
    /// `max_response_bytes`, else [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn max_response_bytes(&self) -> u64 {
        self.extra
            .get(MAX_RESPONSE_BYTES_KEY)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
    }
}

/// A field type of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
    List(Box<FieldType>),
    Enum(Vec<String>),
    Json,
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldType::String => f.write_str("string"),
            FieldType::Int => f.write_str("int"),
            FieldType::Float => f.write_str("float"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::Json => f.write_str("json"),
            FieldType::List(inner) => write!(f, "list<{inner}>"),
            FieldType::Enum(labels) => {
                f.write_str("enum(")?;
                for (i, label) in labels.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{label:?}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One input or output field of a signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub description: Option<String>,
}

/// `signature NAME { .. }` or `signature NAME = "a, b -> c"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub name: String,
    /// The docstring; empty when none was given (the adapter then writes a
    /// default sentence built from the field names, as DSPy does).
    pub instructions: String,
    pub inputs: Vec<Field>,
    pub outputs: Vec<Field>,
}

/// The module a predictor step runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModuleKind {
    Predict,
    /// Adds a `reasoning: string` output before the signature's outputs.
    ChainOfThought,
}

/// Where a step input or a program output takes its value from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// `input.NAME`: a program input.
    Input(String),
    /// `STEP.FIELD`: an output of an earlier step.
    Step { step: String, field: String },
}

/// One predictor step: one optimizable unit with its own instructions and demos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub module: ModuleKind,
    /// The signature as declared (without the chain-of-thought reasoning field).
    pub signature: Signature,
    /// The model of this step (its own `lm = ..`, else the program's).
    pub lm: String,
    /// Every input of the signature, bound (explicitly or by name), in the
    /// signature's input order.
    pub bindings: Vec<(String, Source)>,
}

impl Step {
    /// The outputs the LM is asked for: `reasoning` first for chain_of_thought.
    pub fn lm_outputs(&self) -> Vec<Field> {
        let mut out = Vec::with_capacity(self.signature.outputs.len() + 1);
        if self.module == ModuleKind::ChainOfThought {
            out.push(Field {
                name: "reasoning".into(),
                ty: FieldType::String,
                description: Some("think step by step before answering".into()),
            });
        }
        out.extend(self.signature.outputs.iter().cloned());
        out
    }
}

/// A compiled program: a DAG of predictor steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramGraph {
    pub name: String,
    /// The program's default model.
    pub lm: String,
    pub inputs: Vec<Field>,
    /// Steps in a topological order (declaration order where the DAG allows).
    pub steps: Vec<Step>,
    /// Program outputs: name and where the value comes from.
    pub outputs: Vec<(String, Source)>,
    /// For each step (same index as `steps`), the indices of the steps it reads from.
    pub deps: Vec<Vec<usize>>,
    /// The program block and the signatures it uses, as written in the spec:
    /// how append_rule describes the program to the prompt model.
    pub spec_text: String,
}

/// A data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataFile {
    Jsonl(PathBuf),
    Csv(PathBuf),
}

/// The size of one part of a `split { }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SplitSize {
    Count(usize),
    /// A fraction in (0, 1] of all rows (rounded down).
    Fraction(f64),
    /// Whatever the other parts leave.
    Rest,
}

/// Where a dataset's rows come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DatasetSource {
    /// Named splits, each its own file: `train = jsonl(..)`, `dev = csv(..)`.
    Files(IndexMap<String, DataFile>),
    /// One file cut into named parts, in order, after a seeded shuffle.
    Split {
        all: DataFile,
        parts: Vec<(String, SplitSize)>,
        shuffle_seed: u64,
    },
}

/// `dataset NAME { .. }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetDecl {
    pub name: String,
    pub source: DatasetSource,
    /// The fields the program sees; every other field is a label.
    pub inputs: Vec<String>,
}

/// `dataset.split`, e.g. `trivia.train`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataRef {
    pub dataset: String,
    pub split: String,
}

impl std::fmt::Display for DataRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.dataset, self.split)
    }
}

/// `pred.x` or `gold.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Pred,
    Gold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

/// Built-in metric functions (`judge` has its own node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Builtin {
    ExactMatch,
    F1,
    Contains,
    RegexMatch,
    NumberClose,
    Min,
    Max,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetricExpr {
    Number(f64),
    Str(String),
    Bool(bool),
    Ref(Side, String),
    Unary(UnaryOp, Box<MetricExpr>),
    Binary(BinaryOp, Box<MetricExpr>, Box<MetricExpr>),
    Call(Builtin, Vec<MetricExpr>),
    /// `judge(model, "question", args..)`: an LM returning a score in [0, 1].
    Judge {
        model: String,
        question: String,
        args: Vec<MetricExpr>,
    },
}

/// A piece of a `feedback "..{x}.."` template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TemplatePart {
    Text(String),
    Ref(Side, String),
}

/// `metric NAME = expr [feedback ".."]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDecl {
    pub name: String,
    pub expr: MetricExpr,
    pub feedback: Option<Vec<TemplatePart>>,
}

/// A strategy named in `strategies = [..]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StrategyRef {
    AppendDemo,
    AppendRule,
    Plugin { plugin: String, item: String },
}

impl std::fmt::Display for StrategyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrategyRef::AppendDemo => f.write_str("append_demo"),
            StrategyRef::AppendRule => f.write_str("append_rule"),
            StrategyRef::Plugin { plugin, item } => write!(f, "{plugin}.{item}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    Softmax,
    Thompson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resample {
    Rollout,
    Temperature,
}

/// The `stop { }` block; every rule is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopRules {
    pub patience: Option<usize>,
    /// Default 0.0 when patience is set.
    pub min_delta: f64,
    pub target: Option<f64>,
    pub max_lm_calls: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_duration: Option<Duration>,
}

/// Where the final candidates are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SelectOn {
    Trainset,
    Valset,
    Devset,
}

/// `optimize PROGRAM with simba { .. }`, with DSPy's defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizeDecl {
    /// The program optimized (also the name `--only` and `--set` use).
    pub program: String,
    pub trainset: DataRef,
    pub devset: Option<DataRef>,
    pub valset: Option<DataRef>,
    /// Trainset unless `valset` is given (then Valset) or `select_on = devset`.
    pub select_on: SelectOn,
    pub metric: String,
    /// Default 32.
    pub bsize: usize,
    /// Default 6.
    pub num_candidates: usize,
    /// Default 8.
    pub max_steps: usize,
    /// Default 4.
    pub max_demos: usize,
    /// Default 100_000.
    pub demo_input_field_maxlen: usize,
    /// Default 0.2.
    pub temperature_for_sampling: f64,
    /// Default 0.2.
    pub temperature_for_candidates: f64,
    /// Default `[append_demo, append_rule]`; `[append_rule]` when max_demos = 0.
    pub strategies: Vec<StrategyRef>,
    /// Model for append_rule; None: the program's lm.
    pub prompt_model: Option<String>,
    pub teacher: Option<String>,
    pub selection: Selection,
    /// Merge identical candidates in the pool (not DSPy's behaviour, so off
    /// by default).
    #[serde(default)]
    pub dedup: bool,
    pub resample: Resample,
    /// In-flight program executions. Default 16.
    pub concurrency: usize,
    /// Default 0.
    pub seed: u64,
    pub stop: StopRules,
    /// Resolved against the spec folder; default `out/<program>` beside the spec.
    pub output: PathBuf,
    /// Resolved against the spec folder; None when the cache is off.
    /// Default `.simba-cache` beside the spec.
    pub cache: Option<PathBuf>,
}
