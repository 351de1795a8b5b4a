//! The end of a run (docs/optimizer.md, "The end"): evenly spaced winners
//! scored on the full trainset (and on the valset or devset when the block
//! selects there), or raced on the selection split (`final = race`,
//! `race.rs`), the best returned; the baseline and the best scored on the
//! devset; then the output and run.json.

use std::sync::Arc;

use crate::ir::{FinalSelection, SelectOn};
use crate::program::Program;

use crate::artifacts::{
    CandidateEntry, CandidatesJson, ProgramJson, RankedCandidate, RunJson, SCHEMA_VERSION,
    ScorePair, TrialRecord, candidate_program_file,
};
use crate::optimize::below_baseline::below_baseline_warnings;
use crate::optimize::events::{Event, Phase};
use crate::optimize::pool::mean_or_zero;
use crate::optimize::select::{argmax_first, final_indices, rank_by_score};
use crate::optimize::stop::StopReason;

use super::race::RaceReport;
use super::run::Run;
use super::wave::ScoreGrid;
use super::{History, OptimizeError, OptimizeOutput};

/// What the end chose.
pub(super) struct Finished {
    /// The returned program.
    pub best: Program,
    /// candidates.json: every final pick and its scores.
    pub candidates: CandidatesJson,
    /// Every final pick's program, in `candidates` order.
    pub candidate_programs: Vec<ProgramJson>,
    /// The baseline's train, valset and dev scores.
    pub baseline_scores: ScorePair,
    /// The returned program's train, valset and dev scores.
    pub best_scores: ScorePair,
}

/// The final picks and their scores.
pub(super) struct FinalScores {
    /// Indices into the winners, evenly spaced (the baseline is pick 0).
    pub picks: Vec<usize>,
    /// Each pick's scores on the trainset (None: not scored by a race),
    /// and their means (None: raced on another split, or on no example).
    pub train: Vec<Vec<Option<f64>>>,
    pub train_means: Vec<Option<f64>>,
    /// Each pick's mean on the valset, when selected there.
    pub val: Vec<Option<f64>>,
    /// Each pick's mean on the devset, when scored there.
    pub dev: Vec<Option<f64>>,
    /// The pick returned.
    pub best: usize,
    /// How the race went, with `final = race`.
    pub race: Option<RaceReport>,
}

impl Run {
    /// The end: the picks scored on the trainset, chosen there or on the
    /// selection split (or raced there, with `final = race`), then the dev
    /// scores of the baseline and the best.
    pub async fn finish(&self, trials: &[TrialRecord]) -> Result<Finished, OptimizeError> {
        let picks = final_indices(
            self.progress.winners.len() - 1,
            self.decl.num_candidates + 1,
        );
        let programs: Vec<Arc<Program>> = picks.iter().map(|&w| self.winner(w)).collect();
        let mut scores = match self.decl.final_selection {
            FinalSelection::Full => self.full_selection(picks, &programs).await?,
            FinalSelection::Race => self.raced_selection(picks, &programs, trials).await?,
        };
        self.score_on_devset(&programs, &mut scores).await?;
        Ok(self.finished(scores))
    }

    /// DSPy's end: every pick on the whole trainset, chosen there or on the
    /// selection split.
    async fn full_selection(
        &self,
        picks: Vec<usize>,
        programs: &[Arc<Program>],
    ) -> Result<FinalScores, OptimizeError> {
        let trainset = self.data.trainset.clone();
        let grid = ScoreGrid::on_all(programs.to_vec(), trainset.len());
        let train = self
            .final_scores(
                &trainset,
                &grid,
                Phase::Final,
                "final evaluation on the trainset",
            )
            .await?;
        let train_means: Vec<f64> = train.iter().map(|s| mean_or_zero(s)).collect();
        let mut scores = FinalScores {
            best: argmax_first(&train_means).unwrap_or(0),
            val: vec![None; picks.len()],
            dev: vec![None; picks.len()],
            picks,
            train: train
                .into_iter()
                .map(|s| s.into_iter().map(Some).collect())
                .collect(),
            train_means: train_means.into_iter().map(Some).collect(),
            race: None,
        };
        self.select_on_split(programs, &mut scores).await?;
        Ok(scores)
    }

