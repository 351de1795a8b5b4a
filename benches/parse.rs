//! Parse + compile of a generated 2,000-line spec (target: under 20 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use simba_run::compile::compile_source;
use std::hint::black_box;
use std::path::Path;

/// A valid spec of about `lines` lines: one model, then groups of a
/// signature, a two-step program, a dataset, a metric and an optimize block.
pub fn generated_spec(lines: usize) -> String {
    let mut s = String::from(
        "# generated for the parse bench\nmodel fast {\n  provider = \"openai\"\n  model = \"gpt-4o-mini\"\n  api_key = env(\"OPENAI_API_KEY\")\n  timeout = 30s\n  params { top_p = 0.9 }\n}\n\n",
    );
    let mut i = 0;
    while s.lines().count() < lines {
        s.push_str(&format!(
            r#"signature Query{i} {{
  """Write a search query for question {i}."""
  in  question: string "a question"
  out query:    string "a few keywords"
}}
signature Answer{i} = "question: string, query: string -> answer: string, confidence: float"

program p{i} {{
  lm = fast
  in question: string
  step search = predict(Query{i})   # the first step
  step answer = chain_of_thought(Answer{i}) {{ query = search.query }}
  out answer = answer.answer
}}

dataset d{i} {{
  train  = jsonl("data/train{i}.jsonl")
  dev    = csv("data/dev{i}.csv")
  inputs = [question]
}}

metric m{i} = 0.7 * f1(pred.answer, gold.answer) + 0.3 * exact_match(pred.answer, gold.answer) feedback "expected {{gold.answer}}"

optimize p{i} with simba {{
  trainset = d{i}.train
  devset   = d{i}.dev
  metric   = m{i}
  bsize    = 16
  strategies = [append_demo, append_rule]
  stop {{ patience = 3, max_duration = 30m }}
}}

"#
        ));
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = generated_spec(2000);
    let path = Path::new("bench.simba");
    let (spec, _) = compile_source(path, &src, &[]).expect("the generated spec compiles");
    assert!(spec.programs.len() > 40);
    eprintln!(
        "generated spec: {} lines, {} programs",
        src.lines().count(),
        spec.programs.len()
    );
    c.bench_function("parse_compile_2000_lines", |b| {
        b.iter(|| compile_source(black_box(path), black_box(&src), &[]).unwrap())
    });
    c.bench_function("parse_only_2000_lines", |b| {
        b.iter(|| simba_run::syntax::parse(black_box(&src)).unwrap())
    });
    c.bench_function("fmt_2000_lines", |b| {
        b.iter(|| simba_run::syntax::format::format_source(black_box(&src)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
