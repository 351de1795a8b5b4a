//! The end of the run: which winners go to the full-trainset evaluation, and
//! which of them is returned.

/// Indices into the winners list (index 0 = baseline, `m` = the number of
/// steps that produced a winner) of the final candidates: `n` evenly spaced
/// picks `round(i * m / (n - 1))` for i in 0..n, duplicates removed, order kept.
/// Rounding is half-to-even, as Python's `round`, for parity with DSPy. With no
/// winner beyond the baseline (m = 0) only the baseline is picked.
pub fn final_indices(m: usize, n: usize) -> Vec<usize> {
    let raw: Vec<usize> = if m < 1 || n < 2 {
        vec![0]
    } else {
        (0..n)
            .map(|i| ((i * m) as f64 / (n - 1) as f64).round_ties_even() as usize)
            .collect()
    };
    let mut out = Vec::with_capacity(raw.len());
    for i in raw {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Index of the highest score; ties go to the earlier one. None when empty.
pub fn argmax_first(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, s) in scores.iter().enumerate() {
        match best {
            Some(b) if scores[b] >= *s => {}
            _ => best = Some(i),
        }
    }
    best
}

/// Positions of `scores`, highest first; equal scores keep their order. This
/// is the order of DSPy's `candidate_programs` (a stable sort by score,
/// descending), so the first is the program [`argmax_first`] returns.
pub fn rank_by_score(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_hand_computed() {
        // 8 steps, 7 picks: i*8/6 = 0, 1.33, 2.67, 4, 5.33, 6.67, 8
        assert_eq!(final_indices(8, 7), vec![0, 1, 3, 4, 5, 7, 8]);
        // 1 winner, 7 picks: i/6 = 0, .17, .33, .5 (ties even -> 0), .67, .83, 1
        assert_eq!(final_indices(1, 7), vec![0, 1]);
        // 3 winners, 3 picks: 0, 1.5 (-> 2), 3
        assert_eq!(final_indices(3, 3), vec![0, 2, 3]);
        // 5 winners, 3 picks: 0, 2.5 (-> 2), 5
        assert_eq!(final_indices(5, 3), vec![0, 2, 5]);
        // 2 winners, 5 picks: 0, .5 (->0), 1, 1.5 (->2), 2
        assert_eq!(final_indices(2, 5), vec![0, 1, 2]);
        // no winners
        assert_eq!(final_indices(0, 7), vec![0]);
        // fewer winners than picks
        assert_eq!(final_indices(4, 7), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn ranking_is_by_score_then_position() {
        assert_eq!(rank_by_score(&[0.5, 0.7, 0.7, 0.1]), vec![1, 2, 0, 3]);
        assert_eq!(rank_by_score(&[0.0, 0.0, 0.0]), vec![0, 1, 2]);
        assert_eq!(rank_by_score(&[]), Vec::<usize>::new());
        // The first ranked is always the one argmax_first picks.
        let s = [0.2, 0.9, 0.4, 0.9];
        assert_eq!(rank_by_score(&s)[0], argmax_first(&s).unwrap());
    }

    #[test]
    fn ties_go_to_the_earlier() {
        assert_eq!(argmax_first(&[0.5, 0.7, 0.7, 0.1]), Some(1));
        assert_eq!(argmax_first(&[0.0, 0.0]), Some(0));
        assert_eq!(argmax_first(&[]), None);
    }
}
