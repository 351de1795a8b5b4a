//! `Models::from_spec`: which providers it builds and how they are wrapped.

mod lm_support;

use indexmap::IndexMap;
use lm_support::{Server, ask, decl};
use serde_json::json;
use simba_run::adapter::{Format, PredictSpec, format_messages, parse_reply};
use simba_run::ir::{Field, FieldType, ModelDecl, Provider, Setting, Spec};
use simba_run::lm::{ModelError, ModelSet, Models, ModelsOptions};
use simba_run::value::{Example, Record};
use std::path::PathBuf;

fn spec(models: Vec<ModelDecl>) -> Spec {
    Spec {
        path: PathBuf::from("t.simba"),
        base_dir: PathBuf::from("."),
        plugins: IndexMap::new(),
        models: models.into_iter().map(|m| (m.name.clone(), m)).collect(),
        signatures: IndexMap::new(),
        programs: IndexMap::new(),
        datasets: IndexMap::new(),
        metrics: IndexMap::new(),
        corpora: IndexMap::new(),
        optimizes: Vec::new(),
    }
}

fn sim_decl(name: &str, oracle: Option<&str>) -> ModelDecl {
    let mut d = decl(name, &[]);
    d.provider = Provider::Sim;
    d.oracle = oracle.map(str::to_string);
    d.skill = 1.0;
    d
}

fn oracles() -> IndexMap<String, Vec<Example>> {
    let rows = (0..4)
        .map(|i| {
            let fields: Record = [
                ("question".to_string(), json!(format!("What is item {i}?"))),
                ("answer".to_string(), json!(format!("item-{i}"))),
            ]
            .into_iter()
            .collect();
            Example {
                fields,
                input_keys: vec!["question".into()],
            }
        })
        .collect();
    [("trivia".to_string(), rows)].into_iter().collect()
}

fn field(name: &str) -> Field {
    Field {
        name: name.into(),
        ty: FieldType::String,
        description: None,
    }
}

/// The entries in the cache folder `dir`, once `models` committed them.
fn cached_entries(models: &Models, dir: &std::path::Path) -> u64 {
    models.cache().unwrap().flush();
    simba_run::lm::cache::admin::stats(dir).unwrap().entries()
}

#[tokio::test]
async fn builds_openai_and_sim_models_with_their_layers() {
    let server = Server::start().await;
    let var = "SIMBA_TEST_REGISTRY_BASE_URL";
    // SAFETY: the variable name is unique to this test.
    unsafe { std::env::set_var(var, &server.base_url) };
    let mut remote = decl("remote", &[]);
    remote.base_urls = vec![Setting::Env {
        var: var.into(),
        default: Some("http://127.0.0.1:9/v1".into()),
    }];
    let dir = tempfile::tempdir().unwrap();
    let models = simba_run::models::from_spec(
        &spec(vec![remote, sim_decl("offline", Some("trivia"))]),
        &oracles(),
        ModelsOptions {
            cache_dir: Some(dir.path().to_path_buf()),
        },
    )
    .unwrap();
    assert_eq!(models.names().collect::<Vec<_>>(), ["remote", "offline"]);

    // The openai model reaches the URL read from the environment, cached.
    let lm = models.lm("remote").unwrap();
    lm.complete(&ask("remote", "q")).await.unwrap();
    assert!(lm.complete(&ask("remote", "q")).await.unwrap().cached);
    assert_eq!(server.count(), 1);
    assert_eq!(cached_entries(&models, dir.path()), 1);

    // The sim model answers adapter prompts from its oracle (skill 1.0:
    // always right), and is not cached.
    let (ins, outs) = ([field("question")], [field("answer")]);
    let predict = PredictSpec {
        instructions: "",
        inputs: &ins,
        outputs: &outs,
    };
    let mut request = models.template("offline").unwrap();
    let inputs: Record = [("question".to_string(), json!("What is item 2?"))]
        .into_iter()
        .collect();
    request.messages = format_messages(Format::Chat, &predict, &[], &inputs);
    let sim = models.lm("offline").unwrap();
    for _ in 0..2 {
        let reply = sim.complete(&request).await.unwrap();
        assert!(!reply.cached);
        let parsed = parse_reply(Format::Chat, &outs, &reply.text).unwrap();
        assert_eq!(parsed["answer"], json!("item-2"));
    }
    assert_eq!(cached_entries(&models, dir.path()), 1);

    let usage = models.usage();
    assert_eq!(
        usage.models.keys().collect::<Vec<_>>(),
        ["remote", "offline"]
    );
    assert_eq!(
        (
            usage.models["remote"].calls,
            usage.models["remote"].requests
        ),
        (2, 1)
    );
    assert_eq!(
        (
            usage.models["offline"].calls,
            usage.models["offline"].requests
        ),
        (2, 2)
    );
    assert_eq!(usage.total.calls, 4);
    assert_eq!(usage.total.requests, 2 + 1);
    assert_eq!(
        usage.total.prompt_tokens,
        usage.models["remote"].prompt_tokens + usage.models["offline"].prompt_tokens
    );
}

