//! The canonical layout of a spec (`simba-run fmt`), comments kept.
//!
//! The formatter prints the tree, one output line per construct, each line
//! anchored at the source offset of what it prints. Comments are then put
//! back by offset: a comment on its own line goes before the first line
//! anchored after it; a trailing comment goes at the end of the last line
//! anchored before it. Parsing the output gives the same tree.

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::lex::{Comment, quote, triple_quote};
use super::parser::{Parsed, parse};

/// Widest line before a construct is split over several lines.
const WIDTH: usize = 100;

/// Parses and formats `src`.
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    Ok(format_parsed(&parse(src)?, src))
}

struct Line {
    indent: usize,
    text: String,
    /// Source offset of what the line prints.
    anchor: usize,
    blank: bool,
    closing: bool,
}

struct Printer<'s> {
    lines: Vec<Line>,
    comments: Vec<Comment>,
    src: &'s str,
}

impl Printer<'_> {
    /// Keeps one blank line where the source had one between two constructs.
    fn gap(&mut self, prev_end: usize, next_start: usize) {
        if let Some(between) = self.src.get(prev_end..next_start)
            && super::lex::has_blank_line(between)
        {
            self.blank(next_start);
        }
    }
    fn line(&mut self, indent: usize, text: impl Into<String>, anchor: usize) {
        self.lines.push(Line {
            indent,
            text: text.into(),
            anchor,
            blank: false,
            closing: false,
        });
    }
    fn close(&mut self, indent: usize, anchor: usize) {
        self.lines.push(Line {
            indent,
            text: "}".into(),
            anchor,
            blank: false,
            closing: true,
        });
    }
    fn blank(&mut self, anchor: usize) {
        self.lines.push(Line {
            indent: 0,
            text: String::new(),
            anchor,
            blank: true,
            closing: false,
        });
    }
    /// Whether a comment lies inside `span`.
    fn has_comment(&self, span: Span) -> bool {
        self.comments
            .iter()
            .any(|c| c.start > span.start && c.start < span.end)
    }
}

/// Formats a parsed file; `src` is the text it was parsed from.
pub fn format_parsed(parsed: &Parsed, src: &str) -> String {
    let mut p = Printer {
        lines: Vec::new(),
        comments: parsed.comments.clone(),
        src,
    };
    let items = &parsed.file.items;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            let prev = &items[i - 1];
            let compact =
                prev.keyword() == item.keyword() && is_one_line(prev) && is_one_line(item);
            if !compact {
                p.blank(item.span().start);
            }
        }
        print_item(&mut p, item);
    }
    place_comments(p)
}

fn is_one_line(item: &Item) -> bool {
    match item {
        Item::Plugin(_) => true,
        Item::Metric(m) => m.feedback.is_none(),
        Item::Signature(s) => matches!(s.body, SignatureBody::Line(..)),
        Item::Program(p) => matches!(p.body, ProgramBody::Shorthand(_)),
        _ => false,
    }
}

fn place_comments(p: Printer) -> String {
    let Printer {
        mut lines,
        comments,
        ..
    } = p;
    // Trailing comments first: they do not add lines.
    let mut own: Vec<&Comment> = Vec::new();
    for c in &comments {
        if c.trailing {
            let target = lines
                .iter_mut()
                .rev()
                .find(|l| !l.blank && l.anchor <= c.start);
            match target {
                Some(l) => {
                    l.text.push_str("  ");
                    l.text.push_str(&c.text);
                }
                None => own.push(c),
            }
        } else {
            own.push(c);
        }
    }
    let mut out: Vec<Line> = Vec::with_capacity(lines.len() + own.len());
    let mut ci = 0;
    let blank = || Line {
        indent: 0,
        text: String::new(),
        anchor: 0,
        blank: true,
        closing: false,
    };
    for l in lines {
        if !l.blank {
            while ci < own.len() && own[ci].start < l.anchor {
                let c = own[ci];
                if c.blank_before && out.last().is_some_and(|p: &Line| !p.blank) {
                    out.push(blank());
                }
                let indent = if l.closing { l.indent + 2 } else { l.indent };
                out.push(Line {
                    indent,
                    text: c.text.clone(),
                    anchor: c.start,
                    blank: false,
                    closing: false,
                });
                if c.blank_after {
                    out.push(blank());
                }
                ci += 1;
            }
        }
        if l.blank && out.last().is_some_and(|p| p.blank) {
            continue;
        }
        out.push(l);
    }
    let rest: Vec<&Comment> = own[ci..].to_vec();
    if !rest.is_empty() && !out.is_empty() {
        out.push(Line {
            indent: 0,
            text: String::new(),
            anchor: 0,
            blank: true,
            closing: false,
        });
    }
    for c in rest {
        out.push(Line {
            indent: 0,
            text: c.text.clone(),
            anchor: c.start,
            blank: false,
            closing: false,
        });
    }
    let mut s = String::new();
    for l in out {
        if !l.blank {
            s.push_str(&" ".repeat(l.indent));
            s.push_str(&l.text);
        }
        s.push('\n');
    }
    s
}

