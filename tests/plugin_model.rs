//! Plugin models: the replay model answers through the `Lm` trait; plugin
//! failures become `LmError`s (transient when the plugin says retryable),
//! malformed replies and panics are failed calls naming the plugin.

mod plugin_support;

use indexmap::IndexMap;
use plugin_support::*;
use simba_run::ir::{ModelDecl, Provider};
use simba_run::lm::{LmError, Message, Request, ResponseFormat};
use simba_run::plugin::{PluginError, PluginHost};

fn decl(name: &str, plugin: &str, item: &str, extra: serde_json::Value) -> ModelDecl {
    let provider = Provider::Plugin {
        plugin: plugin.into(),
        item: item.into(),
    };
    ModelDecl {
        extra: serde_json::from_value(extra).unwrap(),
        ..ModelDecl::new(name, provider)
    }
}

fn request(model: &str, question: &str) -> Request {
    Request {
        model: model.into(),
        messages: vec![Message::system("Be brief."), Message::user(question)],
        temperature: 0.0,
        max_tokens: None,
        seed: Some(1),
        rollout_id: None,
        response_format: ResponseFormat::Text,
        params: IndexMap::new(),
    }
}

fn transcript(dir: &std::path::Path) {
    let lines = [
        serde_json::json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
                           "text": "[[ ## answer ## ]]\n4", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
        serde_json::json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "capital of France?"}],
                           "text": "Paris"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("replay.jsonl"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_s_own_spec_dir_is_taken_from_the_spec_s_folder() {
    // `spec_dir = "sub"` in the block: the transcript is read from
    // SPEC_FOLDER/sub, whatever the working directory is.
    let lib = workspace_plugin("simba-replay");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    transcript(&dir.path().join("sub"));
    let host = PluginHost::load(&decls(&[("rp", &lib)]))
        .unwrap()
        .with_spec_dir(dir.path());
    let in_sub = serde_json::json!({"transcript": "replay.jsonl", "spec_dir": "sub"});
    let lm = host.model(&decl("m", "rp", "replay", in_sub)).unwrap();
    let r = lm.complete(&request("m", "2+2?")).await.unwrap();
    assert_eq!(r.text, "[[ ## answer ## ]]\n4");
    // Without it, the spec's folder itself, which holds no transcript.
    let plain = serde_json::json!({"transcript": "replay.jsonl"});
    let err = host.model(&decl("m", "rp", "replay", plain)).err().unwrap();
    assert!(
        err.to_string()
            .contains(&format!("{}", dir.path().join("replay.jsonl").display())),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_answers_from_its_transcript_relative_to_the_spec_dir() {
    let lib = workspace_plugin("simba-replay");
    let dir = tempfile::tempdir().unwrap();
    transcript(dir.path());
    let host = PluginHost::load(&decls(&[("rp", &lib)]))
        .unwrap()
        .with_spec_dir(dir.path());
    let lm = host
        .model(&decl(
            "local",
            "rp",
            "replay",
            serde_json::json!({"transcript": "replay.jsonl"}),
        ))
        .unwrap();
    let r = lm.complete(&request("local", "2+2?")).await.unwrap();
    assert_eq!(r.text, "[[ ## answer ## ]]\n4");
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (12, 3));
    assert!(!r.cached);
    let r = lm
        .complete(&request("local", "capital of France?"))
        .await
        .unwrap();
    assert_eq!(r.text, "Paris");
    // No recorded usage: estimated from whitespace-separated words.
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (5, 1));
    // A request not in the transcript is a non-retryable failure naming the model and plugin.
    let err = lm.complete(&request("local", "3+3?")).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "model `local`: plugin `rp` (model `replay`): no recorded response for a request ending \"3+3?\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sequential_mode_serves_records_in_order() {
    let lib = workspace_plugin("simba-replay");
    let dir = tempfile::tempdir().unwrap();
    transcript(dir.path());
    let host = PluginHost::load(&decls(&[("rp", &lib)])).unwrap();
    let path = dir.path().join("replay.jsonl");
    let lm = host
        .model(&decl(
            "seq",
            "rp",
            "replay",
            serde_json::json!({"transcript": path, "match": "sequential"}),
        ))
        .unwrap();
    let mut texts = Vec::new();
    for _ in 0..3 {
        texts.push(lm.complete(&request("seq", "anything")).await.unwrap().text);
    }
    assert_eq!(
        texts,
        ["[[ ## answer ## ]]\n4", "Paris", "[[ ## answer ## ]]\n4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_model_config_is_a_create_error() {
    let lib = workspace_plugin("simba-replay");
    let host = PluginHost::load(&decls(&[("rp", &lib)])).unwrap();
    let err = host
        .model(&decl("m", "rp", "replay", serde_json::json!({})))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "plugin `rp`: cannot create `replay`: model `m`: replay needs `transcript = \"path.jsonl\"`"
    );
    let err = host
        .model(&decl(
            "m",
            "rp",
            "replay",
            serde_json::json!({"transcript": "/nonexistent.jsonl"}),
        ))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("cannot read transcript /nonexistent.jsonl"),
        "{err}"
    );
    let mut sim = decl("m", "rp", "replay", serde_json::json!({}));
    sim.provider = Provider::Sim;
    assert!(matches!(
        host.model(&sim),
        Err(PluginError::NotAPluginModel { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_errors_become_transient_or_fatal_lm_errors() {
    let lib = fixture_crate("faulty");
    let host = PluginHost::load(&decls(&[("faulty", &lib)])).unwrap();
    let flaky = host
        .model(&decl("f", "faulty", "flaky", serde_json::json!({})))
        .unwrap();
    let err = flaky.complete(&request("f", "hi")).await.unwrap_err();
    assert_eq!(
        err,
        LmError::Transient {
            model: "f".into(),
            message: "plugin `faulty`: server busy".into(),
            retry_after_ms: None
        }
    );
    let broken = host
        .model(&decl("b", "faulty", "broken", serde_json::json!({})))
        .unwrap();
    let err = broken.complete(&request("b", "hi")).await.unwrap_err();
    assert_eq!(
        err,
        LmError::Fatal {
            model: "b".into(),
            message: "plugin `faulty` (model `broken`): bad credentials".into()
        }
    );
    // A panicking model is a failed call carrying the panic message; the
    // plugin keeps answering afterwards.
    let panics = host
        .model(&decl("p", "faulty", "panics", serde_json::json!({})))
        .unwrap();
    for _ in 0..2 {
        let err = panics.complete(&request("p", "hi")).await.unwrap_err();
        assert!(!err.is_retryable());
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "model `p`: plugin `faulty` (model `panics`): plugin panicked: index out of bounds"
            ),
            "{msg}"
        );
    }
    assert!(flaky.complete(&request("f", "hi")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_json_reply_is_a_failed_call_naming_the_plugin() {
    let lib = c_fixture("bad_json", &["MALFORMED_REPLY"]);
    let host = PluginHost::load(&decls(&[("cjson", &lib)])).unwrap();
    let lm = host
        .model(&decl("cm", "cjson", "echo", serde_json::json!({})))
        .unwrap();
    let err = lm.complete(&request("cm", "hi")).await.unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "model `cm`: plugin `cjson` (model `echo`): malformed reply: EOF while parsing"
        ),
        "{msg}"
    );
    // The well-formed variant of the same C plugin answers.
    let good = c_fixture("good_json", &[]);
    let host = PluginHost::load(&decls(&[("cgood", &good)])).unwrap();
    let lm = host
        .model(&decl("cm", "cgood", "echo", serde_json::json!({})))
        .unwrap();
    assert_eq!(
        lm.complete(&request("cm", "hi")).await.unwrap().text,
        "echo"
    );
}
