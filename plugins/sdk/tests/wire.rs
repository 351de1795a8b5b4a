//! The JSON wire format other languages rely on, pinned.

use serde_json::json;
use simba_plugin_sdk::*;

#[test]
fn strategy_replies_are_tagged_by_outcome() {
    let skipped = StrategyReply::Skipped {
        reason: "no contrast".into(),
    };
    assert_eq!(
        serde_json::to_value(&skipped).unwrap(),
        json!({"outcome": "skipped", "reason": "no contrast"})
    );
    let applied: StrategyReply = serde_json::from_value(json!({
        "outcome": "applied",
        "program": {"predictors": [{"name": "a", "instructions": "x"}]}
    }))
    .unwrap();
    match applied {
        StrategyReply::Applied { program, note } => {
            assert_eq!(program.predictors[0].name, "a");
            assert!(program.predictors[0].demos.is_empty());
            assert_eq!(note, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn model_replies_are_tagged_by_status() {
    let ok = ModelReply::Ok(ModelResponse {
        text: "4".into(),
        usage: Usage {
            prompt_tokens: 3,
            completion_tokens: 1,
        },
    });
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"status": "ok", "text": "4", "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    );
    let err: ModelReply =
        serde_json::from_value(json!({"status": "error", "message": "busy", "retryable": true}))
            .unwrap();
    assert_eq!(err, ModelReply::Error(ModelError::retryable("busy")));
    // `retryable` defaults to false; `usage` to zero.
    let err: ModelReply =
        serde_json::from_value(json!({"status": "error", "message": "no"})).unwrap();
    assert_eq!(err, ModelReply::Error(ModelError::fatal("no")));
    let ok: ModelReply = serde_json::from_value(json!({"status": "ok", "text": "t"})).unwrap();
    assert_eq!(
        ok,
        ModelReply::Ok(ModelResponse {
            text: "t".into(),
            usage: Usage::default()
        })
    );
}

#[test]
fn model_requests_accept_the_minimal_form() {
    let r: ModelRequest =
        serde_json::from_value(json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
    assert_eq!(r.messages, [Message::new("user", "hi")]);
    assert_eq!(r.temperature, None);
    assert_eq!(r.response_format, ResponseFormat::Text);
    let r: ModelRequest = serde_json::from_value(json!({
        "messages": [], "response_format": "json_object", "temperature": 0.5, "rollout_id": 2
    }))
    .unwrap();
    assert_eq!(r.response_format, ResponseFormat::JsonObject);
    assert_eq!((r.temperature, r.rollout_id), (Some(0.5), Some(2)));
}

#[test]
fn field_specs_use_type_as_the_key() {
    let f = FieldSpec {
        name: "n".into(),
        ty: "list<int>".into(),
        description: None,
    };
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        json!({"name": "n", "type": "list<int>", "description": null})
    );
}

#[test]
fn host_without_services_reports_them_unavailable() {
    let host = Host::none();
    assert_eq!(host.next_u64(), Err(Unavailable("next_u64")));
    let err = host.call_lm("m", &ModelRequest::default()).unwrap_err();
    assert_eq!(err.message, "the host does not provide `call_lm`");
    host.log(Level::Info, "dropped");
}

#[test]
fn buffers_round_trip() {
    let b = abi::SimbaBuffer::from_vec(b"hello".to_vec());
    assert_eq!(b.len, 5);
    // SAFETY: made by from_vec above, freed once.
    unsafe {
        assert_eq!(b.to_vec(), b"hello");
        b.free();
    }
    let e = abi::SimbaBuffer::from_vec(Vec::new());
    assert!(e.ptr.is_null());
    unsafe { e.free() };
}

#[test]
fn a_manifest_from_abi_1_0_reads_with_no_tools_or_metrics() {
    let old: Manifest = serde_json::from_value(json!({
        "name": "old", "version": "1.0.0", "strategies": ["s"], "models": [], "features": []
    }))
    .unwrap();
    assert!(old.tools.is_empty() && old.metrics.is_empty());
    let new: Manifest = serde_json::from_value(json!({
        "name": "new", "version": "1.1.0",
        "tools": [{"name": "join", "inputs": [{"name": "a", "type": "string"}],
                   "outputs": [{"name": "text", "type": "list<string>"}]}],
        "metrics": ["rubric"]
    }))
    .unwrap();
    assert_eq!(new.tools[0].outputs[0].ty, "list<string>");
    assert_eq!(new.metrics, ["rubric"]);
}

#[test]
fn declared_config_keys_are_optional_in_the_manifest() {
    let old: Manifest = serde_json::from_value(json!({
        "name": "old", "version": "1.0.0", "strategies": ["s"]
    }))
    .unwrap();
    assert_eq!(old.config_keys("strategy", "s"), None);
    assert!(!serde_json::to_string(&old).unwrap().contains("config"));
    let new: Manifest = serde_json::from_value(json!({
        "name": "new", "version": "1.1.0", "strategies": ["s", "t"],
        "config": [
            {"kind": "strategy", "item": "s",
             "keys": [{"name": "max_swaps", "type": "int", "doc": "cap"}, {"name": "x", "type": "json"}]},
            {"kind": "strategy", "item": "t", "keys": []}
        ]
    }))
    .unwrap();
    let keys = new.config_keys("strategy", "s").unwrap();
    assert_eq!(keys[0], ConfigKey::new("max_swaps", "int", "cap"));
    assert_eq!(keys[1].doc, None);
    assert_eq!(new.config_keys("strategy", "t"), Some(&[][..]));
    assert_eq!(new.config_keys("tool", "s"), None);
}

#[test]
fn metric_scores_leave_out_missing_feedback() {
    let s = MetricScore {
        score: 0.5,
        feedback: None,
    };
    assert_eq!(serde_json::to_value(&s).unwrap(), json!({"score": 0.5}));
    let back: MetricScore = serde_json::from_value(json!({"score": 1, "feedback": "ok"})).unwrap();
    assert_eq!(back.feedback.as_deref(), Some("ok"));
    let req: MetricRequest =
        serde_json::from_value(json!({"pred": {"answer": "a"}, "gold": {"answer": "b"}})).unwrap();
    assert_eq!(req.gold["answer"], "b");
    let reply = ToolReply {
        outputs: serde_json::from_value(json!({"text": "x"})).unwrap(),
    };
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"outputs": {"text": "x"}})
    );
}
