use super::*;
use crate::adapter::read_prompt;
use crate::ir::{Field, FieldType, ModuleKind, ProgramGraph, Signature};
use crate::value::Demo;
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// Answers every output field with `field(input values joined by +)`;
/// fails on an input containing FAIL, replies garbage on GARBAGE.
struct EchoLm {
    delay: Duration,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
}

#[async_trait]
impl Lm for EchoLm {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.requests.lock().unwrap().push(request.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let view = read_prompt(&request.messages).expect("adapter prompt");
        let joined: Vec<&str> = view.query.iter().map(|(_, v)| v.as_str()).collect();
        let joined = joined.join("+");
        if joined.contains("FAIL") {
            return Err(LmError::Fatal {
                model: request.model.clone(),
                message: "HTTP 400: bad request".into(),
            });
        }
        let text = if joined.contains("GARBAGE") {
            "no markers here".to_string()
        } else {
            let mut t = String::new();
            for (name, _) in &view.outputs {
                t.push_str(&format!("[[ ## {name} ## ]]\n{name}({joined})\n\n"));
            }
            t + "[[ ## completed ## ]]"
        };
        Ok(Response {
            text,
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
            },
            cached: false,
        })
    }
}

struct Fake {
    lms: Vec<(String, Arc<EchoLm>)>,
    in_flight_max: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    /// Models `fast` (10 ms), `slow` (80 ms) and `other` (10 ms).
    fn new() -> Arc<Self> {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let lm = |ms| {
            Arc::new(EchoLm {
                delay: Duration::from_millis(ms),
                in_flight: in_flight.clone(),
                max_in_flight: max.clone(),
                requests: requests.clone(),
            })
        };
        Arc::new(Self {
            lms: vec![
                ("fast".into(), lm(10)),
                ("slow".into(), lm(80)),
                ("other".into(), lm(10)),
            ],
            in_flight_max: max,
            requests,
        })
    }
}

impl ModelSet for Fake {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        self.lms
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.clone() as Arc<dyn Lm>)
    }
    fn template(&self, name: &str) -> Option<Request> {
        self.lm(name)?;
        Some(Request {
            model: name.into(),
            messages: vec![],
            temperature: 0.1,
            max_tokens: Some(100),
            seed: None,
            rollout_id: None,
            response_format: crate::lm::ResponseFormat::Text,
            params: Default::default(),
        })
    }
}

fn f(name: &str) -> Field {
    Field {
        name: name.into(),
        ty: FieldType::String,
        description: None,
    }
}

fn step(name: &str, module: ModuleKind, lm: &str, ins: &[(&str, Source)], outs: &[&str]) -> Step {
    Step {
        name: name.into(),
        module,
        signature: Signature {
            name: format!("Sig_{name}"),
            instructions: format!("Do {name}."),
            inputs: ins.iter().map(|(n, _)| f(n)).collect(),
            outputs: outs.iter().map(|n| f(n)).collect(),
        },
        lm: lm.into(),
        bindings: ins
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
    }
}

fn input(n: &str) -> Source {
    Source::Input(n.into())
}
fn from(s: &str, f: &str) -> Source {
    Source::Step {
        step: s.into(),
        field: f.into(),
    }
}

fn program(
    inputs: &[&str],
    steps: Vec<Step>,
    deps: Vec<Vec<usize>>,
    outs: Vec<(&str, Source)>,
) -> Program {
    let graph = ProgramGraph {
        name: "p".into(),
        lm: "fast".into(),
        inputs: inputs.iter().map(|n| f(n)).collect(),
        steps,
        outputs: outs.into_iter().map(|(n, s)| (n.to_string(), s)).collect(),
        deps,
        spec_text: String::new(),
    };
    Program::baseline(Arc::new(graph))
}

