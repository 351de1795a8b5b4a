//! Traced execution of a program's DAG on one input record.
//!
//! Steps whose inputs are ready run concurrently; a predictor step is one
//! call through the adapter with that step's instructions and demos, a
//! `search` step one search of its corpus. The trace is kept in step order,
//! never completion order.
//!
//! A failed call (an LM error, or a reply that did not parse even after the
//! JSON retry) fails the execution. Steps that read from a failed step (even
//! indirectly) are not run; steps independent of it still finish, so which
//! calls are made, the trace and the call count never depend on timing. The
//! error reported is the failed step with the lowest index.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::tools::{NoTools, ToolSet};
use super::{Execution, ModelOverride, PredictorState, Program, TraceEntry};
use crate::adapter::{PredictSpec, predict};
use crate::ir::{
    ModuleKind, SEARCH_QUERY_FIELD, SEARCH_RESULT_FIELD, SearchCall, Source, Step, ToolCall,
};
use crate::lm::{Lm, LmError, ModelSet, Request, Response, Usage};
use crate::retrieve::{CorpusSet, NoCorpora};
use crate::value::{ProgramInputs, Record};

/// What one execution cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Model calls made (a JSON retry counts as a second call), including
    /// failed ones and ones served from the cache.
    pub lm_calls: u64,
    /// Of those, answered from the response cache.
    pub cached_calls: u64,
    /// Tokens of the calls that returned.
    pub usage: Usage,
}

impl CallStats {
    fn add(&mut self, other: &CallStats) {
        self.lm_calls += other.lm_calls;
        self.cached_calls += other.cached_calls;
        self.usage.prompt_tokens += other.usage.prompt_tokens;
        self.usage.completion_tokens += other.usage.completion_tokens;
    }
}

/// Runs programs against a set of models (and corpora, for `search`
/// steps); shareable across tasks. Keeps running totals of the LM calls it
/// made (searches are counted by the corpora).
pub struct Executor {
    models: Arc<dyn ModelSet>,
    corpora: Arc<dyn CorpusSet>,
    tools: Arc<dyn ToolSet>,
    calls: AtomicU64,
    cached: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// Counts the calls one predictor call makes (the adapter may call twice).
struct Counting<'a> {
    inner: &'a dyn Lm,
    stats: Mutex<CallStats>,
}

#[async_trait]
impl Lm for Counting<'_> {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        let result = self.inner.complete(request).await;
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.lm_calls += 1;
        if let Ok(r) = &result {
            s.cached_calls += u64::from(r.cached);
            s.usage.prompt_tokens += r.usage.prompt_tokens;
            s.usage.completion_tokens += r.usage.completion_tokens;
        }
        result
    }
}

/// The outcome of one step.
struct StepRun {
    /// Some when a call was made (it goes in the trace).
    entry: Option<TraceEntry>,
    result: Result<Record, String>,
    stats: CallStats,
}

/// What the steps of one execution left, by step index.
struct Settled {
    outputs: Vec<Option<Record>>,
    entries: Vec<Option<TraceEntry>>,
    errors: Vec<Option<String>>,
    stats: CallStats,
}

