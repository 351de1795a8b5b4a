//! What a run shows while it works and when it ends: progress bars and
//! lines fed from the engine's events (human), JSON lines (`--json`), or
//! nothing (`--quiet`); and the final summary table.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};

use crate::artifacts::{CandidatesJson, RaceEnd, RaceResult, RaceSummary, ScorePair, StopReason};
use crate::optimize::below_baseline::{below_baseline_warnings, is_below_baseline_warning};
use crate::optimize::{Event, OptimizeOutput, Phase};
use crate::printable::escape_controls;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Progress bars and lines on stderr, a summary on stdout.
    Human,
    /// One JSON event per line on stdout.
    Json,
    /// Errors only.
    Quiet,
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// The final table: baseline vs best on train, the valset (when the final
/// selection chose there) and dev; calls, tokens, time.
pub fn print_summary(out: &OptimizeOutput, dir: &Path, secs: f64) {
    let r = &out.run;
    let has_val = r.baseline.val.is_some() || r.best.val.is_some();
    let row = |label: &str, cells: [String; 3]| {
        let [train, val, dev] = cells;
        if has_val {
            outln!("{label:<10} {train:>8} {val:>8} {dev:>8}");
        } else {
            outln!("{label:<10} {train:>8} {dev:>8}");
        }
    };
    let scores = |p: &ScorePair| [fmt_opt(p.train), fmt_opt(p.val), fmt_opt(p.dev)];
    let gain = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:+.3}", b - a),
        _ => "-".into(),
    };
    outln!();
    row("", ["train".into(), "val".into(), "dev".into()]);
    row("baseline", scores(&r.baseline));
    row("best", scores(&r.best));
    row(
        "gain",
        [
            gain(r.baseline.train, r.best.train),
            gain(r.baseline.val, r.best.val),
            gain(r.baseline.dev, r.best.dev),
        ],
    );
    // Repeated here from the run's warnings: the table is what people read.
    for w in below_baseline_warnings(&r.program, &out.candidates, &r.baseline, &r.best) {
        outln!("warning: {}", escape_controls(&w));
    }
    if let Some(race) = &out.candidates.race {
        print_race(race, &out.candidates);
    }
    outln!();
    outln!(
        "LM calls {} ({} cached, {} failed) · tokens {} · {:.1} s",
        r.usage.lm_calls,
        r.cached_calls,
        r.usage.failed_calls,
        r.usage.prompt_tokens + r.usage.completion_tokens,
        secs
    );
    for (corpus, u) in &r.search {
        outln!(
            "searches of {corpus} {} ({} cached, {} failed)",
            u.calls,
            u.cache_hits,
            u.failed_calls
        );
    }
    if r.stop_reason != StopReason::MaxSteps {
        outln!(
            "stopped by {} after {} of {} steps",
            r.stop_reason,
            r.steps_run,
            r.config.max_steps
        );
    }
    // Repeated here (they were shown as they happened): a run that exits 0
    // without ever changing the program must not look like a success.
    for w in crate::optimize::strategy_warnings(&out.trials) {
        outln!("warning: {}", escape_controls(&w));
    }
    outln!("artifacts in {}", display_dir(dir));
}

/// The race's lines: what it ran against a full selection, and per
/// candidate how it left the race.
fn print_race(race: &RaceSummary, c: &CandidatesJson) {
    let (end, survived) = match race.end {
        RaceEnd::OneLeft => ("one candidate left", "raced to the end"),
        RaceEnd::Exhausted => ("every example read", "raced to the end"),
        RaceEnd::Budget => (
            "end: budget (the next round would have passed a cap; the leader is returned)",
            "racing at budget end",
        ),
    };
    outln!();
    outln!(
        "final selection raced on the {} ({} examples, rounds of {}): {} round(s), {end}; {} executions ({} reused) instead of {}",
        race.on,
        race.set_size,
        race.round_size,
        race.rounds,
        race.executions,
        race.reused,
        race.full_executions
    );
    for (i, cand) in c.candidates.iter().enumerate() {
        let Some(r) = &cand.race else { continue };
        let how = match (r.result, r.dropped_after_round) {
            (RaceResult::Returned, _) => "returned".to_string(),
            (RaceResult::Survived, _) => survived.to_string(),
            (RaceResult::Dropped, round) => {
                format!("dropped after round {}", round.unwrap_or(0))
            }
        };
        let interval = match (r.interval, r.compared_with) {
            (Some([lo, hi]), Some(w)) => format!("  vs #{w}: [{lo:+.3}, {hi:+.3}]"),
            _ => String::new(),
        };
        outln!(
            "  #{i} {:<22} {:>5} examples  estimate {}{interval}",
            how,
            r.examples,
            fmt_opt(r.estimate)
        );
    }
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
pub struct Renderer {
    mode: Mode,
    bar: Option<ProgressBar>,
    max_steps: usize,
    batch_mean: Option<f64>,
}

impl Renderer {
    /// A renderer drawing in `mode`.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            bar: None,
            max_steps: 0,
            batch_mean: None,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            // A hidden bar (stderr is not a terminal) drops what it is
            // asked to print.
            Some(bar) if !bar.is_hidden() => bar.println(text),
            _ => errln!("{text}"),
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

    /// Shows one event.
    pub fn handle(&mut self, event: &Event) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                if let Ok(text) = serde_json::to_string(event) {
                    outln!("{text}");
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
                errln!(
                    "optimizing `{program}`: {max_steps} steps, mini-batches of {bsize}, {num_candidates} candidates, {trainset_size} training examples"
                );
            }
            // The summary prints the below-baseline warning under its
            // table; printed here as well it would show twice.
            Event::Warning { message } if is_below_baseline_warning(message) => {}
            Event::Warning { message } => {
                self.line(format!("warning: {}", escape_controls(message)))
            }
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
            Event::CandidateBuilt { .. } | Event::Log { .. } => {}
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
                errln!(
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
                errln!("stopped after {steps_run} steps: {reason}");
            }
            Event::RaceRound {
                round,
                examples,
                racing,
                dropped,
                leader,
            } => {
                let dropped = if dropped.is_empty() {
                    String::new()
                } else {
                    format!(", dropped {dropped:?}")
                };
                self.line(format!(
                    "race round {round}: {examples} examples read, {} racing, leader #{leader}{dropped}",
                    racing.len()
                ));
            }
            Event::RunFinished { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    /// Clears what is still drawn.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
