//! The confidence bound racing drops candidates by (docs/optimizer.md,
//! "Racing the final selection"): a test by betting for the mean of paired
//! differences over a finite set sampled without replacement.
//!
//! Setting: the selection set has `N` examples; two candidates' scores,
//! scaled to [0, 1] by the metric's range, differ by `d_i` in [-1, 1] on
//! example `i`; `D` is the mean of `d` over the whole set (what a full
//! selection would compare). The race reads the examples in a uniformly
//! random order. To test `H0: D >= mu`, a bettor starts with wealth 1 and
//! before each example bets against `H0`:
//!
//! ```text
//! m_t = (N * mu - S_{t-1}) / (N - t + 1)     the least mean the unread
//!                                            examples have under H0
//! W_t = W_{t-1} * (1 + lambda_t * (m_t - d_t))
//! ```
//!
//! with `S_{t-1}` the sum of the differences read so far. Under `H0` the
//! next difference has conditional mean at least `m_t`, so with
//! `lambda_t >= 0` chosen from the past only, `W` is a nonnegative
//! supermartingale and Ville's inequality gives `P(W_t >= 1/alpha for some t)
//! <= alpha`: `H0` is rejected once the wealth reaches `1/alpha`, with error
//! at most `alpha` however often (and whenever) the race looks. When
//! `m_t > 1` the unread examples cannot lift the mean to `mu` at all and
//! `H0` is rejected with certainty.
//!
//! The bet is the predictable plug-in of Waudby-Smith and Ramdas (2023,
//! "Estimating means of bounded random variables by betting", the
//! empirical-Bernstein bet): `lambda_t = sqrt(2 ln(1/alpha) / (v_{t-1} t
//! ln(1 + t)))` with `v` a running variance of the differences (prior 1,
//! the largest a [-1, 1] variable has), capped at `0.75 / (1 - m_t)` so a
//! factor never falls below 0.25. Small variance (two programs that agree
//! on most examples, as SIMBA's winners do) means large bets: the test
//! needs far fewer examples than a Hoeffding bound.

/// Largest fraction of the wealth bet on one example (see the module docs).
const BET_CAP: f64 = 0.75;
/// Variance of the differences assumed before any is read: the largest a
/// variable in [-1, 1] can have.
const PRIOR_VARIANCE: f64 = 1.0;
/// Slack on `m_t > 1`, so floating-point rounding never makes a certain
/// rejection out of a mean that is exactly reachable.
const CERTAIN_SLACK: f64 = 1e-12;
/// Bisection steps of [`interval`]: 2^-40 of the [-1, 1] range.
const BISECTION_STEPS: usize = 40;

/// Whether the differences `d` read so far (in race order, each in
/// [-1, 1]) reject `H0: D >= mu` at error rate `alpha`, where `D` is the
/// mean difference over a set of `population` examples.
pub fn rejects_at_least(d: &[f64], population: usize, mu: f64, alpha: f64) -> bool {
    debug_assert!(d.len() <= population, "more differences than examples");
    let threshold = (1.0 / alpha).ln();
    let mut log_wealth = 0.0;
    let mut sum = 0.0;
    let mut squares = 0.0;
    let mut variance = PRIOR_VARIANCE;
    for (i, &x) in d.iter().enumerate() {
        let t = (i + 1) as f64;
        let unread = (population - i) as f64;
        let m = (population as f64 * mu - sum) / unread;
        if m > 1.0 + CERTAIN_SLACK {
            return true;
        }
        let lambda = bet(threshold, variance, t, m);
        log_wealth += (1.0 + lambda * (m - x)).ln();
        if log_wealth >= threshold {
            return true;
        }
        sum += x;
        let mean = sum / t;
        squares += (x - mean) * (x - mean);
        variance = (PRIOR_VARIANCE + squares) / (t + 1.0);
    }
    // The whole set is read: D is known exactly.
    d.len() == population && population > 0 && sum / (population as f64) < mu
}

/// The bet on the `t`-th difference: the empirical-Bernstein plug-in,
/// capped so the wealth stays positive (`m < 1` here).
fn bet(threshold: f64, variance: f64, t: f64, m: f64) -> f64 {
    let plug_in = (2.0 * threshold / (variance * t * (1.0 + t).ln())).sqrt();
    plug_in.min(BET_CAP / (1.0 - m))
}

/// The confidence interval `[lower, upper]` for `D` after reading `d`: the
/// values of `mu` neither one-sided test rejects (each at `alpha`), found by
/// bisection. With the whole set read it is the exact mean.
pub fn interval(d: &[f64], population: usize, alpha: f64) -> (f64, f64) {
    if !d.is_empty() && d.len() == population {
        let mean = d.iter().sum::<f64>() / population as f64;
        return (mean, mean);
    }
    let upper = upper_bound(d, population, alpha);
    let negated: Vec<f64> = d.iter().map(|x| -x).collect();
    let lower = -upper_bound(&negated, population, alpha);
    (lower, upper)
}

