//! The tree builder: pest pairs -> AST nodes with spans, collecting the
//! errors pest cannot see (bad escapes, ...).

use super::syntax_error::syntax_error;
use super::{Rule, SimbaParser};
use crate::syntax::ast::*;
use crate::syntax::diagnostic::Diagnostic;
use crate::syntax::{lex, nesting};
use pest::Parser as _;
use pest::iterators::Pair;

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

/// The length of `text` (starting at byte `start` of the source) without
/// trailing whitespace and the comments of `comments` (byte ranges in the
/// source, sorted, each ending where its line's text ends). A binary search
/// per comment cut: unlike [`content_len`], the cost does not grow with the
/// length of the pair's last line, which every pair enclosing a long string
/// would otherwise scan again.
fn len_without_comments(text: &str, start: usize, comments: &[(usize, usize)]) -> usize {
    let mut t = text.trim_end();
    loop {
        let end = start + t.len();
        let last = comments.partition_point(|&(s, _)| s < end).checked_sub(1);
        match last.map(|i| comments[i]) {
            Some((s, e)) if s >= start && e == end => t = t[..s - start].trim_end(),
            _ => return t.len(),
        }
    }
}

/// Builds the AST from pest pairs, collecting non-fatal errors (bad escapes, ...).
pub(super) struct Builder {
    /// Offset of the parsed text within the whole source.
    pub base: usize,
    /// The source spans point into.
    pub src_id: u16,
    /// Errors found while building.
    pub diags: Vec<Diagnostic>,
    /// The source's comments as byte ranges (see [`len_without_comments`]),
    /// when the builder parses the whole source; `None` for small texts
    /// (an override value, a one-line signature), scanned instead.
    pub comments: Option<std::sync::Arc<[(usize, usize)]>>,
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
            | kw_corpus
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
pub(super) fn kids(pair: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    pair.into_inner()
        .filter(|p| !is_noise(p.as_rule()))
        .collect()
}

impl Builder {
    /// The pair's span without trailing whitespace and comments (pest
    /// includes them when a rule ends with an optional part that was absent).
    pub(super) fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let len = match &self.comments {
            Some(c) => len_without_comments(p.as_str(), self.base + s.start(), c),
            None => content_len(p.as_str()),
        };
        Span {
            start: self.base + s.start(),
            end: self.base + s.start() + len,
            src: self.src_id,
        }
    }

    pub(super) fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    pub(super) fn qname(&self, p: Pair<'_, Rule>) -> Vec<Ident> {
        p.into_inner().map(|i| self.ident(i)).collect()
    }

    pub fn file(&mut self, p: Pair<'_, Rule>) -> File {
        let items = kids(p).into_iter().map(|i| self.item(i)).collect();
        File { items }
    }

    pub(super) fn item(&mut self, p: Pair<'_, Rule>) -> Item {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut k = kids(p).into_iter();
        let name = self.ident(k.next().expect("item name"));
        match rule {
            Rule::plugin_item => {
                let path = self.string(k.next().expect("plugin path"));
                Item::Plugin(PluginItem { name, path, span })
            }
            Rule::model_item | Rule::dataset_item | Rule::corpus_item => {
                let entries = self.block(k.next().expect("block"));
                let b = BlockItem {
                    name,
                    entries,
                    span,
                };
                match rule {
                    Rule::model_item => Item::Model(b),
                    Rule::dataset_item => Item::Dataset(b),
                    _ => Item::Corpus(b),
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
                let b = k.next().expect("metric body");
                let body = if b.as_rule() == Rule::code_metric {
                    MetricBody::Code(self.code_metric(b))
                } else {
                    MetricBody::Expr(self.expr(b))
                };
                let feedback = k.next().map(|s| self.string(s));
                Item::Metric(MetricItem {
                    name,
                    body,
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

    pub(super) fn string(&mut self, p: Pair<'_, Rule>) -> Str {
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

    fn code_metric(&mut self, p: Pair<'_, Rule>) -> CodeMetric {
        let span = self.span(&p);
        let mut k = kids(p).into_iter();
        let callee = k.next().expect("callee");
        let callee_span = self.span(&callee);
        let inner = callee.into_inner().next().expect("callee kind");
        let callee = if inner.as_rule() == Rule::plugin_qname {
            inner.into_inner().map(|i| self.ident(i)).collect()
        } else {
            vec![Ident {
                name: inner.as_str().to_string(),
                span: callee_span,
            }]
        };
        let mut args = Vec::new();
        let mut config = None;
        for c in k {
            if c.as_rule() == Rule::block {
                config = Some(self.block(c));
            } else {
                args.push(self.value(c));
            }
        }
        CodeMetric {
            callee,
            args,
            config,
            span,
        }
    }

    pub fn value(&mut self, p: Pair<'_, Rule>) -> Value {
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
            Rule::configured => {
                let mut k = kids(inner).into_iter();
                let name = self.qname(k.next().expect("configured name"));
                let config = self.block(k.next().expect("configured block"));
                ValueKind::Configured { name, config }
            }
            Rule::block => ValueKind::Block(self.block(inner)),
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
    #[allow(clippy::result_large_err)] // one error, turned into a diagnostic
    fn sig_line(&mut self, s: &Str) -> Vec<SigField> {
        let fields = nesting::check(&s.value, 0, self.src_id)
            .and_then(|depth| nesting::on_stack_for(depth, || self.sig_line_fields(s)));
        match fields {
            Ok(fields) => fields,
            Err(inner) => {
                let at = (s.span.start + 1 + inner.span.start).min(s.span.end.saturating_sub(1));
                self.diags.push(
                    Diagnostic::error(
                        Span { start: at, end: at + 1, src: self.src_id },
                        format!("invalid one-line signature: {}", inner.message),
                    )
                    .label("here")
                    .help("write it as \"input: type, input -> output: type\" (types default to string)"),
                );
                Vec::new()
            }
        }
    }

    /// The fields of a one-line signature, or its syntax error (spans in
    /// the string's value).
    #[allow(clippy::result_large_err)] // one error, turned into a diagnostic
    fn sig_line_fields(&mut self, s: &Str) -> Result<Vec<SigField>, Diagnostic> {
        let pairs = SimbaParser::parse(Rule::sig_line, &s.value)
            .map_err(|e| syntax_error(&e, &s.value, 0, self.src_id))?;
        // Spans point into the literal: exact when the string has no escapes before the spot.
        let mut sub = Builder {
            base: s.span.start + 1,
            src_id: self.src_id,
            diags: Vec::new(),
            comments: None,
        };
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
        Ok(fields)
    }

    fn module_call(&mut self, p: Pair<'_, Rule>) -> ModuleCall {
        let span = self.span(&p);
        let mut k = kids(p).into_iter();
        let module = self.qname(k.next().expect("module name"));
        let mut args = Vec::new();
        let mut named = Vec::new();
        for a in k {
            if a.as_rule() == Rule::named_arg {
                let span = self.span(&a);
                let mut nk = kids(a).into_iter();
                let name = self.ident(nk.next().expect("argument name"));
                let value = self.value(nk.next().expect("argument value"));
                named.push(NamedArg { name, value, span });
            } else {
                args.push(self.value(a));
            }
        }
        ModuleCall {
            module,
            args,
            named,
            span,
        }
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
                let after = k.next();
                let config = match &after {
                    Some(b) if b.as_rule() == Rule::block => Some(self.block(b.clone())),
                    _ => None,
                };
                let bindings = after
                    .filter(|b| b.as_rule() == Rule::bindings)
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
                    config,
                    span,
                })
            }
            other => unreachable!("not a program entry: {other:?}"),
        }
    }
}
