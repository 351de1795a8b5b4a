//! One predictor step through the executor (binding, adapter format and
//! parse, trace) against an in-process LM that answers instantly; and the
//! metric built-ins on short answers.

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;

use simba_run::ir::*;
use simba_run::lm::{Lm, LmError, ModelSet, Request, Response, ResponseFormat, Usage};
use simba_run::metric::MetricFn;
use simba_run::program::exec::Executor;
use simba_run::program::{ModelOverride, Program};
use simba_run::value::{Demo, Example, Record};

struct Instant;

#[async_trait]
impl Lm for Instant {
    async fn complete(&self, _r: &Request) -> Result<Response, LmError> {
        Ok(Response {
            text: "[[ ## reasoning ## ]]\nThe capital of France is Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".into(),
            usage: Usage::default(),
            cached: false,
        })
    }
}

struct One;

impl ModelSet for One {
    fn lm(&self, _: &str) -> Option<Arc<dyn Lm>> {
        Some(Arc::new(Instant))
    }
    fn template(&self, name: &str) -> Option<Request> {
        Some(Request {
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

fn field(name: &str) -> Field {
    Field {
        name: name.into(),
        ty: FieldType::String,
        description: Some(format!("the {name}")),
    }
}

fn program() -> Program {
    let graph = ProgramGraph {
        name: "qa".into(),
        lm: "m".into(),
        inputs: vec![field("question")],
        steps: vec![Step {
            name: "answer".into(),
            module: ModuleKind::ChainOfThought,
            signature: Signature {
                name: "Answer".into(),
                instructions: "Answer the question with a short factoid.".into(),
                inputs: vec![field("question")],
                outputs: vec![field("answer")],
            },
            lm: "m".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        }],
        outputs: vec![(
            "answer".into(),
            Source::Step {
                step: "answer".into(),
                field: "answer".into(),
            },
        )],
        deps: vec![vec![]],
        spec_text: String::new(),
    };
    let mut p = Program::baseline(Arc::new(graph));
    let st = p.predictors.get_mut("answer").unwrap();
    for i in 0..3 {
        st.demos.push(Demo {
            fields: [
                (
                    "question".to_string(),
                    json!(format!("Demo question number {i}?")),
                ),
                (
                    "reasoning".to_string(),
                    json!("Because the passage says so."),
                ),
                ("answer".to_string(), json!(format!("answer {i}"))),
            ]
            .into_iter()
            .collect(),
            augmented: true,
        });
    }
    p
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let exec = Executor::new(Arc::new(One));
    let prog = program();
    let inputs: Record = [(
        "question".to_string(),
        json!("What is the capital of France?"),
    )]
    .into_iter()
    .collect();
    let ov = ModelOverride::default();
    c.bench_function("executor: one chain_of_thought step, 3 demos", |b| {
        b.iter(|| {
            let run = rt.block_on(exec.run(&prog, black_box(&inputs), &ov));
            assert!(run.prediction.is_some());
            run
        })
    });

    let metric = MetricFn::new(
        MetricDecl {
            name: "graded".into(),
            expr: MetricExpr::Binary(
                BinaryOp::Add,
                Box::new(MetricExpr::Call(
                    Builtin::F1,
                    vec![
                        MetricExpr::Ref(Side::Pred, "answer".into()),
                        MetricExpr::Ref(Side::Gold, "answer".into()),
                    ],
                )),
                Box::new(MetricExpr::Call(
                    Builtin::ExactMatch,
                    vec![
                        MetricExpr::Ref(Side::Pred, "answer".into()),
                        MetricExpr::Ref(Side::Gold, "answer".into()),
                    ],
                )),
            ),
            feedback: None,
        },
        Arc::new(One),
    );
    let gold = Example {
        fields: [("answer".to_string(), json!("The city of Paris"))]
            .into_iter()
            .collect(),
        input_keys: vec![],
    };
    let pred: Record = [("answer".to_string(), json!("Paris, France"))]
        .into_iter()
        .collect();
    c.bench_function("metric: f1 + exact_match", |b| {
        b.iter(|| rt.block_on(metric.score(black_box(&gold), Some(black_box(&pred)))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
