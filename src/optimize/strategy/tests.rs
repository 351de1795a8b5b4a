//! Unit tests of the built-in strategies and the advice matching rules.

use serde_json::json;
use std::sync::Arc;

use super::append_demo::{TRUNCATION_MARKER, demo_skips, truncate_value};
use super::append_rule::{
    Blanked, apply_advice, blanked_side, feedback_inputs, feedback_outputs, feedback_values,
    rule_skips,
};
use super::*;
use crate::ir::*;
use crate::program::{Execution, Program, TraceEntry};
use crate::value::{Demo, Example};

fn sig(name: &str, i: &str, o: &str) -> Signature {
    let f = |n: &str| Field {
        name: n.into(),
        ty: FieldType::String,
        description: None,
    };
    Signature {
        name: name.into(),
        instructions: format!("Do {name}."),
        inputs: vec![f(i)],
        outputs: vec![f(o)],
    }
}

fn program(steps: &[&str]) -> Program {
    let steps: Vec<Step> = steps
        .iter()
        .map(|s| Step {
            name: s.to_string(),
            module: ModuleKind::Predict,
            signature: sig(s, "question", "answer"),
            lm: "m".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        })
        .collect();
    let n = steps.len();
    Program::baseline(Arc::new(ProgramGraph {
        name: "p".into(),
        lm: "m".into(),
        inputs: vec![],
        steps,
        outputs: vec![],
        deps: vec![vec![]; n],
        spec_text: "program p = predict(S)".into(),
    }))
}

fn traj(score: f64, step: &str, q: &str, a: &str) -> Trajectory {
    let mut inputs = Record::default();
    inputs.insert("question".into(), json!(q));
    let mut outputs = Record::default();
    outputs.insert("answer".into(), json!(a));
    Trajectory {
        program: 0,
        variant: 0,
        execution: Execution {
            prediction: Some(outputs.clone()),
            trace: vec![TraceEntry {
                step: step.into(),
                inputs,
                outputs,
            }],
            error: None,
        },
        score: Score {
            value: score,
            feedback: Some(format!("score {score}")),
        },
    }
}

fn bucket(scores: &[f64]) -> Bucket {
    let mut fields = Record::default();
    fields.insert("question".into(), json!("q1"));
    fields.insert("answer".into(), json!("gold"));
    fields.insert("topic".into(), json!("rivers"));
    Bucket {
        example_index: 3,
        example: Example {
            fields,
            input_keys: vec!["question".into()],
        },
        trajectories: scores
            .iter()
            .map(|s| traj(*s, "answer", "q1", if *s > 0.5 { "gold" } else { "bad" }))
            .collect(),
    }
}

