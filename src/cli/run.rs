//! `simba-run spec.simba`: run the spec's optimize blocks, render progress
//! from the engine's events, write the artifacts, print a summary. The
//! pipeline itself is the library's ([`crate::project`]); this file only
//! wires it to the terminal and to signals.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::render::{Mode, Renderer, print_summary};
use super::signals::Interrupts;
use super::{RunArgs, report_failure};
use crate::ir::OptimizeDecl;
use crate::optimize::checkpoint::CHECKPOINT_JSON;
use crate::optimize::{Event, EventSink, optimize_with};
use crate::printable::escape_controls;
use crate::project::{
    Error, LoadOptions, Project, RunSetup, dry_run, exit, flush_cache, write_outputs,
};
use crate::value::Example;
use indexmap::IndexMap;

/// The renderer's frame: how long events gather before they are drawn.
const FRAME: Duration = Duration::from_millis(15);

/// Runs the command; returns the exit code.
pub fn run(args: RunArgs) -> i32 {
    match execute(&args) {
        Ok(()) => exit::OK,
        Err(e) => report_failure(&e),
    }
}

fn execute(args: &RunArgs) -> Result<(), Error> {
    let mode = if args.json {
        Mode::Json
    } else if args.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    let Some(path) = args.spec.as_deref() else {
        return Err(Error::Usage(
            "no spec file given (usage: simba-run spec.simba)".into(),
        ));
    };
    let options = LoadOptions::with_sets(&args.set, args.seed)?;
    // An absolute spec path makes every path the spec resolves (data,
    // output, cache) independent of how many stages join it to the spec's
    // folder.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let project = Project::load(&path, &options)?;
    if mode != Mode::Quiet {
        // On stderr in every mode: with --json, stdout carries only events.
        for w in &project.warnings {
            errln!("{}", escape_controls(w.trim_end()));
        }
    }
    let blocks = project.blocks(args.only.as_deref())?;
    for decl in &blocks {
        project.check_prices(decl)?;
    }
    if args.dry_run {
        for decl in &blocks {
            out!("{}", dry_run(&project, decl)?);
        }
        return Ok(());
    }
    let oracles = project.oracles()?;
    let rt = super::engine_runtime()?;
    let mut interrupts = {
        let _entered = rt.enter();
        Interrupts::install()
            .map_err(|e| Error::Run(format!("cannot listen for SIGINT/SIGTERM: {e}")))?
    };
    let several = blocks.len() > 1;
    for decl in blocks {
        let out_dir = match &args.out {
            Some(dir) if several => dir.join(&decl.program),
            Some(dir) => dir.clone(),
            None => decl.output.clone(),
        };
        let setup = RunSetup {
            out_dir,
            no_cache: args.no_cache,
            resume: args.resume,
        };
        let block = Block {
            project: &project,
            decl: &decl,
            oracles: &oracles,
            setup: &setup,
            mode,
        };
        block.run(&rt, &mut interrupts)?;
    }
    Ok(())
}

/// One optimize block and how to run and show it.
struct Block<'a> {
    project: &'a Project,
    decl: &'a OptimizeDecl,
    oracles: &'a IndexMap<String, Vec<Example>>,
    setup: &'a RunSetup,
    mode: Mode,
}

impl Block<'_> {
    /// Where the engine's events go: a renderer thread, so drawing never
    /// blocks the engine; none with `--quiet`, which shows nothing.
    fn renderer(&self) -> (EventSink, Option<JoinHandle<()>>) {
        let mode = self.mode;
        if mode == Mode::Quiet {
            return (EventSink::none(), None);
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let thread = std::thread::spawn(move || {
            let mut r = Renderer::new(mode);
            // Events (one per finished execution) are drawn a frame at a
            // time: the thread sleeps between frames instead of being woken
            // by every event, a wake-up the engine would pay for.
            while let Some(event) = rx.blocking_recv() {
                r.handle(&event);
                while let Ok(event) = rx.try_recv() {
                    r.handle(&event);
                }
                std::thread::sleep(FRAME);
            }
            r.finish();
        });
        (EventSink::new(tx), Some(thread))
    }

    fn run(&self, rt: &tokio::runtime::Runtime, interrupts: &mut Interrupts) -> Result<(), Error> {
        let started = Instant::now();
        let (events, renderer) = self.renderer();
        let prepared = self
            .project
            .prepare_block(self.decl, self.oracles, self.setup, events)?;
        // SIGINT/SIGTERM: the checkpoint on disk already holds the state
        // after the last finished step (it is rewritten atomically after
        // each), so stopping here loses only the step in progress. After
        // this point a signal no longer interrupts (see `signals`).
        if self.mode != Mode::Quiet {
            for w in &prepared.cache_warnings {
                errln!("warning: {}", escape_controls(w));
            }
        }
        let cache = prepared.cache.clone();
        let corpora = prepared.corpora.clone();
        // Plugin libraries stay loaded, and the output folder locked, until
        // this block is done.
        let _plugins = prepared.plugins;
        let _lock = prepared.lock;
        // A task of its own (on this thread: the runtime is single-threaded),
        // so an interrupt can abort it and still wait for its drop, which
        // commits the cache's queued answers.
        let mut engine = rt.spawn(optimize_with(prepared.input, prepared.options));
        let result = rt.block_on(async {
            tokio::select! {
                r = &mut engine => Ok(r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))),
                name = interrupts.next() => Err(name),
            }
        });
        if result.is_err() {
            // Interrupted: the engine is dropped now (which commits the
            // cache's queued answers), as it was when it ran in place.
            engine.abort();
            let _ = rt.block_on(engine);
        }
        let out_dir = &self.setup.out_dir;
        let result = result.map_err(|signal| {
            let checkpoint = out_dir.join(CHECKPOINT_JSON);
            Error::Interrupted {
                signal: signal.to_string(),
                checkpoint: checkpoint.is_file().then_some(checkpoint),
            }
        })?;
        // The engine dropped its sender when it returned; wait for the last lines.
        if let Some(renderer) = renderer {
            let _ = renderer.join();
        }
        let mut output = result?;
        output.run.search = corpora.usage().models;
        for w in flush_cache(cache.as_deref()) {
            if self.mode != Mode::Quiet {
                errln!("warning: {}", escape_controls(&w));
            }
            output.run.warnings.push(w);
        }
        if let Some(e) = write_outputs(&output, out_dir)? {
            errln!(
                "warning: report.html not written: {}",
                escape_controls(&e.to_string())
            );
        }
        if self.mode == Mode::Human {
            print_summary(&output, out_dir, started.elapsed().as_secs_f64());
        }
        Ok(())
    }
}
