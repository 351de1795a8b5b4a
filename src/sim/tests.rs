use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::adapter::{Format, PredictSpec, format_messages, parse_reply, predict};
use crate::ir::{Field, Provider};
use crate::lm::Message;
use crate::value::{Demo, Record};

const TOPICS: [&str; 4] = ["history", "science", "sports", "music"];
/// Rows 0..N are scored; rows N..2N supply demos.
const N: usize = 200;

fn decl(skill: f64) -> ModelDecl {
    ModelDecl {
        oracle: Some("trivia".into()),
        skill,
        ..ModelDecl::new("offline", Provider::Sim)
    }
}

fn row(i: usize) -> Example {
    let fields: Record = [
        (
            "question".to_string(),
            json!(format!("What is secret word number {i}?")),
        ),
        ("answer".to_string(), json!(format!("word {i}"))),
        ("topic".to_string(), json!(TOPICS[i % 4])),
    ]
    .into_iter()
    .collect();
    Example {
        fields,
        input_keys: vec!["question".into()],
    }
}

fn oracle() -> Vec<Example> {
    (0..2 * N).map(row).collect()
}

fn field(name: &str, ty: FieldType) -> Field {
    Field {
        name: name.into(),
        ty,
        description: None,
    }
}

fn template(temperature: f64, rollout_id: Option<u64>) -> Request {
    Request {
        model: "offline".into(),
        messages: vec![],
        temperature,
        max_tokens: None,
        seed: None,
        rollout_id,
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    }
}

/// `k` demos of rows from the demo half on topic `topic_of(i)`, with their
/// gold answers (or a wrong one when `wrong`).
fn demos_for(i: usize, k: usize, same_topic: bool, wrong: bool) -> Vec<Demo> {
    let shift = if same_topic { 0 } else { 1 };
    (0..k)
        .map(|j| {
            let d = N + ((i + shift) % 4) + 4 * ((i + j * 7) % (N / 4));
            let mut fields = row(d).fields;
            fields.shift_remove("topic");
            if wrong {
                fields.insert("answer".into(), json!("nonsense"));
            }
            Demo {
                fields,
                augmented: true,
            }
        })
        .collect()
}

struct Setup<'a> {
    sim: &'a SimModel,
    temperature: f64,
    rollout_id: Option<u64>,
}

impl Setup<'_> {
    async fn answer(&self, i: usize, instructions: &str, demos: &[Demo]) -> Value {
        let ins = [field("question", FieldType::String)];
        let outs = [field("answer", FieldType::String)];
        let spec = PredictSpec {
            instructions,
            inputs: &ins,
            outputs: &outs,
        };
        let inputs = row(i).inputs();
        let p = predict(
            self.sim,
            &template(self.temperature, self.rollout_id),
            &spec,
            demos,
            &inputs,
        )
        .await
        .expect("the sim's replies parse");
        assert_eq!(p.lm_calls, 1);
        p.outputs["answer"].clone()
    }

    /// Accuracy over the scored rows.
    async fn accuracy(
        &self,
        instr: impl Fn(usize) -> String,
        demos: impl Fn(usize) -> Vec<Demo>,
    ) -> f64 {
        let mut right = 0;
        for i in 0..N {
            if self.answer(i, &instr(i), &demos(i)).await == row(i).fields["answer"] {
                right += 1;
            }
        }
        right as f64 / N as f64
    }
}

fn plain(_: usize) -> String {
    "Answer the question.".into()
}

fn none(_: usize) -> Vec<Demo> {
    vec![]
}

#[tokio::test]
async fn same_request_same_answer() {
    let a = SimModel::new(&decl(0.3), oracle());
    let b = SimModel::new(&decl(0.3), oracle());
    let ins = [field("question", FieldType::String)];
    let outs = [
        field("reasoning", FieldType::String),
        field("answer", FieldType::String),
    ];
    let spec = PredictSpec {
        instructions: "",
        inputs: &ins,
        outputs: &outs,
    };
    for i in 0..20 {
        let mut req = template(0.9, Some(4));
        req.messages = format_messages(
            Format::Chat,
            &spec,
            &demos_for(i, 2, true, false),
            &row(i).inputs(),
        );
        let ra = a.complete(&req).await.unwrap();
        let rb = b.complete(&req).await.unwrap();
        assert_eq!(ra, rb);
        assert_eq!(a.complete(&req).await.unwrap(), ra);
        assert!(
            ra.usage.prompt_tokens > 50 && ra.usage.completion_tokens > 5,
            "{:?}",
            ra.usage
        );
    }
}

