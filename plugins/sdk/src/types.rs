//! The JSON payloads crossing the boundary (versioned with the ABI minor:
//! new fields always come with a serde default).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Field values by name (a step's inputs or outputs, a prediction, a demo).
pub type Record = Map<String, Value>;

/// What `manifest` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's own name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Strategy items, usable as `NAME.item` in `strategies = [..]`.
    #[serde(default)]
    pub strategies: Vec<String>,
    /// Model items, usable as `provider = NAME.item`.
    #[serde(default)]
    pub models: Vec<String>,
    /// Optional capabilities, free-form.
    #[serde(default)]
    pub features: Vec<String>,
    /// Tool items, usable as `step x = NAME.item(..)` (ABI 1.1).
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// Metric items, usable as `metric m = NAME.item(pred, gold)` (ABI 1.1).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// The config keys of the items that declare them (ABI 1.1, optional:
    /// a manifest without it still loads). The host checks a declaring
    /// item's `{ .. }` config against its keys in `check` and before a run;
    /// an item not listed gets its config unchecked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ItemConfigKeys>,
}

impl Manifest {
    /// The config keys declared for `item` of `kind` (`"strategy"`,
    /// `"model"`, `"tool"` or `"metric"`); `None` when the item declares none.
    pub fn config_keys(&self, kind: &str, item: &str) -> Option<&[ConfigKey]> {
        self.config
            .iter()
            .find(|c| c.kind == kind && c.item == item)
            .map(|c| c.keys.as_slice())
    }
}

// ---------------------------------------------------------------- config

/// The config keys one item accepts: every key its `{ .. }` block may set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemConfigKeys {
    /// `"strategy"`, `"model"`, `"tool"` or `"metric"`.
    pub kind: String,
    /// The item name.
    pub item: String,
    /// Every key the item reads; an empty list means it takes no config.
    pub keys: Vec<ConfigKey>,
}

/// One config key: its name, type and a one-line description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigKey {
    pub name: String,
    /// `string`, `int`, `float` (any number), `bool`, `list<T>`, `object`
    /// (a nested block) or `json` (any value).
    #[serde(rename = "type")]
    pub ty: String,
    /// One line for `check`'s listing and for error messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

impl ConfigKey {
    /// A key of type `ty` described by `doc`.
    pub fn new(name: &str, ty: &str, doc: &str) -> Self {
        ConfigKey {
            name: name.to_string(),
            ty: ty.to_string(),
            doc: (!doc.is_empty()).then(|| doc.to_string()),
        }
    }
}

// ---------------------------------------------------------------- tools

/// A tool item with its typed fields: what `check` type-checks a tool step
/// against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The item name.
    pub name: String,
    /// The inputs a step binds, in order.
    #[serde(default)]
    pub inputs: Vec<FieldSpec>,
    /// The outputs later steps read, in order.
    #[serde(default)]
    pub outputs: Vec<FieldSpec>,
}

impl FieldSpec {
    /// A field without a description.
    pub fn new(name: &str, ty: &str) -> Self {
        FieldSpec {
            name: name.to_string(),
            ty: ty.to_string(),
            description: None,
        }
    }
}

/// A tool call: the step's bound inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRequest {
    pub inputs: Record,
}

/// A tool's answer: every output of its manifest entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolReply {
    pub outputs: Record,
}

// ---------------------------------------------------------------- metrics

/// A metric call: the program's outputs and the gold example's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRequest {
    pub pred: Record,
    pub gold: Record,
}

/// A metric's verdict: a score (usually in [0, 1]) and optional feedback,
/// which reaches strategies like a spec metric's `feedback "..."`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricScore {
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

// ---------------------------------------------------------------- strategies

/// One step of an execution trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    /// The predictor step name.
    pub step: String,
    pub inputs: Record,
    /// Empty when the call failed.
    pub outputs: Record,
}

