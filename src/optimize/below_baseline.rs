//! The warning a run gives when the program it returns scores below the
//! baseline on a split it was scored on besides the trainset (the devset, or
//! the valset it was chosen on). A train-chosen winner that loses on held-out
//! rows is the typical failure of small data and small models; the summary,
//! run.json and the report all say so, with the numbers.
//!
//! On the valset it was chosen on, the returned program cannot be below the
//! baseline today (the baseline is always a pick and wins ties); the check
//! covers it anyway, so a final selection that scores picks only partly
//! cannot regress there without a word.

use crate::artifacts::{CandidatesJson, ScorePair};

/// One warning per held-out split on which the returned program scores
/// below the baseline (pick 0 of `candidates`), in the order valset, devset.
/// `baseline` and `best` are run.json's score pairs.
pub fn below_baseline_warnings(
    program: &str,
    candidates: &CandidatesJson,
    baseline: &ScorePair,
    best: &ScorePair,
) -> Vec<String> {
    let chosen = candidates.candidates.get(candidates.best);
    // A raced valset score is a mean over the examples that candidate lasted
    // for: two of them compare only when both read the whole split.
    let whole_split = |c: &crate::artifacts::CandidateEntry| match (&c.race, &candidates.race) {
        (Some(r), Some(summary)) => r.examples >= summary.set_size,
        _ => true,
    };
    let val_of = |c: Option<&crate::artifacts::CandidateEntry>| {
        c.filter(|c| whole_split(c)).and_then(|c| c.val_score)
    };
    let val = (val_of(candidates.candidates.first()), val_of(chosen));
    let chosen_on = match candidates.selected_on.as_deref() {
        Some("valset") => "its valset score",
        Some("devset") => "its devset score",
        _ => "its trainset score",
    };
    let mut out = Vec::new();
    for (split, pair) in [("valset", val), ("devset", (baseline.dev, best.dev))] {
        let (Some(base), Some(got)) = pair else {
            continue;
        };
        if got >= base {
            continue;
        }
        let mut line = format!(
            "optimize `{program}`: the returned program scores {got:.3} on the {split}, below the baseline's {base:.3} ({:+.3}); it was chosen by {chosen_on}",
            got - base
        );
        match (candidates.selected_on.as_deref(), val) {
            (None, _) => {
                if let (Some(got), Some(base)) = (best.train, baseline.train) {
                    line.push_str(&format!(" ({got:.3} vs the baseline's {base:.3})"));
                }
                line.push_str(", which small trainsets and small models overfit: consider `valset = auto` (docs/optimizer.md, \"Small data, small models\")");
            }
            (Some("valset"), (Some(base), Some(got))) if split == "devset" => {
                line.push_str(&format!(
                    " ({got:.3} vs the baseline's {base:.3}): the devset differs from the valset"
                ))
            }
            _ => {}
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::{CandidateEntry, SCHEMA_VERSION};

    fn entry(train: f64, val: Option<f64>) -> CandidateEntry {
        CandidateEntry {
            winner_index: 0,
            step: None,
            pool_index: 0,
            train_score: Some(train),
            train_scores: vec![],
            dev_score: None,
            val_score: val,
            is_best: false,
            race: None,
            predictors: Default::default(),
        }
    }

    fn candidates(best: usize, on: Option<&str>, entries: Vec<CandidateEntry>) -> CandidatesJson {
        CandidatesJson {
            schema: SCHEMA_VERSION,
            program: "qa".into(),
            metric: "m".into(),
            trainset_size: 10,
            selected_on: on.map(String::from),
            best,
            candidates: entries,
            candidate_programs: vec![],
            race: None,
        }
    }

    fn pair(train: f64, dev: Option<f64>) -> ScorePair {
        ScorePair {
            train: Some(train),
            dev,
        }
    }

    #[test]
    fn a_train_winner_below_the_baseline_on_dev_is_named_with_the_numbers() {
        let c = candidates(1, None, vec![entry(0.5, None), entry(0.688, None)]);
        let w =
            below_baseline_warnings("qa", &c, &pair(0.5, Some(0.75)), &pair(0.688, Some(0.729)));
        assert_eq!(
            w,
            vec![
                "optimize `qa`: the returned program scores 0.729 on the devset, below the \
                 baseline's 0.750 (-0.021); it was chosen by its trainset score (0.688 vs the \
                 baseline's 0.500), which small trainsets and small models overfit: consider \
                 `valset = auto` (docs/optimizer.md, \"Small data, small models\")"
                    .to_string()
            ]
        );
    }

    #[test]
    fn equal_or_better_and_unscored_splits_give_nothing() {
        let c = candidates(1, None, vec![entry(0.5, None), entry(0.7, None)]);
        let none =
            |base, best| below_baseline_warnings("qa", &c, &pair(0.5, base), &pair(0.7, best));
        assert!(none(Some(0.6), Some(0.6)).is_empty());
        assert!(none(Some(0.6), Some(0.8)).is_empty());
        assert!(none(None, None).is_empty());
        // The baseline returned: the same program, never below itself.
        let c0 = candidates(0, None, vec![entry(0.5, None)]);
        assert!(
            below_baseline_warnings("qa", &c0, &pair(0.5, Some(0.6)), &pair(0.5, Some(0.6)))
                .is_empty()
        );
    }

    #[test]
    fn a_valset_choice_below_the_baseline_on_both_splits_warns_twice() {
        let c = candidates(
            1,
            Some("valset"),
            vec![entry(0.5, Some(0.6)), entry(0.7, Some(0.5))],
        );
        let w = below_baseline_warnings("qa", &c, &pair(0.5, Some(0.6)), &pair(0.7, Some(0.4)));
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("scores 0.500 on the valset, below the baseline's 0.600 (-0.100); it was chosen by its valset score"), "{}", w[0]);
        assert!(w[1].ends_with("scores 0.400 on the devset, below the baseline's 0.600 (-0.200); it was chosen by its valset score (0.500 vs the baseline's 0.600): the devset differs from the valset"), "{}", w[1]);
    }

    #[test]
    fn a_raced_valset_estimate_of_a_dropped_baseline_is_not_compared() {
        use crate::artifacts::{CandidateRaceRecord, RaceEnd, RaceResult, RaceSummary};
        let raced = |result, examples, val| {
            let mut e = entry(0.5, Some(val));
            e.race = Some(CandidateRaceRecord {
                result,
                dropped_after_round: None,
                examples,
                reused: 0,
                estimate: Some(val),
                compared_with: None,
                interval: None,
            });
            e
        };
        // The baseline led 0.8 on the first 8 rows and was dropped later on;
        // the returned program's 0.6 is over all 40: not a like-for-like pair.
        let mut c = candidates(
            1,
            Some("valset"),
            vec![
                raced(RaceResult::Dropped, 8, 0.8),
                raced(RaceResult::Returned, 40, 0.6),
            ],
        );
        c.race = Some(RaceSummary {
            on: "valset".into(),
            set_size: 40,
            round_size: 8,
            rounds: 5,
            delta: 0.05,
            alpha: 0.05,
            end: RaceEnd::Exhausted,
            executions: 48,
            reused: 0,
            full_executions: 80,
        });
        let pair = |dev| ScorePair { train: None, dev };
        assert!(below_baseline_warnings("qa", &c, &pair(Some(0.5)), &pair(Some(0.5))).is_empty());
        // Both read the whole split: compared as usual.
        c.candidates[0] = raced(RaceResult::Survived, 40, 0.8);
        let w = below_baseline_warnings("qa", &c, &pair(Some(0.5)), &pair(Some(0.5)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("scores 0.600 on the valset, below the baseline's 0.800"),
            "{}",
            w[0]
        );
    }
}