#[tokio::test]
async fn baseline_accuracy_is_about_skill() {
    for skill in [0.3, 0.6] {
        let sim = SimModel::new(&decl(skill), oracle());
        let s = Setup {
            sim: &sim,
            temperature: 0.0,
            rollout_id: None,
        };
        let acc = s.accuracy(plain, none).await;
        assert!((acc - skill).abs() < 0.1, "skill {skill}: accuracy {acc}");
    }
}

#[tokio::test]
async fn relevant_demos_raise_accuracy() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let s = Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    };
    let base = s.accuracy(plain, none).await;
    let relevant = s.accuracy(plain, |i| demos_for(i, 3, true, false)).await;
    let one = s.accuracy(plain, |i| demos_for(i, 1, true, false)).await;
    let off_topic = s.accuracy(plain, |i| demos_for(i, 3, false, false)).await;
    let wrong = s.accuracy(plain, |i| demos_for(i, 3, true, true)).await;
    assert!(
        relevant > base + 0.25,
        "base {base}, 3 relevant demos {relevant}"
    );
    assert!(one > base + 0.05 && one < relevant, "1 demo {one}");
    assert!(
        (off_topic - base).abs() < 0.05,
        "off-topic demos {off_topic} vs {base}"
    );
    assert!(
        (wrong - base).abs() < 0.05,
        "wrongly labelled demos {wrong} vs {base}"
    );
}

#[tokio::test]
async fn advice_on_the_topic_raises_accuracy() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let s = Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    };
    let base = s.accuracy(plain, none).await;
    let advised = s
        .accuracy(
            |i| {
                format!(
                    "Answer the question.\n\nAdvice: questions about {} need care.",
                    TOPICS[i % 4]
                )
            },
            none,
        )
        .await;
    let elsewhere = s
        .accuracy(
            |i| {
                format!(
                    "Answer the question.\n\nAdvice: questions about {} need care.",
                    TOPICS[(i + 1) % 4]
                )
            },
            none,
        )
        .await;
    // A word merely containing the topic is no mention.
    let substring = s
        .accuracy(|_| "Answer prehistory and musicals questions.".into(), none)
        .await;
    assert!(advised > base + 0.15, "base {base}, advised {advised}");
    assert_eq!(elsewhere, base);
    assert_eq!(substring, base);
}

#[tokio::test]
async fn too_many_demos_lower_accuracy() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let s = Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    };
    let three = s.accuracy(plain, |i| demos_for(i, 3, true, false)).await;
    let six = s.accuracy(plain, |i| demos_for(i, 6, true, false)).await;
    let twelve = s.accuracy(plain, |i| demos_for(i, 12, true, false)).await;
    assert!((six - three).abs() < 0.05, "3 demos {three}, 6 demos {six}");
    assert!(twelve < three - 0.15, "3 demos {three}, 12 demos {twelve}");
}

#[tokio::test]
async fn temperature_and_rollout_ids_vary_answers() {
    let sim = SimModel::new(&decl(0.5), oracle());
    let mut differ_hot = 0;
    let mut differ_cold = 0;
    for i in 0..N {
        let demos = demos_for(i, 1, true, false);
        let hot = |r| Setup {
            sim: &sim,
            temperature: 1.0,
            rollout_id: Some(r),
        };
        let cold = |r| Setup {
            sim: &sim,
            temperature: 0.0,
            rollout_id: Some(r),
        };
        if hot(1).answer(i, "", &demos).await != hot(2).answer(i, "", &demos).await {
            differ_hot += 1;
        }
        if cold(1).answer(i, "", &demos).await != cold(2).answer(i, "", &demos).await {
            differ_cold += 1;
        }
    }
    assert!(
        differ_hot >= 40,
        "only {differ_hot} rows changed across rollouts at T=1"
    );
    assert_eq!(differ_cold, 0, "temperature 0 is greedy");
    // A little temperature moves only the borderline rows.
    let base = Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    };
    let warm = Setup {
        sim: &sim,
        temperature: 0.2,
        rollout_id: Some(7),
    };
    let acc_base = base.accuracy(plain, none).await;
    let acc_warm = warm.accuracy(plain, none).await;
    assert!(
        (acc_base - acc_warm).abs() < 0.1,
        "{acc_base} vs {acc_warm}"
    );
}