fn rec(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn multihop() -> Program {
    program(
        &["question"],
        vec![
            step(
                "query",
                ModuleKind::Predict,
                "fast",
                &[("question", input("question"))],
                &["query"],
            ),
            step(
                "answer",
                ModuleKind::ChainOfThought,
                "fast",
                &[
                    ("question", input("question")),
                    ("query", from("query", "query")),
                ],
                &["answer"],
            ),
        ],
        vec![vec![], vec![0]],
        vec![("answer", from("answer", "answer"))],
    )
}

#[tokio::test]
async fn binds_inputs_and_earlier_outputs() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    let (run, stats) = ex
        .run_counted(
            &multihop(),
            &rec(&[("question", "Q?")]),
            &ModelOverride::default(),
        )
        .await;
    assert_eq!(run.error, None);
    assert_eq!(
        run.prediction,
        Some(rec(&[("answer", "answer(Q?+query(Q?))")]))
    );
    assert_eq!(run.trace.len(), 2);
    assert_eq!(run.trace[0].step, "query");
    assert_eq!(run.trace[0].inputs, rec(&[("question", "Q?")]));
    assert_eq!(
        run.trace[1].inputs,
        rec(&[("question", "Q?"), ("query", "query(Q?)")])
    );
    // chain_of_thought: reasoning first.
    assert_eq!(
        run.trace[1].outputs.keys().collect::<Vec<_>>(),
        ["reasoning", "answer"]
    );
    assert_eq!(stats.lm_calls, 2);
    assert_eq!(stats.usage.total(), 30);
    assert_eq!(ex.totals(), stats);
}

fn diamond(first_model: &str) -> Program {
    program(
        &["x", "y"],
        vec![
            step(
                "left",
                ModuleKind::Predict,
                first_model,
                &[("x", input("x"))],
                &["l"],
            ),
            step(
                "right",
                ModuleKind::Predict,
                "fast",
                &[("y", input("y"))],
                &["r"],
            ),
            step(
                "join",
                ModuleKind::Predict,
                "fast",
                &[("l", from("left", "l")), ("r", from("right", "r"))],
                &["out"],
            ),
        ],
        vec![vec![], vec![], vec![0, 1]],
        vec![("out", from("join", "out"))],
    )
}

#[tokio::test]
async fn independent_steps_run_concurrently_and_trace_in_step_order() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    // `left` is slow, so `right` completes first; the trace still lists left first.
    let run = ex
        .run(
            &diamond("slow"),
            &rec(&[("x", "a"), ("y", "b")]),
            &ModelOverride::default(),
        )
        .await;
    assert_eq!(run.error, None);
    assert_eq!(fake.in_flight_max.load(Ordering::SeqCst), 2);
    let steps: Vec<&str> = run.trace.iter().map(|t| t.step.as_str()).collect();
    assert_eq!(steps, ["left", "right", "join"]);
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3);
    let last = read_prompt(&reqs[2].messages).unwrap();
    assert_eq!(last.query_value("l"), Some("l(a)"), "join runs after both");
    assert_eq!(run.prediction, Some(rec(&[("out", "out(l(a)+r(b))")])));
}

#[tokio::test]
async fn a_failed_call_ends_the_execution_deterministically() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    let (run, stats) = ex
        .run_counted(
            &diamond("fast"),
            &rec(&[("x", "FAIL"), ("y", "b")]),
            &ModelOverride::default(),
        )
        .await;
    assert_eq!(run.prediction, None);
    let err = run.error.unwrap();
    assert!(
        err.starts_with("step `left` (model `fast`): model call failed:"),
        "{err}"
    );
    assert!(err.contains("HTTP 400"), "{err}");
    // left failed (kept, empty outputs); right still ran; join never did.
    let steps: Vec<&str> = run.trace.iter().map(|t| t.step.as_str()).collect();
    assert_eq!(steps, ["left", "right"]);
    assert!(run.trace[0].outputs.is_empty());
    assert_eq!(run.trace[0].inputs, rec(&[("x", "FAIL")]));
    assert_eq!(stats.lm_calls, 2);
}

#[tokio::test]
async fn an_unparseable_reply_fails_after_the_json_retry() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    let (run, stats) = ex
        .run_counted(
            &multihop(),
            &rec(&[("question", "GARBAGE")]),
            &ModelOverride::default(),
        )
        .await;
    assert_eq!(run.prediction, None);
    let err = run.error.unwrap();
    assert!(
        err.starts_with("step `query` (model `fast`): the reply did not parse"),
        "{err}"
    );
    assert_eq!(run.trace.len(), 1);
    assert_eq!(
        stats.lm_calls, 2,
        "chat + JSON retry, then the dependent step is skipped"
    );
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(
        reqs[1].response_format,
        crate::lm::ResponseFormat::JsonObject
    );
}

