//! `optimize PROGRAM with simba { .. }`: SIMBA's settings and stop rules.

use super::{DataRef, defaults};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A strategy named in `strategies = [..]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyRef {
    /// `append_demo`: keep a good trajectory as a demo.
    #[serde(alias = "AppendDemo")]
    AppendDemo,
    /// `append_rule`: ask the prompt model for advice from a good/bad pair.
    #[serde(alias = "AppendRule")]
    AppendRule,
    /// `plugin.item`: a strategy a plugin provides.
    #[serde(alias = "Plugin")]
    Plugin {
        /// The plugin's name in the spec.
        plugin: String,
        /// The strategy's name inside the plugin.
        item: String,
        /// Its `{ .. }` config, handed to the plugin when the instance is made.
        #[serde(default, skip_serializing_if = "super::ItemConfig::is_empty")]
        config: super::ItemConfig,
    },
}

impl StrategyRef {
    /// The strategies when the spec lists none: both built-ins, or only
    /// `append_rule` when `max_demos = 0` leaves no room for a demo.
    pub fn defaults(max_demos: usize) -> Vec<StrategyRef> {
        if max_demos == 0 {
            vec![StrategyRef::AppendRule]
        } else {
            vec![StrategyRef::AppendDemo, StrategyRef::AppendRule]
        }
    }
}

impl std::fmt::Display for StrategyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrategyRef::AppendDemo => f.write_str("append_demo"),
            StrategyRef::AppendRule => f.write_str("append_rule"),
            StrategyRef::Plugin { plugin, item, .. } => write!(f, "{plugin}.{item}"),
        }
    }
}

/// How a step picks the programs its trajectories start from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// DSPy's softmax over average scores (the default).
    #[default]
    #[serde(alias = "Softmax")]
    Softmax,
    /// Bayesian Thompson sampling over the pool.
    #[serde(alias = "Thompson")]
    Thompson,
}

/// How the sampling variants of a step differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resample {
    /// DSPy's rollout ids (the default).
    #[default]
    #[serde(alias = "Rollout")]
    Rollout,
    /// Different temperatures.
    #[serde(alias = "Temperature")]
    Temperature,
}

/// How the final candidates are compared at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalSelection {
    /// Every final candidate scored on the whole selection set (DSPy's way,
    /// the default).
    #[default]
    #[serde(alias = "Full")]
    Full,
    /// Candidates scored in rounds; one that is confidently worse than the
    /// leader is dropped (docs/optimizer.md, "Racing the final selection").
    #[serde(alias = "Race")]
    Race,
}

/// The `stop { }` block; every rule is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRules {
    /// Steps without a gain of `min_delta` before stopping.
    pub patience: Option<usize>,
    /// The gain `patience` asks for. Default [`defaults::MIN_DELTA`].
    pub min_delta: f64,
    /// Stop once the best candidate scores this much.
    pub target: Option<f64>,
    /// Cap on LM calls for the whole run.
    pub max_lm_calls: Option<u64>,
    /// Cap on tokens for the whole run.
    pub max_tokens: Option<u64>,
    /// Cap on cost (USD) for the whole run.
    pub max_cost: Option<f64>,
    /// Cap on wall-clock time for the whole run.
    pub max_duration: Option<Duration>,
}

impl Default for StopRules {
    /// No rule set: the run ends after `max_steps`.
    fn default() -> Self {
        StopRules {
            patience: None,
            min_delta: defaults::MIN_DELTA,
            target: None,
            max_lm_calls: None,
            max_tokens: None,
            max_cost: None,
            max_duration: None,
        }
    }
}

/// Where the final candidates are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectOn {
    /// The full trainset.
    #[serde(alias = "Trainset")]
    Trainset,
    /// The `valset` split.
    #[serde(alias = "Valset")]
    Valset,
    /// The `devset` split.
    #[serde(alias = "Devset")]
    Devset,
}

impl SelectOn {
    /// The choice when the spec makes none: the valset if there is one.
    pub fn default_for(has_valset: bool) -> Self {
        if has_valset {
            SelectOn::Valset
        } else {
            SelectOn::Trainset
        }
    }
}

/// `optimize PROGRAM with simba { .. }`, with DSPy's defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizeDecl {
    /// The program optimized (also the name `--only` and `--set` use).
    pub program: String,
    /// The split SIMBA trains on.
    pub trainset: DataRef,
    /// Scored for the final report; none by default.
    pub devset: Option<DataRef>,
    /// Final candidates are chosen by their score here; none by default.
    pub valset: Option<DataRef>,
    /// `valset = auto`: the valset is a seeded share of the trainset
    /// (`data::hold_out`), and the loop trains on the rest. Off by default
    /// (it changes what DSPy would train on); absent from run.json when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub valset_auto: bool,
    /// Trainset unless `valset` is given (then Valset) or `select_on = devset`
    /// ([`SelectOn::default_for`]).
    pub select_on: SelectOn,
    /// The metric's name.
    pub metric: String,
    /// Default [`defaults::BSIZE`].
    pub bsize: usize,
    /// Default [`defaults::NUM_CANDIDATES`].
    pub num_candidates: usize,
    /// Default [`defaults::MAX_STEPS`].
    pub max_steps: usize,
    /// Default [`defaults::MAX_DEMOS`].
    pub max_demos: usize,
    /// Default [`defaults::DEMO_INPUT_FIELD_MAXLEN`].
    pub demo_input_field_maxlen: usize,
    /// Default [`defaults::TEMPERATURE_FOR_SAMPLING`].
    pub temperature_for_sampling: f64,
    /// Default [`defaults::TEMPERATURE_FOR_CANDIDATES`].
    pub temperature_for_candidates: f64,
    /// Default [`StrategyRef::defaults`]: `[append_demo, append_rule]`;
    /// `[append_rule]` when max_demos = 0.
    pub strategies: Vec<StrategyRef>,
    /// Model for append_rule; None: the program's lm.
    pub prompt_model: Option<String>,
    /// An extra sampling model; none by default.
    pub teacher: Option<String>,
    /// Default [`Selection::Softmax`].
    pub selection: Selection,
    /// Merge identical candidates in the pool (not DSPy's behaviour, so off
    /// by default: [`defaults::DEDUP`]).
    #[serde(default)]
    pub dedup: bool,
    /// Default [`Resample::Rollout`].
    pub resample: Resample,
    /// `final`: default [`FinalSelection::Full`].
    #[serde(default)]
    pub final_selection: FinalSelection,
    /// In-flight program executions. Default [`defaults::OPTIMIZE_CONCURRENCY`].
    pub concurrency: usize,
    /// Default [`defaults::SEED`].
    pub seed: u64,
    /// Default: no rule ([`StopRules::default`]).
    pub stop: StopRules,
    /// Resolved against the spec folder; default `out/<program>` beside the
    /// spec ([`defaults::OUTPUT_DIR`]).
    pub output: PathBuf,
    /// Resolved against the spec folder; None when the cache is off.
    /// Default [`defaults::CACHE_DIR`] beside the spec.
    pub cache: Option<PathBuf>,
}

impl OptimizeDecl {
    /// The block a spec writing only the required keys gets: `program`
    /// trained on `trainset`, scored by `metric`, every other setting its
    /// default, paths beside a spec in `base_dir`.
    pub fn new(
        program: impl Into<String>,
        trainset: DataRef,
        metric: impl Into<String>,
        base_dir: &Path,
    ) -> Self {
        let program = program.into();
        OptimizeDecl {
            output: base_dir.join(defaults::OUTPUT_DIR).join(&program),
            cache: Some(base_dir.join(defaults::CACHE_DIR)),
            program,
            trainset,
            devset: None,
            valset: None,
            valset_auto: false,
            select_on: SelectOn::default_for(false),
            metric: metric.into(),
            bsize: defaults::BSIZE,
            num_candidates: defaults::NUM_CANDIDATES,
            max_steps: defaults::MAX_STEPS,
            max_demos: defaults::MAX_DEMOS,
            demo_input_field_maxlen: defaults::DEMO_INPUT_FIELD_MAXLEN,
            temperature_for_sampling: defaults::TEMPERATURE_FOR_SAMPLING,
            temperature_for_candidates: defaults::TEMPERATURE_FOR_CANDIDATES,
            strategies: StrategyRef::defaults(defaults::MAX_DEMOS),
            prompt_model: None,
            teacher: None,
            selection: Selection::default(),
            dedup: defaults::DEDUP,
            resample: Resample::default(),
            final_selection: FinalSelection::default(),
            concurrency: defaults::OPTIMIZE_CONCURRENCY,
            seed: defaults::SEED,
            stop: StopRules::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn decl() -> OptimizeDecl {
        let data = DataRef {
            dataset: "data".into(),
            split: "train".into(),
        };
        let mut d = OptimizeDecl::new("qa", data, "em", Path::new("."));
        d.strategies.push(StrategyRef::Plugin {
            plugin: "p".into(),
            item: "s".into(),
            config: Default::default(),
        });
        d
    }

    #[test]
    fn settings_are_written_as_the_spec_spells_them() {
        // run.json and checkpoint.json embed the block: its choices read as
        // in the spec (`append_demo`, `softmax`), not as Rust names.
        let v = serde_json::to_value(decl()).unwrap();
        assert_eq!(
            v["strategies"],
            json!(["append_demo", "append_rule", {"plugin": {"plugin": "p", "item": "s"}}])
        );
        assert_eq!(v["selection"], json!("softmax"));
        assert_eq!(v["resample"], json!("rollout"));
        assert_eq!(v["final_selection"], json!("full"));
        assert_eq!(v["select_on"], json!("trainset"));
    }

    #[test]
    fn files_written_with_the_rust_names_still_read() {
        // checkpoint.json files written before the spec spelling.
        let mut v = serde_json::to_value(decl()).unwrap();
        v["strategies"] =
            json!(["AppendDemo", "AppendRule", {"Plugin": {"plugin": "p", "item": "s"}}]);
        v["selection"] = Value::from("Thompson");
        v["resample"] = Value::from("Temperature");
        v["final_selection"] = Value::from("Race");
        v["select_on"] = Value::from("Devset");
        let d: OptimizeDecl = serde_json::from_value(v).unwrap();
        assert_eq!(d.strategies, decl().strategies);
        assert_eq!(d.selection, Selection::Thompson);
        assert_eq!(d.resample, Resample::Temperature);
        assert_eq!(d.final_selection, FinalSelection::Race);
        assert_eq!(d.select_on, SelectOn::Devset);
    }
}
