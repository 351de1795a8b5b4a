use super::*;
use crate::ir::{BinaryOp, Builtin, MetricDecl, MetricExpr, Side, TemplatePart, UnaryOp};
use crate::lm::{Lm, LmError, Request, Response, ResponseFormat, Usage};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Mutex;

/// A judge model whose replies are scripted per response format.
struct ScriptedLm {
    chat: String,
    json: String,
    requests: Mutex<Vec<Request>>,
    fail: bool,
}

#[async_trait]
impl Lm for ScriptedLm {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.requests.lock().unwrap().push(request.clone());
        if self.fail {
            return Err(LmError::Fatal {
                model: request.model.clone(),
                message: "HTTP 401".into(),
            });
        }
        let text = match request.response_format {
            ResponseFormat::Text => self.chat.clone(),
            ResponseFormat::JsonObject => self.json.clone(),
        };
        Ok(Response {
            text,
            usage: Usage::default(),
            cached: false,
        })
    }
}

struct Models(Option<Arc<ScriptedLm>>);

impl crate::lm::ModelSet for Models {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        (name == "grader").then(|| self.0.clone().map(|l| l as Arc<dyn Lm>))?
    }
    fn template(&self, name: &str) -> Option<Request> {
        (name == "grader" && self.0.is_some()).then(|| Request {
            model: name.into(),
            messages: vec![],
            temperature: 0.0,
            max_tokens: None,
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: Default::default(),
        })
    }
}

fn no_models() -> Arc<dyn crate::lm::ModelSet> {
    Arc::new(Models(None))
}

fn pred(f: &str) -> MetricExpr {
    MetricExpr::Ref(Side::Pred, f.into())
}
fn gold(f: &str) -> MetricExpr {
    MetricExpr::Ref(Side::Gold, f.into())
}
fn num(n: f64) -> MetricExpr {
    MetricExpr::Number(n)
}
fn call(b: Builtin, args: Vec<MetricExpr>) -> MetricExpr {
    MetricExpr::Call(b, args)
}
fn bin(op: BinaryOp, a: MetricExpr, b: MetricExpr) -> MetricExpr {
    MetricExpr::Binary(op, Box::new(a), Box::new(b))
}