    /// The program of winner `w`.
    fn winner(&self, w: usize) -> Arc<Program> {
        let progress = &self.progress;
        progress.pool.get(progress.winners[w]).program.clone()
    }

    /// Validation-aware selection: every pick scored on the valset or devset;
    /// the best there wins (ties: the earlier, so the baseline wins a tie).
    async fn select_on_split(
        &self,
        programs: &[Arc<Program>],
        scores: &mut FinalScores,
    ) -> Result<(), OptimizeError> {
        let Some(select) = &self.data.select else {
            return Ok(());
        };
        let on_devset = select.on == SelectOn::Devset;
        let phase = if on_devset { Phase::Dev } else { Phase::Valset };
        let grid = ScoreGrid::on_all(programs.to_vec(), select.examples.len());
        let means: Vec<f64> = self
            .final_scores(
                &select.examples,
                &grid,
                phase,
                "final evaluation for selection",
            )
            .await?
            .iter()
            .map(|s| mean_or_zero(s))
            .collect();
        scores.best = argmax_first(&means).unwrap_or(0);
        let slot = if on_devset {
            &mut scores.dev
        } else {
            &mut scores.val
        };
        for (c, s) in means.into_iter().enumerate() {
            slot[c] = Some(s);
        }
        Ok(())
    }

    /// Dev scores of the baseline (always pick 0) and the best, unless the
    /// selection already scored every pick there.
    async fn score_on_devset(
        &self,
        programs: &[Arc<Program>],
        scores: &mut FinalScores,
    ) -> Result<(), OptimizeError> {
        let Some(devset) = self
            .data
            .devset
            .as_ref()
            .filter(|_| scores.dev[0].is_none())
        else {
            return Ok(());
        };
        let which: Vec<usize> = if scores.best == 0 {
            vec![0]
        } else {
            vec![0, scores.best]
        };
        let chosen = which.iter().map(|&c| programs[c].clone()).collect();
        let grid = ScoreGrid::on_all(chosen, devset.len());
        let per = self
            .final_scores(devset, &grid, Phase::Dev, "evaluation on the devset")
            .await?;
        for (&c, s) in which.iter().zip(per) {
            scores.dev[c] = Some(mean_or_zero(&s));
        }
        Ok(())
    }

    /// candidates.json and the returned program from the final scores.
    fn finished(&self, scores: FinalScores) -> Finished {
        let compared = self.selection_scores(&scores);
        let ranked = match &scores.race {
            Some(race) => race.ranking(),
            None => rank_by_score(&compared),
        };
        let FinalScores {
            picks,
            train,
            train_means,
            val,
            dev,
            best,
            race,
        } = scores;
        let entries: Vec<CandidateEntry> = picks
            .iter()
            .enumerate()
            .map(|(c, &w)| {
                let pool_index = self.progress.winners[w];
                let entry = self.progress.pool.get(pool_index);
                CandidateEntry {
                    winner_index: w,
                    step: entry.step,
                    pool_index,
                    train_score: train_means[c],
                    train_scores: train[c].clone(),
                    dev_score: dev[c],
                    val_score: val[c],
                    is_best: c == best,
                    race: race.as_ref().map(|r| r.record(c)),
                    predictors: entry.program.predictors.clone(),
                }
            })
            .collect();
        let candidate_programs: Vec<ProgramJson> = picks
            .iter()
            .map(|&w| ProgramJson::from_program(&self.winner(w)))
            .collect();
        let candidates = CandidatesJson {
            schema: SCHEMA_VERSION,
            program: self.decl.program.clone(),
            metric: self.decl.metric.clone(),
            trainset_size: self.data.trainset.len(),
            selected_on: self.data.select.as_ref().map(|s| {
                if s.on == SelectOn::Devset {
                    "devset".to_string()
                } else {
                    "valset".to_string()
                }
            }),
            best,
            candidates: entries,
            race: race.as_ref().map(RaceReport::summary),
            candidate_programs: ranked
                .into_iter()
                .map(|c| RankedCandidate {
                    candidate: c,
                    score: compared[c],
                    program: candidate_program_file(c),
                })
                .collect(),
        };
        Finished {
            best: (*self.winner(picks[best])).clone(),
            candidates,
            candidate_programs,
            baseline_scores: ScorePair {
                train: train_means[0],
                val: val[0],
                dev: dev[0],
            },
            best_scores: ScorePair {
                train: train_means[best],
                val: val[best],
                dev: dev[best],
            },
        }
    }

