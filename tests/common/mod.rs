//! Deterministic fakes for the optimizer's seams: a program graph, an evaluator
//! whose accuracy rises with same-topic demos and topic advice (the sim model's
//! rules in miniature), a prompt model giving topic advice, and counters.
#![allow(dead_code)]

pub mod sim;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simba_run::ir::*;
use simba_run::lm::{Lm, LmError, Request, Response};
use simba_run::metric::{MetricError, Score};
use simba_run::optimize::*;
use simba_run::program::*;
use simba_run::value::*;

pub fn graph() -> Arc<ProgramGraph> {
    let f = |n: &str| Field {
        name: n.into(),
        ty: FieldType::String,
        description: None,
    };
    let sig = Signature {
        name: "Answer".into(),
        instructions: "Answer the question.".into(),
        inputs: vec![f("question")],
        outputs: vec![f("answer")],
    };
    Arc::new(ProgramGraph {
        name: "qa".into(),
        lm: "m".into(),
        inputs: vec![f("question")],
        steps: vec![Step {
            name: "answer".into(),
            module: ModuleKind::Predict,
            signature: sig,
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
        spec_text: "signature Answer { in question: string  out answer: string }\nprogram qa = predict(Answer)".into(),
    })
}

pub const TOPICS: [&str; 3] = ["rivers", "planets", "painters"];

pub fn dataset(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let mut fields = Record::default();
            fields.insert("question".into(), json!(format!("question {i}")));
            fields.insert("topic".into(), json!(TOPICS[i % 3]));
            fields.insert("answer".into(), json!(format!("answer {i}")));
            Example {
                fields,
                input_keys: vec!["question".into()],
            }
        })
        .collect()
}

