//! Text -> [`File`]: the pest grammar, the tree builder, and syntax errors in words.

use super::ast::*;
use super::diagnostic::{Diagnostic, suggest};
use super::lex::{self, Comment};
use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

/// The pest parser generated from `grammar/simba.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/simba.pest"]
pub struct SimbaParser;

/// Item keywords, for messages and resynchronisation after an error.
pub const ITEM_KEYWORDS: [&str; 7] = [
    "plugin",
    "model",
    "signature",
    "program",
    "dataset",
    "metric",
    "optimize",
];

/// A parsed file and its comments.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: File,
    pub comments: Vec<Comment>,
}

/// Parses a whole spec. On failure returns every syntax error found: after an
/// error the parser skips to the next line that starts with an item keyword
/// and carries on, so one typo does not hide the next.
pub fn parse(src: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let comments = lex::scan(src).map_err(|d| vec![d])?;
    let mut diags = Vec::new();
    let mut items = Vec::new();
    let mut base = 0;
    loop {
        match SimbaParser::parse(Rule::file, &src[base..]) {
            Ok(mut pairs) => {
                let mut b = Builder {
                    base,
                    src_id: 0,
                    diags: Vec::new(),
                };
                let file = b.file(pairs.next().expect("file rule"));
                items.extend(file.items);
                diags.extend(b.diags);
                break;
            }
            Err(e) => {
                let d = syntax_error(&e, src, base, 0);
                let at = d.span.start;
                diags.push(d);
                match next_item_start(src, at + 1) {
                    Some(next) if diags.len() < 20 => base = next,
                    _ => break,
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(Parsed {
            file: File { items },
            comments,
        })
    } else {
        Err(diags)
    }
}

/// Parses the value of a `--set K=V` override: `full` is the whole argument,
/// the value starts at byte `start`; spans use source index `src_id`.
#[allow(clippy::result_large_err)] // errors are rare and reported once: no need to box
pub fn parse_override_value(full: &str, start: usize, src_id: u16) -> Result<Value, Diagnostic> {
    let mut pairs = SimbaParser::parse(Rule::override_value, &full[start..])
        .map_err(|e| syntax_error(&e, full, start, src_id))?;
    let mut b = Builder {
        base: start,
        src_id,
        diags: Vec::new(),
    };
    let pair = pairs
        .next()
        .expect("override rule")
        .into_inner()
        .next()
        .expect("value");
    let v = b.value(pair);
    match b.diags.into_iter().next() {
        Some(d) => Err(d),
        None => Ok(v),
    }
}

/// The byte offset of the first line at or after `from` that starts with an item keyword.
fn next_item_start(src: &str, from: usize) -> Option<usize> {
    let mut from = from.min(src.len());
    while !src.is_char_boundary(from) {
        from += 1;
    }
    let mut pos = src[..from.min(src.len())].rfind('\n').map_or(0, |n| n + 1);
    for line in src[pos..].split_inclusive('\n') {
        if pos >= from {
            let word: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ITEM_KEYWORDS.contains(&word.as_str()) {
                return Some(pos);
            }
        }
        pos += line.len();
    }
    None
}

/// What a rule stands for, in words.
fn describe(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        file | kw_plugin | kw_model | kw_signature | kw_program | kw_dataset | kw_metric
        | kw_optimize | item | plugin_item | model_item | signature_item | program_item
        | dataset_item | metric_item | optimize_item => {
            "an item (`model`, `signature`, `program`, `dataset`, `metric`, `optimize` or `plugin`)"
        }
        EOI => "the end of the file",
        ident => "a name",
        qname => "a name such as `input.question` or `step.field`",
        string | plain_string | triple_string => "a string",
        number => "a number",
        duration => "a duration such as `30s`",
        boolean => "`true` or `false`",
        value | list | call => "a value (string, number, duration, name, list or call)",
        assign => "`=`",
        lbrace => "`{`",
        rbrace => "`}`",
        lparen => "`(`",
        rparen => "`)`",
        colon => "`:`",
        arrow => "`->`",
        kw_with => "`with`",
        kw_in | kw_out | field_dir | sig_field => "a field (`in name: type` or `out name: type`)",
        kw_step | kw_lm | prog_lm | prog_in | prog_out | step => "`lm`, `in`, `out` or `step`",
        kw_enum | ty | enum_ty | named_ty => "a field type such as `string` or `list<string>`",
        kw_feedback => "`feedback`",
        entry | block => "a setting `key = value`",
        binding | bindings => "a binding such as `question = input.question`",
        module_call => "a module such as `predict(Signature)`",
        expr | paren | call_expr | op_neg | op_not => "an expression",
        op_or | op_and | op_eq | op_ne | op_le | op_ge | op_lt | op_gt | op_add | op_sub
        | op_mul | op_div => "an operator",
        sig_line_field | sig_line_fields => "a field `name: type`",
        _ => return None,
    })
}

/// The thing found at `pos`, in words.
fn found_at(src: &str, pos: usize) -> (String, usize) {
    let rest = &src[pos.min(src.len())..];
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c.is_ascii_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let len = word.len();
        (format!("`{word}`"), len)
    } else if c == '"' {
        ("a string".into(), 1)
    } else {
        (format!("`{c}`"), c.len_utf8())
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A pest error, in words. `base` is the offset of `text` within the full source.
fn syntax_error(e: &pest::error::Error<Rule>, full: &str, base: usize, src_id: u16) -> Diagnostic {
    let pos = base
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let (found, len) = found_at(full, pos);
    let mut expected: Vec<&str> = Vec::new();
    let mut item_expected = false;
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(w) = describe(*r) {
                item_expected |= w.starts_with("an item");
                if !expected.contains(&w) {
                    expected.push(w);
                }
            }
        }
    }
    if item_expected {
        expected.retain(|w| *w != "the end of the file");
    }
    if expected.len() > 1 {
        expected.retain(|w| *w != "a name");
    }
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let what = found
        .strip_prefix("a ")
        .or(found.strip_prefix("the "))
        .unwrap_or(&found);
    let mut d = Diagnostic::error(
        Span {
            start: pos,
            end: pos + len.max(1),
            src: src_id,
        },
        message,
    )
    .label(format!("unexpected {what}"));
    let word = found.trim_matches('`');
    if item_expected {
        d = d.maybe_help(suggest(word, ITEM_KEYWORDS).map(|k| format!("did you mean `{k}`?")));
    }
    if d.help.is_none() && expected.contains(&"`=`") && found == "`:`" {
        d = d.help("settings are written `key = value`");
    }
    d
}

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
});

