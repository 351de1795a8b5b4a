//! `simba-run eval`: run a program (the baseline, or a saved program.json)
//! over one split and print its score and failures.

use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;

use super::{EvalArgs, exit};
use crate::ir::{DataRef, OptimizeDecl, Spec};
use crate::lm::ModelSet;
use crate::lm::registry::ModelsOptions;
use crate::lm::usage::ModelUsage;
use crate::metric::{MetricFn, Score};
use crate::program::exec::Executor;
use crate::program::load::load_program_json;
use crate::program::{Example, Execution, ModelOverride, Program};

/// Why an eval could not start (exit code 1).
type SetupError = String;

pub fn run(args: EvalArgs) -> i32 {
    let loaded = match crate::compile::load_spec(&args.spec, &[], None) {
        Ok(l) => l,
        Err(crate::compile::LoadError::Io(msg)) => {
            eprintln!("error: {msg}");
            return exit::INPUT;
        }
        Err(e) => {
            eprint!("{e}");
            return exit::INPUT;
        }
    };
    for w in &loaded.warnings {
        eprint!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::RUN_FAILED;
        }
    };
    match runtime.block_on(eval_spec(&loaded.spec, &args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::INPUT
        }
    }
}

/// The optimize block that supplies dataset and metric.
fn pick_block<'a>(spec: &'a Spec, only: Option<&str>) -> Result<&'a OptimizeDecl, SetupError> {
    let names = || {
        spec.optimizes
            .iter()
            .map(|o| o.program.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match only {
        Some(name) => spec
            .optimizes
            .iter()
            .find(|o| o.program == name)
            .ok_or_else(|| {
                format!(
                    "--only {name}: no optimize block for that program (there are: {})",
                    names()
                )
            }),
        None => spec.optimizes.first().ok_or_else(|| {
            "eval needs an `optimize` block: it names the dataset and the metric".to_string()
        }),
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

/// One example's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub execution: Execution,
    pub score: Score,
}

/// What an eval found.
#[derive(Debug, Clone)]
pub struct EvalReport {
    pub program: String,
    pub split: DataRef,
    pub metric: String,
    pub examples: Vec<Example>,
    /// One per example, in example order.
    pub outcomes: Vec<Outcome>,
    /// Mean score over every example (failed executions score 0).
    pub mean: f64,
    /// Executions that produced no prediction.
    pub failed: usize,
    /// The registry's LM usage over the whole eval.
    pub usage: ModelUsage,
}

impl EvalReport {
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

async fn eval_spec(spec: &Spec, args: &EvalArgs) -> Result<i32, SetupError> {
    let report = evaluate(spec, args).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for i in 0..report.outcomes.len() {
            let _ = writeln!(out, "{}", report.json_line(i));
        }
        eprintln!("{}", report.summary());
    } else {
        let _ = writeln!(out, "{}", report.summary());
        for (i, o) in report.outcomes.iter().enumerate() {
            if let Some(e) = &o.execution.error {
                let _ = writeln!(out, "  example {i}: {e}");
            }
        }
    }
    let n = report.outcomes.len();
    if n > 0 && report.failed == n {
        eprintln!("error: every execution failed");
        return Ok(exit::RUN_FAILED);
    }
    Ok(exit::OK)
}

/// Run the eval `args` describe on a compiled spec: the chosen block's
/// program (or `args.program`) over the split, scored by the block's metric.
pub async fn evaluate(spec: &Spec, args: &EvalArgs) -> Result<EvalReport, SetupError> {
    let block = pick_block(spec, args.only.as_deref())?;
    let data_ref = pick_split(block, args.split.as_deref());
    let examples = crate::data::load_split(spec, &data_ref).map_err(|e| e.to_string())?;
    let graph = spec
        .programs
        .get(&block.program)
        .ok_or_else(|| format!("no program `{}`", block.program))?;
    let graph = Arc::new(graph.clone());
    let program = match &args.program {
        Some(path) => load_program_json(path, graph).map_err(|e| e.to_string())?,
        None => Program::baseline(graph),
    };
    let metric_decl = spec
        .metrics
        .get(&block.metric)
        .ok_or_else(|| format!("no metric `{}`", block.metric))?
        .clone();
    let oracles = crate::optimize::runtime::oracles(spec).map_err(|e| e.to_string())?;
    let options = ModelsOptions {
        cache_dir: if args.no_cache {
            None
        } else {
            block.cache.clone()
        },
    };
    // Kept alive for the whole evaluation (plugin models call into it).
    let plugins = crate::plugin::load_plugins(spec).map_err(|e| e.to_string())?;
    let mut models = crate::plugin::build_models(spec, &oracles, options, &plugins)
        .map_err(|e| e.to_string())?;
    let cache = models.cache();
    super::cache::report_warnings(cache.as_deref(), false);
    if let Some(backoff) = crate::lm::retry::Backoff::from_env()? {
        models.set_backoff(backoff);
    }
    let models = Arc::new(models);
    let model_set: Arc<dyn ModelSet> = models.clone();
    let executor = Executor::new(model_set.clone());
    let metric = MetricFn::new(metric_decl, model_set);

    let bar = progress_bar(examples.len() as u64, args.json);
    let outcomes = run_all(
        &executor,
        &metric,
        &program,
        &examples,
        block.concurrency,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    super::cache::flush(cache.as_deref(), false);

    let n = outcomes.len();
    let failed = outcomes
        .iter()
        .filter(|o| o.execution.prediction.is_none())
        .count();
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
        usage: models.usage().total,
    })
}

fn progress_bar(len: u64, json: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed}] {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Run and score every example, at most `concurrency` at a time; results
/// come back in example order.
async fn run_all(
    executor: &Executor,
    metric: &MetricFn,
    program: &Program,
    examples: &[Example],
    concurrency: usize,
    bar: &indicatif::ProgressBar,
) -> Vec<Outcome> {
    let ov = ModelOverride::default();
    let total = std::sync::Mutex::new(0.0f64);
    futures::stream::iter(examples.iter())
        .map(|ex| {
            let ov = &ov;
            let total = &total;
            async move {
                let execution = executor.run(program, &ex.inputs(), ov).await;
                let score = metric.score(ex, execution.prediction.as_ref()).await;
                let mut sum = total.lock().unwrap_or_else(|e| e.into_inner());
                *sum += score.value;
                bar.inc(1);
                bar.set_message(format!("mean {:.3}", *sum / bar.position() as f64));
                Outcome { execution, score }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
