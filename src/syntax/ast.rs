//! The typed syntax tree of a `.simba` file: what was written, with spans.
//!
//! Values are kept close to the text (numbers as written, names unresolved):
//! meaning is the compiler's job. Two trees compare equal when they say the
//! same thing, whatever their layout: see [`Span`]'s `PartialEq`.

/// A byte range in one source text.
///
/// `src` is 0 for the spec file and `n` for the `n`-th `--set` override (1-based).
/// Spans never make two trees differ: `PartialEq` is always true, so
/// `parse(fmt(x)) == parse(x)` compares meaning, not layout.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// Which source text the offsets index: 0 for the spec, `n` for the `n`-th `--set`.
    pub src: u16,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Span {
    /// A span in the spec file itself (`src` 0).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end, src: 0 }
    }
    /// The span from the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
            src: self.src,
        }
    }
}

/// A name with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where the name was written.
    pub span: Span,
}

/// A whole file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// The top-level items, in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `plugin NAME = "path"`.
    Plugin(PluginItem),
    /// `model NAME { .. }`.
    Model(BlockItem),
    /// `dataset NAME { .. }`.
    Dataset(BlockItem),
    /// `corpus NAME { .. }`: passages a `search` step retrieves from.
    Corpus(BlockItem),
    /// `signature NAME ..`.
    Signature(SignatureItem),
    /// `program NAME ..`.
    Program(ProgramItem),
    /// `metric NAME = ..`.
    Metric(MetricItem),
    /// `optimize PROGRAM with OPTIMIZER { .. }`.
    Optimize(OptimizeItem),
}

impl Item {
    /// The item's keyword, as written.
    pub fn keyword(&self) -> &'static str {
        match self {
            Item::Plugin(_) => "plugin",
            Item::Model(_) => "model",
            Item::Dataset(_) => "dataset",
            Item::Corpus(_) => "corpus",
            Item::Signature(_) => "signature",
            Item::Program(_) => "program",
            Item::Metric(_) => "metric",
            Item::Optimize(_) => "optimize",
        }
    }
    /// The item's declared name (for optimize blocks: the program name).
    pub fn name(&self) -> &Ident {
        match self {
            Item::Plugin(i) => &i.name,
            Item::Model(i) | Item::Dataset(i) | Item::Corpus(i) => &i.name,
            Item::Signature(i) => &i.name,
            Item::Program(i) => &i.name,
            Item::Metric(i) => &i.name,
            Item::Optimize(i) => &i.program,
        }
    }
    /// The whole item's span.
    pub fn span(&self) -> Span {
        match self {
            Item::Plugin(i) => i.span,
            Item::Model(i) | Item::Dataset(i) | Item::Corpus(i) => i.span,
            Item::Signature(i) => i.span,
            Item::Program(i) => i.span,
            Item::Metric(i) => i.span,
            Item::Optimize(i) => i.span,
        }
    }
}

/// `plugin NAME = "path"`.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginItem {
    /// The name other items use to refer to the plugin.
    pub name: Ident,
    /// The library path as written: relative to the spec folder, else looked up on
    /// the plugin search path.
    pub path: Str,
    /// The whole item.
    pub span: Span,
}

/// `model NAME { .. }`, `dataset NAME { .. }` and `corpus NAME { .. }`: a name and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockItem {
    /// The model's or dataset's name.
    pub name: Ident,
    /// The settings inside the braces, in source order.
    pub entries: Vec<Entry>,
    /// The whole item.
    pub span: Span,
}

/// `key = value` or `key { entries }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The setting's name.
    pub key: Ident,
    /// A single value or a nested block.
    pub value: EntryValue,
    /// The whole entry, key to end of value.
    pub span: Span,
}

impl Entry {
    /// Where the entry's value is: the value itself, or the whole entry for
    /// a `{ }` block (diagnostics about a value point there).
    pub fn value_span(&self) -> Span {
        match &self.value {
            EntryValue::Value(v) => v.span,
            EntryValue::Block(_) => self.span,
        }
    }
}

/// The right-hand side of an [`Entry`].
#[derive(Debug, Clone, PartialEq)]
pub enum EntryValue {
    /// `key = value`.
    Value(Value),
    /// `key { entries }`: a nested group of settings such as `stop { .. }`.
    Block(Vec<Entry>),
}

/// A string literal's value (escapes resolved, triple quotes dedented).
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    /// The text after escapes and dedenting.
    pub value: String,
    /// The literal including its quotes.
    pub span: Span,
}

/// A setting value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What was written.
    pub kind: ValueKind,
    /// The whole value.
    pub span: Span,
}

