//! Plugin strategies: the example strategies modify programs, call the host
//! LM, draw reproducible random numbers; the C strategy works; a panicking
//! strategy is an error carrying the panic message and the host keeps working.

mod plugin_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use plugin_support::*;
use simba_run::lm::ModelSet;
use simba_run::plugin::{HostServices, PluginError, PluginHost, StrategyReply};
use tokio::runtime::Handle;

fn extras() -> PluginHost {
    let lib = workspace_plugin("simba-extras");
    PluginHost::load(&decls(&[("extras", &lib)])).unwrap()
}

fn applied(reply: StrategyReply) -> (simba_run::plugin::ProgramState, Option<String>) {
    match reply {
        StrategyReply::Applied { program, note } => (program, note),
        StrategyReply::Skipped { reason } => panic!("expected applied, skipped: {reason}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_demo_replaces_the_demo_matching_the_worst_trajectory() {
    let host = extras();
    let s = host
        .strategy("extras", "swap_demo", &serde_json::json!({}))
        .unwrap();
    assert_eq!(s.name(), "extras.swap_demo");
    let mut request = sample_request(4);
    // Make demo 2 show the worst trajectory's inputs: it is the weakest.
    let weak = &mut request.program.predictors[1].demos[2].fields;
    weak.insert("question".into(), "What is 2+2?".into());
    weak.insert("draft".into(), "draft of 5".into());
    let (program, note) = applied(
        s.apply(request, HostServices::without_models(1))
            .await
            .unwrap(),
    );
    assert_eq!(note.as_deref(), Some("swapped a demo in draft, answer"));
    // `draft` had room: the best step is appended.
    let draft = &program.predictors[0].demos;
    assert_eq!(draft.len(), 1);
    assert_eq!(draft[0].fields["draft"], "draft of 4");
    assert!(draft[0].augmented);
    // `answer` was full (max_demos = 4): demo 2 was replaced, the others kept.
    let answer = &program.predictors[1].demos;
    assert_eq!(answer.len(), 4);
    assert_eq!(answer[2].fields["answer"], "4");
    assert_eq!(answer[2].fields["draft"], "draft of 4");
    assert_eq!(answer[0].fields["answer"], "a0");
    assert_eq!(answer[3].fields["answer"], "a3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_demo_skips_a_bucket_without_contrast() {
    let host = extras();
    let s = host
        .strategy("extras", "swap_demo", &serde_json::json!({}))
        .unwrap();
    let mut request = sample_request(0);
    for t in &mut request.bucket {
        t.score = 0.5;
    }
    let reply = s
        .apply(request, HostServices::without_models(1))
        .await
        .unwrap();
    assert_eq!(
        reply,
        StrategyReply::Skipped {
            reason: "no contrast: every trajectory scored 0.5".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contrast_rewrite_calls_the_host_lm_and_is_counted() {
    let host = extras();
    let s = host
        .strategy(
            "extras",
            "contrast_rewrite",
            &serde_json::json!({"predictor": "answer"}),
        )
        .unwrap();
    let models = FakeModels::new("prompter", "  Give only the number.\n");
    let services = HostServices::new(models.clone() as Arc<dyn ModelSet>, Handle::current(), 9);
    let (program, note) = applied(s.apply(sample_request(2), services.clone()).await.unwrap());
    assert_eq!(program.predictors[1].instructions, "Give only the number.");
    assert_eq!(program.predictors[0].instructions, "Draft an answer.");
    assert_eq!(
        note.as_deref(),
        Some("rewrote the instructions of `answer`")
    );
    // The model saw the contrast and got its own settings from the template.
    assert_eq!(models.lm.calls.load(Ordering::SeqCst), 1);
    let sent = models.lm.requests.lock().unwrap()[0].clone();
    assert_eq!(sent.model, "prompter");
    assert_eq!(sent.temperature, 0.7);
    assert_eq!(sent.max_tokens, Some(256));
    let prompt = &sent.messages[0].content;
    assert!(prompt.contains("Answer the question."), "{prompt}");
    assert!(prompt.contains("score: 1\n"), "{prompt}");
    assert!(prompt.contains("feedback: wrong answer"), "{prompt}");
    // Counted by the host.
    let stats = services.stats();
    assert_eq!(stats.lm_calls(), 1);
    assert_eq!(stats.lm_failures(), 0);
    assert_eq!(stats.usage().prompt_tokens, 11);
    assert_eq!(stats.usage().completion_tokens, 7);
    assert_eq!(stats.logs(), ["debug: rewrote `answer` via `prompter`"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_model_in_the_lm_callback_is_a_plugin_error() {
    let host = extras();
    let s = host
        .strategy(
            "extras",
            "contrast_rewrite",
            &serde_json::json!({"model": "nobody"}),
        )
        .unwrap();
    let models = FakeModels::new("prompter", "x");
    let services = HostServices::new(models.clone() as Arc<dyn ModelSet>, Handle::current(), 9);
    let err = s.apply(sample_request(0), services).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `extras`: `contrast_rewrite` failed: prompt model `nobody` failed: no model named `nobody` in the spec"
    );
    assert_eq!(models.lm.calls.load(Ordering::SeqCst), 0);
    // Without models at all, the callback refuses rather than hangs.
    let err = s
        .apply(sample_request(0), HostServices::without_models(0))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the host offers no LM calls here"),
        "{err}"
    );
}

async fn shuffled(host: &PluginHost, seed: u64) -> Vec<String> {
    let s = host
        .strategy("extras", "shuffle_demos", &serde_json::json!({}))
        .unwrap();
    let services = HostServices::without_models(seed);
    let (program, _) = applied(s.apply(sample_request(8), services.clone()).await.unwrap());
    assert_eq!(
        services.stats().random_draws(),
        7,
        "Fisher-Yates on 8 demos"
    );
    program.predictors[1]
        .demos
        .iter()
        .map(|d| d.fields["answer"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_random_draws_are_reproducible_from_the_seed() {
    let host = extras();
    let a = shuffled(&host, 42).await;
    let b = shuffled(&host, 42).await;
    let c = shuffled(&host, 43).await;
    assert_eq!(a, b, "same seed, same draws");
    assert_ne!(a, c, "another seed, other draws");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..8).map(|i| format!("a{i}")).collect::<Vec<_>>());
    assert_ne!(a, sorted, "the demos were actually reordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_with_per_call_seeds_match_sequential_ones() {
    let host = extras().with_max_concurrent_calls(3);
    let s = host
        .strategy("extras", "shuffle_demos", &serde_json::json!({}))
        .unwrap();
    let mut sequential = Vec::new();
    for seed in 0..8 {
        sequential.push(
            s.apply(sample_request(6), HostServices::without_models(seed))
                .await
                .unwrap(),
        );
    }
    let concurrent = futures::future::join_all(
        (0..8).map(|seed| s.apply(sample_request(6), HostServices::without_models(seed))),
    )
    .await;
    let concurrent: Vec<_> = concurrent.into_iter().map(Result::unwrap).collect();
    assert_eq!(sequential, concurrent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_strategy_is_an_error_with_the_panic_message_and_the_host_keeps_working() {
    let faulty = fixture_crate("faulty");
    let extras_lib = workspace_plugin("simba-extras");
    let host = PluginHost::load(&decls(&[("faulty", &faulty), ("extras", &extras_lib)])).unwrap();
    let panics = host
        .strategy("faulty", "panics", &serde_json::json!({}))
        .unwrap();
    for _ in 0..2 {
        let err = panics
            .apply(sample_request(1), HostServices::without_models(0))
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Call { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "plugin `faulty`: `panics` failed: plugin panicked: deliberate failure at step 3"
        );
    }
    // A strategy error (not a panic) comes back the same way.
    let refuses = host
        .strategy("faulty", "refuses", &serde_json::json!({"ok": true}))
        .unwrap();
    let err = refuses
        .apply(sample_request(1), HostServices::without_models(0))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `faulty`: `refuses` failed: refused on purpose"
    );
    // The host and other plugins still work.
    let swap = host
        .strategy("extras", "swap_demo", &serde_json::json!({}))
        .unwrap();
    applied(
        swap.apply(sample_request(1), HostServices::without_models(0))
            .await
            .unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_strategy_prefixes_every_predictor() {
    let lib = c_plugin(
        &repo().join("plugins/c-example/prefix_rule.c"),
        "prefix_rule",
        &[],
    );
    let host = PluginHost::load(&decls(&[("cex", &lib)])).unwrap();
    assert_eq!(host.manifest("cex").unwrap().strategies, ["prefix_rule"]);
    let s = host
        .strategy(
            "cex",
            "prefix_rule",
            &serde_json::json!({"text": "Be \"exact\"."}),
        )
        .unwrap();
    let services = HostServices::without_models(0);
    let request = sample_request(3);
    let (program, note) = applied(s.apply(request.clone(), services.clone()).await.unwrap());
    assert_eq!(note.as_deref(), Some("prefixed a rule"));
    assert_eq!(
        program.predictors[0].instructions,
        "Be \"exact\". Draft an answer."
    );
    assert_eq!(
        program.predictors[1].instructions,
        "Be \"exact\". Answer the question."
    );
    // Everything else is untouched.
    assert_eq!(
        program.predictors[1].demos,
        request.program.predictors[1].demos
    );
    assert_eq!(
        program.predictors[1].outputs,
        request.program.predictors[1].outputs
    );
    assert_eq!(services.stats().logs(), ["debug: prefix_rule applied"]);
    // Applied again, it skips.
    let mut again = request.clone();
    again.program = program;
    let reply = s.apply(again, services).await.unwrap();
    assert_eq!(
        reply,
        StrategyReply::Skipped {
            reason: "every predictor already has the rule".into()
        }
    );
    // Default rule without config.
    let s = host
        .strategy("cex", "prefix_rule", &serde_json::json!({}))
        .unwrap();
    let (program, _) = applied(
        s.apply(request, HostServices::without_models(0))
            .await
            .unwrap(),
    );
    assert_eq!(
        program.predictors[0].instructions,
        "Answer concisely. Draft an answer."
    );
}