fn advice_fields() -> (Vec<Field>, Vec<Field>) {
    let s = |n: &str| field(n, FieldType::String);
    let j = |n: &str| field(n, FieldType::Json);
    let f = |n: &str| field(n, FieldType::Float);
    (
        vec![
            s("program"),
            j("predictors"),
            j("example_inputs"),
            j("example_labels"),
            j("worse_trajectory"),
            j("better_trajectory"),
            j("worse_outputs"),
            j("better_outputs"),
            f("worse_score"),
            f("better_score"),
            s("worse_feedback"),
            s("better_feedback"),
        ],
        vec![s("analysis"), j("advice")],
    )
}

fn advice_inputs(i: usize) -> Record {
    let r = row(i);
    [
        ("program", json!("program qa { step answer = predict(QA) }")),
        (
            "predictors",
            json!([{"name": "query", "instructions": "", "inputs": ["question"], "outputs": ["query"]},
                   {"name": "answer", "instructions": "Answer.", "inputs": ["question", "query"], "outputs": ["answer"]}]),
        ),
        ("example_inputs", json!({"question": r.fields["question"]})),
        ("example_labels", json!({"answer": r.fields["answer"]})),
        ("worse_trajectory", json!([])),
        ("better_trajectory", json!([])),
        ("worse_outputs", json!({"answer": "nope"})),
        ("better_outputs", json!({"answer": r.fields["answer"]})),
        ("worse_score", json!(0.0)),
        ("better_score", json!(1.0)),
        ("worse_feedback", json!("")),
        ("better_feedback", json!("")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test]
async fn advice_requests_get_advice_that_is_sometimes_right() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let (ins, outs) = advice_fields();
    let spec = PredictSpec {
        instructions: "Compare the two trajectories and give advice per predictor.",
        inputs: &ins,
        outputs: &outs,
    };
    let answerer = Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    };
    let base = answerer.accuracy(plain, none).await;
    let mut right = 0;
    let mut advised_correct = 0;
    for i in 0..N {
        for format in [Format::Chat, Format::Json] {
            let mut req = template(0.7, Some(i as u64));
            req.messages = format_messages(format, &spec, &[], &advice_inputs(i));
            if format == Format::Json {
                req.response_format = ResponseFormat::JsonObject;
            }
            let reply = sim.complete(&req).await.unwrap();
            let out = parse_reply(format, &outs, &reply.text).expect("advice reply parses");
            let advice = out["advice"].as_object().expect("advice is an object");
            assert_eq!(
                advice.keys().collect::<Vec<_>>(),
                ["answer"],
                "{}",
                reply.text
            );
            assert!(!out["analysis"].as_str().unwrap().is_empty());
            if format == Format::Json {
                continue;
            }
            let text = advice["answer"].as_str().unwrap().to_string();
            if text.contains(TOPICS[i % 4]) {
                right += 1;
            }
            let instructions = format!("Answer the question.\n\n{text}");
            if answerer.answer(i, &instructions, &[]).await == row(i).fields["answer"] {
                advised_correct += 1;
            }
        }
    }
    let share = right as f64 / N as f64;
    assert!((0.45..=0.75).contains(&share), "right advice share {share}");
    let acc = advised_correct as f64 / N as f64;
    assert!(
        acc > base + 0.08,
        "base {base}, with the sim's own advice {acc}"
    );
}

#[tokio::test]
async fn json_mode_replies_in_json_with_the_same_correctness() {
    let sim = SimModel::new(&decl(0.4), oracle());
    let ins = [field("question", FieldType::String)];
    let outs = [field("answer", FieldType::String)];
    let spec = PredictSpec {
        instructions: "",
        inputs: &ins,
        outputs: &outs,
    };
    for i in 0..50 {
        let gold = &row(i).fields["answer"];
        let mut chat = template(0.0, None);
        chat.messages = format_messages(Format::Chat, &spec, &[], &row(i).inputs());
        let mut js = template(0.0, None);
        js.messages = format_messages(Format::Json, &spec, &[], &row(i).inputs());
        js.response_format = ResponseFormat::JsonObject;
        let c = parse_reply(
            Format::Chat,
            &outs,
            &sim.complete(&chat).await.unwrap().text,
        )
        .unwrap();
        let text = sim.complete(&js).await.unwrap().text;
        assert!(text.starts_with('{'), "{text}");
        let j = parse_reply(Format::Json, &outs, &text).unwrap();
        assert_eq!(c["answer"] == *gold, j["answer"] == *gold, "row {i}");
    }
}

