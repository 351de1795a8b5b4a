//! Signatures and programs: typed fields, predictor steps, the step DAG.

use serde::{Deserialize, Serialize};

/// A field type of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldType {
    /// `string`.
    String,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `list<T>`.
    List(Box<FieldType>),
    /// `enum("a", "b")`: one of the labels.
    Enum(Vec<String>),
    /// `json`: any JSON value.
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

impl FieldType {
    /// Whether the JSON `value` has this type (a plugin tool's reply is
    /// checked with it: an `int` is a whole number, a `float` any number,
    /// an enum one of its labels).
    pub fn fits(&self, value: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (self, value) {
            (FieldType::Json, _) => true,
            (FieldType::String, J::String(_)) | (FieldType::Bool, J::Bool(_)) => true,
            (FieldType::Int, J::Number(n)) => n.is_i64() || n.is_u64(),
            (FieldType::Float, J::Number(_)) => true,
            (FieldType::Enum(labels), J::String(s)) => labels.contains(s),
            (FieldType::List(t), J::Array(items)) => items.iter().all(|i| t.fits(i)),
            _ => false,
        }
    }
}

/// One input or output field of a signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The field name (a key of the example or reply).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Shown to the model next to the field; none when the spec gives none.
    pub description: Option<String>,
}

/// `signature NAME { .. }` or `signature NAME = "a, b -> c"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// The item name.
    pub name: String,
    /// The docstring; without one, [`default_instructions`] (what DSPy gives
    /// a signature without a docstring, so a DSPy program that loads ours
    /// starts from the same text).
    pub instructions: String,
    /// Input fields, in declaration order.
    pub inputs: Vec<Field>,
    /// Output fields, in declaration order.
    pub outputs: Vec<Field>,
}

/// DSPy's instructions for a signature declared without a docstring: one
/// sentence naming the inputs, then the outputs, each in backticks, in
/// declaration order (`` Given the fields `a`, `b`, produce the fields `c`. ``).
/// The outputs are the signature's own: chain_of_thought's `reasoning` is
/// added after the instructions are fixed, as in DSPy.
pub fn default_instructions(inputs: &[Field], outputs: &[Field]) -> String {
    let quoted = |fields: &[Field]| -> String {
        fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Given the fields {}, produce the fields {}.",
        quoted(inputs),
        quoted(outputs)
    )
}

/// The name of the output chain_of_thought adds before a signature's outputs.
pub const REASONING_FIELD: &str = "reasoning";

/// The output chain_of_thought adds: the one definition prompts, artifacts
/// and compile-time binding checks all use.
pub fn reasoning_field() -> Field {
    Field {
        name: REASONING_FIELD.into(),
        ty: FieldType::String,
        description: Some("think step by step before answering".into()),
    }
}

/// The module a step runs: an LM predictor, or a built-in tool step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModuleKind {
    /// `predict(Sig)`: asks for the signature's outputs.
    Predict,
    /// Adds a `reasoning: string` output ([`reasoning_field`]) before the
    /// signature's outputs.
    ChainOfThought,
    /// `search(corpus, query = .., k = N)`: retrieval, not a predictor (no
    /// instructions, no demos, never optimized). Its signature is
    /// [`search_signature`].
    Search(SearchCall),
    /// `plugin.tool(a = ..) { config }`: a plugin tool, not a predictor
    /// (never optimized, no state in program.json). Its signature is the
    /// tool's manifest entry.
    Tool(ToolCall),
}

/// What a tool step runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ToolCall {
    /// The plugin item and its config.
    pub item: super::PluginItem,
}

/// What a `search` step asks of its corpus.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SearchCall {
    /// The `corpus` item searched.
    pub corpus: String,
    /// Passages returned, best first.
    pub k: usize,
}

/// The one input of a `search` step.
pub const SEARCH_QUERY_FIELD: &str = "query";
/// The one output of a `search` step: `list<string>`, best first.
pub const SEARCH_RESULT_FIELD: &str = "passages";

/// The fields of a `search` step: `query: string -> passages: list<string>`
/// (so bindings and the trace treat it like any step).
pub fn search_signature() -> Signature {
    Signature {
        name: "search".into(),
        instructions: String::new(),
        inputs: vec![Field {
            name: SEARCH_QUERY_FIELD.into(),
            ty: FieldType::String,
            description: Some("the search query".into()),
        }],
        outputs: vec![Field {
            name: SEARCH_RESULT_FIELD.into(),
            ty: FieldType::List(Box::new(FieldType::String)),
            description: Some("the passages found, best first".into()),
        }],
    }
}

impl ModuleKind {
    /// Whether the step is an LM predictor (optimizable state, a model).
    pub fn is_predictor(&self) -> bool {
        matches!(self, ModuleKind::Predict | ModuleKind::ChainOfThought)
    }

    /// The outputs the LM is asked for when this module runs `signature`:
    /// [`reasoning_field`] first for chain_of_thought.
    pub fn lm_outputs(&self, signature: &Signature) -> Vec<Field> {
        let mut out = Vec::with_capacity(signature.outputs.len() + 1);
        if *self == ModuleKind::ChainOfThought {
            out.push(reasoning_field());
        }
        out.extend(signature.outputs.iter().cloned());
        out
    }
}

/// Where a step input or a program output takes its value from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// `input.NAME`: a program input.
    Input(String),
    /// `STEP.FIELD`: an output of an earlier step.
    Step {
        /// The step's name.
        step: String,
        /// One of its LM outputs.
        field: String,
    },
}

/// One step: a predictor (one optimizable unit with its own instructions and
/// demos) or a tool step such as `search` ([`ModuleKind::is_predictor`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step's name, unique in its program.
    pub name: String,
    /// The module it runs.
    pub module: ModuleKind,
    /// The signature as declared (without the chain-of-thought reasoning field).
    pub signature: Signature,
    /// The model of this step (its own `lm = ..`, else the program's);
    /// empty for a tool step, which calls no model.
    pub lm: String,
    /// Every input of the signature, bound (explicitly or by name), in the
    /// signature's input order.
    pub bindings: Vec<(String, Source)>,
}

impl Step {
    /// The outputs the LM is asked for: `reasoning` first for chain_of_thought.
    pub fn lm_outputs(&self) -> Vec<Field> {
        self.module.lm_outputs(&self.signature)
    }

    /// Whether this step is an LM predictor (see [`ModuleKind::is_predictor`]).
    pub fn is_predictor(&self) -> bool {
        self.module.is_predictor()
    }
}

/// A compiled program: a DAG of predictor and tool steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramGraph {
    /// The item name.
    pub name: String,
    /// The program's default model.
    pub lm: String,
    /// The program's inputs: declared with `in`, else inferred from what the steps read.
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
