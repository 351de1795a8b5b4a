//! Generated specs with many items, for the compile-time bench
//! (`benches/check_scale.rs`) and the scale tests (`tests/spec_bombs.rs`).
#![allow(dead_code)]

/// Items in one generated group: a signature, a program, a dataset, a
/// metric, an optimize block and a signature nothing uses.
pub const GROUP_ITEMS: usize = 6;

/// How the groups of [`many_items`] refer to their own items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refs {
    /// Every reference resolves: the spec compiles, with one warning per
    /// group (its unused signature).
    Valid,
    /// Each program calls a misspelt signature (`Answr7` for `Answer7`), so
    /// every group has an "unknown signature" error to find a suggestion for.
    Typos,
}

/// A spec of one model and `groups` groups ([`GROUP_ITEMS`] items each).
pub fn many_items(groups: usize, refs: Refs) -> String {
    let mut s = String::with_capacity(groups * 700);
    s.push_str(
        "model fast {\n  provider = \"openai\"\n  model = \"gpt-4o-mini\"\n  api_key = env(\"OPENAI_API_KEY\")\n}\n\n",
    );
    for i in 0..groups {
        let called = match refs {
            Refs::Valid => format!("Answer{i}"),
            Refs::Typos => format!("Answr{i}"),
        };
        s.push_str(&format!(
            r#"signature Answer{i} {{
  """Answer question {i}."""
  in  question: string "a question"
  out answer:   string
}}

program p{i} {{
  lm = fast
  in question: string
  step answer = predict({called})
  out answer = answer.answer
}}

dataset d{i} {{
  train  = jsonl("data/train{i}.jsonl")
  inputs = [question]
}}

metric m{i} = exact_match(pred.answer, gold.answer)

optimize p{i} with simba {{
  trainset = d{i}.train
  metric   = m{i}
}}

signature Unused{i} = "question -> answer"

"#
        ));
    }
    s
}
