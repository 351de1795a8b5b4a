//! `simba-run spec.simba`: run the spec's optimize blocks, render progress
//! from the engine's events, write the artifacts, print a summary.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use super::signals::Interrupts;
use super::{RunArgs, exit};
use crate::compile::{Override, load_spec};
use crate::config::{Price, ProjectConfig};
use crate::ir::{OptimizeDecl, Spec};
use crate::lm::retry::Backoff;
use crate::lm::{ModelSet, ModelsOptions};
use crate::optimize::checkpoint::{CHECKPOINT_JSON, Checkpoint, file_sink};
use crate::optimize::runtime::{load_data, oracles, prepare_with};
use crate::optimize::{
    Event, EventSink, OptimizeError, OptimizeOutput, Phase, RunOptions, optimize_with,
};
use crate::plugin::{build_models, load_plugins, resolve_strategies};

/// A failed run: the exit code and the message printed on stderr.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn input(message: impl Into<String>) -> Self {
        Self {
            code: exit::INPUT,
            message: message.into(),
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Human,
    Json,
    Quiet,
}

pub fn run(args: RunArgs) -> i32 {
    match execute(&args) {
        Ok(()) => exit::OK,
        Err(f) => {
            let msg = f.message.trim_end();
            if msg.starts_with("error") {
                eprintln!("{msg}");
            } else {
                eprintln!("error: {msg}");
            }
            f.code
        }
    }
}

fn execute(args: &RunArgs) -> Result<(), Failure> {
    let mode = if args.json {
        Mode::Json
    } else if args.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    let Some(path) = args.spec.as_deref() else {
        return Err(Failure {
            code: exit::USAGE,
            message: "no spec file given (usage: simba-run spec.simba)".into(),
        });
    };
    let overrides: Vec<Override> = args
        .set
        .iter()
        .map(|s| s.parse::<Override>())
        .collect::<Result<_, _>>()
        .map_err(|m| Failure {
            code: exit::USAGE,
            message: m,
        })?;
    // An absolute spec path makes every path the spec resolves (data,
    // output, cache) independent of how many stages join it to the spec's
    // folder.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // simba.toml < spec < --set: the project's defaults go in as overrides
    // of the keys the spec leaves unset, before the user's own.
    let project = ProjectConfig::for_spec(&path).map_err(|e| Failure::input(e.to_string()))?;
    let mut from_defaults = 0;
    let overrides = match std::fs::read_to_string(&path) {
        Ok(source) => {
            let mut all = project.default_overrides(&source);
            from_defaults = all.len();
            all.extend(overrides);
            all
        }
        Err(_) => overrides, // load_spec reports the unreadable file
    };
    let loaded = load_spec(&path, &overrides, args.seed).map_err(|e| {
        let mut message = e.to_string();
        if from_defaults > 0 && message.contains("--set:") {
            message.push_str(&format!(
                "\nnote: `--set:1` to `--set:{from_defaults}` are the [defaults] of {}",
                project
                    .path
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string())
            ));
        }
        Failure::input(message)
    })?;
    if mode != Mode::Quiet {
        // On stderr in every mode: with --json, stdout carries only events.
        for w in &loaded.warnings {
            eprintln!("{}", w.trim_end());
        }
    }
    let spec = loaded.spec;
    let blocks = select_blocks(&spec, args.only.as_deref())?;
    let prices = item_prices(&spec, &project);
    for decl in &blocks {
        if decl.stop.max_cost.is_some() {
            let unpriced: Vec<String> = spec
                .models
                .values()
                .filter(|m| !prices.contains_key(&m.name))
                .map(|m| format!("`{}` (model id \"{}\")", m.name, m.model))
                .collect();
            if !unpriced.is_empty() {
                return Err(Failure::input(format!(
                    "optimize `{}`: stop.max_cost needs a price for every model; add [prices.\"MODEL-ID\"] input/output (USD per million tokens) to {} for {}",
                    decl.program,
                    project.path.as_ref().map_or_else(
                        || "a simba.toml beside the spec".to_string(),
                        |p| p.display().to_string()
                    ),
                    unpriced.join(", ")
                )));
            }
        }
    }
    if args.dry_run {
        for decl in &blocks {
            dry_run(&spec, decl, &prices)?;
        }
        return Ok(());
    }
    let oracles = oracles(&spec).map_err(|e| Failure::input(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: exit::RUN_FAILED,
            message: format!("cannot start the async runtime: {e}"),
        })?;
    let mut interrupts = {
        let _entered = rt.enter();
        Interrupts::install().map_err(|e| Failure {
            code: exit::RUN_FAILED,
            message: format!("cannot listen for SIGINT/SIGTERM: {e}"),
        })?
    };
    let several = blocks.len() > 1;
    for decl in blocks {
        let out_dir = match &args.out {
            Some(dir) if several => dir.join(&decl.program),
            Some(dir) => dir.clone(),
            None => decl.output.clone(),
        };
        run_block(
            &rt,
            &mut interrupts,
            &spec,
            &decl,
            &oracles,
            &out_dir,
            args.no_cache,
            args.resume,
            &prices,
            loaded.warnings.clone(),
            mode,
        )?;
    }
    Ok(())
}