fn print_item(p: &mut Printer, item: &Item) {
    let at = item.span().start;
    match item {
        Item::Plugin(i) => p.line(
            0,
            format!("plugin {} = {}", i.name.name, string(&i.path.value, 0)),
            at,
        ),
        Item::Model(b) => {
            p.line(0, format!("model {} {{", b.name.name), at);
            entries(p, &b.entries, 2);
            p.close(0, b.span.end.saturating_sub(1));
        }
        Item::Dataset(b) => {
            p.line(0, format!("dataset {} {{", b.name.name), at);
            entries(p, &b.entries, 2);
            p.close(0, b.span.end.saturating_sub(1));
        }
        Item::Corpus(b) => {
            p.line(0, format!("corpus {} {{", b.name.name), at);
            entries(p, &b.entries, 2);
            p.close(0, b.span.end.saturating_sub(1));
        }
        Item::Signature(s) => signature(p, s),
        Item::Program(pr) => program(p, pr),
        Item::Metric(m) => {
            let body = match &m.body {
                MetricBody::Expr(e) => expr(e).0,
                MetricBody::Code(c) => code_metric(c),
            };
            let head = format!("metric {} = {body}", m.name.name);
            match &m.feedback {
                None => p.line(0, head, at),
                Some(f) => {
                    let fb = format!("feedback {}", string(&f.value, 2));
                    if head.len() + 1 + fb.len() <= WIDTH && !fb.contains('\n') {
                        p.line(0, format!("{head} {fb}"), at);
                    } else {
                        p.line(0, head, at);
                        p.line(2, fb, f.span.start);
                    }
                }
            }
        }
        Item::Optimize(o) => {
            p.line(
                0,
                format!("optimize {} with {} {{", o.program.name, o.optimizer.name),
                at,
            );
            entries(p, &o.entries, 2);
            p.close(0, o.span.end.saturating_sub(1));
        }
    }
}

/// A string literal: `"..."`, or `"""..."""` when the text has several lines.
fn string(value: &str, indent: usize) -> String {
    if value.contains('\n')
        && let Some(t) = triple_quote(value, &" ".repeat(indent))
    {
        return t;
    }
    quote(value)
}

fn value(v: &Value, indent: usize) -> String {
    match &v.kind {
        ValueKind::Str(s) => string(s, indent),
        ValueKind::Number(n) | ValueKind::Duration(n) => n.clone(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Name(parts) => dotted(parts),
        ValueKind::List(items) => {
            format!(
                "[{}]",
                items.iter().map(inner_value).collect::<Vec<_>>().join(", ")
            )
        }
        ValueKind::Call { name, args } => {
            format!(
                "{}({})",
                name.name,
                args.iter().map(inner_value).collect::<Vec<_>>().join(", ")
            )
        }
        ValueKind::Configured { name, config } => {
            format!("{} {}", dotted(name), config_inline(config))
        }
        ValueKind::Block(entries) => config_inline(entries),
    }
}

/// A plugin item's config on one line: `{ a = 1, b { c = 2 } }`.
fn config_inline(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "{}".into();
    }
    let parts: Vec<String> = entries
        .iter()
        .map(|e| match &e.value {
            EntryValue::Value(v) => format!("{} = {}", e.key.name, inner_value(v)),
            EntryValue::Block(inner) => format!("{} {}", e.key.name, config_inline(inner)),
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// A code metric: `plugin.item(pred, gold) { .. }` or `command("..")`.
fn code_metric(c: &CodeMetric) -> String {
    let args: Vec<String> = c.args.iter().map(inner_value).collect();
    let mut out = format!("{}({})", dotted(&c.callee), args.join(", "));
    if let Some(config) = &c.config {
        out.push(' ');
        out.push_str(&config_inline(config));
    }
    out
}

/// A value inside a list or call: always on one line.
fn inner_value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Str(s) => quote(s),
        _ => value(v, 0),
    }
}

/// Splits entries into runs separated by blank lines in the source; `=` signs align within a run.
fn runs(src: &str, spans: &[Span]) -> Vec<usize> {
    let mut run = 0;
    let mut out = Vec::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        if i > 0
            && let Some(between) = src.get(spans[i - 1].end..s.start)
            && super::lex::has_blank_line(between)
        {
            run += 1;
        }
        out.push(run);
    }
    out
}

