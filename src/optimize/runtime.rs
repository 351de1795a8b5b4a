//! The optimizer wired to the real runtime: the evaluator that runs programs
//! with the executor and scores them with the spec's metric, the prompt model
//! called through the adapter, and [`prepare`], which builds an
//! [`OptimizeInput`] from a compiled spec.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

use crate::adapter::{PredictSpec, predict};
use crate::ir::{Field, MetricDecl, OptimizeDecl, Spec};
use crate::lm::{Lm, ModelSet, Request};
use crate::metric::{CodeScorer, MetricFn, Score};
use crate::program::exec::Executor;
use crate::program::tools::{NoTools, ToolSet};
use crate::program::{ModelOverride, Program};
use crate::retrieve::{CorpusSet, NoCorpora};
use crate::value::{Example, Record};

use super::checkpoint::ScoreRange;
use super::engine::{OptimizeError, OptimizeInput};
use super::evaluator::{CountingModels, Evaluator, Outcome, UsageCounter};
use super::events::EventSink;
use super::strategy::{FieldPredictor, PromptModel, Strategy};

/// The code a run calls besides models and corpora: the plugin metric's
/// instance (when the metric is a plugin's) and the plugin tools of the
/// program's tool steps.
#[derive(Clone)]
pub struct CodeItems {
    /// Scores a plugin metric; `None` for every other metric.
    pub metric: Option<Arc<dyn CodeScorer>>,
    /// Runs the program's tool steps.
    pub tools: Arc<dyn ToolSet>,
}

impl Default for CodeItems {
    fn default() -> Self {
        Self {
            metric: None,
            tools: Arc::new(NoTools),
        }
    }
}

/// Runs a program with the executor and scores it with the metric.
pub struct SpecEvaluator {
    executor: Executor,
    metric: MetricFn,
}

impl SpecEvaluator {
    /// An evaluator whose programs and judge metrics call `models` (and
    /// whose `search` steps find no corpus).
    pub fn new(models: Arc<dyn ModelSet>, metric: MetricDecl) -> Self {
        Self::with_corpora(models, Arc::new(NoCorpora), metric)
    }

    /// An evaluator whose `search` steps search `corpora`.
    pub fn with_corpora(
        models: Arc<dyn ModelSet>,
        corpora: Arc<dyn CorpusSet>,
        metric: MetricDecl,
    ) -> Self {
        Self::with_code(models, corpora, metric, CodeItems::default())
    }

    /// An evaluator whose tool steps and plugin metric run `code`.
    pub fn with_code(
        models: Arc<dyn ModelSet>,
        corpora: Arc<dyn CorpusSet>,
        metric: MetricDecl,
        code: CodeItems,
    ) -> Self {
        let metric = match code.metric {
            Some(scorer) => MetricFn::with_code(metric, models.clone(), scorer),
            None => MetricFn::new(metric, models.clone()),
        };
        Self {
            executor: Executor::with_corpora(models, corpora).with_tools(code.tools),
            metric,
        }
    }
}

#[async_trait]
impl Evaluator for SpecEvaluator {
    async fn run(&self, program: &Program, example: &Example, ov: &ModelOverride) -> Outcome {
        // The row itself: no copy of its inputs per execution.
        let execution = self.executor.run(program, example, ov).await;
        // A failed metric still scores 0 with its reason as feedback, and is
        // kept apart so the engine can tell it from a low score.
        let (score, metric_error) = match &execution.prediction {
            None => (Score::no_prediction(), None),
            Some(pred) => match self.metric.try_score(example, pred).await {
                Ok(score) => (score, None),
                Err(e) => (e.to_score(), Some(e)),
            },
        };
        Outcome {
            execution,
            score,
            metric_error,
        }
    }

    fn warnings(&self) -> Vec<String> {
        self.metric.command_warning().into_iter().collect()
    }
}

/// The prompt model called through the adapter, in the same prompt format
/// as every predictor call.
pub struct AdapterPredictor {
    /// The prompt model.
    pub lm: Arc<dyn Lm>,
    /// Its request settings (model name, temperature, max_tokens).
    pub template: Request,
}

#[async_trait]
impl FieldPredictor for AdapterPredictor {
    async fn predict(
        &self,
        instructions: &str,
        inputs: &[Field],
        outputs: &[Field],
        values: &Record,
    ) -> Result<Record, String> {
        let spec = PredictSpec {
            instructions,
            inputs,
            outputs,
        };
        predict(self.lm.as_ref(), &self.template, &spec, &[], values)
            .await
            .map(|p| p.outputs)
            .map_err(|e| e.to_string())
    }
}

/// Build the input of one optimization from a compiled spec and its loaded
/// data, with the built-in strategies only (a plugin strategy in the block
/// is a configuration error: use [`prepare_with`] and strategies resolved by
/// the plugin host).
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    spec: &Spec,
    decl: &OptimizeDecl,
    models: Arc<dyn ModelSet>,
    trainset: Vec<Example>,
    devset: Option<Vec<Example>>,
    events: EventSink,
    warnings: Vec<String>,
) -> Result<OptimizeInput, OptimizeError> {
    let strategies =
        super::builtin_strategies(&decl.strategies).map_err(|message| OptimizeError::Config {
            program: decl.program.clone(),
            message,
        })?;
    prepare_with(
        spec,
        decl,
        models,
        Arc::new(NoCorpora),
        strategies,
        trainset,
        devset,
        events,
        warnings,
    )
}