impl Settled {
    /// Records step `i`'s run; whether it succeeded.
    fn settle(&mut self, i: usize, run: StepRun) -> bool {
        self.stats.add(&run.stats);
        self.entries[i] = run.entry;
        match run.result {
            Ok(out) => {
                self.outputs[i] = Some(out);
                true
            }
            Err(e) => {
                self.errors[i] = Some(e);
                false
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    /// Failed, or not run because an input came from a failed step.
    Dead,
}

impl Executor {
    /// An executor calling the models in `models`, with its counters at
    /// zero; a `search` step finds no corpus.
    pub fn new(models: Arc<dyn ModelSet>) -> Self {
        Self::with_corpora(models, Arc::new(NoCorpora))
    }

    /// An executor whose `search` steps search `corpora`.
    pub fn with_corpora(models: Arc<dyn ModelSet>, corpora: Arc<dyn CorpusSet>) -> Self {
        Self {
            models,
            corpora,
            tools: Arc::new(NoTools),
            calls: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
        }
    }

    /// The same executor, with plugin tool steps run by `tools`.
    pub fn with_tools(mut self, tools: Arc<dyn ToolSet>) -> Self {
        self.tools = tools;
        self
    }

    /// The models this executor calls.
    pub fn models(&self) -> &Arc<dyn ModelSet> {
        &self.models
    }

    /// Totals over every execution run so far.
    pub fn totals(&self) -> CallStats {
        CallStats {
            lm_calls: self.calls.load(Ordering::Relaxed),
            cached_calls: self.cached.load(Ordering::Relaxed),
            usage: Usage {
                prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
                completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            },
        }
    }

    /// Run `program` on `inputs` (the program's input fields).
    pub async fn run(
        &self,
        program: &Program,
        inputs: &dyn ProgramInputs,
        ov: &ModelOverride,
    ) -> Execution {
        self.run_counted(program, inputs, ov).await.0
    }

    /// [`run`](Self::run), also returning what this execution cost.
    pub async fn run_counted(
        &self,
        program: &Program,
        inputs: &dyn ProgramInputs,
        ov: &ModelOverride,
    ) -> (Execution, CallStats) {
        let graph = &program.graph;
        let n = graph.steps.len();
        let mut done = Settled {
            outputs: vec![None; n],
            entries: vec![None; n],
            errors: vec![None; n],
            stats: CallStats::default(),
        };
        if n == 1 {
            // Most programs are one step: nothing to schedule, so none of
            // the concurrent machinery (a task allocation and wake-ups per
            // execution).
            match self.start_step(program, 0, inputs, &done.outputs, ov) {
                Ok(run) => {
                    done.settle(0, run.await);
                }
                Err(e) => done.errors[0] = Some(e),
            }
        } else {
            self.run_concurrently(program, inputs, ov, &mut done).await;
        }
        let Settled {
            outputs,
            entries,
            errors,
            stats,
        } = done;

        self.calls.fetch_add(stats.lm_calls, Ordering::Relaxed);
        self.cached.fetch_add(stats.cached_calls, Ordering::Relaxed);
        self.prompt_tokens
            .fetch_add(stats.usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(stats.usage.completion_tokens, Ordering::Relaxed);

        let trace: Vec<TraceEntry> = entries.into_iter().flatten().collect();
        let error = errors.into_iter().flatten().next();
        let execution = match error {
            Some(e) => Execution {
                prediction: None,
                trace,
                error: Some(e),
            },
            None => match program_outputs(graph, inputs, &outputs) {
                Ok(pred) => Execution {
                    prediction: Some(pred),
                    trace,
                    error: None,
                },
                Err(e) => Execution {
                    prediction: None,
                    trace,
                    error: Some(e),
                },
            },
        };
        (execution, stats)
    }

    /// Step `i` bound to its inputs, ready to run; the binding error when
    /// an input cannot be read.
    fn start_step<'a>(
        &'a self,
        program: &'a Program,
        i: usize,
        inputs: &dyn ProgramInputs,
        outputs: &[Option<Record>],
        ov: &'a ModelOverride,
    ) -> Result<impl Future<Output = StepRun> + 'a, String> {
        let step = &program.graph.steps[i];
        let step_inputs = bind(step, inputs, &program.graph, outputs)?;
        let pstate = program.predictors.get(&step.name);
        Ok(self.run_step(step, pstate, step_inputs, ov))
    }

    /// Runs a program of several steps: each step as soon as its inputs
    /// are settled, concurrently with the others.
    async fn run_concurrently(
        &self,
        program: &Program,
        inputs: &dyn ProgramInputs,
        ov: &ModelOverride,
        done: &mut Settled,
    ) {
        let graph = &program.graph;
        let n = graph.steps.len();
        let mut state = vec![State::Waiting; n];
        let mut running = FuturesUnordered::new();

        loop {
            // Steps are topologically ordered, so one pass in index order
            // settles every step whose dependencies are settled.
            for i in 0..n {
                if state[i] != State::Waiting {
                    continue;
                }
                let deps = &graph.deps[i];
                if deps.iter().any(|&d| state[d] == State::Dead) {
                    state[i] = State::Dead;
                    continue;
                }
                if !deps.iter().all(|&d| state[d] == State::Done) {
                    continue;
                }
                match self.start_step(program, i, inputs, &done.outputs, ov) {
                    Ok(run) => {
                        state[i] = State::Running;
                        running.push(async move { (i, run.await) });
                    }
                    Err(e) => {
                        state[i] = State::Dead;
                        done.errors[i] = Some(e);
                    }
                }
            }
            let Some((i, run)) = running.next().await else {
                break;
            };
            state[i] = if done.settle(i, run) {
                State::Done
            } else {
                State::Dead
            };
        }
    }

    async fn run_step(
        &self,
        step: &Step,
        pstate: Option<&PredictorState>,
        inputs: Record,
        ov: &ModelOverride,
    ) -> StepRun {
        if let ModuleKind::Search(call) = &step.module {
            // Retrieval ignores sampling overrides: the same query always
            // gets the same passages.
            return self.run_search(step, call, inputs).await;
        }
        if let ModuleKind::Tool(call) = &step.module {
            return self.run_tool(step, call, inputs).await;
        }
        let model = ov.model.as_deref().unwrap_or(&step.lm);
        let fail = |why: String| StepRun {
            entry: None,
            result: Err(format!("step `{}` (model `{model}`): {why}", step.name)),
            stats: CallStats::default(),
        };
        let (Some(lm), Some(mut template)) = (self.models.lm(model), self.models.template(model))
        else {
            return fail("no such model".into());
        };
        if let Some(t) = ov.temperature {
            template.temperature = t;
        }
        if ov.rollout_id.is_some() {
            template.rollout_id = ov.rollout_id;
        }
        if ov.seed.is_some() {
            template.seed = ov.seed;
        }
        let baseline;
        let pstate = match pstate {
            Some(p) => p,
            None => {
                baseline = PredictorState {
                    instructions: step.signature.instructions.clone(),
                    demos: Vec::new(),
                };
                &baseline
            }
        };
        let lm_outputs = step.lm_outputs();
        let spec = PredictSpec {
            instructions: &pstate.instructions,
            inputs: &step.signature.inputs,
            outputs: &lm_outputs,
        };
        let counting = Counting {
            inner: lm.as_ref(),
            stats: Mutex::new(CallStats::default()),
        };
        let result = predict(&counting, &template, &spec, &pstate.demos, &inputs).await;
        let stats = counting
            .stats
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(p) => StepRun {
                entry: Some(TraceEntry {
                    step: step.name.clone(),
                    inputs,
                    outputs: p.outputs.clone(),
                }),
                result: Ok(p.outputs),
                stats,
            },
            Err(e) => StepRun {
                entry: Some(TraceEntry {
                    step: step.name.clone(),
                    inputs,
                    outputs: Record::default(),
                }),
                result: Err(format!("step `{}` (model `{model}`): {e}", step.name)),
                stats,
            },
        }
    }
}

impl Executor {
    /// A `search` step: one search of its corpus, traced like a predictor
    /// call (inputs `query`, outputs `passages`).
    async fn run_search(&self, step: &Step, call: &SearchCall, inputs: Record) -> StepRun {
        let fail = |inputs: Record, why: String| StepRun {
            entry: Some(TraceEntry {
                step: step.name.clone(),
                inputs,
                outputs: Record::default(),
            }),
            result: Err(format!(
                "step `{}` (corpus `{}`): {why}",
                step.name, call.corpus
            )),
            stats: CallStats::default(),
        };
        let query = match inputs.get(SEARCH_QUERY_FIELD) {
            Some(serde_json::Value::String(q)) => q.clone(),
            Some(other) => other.to_string(),
            None => return fail(inputs, "no query".into()),
        };
        let Some(corpus) = self.corpora.corpus(&call.corpus) else {
            return fail(inputs, "no such corpus in this run".into());
        };
        match corpus.search(&query, call.k).await {
            Ok(passages) => {
                let mut outputs = Record::default();
                outputs.insert(
                    SEARCH_RESULT_FIELD.into(),
                    serde_json::Value::from(passages),
                );
                StepRun {
                    entry: Some(TraceEntry {
                        step: step.name.clone(),
                        inputs,
                        outputs: outputs.clone(),
                    }),
                    result: Ok(outputs),
                    stats: CallStats::default(),
                }
            }
            Err(e) => fail(inputs, e.message),
        }
    }
}

impl Executor {
    /// A plugin tool step, traced like any step. The reply must hold every
    /// output the tool's manifest declares, each of its declared type;
    /// other keys are dropped.
    async fn run_tool(&self, step: &Step, call: &ToolCall, inputs: Record) -> StepRun {
        let result = self.tools.run(call, &inputs).await.and_then(|mut reply| {
            let mut outputs = Record::default();
            for f in &step.signature.outputs {
                let v = reply
                    .shift_remove(&f.name)
                    .ok_or_else(|| format!("the reply has no output `{}`", f.name))?;
                if !f.ty.fits(&v) {
                    return Err(format!(
                        "output `{}` is not the declared {}: {}",
                        f.name,
                        f.ty,
                        preview(&v)
                    ));
                }
                outputs.insert(f.name.clone(), v);
            }
            Ok(outputs)
        });
        let outputs = result
            .as_ref()
            .map_or_else(|_| Record::default(), Clone::clone);
        StepRun {
            entry: Some(TraceEntry {
                step: step.name.clone(),
                inputs,
                outputs,
            }),
            result: result
                .map_err(|why| format!("step `{}` (tool `{}`): {why}", step.name, call.item)),
            stats: CallStats::default(),
        }
    }
}

/// The start of a value's JSON, for a message.
fn preview(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn resolve(
    source: &Source,
    inputs: &dyn ProgramInputs,
    graph: &crate::ir::ProgramGraph,
    outputs: &[Option<Record>],
) -> Result<serde_json::Value, String> {
    match source {
        Source::Input(name) => inputs
            .input(name)
            .cloned()
            .ok_or_else(|| format!("program input `{name}` is missing")),
        Source::Step { step, field } => {
            let idx = graph
                .steps
                .iter()
                .position(|s| &s.name == step)
                .ok_or_else(|| format!("no step `{step}`"))?;
            outputs[idx]
                .as_ref()
                .and_then(|o| o.get(field))
                .cloned()
                .ok_or_else(|| format!("step `{step}` has no output `{field}`"))
        }
    }
}

/// The inputs of `step`, in its signature's order.
fn bind(
    step: &Step,
    inputs: &dyn ProgramInputs,
    graph: &crate::ir::ProgramGraph,
    outputs: &[Option<Record>],
) -> Result<Record, String> {
    step.bindings
        .iter()
        .map(|(name, source)| {
            resolve(source, inputs, graph, outputs)
                .map(|v| (name.clone(), v))
                .map_err(|e| format!("step `{}`: input `{name}`: {e}", step.name))
        })
        .collect()
}

fn program_outputs(
    graph: &crate::ir::ProgramGraph,
    inputs: &dyn ProgramInputs,
    outputs: &[Option<Record>],
) -> Result<Record, String> {
    graph
        .outputs
        .iter()
        .map(|(name, source)| {
            resolve(source, inputs, graph, outputs)
                .map(|v| (name.clone(), v))
                .map_err(|e| format!("program output `{name}`: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
