//! Corpus items and `search` steps in the Spec IR: settings with their
//! defaults, the query binding in its three forms, and no model on a search.

use simba_run::compile::compile_source;
use simba_run::ir::defaults::{CORPUS_CONCURRENCY, CORPUS_TIMEOUT, SEARCH_K};
use simba_run::ir::*;
use std::path::{Path, PathBuf};

fn compile(text: &str) -> Spec {
    compile_source(Path::new("dir/spec.simba"), text, &[])
        .unwrap_or_else(|d| panic!("{d:?}"))
        .0
}

const HEAD: &str = r#"
model m { provider = "sim" oracle = d }
dataset d { train = jsonl("t.jsonl") inputs = [question] }
signature Q = "question -> query"
signature A = "question, passages: list<string> -> answer"
"#;

#[test]
fn corpora_keep_their_settings_and_defaults() {
    let spec = compile(&format!(
        "{HEAD}\ncorpus wiki {{\n  docs = csv(\"data/w.csv\")\n  text = body\n  title = \"name\"\n  index = \"idx/wiki\"\n}}\ncorpus remote {{\n  url = env(\"COLBERT_URL\", \"http://localhost:8893/api/search\")\n  retries = 2\n}}\n"
    ));
    let CorpusSource::Local(local) = &spec.corpora["wiki"].source else {
        panic!("wiki is local")
    };
    assert_eq!(local.docs, DataFile::Csv(PathBuf::from("dir/data/w.csv")));
    assert_eq!(
        (local.text.as_str(), local.title.as_deref()),
        ("body", Some("name"))
    );
    assert_eq!(local.index.as_deref(), Some(Path::new("dir/idx/wiki")));
    let CorpusSource::Remote(remote) = &spec.corpora["remote"].source else {
        panic!("remote is remote")
    };
    assert_eq!(
        remote.url,
        Setting::Env {
            var: "COLBERT_URL".into(),
            default: Some("http://localhost:8893/api/search".into())
        }
    );
    assert_eq!(remote.retries, 2);
    assert_eq!(remote.timeout, CORPUS_TIMEOUT);
    assert_eq!(remote.concurrency, CORPUS_CONCURRENCY);
    assert!(remote.api_key.is_none());
}

#[test]
fn the_query_binds_as_an_argument_in_braces_or_by_name() {
    let spec = compile(&format!(
        "{HEAD}\ncorpus wiki {{ docs = jsonl(\"w.jsonl\") }}\nprogram p {{\n  lm = m\n  step q  = predict(Q)\n  step s1 = search(wiki, query = q.query, k = 5)\n  step s2 = search(wiki) {{ query = input.question }}\n  step s3 = search(wiki)\n  step a  = predict(A) {{ passages = s3.passages }}\n}}\n"
    ));
    let p = &spec.programs["p"];
    let step = |n: &str| p.steps.iter().find(|s| s.name == n).unwrap();
    let search = |k: usize| {
        ModuleKind::Search(SearchCall {
            corpus: "wiki".into(),
            k,
        })
    };
    assert_eq!(step("s1").module, search(5));
    assert_eq!(step("s2").module, search(SEARCH_K));
    let query = |n: &str| step(n).bindings.clone();
    let from_q = Source::Step {
        step: "q".into(),
        field: "query".into(),
    };
    assert_eq!(query("s1"), [("query".to_string(), from_q.clone())]);
    assert_eq!(
        query("s2"),
        [("query".to_string(), Source::Input("question".into()))]
    );
    // By name: the latest earlier step with a `query` output.
    assert_eq!(query("s3"), [("query".to_string(), from_q)]);
    // A search step has no model and is no predictor; the others are.
    assert_eq!(step("s1").lm, "");
    assert!(!step("s1").is_predictor() && step("q").is_predictor());
    assert_eq!(
        step("s1").signature.outputs[0].ty,
        FieldType::List(Box::new(FieldType::String))
    );
    // The program text shown to the prompt model quotes the signatures used.
    assert!(p.spec_text.starts_with("signature Q"), "{}", p.spec_text);
}