fn entries(p: &mut Printer, list: &[Entry], indent: usize) {
    let spans: Vec<Span> = list.iter().map(|e| e.span).collect();
    let run_of = runs(p.src, &spans);
    let width_of = |run: usize| {
        list.iter()
            .zip(&run_of)
            .filter(|(e, r)| **r == run && matches!(e.value, EntryValue::Value(_)))
            .map(|(e, _)| e.key.name.len())
            .max()
            .unwrap_or(0)
    };
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            p.gap(list[i - 1].span.end, e.span.start);
        }
        match &e.value {
            EntryValue::Value(v) => {
                let width = width_of(run_of[i]);
                p.line(
                    indent,
                    format!("{:<width$} = {}", e.key.name, value(v, indent)),
                    e.span.start,
                );
            }
            EntryValue::Block(inner) => {
                let inline = inline_block(inner);
                match inline {
                    Some(text)
                        if indent + e.key.name.len() + 1 + text.len() <= 80
                            && !p.has_comment(e.span) =>
                    {
                        p.line(indent, format!("{} {text}", e.key.name), e.span.start);
                    }
                    _ => {
                        p.line(indent, format!("{} {{", e.key.name), e.span.start);
                        entries(p, inner, indent + 2);
                        p.close(indent, e.span.end.saturating_sub(1));
                    }
                }
            }
        }
    }
}

/// `{ a = 1, b = 2 }` for a small block of plain values.
fn inline_block(inner: &[Entry]) -> Option<String> {
    if inner.is_empty() {
        return Some("{}".into());
    }
    if inner.len() > 4 {
        return None;
    }
    let mut parts = Vec::new();
    for e in inner {
        let EntryValue::Value(v) = &e.value else {
            return None;
        };
        let text = value(v, 0);
        if text.contains('\n') {
            return None;
        }
        parts.push(format!("{} = {text}", e.key.name));
    }
    Some(format!("{{ {} }}", parts.join(", ")))
}

