//! Metric expressions: the flat `prefix* primary (infix prefix* primary)*`
//! sequence pest gives, folded into a tree by precedence with explicit
//! stacks (operator precedence parsing, no recursion per operator), measuring
//! each node's depth as it is made. A tree deeper than `nesting::MAX_DEPTH`
//! is reported at the operator or call that goes one level too far, before
//! anything could recurse through it.
//!
//! Parentheses make no node, so they are not a level here (the text scan of
//! `nesting.rs` already bounds them as brackets). This keeps `fmt` safe: it
//! adds the parentheses precedence needs (`a * (not b)`), which would
//! otherwise turn a spec at the limit into one past it.
//!
//! Precedence, loosest first (all infix operators associate to the left):
//! `or`, `and`, prefix `not`, comparisons, `+ -`, `* /`, prefix `-`.

use super::Rule;
use super::build::{Builder, kids};
use crate::syntax::ast::{BinOp, Expr, Span, UnOp};
use crate::syntax::diagnostic::Diagnostic;
use crate::syntax::nesting::MAX_DEPTH;
use pest::iterators::Pair;

/// A finished subtree and how many levels it nests (a literal or name is 0).
struct Operand {
    expr: Expr,
    depth: usize,
}

/// An operator waiting for its right operand.
#[derive(Clone, Copy)]
struct Pending {
    op: Op,
    /// The operator's own text.
    span: Span,
}

#[derive(Clone, Copy)]
enum Op {
    Prefix(UnOp),
    Infix(BinOp),
}

impl Op {
    /// Binding strength: an operator takes as its right operand everything
    /// up to the next operator that binds no tighter than itself.
    fn precedence(self) -> u8 {
        match self {
            Op::Infix(BinOp::Or) => 1,
            Op::Infix(BinOp::And) => 2,
            Op::Prefix(UnOp::Not) => 3,
            Op::Infix(BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge) => 4,
            Op::Infix(BinOp::Add | BinOp::Sub) => 5,
            Op::Infix(BinOp::Mul | BinOp::Div) => 6,
            Op::Prefix(UnOp::Neg) => 7,
        }
    }
}

/// The operator a pair stands for, if it is one.
fn operator(rule: Rule) -> Option<Op> {
    Some(match rule {
        Rule::op_neg => Op::Prefix(UnOp::Neg),
        Rule::op_not => Op::Prefix(UnOp::Not),
        Rule::op_or => Op::Infix(BinOp::Or),
        Rule::op_and => Op::Infix(BinOp::And),
        Rule::op_eq => Op::Infix(BinOp::Eq),
        Rule::op_ne => Op::Infix(BinOp::Ne),
        Rule::op_lt => Op::Infix(BinOp::Lt),
        Rule::op_le => Op::Infix(BinOp::Le),
        Rule::op_gt => Op::Infix(BinOp::Gt),
        Rule::op_ge => Op::Infix(BinOp::Ge),
        Rule::op_add => Op::Infix(BinOp::Add),
        Rule::op_sub => Op::Infix(BinOp::Sub),
        Rule::op_mul => Op::Infix(BinOp::Mul),
        Rule::op_div => Op::Infix(BinOp::Div),
        _ => return None,
    })
}

/// One level more than `depth`, or the error for going past the limit at `at`.
fn deeper(depth: usize, at: Span) -> Result<usize, Box<Diagnostic>> {
    if depth < MAX_DEPTH {
        return Ok(depth + 1);
    }
    let d = Diagnostic::error(
        at,
        format!("expression nests deeper than {MAX_DEPTH} levels"),
    )
    .label(format!("level {} starts here", MAX_DEPTH + 1))
    .help(format!(
        "every operator and call is a level (a chain `a + b + c` is two); a metric \
             expression nests at most {MAX_DEPTH} levels deep"
    ));
    Err(Box::new(d))
}