/// The least `mu` at which `H0: D >= mu` is rejected (1 when none is).
fn upper_bound(d: &[f64], population: usize, alpha: f64) -> f64 {
    let (mut lo, mut hi) = (-1.0, 1.0);
    if !rejects_at_least(d, population, hi, alpha) {
        return 1.0;
    }
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (lo + hi);
        if rejects_at_least(d, population, mid, alpha) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_losses_reject_at_alpha_one_half_by_hand() {
        // N = 4, d = [-1, -1], mu = 0, alpha = 0.5: threshold ln 2 = 0.6931.
        // t = 1: m = 0, v = 1, plug-in sqrt(2 ln2 / (1 * 1 * ln 2)) = 1.414,
        //        cap 0.75 / 1 = 0.75 -> lambda 0.75; factor 1.75, log 0.5596.
        // t = 2: m = 1/3, v = (1 + 0) / 2 = 0.5, plug-in
        //        sqrt(1.3863 / (0.5 * 2 * ln 3)) = 1.1233, cap 0.75 / (2/3)
        //        = 1.125 -> lambda 1.1233; factor 1 + 1.1233 * 4/3 = 2.4977,
        //        log 0.9154; total 1.4750 >= 0.6931: rejected.
        assert!(rejects_at_least(&[-1.0, -1.0], 4, 0.0, 0.5));
        // After the first alone (0.5596 < 0.6931): not yet.
        assert!(!rejects_at_least(&[-1.0], 4, 0.0, 0.5));
        // At alpha = 0.2 (threshold ln 5 = 1.6094) the two are not enough:
        // t = 1 lambda 0.75 (plug-in 2.54), log 0.5596; t = 2: plug-in
        // sqrt(3.2189 / 1.0986) = 1.7117 capped at 1.125, factor 2.5, log
        // 0.9163; total 1.4759 < 1.6094.
        assert!(!rejects_at_least(&[-1.0, -1.0], 4, 0.0, 0.2));
    }

    #[test]
    fn a_deficit_the_rest_cannot_make_up_is_certain() {
        // N = 3, two losses: the last example would have to bring +2.
        // m_3 = (0 + 2) / 1 = 2 > 1, rejected whatever alpha.
        assert!(rejects_at_least(&[-1.0, -1.0, 0.0], 3, 0.0, 1e-12));
        // With one loss and one win nothing is decided.
        assert!(!rejects_at_least(&[-1.0, 1.0], 3, 0.0, 0.05));
    }

    #[test]
    fn agreement_never_rejects_a_tie() {
        // d = 0 everywhere and mu = 0: m = 0, every factor is exactly 1.
        let zeros = vec![0.0; 50];
        assert!(!rejects_at_least(&zeros, 100, 0.0, 0.05));
        assert!(!rejects_at_least(&zeros, 50, 0.0, 0.05));
    }

    #[test]
    fn a_consistent_loser_is_rejected_and_a_winner_is_not() {
        // 12 losses among 40 examples of 300, the rest equal.
        let mut d = vec![0.0; 40];
        for i in (0..40).step_by(3).take(12) {
            d[i] = -1.0;
        }
        assert!(rejects_at_least(&d, 300, 0.0, 0.05 / 6.0));
        let wins: Vec<f64> = d.iter().map(|x| -x).collect();
        assert!(!rejects_at_least(&wins, 300, 0.0, 0.05 / 6.0));
    }

    #[test]
    fn the_interval_holds_the_estimate_and_is_exact_at_the_end() {
        let d = [0.0, -1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0];
        let (lo, hi) = interval(&d, 100, 0.05);
        let mean = -1.0 / 8.0;
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        assert!(lo >= -1.0 && hi <= 1.0);
        // Read to the end: the mean itself.
        assert_eq!(interval(&d, 8, 0.05), (mean, mean));
        // More examples, narrower interval.
        let long: Vec<f64> = d.iter().cycle().take(80).copied().collect();
        let (lo2, hi2) = interval(&long, 100, 0.05);
        assert!(hi2 - lo2 < hi - lo, "{lo2}..{hi2} vs {lo}..{hi}");
    }

    #[test]
    fn the_whole_set_read_decides_exactly() {
        // Mean -0.25 over all 4: rejected even where the wealth is small.
        assert!(rejects_at_least(&[0.0, 0.0, 0.0, -1.0], 4, 0.0, 1e-12));
        assert!(!rejects_at_least(&[0.0, 0.0, 0.0, 0.0], 4, 0.0, 1e-12));
    }
}