fn example(pairs: &[(&str, Value)]) -> Example {
    Example {
        fields: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        input_keys: vec!["question".into()],
    }
}
fn record(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn metric(expr: MetricExpr, feedback: Option<Vec<TemplatePart>>) -> MetricFn {
    MetricFn::new(
        MetricDecl {
            name: "m".into(),
            expr,
            feedback,
        },
        no_models(),
    )
}

async fn value(expr: MetricExpr, p: &[(&str, Value)], g: &[(&str, Value)]) -> f64 {
    let s = metric(expr, None)
        .score(&example(g), Some(&record(p)))
        .await;
    assert_eq!(s.feedback, None, "unexpected error: {:?}", s.feedback);
    s.value
}

#[tokio::test]
async fn weighted_f1_plus_contains() {
    // 0.7 * f1 + 0.3 * contains, with f1("New York City", "new york") = 0.8
    // and contains = 1 -> 0.56 + 0.3 = 0.86.
    let e = bin(
        BinaryOp::Add,
        bin(
            BinaryOp::Mul,
            num(0.7),
            call(Builtin::F1, vec![pred("a"), gold("a")]),
        ),
        bin(
            BinaryOp::Mul,
            num(0.3),
            call(Builtin::Contains, vec![pred("a"), gold("a")]),
        ),
    );
    let v = value(
        e,
        &[("a", json!("New York City"))],
        &[("a", json!("new york"))],
    )
    .await;
    assert!((v - 0.86).abs() < 1e-12, "{v}");
}

#[tokio::test]
async fn exact_match_compares_string_forms_of_numbers_and_lists() {
    let em = || call(Builtin::ExactMatch, vec![pred("a"), gold("a")]);
    assert_eq!(
        value(em(), &[("a", json!("42"))], &[("a", json!(42))]).await,
        1.0
    );
    assert_eq!(
        value(em(), &[("a", json!(42.0))], &[("a", json!("42"))]).await,
        1.0
    );
    assert_eq!(
        value(em(), &[("a", json!(["x", "y"]))], &[("a", json!("x y"))]).await,
        1.0
    );
    assert_eq!(
        value(em(), &[], &[("a", json!(""))]).await,
        1.0,
        "missing is empty"
    );
    assert_eq!(
        value(
            em(),
            &[("a", json!("The Paris"))],
            &[("a", json!("paris."))]
        )
        .await,
        1.0
    );
    assert_eq!(
        value(em(), &[("a", json!("Lyon"))], &[("a", json!("Paris"))]).await,
        0.0
    );
}

#[tokio::test]
async fn regex_and_number_close() {
    let re = call(
        Builtin::RegexMatch,
        vec![pred("a"), MetricExpr::Str(r"^\d{4}$".into())],
    );
    assert_eq!(value(re.clone(), &[("a", json!("1969"))], &[]).await, 1.0);
    assert_eq!(value(re, &[("a", json!("in 1969"))], &[]).await, 0.0);

    let close = || call(Builtin::NumberClose, vec![pred("a"), gold("a"), num(0.5)]);
    assert_eq!(
        value(close(), &[("a", json!("3.4"))], &[("a", json!(3))]).await,
        1.0
    );
    assert_eq!(
        value(close(), &[("a", json!(" 1,234 "))], &[("a", json!(1234.4))]).await,
        1.0
    );
    assert_eq!(
        value(close(), &[("a", json!("3.6"))], &[("a", json!(3))]).await,
        0.0
    );
    assert_eq!(
        value(close(), &[("a", json!("three"))], &[("a", json!(3))]).await,
        0.0
    );
    assert_eq!(
        value(close(), &[("a", json!("3,4"))], &[("a", json!(34))]).await,
        0.0
    );
}

#[tokio::test]
async fn min_max_precedence_and_booleans() {
    // min(1, 0.25, 3) - -max(0.5, 0.1) = 0.25 + 0.5
    let e = bin(
        BinaryOp::Sub,
        call(Builtin::Min, vec![num(1.0), num(0.25), num(3.0)]),
        MetricExpr::Unary(
            UnaryOp::Neg,
            Box::new(call(Builtin::Max, vec![num(0.5), num(0.1)])),
        ),
    );
    assert_eq!(value(e, &[], &[]).await, 0.75);
    // (2 + 3 * 4 == 14) and not (1 > 2): the tree the parser builds for precedence.
    let e = bin(
        BinaryOp::And,
        bin(
            BinaryOp::Eq,
            bin(
                BinaryOp::Add,
                num(2.0),
                bin(BinaryOp::Mul, num(3.0), num(4.0)),
            ),
            num(14.0),
        ),
        MetricExpr::Unary(
            UnaryOp::Not,
            Box::new(bin(BinaryOp::Gt, num(1.0), num(2.0))),
        ),
    );
    assert_eq!(value(e, &[], &[]).await, 1.0);
    let e = bin(
        BinaryOp::Or,
        MetricExpr::Bool(false),
        bin(BinaryOp::Le, num(3.0), num(2.0)),
    );
    assert_eq!(value(e, &[], &[]).await, 0.0);
    // "5" == 5 numerically; "a" != "b".
    let e = bin(BinaryOp::Eq, pred("n"), num(5.0));
    assert_eq!(value(e, &[("n", json!("5.0"))], &[]).await, 1.0);
    let e = bin(BinaryOp::Ne, pred("a"), gold("a"));
    assert_eq!(
        value(e, &[("a", json!("a"))], &[("a", json!("b"))]).await,
        1.0
    );
}

#[tokio::test]
async fn errors_score_zero_with_feedback() {
    let m = metric(bin(BinaryOp::Div, num(1.0), pred("n")), None);
    let s = m
        .score(&example(&[]), Some(&record(&[("n", json!(0))])))
        .await;
    assert_eq!(s.value, 0.0);
    assert_eq!(
        s.feedback.as_deref(),
        Some("metric `m` could not be computed: division by zero")
    );
    let m = metric(bin(BinaryOp::Add, pred("a"), num(1.0)), None);
    let s = m
        .score(&example(&[]), Some(&record(&[("a", json!("abc"))])))
        .await;
    assert_eq!(
        s.feedback.as_deref(),
        Some("metric `m` could not be computed: `+`: abc is not a number")
    );
    let m = metric(
        call(
            Builtin::RegexMatch,
            vec![pred("a"), MetricExpr::Str("(".into())],
        ),
        None,
    );
    let s = m.score(&example(&[]), Some(&record(&[]))).await;
    assert!(s.feedback.unwrap().contains("bad regex \"(\""));
}

#[tokio::test]
async fn try_score_tells_a_failure_from_a_low_score() {
    let m = metric(bin(BinaryOp::Div, num(1.0), pred("n")), None);
    let err = m
        .try_score(&example(&[]), &record(&[("n", json!(0))]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        MetricError {
            metric: "m".into(),
            reason: "division by zero".into()
        }
    );
    // The folded score carries the same text as its feedback.
    assert_eq!(
        err.to_score().feedback.as_deref(),
        Some("metric `m` could not be computed: division by zero")
    );
    let low = m
        .try_score(&example(&[]), &record(&[("n", json!(4))]))
        .await
        .unwrap();
    assert_eq!(low.value, 0.25);
}

#[tokio::test]
async fn no_prediction_scores_zero() {
    let m = metric(num(1.0), None);
    let s = m.score(&example(&[]), None).await;
    assert_eq!(s.value, 0.0);
    assert!(s.feedback.unwrap().contains("program failed"));
}

#[tokio::test]
async fn feedback_template_is_interpolated() {
    let m = metric(
        call(Builtin::ExactMatch, vec![pred("label"), gold("label")]),
        Some(vec![
            TemplatePart::Text("expected ".into()),
            TemplatePart::Ref(Side::Gold, "label".into()),
            TemplatePart::Text(", got ".into()),
            TemplatePart::Ref(Side::Pred, "label".into()),
        ]),
    );
    let s = m
        .score(
            &example(&[("label", json!("positive"))]),
            Some(&record(&[("label", json!("neutral"))])),
        )
        .await;
    assert_eq!(s.value, 0.0);
    assert_eq!(
        s.feedback.as_deref(),
        Some("expected positive, got neutral")
    );
}

fn judged(lm: ScriptedLm) -> (MetricFn, Arc<ScriptedLm>) {
    let lm = Arc::new(lm);
    let m = MetricFn::new(
        MetricDecl {
            name: "j".into(),
            expr: MetricExpr::Judge {
                model: "grader".into(),
                question: "Is the predicted answer correct?".into(),
                args: vec![pred("answer"), gold("answer")],
            },
            feedback: None,
        },
        Arc::new(Models(Some(lm.clone()))),
    );
    (m, lm)
}

fn scripted(chat: &str, json: &str, fail: bool) -> ScriptedLm {
    ScriptedLm {
        chat: chat.into(),
        json: json.into(),
        requests: Mutex::new(vec![]),
        fail,
    }
}

#[tokio::test]
async fn judge_asks_the_model_and_clamps() {
    let (m, lm) = judged(scripted(
        "[[ ## score ## ]]\n0.8\n\n[[ ## completed ## ]]",
        "",
        false,
    ));
    let ex = example(&[("answer", json!("Paris"))]);
    let s = m
        .score(&ex, Some(&record(&[("answer", json!("paris, France"))])))
        .await;
    assert_eq!(
        s,
        Score {
            value: 0.8,
            feedback: None
        }
    );
    let reqs = lm.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let prompt: String = reqs[0].messages.iter().map(|m| m.content.clone()).collect();
    assert!(prompt.contains("Is the predicted answer correct?"));
    assert!(prompt.contains("value_1") && prompt.contains("paris, France"));
    assert!(prompt.contains("value_2") && prompt.contains("Paris"));

    let (m, _) = judged(scripted(
        "[[ ## score ## ]]\n7\n\n[[ ## completed ## ]]",
        "",
        false,
    ));
    assert_eq!(m.score(&ex, Some(&record(&[]))).await.value, 1.0);
    let (m, _) = judged(scripted("nonsense", "{\"score\": -2}", false));
    assert_eq!(m.score(&ex, Some(&record(&[]))).await.value, 0.0);
}

#[tokio::test]
async fn failed_judge_scores_zero_with_feedback() {
    let (m, _) = judged(scripted("", "", true));
    let s = m.score(&example(&[]), Some(&record(&[]))).await;
    assert_eq!(s.value, 0.0);
    let fb = s.feedback.unwrap();
    assert!(
        fb.contains("judge `grader` failed") && fb.contains("HTTP 401"),
        "{fb}"
    );

    let (m, lm) = judged(scripted("garbage", "also garbage", false));
    let s = m.score(&example(&[]), Some(&record(&[]))).await;
    assert_eq!(s.value, 0.0);
    assert!(s.feedback.unwrap().contains("judge `grader` failed"));
    assert_eq!(lm.requests.lock().unwrap().len(), 2, "chat then JSON retry");
}

#[tokio::test]
async fn and_short_circuits_before_a_judge() {
    let lm = Arc::new(scripted(
        "[[ ## score ## ]]\n1\n\n[[ ## completed ## ]]",
        "",
        false,
    ));
    let m = MetricFn::new(
        MetricDecl {
            name: "j".into(),
            expr: bin(
                BinaryOp::And,
                call(Builtin::ExactMatch, vec![pred("a"), gold("a")]),
                MetricExpr::Judge {
                    model: "grader".into(),
                    question: "ok?".into(),
                    args: vec![pred("a")],
                },
            ),
            feedback: None,
        },
        Arc::new(Models(Some(lm.clone()))),
    );
    let s = m
        .score(
            &example(&[("a", json!("x"))]),
            Some(&record(&[("a", json!("y"))])),
        )
        .await;
    assert_eq!(s.value, 0.0);
    assert_eq!(lm.requests.lock().unwrap().len(), 0);
}