/// The length of `text` without trailing whitespace and comments.
fn content_len(text: &str) -> usize {
    let mut t = text.trim_end();
    loop {
        let line_start = t.rfind('\n').map_or(0, |n| n + 1);
        match comment_start(&t[line_start..]) {
            Some(h) => t = t[..line_start + h].trim_end(),
            None => return t.len(),
        }
    }
}

/// Where a `#` comment starts on a line, outside strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '#' if !in_str => return Some(i),
            _ => {}
        }
    }
    None
}

/// Builds the AST from pest pairs, collecting non-fatal errors (bad escapes, ...).
struct Builder {
    base: usize,
    src_id: u16,
    diags: Vec<Diagnostic>,
}

fn is_noise(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        assign
            | lbrace
            | rbrace
            | lparen
            | rparen
            | colon
            | arrow
            | kw_plugin
            | kw_model
            | kw_signature
            | kw_program
            | kw_dataset
            | kw_metric
            | kw_optimize
            | kw_with
            | kw_step
            | kw_in
            | kw_out
            | kw_lm
            | kw_enum
            | kw_feedback
            | EOI
    )
}

/// The meaningful children of a pair (punctuation and keywords dropped).
fn kids(pair: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    pair.into_inner()
        .filter(|p| !is_noise(p.as_rule()))
        .collect()
}

impl Builder {
    /// The pair's span without trailing whitespace and comments (pest
    /// includes them when a rule ends with an optional part that was absent).
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let len = content_len(p.as_str());
        Span {
            start: self.base + s.start(),
            end: self.base + s.start() + len,
            src: self.src_id,
        }
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn qname(&self, p: Pair<'_, Rule>) -> Vec<Ident> {
        p.into_inner().map(|i| self.ident(i)).collect()
    }