/// Prices by model item name, from simba.toml's prices by model id.
fn item_prices(spec: &Spec, project: &ProjectConfig) -> indexmap::IndexMap<String, Price> {
    spec.models
        .values()
        .filter_map(|m| project.price(&m.model).map(|p| (m.name.clone(), p)))
        .collect()
}

/// `--dry-run`: the LM calls one block implies, per phase; no call is made.
fn dry_run(
    spec: &Spec,
    decl: &OptimizeDecl,
    prices: &indexmap::IndexMap<String, Price>,
) -> Result<(), Failure> {
    let (train, dev) = load_data(spec, decl).map_err(|e| Failure::input(e.to_string()))?;
    let val = match &decl.valset {
        Some(r) => Some(
            crate::data::load_split(spec, r)
                .map_err(|e| Failure::input(e.to_string()))?
                .len(),
        ),
        None => None,
    };
    let graph = spec
        .programs
        .get(&decl.program)
        .ok_or_else(|| Failure::input(format!("no program named `{}`", decl.program)))?;
    let metric = spec
        .metrics
        .get(&decl.metric)
        .ok_or_else(|| Failure::input(format!("no metric named `{}`", decl.metric)))?;
    let model = spec.models.get(&graph.lm);
    let variants =
        crate::optimize::variants::sampling_variants(&crate::optimize::variants::VariantConfig {
            scheme: decl.resample,
            num_candidates: decl.num_candidates,
            teacher: decl.teacher.clone(),
            base_temperature: model.map_or(0.0, |m| m.temperature),
            model_id: model.map_or_else(|| graph.lm.clone(), |m| m.model.clone()),
            first_rollout_id: 0,
            run_seed: decl.seed,
        })
        .len();
    let e = crate::optimize::estimate::estimate(
        decl,
        graph,
        &metric.expr,
        variants,
        train.len(),
        dev.as_ref().map(Vec::len),
        val,
    );
    println!(
        "optimize `{}`: at most {} LM calls ({} per program execution)",
        decl.program, e.total, e.per_execution
    );
    for (phase, n) in [
        ("sampling", e.sampling),
        ("advice", e.advice),
        ("evaluation", e.evaluation),
        ("final selection", e.final_selection),
        ("devset", e.dev),
    ] {
        println!("  {phase:<16} {n:>8}");
    }
    if let Some(cap) = decl.stop.max_lm_calls.filter(|c| *c < e.total) {
        println!("  stop.max_lm_calls = {cap} ends the run earlier");
    }
    // Cost: the program's model for every call, tokens per call measured
    // on a rendered prompt of the first training example.
    match prices.get(&graph.lm) {
        Some(price) => {
            let (prompt, completion) = call_tokens(spec, graph, &train);
            let usd = price.cost(e.total * prompt, e.total * completion);
            println!(
                "  estimated cost   ${usd:.4} (about {prompt} prompt + {completion} completion tokens per call)"
            );
            if let Some(cap) = decl.stop.max_cost.filter(|c| *c < usd) {
                println!("  stop.max_cost = {cap} ends the run earlier");
            }
        }
        None => println!(
            "  no price for `{}` in simba.toml: no cost estimate",
            graph.lm
        ),
    }
    Ok(())
}