fn type_text(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named {
            name, arg: None, ..
        } => name.name.clone(),
        TypeExpr::Named {
            name, arg: Some(a), ..
        } => format!("{}<{}>", name.name, type_text(a)),
        TypeExpr::Enum { labels, .. } => {
            format!(
                "enum({})",
                labels
                    .iter()
                    .map(|l| quote(&l.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn signature(p: &mut Printer, s: &SignatureItem) {
    let at = s.span.start;
    match &s.body {
        SignatureBody::Line(text, _) => p.line(
            0,
            format!("signature {} = {}", s.name.name, quote(&text.value)),
            at,
        ),
        SignatureBody::Block { doc, fields } => {
            p.line(0, format!("signature {} {{", s.name.name), at);
            if let Some(d) = doc {
                let text = triple_quote(&d.value, "  ").unwrap_or_else(|| quote(&d.value));
                p.line(2, text, d.span.start);
            }
            let name_w = fields
                .iter()
                .map(|f| f.name.name.len() + usize::from(f.ty.is_some()))
                .max()
                .unwrap_or(0);
            let ty_w = fields
                .iter()
                .filter(|f| f.desc.is_some())
                .map(|f| f.ty.as_ref().map_or(0, |t| type_text(t).len()))
                .max()
                .unwrap_or(0);
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    p.gap(fields[i - 1].span.end, f.span.start);
                }
                let dir = if f.dir == Dir::In { "in " } else { "out" };
                let name = if f.ty.is_some() {
                    format!("{}:", f.name.name)
                } else {
                    f.name.name.clone()
                };
                let mut line = format!("{dir} {name:<name_w$}");
                if let Some(t) = &f.ty {
                    line.push(' ');
                    line.push_str(&format!("{:<ty_w$}", type_text(t)));
                }
                if let Some(d) = &f.desc {
                    if f.ty.is_none() && ty_w > 0 {
                        line.push_str(&" ".repeat(ty_w + 1));
                    }
                    line.push(' ');
                    line.push_str(&string(&d.value, 2));
                }
                p.line(2, line.trim_end().to_string(), f.span.start);
            }
            p.close(0, s.span.end.saturating_sub(1));
        }
    }
}

fn module_call(c: &ModuleCall) -> String {
    let positional = c.args.iter().map(|a| value(a, 0));
    let named = c
        .named
        .iter()
        .map(|n| format!("{} = {}", n.name.name, value(&n.value, 0)));
    format!(
        "{}({})",
        dotted(&c.module),
        positional.chain(named).collect::<Vec<_>>().join(", ")
    )
}

fn program(p: &mut Printer, pr: &ProgramItem) {
    let at = pr.span.start;
    match &pr.body {
        ProgramBody::Shorthand(c) => p.line(
            0,
            format!("program {} = {}", pr.name.name, module_call(c)),
            at,
        ),
        ProgramBody::Block(list) => {
            p.line(0, format!("program {} {{", pr.name.name), at);
            for (i, e) in list.iter().enumerate() {
                if i > 0 {
                    p.gap(list[i - 1].span().end, e.span().start);
                }
                match e {
                    ProgramEntry::Lm { model, span } => {
                        p.line(2, format!("lm = {}", model.name), span.start)
                    }
                    ProgramEntry::In {
                        name,
                        ty,
                        desc,
                        span,
                    } => {
                        let mut line = format!("in {}", name.name);
                        if let Some(t) = ty {
                            line = format!("in {}: {}", name.name, type_text(t));
                        }
                        if let Some(d) = desc {
                            line.push(' ');
                            line.push_str(&string(&d.value, 2));
                        }
                        p.line(2, line, span.start);
                    }
                    ProgramEntry::Out { name, source, span } => {
                        let line = match source {
                            Some(s) => format!("out {} = {}", name.name, dotted(s)),
                            None => format!("out {}", name.name),
                        };
                        p.line(2, line, span.start);
                    }
                    ProgramEntry::Step(s) => {
                        let mut head = format!("step {} = {}", s.name.name, module_call(&s.call));
                        if let Some(config) = &s.config {
                            head.push(' ');
                            head.push_str(&config_inline(config));
                        }
                        if s.bindings.is_empty() {
                            p.line(2, head, s.span.start);
                            continue;
                        }
                        let binds: Vec<String> = s
                            .bindings
                            .iter()
                            .map(|b| format!("{} = {}", b.field.name, dotted(&b.source)))
                            .collect();
                        let one = format!("{head} {{ {} }}", binds.join(", "));
                        if 2 + one.len() <= WIDTH && !p.has_comment(s.span) {
                            p.line(2, one, s.span.start);
                        } else {
                            p.line(2, format!("{head} {{"), s.span.start);
                            for (b, text) in s.bindings.iter().zip(binds) {
                                p.line(4, text, b.span.start);
                            }
                            p.close(2, s.span.end.saturating_sub(1));
                        }
                    }
                }
            }
            p.close(0, pr.span.end.saturating_sub(1));
        }
    }
}

/// Precedence levels for printing: higher binds tighter.
const P_OR: u8 = 1;
const P_AND: u8 = 2;
const P_NOT: u8 = 3;
const P_CMP: u8 = 4;
const P_ADD: u8 = 5;
const P_MUL: u8 = 6;
const P_NEG: u8 = 7;
const P_ATOM: u8 = 8;

fn bin_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Or => P_OR,
        BinOp::And => P_AND,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => P_CMP,
        BinOp::Add | BinOp::Sub => P_ADD,
        BinOp::Mul | BinOp::Div => P_MUL,
    }
}

fn paren(text: String, needs: bool) -> String {
    if needs { format!("({text})") } else { text }
}

/// An expression with as few parentheses as its tree needs, and its precedence.
fn expr(e: &Expr) -> (String, u8) {
    match e {
        Expr::Number(n, _) => (n.clone(), P_ATOM),
        Expr::Str(s) => (quote(&s.value), P_ATOM),
        Expr::Bool(b, _) => (b.to_string(), P_ATOM),
        Expr::Name(parts, _) => (dotted(parts), P_ATOM),
        Expr::Call { name, args, .. } => (
            format!(
                "{}({})",
                name.name,
                args.iter()
                    .map(|a| expr(a).0)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            P_ATOM,
        ),
        Expr::Unary(UnOp::Not, inner, _) => {
            let (t, pr) = expr(inner);
            (format!("not {}", paren(t, pr < P_NOT)), P_NOT)
        }
        Expr::Unary(UnOp::Neg, inner, _) => {
            let (t, pr) = expr(inner);
            (format!("-{}", paren(t, pr < P_NEG)), P_NEG)
        }
        Expr::Binary(op, l, r, _) => {
            let p = bin_prec(*op);
            let (lt, lp) = expr(l);
            let (rt, rp) = expr(r);
            (
                format!(
                    "{} {} {}",
                    paren(lt, lp < p),
                    op.symbol(),
                    paren(rt, rp <= p)
                ),
                p,
            )
        }
    }
}
