//! Adapter cost per predictor call, outside the network: prompt formatting,
//! reply parsing, and a whole `predict` against an in-process instant LM
//! (target: under 20 µs of CPU per predictor call). Also one call of the
//! offline `sim` model, the LM examples and tests run against.

use std::hint::black_box;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use indexmap::IndexMap;
use serde_json::json;

use simba_run::adapter::{Format, PredictSpec, format_messages, parse_reply, predict};
use simba_run::ir::{Field, FieldType, ModelDecl, Provider};
use simba_run::lm::{Lm, LmError, Request, Response, ResponseFormat, Usage};
use simba_run::sim::SimModel;
use simba_run::value::{Demo, Example, Record};

fn field(name: &str, ty: FieldType, desc: &str) -> Field {
    Field {
        name: name.into(),
        ty,
        description: Some(desc.into()),
    }
}

fn inputs() -> Vec<Field> {
    vec![
        field("question", FieldType::String, "a trivia question"),
        field(
            "passages",
            FieldType::List(Box::new(FieldType::String)),
            "retrieved passages",
        ),
    ]
}

fn outputs() -> Vec<Field> {
    vec![
        field("reasoning", FieldType::String, "think step by step"),
        field("answer", FieldType::String, "often between 1 and 5 words"),
        field(
            "kind",
            FieldType::Enum(vec!["person".into(), "place".into(), "other".into()]),
            "what the answer names",
        ),
    ]
}

fn record(i: usize) -> Record {
    [
        (
            "question".to_string(),
            json!(format!("Which city hosts landmark number {i}?")),
        ),
        (
            "passages".to_string(),
            json!([
                format!("Landmark {i} stands in a large city."),
                "Cities have landmarks."
            ]),
        ),
        (
            "reasoning".to_string(),
            json!("The passage names the city."),
        ),
        ("answer".to_string(), json!(format!("city {i}"))),
        ("kind".to_string(), json!("place")),
    ]
    .into_iter()
    .collect()
}

fn demos() -> Vec<Demo> {
    (1..=3)
        .map(|i| Demo {
            fields: record(i),
            augmented: true,
        })
        .collect()
}

fn query() -> Record {
    let mut r = record(0);
    r.truncate(2);
    r
}

const REPLY: &str = "[[ ## reasoning ## ]]\nThe passage names the city.\n\n[[ ## answer ## ]]\ncity 0\n\n[[ ## kind ## ]]\nplace\n\n[[ ## completed ## ]]";

/// Answers at once with a fixed, well-formed reply.
struct Instant;

#[async_trait]
impl Lm for Instant {
    async fn complete(&self, _request: &Request) -> Result<Response, LmError> {
        Ok(Response {
            text: REPLY.to_string(),
            usage: Usage {
                prompt_tokens: 300,
                completion_tokens: 20,
            },
            cached: false,
        })
    }
}

fn template() -> Request {
    Request {
        model: "fast".into(),
        messages: Vec::new(),
        temperature: 0.2,
        max_tokens: Some(512),
        seed: None,
        rollout_id: Some(3),
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    }
}

fn sim_decl() -> ModelDecl {
    ModelDecl {
        oracle: Some("trivia".into()),
        ..ModelDecl::new("offline", Provider::Sim)
    }
}

fn bench(c: &mut Criterion) {
    let (ins, outs) = (inputs(), outputs());
    let spec = PredictSpec {
        instructions: "Answer the question with a short factoid.",
        inputs: &ins,
        outputs: &outs,
    };
    let demos = demos();
    let query = query();

    c.bench_function("format_messages chat, 3 demos", |b| {
        b.iter(|| {
            format_messages(
                Format::Chat,
                black_box(&spec),
                black_box(&demos),
                black_box(&query),
            )
        })
    });
    c.bench_function("parse_reply chat, 3 fields", |b| {
        b.iter(|| parse_reply(Format::Chat, black_box(&outs), black_box(REPLY)).unwrap())
    });
    c.bench_function("predict, instant LM, 3 demos", |b| {
        let tpl = template();
        b.iter(|| {
            futures::executor::block_on(predict(
                &Instant,
                &tpl,
                &spec,
                black_box(&demos),
                black_box(&query),
            ))
            .unwrap()
        })
    });

    let oracle: Vec<Example> = (0..1000)
        .map(|i| Example {
            fields: record(i),
            input_keys: vec!["question".into(), "passages".into()],
        })
        .collect();
    let sim = SimModel::new(&sim_decl(), oracle);
    c.bench_function("predict, sim model (1000-row oracle), 3 demos", |b| {
        let tpl = template();
        b.iter(|| {
            futures::executor::block_on(predict(
                &sim,
                &tpl,
                &spec,
                black_box(&demos),
                black_box(&query),
            ))
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
