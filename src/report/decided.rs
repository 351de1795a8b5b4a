//! Which split decided the final selection, and how: the trainset, a valset
//! or the devset, every candidate scored on all of it or raced on it
//! (`final = race`). The candidates table, its sentence and the plot's
//! final-candidate squares all say the same thing through this.

use crate::artifacts::{CandidateEntry, CandidatesJson, RunJson};

/// How the final selection chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `trainset`, `valset` or `devset`.
    pub split: &'static str,
    /// Raced (`final = race`) rather than scored on the whole split.
    pub raced: bool,
    /// The split's size, when the artifacts record it.
    pub size: Option<usize>,
}

impl Decision {
    /// The decision `candidates.json` records (`selected_on`, `race`), with
    /// the split's size from the race or from `run.json`.
    pub fn of(c: &CandidatesJson, run: Option<&RunJson>) -> Self {
        let split = match c.selected_on.as_deref() {
            Some("valset") => "valset",
            Some("devset") => "devset",
            _ => "trainset",
        };
        let recorded = match split {
            "valset" => run.and_then(|r| r.valset_size),
            "devset" => run.and_then(|r| r.devset_size),
            _ => Some(c.trainset_size),
        };
        Self {
            split,
            raced: c.race.is_some(),
            size: c.race.as_ref().map(|r| r.set_size).or(recorded),
        }
    }

    /// A candidate's score on the deciding split (a race's estimate when
    /// raced).
    pub fn score(&self, cand: &CandidateEntry) -> Option<f64> {
        match self.split {
            "valset" => cand.val_score,
            "devset" => cand.dev_score,
            _ => cand.train_score,
        }
    }

    /// "the full valset (12 examples)", or "the valset (12 examples)" when
    /// raced (a race reads only part of it).
    pub fn describe(&self) -> String {
        let size = self
            .size
            .map(|n| format!(" ({n} examples)"))
            .unwrap_or_default();
        if self.raced {
            format!("the {}{size}", self.split)
        } else {
            format!("the full {}{size}", self.split)
        }
    }

    /// The plot legend's words for the squares: "valset" or
    /// "trainset, raced" (the full split is not said when raced).
    pub fn plot_label(&self) -> String {
        if self.raced {
            format!("{}, raced", self.split)
        } else {
            format!("full {}", self.split)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::RaceSummary;

    fn candidates(selected_on: Option<&str>, race: Option<RaceSummary>) -> CandidatesJson {
        CandidatesJson {
            schema: 1,
            program: "qa".into(),
            metric: "m".into(),
            trainset_size: 28,
            selected_on: selected_on.map(str::to_string),
            best: 0,
            candidates: Vec::new(),
            race,
            candidate_programs: Vec::new(),
        }
    }

    fn race(on: &str, set_size: usize) -> RaceSummary {
        RaceSummary {
            on: on.into(),
            set_size,
            round_size: 8,
            rounds: 1,
            delta: 0.05,
            alpha: 0.05,
            end: crate::artifacts::RaceEnd::OneLeft,
            executions: 8,
            reused: 0,
            full_executions: 16,
        }
    }

    #[test]
    fn the_split_and_the_way_come_from_candidates_json() {
        let full_train = Decision::of(&candidates(None, None), None);
        assert_eq!(full_train.describe(), "the full trainset (28 examples)");
        assert_eq!(full_train.plot_label(), "full trainset");
        let raced_val = Decision::of(&candidates(Some("valset"), Some(race("valset", 12))), None);
        assert_eq!(raced_val.describe(), "the valset (12 examples)");
        assert_eq!(raced_val.plot_label(), "valset, raced");
        let full_val = Decision::of(&candidates(Some("valset"), None), None);
        assert_eq!(full_val.describe(), "the full valset");
        assert_eq!(full_val.split, "valset");
    }
}