impl Builder {
    /// An `expr` pair as a tree. When it nests too deep, the error is
    /// recorded and a placeholder returned (the parse fails anyway).
    pub(super) fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        let whole = self.span(&p);
        match self.expr_depth(p) {
            Ok(e) => e.expr,
            Err(d) => {
                self.diags.push(*d);
                Expr::Bool(false, whole)
            }
        }
    }

    fn expr_depth(&mut self, p: Pair<'_, Rule>) -> Result<Operand, Box<Diagnostic>> {
        let mut operands: Vec<Operand> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        for pair in p.into_inner() {
            let Some(op) = operator(pair.as_rule()) else {
                operands.push(self.primary(pair)?);
                continue;
            };
            let span = self.span(&pair);
            if let Op::Infix(_) = op {
                // Left associative: equal strength finishes the left side first.
                while pending
                    .last()
                    .is_some_and(|top| top.op.precedence() >= op.precedence())
                {
                    reduce(&mut operands, &mut pending)?;
                }
            }
            // Each waiting operator will hold the next in its right operand:
            // a stack this high is already that many levels (and stopping
            // here reports a run of prefixes at its 257th, from the left).
            deeper(pending.len(), span)?;
            pending.push(Pending { op, span });
        }
        while !pending.is_empty() {
            reduce(&mut operands, &mut pending)?;
        }
        Ok(operands.pop().expect("an expression has an operand"))
    }

    fn primary(&mut self, p: Pair<'_, Rule>) -> Result<Operand, Box<Diagnostic>> {
        let span = self.span(&p);
        let leaf = |expr| Ok(Operand { expr, depth: 0 });
        match p.as_rule() {
            // No node, no level (see the module docs).
            Rule::paren => self.expr_depth(kids(p).into_iter().next().expect("paren expr")),
            Rule::call_expr => {
                let mut k = kids(p).into_iter();
                let name = self.ident(k.next().expect("function"));
                let mut args = Vec::new();
                let mut depth = 0;
                for a in k {
                    let arg = self.expr_depth(a)?;
                    depth = depth.max(arg.depth);
                    args.push(arg.expr);
                }
                let depth = deeper(depth, name.span)?;
                Ok(Operand {
                    expr: Expr::Call { name, args, span },
                    depth,
                })
            }
            Rule::number => leaf(Expr::Number(p.as_str().to_string(), span)),
            Rule::boolean => leaf(Expr::Bool(p.as_str() == "true", span)),
            Rule::string => leaf(Expr::Str(self.string(p))),
            Rule::qname => leaf(Expr::Name(self.qname(p), span)),
            other => unreachable!("not a primary: {other:?}"),
        }
    }
}