#[tokio::test]
async fn labels_without_topic_field_and_enum_answers() {
    let labels = ["positive", "negative", "neutral"];
    let ex = |i: usize| Example {
        fields: [
            ("text".to_string(), json!(format!("review {i}"))),
            ("label".to_string(), json!(labels[i % 3])),
        ]
        .into_iter()
        .collect(),
        input_keys: vec!["text".into()],
    };
    let sim = SimModel::new(&decl(0.3), (0..2 * N).map(ex).collect());
    assert!(sim.rows.iter().all(|r| r.topic.starts_with("group-")));
    let ins = [field("text", FieldType::String)];
    let outs = [
        field("reasoning", FieldType::String),
        field(
            "label",
            FieldType::Enum(labels.iter().map(|s| s.to_string()).collect()),
        ),
    ];
    let spec = PredictSpec {
        instructions: "Classify.",
        inputs: &ins,
        outputs: &outs,
    };
    let mut acc = [0usize; 2];
    for i in 0..N {
        // Demos: the 3 next demo-half rows with the query's label (hence its topic).
        let demos: Vec<Demo> = (0..3)
            .map(|j| {
                let d = ex(3 * 67 + (i % 3) + 3 * ((i + j) % 60));
                Demo {
                    fields: d.fields,
                    augmented: false,
                }
            })
            .collect();
        for (k, ds) in [&[][..], &demos[..]].into_iter().enumerate() {
            let p = predict(&sim, &template(0.0, None), &spec, ds, &ex(i).inputs())
                .await
                .unwrap();
            assert!(
                p.outputs["reasoning"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("review {i}"))
            );
            if p.outputs["label"] == ex(i).fields["label"] {
                acc[k] += 1;
            }
        }
    }
    assert!(
        acc[1] > acc[0] + N / 5,
        "without demos {}, with {}",
        acc[0],
        acc[1]
    );
}

#[tokio::test]
async fn judge_requests_compare_the_last_two_inputs() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let ins = [
        field("question", FieldType::String),
        field("predicted", FieldType::String),
        field("gold", FieldType::String),
    ];
    let outs = [field("score", FieldType::Float)];
    let spec = PredictSpec {
        instructions: "Is the predicted answer correct?",
        inputs: &ins,
        outputs: &outs,
    };
    for (pred, gold, want) in [
        ("The Eiffel Tower.", "eiffel tower", 1.0),
        ("Paris", "London", 0.0),
    ] {
        let inputs: Record = [
            (
                "question".to_string(),
                json!("Is the predicted answer correct?"),
            ),
            ("predicted".to_string(), json!(pred)),
            ("gold".to_string(), json!(gold)),
        ]
        .into_iter()
        .collect();
        let p = predict(&sim, &template(0.0, None), &spec, &[], &inputs)
            .await
            .unwrap();
        assert_eq!(p.outputs["score"], json!(want), "{pred} vs {gold}");
        // The same comparison when the arguments come as one list field.
        let list_ins = [
            field("question", FieldType::String),
            field("args", FieldType::List(Box::new(FieldType::String))),
        ];
        let list_spec = PredictSpec {
            inputs: &list_ins,
            ..spec
        };
        let args: Record = [
            (
                "question".to_string(),
                json!("Is the predicted answer correct?"),
            ),
            ("args".to_string(), json!([pred, gold])),
        ]
        .into_iter()
        .collect();
        let p = predict(&sim, &template(0.0, None), &list_spec, &[], &args)
            .await
            .unwrap();
        assert_eq!(
            p.outputs["score"],
            json!(want),
            "list form: {pred} vs {gold}"
        );
    }
}

#[tokio::test]
async fn pipeline_fields_unknown_queries_and_foreign_prompts() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let ins = [field("question", FieldType::String)];
    let outs = [
        field("query", FieldType::String),
        field("answer", FieldType::String),
    ];
    let spec = PredictSpec {
        instructions: "",
        inputs: &ins,
        outputs: &outs,
    };
    let p = predict(&sim, &template(0.0, None), &spec, &[], &row(3).inputs())
        .await
        .unwrap();
    assert_eq!(
        p.outputs["query"],
        json!("query What is secret word number 3?")
    );
    // An input no oracle row has: a plausible answer from the known labels.
    let q: Record = [("question".to_string(), json!("Who are you?"))]
        .into_iter()
        .collect();
    let p = predict(&sim, &template(0.0, None), &spec, &[], &q)
        .await
        .unwrap();
    assert!(p.outputs["answer"].as_str().unwrap().starts_with("word "));
    let mut req = template(0.0, None);
    req.messages = vec![Message::user("hello")];
    let err = sim.complete(&req).await.unwrap_err();
    assert!(err.to_string().contains("model `offline`"), "{err}");
}

