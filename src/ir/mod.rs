//! The Spec IR: what a `.simba` file means once parsed and checked.
//!
//! Produced by `compile` from the AST; consumed by every later stage (runtime,
//! optimizer, report). Nothing here carries source spans: errors after this
//! point name the item involved instead. Collections keep declaration order
//! (`IndexMap`) so everything derived from a spec is deterministic.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the whole [`Spec`], plugins, datasets, metrics |
//! | `model.rs` | [`ModelDecl`], [`Provider`], [`Setting`] |
//! | `program.rs` | signatures, steps, the program DAG |
//! | `code.rs` | plugin item configs, code metrics |
//! | `corpus.rs` | [`CorpusDecl`]: what `search` steps retrieve from |
//! | `optimize.rs` | [`OptimizeDecl`], [`StopRules`] |
//! | `defaults.rs` | every default a spec may leave out |

mod code;
mod corpus;
pub mod defaults;
mod model;
mod optimize;
mod program;

pub use code::{
    CodeMetric, CommandMetric, DEFAULT_COMMAND_TIMEOUT, ItemConfig, PluginItem, ScoreBounds,
};
pub use corpus::{CorpusDecl, CorpusSource, LocalCorpus, RemoteCorpus};
pub use model::{ENV_KEY, ModelDecl, Provider, Setting, SettingError, resolve_env_values};
pub use optimize::{
    FinalSelection, OptimizeDecl, Resample, SelectOn, Selection, StopRules, StrategyRef,
};
pub use program::{
    Field, FieldType, ModuleKind, ProgramGraph, REASONING_FIELD, SEARCH_QUERY_FIELD,
    SEARCH_RESULT_FIELD, SearchCall, Signature, Source, Step, ToolCall, default_instructions,
    reasoning_field, search_signature,
};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A whole compiled spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The spec file as given on the command line.
    pub path: PathBuf,
    /// The folder relative paths in the spec resolve against.
    pub base_dir: PathBuf,
    /// `plugin` items by name.
    pub plugins: IndexMap<String, PluginDecl>,
    /// `model` items by name.
    pub models: IndexMap<String, ModelDecl>,
    /// `signature` items by name.
    pub signatures: IndexMap<String, Signature>,
    /// `program` items by name.
    pub programs: IndexMap<String, ProgramGraph>,
    /// `dataset` items by name.
    pub datasets: IndexMap<String, DatasetDecl>,
    /// `metric` items by name.
    pub metrics: IndexMap<String, MetricDecl>,
    /// `corpus` items by name.
    #[serde(default)]
    pub corpora: IndexMap<String, CorpusDecl>,
    /// One per `optimize NAME with simba { .. }` block, in file order.
    pub optimizes: Vec<OptimizeDecl>,
}

/// `plugin NAME = "path"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDecl {
    /// The name its strategies and models are prefixed with.
    pub name: String,
    /// Path as written, resolved against the spec folder; the platform
    /// prefix/suffix may still be missing (the plugin host adds it).
    pub path: PathBuf,
}

/// A data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataFile {
    /// `jsonl("path")`: one JSON object a line.
    Jsonl(PathBuf),
    /// `csv("path")`: a header line, then rows.
    Csv(PathBuf),
}

/// The size of one part of a `split { }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SplitSize {
    /// This many rows.
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
        /// The file cut up.
        all: DataFile,
        /// Each part's name and size, in order.
        parts: Vec<(String, SplitSize)>,
        /// Seed of the shuffle before cutting.
        shuffle_seed: u64,
    },
}

/// `dataset NAME { .. }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetDecl {
    /// The item name.
    pub name: String,
    /// Where the rows come from.
    pub source: DatasetSource,
    /// The fields the program sees; every other field is a label.
    pub inputs: Vec<String>,
}

/// `dataset.split`, e.g. `trivia.train`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataRef {
    /// The dataset's name.
    pub dataset: String,
    /// One of its splits.
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
    /// The program's output.
    Pred,
    /// The example's labels.
    Gold,
}

/// A prefix operator of a metric expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `not x`.
    Not,
}

/// An infix operator of a metric expression (arithmetic, comparison, logic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`; dividing by zero makes the score 0 with feedback saying why.
    Div,
    /// `a == b`: numeric when one side is a number and the other reads as
    /// one, otherwise by string form.
    Eq,
    /// `a != b`, the negation of [`BinaryOp::Eq`].
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a and b`; the right side is not evaluated when the left is false.
    And,
    /// `a or b`; the right side is not evaluated when the left is true.
    Or,
}

/// Built-in metric functions (`judge` has its own node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Builtin {
    /// `exact_match(a, b)`: 1 when both are equal after SQuAD normalisation.
    ExactMatch,
    /// `f1(a, b)`: token F1 of the normalised texts.
    F1,
    /// `contains(a, b)`: 1 when normalised `b` is a substring of normalised `a`.
    Contains,
    /// `regex_match(x, "re")`: 1 when the pattern matches anywhere in the raw
    /// text of `x`.
    RegexMatch,
    /// `number_close(a, b, tol)`: 1 when `|a - b| <= tol`; 0 when either side
    /// is not a number.
    NumberClose,
    /// `min(..)`: the smallest of one or more numbers.
    Min,
    /// `max(..)`: the largest of one or more numbers.
    Max,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetricExpr {
    /// A number literal.
    Number(f64),
    /// A string literal.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `pred.x` or `gold.x`.
    Ref(Side, String),
    /// A prefix operator applied.
    Unary(UnaryOp, Box<MetricExpr>),
    /// An infix operator applied.
    Binary(BinaryOp, Box<MetricExpr>, Box<MetricExpr>),
    /// A built-in function called.
    Call(Builtin, Vec<MetricExpr>),
    /// `judge(model, "question", args..)`: an LM returning a score in [0, 1].
    Judge {
        /// The judging model.
        model: String,
        /// The question it answers about the arguments.
        question: String,
        /// Values shown to it.
        args: Vec<MetricExpr>,
    },
    /// The whole metric computed by code (`plugin.item(pred, gold)` or
    /// `command(..)`); only ever the top of a metric, never inside an
    /// expression.
    Code(CodeMetric),
}

/// A piece of a `feedback "..{x}.."` template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `{pred.x}` or `{gold.x}`.
    Ref(Side, String),
}

/// `metric NAME = expr [feedback ".."]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDecl {
    /// The item name.
    pub name: String,
    /// The score.
    pub expr: MetricExpr,
    /// The text strategies see about a scored example, if any.
    pub feedback: Option<Vec<TemplatePart>>,
}
