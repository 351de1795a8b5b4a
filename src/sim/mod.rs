//! The offline `sim` model: a simulated weak LM that knows a dataset's labels
//! (its oracle) and answers correctly with a probability that depends on the
//! prompt, so optimizers can be run and tested with no network and no key.
//!
//! Every answer is a pure function of the request (messages, temperature,
//! seed, rollout id): reruns are reproducible and the response cache is
//! exact. The rules are documented for users in `docs/sim.md`; the constants
//! below are the ones that page quotes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::adapter::{PromptView, read_prompt};
use crate::ir::{FieldType, ModelDecl};
use crate::lm::{Lm, LmError, Request, Response, ResponseFormat, Usage};
use crate::value::Example;

/// Probability gain per relevant demo (same topic, labels not contradicting the oracle).
pub const DEMO_GAIN: f64 = 0.12;
/// Relevant demos beyond this many add nothing.
pub const MAX_RELEVANT_DEMOS: usize = 3;
/// Probability gain when the instructions mention the row's topic.
pub const ADVICE_GAIN: f64 = 0.25;
/// Demos up to this many cost nothing ...
pub const OVERLOAD_FREE_DEMOS: usize = 6;
/// ... each one beyond costs this much probability.
pub const OVERLOAD_PENALTY: f64 = 0.05;
/// Bounds of the probability of a correct answer.
pub const P_MIN: f64 = 0.02;
/// Upper bound of the probability of a correct answer.
pub const P_MAX: f64 = 0.98;
/// Chance that an advice request gets advice naming the right topic.
pub const ADVICE_ACCURACY: f64 = 0.6;
/// Topic buckets when the oracle has no `topic` field.
pub const TOPIC_BUCKETS: u64 = 4;
/// Probability gain for a label field when a passage in the request (a
/// `list<string>` input, such as a `search` step's output) holds its gold value.
pub const PASSAGE_GAIN: f64 = 0.35;

mod passages;

/// The rule constants of one sim model; defaults above, each overridable by a
/// numeric key of the same name (lower case) in the model block.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rules {
    skill: f64,
    demo_gain: f64,
    max_relevant_demos: usize,
    advice_gain: f64,
    overload_free_demos: usize,
    overload_penalty: f64,
    advice_accuracy: f64,
    passage_gain: f64,
}

impl Rules {
    fn from_decl(decl: &ModelDecl) -> Rules {
        let num = |key: &str, default: f64| {
            decl.extra
                .get(key)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(default)
        };
        Rules {
            skill: decl.skill.clamp(0.0, 1.0),
            demo_gain: num("demo_gain", DEMO_GAIN),
            max_relevant_demos: num("max_relevant_demos", MAX_RELEVANT_DEMOS as f64) as usize,
            advice_gain: num("advice_gain", ADVICE_GAIN),
            overload_free_demos: num("overload_free_demos", OVERLOAD_FREE_DEMOS as f64) as usize,
            overload_penalty: num("overload_penalty", OVERLOAD_PENALTY),
            advice_accuracy: num("advice_accuracy", ADVICE_ACCURACY).min(1.0),
            passage_gain: num("passage_gain", PASSAGE_GAIN),
        }
    }
}

/// One oracle row, prepared for lookups.
#[derive(Debug, Clone)]
struct Row {
    /// Normalised input values.
    inputs: Vec<String>,
    /// Non-input fields: the gold labels.
    gold: IndexMap<String, Value>,
    topic: String,
    /// Stable identity of the row, the source of its per-field ease.
    key: u64,
}

/// The offline simulated model. See the module docs and `docs/sim.md`.
#[derive(Debug, Clone)]
pub struct SimModel {
    name: String,
    latency: Duration,
    rules: Rules,
    rows: Vec<Row>,
    /// Normalised first input value -> rows having it (lookups only).
    index: HashMap<String, Vec<usize>>,
    /// Per label field, its distinct gold values in first-seen order, each
    /// with its normalised text: the pool of plausible wrong answers.
    pool: IndexMap<String, Vec<(Value, String)>>,
}

// ---------------------------------------------------------------- hashing

/// FNV-1a: stable across platforms and Rust versions, unlike std's hasher.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// splitmix64's finaliser: spreads FNV's weak low bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) from `h` salted with `salt`.
fn unit(h: u64, salt: &str) -> f64 {
    (mix(fnv(salt.as_bytes(), h)) >> 11) as f64 / (1u64 << 53) as f64
}

fn pick(h: u64, salt: &str, n: usize) -> usize {
    (mix(fnv(salt.as_bytes(), h ^ 0x9e37_79b9_7f4a_7c15)) % n as u64) as usize
}