#[tokio::test]
async fn missing_program_input_is_an_error_naming_step_and_input() {
    let ex = Executor::new(Fake::new());
    let run = ex
        .run(&multihop(), &rec(&[("q", "x")]), &ModelOverride::default())
        .await;
    assert_eq!(
        run.error.as_deref(),
        Some("step `query`: input `question`: program input `question` is missing")
    );
    assert!(run.trace.is_empty());
}

#[tokio::test]
async fn override_sets_model_temperature_rollout_and_seed() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    let ov = ModelOverride {
        model: Some("other".into()),
        temperature: Some(1.0),
        rollout_id: Some(7),
        seed: Some(3),
    };
    let run = ex.run(&multihop(), &rec(&[("question", "Q")]), &ov).await;
    assert_eq!(run.error, None);
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    for r in reqs.iter() {
        assert_eq!(r.model, "other");
        assert_eq!(r.temperature, 1.0);
        assert_eq!(r.rollout_id, Some(7));
        assert_eq!(r.seed, Some(3));
        assert_eq!(r.max_tokens, Some(100));
    }
    let _ = ex
        .run(
            &multihop(),
            &rec(&[("question", "Q")]),
            &ModelOverride::default(),
        )
        .await;
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(reqs[2].model, "fast");
    assert_eq!(reqs[2].temperature, 0.1);
    assert_eq!(reqs[2].rollout_id, None);
}

#[tokio::test]
async fn predictor_state_instructions_and_demos_reach_the_prompt() {
    let fake = Fake::new();
    let ex = Executor::new(fake.clone());
    let mut p = multihop();
    let st = p.predictors.get_mut("query").unwrap();
    st.instructions = "Write one precise search query.".into();
    st.demos.push(Demo {
        fields: rec(&[
            ("question", "Who wrote Hamlet?"),
            ("query", "Hamlet author"),
        ]),
        augmented: true,
    });
    let run = ex
        .run(&p, &rec(&[("question", "Q")]), &ModelOverride::default())
        .await;
    assert_eq!(run.error, None);
    let reqs = fake.requests.lock().unwrap();
    let view = read_prompt(&reqs[0].messages).unwrap();
    assert!(
        view.instructions
            .contains("Write one precise search query.")
    );
    assert_eq!(view.demos.len(), 1);
    let view = read_prompt(&reqs[1].messages).unwrap();
    assert!(view.instructions.contains("Do answer."));
    assert!(view.demos.is_empty());
}

#[tokio::test]
async fn unknown_model_fails_the_step() {
    let ex = Executor::new(Fake::new());
    let ov = ModelOverride {
        model: Some("ghost".into()),
        ..Default::default()
    };
    let run = ex.run(&multihop(), &rec(&[("question", "Q")]), &ov).await;
    assert_eq!(
        run.error.as_deref(),
        Some("step `query` (model `ghost`): no such model")
    );
}

#[tokio::test]
async fn a_dataset_row_runs_as_its_inputs_record_and_keeps_its_labels_hidden() {
    let ex = Executor::new(Fake::new());
    let one_step = |from_input: &str| {
        program(
            &[from_input],
            vec![step(
                "qa",
                ModuleKind::Predict,
                "fast",
                &[(from_input, input(from_input))],
                &["answer"],
            )],
            vec![vec![]],
            vec![("answer", from("qa", "answer"))],
        )
    };
    let row = crate::value::Example {
        fields: rec(&[("question", "Q"), ("gold", "G")]),
        input_keys: vec!["question".into()],
    };
    let ov = ModelOverride::default();
    let in_place = ex.run(&one_step("question"), &row, &ov).await;
    let copied = ex.run(&one_step("question"), &row.inputs(), &ov).await;
    assert_eq!(in_place.error, None);
    assert_eq!(
        (&in_place.prediction, &in_place.trace),
        (&copied.prediction, &copied.trace)
    );
    assert_eq!(in_place.prediction.unwrap()["answer"], json!("answer(Q)"));
    // A label is a field of the row, not an input of the program.
    let peeking = ex.run(&one_step("gold"), &row, &ov).await;
    assert_eq!(
        peeking.error.as_deref(),
        Some("step `qa`: input `gold`: program input `gold` is missing")
    );
}