#[tokio::test]
async fn latency_delays_each_call() {
    let mut d = decl(0.3);
    d.latency = Duration::from_millis(30);
    let sim = SimModel::new(&d, oracle());
    let start = std::time::Instant::now();
    Setup {
        sim: &sim,
        temperature: 0.0,
        rollout_id: None,
    }
    .answer(0, "", &[])
    .await;
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn rule_constants_can_be_overridden_per_model() {
    let mut d = decl(0.3);
    d.extra.insert("demo_gain".into(), json!(0.2));
    d.extra.insert("advice_accuracy".into(), json!(2.0));
    let r = Rules::from_decl(&d);
    assert_eq!(r.demo_gain, 0.2);
    assert_eq!(r.advice_accuracy, 1.0);
    assert_eq!(r.advice_gain, ADVICE_GAIN);
}

/// One request for row `i` with a `passages: list<string>` input, asking
/// for `output`; the reply's value of that field.
async fn with_passages(sim: &SimModel, i: usize, passages: &[String], output: &str) -> Value {
    let ins = [
        field("question", FieldType::String),
        field("passages", FieldType::List(Box::new(FieldType::String))),
    ];
    let outs = [field(output, FieldType::String)];
    let spec = PredictSpec {
        instructions: "Answer from the passages.",
        inputs: &ins,
        outputs: &outs,
    };
    let mut inputs = row(i).inputs();
    inputs.insert("passages".into(), json!(passages));
    let p = predict(sim, &template(0.0, None), &spec, &[], &inputs)
        .await
        .expect("the sim's replies parse");
    p.outputs[output].clone()
}

#[tokio::test]
async fn a_passage_holding_the_answer_raises_accuracy() {
    let sim = SimModel::new(&decl(0.3), oracle());
    let mut counts = [0usize; 3];
    for i in 0..N {
        let gold = row(i).fields["answer"].clone();
        let holding = vec![
            "Nothing here.".to_string(),
            format!("Record | The secret is {}.", gold.as_str().unwrap()),
        ];
        let unrelated = vec!["A passage about something else entirely.".to_string()];
        for (k, passages) in [vec![], unrelated, holding].iter().enumerate() {
            if with_passages(&sim, i, passages, "answer").await == gold {
                counts[k] += 1;
            }
        }
    }
    let acc = counts.map(|c| c as f64 / N as f64);
    // No passage or an unrelated one: the skill; the answer in a passage:
    // the skill plus PASSAGE_GAIN.
    assert!((acc[0] - 0.3).abs() < 0.1, "{acc:?}");
    assert_eq!(acc[0], acc[1], "an unrelated passage changed nothing");
    assert!((acc[2] - (0.3 + PASSAGE_GAIN)).abs() < 0.1, "{acc:?}");
}

#[tokio::test]
async fn follow_up_queries_name_what_the_passage_adds_when_on_form() {
    let passages = |i: usize| {
        vec![
            "Unrelated | Something about Zed Quill and the sea.".to_string(),
            format!("Secret word {i} | The secret word number {i} was chosen by Edda Varn{i}."),
        ]
    };
    // Skill 1: always on form, so always the names the passage adds.
    let sharp = SimModel::new(&decl(1.0), oracle());
    for i in 0..5 {
        let q = with_passages(&sharp, i, &passages(i), "query").await;
        assert_eq!(q, json!(format!("Edda Varn{i}")), "row {i}");
    }
    // Skill 0 (the floor, 0.02): almost always the question restated.
    let dull = SimModel::new(&decl(0.0), oracle());
    let mut restated = 0;
    for i in 0..N {
        let q = with_passages(&dull, i, &passages(i), "query").await;
        if q == json!(format!("what is secret word number {i}?")) {
            restated += 1;
        }
    }
    assert!(restated >= N * 9 / 10, "{restated} of {N} restated");
    // With no passage the query is the filler it always was.
    let q = with_passages(&sharp, 3, &[], "query").await;
    assert_eq!(q, json!("query What is secret word number 3?"));
}