    /// Each pick's score as the selection compared it: on the trainset, or
    /// on the valset / devset when the block selects there (a race's
    /// estimates; 0 for a pick scored on nothing).
    fn selection_scores(&self, scores: &FinalScores) -> Vec<f64> {
        let on = match &self.data.select {
            None => &scores.train_means,
            Some(select) if select.on == SelectOn::Devset => &scores.dev,
            Some(_) => &scores.val,
        };
        on.iter().map(|s| s.unwrap_or(0.0)).collect()
    }

    /// With `valset = auto`: the trainset file's rows held out, drawn again
    /// from the file's row count and the seed as the cut drew them.
    fn held_out_rows(&self) -> Option<Vec<usize>> {
        let select = self
            .data
            .select
            .as_ref()
            .filter(|_| self.decl.valset_auto)?;
        let rows = self.data.trainset.len() + select.examples.len();
        crate::data::held_out_rows(rows, self.decl.seed)
    }

    /// Announce the end and assemble every artifact.
    pub fn into_output(
        mut self,
        stop: StopReason,
        history: History,
        finished: Finished,
        final_eval_ms: u64,
    ) -> OptimizeOutput {
        let usage = self.report.usage.snapshot();
        let valset_rows = self.held_out_rows();
        let duration_ms = history.started.elapsed().as_millis() as u64;
        let mut late = self.tools.evaluator.warnings();
        late.extend(super::strategy_warnings(&history.trials));
        for message in late {
            self.report.events.emit(Event::Warning {
                message: message.clone(),
            });
            self.report.warnings.push(message);
        }
        let Finished {
            best,
            candidates,
            candidate_programs,
            baseline_scores,
            best_scores,
        } = finished;
        let mut warnings = self.report.warnings;
        for w in below_baseline_warnings(
            &self.decl.program,
            &candidates,
            &baseline_scores,
            &best_scores,
        ) {
            self.report
                .events
                .emit(Event::Warning { message: w.clone() });
            warnings.push(w);
        }
        self.report.events.emit(Event::RunFinished {
            baseline_train: baseline_scores.train,
            best_train: best_scores.train,
            baseline_dev: baseline_scores.dev,
            best_dev: best_scores.dev,
            best_candidate: candidates.best,
            stop_reason: stop,
            usage,
            duration_ms,
        });
        let run = RunJson {
            schema: SCHEMA_VERSION,
            simba_run_version: env!("CARGO_PKG_VERSION").into(),
            program: self.decl.program.clone(),
            spec: self.report.spec_path,
            seed: self.decl.seed,
            effective_bsize: self.data.bsize,
            trainset_size: self.data.trainset.len(),
            devset_size: self.data.devset.as_ref().map(|d| d.len()),
            valset_size: self
                .data
                .select
                .as_ref()
                .and_then(|s| (s.on == SelectOn::Valset).then_some(s.examples.len())),
            valset_rows,
            steps_run: history.trials.len(),
            stop_reason: stop,
            warnings,
            baseline: baseline_scores,
            best: best_scores,
            best_candidate: candidates.best,
            usage,
            cached_calls: self.report.usage.cached(),
            // Filled in by the caller, which owns the corpora.
            search: Default::default(),
            step_requests: history.step_requests,
            duration_ms,
            step_durations_ms: history.step_ms,
            final_eval_ms,
            config: self.decl,
        };
        OptimizeOutput {
            program_json: ProgramJson::from_program(&best),
            best,
            candidates,
            candidate_programs,
            trials: history.trials,
            run,
        }
    }
}
