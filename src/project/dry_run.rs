//! `--dry-run`: the LM calls (and cost) one optimize block implies, per
//! phase, without calling any model.

use std::fmt;

use super::{Error, Project};
use crate::adapter::{Format, PredictSpec, format_messages};
use crate::ir::{OptimizeDecl, ProgramGraph};
use crate::optimize::estimate::{CallEstimate, estimate};
use crate::optimize::runtime::load_data;
use crate::optimize::variants::{VariantConfig, sampling_variants};
use crate::value::Example;

/// What a block would cost.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// The block's program.
    pub program: String,
    /// LM calls by phase.
    pub estimate: CallEstimate,
    /// `stop.max_lm_calls`, when it is below the estimate.
    pub call_cap: Option<u64>,
    /// The program model's item name.
    pub model: String,
    /// The cost, when simba.toml prices the program's model.
    pub cost: Option<Cost>,
}

/// The estimated cost of a block.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// USD for every call.
    pub usd: f64,
    /// Prompt tokens of one call.
    pub prompt_tokens: u64,
    /// Completion tokens of one call.
    pub completion_tokens: u64,
    /// `stop.max_cost`, when it is below the estimate.
    pub cap: Option<f64>,
}

/// Estimates block `decl` of `project`: LM calls per phase, and the cost
/// when the program's model has a price. Loads the data (sizes decide the
/// counts) but calls no model.
pub fn dry_run(project: &Project, decl: &OptimizeDecl) -> Result<DryRun, Error> {
    let spec = &project.spec;
    let (train, dev) = load_data(spec, decl)?;
    let (train_rows, val) = if decl.valset_auto {
        // The same cut the run makes, for its sizes.
        let cut = crate::data::hold_out(&decl.trainset.to_string(), train.clone(), decl.seed)?;
        (cut.train.len(), Some(cut.valset.len()))
    } else {
        let val = match &decl.valset {
            Some(r) => Some(crate::data::load_split(spec, r)?.len()),
            None => None,
        };
        (train.len(), val)
    };
    let graph = spec
        .programs
        .get(&decl.program)
        .ok_or_else(|| Error::Input(format!("no program named `{}`", decl.program)))?;
    let metric = spec
        .metrics
        .get(&decl.metric)
        .ok_or_else(|| Error::Input(format!("no metric named `{}`", decl.metric)))?;
    let model = spec.models.get(&graph.lm);
    let variants = sampling_variants(&VariantConfig {
        scheme: decl.resample,
        num_candidates: decl.num_candidates,
        teacher: decl.teacher.clone(),
        base_temperature: model.map_or(0.0, |m| m.temperature),
        model_id: model.map_or_else(|| graph.lm.clone(), |m| m.model.clone()),
        first_rollout_id: 0,
        run_seed: decl.seed,
    })
    .len();
    let e = estimate(
        decl,
        graph,
        &metric.expr,
        variants,
        train_rows,
        dev.as_ref().map(Vec::len),
        val,
    );
    // Cost: the program's model for every call, tokens per call measured
    // on a rendered prompt of the first training example.
    let cost = project.prices().get(&graph.lm).map(|price| {
        let (prompt, completion) = call_tokens(decl.max_demos, graph, &train);
        let usd = price.cost(e.total * prompt, e.total * completion);
        Cost {
            usd,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cap: decl.stop.max_cost.filter(|c| *c < usd),
        }
    });
    Ok(DryRun {
        program: decl.program.clone(),
        call_cap: decl.stop.max_lm_calls.filter(|c| *c < e.total),
        estimate: e,
        model: graph.lm.clone(),
        cost,
    })
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.estimate;
        writeln!(
            f,
            "optimize `{}`: at most {} LM calls ({} per program execution)",
            self.program, e.total, e.per_execution
        )?;
        for (phase, n) in [
            ("sampling", e.sampling),
            ("advice", e.advice),
            ("evaluation", e.evaluation),
            ("final selection", e.final_selection),
            ("devset", e.dev),
        ] {
            writeln!(f, "  {phase:<16} {n:>8}")?;
        }
        if let Some(cap) = self.call_cap {
            writeln!(f, "  stop.max_lm_calls = {cap} ends the run earlier")?;
        }
        match &self.cost {
            Some(c) => {
                writeln!(
                    f,
                    "  estimated cost   ${:.4} (about {} prompt + {} completion tokens per call)",
                    c.usd, c.prompt_tokens, c.completion_tokens
                )?;
                if let Some(cap) = c.cap {
                    writeln!(f, "  stop.max_cost = {cap} ends the run earlier")?;
                }
                Ok(())
            }
            None => writeln!(
                f,
                "  no price for `{}` in simba.toml: no cost estimate",
                self.model
            ),
        }
    }
}

/// Rough tokens of one call: a predictor prompt rendered for the first
/// training example (4 characters a token), plus `max_demos` demos of that
/// example's size (candidates carry demos), averaged over the program's
/// steps; the completion is the size of the example's labels.
fn call_tokens(max_demos: usize, graph: &ProgramGraph, train: &[Example]) -> (u64, u64) {
    let Some(example) = train.first() else {
        return (0, 0);
    };
    let values = example.inputs();
    let input_chars: usize = values.values().map(|v| v.to_string().len()).sum();
    let label_chars: usize = example
        .fields
        .iter()
        .filter(|(k, _)| !values.contains_key(*k))
        .map(|(_, v)| v.to_string().len())
        .sum();
    let completion = (label_chars as u64).div_ceil(4) + 8;
    // Tool steps (`search`) send no prompt.
    let predictors: Vec<_> = graph.steps.iter().filter(|s| s.is_predictor()).collect();
    if predictors.is_empty() {
        return (0, completion);
    }
    let mut prompt = 0u64;
    for step in &predictors {
        let outputs = step.lm_outputs();
        let spec = PredictSpec {
            instructions: &step.signature.instructions,
            inputs: &step.signature.inputs,
            outputs: &outputs,
        };
        let messages = format_messages(Format::Chat, &spec, &[], &values);
        let chars: usize = messages.iter().map(|m| m.content.len()).sum();
        prompt += (chars as u64).div_ceil(4);
    }
    let per_demo = ((input_chars + label_chars) as u64).div_ceil(4);
    (
        prompt / predictors.len() as u64 + max_demos as u64 * per_demo,
        completion,
    )
}