/// Hash of everything in a request that may change the answer. At
/// temperature 0 the model is greedy: only the messages count, so seeds and
/// rollout ids change nothing (as with a real model decoding greedily).
fn request_hash(req: &Request) -> u64 {
    let mut h = FNV_START;
    for m in &req.messages {
        h = fnv(m.role.as_bytes(), h);
        h = fnv(&[0], h);
        h = fnv(m.content.as_bytes(), h);
        h = fnv(&[1], h);
    }
    if req.temperature <= 0.0 {
        return mix(h);
    }
    h = fnv(&req.temperature.to_bits().to_le_bytes(), h);
    for opt in [req.seed, req.rollout_id] {
        match opt {
            Some(v) => h = fnv(&v.to_le_bytes(), fnv(&[2], h)),
            None => h = fnv(&[3], h),
        }
    }
    mix(h)
}

// ---------------------------------------------------------- normalising

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Key for matching input values: lower case, whitespace collapsed.
fn norm_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// SQuAD-style answer normalisation: lower case, no punctuation, no
/// articles, whitespace collapsed.
fn norm_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let cleaned: String = lower
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `hay` (lower case) mentions `word` (lower case) as a whole word.
fn mentions(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = hay[from..].find(word) {
        let start = from + at;
        let end = start + word.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + word.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

fn snippet(text: &str, max: usize) -> String {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &t[..cut]),
        None => t,
    }
}

// ------------------------------------------------------------ the model

impl SimModel {
    /// A sim model for `decl`, knowing the labels of `oracle` (usually every
    /// split of the dataset the model block names).
    pub fn new(decl: &ModelDecl, oracle: Vec<Example>) -> SimModel {
        let mut rows = Vec::with_capacity(oracle.len());
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        let mut pool: IndexMap<String, Vec<(Value, String)>> = IndexMap::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for (i, ex) in oracle.into_iter().enumerate() {
            let inputs: Vec<String> = ex
                .input_keys
                .iter()
                .filter_map(|k| ex.fields.get(k))
                .map(|v| norm_key(&value_text(v)))
                .collect();
            let gold: IndexMap<String, Value> = ex
                .fields
                .iter()
                .filter(|(k, _)| !ex.input_keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut key = fnv(b"row", FNV_START);
            for (k, v) in &ex.fields {
                key = fnv(&[0], fnv(value_text(v).as_bytes(), fnv(k.as_bytes(), key)));
            }
            let topic = match ex.fields.get("topic") {
                Some(t) => norm_key(&value_text(t)),
                None => {
                    let mut h = FNV_START;
                    for (k, v) in gold.iter().filter(|(k, _)| *k != "topic") {
                        h = fnv(norm_answer(&value_text(v)).as_bytes(), fnv(k.as_bytes(), h));
                    }
                    format!("group-{}", mix(h) % TOPIC_BUCKETS + 1)
                }
            };
            for (k, v) in &gold {
                let n = norm_answer(&value_text(v));
                if seen.insert((k.clone(), n.clone())) {
                    pool.entry(k.clone()).or_default().push((v.clone(), n));
                }
            }
            if let Some(first) = inputs.first() {
                index.entry(first.clone()).or_default().push(i);
            }
            rows.push(Row {
                inputs,
                gold,
                topic,
                key: mix(key ^ i as u64),
            });
        }
        SimModel {
            name: decl.name.clone(),
            latency: decl.latency,
            rules: Rules::from_decl(decl),
            rows,
            index,
            pool,
        }
    }

    /// The first oracle row whose input values are all among `values`.
    fn find_row<'a>(&self, values: impl Iterator<Item = &'a str>) -> Option<&Row> {
        let keys: Vec<String> = values.map(norm_key).collect();
        let mut best: Option<usize> = None;
        for k in &keys {
            for &i in self.index.get(k).into_iter().flatten() {
                if best.is_some_and(|b| b <= i) {
                    break;
                }
                if self.rows[i].inputs.iter().all(|v| keys.contains(v)) {
                    best = Some(i);
                    break;
                }
            }
        }
        best.map(|i| &self.rows[i])
    }