    fn file(&mut self, p: Pair<'_, Rule>) -> File {
        let items = kids(p).into_iter().map(|i| self.item(i)).collect();
        File { items }
    }

    fn item(&mut self, p: Pair<'_, Rule>) -> Item {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut k = kids(p).into_iter();
        let name = self.ident(k.next().expect("item name"));
        match rule {
            Rule::plugin_item => {
                let path = self.string(k.next().expect("plugin path"));
                Item::Plugin(PluginItem { name, path, span })
            }
            Rule::model_item | Rule::dataset_item => {
                let entries = self.block(k.next().expect("block"));
                let b = BlockItem {
                    name,
                    entries,
                    span,
                };
                if rule == Rule::model_item {
                    Item::Model(b)
                } else {
                    Item::Dataset(b)
                }
            }
            Rule::signature_item => {
                let body = k.next().expect("signature body");
                let body = if body.as_rule() == Rule::string {
                    let s = self.string(body);
                    let fields = self.sig_line(&s);
                    SignatureBody::Line(s, fields)
                } else {
                    let mut doc = None;
                    let mut fields = Vec::new();
                    for f in kids(body) {
                        if f.as_rule() == Rule::string {
                            doc = Some(self.string(f));
                        } else {
                            fields.push(self.sig_field(f));
                        }
                    }
                    SignatureBody::Block { doc, fields }
                };
                Item::Signature(SignatureItem { name, body, span })
            }
            Rule::program_item => {
                let body = k.next().expect("program body");
                let body = if body.as_rule() == Rule::module_call {
                    ProgramBody::Shorthand(self.module_call(body))
                } else {
                    ProgramBody::Block(
                        kids(body)
                            .into_iter()
                            .map(|e| self.program_entry(e))
                            .collect(),
                    )
                };
                Item::Program(ProgramItem { name, body, span })
            }
            Rule::metric_item => {
                let expr = self.expr(k.next().expect("expr"));
                let feedback = k.next().map(|s| self.string(s));
                Item::Metric(MetricItem {
                    name,
                    expr,
                    feedback,
                    span,
                })
            }
            Rule::optimize_item => {
                let optimizer = self.ident(k.next().expect("optimizer"));
                let entries = self.block(k.next().expect("block"));
                Item::Optimize(OptimizeItem {
                    program: name,
                    optimizer,
                    entries,
                    span,
                })
            }
            other => unreachable!("not an item rule: {other:?}"),
        }
    }

    fn string(&mut self, p: Pair<'_, Rule>) -> Str {
        let span = self.span(&p);
        let inner = p.into_inner().next().expect("string kind");
        let text = inner.as_str();
        let value = if inner.as_rule() == Rule::triple_string {
            lex::dedent(&text[3..text.len() - 3])
        } else {
            match lex::unescape(&text[1..text.len() - 1], span.start + 1, self.src_id) {
                Ok(v) => v,
                Err(d) => {
                    self.diags.push(d);
                    String::new()
                }
            }
        };
        Str { value, span }
    }

    fn block(&mut self, p: Pair<'_, Rule>) -> Vec<Entry> {
        kids(p).into_iter().map(|e| self.entry(e)).collect()
    }

    fn entry(&mut self, p: Pair<'_, Rule>) -> Entry {
        let span = self.span(&p);
        let mut k = kids(p).into_iter();
        let key = self.ident(k.next().expect("key"));
        let v = k.next().expect("entry value");
        let value = if v.as_rule() == Rule::block {
            EntryValue::Block(self.block(v))
        } else {
            EntryValue::Value(self.value(v))
        };
        Entry { key, value, span }
    }