/// An optimize block for program `qa` with DSPy's defaults except the
/// sizes given, 4 in-flight runs, output `out/qa` and no cache.
pub fn decl(bsize: usize, num_candidates: usize, max_steps: usize) -> OptimizeDecl {
    let trainset = DataRef {
        dataset: "d".into(),
        split: "train".into(),
    };
    OptimizeDecl {
        bsize,
        num_candidates,
        max_steps,
        concurrency: 4,
        cache: None,
        ..OptimizeDecl::new("qa", trainset, "correct", Path::new(""))
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// What the fake evaluator was asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// With a rollout id: trajectory sampling.
    Sampling,
    /// Without: candidate or final evaluation.
    Evaluation,
}

pub struct FakeEvaluator {
    /// question -> topic
    pub topics: IndexMap<String, String>,
    pub calls: Mutex<Vec<Kind>>,
    pub fail_all: bool,
    pub metric_fails: bool,
    /// Sleep a pseudo-random few ms, so completion order varies with concurrency.
    pub jitter: bool,
}

impl FakeEvaluator {
    pub fn new(data: &[Example]) -> Arc<Self> {
        Arc::new(Self {
            topics: data
                .iter()
                .map(|e| {
                    (
                        e.fields["question"].as_str().unwrap().to_string(),
                        e.fields["topic"].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
            calls: Mutex::new(Vec::new()),
            fail_all: false,
            metric_fails: false,
            jitter: false,
        })
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|k| **k == kind)
            .count()
    }
}

#[async_trait]
impl Evaluator for FakeEvaluator {
    async fn run(&self, program: &Program, example: &Example, ov: &ModelOverride) -> Outcome {
        self.calls.lock().unwrap().push(if ov.rollout_id.is_some() {
            Kind::Sampling
        } else {
            Kind::Evaluation
        });
        let q = example.fields["question"].as_str().unwrap().to_string();
        let key = format!("{q}|{:?}|{:?}", ov.rollout_id, ov.seed);
        if self.jitter {
            tokio::time::sleep(Duration::from_micros(fnv(&key) % 3000)).await;
        }
        let inputs: Record = example.inputs();
        if self.fail_all {
            return Outcome::failed(
                Execution {
                    prediction: None,
                    trace: vec![],
                    error: Some("step `answer`: model `m`: connection refused".into()),
                },
                None,
            );
        }
        let topic = &self.topics[&q];
        let state = &program.predictors["answer"];
        let same = state
            .demos
            .iter()
            .filter(|d| {
                d.fields
                    .get("question")
                    .and_then(|v| v.as_str())
                    .and_then(|dq| self.topics.get(dq))
                    == Some(topic)
            })
            .count()
            .min(2);
        let advised = state.instructions.contains(topic.as_str());
        let p = 0.2 + 0.25 * same as f64 + if advised { 0.3 } else { 0.0 };
        let u = (fnv(&key) % 10_000) as f64 / 10_000.0;
        let gold = example.fields["answer"].as_str().unwrap();
        let answer = if u < p {
            gold.to_string()
        } else {
            "wrong".into()
        };
        let mut outputs = Record::default();
        outputs.insert("answer".into(), json!(answer));
        let execution = Execution {
            prediction: Some(outputs.clone()),
            trace: vec![TraceEntry {
                step: "answer".into(),
                inputs,
                outputs,
            }],
            error: None,
        };
        if self.metric_fails {
            let error = MetricError {
                metric: "correct".into(),
                reason: "field `gold.label` does not exist".into(),
            };
            return Outcome::failed(execution, Some(error));
        }
        let value = if answer == gold { 1.0 } else { 0.0 };
        Outcome {
            execution,
            score: Score {
                value,
                feedback: Some(format!("expected {gold}, got {answer}")),
            },
            metric_error: None,
        }
    }
}

/// A prompt model that advises "the answer is about <topic>" for the
/// bucket's example, under the predictor's name.
pub struct FakeAdvisor {
    pub topics: IndexMap<String, String>,
    pub calls: AtomicUsize,
    pub key: String,
}

#[async_trait]
impl FieldPredictor for FakeAdvisor {
    async fn predict(
        &self,
        _instructions: &str,
        inputs: &[Field],
        outputs: &[Field],
        values: &Record,
    ) -> Result<Record, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(inputs.len(), values.len());
        assert_eq!(outputs[1].name, "advice");
        let q = values["example_inputs"]["question"].as_str().unwrap();
        let topic = &self.topics[q];
        let mut r = Record::default();
        r.insert("analysis".into(), json!("the worse run guessed"));
        r.insert(
            "advice".into(),
            json!({ self.key.clone(): format!("Questions here are about {topic}.") }),
        );
        Ok(r)
    }
}

struct NoLm;
#[async_trait]
impl Lm for NoLm {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        Err(LmError::Fatal {
            model: request.model.clone(),
            message: "not used".into(),
        })
    }
}

pub fn prompt(advisor: Arc<FakeAdvisor>) -> PromptModel {
    PromptModel {
        name: "m".into(),
        lm: Arc::new(NoLm),
        template: Request {
            model: "m".into(),
            messages: vec![],
            temperature: 0.0,
            max_tokens: None,
            seed: None,
            rollout_id: None,
            response_format: simba_run::lm::ResponseFormat::Text,
            params: IndexMap::new(),
        },
        predictor: advisor,
    }
}

pub fn advisor(data: &[Example]) -> Arc<FakeAdvisor> {
    Arc::new(FakeAdvisor {
        topics: data
            .iter()
            .map(|e| {
                (
                    e.fields["question"].as_str().unwrap().to_string(),
                    e.fields["topic"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        calls: AtomicUsize::new(0),
        key: "answer".into(),
    })
}

pub struct Setup {
    pub input: OptimizeInput,
    pub evaluator: Arc<FakeEvaluator>,
    pub advisor: Arc<FakeAdvisor>,
}

pub fn setup(d: OptimizeDecl, train: Vec<Example>, evaluator: Arc<FakeEvaluator>) -> Setup {
    let advisor = advisor(&train);
    let strategies = builtin_strategies(&d.strategies).unwrap();
    let input = OptimizeInput {
        decl: d,
        baseline: Program::baseline(graph()),
        trainset: train,
        devset: None,
        valset: None,
        evaluator: evaluator.clone(),
        score_range: Default::default(),
        strategies,
        prompt: Some(prompt(advisor.clone())),
        base_temperature: 0.0,
        model_id: "fake".into(),
        usage: UsageCounter::new(),
        events: EventSink::none(),
        spec_path: None,
        warnings: vec![],
    };
    Setup {
        input,
        evaluator,
        advisor,
    }
}
