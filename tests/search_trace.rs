//! A `search` step is traced like any step: the trajectories append_rule
//! shows the prompt model carry its query and passages, and the predictors
//! listed there (the ones advice may be addressed to) are only the LM steps.

mod common;

use async_trait::async_trait;
use std::sync::{Arc, Mutex};

use simba_run::lm::{Lm, LmError, ModelSet, Request, Response};
use simba_run::optimize::runtime::{load_data, prepare_with};
use simba_run::optimize::{EventSink, builtin_strategies, optimize};
use simba_run::project::{LoadOptions, Project};

/// Records every request on its way to the sim model.
struct Recording {
    inner: Arc<dyn Lm>,
    seen: Arc<Mutex<Vec<Request>>>,
}

#[async_trait]
impl Lm for Recording {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.seen.lock().unwrap().push(request.clone());
        self.inner.complete(request).await
    }
}

#[test]
fn advice_requests_show_the_search_steps_of_each_trajectory() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/multihop/multihop.simba");
    let sets = [
        "multihop.max_steps=1".to_string(),
        "multihop.bsize=6".into(),
    ];
    let project = Project::load(&path, &LoadOptions::with_sets(&sets, None).unwrap()).unwrap();
    let spec = &project.spec;
    let decl = spec.optimizes[0].clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let models = common::sim::models_with(spec, |inner| {
        Arc::new(Recording {
            inner,
            seen: seen.clone(),
        })
    });
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let corpora = Arc::new(project.corpora("multihop", None, None).unwrap());
    let strategies = builtin_strategies(&[simba_run::ir::StrategyRef::AppendRule]).unwrap();
    let (train, dev) = load_data(spec, &decl).unwrap();
    let input = prepare_with(
        spec,
        &decl,
        models,
        corpora.clone(),
        strategies,
        train,
        dev,
        EventSink::none(),
        Vec::new(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(optimize(input)).unwrap();

    let seen = seen.lock().unwrap();
    let advice: Vec<&str> = seen
        .iter()
        .filter(|r| r.messages[0].content.contains("`advice`"))
        .map(|r| r.messages.last().unwrap().content.as_str())
        .collect();
    assert!(!advice.is_empty(), "append_rule asked for no advice");
    // Every trajectory lists the five steps in order, searches included,
    // with the query a search was given and the passages it returned.
    let with_search = advice
        .iter()
        .filter(|text| {
            let order = [
                "\"query1\"",
                "\"hop1\"",
                "\"query2\"",
                "\"hop2\"",
                "\"answer\"",
            ]
            .map(|s| text.find(&format!("\"predictor\":{s}")));
            order.iter().all(Option::is_some) && order.is_sorted()
        })
        .count();
    assert!(
        with_search > 0,
        "no trajectory shows the search steps: {}",
        advice[0]
    );
    assert!(advice.iter().all(|t| t.contains("\"passages\":[")));
    // Advice can be addressed to predictors only.
    for text in &advice {
        let predictors = &text[text.find("[[ ## predictors ## ]]").unwrap()..];
        let predictors = &predictors[..predictors.find("[[ ## example_inputs").unwrap()];
        assert!(
            predictors.contains("\"query2\"") && !predictors.contains("\"hop1\""),
            "{predictors}"
        );
    }
    assert!(corpora.usage().models["wiki"].calls > 0);
}