/// [`prepare`] with the block's strategies already resolved (built-ins and
/// plugin strategies, in the block's order) and the corpora its `search`
/// steps call. Every LM call goes through a [`CountingModels`] around
/// `models`, counted into the returned input's `usage`.
#[allow(clippy::too_many_arguments)]
pub fn prepare_with(
    spec: &Spec,
    decl: &OptimizeDecl,
    models: Arc<dyn ModelSet>,
    corpora: Arc<dyn CorpusSet>,
    strategies: Vec<Arc<dyn Strategy>>,
    trainset: Vec<Example>,
    devset: Option<Vec<Example>>,
    events: EventSink,
    warnings: Vec<String>,
) -> Result<OptimizeInput, OptimizeError> {
    let data = (trainset, devset);
    let io = (events, warnings);
    prepare_with_code(
        spec,
        decl,
        models,
        corpora,
        CodeItems::default(),
        strategies,
        data,
        io,
    )
}

/// [`prepare_with`] whose plugin metric and tool steps run `code`; `data`
/// is the trainset and devset, `io` the event sink and the warnings so far.
#[allow(clippy::too_many_arguments)]
pub fn prepare_with_code(
    spec: &Spec,
    decl: &OptimizeDecl,
    models: Arc<dyn ModelSet>,
    corpora: Arc<dyn CorpusSet>,
    code: CodeItems,
    strategies: Vec<Arc<dyn Strategy>>,
    (trainset, devset): (Vec<Example>, Option<Vec<Example>>),
    (events, warnings): (EventSink, Vec<String>),
) -> Result<OptimizeInput, OptimizeError> {
    let config = |message: String| OptimizeError::Config {
        program: decl.program.clone(),
        message,
    };
    let graph = spec
        .programs
        .get(&decl.program)
        .ok_or_else(|| config(format!("no program named `{}`", decl.program)))?;
    let metric = spec
        .metrics
        .get(&decl.metric)
        .ok_or_else(|| config(format!("no metric named `{}`", decl.metric)))?
        .clone();
    let usage = UsageCounter::new();
    let counted: Arc<dyn ModelSet> = CountingModels::new(models, usage.clone());
    let prompt_name = decl
        .prompt_model
        .clone()
        .unwrap_or_else(|| graph.lm.clone());
    let needs_prompt = decl
        .strategies
        .iter()
        .any(|s| *s != crate::ir::StrategyRef::AppendDemo);
    let prompt = match (counted.lm(&prompt_name), counted.template(&prompt_name)) {
        (Some(lm), Some(template)) => Some(PromptModel {
            name: prompt_name.clone(),
            lm: lm.clone(),
            template: template.clone(),
            predictor: Arc::new(AdapterPredictor { lm, template }),
        }),
        _ if needs_prompt => {
            return Err(config(format!(
                "the prompt model `{prompt_name}` is not a model of the spec"
            )));
        }
        _ => None,
    };
    if let Some(t) = &decl.teacher
        && counted.lm(t).is_none()
    {
        return Err(config(format!(
            "the teacher `{t}` is not a model of the spec"
        )));
    }
    let model_decl = spec.models.get(&graph.lm);
    // The valset is loaded (or held out of the trainset) here, not by
    // `load_data`, so callers that only want train and dev keep their
    // signature.
    let (trainset, valset) = if decl.valset_auto {
        let cut = crate::data::hold_out(&decl.trainset.to_string(), trainset, decl.seed)
            .map_err(|e| config(e.to_string()))?;
        (cut.train, Some(cut.valset))
    } else {
        let valset = match &decl.valset {
            Some(r) => Some(crate::data::load_split(spec, r).map_err(|e| config(e.to_string()))?),
            None => None,
        };
        (trainset, valset)
    };
    Ok(OptimizeInput {
        decl: decl.clone(),
        baseline: Program::baseline(Arc::new(graph.clone())),
        trainset,
        devset,
        valset,
        score_range: ScoreRange::of_metric(&metric),
        evaluator: Arc::new(SpecEvaluator::with_code(counted, corpora, metric, code)),
        strategies,
        prompt,
        base_temperature: model_decl.map_or(0.0, |m| m.temperature),
        model_id: model_decl.map_or_else(|| graph.lm.clone(), |m| m.model.clone()),
        usage,
        events,
        spec_path: Some(PathBuf::from(&spec.path)),
        warnings,
    })
}

/// The oracle rows of every `sim` model of the spec, by dataset name: every
/// row of every split of the dataset its `oracle` names.
pub fn oracles(
    spec: &Spec,
) -> Result<indexmap::IndexMap<String, Vec<Example>>, crate::data::DataError> {
    let mut out = indexmap::IndexMap::new();
    for m in spec.models.values() {
        if let Some(name) = &m.oracle
            && !out.contains_key(name)
        {
            let decl = crate::data::spec_dataset(spec, name)?;
            out.insert(name.clone(), crate::data::all_rows(&decl)?);
        }
    }
    Ok(out)
}

/// The trainset and (when the block names one) devset of an optimize block.
pub fn load_data(
    spec: &Spec,
    decl: &OptimizeDecl,
) -> Result<(Vec<Example>, Option<Vec<Example>>), crate::data::DataError> {
    let train = crate::data::load_split(spec, &decl.trainset)?;
    let dev = match &decl.devset {
        Some(r) => Some(crate::data::load_split(spec, r)?),
        None => None,
    };
    Ok((train, dev))
}
