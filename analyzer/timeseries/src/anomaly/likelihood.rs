//! Turning a raw deviation into "how surprising is this, for this series".
//!
//! A z-score of 6 is routine on a bursty network counter and unheard of on a
//! temperature probe. A single global alert threshold only works if scores
//! mean the same thing on every series, so each ensemble member's raw
//! deviation is re-expressed as a tail probability under that series' own
//! recent distribution of deviations. This is the idea behind Numenta's
//! "anomaly likelihood": average the last few raw scores (a lone noisy point
//! is not an episode), compare the average with the distribution of such
//! averages over a long history, and report the Gaussian tail probability.
//! We report it as a surprise `-ln p` so that tiny probabilities keep their
//! resolution instead of rounding to 1.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::window::RollingMoments;

/// Per-member calibration state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Calibrator {
    short: VecDeque<f64>,
    short_len: usize,
    short_sum: f64,
    history: RollingMoments,
    min_history: usize,
    min_std: f64,
}

impl Calibrator {
    pub(crate) fn new(
        short_len: usize,
        history_len: usize,
        min_history: usize,
        min_std: f64,
    ) -> Self {
        let short_len = short_len.max(1);
        Self {
            short: VecDeque::with_capacity(short_len),
            short_len,
            short_sum: 0.0,
            history: RollingMoments::new(history_len),
            min_history,
            min_std,
        }
    }

    /// Feeds the raw deviation `z` (≥ 0) of the newest point and returns the
    /// surprise `-ln p` (≥ 0) of the recent average deviation, judged
    /// against the history *before* this point.
    pub(crate) fn update(&mut self, z: f64) -> f64 {
        // log1p compresses huge deviations (z of 1e6 on a flat series) so
        // they cannot dominate the history's mean and variance, while still
        // ordering them above smaller ones.
        let raw = if z.is_finite() {
            z.max(0.0).ln_1p()
        } else {
            0.0
        };
        if self.short.len() == self.short_len
            && let Some(old) = self.short.pop_front()
        {
            self.short_sum -= old;
        }
        self.short.push_back(raw);
        self.short_sum += raw;
        let avg = (self.short_sum / self.short.len() as f64).max(0.0);

        let surprise = if self.history.len() >= self.min_history {
            let std = self.history.std_dev().max(self.min_std);
            neg_ln_normal_tail((avg - self.history.mean()) / std)
        } else {
            0.0
        };
        self.history.push(avg);
        surprise
    }
}

/// `-ln Q(u)` where `Q` is the standard normal upper tail probability,
/// computed in log space so it stays finite and monotone for any `u`.
///
/// Uses the Numerical Recipes `erfcc` Chebyshev fit (relative error below
/// 1.2e-7 everywhere), whose form `t·exp(poly)` lets us take the logarithm
/// analytically instead of underflowing `exp` for large `u`.
pub(crate) fn neg_ln_normal_tail(u: f64) -> f64 {
    if !u.is_finite() {
        return if u > 0.0 { f64::MAX.sqrt() } else { 0.0 };
    }
    let x = u / std::f64::consts::SQRT_2;
    let ax = x.abs();
    let t = 1.0 / (1.0 + 0.5 * ax);
    let poly = -ax * ax - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // ln erfc(|x|)
    let ln_erfc_abs = t.ln() + poly;
    let ln_q = if x >= 0.0 {
        ln_erfc_abs - std::f64::consts::LN_2
    } else {
        // erfc(-a) = 2 - erfc(a), so Q(u) = 1 - erfc(a)/2 for u < 0.
        (1.0 - 0.5 * ln_erfc_abs.exp()).ln()
    };
    (-ln_q).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_known_values() {
        // Q(0) = 0.5, Q(1.96) ≈ 0.025, Q(5) ≈ 2.8665e-7.
        assert!((neg_ln_normal_tail(0.0) - 2f64.ln()).abs() < 1e-6);
        assert!((neg_ln_normal_tail(1.959_964) - 40f64.ln()).abs() < 1e-4);
        assert!((neg_ln_normal_tail(5.0) + 2.866_515_7e-7f64.ln()).abs() < 1e-4);
        // Monotone and finite far into the tail, where exp() would underflow.
        let far = neg_ln_normal_tail(60.0);
        assert!(far.is_finite() && far > neg_ln_normal_tail(50.0));
        assert!(neg_ln_normal_tail(-10.0) < 1e-6);
    }

    #[test]
    fn a_jump_after_quiet_history_is_surprising() {
        let mut c = Calibrator::new(3, 500, 50, 0.01);
        let mut last = 0.0;
        for i in 0..400 {
            last = c.update(if i % 2 == 0 { 0.5 } else { 1.0 });
        }
        assert!(last < 3.0, "routine deviations stay unsurprising: {last}");
        let jump = c.update(20.0);
        assert!(jump > 10.0, "a large deviation is surprising: {jump}");
    }

    #[test]
    fn noisy_history_raises_the_bar() {
        let mut quiet = Calibrator::new(1, 500, 50, 0.01);
        let mut noisy = Calibrator::new(1, 500, 50, 0.01);
        for i in 0..400 {
            quiet.update(0.5);
            noisy.update(if i % 7 == 0 { 8.0 } else { 0.5 });
        }
        assert!(quiet.update(6.0) > noisy.update(6.0));
    }
}