#[test]
fn unsupported_providers_and_missing_settings_name_the_model() {
    let build = |d: ModelDecl| {
        simba_run::models::from_spec(&spec(vec![d]), &oracles(), ModelsOptions::default())
            .unwrap_err()
    };
    let mut local = decl("tiny", &[]);
    local.provider = Provider::Local;
    // Without the feature the error says how to get it; with it, the model
    // item has no `path` to load.
    let message = build(local).to_string();
    assert!(message.starts_with("model `tiny`: "), "{message}");
    if cfg!(feature = "local") {
        assert!(message.contains("path"), "{message}");
    } else {
        assert!(
            message.contains(
                "built without the `local` feature: cargo build --release --features local"
            ),
            "{message}"
        );
    }

    let mut plugin = decl("ext", &[]);
    plugin.provider = Provider::Plugin {
        plugin: "extras".into(),
        item: "echo".into(),
    };
    let err = build(plugin);
    assert!(matches!(err, ModelError::Unsupported { .. }));
    assert!(
        err.to_string()
            .starts_with("model `ext`: plugin model `extras.echo`"),
        "{err}"
    );

    assert_eq!(
        build(sim_decl("offline", Some("quiz"))),
        ModelError::MissingOracle {
            model: "offline".into(),
            dataset: "quiz".into()
        }
    );
    assert_eq!(
        build(decl("remote", &[])).to_string(),
        "model `remote`: provider \"openai\" needs a `base_url`"
    );
    let mut unset = decl("remote", &[]);
    unset.base_urls = vec![Setting::Env {
        var: "SIMBA_TEST_REGISTRY_UNSET".into(),
        default: None,
    }];
    assert_eq!(
        build(unset).to_string(),
        "model `remote`: base_url: environment variable `SIMBA_TEST_REGISTRY_UNSET` is not set and has no default"
    );
    // A sim model with no oracle is fine (it knows no labels).
    simba_run::models::from_spec(
        &spec(vec![sim_decl("blank", None)]),
        &IndexMap::new(),
        ModelsOptions::default(),
    )
    .unwrap();
}

#[test]
fn settings_resolve_from_literal_env_and_default() {
    let var = "SIMBA_TEST_SETTING_RESOLVE";
    let env = |default: Option<&str>| Setting::Env {
        var: var.into(),
        default: default.map(str::to_string),
    };
    assert_eq!(Setting::Literal("x".into()).resolve().unwrap(), "x");
    assert_eq!(env(Some("d")).resolve().unwrap(), "d");
    assert_eq!(
        env(None).resolve().unwrap_err().to_string(),
        format!("environment variable `{var}` is not set and has no default")
    );
    // SAFETY: the variable name is unique to this test.
    unsafe { std::env::set_var(var, "") };
    assert_eq!(env(Some("d")).resolve().unwrap(), "d");
    unsafe { std::env::set_var(var, "from-env") };
    assert_eq!(env(Some("d")).resolve().unwrap(), "from-env");
    assert_eq!(env(None).resolve().unwrap(), "from-env");
}