/// Applies the top pending operator to the operand(s) on top of the stack.
fn reduce(operands: &mut Vec<Operand>, pending: &mut Vec<Pending>) -> Result<(), Box<Diagnostic>> {
    let Pending { op, span: at } = pending.pop().expect("an operator is pending");
    let rhs = operands.pop().expect("an operator has a right operand");
    let node = match op {
        Op::Prefix(u) => {
            let depth = deeper(rhs.depth, at)?;
            let span = at.to(rhs.expr.span());
            Operand {
                expr: Expr::Unary(u, Box::new(rhs.expr), span),
                depth,
            }
        }
        Op::Infix(b) => {
            let lhs = operands
                .pop()
                .expect("an infix operator has a left operand");
            let depth = deeper(lhs.depth.max(rhs.depth), at)?;
            let span = lhs.expr.span().to(rhs.expr.span());
            Operand {
                expr: Expr::Binary(b, Box::new(lhs.expr), Box::new(rhs.expr), span),
                depth,
            }
        }
    };
    operands.push(node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::syntax::ast::{Expr, Item, MetricBody, MetricItem};
    use crate::syntax::nesting::MAX_DEPTH;

    /// The metric's expression written back with every node parenthesised.
    fn shape(src: &str) -> String {
        fn show(e: &Expr) -> String {
            match e {
                Expr::Number(t, _) => t.clone(),
                Expr::Bool(b, _) => b.to_string(),
                Expr::Str(s) => format!("{:?}", s.value),
                Expr::Name(p, _) => crate::syntax::ast::dotted(p),
                Expr::Unary(op, x, _) => format!("({op:?} {})", show(x)),
                Expr::Binary(op, l, r, _) => format!("({} {op:?} {})", show(l), show(r)),
                Expr::Call { name, args, .. } => {
                    let args: Vec<String> = args.iter().map(show).collect();
                    format!("{}({})", name.name, args.join(", "))
                }
            }
        }
        let parsed = crate::syntax::parse(&format!("metric m = {src}")).expect(src);
        match &parsed.file.items[0] {
            Item::Metric(MetricItem {
                body: MetricBody::Expr(e),
                ..
            }) => show(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_and_associativity() {
        let cases = [
            ("a.x + b.x * c.x - 1", "((a.x Add (b.x Mul c.x)) Sub 1)"),
            ("1 - 2 - 3", "((1 Sub 2) Sub 3)"),
            ("not a.x == b.x and c.x", "((Not (a.x Eq b.x)) And c.x)"),
            ("a.x == not b.x == c.x", "(a.x Eq (Not (b.x Eq c.x)))"),
            ("a.x * not b.x + c.x", "(a.x Mul (Not (b.x Add c.x)))"),
            ("- not a.x and b.x", "((Neg (Not a.x)) And b.x)"),
            ("not - a.x * b.x", "(Not ((Neg a.x) Mul b.x))"),
            ("-a.x * -b.x", "((Neg a.x) Mul (Neg b.x))"),
            ("a.x or b.x and c.x", "(a.x Or (b.x And c.x))"),
            (
                "(1 + 2) * min(3, 4 / 5)",
                "((1 Add 2) Mul min(3, (4 Div 5)))",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(shape(src), want, "{src}");
        }
    }

    #[test]
    fn spans_cover_operators_and_operands() {
        let src = "metric m = not pred.a + 1";
        let parsed = crate::syntax::parse(src).unwrap();
        let Item::Metric(m) = &parsed.file.items[0] else {
            panic!()
        };
        let MetricBody::Expr(Expr::Unary(_, inner, span)) = &m.body else {
            panic!("{:?}", m.body)
        };
        assert_eq!(&src[span.start..span.end], "not pred.a + 1");
        assert_eq!(&src[inner.span().start..inner.span().end], "pred.a + 1");
    }

    /// The error message of parsing `metric m = {expr}`, if it fails.
    fn error(expr: &str) -> Option<(String, usize)> {
        crate::syntax::parse(&format!("metric m = {expr}"))
            .err()
            .map(|d| (d[0].message.clone(), d[0].span.start - "metric m = ".len()))
    }

    #[test]
    fn chains_count_one_level_per_operator() {
        let chain = |n: usize| format!("1{}", " + 1".repeat(n));
        assert_eq!(error(&chain(MAX_DEPTH)), None);
        let (msg, at) = error(&chain(MAX_DEPTH + 1)).unwrap();
        assert_eq!(msg, "expression nests deeper than 256 levels");
        // At the operator that makes level 257.
        assert_eq!(at, 1 + MAX_DEPTH * 4 + 1);
    }

    #[test]
    fn prefixes_and_calls_count_too() {
        let prefixes = |n: usize| format!("{}1", "not ".repeat(n));
        assert_eq!(error(&prefixes(MAX_DEPTH)), None);
        assert!(error(&prefixes(MAX_DEPTH + 1)).is_some());
        assert!(error(&format!("{}1", "-".repeat(MAX_DEPTH + 1))).is_some());
        let calls = |n: usize| format!("{}1{}", "min(".repeat(n), ")".repeat(n));
        assert_eq!(error(&calls(MAX_DEPTH)), None);
        // Level 257 of calls is also bracket 257: the text scan reports it.
        let (msg, _) = error(&calls(MAX_DEPTH + 1)).unwrap();
        assert_eq!(msg, "brackets nest deeper than 256 levels");
        // Parentheses are no level of the expression, only brackets.
        let wrapped = |n: usize| format!("{}1 + 1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(error(&wrapped(MAX_DEPTH)), None);
        let (msg, _) = error(&wrapped(MAX_DEPTH + 1)).unwrap();
        assert_eq!(msg, "brackets nest deeper than 256 levels");
        // Calls and operators add up.
        let mixed = format!("{}1 + 1{}", "min(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        let (msg, _) = error(&mixed).unwrap();
        assert_eq!(msg, "expression nests deeper than 256 levels");
    }

    #[test]
    fn the_parentheses_fmt_adds_keep_a_spec_at_the_limit_legal() {
        // `not` binds looser than `*`: each pair is two levels, and fmt
        // writes it `a * (not a * (not ...))`.
        let src = format!(
            "metric m = pred.x{}\n",
            " * not pred.x".repeat(MAX_DEPTH / 2)
        );
        let formatted = crate::syntax::format::format_source(&src).unwrap();
        assert!(
            formatted.contains("pred.x * (not pred.x * (not"),
            "{formatted}"
        );
        let again = crate::syntax::parse(&formatted).expect("formatted text parses");
        assert_eq!(
            again.file.items[0],
            crate::syntax::parse(&src).unwrap().file.items[0]
        );
        let (msg, _) = error(&format!(
            "pred.x{} * 1",
            " * not pred.x".repeat(MAX_DEPTH / 2)
        ))
        .unwrap();
        assert_eq!(msg, "expression nests deeper than 256 levels");
    }
}
