//! The quickstart spec built by hand (what `examples/quickstart/quickstart.simba`
//! compiles to), so the sim-model tests do not depend on the parser.
#![allow(dead_code)]

use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use simba_run::ir::*;
use simba_run::lm::{Lm, Models, ModelsOptions};
use simba_run::program::Example;

pub fn quickstart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

pub fn sim_decl(skill: f64) -> ModelDecl {
    ModelDecl {
        name: "sim".into(),
        provider: Provider::Sim,
        model: "sim".into(),
        base_urls: vec![],
        api_key: None,
        temperature: 0.0,
        max_tokens: None,
        timeout: Duration::from_secs(60),
        concurrency: 32,
        retries: 5,
        params: IndexMap::new(),
        oracle: Some("trivia".into()),
        skill,
        latency: Duration::ZERO,
        extra: IndexMap::new(),
    }
}

pub fn quickstart_spec() -> Spec {
    let dir = quickstart_dir();
    let sig = Signature {
        name: "Answer".into(),
        instructions: "Answer the trivia question with a short factoid.".into(),
        inputs: vec![Field {
            name: "question".into(),
            ty: FieldType::String,
            description: Some("a trivia question".into()),
        }],
        outputs: vec![Field {
            name: "answer".into(),
            ty: FieldType::String,
            description: Some("a name, often between 1 and 4 words".into()),
        }],
    };
    let graph = ProgramGraph {
        name: "qa".into(),
        lm: "sim".into(),
        inputs: sig.inputs.clone(),
        steps: vec![Step {
            name: "answer".into(),
            module: ModuleKind::Predict,
            signature: sig.clone(),
            lm: "sim".into(),
            bindings: vec![("question".into(), Source::Input("question".into()))],
        }],
        outputs: vec![(
            "answer".into(),
            Source::Step {
                step: "answer".into(),
                field: "answer".into(),
            },
        )],
        deps: vec![vec![]],
        spec_text: "signature Answer {\n  \"\"\"Answer the trivia question with a short factoid.\"\"\"\n  in  question: string \"a trivia question\"\n  out answer:   string \"a name, often between 1 and 4 words\"\n}\n\nprogram qa {\n  lm = sim\n  step answer = predict(Answer)\n  out answer = answer.answer\n}".into(),
    };
    let mut files = IndexMap::new();
    files.insert(
        "train".to_string(),
        DataFile::Jsonl("data/train.jsonl".into()),
    );
    files.insert("dev".to_string(), DataFile::Jsonl("data/dev.jsonl".into()));
    let metric = MetricDecl {
        name: "correct".into(),
        expr: MetricExpr::Call(
            Builtin::ExactMatch,
            vec![
                MetricExpr::Ref(Side::Pred, "answer".into()),
                MetricExpr::Ref(Side::Gold, "answer".into()),
            ],
        ),
        feedback: Some(vec![
            TemplatePart::Text("expected ".into()),
            TemplatePart::Ref(Side::Gold, "answer".into()),
            TemplatePart::Text(", got ".into()),
            TemplatePart::Ref(Side::Pred, "answer".into()),
        ]),
    };
    let decl = OptimizeDecl {
        program: "qa".into(),
        trainset: DataRef {
            dataset: "trivia".into(),
            split: "train".into(),
        },
        devset: Some(DataRef {
            dataset: "trivia".into(),
            split: "dev".into(),
        }),
        valset: None,
        select_on: SelectOn::Trainset,
        metric: "correct".into(),
        bsize: 15,
        num_candidates: 6,
        max_steps: 8,
        max_demos: 4,
        demo_input_field_maxlen: 100_000,
        temperature_for_sampling: 0.2,
        temperature_for_candidates: 0.2,
        strategies: vec![StrategyRef::AppendDemo, StrategyRef::AppendRule],
        prompt_model: None,
        teacher: None,
        selection: Selection::Softmax,
        resample: Resample::Rollout,
        concurrency: 16,
        seed: 0,
        stop: StopRules::default(),
        output: dir.join("out/qa"),
        cache: None,
    };
    let mut spec = Spec {
        path: dir.join("quickstart.simba"),
        base_dir: dir,
        plugins: IndexMap::new(),
        models: IndexMap::new(),
        signatures: IndexMap::new(),
        programs: IndexMap::new(),
        datasets: IndexMap::new(),
        metrics: IndexMap::new(),
        optimizes: vec![decl],
    };
    spec.models.insert("sim".into(), sim_decl(0.3));
    spec.signatures.insert("Answer".into(), sig);
    spec.programs.insert("qa".into(), graph);
    spec.datasets.insert(
        "trivia".into(),
        DatasetDecl {
            name: "trivia".into(),
            source: DatasetSource::Files(files),
            inputs: vec!["question".into()],
        },
    );
    spec.metrics.insert("correct".into(), metric);
    spec
}

/// The spec's models with the sim provider wrapped by `wrap` (to count or
/// break calls).
pub fn models_with(spec: &Spec, wrap: impl Fn(Arc<dyn Lm>) -> Arc<dyn Lm>) -> Models {
    let oracles = simba_run::optimize::runtime::oracles(spec).unwrap();
    let mut models = Models::new(ModelsOptions { cache_dir: None });
    for decl in spec.models.values() {
        let oracle: Vec<Example> = oracles[decl.oracle.as_ref().unwrap()].clone();
        let sim: Arc<dyn Lm> = Arc::new(simba_run::lm::sim::SimModel::new(decl, oracle));
        models.insert(decl, wrap(sim));
    }
    models
}
