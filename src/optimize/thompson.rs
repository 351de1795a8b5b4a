//! `selection = thompson`: pick a program by Thompson sampling instead of a
//! softmax over average scores.
//!
//! Each candidate program gets a posterior over its true mean score, built
//! from the mini-batch scores it earned; one value is drawn from every
//! candidate's posterior (in candidate order, from the coordinator's choice
//! stream) and the largest draw wins (ties: the earlier candidate).
//!
//! - 0/1 metrics (every score in the pool is 0 or 1): a Beta posterior.
//!   Prior Beta(n0 * m0, n0 * (1 - m0)) with `m0` the baseline mean (clamped
//!   to [0.01, 0.99]) and strength `n0` = [`PRIOR_STRENGTH`]; each 1 adds to
//!   alpha, each 0 to beta.
//! - Other metrics: Normal with unknown mean and variance, a
//!   Normal-Inverse-Gamma posterior. Prior mean `m0`, `kappa0` =
//!   [`PRIOR_STRENGTH`], `alpha0` = 1, `beta0` = [`PRIOR_VARIANCE`]; the
//!   draw is sigma^2 ~ InvGamma(alpha, beta), then mu ~ N(mean, sigma^2 / kappa).

use rand::distr::Distribution;
use statrs::distribution::{Beta, Gamma, Normal};

/// Pseudo-observations the prior is worth.
pub const PRIOR_STRENGTH: f64 = 2.0;
/// The prior's guess of the score variance (the largest a [0, 1] score can
/// have is 0.25).
pub const PRIOR_VARIANCE: f64 = 0.25;

/// A posterior over a program's mean score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Posterior {
    /// For 0/1 scores: Beta(alpha, beta) over the success rate.
    Beta {
        /// Prior pseudo-successes plus the 1s observed.
        alpha: f64,
        /// Prior pseudo-failures plus the 0s observed.
        beta: f64,
    },
    /// Normal-Inverse-Gamma.
    Nig {
        /// Posterior mean of the mean score.
        mean: f64,
        /// How many observations (prior included) the mean is worth.
        kappa: f64,
        /// Shape of the inverse-gamma over the score variance.
        alpha: f64,
        /// Scale of the inverse-gamma over the score variance.
        beta: f64,
    },
}

/// Whether every score is 0 or 1 (then the Beta model applies).
pub fn is_binary<'a>(scores: impl IntoIterator<Item = &'a f64>) -> bool {
    scores.into_iter().all(|&s| s == 0.0 || s == 1.0)
}

/// The prior, centred on the baseline's mean `m0`.
pub fn prior(m0: f64, binary: bool) -> Posterior {
    if binary {
        let m = m0.clamp(0.01, 0.99);
        Posterior::Beta {
            alpha: PRIOR_STRENGTH * m,
            beta: PRIOR_STRENGTH * (1.0 - m),
        }
    } else {
        Posterior::Nig {
            mean: m0,
            kappa: PRIOR_STRENGTH,
            alpha: 1.0,
            beta: PRIOR_VARIANCE,
        }
    }
}

/// The posterior after observing `scores`.
pub fn update(prior: Posterior, scores: &[f64]) -> Posterior {
    match prior {
        Posterior::Beta { alpha, beta } => {
            let ones = scores.iter().filter(|&&s| s == 1.0).count() as f64;
            Posterior::Beta {
                alpha: alpha + ones,
                beta: beta + scores.len() as f64 - ones,
            }
        }
        Posterior::Nig {
            mean,
            kappa,
            alpha,
            beta,
        } => {
            if scores.is_empty() {
                return prior;
            }
            let n = scores.len() as f64;
            let xbar = scores.iter().sum::<f64>() / n;
            let ss: f64 = scores.iter().map(|x| (x - xbar).powi(2)).sum();
            let kn = kappa + n;
            Posterior::Nig {
                mean: (kappa * mean + n * xbar) / kn,
                kappa: kn,
                alpha: alpha + n / 2.0,
                beta: beta + ss / 2.0 + kappa * n * (xbar - mean).powi(2) / (2.0 * kn),
            }
        }
    }
}

/// One draw of the mean score from `p`.
pub fn draw<R: rand::Rng + ?Sized>(p: &Posterior, rng: &mut R) -> f64 {
    match *p {
        Posterior::Beta { alpha, beta } => Beta::new(alpha, beta)
            .map(|d| d.sample(rng))
            .unwrap_or(alpha / (alpha + beta)),
        Posterior::Nig {
            mean,
            kappa,
            alpha,
            beta,
        } => {
            // 1 / sigma^2 ~ Gamma(alpha, rate = beta).
            let precision = Gamma::new(alpha, beta)
                .map(|d| d.sample(rng))
                .unwrap_or(alpha / beta);
            let sd = (1.0 / (precision.max(1e-12) * kappa)).sqrt();
            Normal::new(mean, sd).map(|d| d.sample(rng)).unwrap_or(mean)
        }
    }
}

