//! SIMBA's decision functions against DSPy 3.4.1's answers on the same
//! inputs, recorded in tests/dspy/decisions.json. `tests/dspy/decisions.py`
//! (run in CI by .ci/dspy_roundtrip.sh) checks those answers against DSPy
//! itself, so both sides are pinned to the same file: percentiles (exactly,
//! as numpy computes them), the skip rules at their boundaries, which side
//! of an advice request is blanked, `top_k_plus_baseline`, the final picks,
//! the ranking of the final candidates and the demo-drop bounds.

use serde_json::{Value, json};

use simba_run::optimize::pool::{mean_or_zero, top_k_plus_baseline};
use simba_run::optimize::rng::clamp_drop_count;
use simba_run::optimize::select::{argmax_first, final_indices, rank_by_score};
use simba_run::optimize::stats::percentile;
use simba_run::optimize::strategy::append_demo::demo_skips;
use simba_run::optimize::strategy::append_rule::{Blanked, blanked_side, rule_skips};

fn cases(kind: &str) -> Vec<(Value, Value)> {
    let all: Value = serde_json::from_str(include_str!("dspy/decisions.json")).unwrap();
    let list = all[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no `{kind}` cases"));
    assert!(!list.is_empty(), "no `{kind}` cases");
    list.iter()
        .map(|c| (c["input"].clone(), c["dspy"].clone()))
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap()
}

fn int(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap() as usize
}

#[test]
fn percentiles_are_numpys_to_the_bit() {
    for (input, dspy) in cases("percentile") {
        let ours = percentile(&f64s(&input["values"]), num(&input, "p"));
        assert_eq!(ours.to_bits(), dspy.as_f64().unwrap().to_bits(), "{input}");
    }
}

#[test]
fn append_demo_skips_where_dspy_does() {
    for (input, dspy) in cases("demo_skip") {
        let ours = demo_skips(num(&input, "best"), num(&input, "p10"));
        assert_eq!(json!(ours), dspy, "{input}");
    }
}

#[test]
fn append_rule_skips_and_blanks_where_dspy_does() {
    for (input, dspy) in cases("rule_skip") {
        let (best, worst) = (num(&input, "best"), num(&input, "worst"));
        let (p10, p90) = (num(&input, "p10"), num(&input, "p90"));
        let skips = rule_skips(best, worst, p10, p90);
        let blanked = (!skips).then(|| match blanked_side(best, worst, p90) {
            Blanked::Neither => "neither",
            Blanked::Better => "better",
            Blanked::Worse => "worse",
        });
        assert_eq!(json!({"skips": skips, "blanked": blanked}), dspy, "{input}");
    }
}

#[test]
fn top_k_plus_baseline_matches() {
    for (input, dspy) in cases("top_k_plus_baseline") {
        let averages: Vec<f64> = input["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| mean_or_zero(&f64s(s)))
            .collect();
        let ours = top_k_plus_baseline(&averages, int(&input, "k"));
        assert_eq!(json!(ours), dspy, "{input}");
    }
}

#[test]
fn final_picks_match() {
    for (input, dspy) in cases("final_indices") {
        let ours = final_indices(int(&input, "m"), int(&input, "n"));
        assert_eq!(json!(ours), dspy, "{input}");
    }
}

#[test]
fn final_ranking_and_best_match() {
    for (input, dspy) in cases("ranking") {
        let scores = f64s(&input["scores"]);
        let ours = json!({
            "order": rank_by_score(&scores),
            "best": argmax_first(&scores).unwrap(),
        });
        assert_eq!(ours, dspy, "{input}");
    }
}

#[test]
fn demo_drop_bounds_match() {
    for (input, dspy) in cases("demo_drop") {
        let ours = clamp_drop_count(
            int(&input, "drawn"),
            int(&input, "d"),
            int(&input, "max_demos"),
        );
        assert_eq!(json!(ours), dspy, "{input}");
    }
}