/// The kinds of setting value; the compiler decides which ones a key accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A string literal's text, escapes resolved.
    Str(String),
    /// As written (may contain `_`, a sign, a fraction or an exponent).
    Number(String),
    /// As written, e.g. `250ms`.
    Duration(String),
    /// `true` or `false`.
    Bool(bool),
    /// `a` or `a.b`.
    Name(Vec<Ident>),
    /// `[a, b, ..]`.
    List(Vec<Value>),
    /// `name(args)`, such as `env("KEY")` or `jsonl("path")`.
    Call {
        /// The function's name.
        name: Ident,
        /// The arguments in order.
        args: Vec<Value>,
    },
    /// `plugin.item { key = value }`: a plugin item with its config.
    Configured {
        /// The item's qualified name.
        name: Vec<Ident>,
        /// The config entries, in source order.
        config: Vec<Entry>,
    },
    /// `{ key = value }` as a value: a nested block (`a = { b = 1 }`, `[{ b = 1 }]`).
    Block(Vec<Entry>),
}

impl ValueKind {
    /// A short noun for messages ("a string", "a list", ...).
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Str(_) => "a string",
            ValueKind::Number(_) => "a number",
            ValueKind::Duration(_) => "a duration",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Name(_) => "a name",
            ValueKind::List(_) => "a list",
            ValueKind::Call { .. } => "a call",
            ValueKind::Configured { .. } => "a configured item",
            ValueKind::Block(_) => "a block",
        }
    }
}

/// `signature NAME { .. }` or `signature NAME = ".. -> .."`.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureItem {
    /// The signature's name.
    pub name: Ident,
    /// Its fields, in block or one-line form.
    pub body: SignatureBody,
    /// The whole item.
    pub span: Span,
}

/// The two ways of writing a signature.
#[derive(Debug, Clone, PartialEq)]
pub enum SignatureBody {
    /// The braced form: an optional instruction string, then `in`/`out` fields.
    Block {
        /// The leading docstring, used as the predictor's instruction.
        doc: Option<Str>,
        /// The fields in source order.
        fields: Vec<SigField>,
    },
    /// The one-line form: the string, and the fields parsed from it (their
    /// spans point into the string).
    Line(Str, Vec<SigField>),
}

/// Whether a signature field is read by the predictor or produced by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// An input (`in`, or left of `->`).
    In,
    /// An output (`out`, or right of `->`).
    Out,
}

/// `in name: type "description"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SigField {
    /// Input or output.
    pub dir: Dir,
    /// The field's name.
    pub name: Ident,
    /// The declared type; `None` means `string`.
    pub ty: Option<TypeExpr>,
    /// A description shown to the model next to the field.
    pub desc: Option<Str>,
    /// The whole field.
    pub span: Span,
}

/// A field type as written.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// `string`, `int`, `list<T>` (any name; the compiler checks it).
    Named {
        /// The type name.
        name: Ident,
        /// The element type in `name<arg>`.
        arg: Option<Box<TypeExpr>>,
        /// The whole type.
        span: Span,
    },
    /// `enum("a", "b", ..)`: a closed set of string labels.
    Enum {
        /// The labels in order.
        labels: Vec<Str>,
        /// The whole type.
        span: Span,
    },
}

impl TypeExpr {
    /// Where the type was written.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named { span, .. } | TypeExpr::Enum { span, .. } => *span,
        }
    }
}

/// `program NAME { .. }` or `program NAME = predict(S)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramItem {
    /// The program's name.
    pub name: Ident,
    /// Its single module call or its braced entries.
    pub body: ProgramBody,
    /// The whole item.
    pub span: Span,
}

/// The two ways of writing a program.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgramBody {
    /// `program NAME = predict(S)`: one step, inputs and outputs from its signature.
    Shorthand(ModuleCall),
    /// `program NAME { .. }`: explicit model, inputs, steps and outputs.
    Block(Vec<ProgramEntry>),
}

/// One line inside a braced `program { .. }`.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgramEntry {
    /// `lm = MODEL`: the default model for the program's steps.
    Lm {
        /// The model's name.
        model: Ident,
        /// The whole entry.
        span: Span,
    },
    /// `in name: type "description"`: a program input.
    In {
        /// The input's name.
        name: Ident,
        /// The declared type; `None` means `string`.
        ty: Option<TypeExpr>,
        /// A description of the input.
        desc: Option<Str>,
        /// The whole entry.
        span: Span,
    },
    /// `out name [= step.field]`: a program output.
    Out {
        /// The output's name.
        name: Ident,
        /// The producing `step.field`; `None` means the last step with an output of that name.
        source: Option<Vec<Ident>>,
        /// The whole entry.
        span: Span,
    },
    /// `step NAME = module(args) { bindings }`.
    Step(StepDecl),
}