    /// The probability of a correct answer for `row` under this prompt.
    fn p_correct(&self, view: &PromptView, row: &Row) -> f64 {
        let r = &self.rules;
        let relevant = view
            .demos
            .iter()
            .filter(|d| {
                let Some(drow) = self.find_row(d.inputs.iter().map(|(_, v)| v.as_str())) else {
                    return false;
                };
                // A demo teaches only when it is on the same topic and its
                // labels agree with the oracle.
                drow.topic == row.topic
                    && d.outputs.iter().all(|(name, text)| {
                        drow.gold
                            .get(name)
                            .is_none_or(|g| norm_answer(&value_text(g)) == norm_answer(text))
                    })
            })
            .count()
            .min(r.max_relevant_demos);
        let advised = mentions(&view.instructions.to_lowercase(), &row.topic);
        let overload = view.demos.len().saturating_sub(r.overload_free_demos);
        let p = r.skill + r.demo_gain * relevant as f64 + if advised { r.advice_gain } else { 0.0 }
            - r.overload_penalty * overload as f64;
        p.clamp(P_MIN, P_MAX)
    }

    /// A wrong but plausible value for label `field` of `row`.
    fn wrong_value(&self, field: &str, ty: &FieldType, gold: &Value, h: u64) -> Value {
        let gold_n = norm_answer(&value_text(gold));
        if let FieldType::Enum(labels) = ty {
            let others: Vec<&String> = labels.iter().filter(|l| norm_answer(l) != gold_n).collect();
            if !others.is_empty() {
                return Value::String(others[pick(h, field, others.len())].clone());
            }
        } else if let Some(values) = self.pool.get(field).filter(|v| !v.is_empty()) {
            // Walk from a drawn start to the first value that differs from gold.
            let start = pick(h, field, values.len());
            let found = (0..values.len())
                .map(|k| &values[(start + k) % values.len()])
                .find(|(_, n)| *n != gold_n);
            if let Some((v, _)) = found {
                return v.clone();
            }
        }
        match gold {
            Value::Bool(b) => Value::Bool(!b),
            Value::Number(n) if n.is_i64() => json!(n.as_i64().unwrap_or(0) + 1),
            Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) + 1.0),
            _ => Value::String("I do not know".into()),
        }
    }

    /// The whole reply, as values by output field.
    fn answer(&self, req: &Request, view: &PromptView, h: u64) -> Map<String, Value> {
        let names: Vec<&str> = view.outputs.iter().map(|(n, _)| n.as_str()).collect();
        if names.contains(&"advice") {
            return self.advise(view, h);
        }
        let row = self.find_row(view.query.iter().map(|(_, v)| v.as_str()));
        let judge = !self.pool.contains_key("score")
            && view
                .outputs
                .iter()
                .any(|(n, t)| n == "score" && *t == FieldType::Float);
        let p = row.map(|r| self.p_correct(view, r));
        let w = req.temperature.clamp(0.0, 1.0);
        // The row's own draw for field `name`: correct when under `p`.
        let on_form =
            |row: &Row, name: &str, p: f64| (1.0 - w) * unit(row.key, name) + w * unit(h, name) < p;
        let passages = passages::passages(view);
        let mut out = Map::new();
        for (name, ty) in &view.outputs {
            let value = if judge && name == "score" {
                judge_score(view)
            } else if let (Some(row), Some(gold)) = (row, row.and_then(|r| r.gold.get(name))) {
                let mut p = p.unwrap_or(0.0);
                if passages::holds(&passages, &value_text(gold)) {
                    p = (p + self.rules.passage_gain).clamp(P_MIN, P_MAX);
                }
                if on_form(row, name, p) {
                    gold.clone()
                } else {
                    self.wrong_value(name, ty, gold, h)
                }
            } else if let Some(row) =
                row.filter(|_| passages::is_query(name, ty) && !passages.is_empty())
            {
                // A follow-up query: on form, it names what the passage
                // read adds to the question; otherwise it restates the inputs.
                let follow = passages::follow_up(&passages, &row.inputs)
                    .filter(|_| on_form(row, name, p.unwrap_or(0.0)));
                Value::String(follow.unwrap_or_else(|| row.inputs.join(" ")))
            } else if let (None, Some(values)) = (row, self.pool.get(name)) {
                // Unknown query: a guess among the field's known values.
                match ty {
                    FieldType::Enum(labels) if !labels.is_empty() => {
                        Value::String(labels[pick(h, name, labels.len())].clone())
                    }
                    _ => values[pick(h, name, values.len())].0.clone(),
                }
            } else {
                filler(name, ty, view, h)
            };
            out.insert(name.clone(), value);
        }
        out
    }

    /// Answers the append_rule feedback request.
    fn advise(&self, view: &PromptView, h: u64) -> Map<String, Value> {
        let parse = |name: &str| {
            view.query_value(name)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
        };
        let example = parse("example_inputs");
        let row = match &example {
            Some(Value::Object(m)) => {
                let texts: Vec<String> = m.values().map(value_text).collect();
                self.find_row(texts.iter().map(String::as_str))
            }
            _ => None,
        };
        let target = match parse("predictors") {
            Some(Value::Array(ps)) => ps
                .iter()
                .rev()
                .find_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string)),
            // Also accept predictors keyed by name.
            Some(Value::Object(ps)) => ps.keys().next_back().cloned(),
            _ => None,
        }
        .unwrap_or_else(|| "predictor".to_string());
        let right = row.filter(|_| unit(h, "advice?") < self.rules.advice_accuracy);
        let advice = match right {
            Some(row) => format!(
                "When the input is about {t}, recall what you know about {t} and answer in the exact form the examples use.",
                t = row.topic
            ),
            None => GENERIC_ADVICE[pick(h, "generic", GENERIC_ADVICE.len())].to_string(),
        };
        let worse = view.query_value("worse_score").unwrap_or("?");
        let better = view.query_value("better_score").unwrap_or("?");
        let analysis = format!(
            "The better trajectory scored {better} and the worse one {worse}; the difference lies in how `{target}` handled the example."
        );
        let mut out = Map::new();
        for (name, ty) in &view.outputs {
            let v = match name.as_str() {
                "advice" => json!({ target.clone(): advice.clone() }),
                "analysis" => Value::String(analysis.clone()),
                _ => filler(name, ty, view, h),
            };
            out.insert(name.clone(), v);
        }
        out
    }
}

