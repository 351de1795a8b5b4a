//! `eval`: a program (the baseline, or a saved program.json) run over one
//! split and scored by its optimize block's metric.

use futures::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Error, Project};
use crate::ir::{DataRef, OptimizeDecl};
use crate::lm::ModelSet;
use crate::lm::usage::ModelUsage;
use crate::metric::{MetricError, MetricFn, Score};
use crate::program::exec::Executor;
use crate::program::load::read_program_json;
use crate::program::{Execution, ModelOverride, Program};
use crate::value::Example;

/// What to evaluate.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// A program.json whose instructions and demos replace the baseline's.
    pub program: Option<PathBuf>,
    /// `dev` (a split of the block's trainset dataset) or `dataset.split`;
    /// default: the block's devset, else its trainset.
    pub split: Option<String>,
    /// Which optimize block supplies dataset and metric (default: the first).
    pub only: Option<String>,
    /// Bypass the LM response cache.
    pub no_cache: bool,
}

/// One example's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The program's run on the example.
    pub execution: Execution,
    /// The metric's score of it.
    pub score: Score,
    /// Why the metric could not score the prediction (the score is then 0
    /// with this as feedback); `None` when it scored, or when there was no
    /// prediction to score.
    pub metric_error: Option<MetricError>,
}

/// What an eval found.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// The program evaluated.
    pub program: String,
    /// The split it ran over.
    pub split: DataRef,
    /// The metric that scored it.
    pub metric: String,
    /// The split's rows.
    pub examples: Vec<Example>,
    /// One per example, in example order.
    pub outcomes: Vec<Outcome>,
    /// Mean score over every example (failed executions score 0).
    pub mean: f64,
    /// Executions that produced no prediction.
    pub failed: usize,
    /// Predictions the metric could not score (each scored 0).
    pub metric_failed: usize,
    /// The registry's LM usage over the whole eval.
    pub usage: ModelUsage,
    /// What the saved program holds but the eval does not use (a saved
    /// `lm`, a demo label outside its enum), then problems with the LM
    /// response cache; one line each.
    pub warnings: Vec<String>,
}

impl EvalReport {
    /// The error when the metric could not score any prediction (and there
    /// was at least one): the run would stop on such a wave, so `eval`
    /// fails too.
    pub fn metric_never_scored(&self) -> Option<String> {
        let scored = self.outcomes.len() - self.failed;
        (scored > 0 && self.metric_failed == scored).then(|| {
            let first = self
                .outcomes
                .iter()
                .find_map(|o| o.metric_error.as_ref())
                .map(|e| e.to_string())
                .unwrap_or_default();
            format!("every metric call failed ({scored} of {scored}); the first: {first}")
        })
    }

    /// Score line, failures count and LM usage.
    pub fn summary(&self) -> String {
        format!(
            "{} on {} ({} examples), metric `{}`: {:.4}\nfailed executions: {}\nLM: {} calls ({} from cache), {} requests, {} tokens",
            self.program,
            self.split,
            self.examples.len(),
            self.metric,
            self.mean,
            self.failed,
            self.usage.calls,
            self.usage.cache_hits,
            self.usage.requests,
            self.usage.total_tokens(),
        )
    }

    /// The `--json` line of example `i`.
    pub fn json_line(&self, i: usize) -> serde_json::Value {
        let o = &self.outcomes[i];
        serde_json::json!({
            "index": i,
            "inputs": self.examples[i].inputs(),
            "prediction": o.execution.prediction,
            "score": o.score.value,
            "feedback": o.score.feedback,
            "error": o.execution.error,
        })
    }
}

/// `--split dev` is a split of the block's trainset dataset;
/// `--split data.dev` names the dataset too.
fn pick_split(block: &OptimizeDecl, split: Option<&str>) -> DataRef {
    match split {
        None => block
            .devset
            .clone()
            .unwrap_or_else(|| block.trainset.clone()),
        Some(s) => match s.split_once('.') {
            Some((dataset, split)) => DataRef {
                dataset: dataset.to_string(),
                split: split.to_string(),
            },
            None => DataRef {
                dataset: block.trainset.dataset.clone(),
                split: s.to_string(),
            },
        },
    }
}

