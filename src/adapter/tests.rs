use std::sync::Mutex;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::ir::FieldType;
use crate::lm::{Message, Response};

fn field(name: &str, ty: FieldType, desc: Option<&str>) -> Field {
    Field {
        name: name.into(),
        ty,
        description: desc.map(str::to_string),
    }
}

fn labels(ls: &[&str]) -> FieldType {
    FieldType::Enum(ls.iter().map(|s| s.to_string()).collect())
}

fn rec(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn demo(pairs: &[(&str, Value)]) -> Demo {
    Demo {
        fields: rec(pairs),
        augmented: false,
    }
}

struct Fixture {
    inputs: Vec<Field>,
    outputs: Vec<Field>,
}

fn qa() -> Fixture {
    Fixture {
        inputs: vec![
            field("question", FieldType::String, Some("a trivia question")),
            field(
                "passages",
                FieldType::List(Box::new(FieldType::String)),
                Some("retrieved\npassages"),
            ),
        ],
        outputs: vec![
            field(
                "reasoning",
                FieldType::String,
                Some("think step by step before answering"),
            ),
            field(
                "answer",
                FieldType::String,
                Some("often between 1 and 5 words"),
            ),
            field("kind", labels(&["person", "place", "other"]), None),
            field("confidence", FieldType::Float, None),
        ],
    }
}

fn demos() -> Vec<Demo> {
    vec![
        demo(&[
            ("question", json!("Who wrote Hamlet?")),
            ("passages", json!(["Hamlet is a tragedy by Shakespeare."])),
            ("reasoning", json!("The passage names the author.")),
            ("answer", json!("William Shakespeare")),
            ("kind", json!("person")),
            ("confidence", json!(0.9)),
        ]),
        // Incomplete: no passages, no reasoning, no confidence.
        demo(&[
            ("question", json!("Capital of France?")),
            ("answer", json!("Paris")),
            ("kind", json!("place")),
        ]),
        // No output at all: left out.
        demo(&[("question", json!("Unused?"))]),
    ]
}

fn query() -> Record {
    rec(&[
        ("question", json!("Where is the Eiffel Tower?")),
        (
            "passages",
            json!(["It stands in Paris.", "It is made of iron."]),
        ),
    ])
}

fn render(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| format!("--- {} ---\n{}", m.role, m.content))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn chat_format_pins_messages() {
    let fx = qa();
    let spec = PredictSpec {
        instructions: "Answer the question with a short factoid.",
        inputs: &fx.inputs,
        outputs: &fx.outputs,
    };
    let msgs = format_messages(Format::Chat, &spec, &demos(), &query());
    assert_eq!(msgs.len(), 6, "system, two demo pairs, query");
    insta::assert_snapshot!("chat_format", render(&msgs));
}

#[test]
fn json_format_pins_messages() {
    let fx = qa();
    let spec = PredictSpec {
        instructions: "Answer the question with a short factoid.",
        inputs: &fx.inputs,
        outputs: &fx.outputs,
    };
    let msgs = format_messages(Format::Json, &spec, &demos(), &query());
    assert_eq!(msgs.len(), 6);
    insta::assert_snapshot!("json_format", render(&msgs));
}

#[test]
fn empty_instructions_get_a_default_sentence() {
    let fx = qa();
    let spec = PredictSpec {
        instructions: "  ",
        inputs: &fx.inputs,
        outputs: &fx.outputs[1..2],
    };
    let msgs = format_messages(Format::Chat, &spec, &[], &query());
    assert!(
        msgs[0].content.ends_with(
            "your task is:\nGiven the fields `question`, `passages`, produce the fields `answer`."
        ),
        "{}",
        msgs[0].content
    );
}

fn out1(name: &str, ty: FieldType) -> Vec<Field> {
    vec![field(name, ty, None)]
}

fn chat1(ty: FieldType, body: &str) -> Result<Value, ParseError> {
    let text = format!("[[ ## x ## ]]\n{body}\n\n[[ ## completed ## ]]");
    parse_reply(Format::Chat, &out1("x", ty), &text).map(|r| r["x"].clone())
}

#[test]
fn chat_parses_every_type() {
    assert_eq!(
        chat1(FieldType::String, "  Paris \n").unwrap(),
        json!("Paris")
    );
    assert_eq!(
        chat1(FieldType::String, "two\nlines").unwrap(),
        json!("two\nlines")
    );
    assert_eq!(chat1(FieldType::Int, "42").unwrap(), json!(42));
    assert_eq!(chat1(FieldType::Int, "\"-7\".").unwrap(), json!(-7));
    assert_eq!(chat1(FieldType::Int, "3.0").unwrap(), json!(3));
    assert_eq!(chat1(FieldType::Float, "0.25").unwrap(), json!(0.25));
    assert_eq!(chat1(FieldType::Float, "2").unwrap(), json!(2.0));
    assert_eq!(chat1(FieldType::Bool, "True").unwrap(), json!(true));
    assert_eq!(chat1(FieldType::Bool, "no.").unwrap(), json!(false));
    assert_eq!(
        chat1(FieldType::List(Box::new(FieldType::Int)), "[1, \"2\", 3]").unwrap(),
        json!([1, 2, 3])
    );
    assert_eq!(
        chat1(
            FieldType::List(Box::new(FieldType::String)),
            "```json\n[\"a\", \"b\"]\n```"
        )
        .unwrap(),
        json!(["a", "b"])
    );
    let sentiment = labels(&["Positive", "negative"]);
    assert_eq!(
        chat1(sentiment.clone(), "positive").unwrap(),
        json!("Positive")
    );
    assert_eq!(
        chat1(sentiment.clone(), "\"NEGATIVE\".").unwrap(),
        json!("negative")
    );
    assert_eq!(
        chat1(sentiment.clone(), "'Positive'").unwrap(),
        json!("Positive")
    );
    assert_eq!(
        chat1(FieldType::Json, "{\"a\": [1, null]}").unwrap(),
        json!({"a": [1, null]})
    );
}

#[test]
fn chat_rejects_bad_values() {
    let err = chat1(FieldType::Int, "forty-two").unwrap_err();
    assert!(
        matches!(&err, ParseError::BadValue { field, reason, .. } if field == "x" && reason == "not an integer")
    );
    assert!(err.to_string().contains("`x` (int)"), "{err}");
    assert!(chat1(FieldType::Int, "4.5").is_err());
    assert!(chat1(FieldType::Float, "high").is_err());
    assert!(chat1(FieldType::Float, "NaN").is_err());
    assert!(chat1(FieldType::Bool, "maybe").is_err());
    assert!(chat1(FieldType::List(Box::new(FieldType::String)), "a, b").is_err());
    assert!(chat1(FieldType::List(Box::new(FieldType::String)), "{\"a\": 1}").is_err());
    assert!(chat1(FieldType::List(Box::new(FieldType::Int)), "[1, \"x\"]").is_err());
    assert!(chat1(FieldType::Json, "{not json").is_err());
    let err = chat1(labels(&["positive", "negative"]), "mostly positive").unwrap_err();
    assert!(
        err.to_string().contains("not one of positive, negative"),
        "{err}"
    );
}

#[test]
fn chat_missing_field_is_an_error() {
    let outs = vec![
        field("reasoning", FieldType::String, None),
        field("answer", FieldType::String, None),
    ];
    let err = parse_reply(
        Format::Chat,
        &outs,
        "[[ ## reasoning ## ]]\nhmm\n[[ ## completed ## ]]",
    )
    .unwrap_err();
    assert_eq!(
        err,
        ParseError::MissingField {
            field: "answer".into()
        }
    );
    assert!(parse_reply(Format::Chat, &outs, "Paris").is_err());
}

#[test]
fn chat_tolerates_preamble_inline_values_and_repeats() {
    let outs = vec![
        field("reasoning", FieldType::String, None),
        field("answer", FieldType::String, None),
    ];
    let text = "Sure! Here you go.\n\n  [[ ## reasoning ## ]] It is in Paris.\n[[ ## answer ## ]]\n\n Paris \n\n[[ ## completed ## ]]\n[[ ## answer ## ]]\nLondon\n";
    let r = parse_reply(Format::Chat, &outs, text).unwrap();
    assert_eq!(
        r,
        rec(&[
            ("reasoning", json!("It is in Paris.")),
            ("answer", json!("Paris"))
        ])
    );
    assert_eq!(r.keys().collect::<Vec<_>>(), ["reasoning", "answer"]);
}

#[test]
fn json_parses_and_coerces() {
    let fx = qa();
    let text = "Here is the object:\n```json\n{\"reasoning\": \"r\", \"Answer\": \"Paris\", \"kind\": \"Place.\", \"confidence\": \"0.5\", \"extra\": 1}\n```";
    let r = parse_reply(Format::Json, &fx.outputs, text).unwrap();
    assert_eq!(
        r,
        rec(&[
            ("reasoning", json!("r")),
            ("answer", json!("Paris")),
            ("kind", json!("place")),
            ("confidence", json!(0.5)),
        ])
    );
    let nums = parse_reply(
        Format::Json,
        &[
            field("n", FieldType::Int, None),
            field("s", FieldType::String, None),
            field("l", FieldType::List(Box::new(FieldType::Bool)), None),
        ],
        "{\"n\": 3, \"s\": 12, \"l\": [true, \"false\"]}",
    )
    .unwrap();
    assert_eq!(
        nums,
        rec(&[
            ("n", json!(3)),
            ("s", json!("12")),
            ("l", json!([true, false]))
        ])
    );
}

#[test]
fn json_failures() {
    let fx = qa();
    assert!(matches!(
        parse_reply(Format::Json, &fx.outputs, "no object here"),
        Err(ParseError::NotJson { .. })
    ));
    assert!(matches!(
        parse_reply(Format::Json, &fx.outputs, "[1, 2]"),
        Err(ParseError::NotJson { .. })
    ));
    assert!(matches!(
        parse_reply(
            Format::Json,
            &fx.outputs,
            "{\"reasoning\": \"r\", \"answer\": \"a\""
        ),
        Err(ParseError::NotJson { .. })
    ));
    assert_eq!(
        parse_reply(
            Format::Json,
            &fx.outputs,
            "{\"reasoning\": \"r\", \"answer\": \"a\", \"kind\": \"person\"}"
        ),
        Err(ParseError::MissingField {
            field: "confidence".into()
        })
    );
    let err = parse_reply(
        Format::Json,
        &fx.outputs,
        "{\"reasoning\": \"r\", \"answer\": \"a\", \"kind\": \"animal\", \"confidence\": 1}",
    )
    .unwrap_err();
    assert!(matches!(err, ParseError::BadValue { ref field, .. } if field == "kind"));
}

#[test]
fn demo_replies_parse_back_in_both_formats() {
    let fx = qa();
    let spec = PredictSpec {
        instructions: "",
        inputs: &fx.inputs,
        outputs: &fx.outputs,
    };
    let d = &demos()[0];
    let want: Record = fx
        .outputs
        .iter()
        .map(|f| (f.name.clone(), d.fields[&f.name].clone()))
        .collect();
    for format in [Format::Chat, Format::Json] {
        let msgs = format_messages(format, &spec, std::slice::from_ref(d), &query());
        assert_eq!(msgs[2].role, "assistant");
        let got = parse_reply(format, &fx.outputs, &msgs[2].content).unwrap();
        assert_eq!(got, want, "{format:?}");
    }
}

#[test]
fn read_prompt_recovers_fields_demos_and_query() {
    let fx = qa();
    let spec = PredictSpec {
        instructions: "Answer briefly.\nAdvice: mind the dates.",
        inputs: &fx.inputs,
        outputs: &fx.outputs,
    };
    for format in [Format::Chat, Format::Json] {
        let msgs = format_messages(format, &spec, &demos(), &query());
        let view = read_prompt(&msgs).expect("readable");
        let types = |fs: &[Field]| {
            fs.iter()
                .map(|f| (f.name.clone(), f.ty.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(view.inputs, types(&fx.inputs));
        assert_eq!(view.outputs, types(&fx.outputs));
        assert_eq!(view.instructions, spec.instructions);
        assert_eq!(view.demos.len(), 2);
        assert_eq!(
            view.demos[1].inputs,
            vec![("question".to_string(), "Capital of France?".to_string())]
        );
        assert_eq!(
            view.demos[0].outputs[1],
            ("answer".to_string(), "William Shakespeare".to_string())
        );
        assert_eq!(view.demos[0].outputs[3].1, "0.9");
        assert_eq!(
            view.query,
            vec![
                (
                    "question".to_string(),
                    "Where is the Eiffel Tower?".to_string()
                ),
                (
                    "passages".to_string(),
                    "[\"It stands in Paris.\",\"It is made of iron.\"]".to_string()
                ),
            ]
        );
    }
    // Enum labels with quotes and commas survive the round trip.
    let odd = vec![field("x", labels(&["a, \"b\"", "c)"]), None)];
    let ins = vec![field("q", FieldType::Json, None)];
    let spec = PredictSpec {
        instructions: "",
        inputs: &ins,
        outputs: &odd,
    };
    let msgs = format_messages(Format::Chat, &spec, &[], &rec(&[("q", json!({"k": 1}))]));
    let view = read_prompt(&msgs).unwrap();
    assert_eq!(view.outputs[0].1, odd[0].ty);
    assert_eq!(view.query_value("q"), Some("{\"k\":1}"));
    assert!(read_prompt(&[Message::user("hi")]).is_none());
}

/// Replies from a script, recording the requests.
struct Scripted {
    replies: Vec<Result<&'static str, LmError>>,
    seen: Mutex<Vec<Request>>,
}

#[async_trait]
impl Lm for Scripted {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let mut seen = self.seen.lock().unwrap();
        let i = seen.len();
        seen.push(request.clone());
        self.replies[i].clone().map(|text| Response {
            text: text.to_string(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 3,
            },
            cached: false,
        })
    }
}

fn scripted(replies: Vec<Result<&'static str, LmError>>) -> Scripted {
    Scripted {
        replies,
        seen: Mutex::new(Vec::new()),
    }
}

fn template() -> Request {
    Request {
        model: "fast".into(),
        messages: vec![Message::user("replaced")],
        temperature: 0.7,
        max_tokens: Some(64),
        seed: Some(3),
        rollout_id: Some(9),
        response_format: ResponseFormat::JsonObject,
        params: IndexMap::new(),
    }
}

fn answer_spec(outs: &[Field]) -> PredictSpec<'_> {
    PredictSpec {
        instructions: "Answer.",
        inputs: &[],
        outputs: outs,
    }
}

/// `predict` with the test template and no demos or inputs.
async fn predict_answer(lm: &Scripted, outs: &[Field]) -> Result<Prediction, PredictError> {
    predict(lm, &template(), &answer_spec(outs), &[], &Record::default()).await
}

#[tokio::test]
async fn predict_uses_chat_first() {
    let outs = out1("answer", FieldType::Int);
    let lm = scripted(vec![Ok("[[ ## answer ## ]]\n4\n[[ ## completed ## ]]")]);
    let p = predict_answer(&lm, &outs).await.unwrap();
    assert_eq!(p.outputs, rec(&[("answer", json!(4))]));
    assert_eq!(p.lm_calls, 1);
    assert_eq!(p.usage.total(), 13);
    let seen = lm.seen.lock().unwrap();
    assert_eq!(seen[0].response_format, ResponseFormat::Text);
    assert_eq!(seen[0].rollout_id, Some(9));
    assert_eq!(seen[0].temperature, 0.7);
    assert_eq!(seen[0].messages[0].role, "system");
}

#[tokio::test]
async fn predict_retries_in_json_mode() {
    let outs = out1("answer", FieldType::Int);
    let lm = scripted(vec![Ok("The answer is 4."), Ok("{\"answer\": 4}")]);
    let p = predict_answer(&lm, &outs).await.unwrap();
    assert_eq!(p.outputs, rec(&[("answer", json!(4))]));
    assert_eq!(p.lm_calls, 2);
    assert_eq!(p.usage.prompt_tokens, 20);
    let seen = lm.seen.lock().unwrap();
    assert_eq!(seen[1].response_format, ResponseFormat::JsonObject);
    assert!(
        seen[1]
            .messages
            .last()
            .unwrap()
            .content
            .contains("JSON object")
    );
}

#[tokio::test]
async fn predict_reports_both_parse_failures_and_lm_errors() {
    let outs = out1("answer", FieldType::Int);
    let lm = scripted(vec![Ok("four"), Ok("{\"answer\": \"four\"}")]);
    let err = predict_answer(&lm, &outs).await.unwrap_err();
    match &err {
        PredictError::Parse { chat, json } => {
            assert!(matches!(chat, ParseError::MissingField { .. }));
            assert!(matches!(json, ParseError::BadValue { .. }));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("the reply did not parse: chat format: the reply has no value for output field `answer`; JSON retry: output field `answer` (int): not an integer"), "{err}");

    let fatal = LmError::Fatal {
        model: "fast".into(),
        message: "401 unauthorized".into(),
    };
    let lm = scripted(vec![Err(fatal.clone())]);
    let err = predict_answer(&lm, &outs).await.unwrap_err();
    assert_eq!(err, PredictError::Lm(fatal));
    assert_eq!(
        err.to_string(),
        "model call failed: model `fast`: 401 unauthorized"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Trimmed text with no line that could read as a field header.
    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ,.!?'\"\n{}()-]{0,80}"
            .prop_map(|s| s.trim().to_string())
            .prop_filter("non-empty", |s| !s.is_empty())
    }

    proptest! {
        #[test]
        fn chat_and_json_demo_replies_round_trip(
            a in text(),
            b in text(),
            n in any::<i64>(),
            // Short decimals, as models write them (serde_json reads
            // long ones to within an ulp only).
            cents in -100_000_000i64..100_000_000,
            flag in any::<bool>(),
            items in proptest::collection::vec(text(), 0..4),
        ) {
            let outs = vec![
                field("a", FieldType::String, None),
                field("b", FieldType::String, Some("second")),
                field("n", FieldType::Int, None),
                field("f", FieldType::Float, None),
                field("flag", FieldType::Bool, None),
                field("items", FieldType::List(Box::new(FieldType::String)), None),
            ];
            let ins = vec![field("q", FieldType::String, None)];
            let spec = PredictSpec { instructions: "", inputs: &ins, outputs: &outs };
            let fields = rec(&[
                ("q", json!("question")),
                ("a", json!(a)),
                ("b", json!(b)),
                ("n", json!(n)),
                ("f", json!(cents as f64 / 100.0)),
                ("flag", json!(flag)),
                ("items", json!(items)),
            ]);
            let want: Record = fields.iter().skip(1).map(|(k, v)| (k.clone(), v.clone())).collect();
            let d = Demo { fields, augmented: false };
            for format in [Format::Chat, Format::Json] {
                let msgs = format_messages(format, &spec, std::slice::from_ref(&d), &Record::default());
                let got = parse_reply(format, &outs, &msgs[2].content).unwrap();
                prop_assert_eq!(&got, &want);
                let view = read_prompt(&msgs).unwrap();
                prop_assert_eq!(view.demos[0].outputs.len(), outs.len());
            }
        }
    }
}