    fn value(&mut self, p: Pair<'_, Rule>) -> Value {
        let span = self.span(&p);
        let inner = p.into_inner().next().expect("value kind");
        let kind = match inner.as_rule() {
            Rule::list => ValueKind::List(kids(inner).into_iter().map(|v| self.value(v)).collect()),
            Rule::call => {
                let mut k = kids(inner).into_iter();
                let name = self.ident(k.next().expect("call name"));
                ValueKind::Call {
                    name,
                    args: k.map(|v| self.value(v)).collect(),
                }
            }
            Rule::duration => ValueKind::Duration(inner.as_str().to_string()),
            Rule::number => ValueKind::Number(inner.as_str().to_string()),
            Rule::boolean => ValueKind::Bool(inner.as_str() == "true"),
            Rule::string => ValueKind::Str(self.string(inner).value),
            Rule::qname => ValueKind::Name(self.qname(inner)),
            other => unreachable!("not a value rule: {other:?}"),
        };
        Value { kind, span }
    }

    fn sig_field(&mut self, p: Pair<'_, Rule>) -> SigField {
        let span = self.span(&p);
        let mut dir = Dir::In;
        let mut name = None;
        let mut ty = None;
        let mut desc = None;
        for k in kids(p) {
            match k.as_rule() {
                Rule::field_dir => {
                    dir = if k.as_str() == "out" {
                        Dir::Out
                    } else {
                        Dir::In
                    };
                }
                Rule::ident => name = Some(self.ident(k)),
                Rule::ty => ty = Some(self.ty(k)),
                Rule::string => desc = Some(self.string(k)),
                _ => {}
            }
        }
        SigField {
            dir,
            name: name.expect("field name"),
            ty,
            desc,
            span,
        }
    }

    fn ty(&mut self, p: Pair<'_, Rule>) -> TypeExpr {
        let inner = p.into_inner().next().expect("type kind");
        let span = self.span(&inner);
        if inner.as_rule() == Rule::enum_ty {
            TypeExpr::Enum {
                labels: kids(inner).into_iter().map(|s| self.string(s)).collect(),
                span,
            }
        } else {
            let mut k = kids(inner).into_iter();
            let name = self.ident(k.next().expect("type name"));
            let arg = k.next().map(|t| Box::new(self.ty(t)));
            TypeExpr::Named { name, arg, span }
        }
    }

    /// Parses the fields of a one-line signature string.
    fn sig_line(&mut self, s: &Str) -> Vec<SigField> {
        // Spans point into the literal: exact when the string has no escapes before the spot.
        let sub = Builder {
            base: s.span.start + 1,
            src_id: self.src_id,
            diags: Vec::new(),
        };
        let pairs = match SimbaParser::parse(Rule::sig_line, &s.value) {
            Ok(p) => p,
            Err(e) => {
                let inner = syntax_error(&e, &s.value, 0, self.src_id);
                let at = (s.span.start + 1 + inner.span.start).min(s.span.end.saturating_sub(1));
                self.diags.push(
                    Diagnostic::error(
                        Span { start: at, end: at + 1, src: self.src_id },
                        format!("invalid one-line signature: {}", inner.message),
                    )
                    .label("here")
                    .help("write it as \"input: type, input -> output: type\" (types default to string)"),
                );
                return Vec::new();
            }
        };
        let mut sub = sub;
        let mut fields = Vec::new();
        let top = pairs.into_iter().next().expect("sig_line");
        let mut dir = Dir::In;
        for part in top.into_inner() {
            match part.as_rule() {
                Rule::arrow => dir = Dir::Out,
                Rule::sig_line_fields => {
                    for f in part.into_inner() {
                        let span = sub.span(&f);
                        let mut k = kids(f).into_iter();
                        let name = sub.ident(k.next().expect("field name"));
                        let ty = k.next().map(|t| sub.ty(t));
                        fields.push(SigField {
                            dir,
                            name,
                            ty,
                            desc: None,
                            span,
                        });
                    }
                }
                _ => {}
            }
        }
        self.diags.append(&mut sub.diags);
        fields
    }

    fn module_call(&mut self, p: Pair<'_, Rule>) -> ModuleCall {
        let span = self.span(&p);
        let mut k = kids(p).into_iter();
        let module = self.qname(k.next().expect("module name"));
        let args = k.map(|v| self.value(v)).collect();
        ModuleCall { module, args, span }
    }