/// Runs the eval `options` describe: the block's program (or the saved
/// one) over the split, scored by the block's metric, at most the block's
/// `concurrency` examples at a time. `progress` is told after each example
/// how many are done, out of how many, and their mean score.
pub async fn evaluate(
    project: &Project,
    options: &EvalOptions,
    progress: &(dyn Fn(usize, usize, f64) + Sync),
) -> Result<EvalReport, Error> {
    let spec = &project.spec;
    let block = project.block(options.only.as_deref())?;
    let data_ref = pick_split(block, options.split.as_deref());
    let examples = crate::data::load_split(spec, &data_ref)?;
    if examples.is_empty() {
        return Err(Error::Input(format!(
            "split `{data_ref}` has no rows: nothing to evaluate"
        )));
    }
    let graph = spec
        .programs
        .get(&block.program)
        .ok_or_else(|| Error::Input(format!("no program `{}`", block.program)))?;
    let graph = Arc::new(graph.clone());
    let (program, mut warnings) = match &options.program {
        Some(path) => {
            let loaded = read_program_json(path, graph).map_err(|e| Error::Input(e.to_string()))?;
            (loaded.program, loaded.warnings)
        }
        None => (Program::baseline(graph), Vec::new()),
    };
    let metric_decl = spec
        .metrics
        .get(&block.metric)
        .ok_or_else(|| Error::Input(format!("no metric `{}`", block.metric)))?
        .clone();
    let oracles = project.oracles()?;
    let cache_dir = if options.no_cache {
        None
    } else {
        block.cache.clone()
    };
    // Kept alive for the whole evaluation (plugin models call into it).
    let plugins = project.plugins()?;
    let mut models = project.models(&oracles, &plugins, cache_dir)?;
    if project.searches_remote(&block.program) {
        models.open_cache();
    }
    let models = Arc::new(models);
    let cache = models.cache();
    let corpora = Arc::new(project.corpora(&block.program, block.cache.clone(), cache.clone())?);
    let model_set: Arc<dyn ModelSet> = models.clone();
    let code = crate::plugin::code_items(&plugins, &project.spec, &block.program, &block.metric)?;
    let executor =
        Executor::with_corpora(model_set.clone(), corpora.clone()).with_tools(code.tools);
    let metric = match code.metric {
        Some(scorer) => MetricFn::with_code(metric_decl, model_set, scorer),
        None => MetricFn::new(metric_decl, model_set),
    };
    let outcomes = run_all(
        &executor,
        &metric,
        &program,
        &examples,
        block.concurrency,
        progress,
    )
    .await;
    warnings.extend(super::flush_cache(cache.as_deref()));
    let n = outcomes.len();
    let failed = outcomes
        .iter()
        .filter(|o| o.execution.prediction.is_none())
        .count();
    let metric_failed = outcomes.iter().filter(|o| o.metric_error.is_some()).count();
    match metric.command_warning() {
        Some(w) => warnings.push(w),
        None if metric_failed > 0 => warnings.push(format!(
            "metric `{}`: {metric_failed} of {} predictions could not be scored and scored 0",
            metric.name(),
            n - failed
        )),
        None => {}
    }
    let mean = if n == 0 {
        0.0
    } else {
        outcomes.iter().map(|o| o.score.value).sum::<f64>() / n as f64
    };
    Ok(EvalReport {
        program: block.program.clone(),
        split: data_ref,
        metric: metric.name().to_string(),
        examples,
        outcomes,
        mean,
        failed,
        metric_failed,
        usage: models.usage().total,
        warnings,
    })
}

/// Runs and scores every example, at most `concurrency` at a time; results
/// come back in example order.
async fn run_all(
    executor: &Executor,
    metric: &MetricFn,
    program: &Program,
    examples: &[Example],
    concurrency: usize,
    progress: &(dyn Fn(usize, usize, f64) + Sync),
) -> Vec<Outcome> {
    let ov = ModelOverride::default();
    // (examples done, sum of their scores)
    let done = std::sync::Mutex::new((0usize, 0.0f64));
    futures::stream::iter(examples.iter())
        .map(|ex| {
            let ov = &ov;
            let done = &done;
            async move {
                let execution = executor.run(program, ex, ov).await;
                let (score, metric_error) = match &execution.prediction {
                    None => (Score::no_prediction(), None),
                    Some(pred) => match metric.try_score(ex, pred).await {
                        Ok(score) => (score, None),
                        Err(e) => (e.to_score(), Some(e)),
                    },
                };
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                d.0 += 1;
                d.1 += score.value;
                progress(d.0, examples.len(), d.1 / d.0 as f64);
                Outcome {
                    execution,
                    score,
                    metric_error,
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
