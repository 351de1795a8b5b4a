use super::*;

/// Runs a race to its end on complete score tables `table[c][e]`, each
/// round's jobs answered from the table; the rounds' dropped lists.
fn run(race: &mut Race, table: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let mut dropped = Vec::new();
    while let Some(round) = race.next_round() {
        let scores: Vec<f64> = round.jobs.iter().map(|&(c, e)| table[c][e]).collect();
        dropped.push(race.close_round(&round, &scores));
    }
    dropped
}

fn unknown(candidates: usize, n: usize) -> Vec<Vec<Option<f64>>> {
    vec![vec![None; n]; candidates]
}

#[test]
fn a_loser_is_dropped_when_the_bound_says_so_by_hand() {
    // Two candidates, 4 examples read in order 0..4, rounds of 2; alpha =
    // 0.05 / 1, threshold ln 20 = 2.9957. Candidate 1 loses every example.
    // Round 1, d = [-1, -1]: t = 1 m = 0, lambda = min(2.940, 0.75) = 0.75,
    // log wealth ln 1.75 = 0.5596; t = 2 m = 1/3, variance 0.5, lambda =
    // min(2.335, 1.125) = 1.125, + ln 2.5 = 0.9163 -> 1.4759 < 2.9957: kept.
    // Round 2: t = 3 m = 2/2 = 1, variance 1/3, lambda = 2.0789 (no cap at
    // m = 1), + ln(1 + 2.0789 * 2) = 1.6406 -> 3.1164 >= 2.9957: dropped.
    let table = [vec![1.0; 4], vec![0.0; 4]];
    let mut race = Race::new(vec![0, 1, 2, 3], unknown(2, 4), 2, (0.0, 1.0));
    assert_eq!(race.alpha(), 0.05);
    let first = race.next_round().unwrap();
    assert_eq!(first.examples, vec![0, 1]);
    assert_eq!(first.jobs, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(
        race.close_round(&first, &[1.0, 1.0, 0.0, 0.0]),
        Vec::<usize>::new()
    );
    assert_eq!(race.end(), None);
    let second = race.next_round().unwrap();
    let scores: Vec<f64> = second.jobs.iter().map(|&(c, e)| table[c][e]).collect();
    assert_eq!(race.close_round(&second, &scores), vec![1]);
    assert_eq!(race.end(), Some(RaceEnd::OneLeft));
    let out = race.outcome();
    assert_eq!(out.winner, 0);
    assert_eq!(out.rounds, 2);
    assert_eq!(out.candidates[0].result, CandidateResult::Returned);
    assert_eq!(
        out.candidates[1].result,
        CandidateResult::Dropped {
            round: 2,
            leader: 0
        }
    );
    assert_eq!(out.candidates[1].examples, 4);
    assert_eq!(out.candidates[1].estimate, 0.0);
    // Read to the end: the interval is the exact difference, -1.
    assert_eq!(out.candidates[1].interval, Some((-1.0, -1.0)));
}

#[test]
fn exactly_tied_candidates_are_never_dropped_and_the_earlier_wins() {
    // 0 and 2 score the same everywhere, 1 loses often: 1 goes, 0 and 2
    // race to the end of the set and the earlier is returned.
    let same: Vec<f64> = (0..64).map(|e| f64::from(e % 3 != 0)).collect();
    let worse: Vec<f64> = (0..64).map(|e| f64::from(e % 5 == 0)).collect();
    let table = vec![same.clone(), worse, same];
    let mut race = Race::new(race_order(3, 64), unknown(3, 64), 8, (0.0, 1.0));
    let dropped: Vec<usize> = run(&mut race, &table).concat();
    assert_eq!(dropped, vec![1]);
    let out = race.outcome();
    assert_eq!(out.end, RaceEnd::Exhausted);
    assert_eq!(out.winner, 0);
    assert_eq!(out.candidates[0].result, CandidateResult::Returned);
    assert_eq!(out.candidates[2].result, CandidateResult::Survived);
    assert_eq!(out.candidates[2].examples, 64);
    assert_eq!(out.candidates[2].interval, Some((0.0, 0.0)));
    // Listed the other way round, the tie still goes to the earlier.
    let mut swapped = Race::new(race_order(3, 64), unknown(2, 64), 8, (0.0, 1.0));
    run(&mut swapped, &[table[2].clone(), table[0].clone()]);
    assert_eq!(swapped.outcome().winner, 0);
}

#[test]
fn known_scores_are_not_run_again_and_are_counted() {
    let table = vec![vec![1.0, 0.0, 1.0, 0.0], vec![0.0, 1.0, 1.0, 0.0]];
    let mut known = unknown(2, 4);
    known[1][2] = Some(1.0);
    known[1][3] = Some(0.0);
    let mut race = Race::new(vec![3, 2, 1, 0], known, 2, (0.0, 1.0));
    let first = race.next_round().unwrap();
    assert_eq!(first.examples, vec![3, 2]);
    // Candidate 1 knows both: only candidate 0 runs.
    assert_eq!(first.jobs, vec![(0, 3), (0, 2)]);
    run(&mut race, &table);
    let out = race.outcome();
    assert_eq!(out.candidates[1].reused, 2);
    assert_eq!(out.candidates[0].reused, 0);
    assert_eq!(
        out.candidates[1].scores,
        vec![Some(0.0), Some(1.0), Some(1.0), Some(0.0)]
    );
}

#[test]
fn the_leader_is_the_best_mean_so_far_ties_to_the_earlier() {
    let mut race = Race::new(vec![0, 1, 2, 3], unknown(3, 4), 2, (0.0, 1.0));
    // Before any round every mean is 0: the first candidate leads.
    assert_eq!(race.leader(), 0);
    let round = race.next_round().unwrap();
    // Means: 0.5, 1.0, 1.0 -> candidate 1 (the earlier of the two best).
    race.close_round(&round, &[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(race.leader(), 1);
}

#[test]
fn a_budget_stop_returns_the_leader() {
    let table = [vec![0.0; 40], vec![1.0; 40], vec![0.5; 40]];
    let mut race = Race::new(race_order(0, 40), unknown(3, 40), 8, (0.0, 1.0));
    let round = race.next_round().unwrap();
    let scores: Vec<f64> = round.jobs.iter().map(|&(c, e)| table[c][e]).collect();
    race.close_round(&round, &scores);
    race.stop_for_budget();
    assert!(race.next_round().is_none());
    let out = race.outcome();
    assert_eq!(out.end, RaceEnd::Budget);
    assert_eq!(out.winner, 1);
    assert_eq!(out.candidates[2].examples, 8);
}

#[test]
fn the_metric_range_scales_the_differences() {
    // On [0, 2] a loss of 1 is half the range: the [0, 1] race drops
    // candidate 1 after 4 rounds of 2, the [0, 2] race needs longer.
    let table = vec![vec![1.0; 40], vec![0.0; 40]];
    let rounds_to_drop = |range| {
        let mut race = Race::new((0..40).collect(), unknown(2, 40), 2, range);
        let dropped = run(&mut race, &table);
        dropped.iter().position(|d| !d.is_empty()).unwrap() + 1
    };
    let unit = rounds_to_drop((0.0, 1.0));
    let wide = rounds_to_drop((0.0, 2.0));
    assert!(unit < wide, "{unit} vs {wide}");
}

#[test]
fn one_candidate_reads_the_whole_set_as_a_full_selection_would() {
    let table = vec![vec![1.0, 0.0, 1.0, 1.0, 0.0]];
    let mut race = Race::new(vec![4, 3, 2, 1, 0], unknown(1, 5), 2, (0.0, 1.0));
    assert!(race.next_round().is_some(), "the first round always runs");
    assert_eq!(run(&mut race, &table).len(), 3);
    let outcome = race.outcome();
    assert_eq!(outcome.winner, 0);
    assert_eq!(outcome.end, RaceEnd::Exhausted);
    assert_eq!(outcome.rounds, 3);
    assert_eq!(outcome.candidates[0].examples, 5);
    assert_eq!(outcome.candidates[0].estimate, 0.6);
    assert_eq!(
        outcome.candidates[0].scores,
        table[0].iter().map(|&s| Some(s)).collect::<Vec<_>>()
    );
}

#[test]
fn the_order_is_a_seeded_permutation() {
    let a = race_order(7, 50);
    assert_eq!(a, race_order(7, 50));
    assert_ne!(a, race_order(8, 50));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(round_size(32), 32);
    assert_eq!(round_size(3), 8);
}