fn ctx<'a>(b: &'a Bucket, p10: f64, p90: f64) -> StrategyContext<'a> {
    StrategyContext {
        bucket: b,
        p10,
        p90,
        seed: 1,
        step: 1,
        max_demos: 4,
        demo_input_field_maxlen: 5,
        prompt: None,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn truncation() {
    assert_eq!(truncate_value(&json!("abc"), 5), json!("abc"));
    assert_eq!(
        truncate_value(&json!("abcdefgh"), 5),
        json!(format!("abcde{TRUNCATION_MARKER}"))
    );
    // 0 means no limit.
    assert_eq!(truncate_value(&json!("abcdefgh"), 0), json!("abcdefgh"));
    // Non-strings that fit stay typed.
    assert_eq!(truncate_value(&json!(42), 5), json!(42));
}

#[test]
fn append_demo_uses_the_best_trajectory_and_truncates_inputs() {
    let b = bucket(&[1.0, 0.0]);
    let mut p = program(&["answer"]);
    let b2 = Bucket {
        trajectories: vec![
            traj(1.0, "answer", "a long question", "gold"),
            traj(0.0, "answer", "x", "y"),
        ],
        ..b
    };
    let r = rt()
        .block_on(AppendDemo.apply(&ctx(&b2, 0.0, 1.0), &mut p))
        .unwrap();
    assert!(r.applied, "{}", r.detail);
    let demos = &p.predictors["answer"].demos;
    assert_eq!(demos.len(), 1);
    assert!(demos[0].augmented);
    assert_eq!(
        demos[0].fields["question"],
        json!(format!("a lon{TRUNCATION_MARKER}"))
    );
    assert_eq!(demos[0].fields["answer"], json!("gold"));
}

#[test]
fn append_demo_skips_below_p10() {
    let b = bucket(&[0.2, 0.0]);
    let mut p = program(&["answer"]);
    let before = p.clone();
    let r = rt()
        .block_on(AppendDemo.apply(&ctx(&b, 0.3, 1.0), &mut p))
        .unwrap();
    assert!(!r.applied);
    assert!(r.detail.contains("10th percentile"), "{}", r.detail);
    assert_eq!(p, before);
}

#[test]
fn append_demo_skips_at_p10_inclusive() {
    // The boundary itself skips (DSPy: `good["score"] <= batch_10p_score`).
    assert!(demo_skips(0.0, 0.0));
    assert!(demo_skips(0.5, 0.5));
    assert!(!demo_skips(0.500_001, 0.5));
    assert!(!demo_skips(1.0, 0.0));
    // With 0/1 scores and p10 = 0, a bucket whose best run scored 0 gives no demo.
    let b = bucket(&[0.0, 0.0]);
    let mut p = program(&["answer"]);
    let before = p.clone();
    let r = rt()
        .block_on(AppendDemo.apply(&ctx(&b, 0.0, 1.0), &mut p))
        .unwrap();
    assert!(!r.applied);
    assert_eq!(
        r.detail,
        "best score 0 is at or below the batch's 10th percentile 0"
    );
    assert_eq!(p, before);
    // Just above the boundary: applied.
    let b = bucket(&[0.3, 0.0]);
    let r = rt()
        .block_on(AppendDemo.apply(&ctx(&b, 0.25, 1.0), &mut p))
        .unwrap();
    assert!(r.applied, "{}", r.detail);
    assert_eq!(p.predictors["answer"].demos.len(), 1);
}

#[test]
fn append_rule_skips_at_p10_and_p90_inclusive() {
    // best == p10 skips; worst == p90 skips (DSPy: `<=` and `>=`).
    assert!(rule_skips(0.0, 0.0, 0.0, 1.0));
    assert!(rule_skips(1.0, 1.0, 0.0, 1.0));
    assert!(rule_skips(0.2, 0.0, 0.2, 1.0));
    assert!(rule_skips(1.0, 0.8, 0.0, 0.8));
    // Strictly inside on both sides: advice is asked for.
    assert!(!rule_skips(1.0, 0.0, 0.0, 1.0));
    assert!(!rule_skips(0.21, 0.79, 0.2, 0.8));
    // Runs that all scored the same within (p10, p90): not skipped, and the
    // better side is blanked (the score is not above p90).
    assert!(!rule_skips(0.5, 0.5, 0.2, 0.8));
    assert_eq!(blanked_side(0.5, 0.5, 0.8), Blanked::Better);
    assert_eq!(blanked_side(0.9, 0.9, 0.8), Blanked::Worse);
    assert_eq!(blanked_side(0.8, 0.8, 0.8), Blanked::Better);
    assert_eq!(blanked_side(1.0, 0.0, 0.8), Blanked::Neither);

    let mut p = program(&["answer"]);
    let before = p.clone();
    for (scores, p10, p90) in [
        (vec![0.0, 0.0], 0.0, 1.0),
        (vec![1.0, 1.0], 0.0, 1.0),
        (vec![1.0, 0.5], 0.0, 0.5),
        (vec![0.4, 0.0], 0.4, 1.0),
    ] {
        let b = bucket(&scores);
        let r = rt()
            .block_on(AppendRule.apply(&ctx(&b, p10, p90), &mut p))
            .unwrap();
        assert!(!r.applied, "{scores:?} p10 {p10} p90 {p90}");
        assert!(r.detail.contains("at or below"), "{}", r.detail);
        assert_eq!(p, before);
    }
    // Inside on both sides: it goes on to ask (no prompt model here: an error).
    let b = bucket(&[0.41, 0.0]);
    assert!(
        rt().block_on(AppendRule.apply(&ctx(&b, 0.4, 1.0), &mut p))
            .is_err()
    );
}

#[test]
fn append_demo_keeps_the_last_call_of_each_step() {
    let mut t = traj(1.0, "answer", "first", "a1");
    let mut second = t.execution.trace[0].clone();
    second.inputs.insert("question".into(), json!("last"));
    t.execution.trace.push(second);
    let b = Bucket {
        trajectories: vec![t],
        ..bucket(&[1.0])
    };
    let mut p = program(&["answer"]);
    let mut c = ctx(&b, 0.0, 1.0);
    c.demo_input_field_maxlen = 0;
    rt().block_on(AppendDemo.apply(&c, &mut p)).unwrap();
    assert_eq!(p.predictors["answer"].demos.len(), 1);
    assert_eq!(
        p.predictors["answer"].demos[0].fields["question"],
        json!("last")
    );
}

#[test]
fn append_rule_skip_rules() {
    let mut p = program(&["answer"]);
    // worst above p90
    let b = bucket(&[1.0, 0.95]);
    let r = rt()
        .block_on(AppendRule.apply(&ctx(&b, 0.0, 0.9), &mut p))
        .unwrap();
    assert!(!r.applied);
    // best below p10
    let b = bucket(&[0.1, 0.0]);
    let r = rt()
        .block_on(AppendRule.apply(&ctx(&b, 0.2, 1.0), &mut p))
        .unwrap();
    assert!(!r.applied);
    // in range but no prompt model: an error (the engine falls back)
    let b = bucket(&[1.0, 0.0]);
    assert!(
        rt().block_on(AppendRule.apply(&ctx(&b, 0.0, 1.0), &mut p))
            .is_err()
    );
}

#[test]
fn advice_matching() {
    // Case-insensitive, several predictors, unmatched kept.
    let mut p = program(&["query", "answer"]);
    let advice = json!({"Answer": "name the river", "QUERY": "use keywords", "self": "lost?"});
    let (advised, unmatched) = apply_advice(&mut p, advice.as_object().unwrap());
    assert_eq!(advised, ["answer", "query"]);
    assert_eq!(
        p.predictors["answer"].instructions,
        "Do answer.\n\nname the river"
    );
    assert_eq!(
        p.predictors["query"].instructions,
        "Do query.\n\nuse keywords"
    );
    assert_eq!(unmatched.get("self").map(String::as_str), Some("lost?"));

    // One predictor: any single key applies to it.
    let mut p = program(&["answer"]);
    let advice = json!({"self": "think of the topic"});
    let (advised, unmatched) = apply_advice(&mut p, advice.as_object().unwrap());
    assert_eq!(advised, ["answer"]);
    assert!(unmatched.is_empty());
    assert_eq!(
        p.predictors["answer"].instructions,
        "Do answer.\n\nthink of the topic"
    );

    // Empty instructions still get the blank line, as DSPy joins them.
    let mut p = program(&["answer"]);
    p.predictors["answer"].instructions = String::new();
    let advice = json!({"answer": "  name the river \n"});
    apply_advice(&mut p, advice.as_object().unwrap());
    assert_eq!(p.predictors["answer"].instructions, "\n\nname the river");

    // Nothing matches with several predictors: nothing changes.
    let mut p = program(&["query", "answer"]);
    let before = p.clone();
    let advice = json!({"module": "x"});
    let (advised, unmatched) = apply_advice(&mut p, advice.as_object().unwrap());
    assert!(advised.is_empty());
    assert_eq!(unmatched.len(), 1);
    assert_eq!(p, before);
}

#[test]
fn feedback_request_fields_and_blanking() {
    let names: Vec<String> = feedback_inputs().into_iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "program",
            "predictors",
            "example_inputs",
            "example_labels",
            "worse_trajectory",
            "worse_outputs",
            "worse_score",
            "worse_feedback",
            "better_trajectory",
            "better_outputs",
            "better_score",
            "better_feedback"
        ]
    );
    let outs: Vec<String> = feedback_outputs().into_iter().map(|f| f.name).collect();
    assert_eq!(outs, ["analysis", "advice"]);

    let p = program(&["answer"]);
    let b = bucket(&[1.0, 0.0]);
    let v = feedback_values(&ctx(&b, 0.0, 1.0), &p);
    assert_eq!(v["better_score"], json!(1.0));
    assert_eq!(v["worse_score"], json!(0.0));
    assert_eq!(v["example_inputs"], json!({"question": "q1"}));
    assert_eq!(
        v["example_labels"],
        json!({"answer": "gold", "topic": "rivers"})
    );
    assert_eq!(v["better_trajectory"][0]["predictor"], json!("answer"));
    assert_eq!(v["predictors"][0]["name"], json!("answer"));
    assert_eq!(v["program"], json!("program p = predict(S)"));

    // All equal and low: the better side is blanked.
    let b = bucket(&[0.0, 0.0]);
    let v = feedback_values(&ctx(&b, 0.0, 1.0), &p);
    assert_eq!(v["better_trajectory"], json!([]));
    assert_eq!(v["better_score"], serde_json::Value::Null);
    assert_eq!(v["worse_score"], json!(0.0));
    // All equal and above p90: the worse side is blanked.
    let b = bucket(&[1.0, 1.0]);
    let v = feedback_values(&ctx(&b, 0.0, 0.9), &p);
    assert_eq!(v["worse_trajectory"], json!([]));
    assert_eq!(v["better_score"], json!(1.0));
}

#[test]
fn demo_type_is_dspy_shaped() {
    let mut f = Record::default();
    f.insert("q".into(), json!("x"));
    let d = crate::artifacts::demo_json(&Demo {
        fields: f,
        augmented: true,
    });
    assert_eq!(
        serde_json::to_value(d).unwrap(),
        json!({"q": "x", "augmented": true})
    );
}
