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
    pub start: usize,
    pub end: usize,
    pub src: u16,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Span {
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
    pub name: String,
    pub span: Span,
}

/// A whole file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Plugin(PluginItem),
    Model(BlockItem),
    Dataset(BlockItem),
    Signature(SignatureItem),
    Program(ProgramItem),
    Metric(MetricItem),
    Optimize(OptimizeItem),
}

impl Item {
    /// The item's keyword, as written.
    pub fn keyword(&self) -> &'static str {
        match self {
            Item::Plugin(_) => "plugin",
            Item::Model(_) => "model",
            Item::Dataset(_) => "dataset",
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
            Item::Model(i) | Item::Dataset(i) => &i.name,
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
            Item::Model(i) | Item::Dataset(i) => i.span,
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
    pub name: Ident,
    pub path: Str,
    pub span: Span,
}

/// `model NAME { .. }` and `dataset NAME { .. }`: a name and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockItem {
    pub name: Ident,
    pub entries: Vec<Entry>,
    pub span: Span,
}

/// `key = value` or `key { entries }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Ident,
    pub value: EntryValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryValue {
    Value(Value),
    Block(Vec<Entry>),
}

/// A string literal's value (escapes resolved, triple quotes dedented).
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

/// A setting value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Str(String),
    /// As written (may contain `_`, a sign, a fraction or an exponent).
    Number(String),
    /// As written, e.g. `250ms`.
    Duration(String),
    Bool(bool),
    /// `a` or `a.b`.
    Name(Vec<Ident>),
    List(Vec<Value>),
    Call {
        name: Ident,
        args: Vec<Value>,
    },
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
        }
    }
}

/// `signature NAME { .. }` or `signature NAME = ".. -> .."`.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureItem {
    pub name: Ident,
    pub body: SignatureBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SignatureBody {
    Block {
        doc: Option<Str>,
        fields: Vec<SigField>,
    },
    /// The one-line form: the string, and the fields parsed from it (their
    /// spans point into the string).
    Line(Str, Vec<SigField>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// `in name: type "description"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SigField {
    pub dir: Dir,
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub desc: Option<Str>,
    pub span: Span,
}

/// A field type as written.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// `string`, `int`, `list<T>` (any name; the compiler checks it).
    Named {
        name: Ident,
        arg: Option<Box<TypeExpr>>,
        span: Span,
    },
    Enum {
        labels: Vec<Str>,
        span: Span,
    },
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named { span, .. } | TypeExpr::Enum { span, .. } => *span,
        }
    }
}

/// `program NAME { .. }` or `program NAME = predict(S)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramItem {
    pub name: Ident,
    pub body: ProgramBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProgramBody {
    Shorthand(ModuleCall),
    Block(Vec<ProgramEntry>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProgramEntry {
    Lm {
        model: Ident,
        span: Span,
    },
    In {
        name: Ident,
        ty: Option<TypeExpr>,
        desc: Option<Str>,
        span: Span,
    },
    Out {
        name: Ident,
        source: Option<Vec<Ident>>,
        span: Span,
    },
    Step(StepDecl),
}

impl ProgramEntry {
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
    pub name: Ident,
    pub call: ModuleCall,
    pub bindings: Vec<Binding>,
    pub span: Span,
}

/// `predict(Sig)`, `chain_of_thought(Sig)`, `plugin.tool(..)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCall {
    pub module: Vec<Ident>,
    pub args: Vec<Value>,
    pub span: Span,
}

/// `field = input.x` / `field = step.field` / `lm = model`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub field: Ident,
    pub source: Vec<Ident>,
    pub span: Span,
}

/// `metric NAME = expr [feedback ".."]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricItem {
    pub name: Ident,
    pub expr: Expr,
    pub feedback: Option<Str>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// A metric expression. Parentheses are not kept: precedence is in the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(String, Span),
    Str(Str),
    Bool(bool, Span),
    Name(Vec<Ident>, Span),
    Unary(UnOp, Box<Expr>, Span),
    Binary(BinOp, Box<Expr>, Box<Expr>, Span),
    Call {
        name: Ident,
        args: Vec<Expr>,
        span: Span,
    },
}

impl Expr {
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
    pub program: Ident,
    pub optimizer: Ident,
    pub entries: Vec<Entry>,
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