    fn program_entry(&mut self, p: Pair<'_, Rule>) -> ProgramEntry {
        let span = self.span(&p);
        let rule = p.as_rule();
        let k = kids(p);
        match rule {
            Rule::prog_lm => {
                let model = self.ident(k.into_iter().next().expect("model"));
                ProgramEntry::Lm { model, span }
            }
            Rule::prog_in => {
                let mut name = None;
                let mut ty = None;
                let mut desc = None;
                for c in k {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(c)),
                        Rule::ty => ty = Some(self.ty(c)),
                        Rule::string => desc = Some(self.string(c)),
                        _ => {}
                    }
                }
                ProgramEntry::In {
                    name: name.expect("input name"),
                    ty,
                    desc,
                    span,
                }
            }
            Rule::prog_out => {
                let mut k = k.into_iter();
                let name = self.ident(k.next().expect("output name"));
                let source = k.next().map(|q| self.qname(q));
                ProgramEntry::Out { name, source, span }
            }
            Rule::step => {
                let mut k = k.into_iter();
                let name = self.ident(k.next().expect("step name"));
                let call = self.module_call(k.next().expect("module"));
                let bindings = k
                    .next()
                    .map(|b| {
                        kids(b)
                            .into_iter()
                            .map(|bp| {
                                let span = self.span(&bp);
                                let mut bk = kids(bp).into_iter();
                                let field = self.ident(bk.next().expect("field"));
                                let source = self.qname(bk.next().expect("source"));
                                Binding {
                                    field,
                                    source,
                                    span,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ProgramEntry::Step(StepDecl {
                    name,
                    call,
                    bindings,
                    span,
                })
            }
            other => unreachable!("not a program entry: {other:?}"),
        }
    }

    fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        let pairs = p.into_inner();
        let cell = std::cell::RefCell::new(std::mem::take(&mut self.diags));
        let me = &*self;
        let out = PRATT
            .map_primary(|prim| me.primary(prim, &cell))
            .map_prefix(|op, rhs| {
                let u = if op.as_rule() == Rule::op_not {
                    UnOp::Not
                } else {
                    UnOp::Neg
                };
                let span = me.span(&op).to(rhs.span());
                Expr::Unary(u, Box::new(rhs), span)
            })
            .map_infix(|lhs, op, rhs| {
                let b = match op.as_rule() {
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_add => BinOp::Add,
                    Rule::op_sub => BinOp::Sub,
                    Rule::op_mul => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let span = lhs.span().to(rhs.span());
                Expr::Binary(b, Box::new(lhs), Box::new(rhs), span)
            })
            .parse(pairs);
        self.diags = cell.into_inner();
        out
    }

    fn primary(&self, p: Pair<'_, Rule>, diags: &std::cell::RefCell<Vec<Diagnostic>>) -> Expr {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::paren => {
                let inner = kids(p).into_iter().next().expect("paren expr");
                self.sub_expr(inner, diags)
            }
            Rule::call_expr => {
                let mut k = kids(p).into_iter();
                let name = self.ident(k.next().expect("function"));
                let args = k.map(|a| self.sub_expr(a, diags)).collect();
                Expr::Call { name, args, span }
            }
            Rule::number => Expr::Number(p.as_str().to_string(), span),
            Rule::boolean => Expr::Bool(p.as_str() == "true", span),
            Rule::string => {
                let mut b = Builder {
                    base: self.base,
                    src_id: self.src_id,
                    diags: Vec::new(),
                };
                let s = b.string(p);
                diags.borrow_mut().extend(b.diags);
                Expr::Str(s)
            }
            Rule::qname => Expr::Name(self.qname(p), span),
            other => unreachable!("not a primary: {other:?}"),
        }
    }

    fn sub_expr(&self, p: Pair<'_, Rule>, diags: &std::cell::RefCell<Vec<Diagnostic>>) -> Expr {
        let mut b = Builder {
            base: self.base,
            src_id: self.src_id,
            diags: Vec::new(),
        };
        let e = b.expr(p);
        diags.borrow_mut().extend(b.diags);
        e
    }
}
