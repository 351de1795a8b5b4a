//! The IR the compiler builds for valid specs: defaults, resolution, graphs, overrides.

use simba_run::compile::{Override, compile_source};
use simba_run::ir::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn compile_with(path: &str, overrides: &[Override]) -> Spec {
    let src = std::fs::read_to_string(path).unwrap();
    match compile_source(Path::new(path), &src, overrides) {
        Ok((spec, _)) => spec,
        Err(d) => panic!("{d:#?}"),
    }
}

fn compile(path: &str) -> Spec {
    compile_with(path, &[])
}

#[test]
fn models_get_their_values_and_defaults() {
    let spec = compile("tests/fixtures/full.simba");
    let fast = &spec.models["fast"];
    assert_eq!(fast.provider, Provider::OpenAi);
    assert_eq!(fast.model, "gpt-4o-mini");
    assert_eq!(fast.base_urls.len(), 2);
    assert_eq!(
        fast.api_key,
        Some(Setting::Env {
            var: "OPENAI_API_KEY".into(),
            default: None
        })
    );
    assert_eq!(fast.max_tokens, Some(512));
    assert_eq!(fast.timeout, Duration::from_secs(60));
    assert_eq!(fast.params["top_p"], serde_json::json!(0.9));
    assert_eq!(fast.params["nested"], serde_json::json!({"a": 1}));
    let strong = &spec.models["strong"];
    assert_eq!(
        strong.provider,
        Provider::Plugin {
            plugin: "extras".into(),
            item: "my_model".into()
        }
    );
    assert_eq!(strong.extra["path"], serde_json::json!("models/x.gguf"));
    assert_eq!(strong.extra["depth"], serde_json::json!(3));
    let sim = &spec.models["default"];
    assert_eq!(sim.provider, Provider::Sim);
    assert_eq!(sim.oracle.as_deref(), Some("trivia"));
    assert_eq!(sim.skill, 0.3);
    assert_eq!(sim.model, "default");
}

#[test]
fn signatures_and_programs_resolve() {
    let spec = compile("tests/fixtures/full.simba");
    let answer = &spec.signatures["Answer"];
    assert_eq!(
        answer.instructions,
        "Answer the question with a short factoid.\n  Keep it brief."
    );
    assert_eq!(
        answer.inputs[1].ty,
        FieldType::List(Box::new(FieldType::String))
    );
    let classify = &spec.signatures["Classify"];
    assert_eq!(
        classify.outputs[0].ty,
        FieldType::Enum(vec!["positive".into(), "negative".into(), "neutral".into()])
    );

    let mh = &spec.programs["multihop"];
    assert_eq!(mh.lm, "fast");
    assert_eq!(
        mh.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["query", "answer"]
    );
    assert_eq!(mh.steps[1].lm, "strong");
    assert_eq!(mh.steps[1].module, ModuleKind::ChainOfThought);
    assert_eq!(
        mh.steps[1].bindings,
        vec![
            ("question".to_string(), Source::Input("question".into())),
            ("passages".to_string(), Source::Input("passages".into())),
        ]
    );
    assert_eq!(mh.deps, vec![Vec::<usize>::new(), vec![]]);
    assert_eq!(
        mh.outputs,
        vec![
            (
                "answer".to_string(),
                Source::Step {
                    step: "answer".into(),
                    field: "answer".into()
                }
            ),
            (
                "query".to_string(),
                Source::Step {
                    step: "query".into(),
                    field: "query".into()
                }
            ),
        ]
    );
    assert!(
        mh.spec_text.starts_with("signature WriteQuery = "),
        "{}",
        mh.spec_text
    );
    assert!(mh.spec_text.contains("signature Answer {"));
    assert!(mh.spec_text.ends_with("out query\n}"), "{}", mh.spec_text);

    let qa = &spec.programs["qa"];
    let names: Vec<&str> = qa.inputs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["question", "passages"]);
    assert_eq!(
        qa.outputs[0].1,
        Source::Step {
            step: "answer".into(),
            field: "answer".into()
        }
    );

    let s = &spec.programs["sentiment"];
    assert_eq!(s.lm, "default");
    assert_eq!(s.steps[0].name, "sentiment");
    assert_eq!(s.outputs[0].0, "label");
}