/// One trajectory of the bucket: a program execution on the bucket's example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub score: f64,
    #[serde(default)]
    pub feedback: Option<String>,
    /// The program outputs; None when a step failed.
    #[serde(default)]
    pub prediction: Option<Record>,
    #[serde(default)]
    pub trace: Vec<TraceStep>,
}

/// A demo attached to a predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    pub fields: Record,
    /// Made from the program's own trajectories.
    #[serde(default)]
    pub augmented: bool,
}

/// A signature field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub name: String,
    /// The field type as written in the spec (`string`, `list<int>`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The optimizable state of one predictor, with its signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictor {
    /// The step name.
    pub name: String,
    pub instructions: String,
    #[serde(default)]
    pub demos: Vec<Demo>,
    #[serde(default)]
    pub inputs: Vec<FieldSpec>,
    #[serde(default)]
    pub outputs: Vec<FieldSpec>,
}

/// A candidate program: its predictors in step order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramState {
    pub predictors: Vec<Predictor>,
}

impl ProgramState {
    /// The predictor named `name`.
    pub fn predictor(&self, name: &str) -> Option<&Predictor> {
        self.predictors.iter().find(|p| p.name == name)
    }

    /// The predictor named `name`, mutably.
    pub fn predictor_mut(&mut self, name: &str) -> Option<&mut Predictor> {
        self.predictors.iter_mut().find(|p| p.name == name)
    }
}

/// The batch's score percentiles (SIMBA's bucket filters use them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p10: f64,
    pub p90: f64,
}

/// What a strategy is called with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRequest {
    /// The optimizer step (1-based).
    pub step: u64,
    /// The bucket's trajectories, best first.
    pub bucket: Vec<Trajectory>,
    /// The candidate program to modify.
    pub program: ProgramState,
    pub percentiles: Percentiles,
    /// The model the strategy may call for rewrites (the spec's
    /// `prompt_model`, else the program's model).
    #[serde(default)]
    pub prompt_model: Option<String>,
    /// Demo cap of the run (`max_demos`).
    #[serde(default)]
    pub max_demos: Option<u64>,
    /// Extra per-call settings from the host (free-form).
    #[serde(default)]
    pub config: Value,
}

/// What a strategy returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StrategyReply {
    /// The modified program.
    Applied {
        program: ProgramState,
        /// A short note for the trial log.
        #[serde(default)]
        note: Option<String>,
    },
    /// The strategy did not apply.
    Skipped { reason: String },
}

// -------------------------------------------------------------------- models

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl Message {
    /// A message with the given role.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// What the reply should look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// A JSON object.
    JsonObject,
}

/// A completion request: sent to model plugins, and by strategies to the
/// host's `call_lm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The spec's model name (set by the host on requests to model plugins;
    /// ignored by `call_lm`, which takes the name separately).
    #[serde(default)]
    pub model: String,
    pub messages: Vec<Message>,
    /// None: the model's own setting (only in `call_lm` requests).
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub rollout_id: Option<u64>,
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Extra provider parameters.
    #[serde(default)]
    pub params: Map<String, Value>,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    pub text: String,
    #[serde(default)]
    pub usage: Usage,
}

/// A failed completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelError {
    pub message: String,
    /// Worth retrying (timeouts, rate limits).
    #[serde(default)]
    pub retryable: bool,
}

impl ModelError {
    /// A failure not worth retrying.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}

/// What a model call returns: `{"status":"ok",..}` or `{"status":"error",..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ModelReply {
    Ok(ModelResponse),
    Error(ModelError),
}

impl From<Result<ModelResponse, ModelError>> for ModelReply {
    fn from(r: Result<ModelResponse, ModelError>) -> Self {
        match r {
            Ok(v) => ModelReply::Ok(v),
            Err(e) => ModelReply::Error(e),
        }
    }
}

impl From<ModelReply> for Result<ModelResponse, ModelError> {
    fn from(r: ModelReply) -> Self {
        match r {
            ModelReply::Ok(v) => Ok(v),
            ModelReply::Error(e) => Err(e),
        }
    }
}