/// Thompson pick among `candidates`: one draw per candidate from the
/// posterior of its `scores[c]`, prior centred on `baseline_mean`.
pub fn thompson_pick<R: rand::Rng + ?Sized>(
    rng: &mut R,
    candidates: &[usize],
    scores: &[&[f64]],
    baseline_mean: f64,
    binary: bool,
) -> usize {
    assert!(
        !candidates.is_empty(),
        "thompson over an empty program list"
    );
    let p0 = prior(baseline_mean, binary);
    let mut best = (candidates[0], f64::NEG_INFINITY);
    for &c in candidates {
        let x = draw(&update(p0, scores[c]), rng);
        if x > best.1 {
            best = (c, x);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn stats(p: Posterior, n: usize) -> (f64, f64) {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let xs: Vec<f64> = (0..n).map(|_| draw(&p, &mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        (m, v)
    }

    #[test]
    fn beta_prior_and_update_by_hand() {
        // m0 = 0.25, strength 2: Beta(0.5, 1.5); then 1,1,0 -> Beta(2.5, 2.5).
        let p = prior(0.25, true);
        assert_eq!(
            p,
            Posterior::Beta {
                alpha: 0.5,
                beta: 1.5
            }
        );
        assert_eq!(
            update(p, &[1.0, 1.0, 0.0]),
            Posterior::Beta {
                alpha: 2.5,
                beta: 2.5
            }
        );
        // Clamped: a baseline at 0 still gives a proper prior.
        assert_eq!(
            prior(0.0, true),
            Posterior::Beta {
                alpha: 0.02,
                beta: 1.98
            }
        );
    }

    #[test]
    fn nig_update_by_hand() {
        // Prior (0.5, 2, 1, 0.25); data 0.2, 0.4, 0.9: n=3, mean 0.5, ss=0.26.
        let p = update(prior(0.5, false), &[0.2, 0.4, 0.9]);
        let Posterior::Nig {
            mean,
            kappa,
            alpha,
            beta,
        } = p
        else {
            panic!("{p:?}")
        };
        assert!(close(mean, 0.5, 1e-12));
        assert!(close(kappa, 5.0, 1e-12));
        assert!(close(alpha, 2.5, 1e-12));
        assert!(close(beta, 0.25 + 0.13, 1e-12));
        // Prior mean 0: mean = (0 + 1.5) / 5 = 0.3; beta adds 2*3*0.25/10 = 0.15.
        let Posterior::Nig { mean, beta, .. } = update(prior(0.0, false), &[0.2, 0.4, 0.9]) else {
            panic!()
        };
        assert!(close(mean, 0.3, 1e-12));
        assert!(close(beta, 0.25 + 0.13 + 0.15, 1e-12));
    }

    #[test]
    fn beta_draws_match_the_distribution() {
        // Beta(3, 5): mean 0.375, variance 15 / (64 * 9) = 0.026042.
        let (m, v) = stats(
            Posterior::Beta {
                alpha: 3.0,
                beta: 5.0,
            },
            40_000,
        );
        assert!(close(m, 0.375, 0.005), "mean {m}");
        assert!(close(v, 0.026_042, 0.001), "variance {v}");
    }

    #[test]
    fn nig_draws_match_the_marginal_t() {
        // The mean's marginal is Student t: mean 0.6, variance
        // beta / (kappa * (alpha - 1)) = 0.5 / (10 * 2) = 0.025.
        let (m, v) = stats(
            Posterior::Nig {
                mean: 0.6,
                kappa: 10.0,
                alpha: 3.0,
                beta: 0.5,
            },
            40_000,
        );
        assert!(close(m, 0.6, 0.005), "mean {m}");
        assert!(close(v, 0.025, 0.002), "variance {v}");
    }

    #[test]
    fn pick_prefers_the_better_program_in_proportion() {
        // Program 1: 9 of 10; program 2: 1 of 10; baseline 0: no scores.
        let s0: Vec<f64> = vec![];
        let s1: Vec<f64> = (0..10).map(|i| if i < 9 { 1.0 } else { 0.0 }).collect();
        let s2: Vec<f64> = (0..10).map(|i| if i < 1 { 1.0 } else { 0.0 }).collect();
        let scores: Vec<&[f64]> = vec![&s0, &s1, &s2];
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut counts = [0usize; 3];
        for _ in 0..5000 {
            counts[thompson_pick(&mut rng, &[0, 1, 2], &scores, 0.5, true)] += 1;
        }
        assert!(counts[1] > 3500, "{counts:?}");
        // The unscored baseline (Beta(1, 1)) is still explored.
        assert!(counts[0] > 100, "{counts:?}");
        assert!(counts[2] < counts[0], "{counts:?}");
        assert!(is_binary(&s1) && !is_binary(&[0.5]));
    }
}