#[test]
fn datasets_metrics_and_paths() {
    let spec = compile("tests/fixtures/full.simba");
    let base = PathBuf::from("tests/fixtures");
    assert_eq!(
        spec.plugins["extras"].path,
        base.join("plugins/target/release/libsimba_extras")
    );
    match &spec.datasets["trivia"].source {
        DatasetSource::Files(f) => {
            assert_eq!(f["train"], DataFile::Jsonl(base.join("data/train.jsonl")));
            assert_eq!(f["dev"], DataFile::Csv(base.join("data/dev.csv")));
        }
        other => panic!("{other:?}"),
    }
    match &spec.datasets["big"].source {
        DatasetSource::Split {
            parts,
            shuffle_seed,
            ..
        } => {
            assert_eq!(*shuffle_seed, 1);
            assert_eq!(
                parts,
                &vec![
                    ("train".to_string(), SplitSize::Count(200)),
                    ("dev".to_string(), SplitSize::Fraction(0.25)),
                    ("test".to_string(), SplitSize::Rest),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // 0.7 * f1 + 0.3 * contains: multiplication binds tighter than addition.
    match &spec.metrics["graded"].expr {
        MetricExpr::Binary(BinaryOp::Add, l, r) => {
            assert!(matches!(**l, MetricExpr::Binary(BinaryOp::Mul, _, _)));
            assert!(matches!(**r, MetricExpr::Binary(BinaryOp::Mul, _, _)));
        }
        other => panic!("{other:?}"),
    }
    // `not` binds looser than comparisons, `and` looser than `not`.
    assert!(matches!(
        spec.metrics["logic"].expr,
        MetricExpr::Binary(BinaryOp::And, _, _)
    ));
    assert_eq!(
        spec.metrics["strict"].feedback,
        Some(vec![
            TemplatePart::Text("expected ".into()),
            TemplatePart::Ref(Side::Gold, "label".into()),
            TemplatePart::Text(", got ".into()),
            TemplatePart::Ref(Side::Pred, "label".into()),
            TemplatePart::Text(" {literal}".into()),
        ])
    );
    assert!(
        matches!(&spec.metrics["judged"].expr, MetricExpr::Judge { model, args, .. } if model == "fast" && args.len() == 2)
    );
}

#[test]
fn optimize_blocks_fill_dspy_defaults() {
    let spec = compile("tests/fixtures/full.simba");
    let base = PathBuf::from("tests/fixtures");
    let qa = &spec.optimizes[0];
    assert_eq!(qa.select_on, SelectOn::Valset);
    assert_eq!(qa.strategies.len(), 3);
    assert_eq!(
        qa.strategies[2],
        StrategyRef::Plugin {
            plugin: "extras".into(),
            item: "swap_demo".into(),
            config: Default::default(),
        }
    );
    assert_eq!(qa.selection, Selection::Thompson);
    assert_eq!(qa.resample, Resample::Temperature);
    assert_eq!(qa.seed, 7);
    assert_eq!(qa.stop.max_tokens, Some(5_000_000));
    assert_eq!(qa.stop.max_duration, Some(Duration::from_secs(1800)));
    assert_eq!(qa.output, base.join("out/qa"));
    assert_eq!(qa.cache, None);

    let s = &spec.optimizes[1];
    assert_eq!(s.strategies, vec![StrategyRef::AppendRule]);
    assert_eq!(s.select_on, SelectOn::Devset);

    let m = &spec.optimizes[2];
    assert_eq!(
        (m.bsize, m.num_candidates, m.max_steps, m.max_demos),
        (32, 6, 8, 4)
    );
    assert_eq!(m.demo_input_field_maxlen, 100_000);
    assert_eq!(
        (m.temperature_for_sampling, m.temperature_for_candidates),
        (0.2, 0.2)
    );
    assert_eq!(
        m.strategies,
        vec![StrategyRef::AppendDemo, StrategyRef::AppendRule]
    );
    assert_eq!(m.select_on, SelectOn::Trainset);
    assert_eq!((m.concurrency, m.seed), (16, 0));
    assert_eq!(m.output, base.join("out/multihop"));
    assert_eq!(m.cache, Some(base.join(".simba-cache")));
    assert_eq!(m.stop, StopRules::default());
}

#[test]
fn overrides_replace_and_add_settings() {
    let o = |s: &str| s.parse::<Override>().unwrap();
    let spec = compile_with(
        "tests/fixtures/full.simba",
        &[
            o("qa.max_steps=2"),
            o("qa.stop.patience=9"),
            o("bsize=4"),
            o("multihop.stop.target=0.5"),
            o("qa.output=\"x/y\""),
        ],
    );
    assert_eq!(spec.optimizes[0].max_steps, 2);
    assert_eq!(spec.optimizes[0].stop.patience, Some(9));
    assert!(spec.optimizes.iter().all(|b| b.bsize == 4));
    assert_eq!(spec.optimizes[2].stop.target, Some(0.5));
    assert_eq!(
        spec.optimizes[0].output,
        PathBuf::from("tests/fixtures/x/y")
    );
    assert!(
        "novalue"
            .parse::<Override>()
            .unwrap_err()
            .contains("no `=`")
    );
}

#[test]
fn demo_input_field_maxlen_zero_means_no_limit() {
    // As in DSPy, 0 turns truncation off; it is accepted, not an error.
    let o = |s: &str| s.parse::<Override>().unwrap();
    let spec = compile_with(
        "tests/fixtures/full.simba",
        &[o("qa.demo_input_field_maxlen=0")],
    );
    assert_eq!(spec.optimizes[0].demo_input_field_maxlen, 0);
}

#[test]
fn steps_are_ordered_topologically() {
    let src = r#"
model m { provider = "sim" oracle = d }
dataset d { train = jsonl("t.jsonl") inputs = [q] }
signature A = "q -> x"
signature B = "x -> y"
signature C = "y, x -> z"
program p {
  step c = predict(C) { y = b.y, x = a.x }
  step b = predict(B) { x = a.x }
  step a = predict(A)
}
"#;
    let (spec, _) = compile_source(Path::new("s.simba"), src, &[]).unwrap();
    let p = &spec.programs["p"];
    let order: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(p.deps, vec![vec![], vec![0], vec![0, 1]]);
    assert_eq!(p.outputs[0].0, "z");
    assert_eq!(p.inputs[0].name, "q");
    assert_eq!(spec.base_dir, PathBuf::from("."));
}

#[test]
fn every_example_and_fixture_loads() {
    let mut n = 0;
    for dir in [
        "examples/qa",
        "examples/classify",
        "examples/pipeline",
        "tests/fixtures",
    ] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "simba") {
                continue;
            }
            let loaded = simba_run::compile::load_spec(&p, &[], Some(5))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(loaded.spec.optimizes.iter().all(|o| o.seed == 5));
            assert!(!loaded.spec.programs.is_empty());
            if dir.starts_with("examples") {
                assert!(
                    loaded.warnings.is_empty(),
                    "{}: {:?}",
                    p.display(),
                    loaded.warnings
                );
                let o = &loaded.spec.optimizes[0];
                assert_eq!((o.bsize, o.num_candidates, o.max_steps), (8, 4, 4));
                let model = loaded.spec.models.values().next().unwrap();
                assert_eq!(model.provider, Provider::Sim);
                match &loaded.spec.datasets[model.oracle.as_ref().unwrap()].source {
                    DatasetSource::Files(f) => {
                        for file in f.values() {
                            let DataFile::Jsonl(path) = file else {
                                panic!("jsonl expected")
                            };
                            assert!(path.exists(), "{}", path.display());
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
            n += 1;
        }
    }
    assert!(n >= 4);
}

#[test]
fn final_race_is_set_in_the_block_or_with_set() {
    let path = Path::new("examples/qa/qa.simba");
    let load = |overrides: &[Override]| {
        simba_run::compile::load_spec(path, overrides, None)
            .unwrap()
            .spec
            .optimizes[0]
            .final_selection
    };
    assert_eq!(load(&[]), FinalSelection::Full);
    let set: Override = "qa.final=race".parse().unwrap();
    assert_eq!(load(&[set]), FinalSelection::Race);
}

#[test]
fn override_errors_point_at_the_set_argument() {
    let path = Path::new("examples/qa/qa.simba");
    let o = |s: &str| s.parse::<Override>().unwrap();
    let err = |overrides: &[Override]| match simba_run::compile::load_spec(path, overrides, None) {
        Err(simba_run::compile::LoadError::Invalid { rendered, count }) => (rendered, count),
        other => panic!("expected an error, got {other:?}"),
    };
    let (r, n) = err(&[o("qa.max_steps=0")]);
    assert_eq!(n, 1);
    assert!(
        r.contains("`max_steps` must be between 1 and 4294967295, found 0"),
        "{r}"
    );
    assert!(r.contains("[--set #1:1:14]"), "{r}");
    assert!(r.contains("qa.max_steps=0"), "{r}");
    // Too large: the message states the real upper limit (counts stop at
    // u32::MAX), not only the lower one.
    let (r, _) = err(&[o("qa.bsize=5000000000")]);
    assert!(
        r.contains("`bsize` must be between 1 and 4294967295, found 5000000000"),
        "{r}"
    );

    let (r, _) = err(&[o("qa.max_step=3")]);
    assert!(r.contains("did you mean `max_steps`?"), "{r}");
    let (r, _) = err(&[o("qq.max_steps=3")]);
    assert!(
        r.contains("no optimize block for program `qq`") && r.contains("did you mean `qa`?"),
        "{r}"
    );
    let (r, _) = err(&[o("selection=thomson")]);
    assert!(r.contains("did you mean `thompson`?"), "{r}");
    let (r, _) = err(&[o("qa.final=racing")]);
    assert!(r.contains("`racing` is not a valid `final`"), "{r}");
    assert!(r.contains("[--set #1:1:10]"), "{r}");
    // With several, the error names the one it is in; `valset` offers `auto`
    // and an example with a dataset of the spec.
    let (r, n) = err(&[o("qa.final=racing"), o("qa.valset=autos")]);
    assert_eq!(n, 2);
    assert!(r.contains("[--set #1:1:10]"), "{r}");
    assert!(r.contains("[--set #2:1:11]"), "{r}");
    assert!(
        r.contains("`valset` expects `DATASET.SPLIT` or `auto`, found `autos`"),
        "{r}"
    );
    assert!(
        r.contains("e.g. `valset = trivia.dev`, or `valset = auto`"),
        "{r}"
    );
    let (r, _) = err(&[o("qa.stop.patienc=2")]);
    assert!(
        r.contains("unknown key `patienc` in the `stop` block"),
        "{r}"
    );
    let (r, _) = err(&[o("qa.bsize=[")]);
    assert!(r.contains("expected a value"), "{r}");
    let (r, n) = err(&[o("qa.bsize=0"), o("qa.seed=-1")]);
    assert_eq!(n, 2, "{r}");
}

#[test]
fn warnings_do_not_stop_compilation() {
    let src = r#"
model m { provider = "sim" oracle = d }
dataset d { train = jsonl("t.jsonl") inputs = [q] }
dataset spare { train = jsonl("s.jsonl") inputs = [q] }
signature A = "q -> a"
signature Unused = "x -> y"
program p {
  in q: string
  in extra: string
  step s = predict(A)
}
metric never = exact_match(pred.a, gold.a)
"#;
    let (spec, warnings) = compile_source(Path::new("w.simba"), src, &[]).unwrap();
    let msgs: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "dataset `spare` is never used",
            "signature `Unused` is never used",
            "input `extra` of program `p` is never read",
            "metric `never` is never used",
        ]
    );
    assert!(warnings.iter().all(|w| !w.is_error()));
    assert_eq!(spec.programs["p"].inputs.len(), 2);
}
