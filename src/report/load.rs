//! Reading a run's artifacts for the report. A run stopped early may lack
//! `candidates.json` and `program.json` and have fewer trials than
//! `max_steps`; the report shows what there is. Missing or malformed files
//! are errors naming the file (and line, for `trials.jsonl`).

use std::path::{Path, PathBuf};

use crate::artifacts::{
    CANDIDATES_JSON, CandidatesJson, PROGRAM_JSON, ProgramJson, RUN_JSON, RunJson, TRIALS_JSONL,
    TrialRecord,
};
use crate::value::Demo;

use super::ReportError;

/// Everything the report shows, as read from an output folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInputs {
    /// `run.json`; None when the run stopped before writing it.
    pub run: Option<RunJson>,
    /// `trials.jsonl`, one record per finished step.
    pub trials: Vec<TrialRecord>,
    /// `candidates.json`; None when the run stopped before the final evaluation.
    pub candidates: Option<CandidatesJson>,
    /// `program.json`; None when the run stopped before the final evaluation.
    pub program: Option<ProgramJson>,
}

/// One predictor of the winning program, with what it started from.
#[derive(Debug, Clone, PartialEq)]
pub struct WinningPredictor {
    /// The spec's step name.
    pub step: String,
    /// The predictor's key in `program.json` (DSPy's name), when known.
    pub key: Option<String>,
    /// The winner's instructions for this step.
    pub instructions: String,
    /// The baseline's instructions for this step, when `candidates.json`
    /// records the baseline.
    pub original_instructions: Option<String>,
    /// The winner's demos for this step, in prompt order.
    pub demos: Vec<Demo>,
}

fn read_optional(path: &Path) -> Result<Option<String>, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReportError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ReportError> {
    serde_json::from_str(text).map_err(|source| ReportError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse `trials.jsonl`: one record per non-blank line.
pub fn parse_trials(path: &Path, text: &str) -> Result<Vec<TrialRecord>, ReportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec = serde_json::from_str(line).map_err(|source| ReportError::ParseLine {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push(rec);
    }
    Ok(out)
}

impl ReportInputs {
    /// Read the artifacts of the output folder `outdir`. At least one of
    /// `run.json` and `trials.jsonl` must exist.
    pub fn load(outdir: &Path) -> Result<Self, ReportError> {
        if !outdir.is_dir() {
            return Err(ReportError::NoFolder {
                path: outdir.to_path_buf(),
            });
        }
        let file = |name: &str| -> PathBuf { outdir.join(name) };
        let run_text = read_optional(&file(RUN_JSON))?;
        let trials_text = read_optional(&file(TRIALS_JSONL))?;
        if run_text.is_none() && trials_text.is_none() {
            return Err(ReportError::NoArtifacts {
                dir: outdir.to_path_buf(),
            });
        }
        let run: Option<RunJson> = match &run_text {
            Some(t) => Some(parse(&file(RUN_JSON), t)?),
            None => None,
        };
        let trials = match &trials_text {
            Some(t) => parse_trials(&file(TRIALS_JSONL), t)?,
            None => Vec::new(),
        };
        let candidates: Option<CandidatesJson> = match read_optional(&file(CANDIDATES_JSON))? {
            Some(t) => Some(parse(&file(CANDIDATES_JSON), &t)?),
            None => None,
        };
        let program: Option<ProgramJson> = match read_optional(&file(PROGRAM_JSON))? {
            Some(t) => Some(parse(&file(PROGRAM_JSON), &t)?),
            None => None,
        };
        let inputs = ReportInputs {
            run,
            trials,
            candidates,
            program,
        };
        inputs
            .check()
            .map_err(|(name, message)| ReportError::Inconsistent {
                path: file(name),
                message,
            })?;
        Ok(inputs)
    }

    /// Cross-file facts the page relies on: (file name, message) on failure.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(c) = &self.candidates
            && !c.candidates.is_empty()
            && c.best >= c.candidates.len()
        {
            return Err((
                CANDIDATES_JSON,
                format!(
                    "`best` is {} but there are only {} candidates",
                    c.best,
                    c.candidates.len()
                ),
            ));
        }
        Ok(())
    }

    /// The optimized program's name, from whichever artifact has it.
    pub fn program_name(&self) -> Option<&str> {
        self.run
            .as_ref()
            .map(|r| r.program.as_str())
            .or_else(|| self.candidates.as_ref().map(|c| c.program.as_str()))
            .or_else(|| {
                self.program
                    .as_ref()
                    .map(|p| p.metadata.simba_run.program.as_str())
            })
    }

    /// The metric's name, when `run.json` or `candidates.json` records it.
    pub fn metric_name(&self) -> Option<&str> {
        self.run
            .as_ref()
            .map(|r| r.config.metric.as_str())
            .or_else(|| self.candidates.as_ref().map(|c| c.metric.as_str()))
    }

    /// The best full-trainset score, when the final evaluation ran.
    pub fn best_train_score(&self) -> Option<f64> {
        self.run
            .as_ref()
            .filter(|_| self.candidates.is_some() || self.program.is_some())
            .and_then(|r| r.best.train)
            .or_else(|| {
                let c = self.candidates.as_ref()?;
                c.candidates.get(c.best).and_then(|e| e.train_score)
            })
    }

    /// The winning program's predictors: from `candidates.json` (with the
    /// baseline's instructions to diff against), else from `program.json`.
    pub fn winning_program(&self) -> Option<Vec<WinningPredictor>> {
        // DSPy key per step name, from program.json's metadata.
        let key_of = |step: &str| -> Option<String> {
            self.program.as_ref().and_then(|p| {
                p.metadata
                    .simba_run
                    .steps
                    .iter()
                    .find(|(_, s)| s.as_str() == step)
                    .map(|(k, _)| k.clone())
            })
        };
        if let Some(c) = &self.candidates
            && let Some(best) = c.candidates.get(c.best)
        {
            let baseline = c.candidates.iter().find(|e| e.step.is_none());
            return Some(
                best.predictors
                    .iter()
                    .map(|(step, state)| WinningPredictor {
                        step: step.clone(),
                        key: key_of(step),
                        instructions: state.instructions.clone(),
                        original_instructions: baseline
                            .and_then(|b| b.predictors.get(step))
                            .map(|s| s.instructions.clone()),
                        demos: state.demos.clone(),
                    })
                    .collect(),
            );
        }
        let p = self.program.as_ref()?;
        Some(
            p.predictors
                .iter()
                .map(|(key, pred)| WinningPredictor {
                    step: p
                        .metadata
                        .simba_run
                        .steps
                        .get(key)
                        .cloned()
                        .unwrap_or_else(|| key.clone()),
                    key: Some(key.clone()),
                    instructions: pred.signature.instructions.clone(),
                    original_instructions: None,
                    demos: pred
                        .demos
                        .iter()
                        .map(|r| {
                            let mut fields = r.clone();
                            let augmented = fields
                                .shift_remove("augmented")
                                .is_some_and(|v| v == serde_json::Value::Bool(true));
                            Demo { fields, augmented }
                        })
                        .collect(),
                })
                .collect(),
        )
    }
}