/// Advice that helps no topic.
const GENERIC_ADVICE: [&str; 3] = [
    "Read the inputs carefully before answering.",
    "Keep the answer short and precise.",
    "Check that the answer responds to what was asked.",
];

/// A judge's verdict: 1.0 when the last two input values normalise equal
/// (or, when the last input is a JSON list, its last two elements).
fn judge_score(view: &PromptView) -> Value {
    let mut texts: Vec<String> = view.query.iter().map(|(_, v)| v.clone()).collect();
    if let Some(Ok(Value::Array(items))) = texts.last().map(|t| serde_json::from_str::<Value>(t))
        && items.len() >= 2
    {
        texts = items.iter().map(value_text).collect();
    }
    let n = texts.len();
    let same = n >= 2 && norm_answer(&texts[n - 2]) == norm_answer(&texts[n - 1]);
    json!(if same { 1.0 } else { 0.0 })
}

/// A deterministic value for a field that is not a label (reasoning, a
/// pipeline's intermediate query), built from the inputs.
fn filler(name: &str, ty: &FieldType, view: &PromptView, h: u64) -> Value {
    let first = view
        .query
        .first()
        .map(|(_, v)| snippet(v, 60))
        .unwrap_or_default();
    match ty {
        FieldType::String if name == "reasoning" => Value::String(format!(
            "Let me think about \"{first}\" step by step and recall the relevant facts."
        )),
        FieldType::String => Value::String(format!("{} {first}", name.replace('_', " "))),
        FieldType::Int => json!(pick(h, name, 10)),
        FieldType::Float => json!(pick(h, name, 101) as f64 / 100.0),
        FieldType::Bool => json!(pick(h, name, 2) == 1),
        FieldType::Enum(labels) if !labels.is_empty() => {
            Value::String(labels[pick(h, name, labels.len())].clone())
        }
        FieldType::Enum(_) => Value::String(String::new()),
        FieldType::List(inner) => Value::Array(vec![filler(name, inner, view, h)]),
        FieldType::Json => json!({ "note": first }),
    }
}

fn render_chat(values: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (name, v) in values {
        out.push_str(&format!("[[ ## {name} ## ]]\n{}\n\n", value_text(v)));
    }
    out.push_str("[[ ## completed ## ]]");
    out
}

fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

#[async_trait]
impl Lm for SimModel {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let view = read_prompt(&request.messages).ok_or_else(|| LmError::Fatal {
            model: self.name.clone(),
            message: "the sim model reads only prompts written by simba-run's adapter".into(),
        })?;
        let h = request_hash(request);
        let values = self.answer(request, &view, h);
        let text = match request.response_format {
            ResponseFormat::Text => render_chat(&values),
            ResponseFormat::JsonObject => Value::Object(values).to_string(),
        };
        let prompt_chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
        Ok(Response {
            usage: Usage {
                prompt_tokens: tokens(prompt_chars),
                completion_tokens: tokens(text.len()),
            },
            text,
            cached: false,
        })
    }
}

#[cfg(test)]
mod tests;
