//! Batch statistics: percentiles, and the buckets that group a step's
//! trajectories by example and order the examples by how much they teach.

use super::pool::mean_or_zero;

/// The `p`-th percentile (0..=100) of `values` with linear interpolation
/// between the closest ranks, computed as `numpy.percentile` does (the same
/// operations in the same order, so the result is bit for bit numpy's: the
/// skip rules compare scores against it). 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let last = v.len() - 1;
    let rank = last as f64 * (p / 100.0);
    if rank >= last as f64 {
        return v[last];
    }
    let lo = rank.floor() as usize;
    let (a, b) = (v[lo], v[lo + 1]);
    let t = rank - lo as f64;
    // numpy interpolates from the nearer end, which rounds differently.
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

/// The ordering key of a bucket: (max - min, max, max - mean), compared
/// lexicographically, larger first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketKey {
    /// Best minus worst score: how much the trajectories disagree.
    pub max_to_min_gap: f64,
    /// The best score (ties on the gap go to the example solved better).
    pub max_score: f64,
    /// Best minus mean score.
    pub max_to_avg_gap: f64,
}

impl BucketKey {
    /// The key of scores already sorted best first.
    pub fn of_sorted(scores: &[f64]) -> Self {
        let max = scores.first().copied().unwrap_or(0.0);
        let min = scores.last().copied().unwrap_or(0.0);
        let mean = mean_or_zero(scores);
        BucketKey {
            max_to_min_gap: max - min,
            max_score: max,
            max_to_avg_gap: max - mean,
        }
    }

    fn cmp_desc(&self, other: &Self) -> std::cmp::Ordering {
        other
            .max_to_min_gap
            .total_cmp(&self.max_to_min_gap)
            .then(other.max_score.total_cmp(&self.max_score))
            .then(other.max_to_avg_gap.total_cmp(&self.max_to_avg_gap))
    }
}

/// Indices of the trajectories of one bucket, best score first; equal scores
/// keep their sampling order (variant order), as a stable sort does in DSPy.
pub fn sort_bucket(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// Bucket order: by key, descending; equal keys keep batch order (the
/// deterministic tie rule: the earlier example in the mini-batch first).
pub fn order_buckets(keys: &[BucketKey]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| keys[a].cmp_desc(&keys[b]));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        // np.percentile([1,2,3,4], 10) = 1.3 ; 90 -> 3.7
        assert!(close(percentile(&[4.0, 1.0, 3.0, 2.0], 10.0), 1.3));
        assert!(close(percentile(&[4.0, 1.0, 3.0, 2.0], 90.0), 3.7));
        // np.percentile([0,0,0,1,1], 10) = 0.0 ; 90 -> 1.0
        assert!(close(percentile(&[0.0, 1.0, 0.0, 1.0, 0.0], 10.0), 0.0));
        assert!(close(percentile(&[0.0, 1.0, 0.0, 1.0, 0.0], 90.0), 1.0));
        // np.percentile([0, 1], 10) = 0.1
        assert!(close(percentile(&[1.0, 0.0], 10.0), 0.1));
        // single value
        assert!(close(percentile(&[0.25], 90.0), 0.25));
        // np.percentile([0,0,0,0,0,0,0,0,0,1,1,1], 90) = 1.0 ; 10 -> 0.0
        let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert!(close(percentile(&v, 90.0), 1.0));
        // np.percentile(range(11), 10) = 1.0; np.percentile([0, .5, 1], 90) = 0.9
        assert!(close(percentile(&[1.0, 0.5, 0.0], 90.0), 0.9));
        assert!(close(percentile(&[1.0, 0.5, 0.0], 10.0), 0.1));
    }

    #[test]
    fn bucket_keys() {
        let k = BucketKey::of_sorted(&[1.0, 0.5, 0.0]);
        assert!(close(k.max_to_min_gap, 1.0));
        assert!(close(k.max_score, 1.0));
        assert!(close(k.max_to_avg_gap, 0.5));
    }

    #[test]
    fn bucket_sorting_is_stable_on_equal_scores() {
        assert_eq!(sort_bucket(&[0.0, 1.0, 0.0, 1.0]), vec![1, 3, 0, 2]);
    }

    #[test]
    fn bucket_order_with_ties() {
        let keys = [
            BucketKey::of_sorted(&[1.0, 0.0]),      // gap 1, max 1, avg-gap .5
            BucketKey::of_sorted(&[0.0, 0.0]),      // all zero
            BucketKey::of_sorted(&[1.0, 0.0]),      // identical to #0: keeps batch order
            BucketKey::of_sorted(&[1.0, 1.0]),      // gap 0, max 1
            BucketKey::of_sorted(&[1.0, 1.0, 0.0]), // gap 1, max 1, avg-gap 1/3
        ];
        assert_eq!(order_buckets(&keys), vec![0, 2, 4, 3, 1]);
    }
}
