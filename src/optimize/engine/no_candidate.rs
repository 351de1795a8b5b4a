//! Warnings about strategies that never worked: a step whose every strategy
//! attempt failed (so it built no candidate), and a run in which no strategy
//! applied at all (so its result is the baseline). Both end a run with exit
//! 0, so without a warning they would pass unnoticed.

use crate::artifacts::{AttemptResult, TrialRecord};

/// The warnings for `trials`, steps in order, the whole-run one last.
pub fn strategy_warnings(trials: &[TrialRecord]) -> Vec<String> {
    let mut out = Vec::new();
    for t in trials {
        let attempts: Vec<_> = t.candidates.iter().flat_map(|c| &c.attempts).collect();
        let built = t.candidates.iter().any(|c| c.pool_index.is_some());
        if !built
            && !attempts.is_empty()
            && attempts.iter().all(|a| a.result == AttemptResult::Failed)
        {
            let first = attempts[0];
            out.push(format!(
                "step {} built no candidate: all {} strategy attempts failed (first: {}: {})",
                t.step,
                attempts.len(),
                first.strategy,
                first.detail
            ));
        }
    }
    let applied = trials
        .iter()
        .flat_map(|t| &t.candidates)
        .flat_map(|c| &c.attempts)
        .any(|a| a.result == AttemptResult::Applied);
    if !trials.is_empty() && !applied {
        out.push(format!(
            "no strategy applied in {} step{}: every attempt skipped or failed, so the result is the baseline program (see trials.jsonl)",
            trials.len(),
            if trials.len() == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::{AttemptRecord, BatchStats, CallUsage, CandidateRecord};

    fn trial(step: usize, results: &[AttemptResult]) -> TrialRecord {
        let applied = results.contains(&AttemptResult::Applied);
        TrialRecord {
            step,
            batch: vec![0],
            variants: vec![],
            sampled_programs: vec![],
            batch_stats: BatchStats {
                mean: 0.0,
                p10: 0.0,
                p90: 0.0,
                failed_executions: 0,
            },
            buckets: vec![],
            candidates: vec![CandidateRecord {
                bucket: 0,
                example: 0,
                source: 0,
                dropped_demos: vec![],
                attempts: results
                    .iter()
                    .map(|r| AttemptRecord {
                        strategy: "x.y".into(),
                        result: *r,
                        detail: "boom".into(),
                        unmatched_advice: Default::default(),
                    })
                    .collect(),
                pool_index: applied.then_some(1),
                score: None,
                scores: vec![],
                merged: false,
            }],
            winner: None,
            best_candidate_score: None,
            best_so_far: None,
            usage: CallUsage::default(),
        }
    }

    #[test]
    fn a_step_whose_every_attempt_failed_is_named_and_so_is_a_run_without_any_applied() {
        use AttemptResult::*;
        let w = strategy_warnings(&[trial(1, &[Failed, Failed]), trial(2, &[Skipped, Failed])]);
        assert_eq!(
            w,
            [
                "step 1 built no candidate: all 2 strategy attempts failed (first: x.y: boom)",
                "no strategy applied in 2 steps: every attempt skipped or failed, so the result is the baseline program (see trials.jsonl)",
            ]
        );
        assert!(strategy_warnings(&[trial(1, &[Failed, Applied])]).is_empty());
        assert!(strategy_warnings(&[]).is_empty());
    }
}