/// The optimize blocks to run: all, or the one `--only` names.
fn select_blocks(spec: &Spec, only: Option<&str>) -> Result<Vec<OptimizeDecl>, Failure> {
    if spec.optimizes.is_empty() {
        return Err(Failure::input(format!(
            "{} has no `optimize` block: nothing to run",
            spec.path.display()
        )));
    }
    match only {
        None => Ok(spec.optimizes.clone()),
        Some(name) => {
            let found: Vec<OptimizeDecl> = spec
                .optimizes
                .iter()
                .filter(|o| o.program == name)
                .cloned()
                .collect();
            if found.is_empty() {
                let names: Vec<&str> = spec.optimizes.iter().map(|o| o.program.as_str()).collect();
                return Err(Failure::input(format!(
                    "--only {name}: no optimize block for `{name}` (the spec optimizes: {})",
                    names.join(", ")
                )));
            }
            Ok(found)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_block(
    rt: &tokio::runtime::Runtime,
    interrupts: &mut Interrupts,
    spec: &Spec,
    decl: &OptimizeDecl,
    oracles: &indexmap::IndexMap<String, Vec<crate::program::Example>>,
    out_dir: &Path,
    no_cache: bool,
    resume: bool,
    prices: &indexmap::IndexMap<String, Price>,
    mut warnings: Vec<String>,
    mode: Mode,
) -> Result<(), Failure> {
    let started = Instant::now();
    let cache_dir = if no_cache { None } else { decl.cache.clone() };
    // Loaded once and kept alive until the run ends: plugin libraries are
    // never unloaded while their strategies or models may be called.
    let plugins = load_plugins(spec).map_err(|e| Failure::input(e.to_string()))?;
    let mut models = build_models(spec, oracles, ModelsOptions { cache_dir }, &plugins)
        .map_err(|e| Failure::input(e.to_string()))?;
    let cache = models.cache();
    warnings.extend(super::cache::report_warnings(
        cache.as_deref(),
        mode == Mode::Quiet,
    ));
    if let Some(backoff) = Backoff::from_env().map_err(Failure::input)? {
        models.set_backoff(backoff);
    }
    let book = models.usage_book();
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let strategies = resolve_strategies(&decl.strategies, &plugins)
        .map_err(|e| Failure::input(e.to_string()))?;
    let (train, dev) = load_data(spec, decl).map_err(|e| Failure::input(e.to_string()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let input = prepare_with(
        spec,
        decl,
        models,
        strategies,
        train,
        dev,
        EventSink::new(tx),
        warnings,
    )
    .map_err(optimize_failure)?;
    input.usage.set_book(book);
    // The renderer runs on its own thread so drawing never blocks the engine.
    let (done_tx, done_rx) = std_mpsc::channel::<()>();
    let renderer = std::thread::spawn(move || {
        let mut r = Renderer::new(mode);
        while let Some(event) = rx.blocking_recv() {
            r.handle(&event);
        }
        r.finish();
        let _ = done_tx.send(());
    });
    let resume_from = if resume {
        let cp = Checkpoint::load(out_dir).map_err(|e| Failure::input(e.to_string()))?;
        cp.check_matches(decl, out_dir)
            .map_err(|e| Failure::input(e.to_string()))?;
        Some(cp)
    } else {
        None
    };
    let options = RunOptions {
        checkpoint: Some(file_sink(out_dir.to_path_buf())),
        resume: resume_from,
        prices: prices.clone(),
    };
    // SIGINT/SIGTERM: the checkpoint on disk already holds the state after
    // the last finished step (it is rewritten atomically after each), so
    // stopping here loses only the step in progress. After this point a
    // signal no longer interrupts (see `signals`).
    let result = rt.block_on(async {
        tokio::select! {
            r = optimize_with(input, options) => Ok(r),
            name = interrupts.next() => Err(name),
        }
    });
    let result = result.map_err(|signal| Failure {
        code: exit::INTERRUPTED,
        message: format!(
            "interrupted ({signal}); the state after the last finished step is in {}; continue with --resume",
            out_dir.join(CHECKPOINT_JSON).display()
        ),
    })?;
    // The engine dropped its sender when it returned; wait for the last lines.
    let _ = done_rx.recv();
    let _ = renderer.join();
    let mut output = result.map_err(optimize_failure)?;
    let late = super::cache::flush(cache.as_deref(), mode == Mode::Quiet);
    output.run.warnings.extend(late);
    output.write(out_dir).map_err(|e| Failure {
        code: exit::RUN_FAILED,
        message: e.to_string(),
    })?;
    // The run is complete: nothing left to resume.
    let _ = std::fs::remove_file(out_dir.join(CHECKPOINT_JSON));
    // The report is a view of the artifacts just written: failing to draw it
    // loses nothing, so it warns instead of failing the run.
    if let Err(e) = crate::report::write_report(out_dir) {
        eprintln!("warning: report.html not written: {e}");
    }
    if mode == Mode::Human {
        print_summary(&output, out_dir, started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn optimize_failure(e: OptimizeError) -> Failure {
    Failure {
        code: if e.is_input_error() {
            exit::INPUT
        } else {
            exit::RUN_FAILED
        },
        message: e.to_string(),
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// The final table: baseline vs best on train and dev, calls, tokens, time.
fn print_summary(out: &OptimizeOutput, dir: &Path, secs: f64) {
    let r = &out.run;
    println!();
    println!("{:<10} {:>8} {:>8}", "", "train", "dev");
    println!(
        "{:<10} {:>8.3} {:>8}",
        "baseline",
        r.baseline.train,
        fmt_opt(r.baseline.dev)
    );
    println!(
        "{:<10} {:>8.3} {:>8}",
        "best",
        r.best.train,
        fmt_opt(r.best.dev)
    );
    println!(
        "{:<10} {:>+8.3} {:>8}",
        "gain",
        r.best.train - r.baseline.train,
        match (r.baseline.dev, r.best.dev) {
            (Some(a), Some(b)) => format!("{:+.3}", b - a),
            _ => "-".into(),
        }
    );
    println!();
    println!(
        "LM calls {} ({} cached, {} failed) · tokens {} · {:.1} s",
        r.usage.lm_calls,
        r.cached_calls,
        r.usage.failed_calls,
        r.usage.prompt_tokens + r.usage.completion_tokens,
        secs
    );
    if r.stop_reason != "max_steps" {
        println!(
            "stopped by {} after {} of {} steps",
            r.stop_reason, r.steps_run, r.config.max_steps
        );
    }
    println!("artifacts in {}", display_dir(dir));
}

fn display_dir(dir: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    dir.strip_prefix(&cwd)
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// Turns events into progress bars and lines (human), JSON lines, or nothing.
struct Renderer {
    mode: Mode,
    bar: Option<ProgressBar>,
    max_steps: usize,
    batch_mean: Option<f64>,
}

impl Renderer {
    fn new(mode: Mode) -> Self {
        Self {
            mode,
            bar: None,
            max_steps: 0,
            batch_mean: None,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn new_bar(&mut self, prefix: String) {
        if let Some(old) = self.bar.take() {
            old.finish_and_clear();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:32}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        self.bar = Some(bar);
    }

    fn handle(&mut self, event: &Event) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                if let Ok(text) = serde_json::to_string(event) {
                    println!("{text}");
                }
            }
            Mode::Human => self.human(event),
        }
    }

    fn human(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                program,
                max_steps,
                bsize,
                num_candidates,
                trainset_size,
            } => {
                self.max_steps = *max_steps;
                eprintln!(
                    "optimizing `{program}`: {max_steps} steps, mini-batches of {bsize}, {num_candidates} candidates, {trainset_size} training examples"
                );
            }
            Event::Warning { message } => self.line(format!("warning: {message}")),
            Event::StepStarted { step, .. } => {
                self.new_bar(format!("step {step}/{}", self.max_steps));
            }
            Event::Progress {
                step,
                phase,
                done,
                total,
            } => {
                if step.is_none() && *done == 0 {
                    self.new_bar(match phase {
                        Phase::Dev => "devset".into(),
                        Phase::Valset => "valset".into(),
                        _ => "final".into(),
                    });
                }
                if let Some(bar) = &self.bar {
                    bar.set_length(*total as u64);
                    bar.set_position(*done as u64);
                    bar.set_message(match phase {
                        Phase::Sampling => "sampling trajectories",
                        Phase::Evaluating => "evaluating candidates",
                        Phase::Final => "evaluating on the trainset",
                        Phase::Dev => "evaluating on the devset",
                        Phase::Valset => "choosing on the valset",
                    });
                }
            }
            Event::BatchScored { mean, .. } => self.batch_mean = Some(*mean),
            Event::CandidateBuilt { .. } => {}
            Event::StepFinished {
                step,
                candidate_scores,
                best_so_far,
                ..
            } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let scores: Vec<String> =
                    candidate_scores.iter().map(|s| format!("{s:.2}")).collect();
                eprintln!(
                    "step {step}/{}  batch mean {}  candidates [{}]  best so far {}",
                    self.max_steps,
                    fmt_opt(self.batch_mean),
                    scores.join(" "),
                    fmt_opt(*best_so_far)
                );
            }
            Event::Stopped { steps_run, reason } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("stopped after {steps_run} steps: {reason}");
            }
            Event::RunFinished { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Rough tokens of one call for `--dry-run`: a predictor prompt rendered for
/// the first training example (4 characters a token), plus `max_demos` demos
/// of that example's size (candidates carry demos), averaged over the
/// program's steps; the completion is the size of the example's labels.
fn call_tokens(
    spec: &Spec,
    graph: &crate::ir::ProgramGraph,
    train: &[crate::program::Example],
) -> (u64, u64) {
    let Some(example) = train.first() else {
        return (0, 0);
    };
    let max_demos = spec
        .optimizes
        .iter()
        .find(|o| o.program == graph.name)
        .map_or(0, |o| o.max_demos) as u64;
    let values = example.inputs();
    let input_chars: usize = values.values().map(|v| v.to_string().len()).sum();
    let label_chars: usize = example
        .fields
        .iter()
        .filter(|(k, _)| !values.contains_key(*k))
        .map(|(_, v)| v.to_string().len())
        .sum();
    let completion = (label_chars as u64).div_ceil(4) + 8;
    if graph.steps.is_empty() {
        return (0, completion);
    }
    let mut prompt = 0u64;
    for step in &graph.steps {
        let outputs = step.lm_outputs();
        let spec = crate::adapter::PredictSpec {
            instructions: &step.signature.instructions,
            inputs: &step.signature.inputs,
            outputs: &outputs,
        };
        let messages =
            crate::adapter::format_messages(crate::adapter::Format::Chat, &spec, &[], &values);
        let chars: usize = messages.iter().map(|m| m.content.len()).sum();
        prompt += (chars as u64).div_ceil(4);
    }
    let per_demo = ((input_chars + label_chars) as u64).div_ceil(4);
    (
        prompt / graph.steps.len() as u64 + max_demos * per_demo,
        completion,
    )
}
