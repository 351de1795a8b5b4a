//! The program pool: every program built so far with the mini-batch scores it
//! earned, and the two ways SIMBA picks from it (`top_k_plus_baseline`, then a
//! softmax draw over average scores).

use rand::RngExt;
use std::sync::Arc;

use crate::program::Program;

/// One pooled program.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The program, shared with the candidates and reports that name it.
    pub program: Arc<Program>,
    /// Per-example metric values from the mini-batches it was evaluated on.
    pub scores: Vec<f64>,
    /// The step that built it (None for the baseline).
    pub step: Option<usize>,
}

/// All programs, index 0 = the baseline.
#[derive(Debug, Clone)]
pub struct Pool {
    entries: Vec<Entry>,
}

impl Pool {
    /// A pool holding only the baseline, with no scores (DSPy parity: the
    /// baseline is never scored during the loop, so its average stays 0).
    pub fn new(baseline: Program) -> Self {
        Self {
            entries: vec![Entry {
                program: Arc::new(baseline),
                scores: Vec::new(),
                step: None,
            }],
        }
    }

    /// How many programs, the baseline included (never 0).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false (the baseline is always there); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The program at pool index `idx`; panics when `idx >= len()`.
    pub fn get(&self, idx: usize) -> &Entry {
        &self.entries[idx]
    }

    /// Add a program with its scores; returns its index.
    pub fn register(&mut self, program: Program, scores: Vec<f64>, step: usize) -> usize {
        self.entries.push(Entry {
            program: Arc::new(program),
            scores,
            step: Some(step),
        });
        self.entries.len() - 1
    }

    /// A pool rebuilt from saved entries (index 0 must be the baseline).
    pub fn from_entries(entries: Vec<Entry>) -> Self {
        Self { entries }
    }

    /// Every entry, by index.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The first entry with the same instructions and demos in every
    /// predictor as `program`.
    pub fn find(&self, program: &Program) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.program.predictors == program.predictors)
    }

    /// Append scores to a program's record.
    pub fn add_scores(&mut self, idx: usize, scores: impl IntoIterator<Item = f64>) {
        self.entries[idx].scores.extend(scores);
    }

    /// Mean score of a program; 0 when it has none.
    pub fn average(&self, idx: usize) -> f64 {
        mean_or_zero(&self.entries[idx].scores)
    }

    /// The averages of every program, by index.
    pub fn averages(&self) -> Vec<f64> {
        (0..self.entries.len()).map(|i| self.average(i)).collect()
    }

    /// See [`top_k_plus_baseline`].
    pub fn top_k_plus_baseline(&self, k: usize) -> Vec<usize> {
        top_k_plus_baseline(&self.averages(), k)
    }
}