impl ProgramEntry {
    /// Where the entry was written.
    pub fn span(&self) -> Span {
        match self {
            ProgramEntry::Lm { span, .. }
            | ProgramEntry::In { span, .. }
            | ProgramEntry::Out { span, .. } => *span,
            ProgramEntry::Step(s) => s.span,
        }
    }
}

/// `step NAME = module(args) { bindings }`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDecl {
    /// The step's name, used by bindings and outputs as `NAME.field`.
    pub name: Ident,
    /// The module the step runs.
    pub call: ModuleCall,
    /// Where each of the step's inputs comes from.
    pub bindings: Vec<Binding>,
    /// A `{ key = value }` block after the call that is not bindings: a
    /// plugin tool's config.
    pub config: Option<Vec<Entry>>,
    /// The whole step.
    pub span: Span,
}

/// `predict(Sig)`, `chain_of_thought(Sig)`, `search(wiki, query = q.query, k = 3)`,
/// `plugin.tool(..)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCall {
    /// The module's qualified name, e.g. `predict` or `plugin.tool`.
    pub module: Vec<Ident>,
    /// The positional arguments in order (usually a signature name).
    pub args: Vec<Value>,
    /// The `name = value` arguments in order (`search`'s `query` and `k`).
    pub named: Vec<NamedArg>,
    /// The whole call.
    pub span: Span,
}

/// `name = value` inside a module call's parentheses.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArg {
    /// The argument's name.
    pub name: Ident,
    /// Its value: a number, or a source such as `step.field` (a name).
    pub value: Value,
    /// The whole argument.
    pub span: Span,
}

/// `field = input.x` / `field = step.field` / `lm = model`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The input field being bound (or `lm`).
    pub field: Ident,
    /// The qualified source name, e.g. `input.x`, `step.field` or a model name.
    pub source: Vec<Ident>,
    /// The whole binding.
    pub span: Span,
}

/// `metric NAME = expr [feedback ".."]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricItem {
    /// The metric's name.
    pub name: Ident,
    /// The score expression, or the code that computes it.
    pub body: MetricBody,
    /// A template for the feedback text given to the optimizer, with `{pred.x}`-style holes.
    pub feedback: Option<Str>,
    /// The whole item.
    pub span: Span,
}

/// What computes a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricBody {
    /// An expression over `pred.x` and `gold.x`.
    Expr(Expr),
    /// `plugin.item(pred, gold) { .. }` or `command("program") { .. }`.
    Code(CodeMetric),
}

/// A metric computed by code.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeMetric {
    /// `command`, or the plugin item's qualified name.
    pub callee: Vec<Ident>,
    /// The arguments in order (`pred, gold`, or the command line).
    pub args: Vec<Value>,
    /// The `{ key = value }` config after the call.
    pub config: Option<Vec<Entry>>,
    /// The call and its config.
    pub span: Span,
}

/// A binary operator in a metric expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
}

impl BinOp {
    /// The operator as written in source (used by the formatter and messages).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div => 5,
        }
    }
}

/// A prefix operator in a metric expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`.
    Neg,
    /// `not x`.
    Not,
}

/// A metric expression. Parentheses are not kept: precedence is in the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal as written.
    Number(String, Span),
    /// A string literal.
    Str(Str),
    /// `true` or `false`.
    Bool(bool, Span),
    /// A qualified name such as `example.answer` or `pred.answer`.
    Name(Vec<Ident>, Span),
    /// A prefix operator applied to an operand.
    Unary(UnOp, Box<Expr>, Span),
    /// A binary operator with its left and right operands.
    Binary(BinOp, Box<Expr>, Box<Expr>, Span),
    /// `name(args)`: a built-in metric function.
    Call {
        /// The function's name.
        name: Ident,
        /// The arguments in order.
        args: Vec<Expr>,
        /// The whole call.
        span: Span,
    },
}

impl Expr {
    /// Where the expression was written.
    pub fn span(&self) -> Span {
        match self {
            Expr::Number(_, s) | Expr::Bool(_, s) | Expr::Name(_, s) => *s,
            Expr::Str(s) => s.span,
            Expr::Unary(_, _, s) | Expr::Binary(_, _, _, s) => *s,
            Expr::Call { span, .. } => *span,
        }
    }
}

/// `optimize PROGRAM with OPTIMIZER { entries }`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizeItem {
    /// The program being optimized.
    pub program: Ident,
    /// The optimizer's name; only `simba` compiles today.
    pub optimizer: Ident,
    /// The settings inside the braces, in source order.
    pub entries: Vec<Entry>,
    /// The whole item.
    pub span: Span,
}

/// A qualified name's text: `a.b.c`.
pub fn dotted(parts: &[Ident]) -> String {
    parts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

/// The span covering a qualified name.
pub fn dotted_span(parts: &[Ident]) -> Span {
    match (parts.first(), parts.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => Span::default(),
    }
}