/// Mean of `xs`; 0 for an empty slice.
pub fn mean_or_zero(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// The indices of the `k` programs with the highest average (ties: lower index
/// first), with the baseline (0) forced in by replacing the last entry when it
/// is not among them; duplicates removed, order kept.
pub fn top_k_plus_baseline(averages: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..averages.len()).collect();
    // A stable sort keeps pool order among equal averages, as DSPy's sorted() does.
    order.sort_by(|&a, &b| averages[b].total_cmp(&averages[a]));
    let mut top: Vec<usize> = order.into_iter().take(k).collect();
    if !top.is_empty() && !top.contains(&0) {
        let last = top.len() - 1;
        top[last] = 0;
    }
    let mut seen = Vec::with_capacity(top.len());
    for i in top {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen
}

/// Softmax probabilities of `scores / temperature`.
pub fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    // Shifting by the max changes nothing mathematically and avoids overflow
    // at small temperatures.
    let exps: Vec<f64> = scores
        .iter()
        .map(|s| ((s - max) / temperature).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    if !(sum.is_finite() && sum > 0.0) {
        return vec![1.0 / scores.len() as f64; scores.len()];
    }
    exps.into_iter().map(|e| e / sum).collect()
}

/// Pick one of `candidates` with probability softmax(average / temperature),
/// using one uniform draw from `rng`.
pub fn softmax_pick<R: rand::Rng + ?Sized>(
    rng: &mut R,
    candidates: &[usize],
    averages: &[f64],
    temperature: f64,
) -> usize {
    assert!(!candidates.is_empty(), "softmax over an empty program list");
    let scores: Vec<f64> = candidates.iter().map(|&i| averages[i]).collect();
    let probs = softmax(&scores, temperature);
    let u: f64 = rng.random();
    pick_by_cumulative(candidates, &probs, u)
}

/// The first candidate whose cumulative probability exceeds `u` (in [0, 1));
/// the last one when rounding leaves the sum just below `u`.
pub fn pick_by_cumulative(candidates: &[usize], probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (c, p) in candidates.iter().zip(probs) {
        acc += p;
        if u < acc {
            return *c;
        }
    }
    *candidates.last().expect("non-empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn top_k_forces_baseline_in_by_replacing_last() {
        // Baseline 0 averages 0 and is not in the top 3 of [0, .5, .9, .7, .8].
        let avgs = [0.0, 0.5, 0.9, 0.7, 0.8];
        assert_eq!(top_k_plus_baseline(&avgs, 3), vec![2, 4, 0]);
        // Already in: unchanged.
        let avgs = [0.95, 0.5, 0.9];
        assert_eq!(top_k_plus_baseline(&avgs, 2), vec![0, 2]);
        // k larger than the pool.
        assert_eq!(top_k_plus_baseline(&[0.0], 6), vec![0]);
    }

    #[test]
    fn top_k_ties_keep_pool_order() {
        let avgs = [0.0, 0.5, 0.5, 0.5, 0.2];
        assert_eq!(top_k_plus_baseline(&avgs, 3), vec![1, 2, 0]);
        assert_eq!(top_k_plus_baseline(&avgs, 4), vec![1, 2, 3, 0]);
    }

    #[test]
    fn softmax_hand_computed() {
        // exp(0/.2)=1, exp(1/.2)=e^5=148.4131591; sum=149.4131591
        let p = softmax(&[0.0, 1.0], 0.2);
        assert!(close(p[0], 1.0 / 149.413_159_102_576_6), "{p:?}");
        assert!(close(p[1], 148.413_159_102_576_6 / 149.413_159_102_576_6));
        // equal scores: uniform
        let p = softmax(&[0.3, 0.3, 0.3], 0.2);
        assert!(p.iter().all(|x| close(*x, 1.0 / 3.0)));
        // temperature 1: e^0.5/(1+e^0.5)
        let p = softmax(&[0.0, 0.5], 1.0);
        assert!(close(p[1], 0.622_459_331_201_854_6));
    }

    #[test]
    fn cumulative_pick_boundaries() {
        let c = [4, 7, 9];
        let p = [0.2, 0.5, 0.3];
        assert_eq!(pick_by_cumulative(&c, &p, 0.0), 4);
        assert_eq!(pick_by_cumulative(&c, &p, 0.199), 4);
        assert_eq!(pick_by_cumulative(&c, &p, 0.2), 7);
        assert_eq!(pick_by_cumulative(&c, &p, 0.69), 7);
        assert_eq!(pick_by_cumulative(&c, &p, 0.7), 9);
        assert_eq!(pick_by_cumulative(&c, &p, 0.999_999_999_999), 9);
    }

    #[test]
    fn find_matches_instructions_and_demos_and_scores_accumulate() {
        use crate::ir::*;
        let graph = std::sync::Arc::new(ProgramGraph {
            name: "p".into(),
            lm: "m".into(),
            inputs: vec![],
            steps: vec![],
            outputs: vec![],
            deps: vec![],
            spec_text: String::new(),
        });
        let mut base = Program::baseline(graph);
        base.predictors.insert(
            "a".into(),
            crate::program::PredictorState {
                instructions: "x".into(),
                demos: vec![],
            },
        );
        let mut pool = Pool::new(base.clone());
        let mut other = base.clone();
        other.predictors["a"].instructions = "y".into();
        assert_eq!(pool.find(&base), Some(0));
        assert_eq!(pool.find(&other), None);
        let i = pool.register(other.clone(), vec![1.0], 1);
        assert_eq!(pool.find(&other), Some(i));
        pool.add_scores(i, [0.0, 1.0]);
        assert_eq!(pool.get(i).scores, vec![1.0, 0.0, 1.0]);
        assert!(close(pool.average(i), 2.0 / 3.0));
    }

    #[test]
    fn mean_of_nothing_is_zero() {
        assert_eq!(mean_or_zero(&[]), 0.0);
        assert!(close(mean_or_zero(&[1.0, 0.0, 0.5]), 0.5));
    }
}
