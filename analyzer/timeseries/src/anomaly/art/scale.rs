//! The scale the ART detector reads a series on: as it is, or logarithmic
//! when its warm-up looks log-normal.
//!
//! Why: request latencies and similar positive, multiplicative metrics are
//! right-skewed even when healthy. On their raw scale the tail spreads
//! over many grid levels, so chance combinations of tail values in the
//! 8-block window keep making shapes ART has never seen (see "Noise" in
//! the `art` module docs). On a log scale the same noise is symmetric and
//! its tail short, so it snaps onto few levels, like Gaussian noise does.

use serde::{Deserialize, Serialize};

/// Lower quantile of the skew measure; the upper one is `1 − LOW_Q`.
const LOW_Q: f64 = 0.1;
/// A value at or below zero on the log scale reads as this fraction of
/// the warm-up's smallest value: far below the padded grid, so it is
/// clipped to the bottom level like any other extreme drop.
const FLOOR: f64 = 1e-3;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) enum Scale {
    Linear,
    /// `center · (1 + ln(max(x, floor) / center))`: the log scale that
    /// agrees with the raw one at `center` (value and slope), so the
    /// encoder's relative rules (a block within 10 % of its mean is its
    /// mean) read as before near the usual level.
    Log {
        center: f64,
        floor: f64,
    },
}

impl Scale {
    /// The log scale when the warm-up is positive, skewed beyond
    /// `tolerance` on its raw scale and within it on the log scale (see
    /// [`asymmetry`]); else linear. `tolerance` ≤ 1 never picks the log.
    pub(super) fn for_warmup(values: &[f64], tolerance: f64) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (Some(&min), Some(center)) = (sorted.first(), quantile(&sorted, 0.5)) else {
            return Self::Linear;
        };
        if min <= 0.0 || tolerance <= 1.0 {
            return Self::Linear;
        }
        let log = Self::Log {
            center,
            floor: min * FLOOR,
        };
        let logged: Vec<f64> = sorted.iter().map(|&v| log.apply(v)).collect();
        if asymmetry(&sorted) > tolerance && asymmetry(&logged) <= tolerance {
            log
        } else {
            Self::Linear
        }
    }

    pub(super) fn apply(&self, value: f64) -> f64 {
        match *self {
            Self::Linear => value,
            Self::Log { center, floor } => center * (1.0 + (value.max(floor) / center).ln()),
        }
    }
}

/// How lopsided sorted `values` are: the larger of the ratios between the
/// distances from the median to the upper and to the lower decile (1 for
/// a symmetric distribution, `e^(1.28 σ)` for a log-normal one of log
/// spread `σ`: 3.6 at σ = 1); infinite when one side has no spread.
fn asymmetry(sorted: &[f64]) -> f64 {
    let (Some(lo), Some(mid), Some(hi)) = (
        quantile(sorted, LOW_Q),
        quantile(sorted, 0.5),
        quantile(sorted, 1.0 - LOW_Q),
    ) else {
        return 1.0;
    };
    let (below, above) = (mid - lo, hi - mid);
    if below == 0.0 && above == 0.0 {
        1.0
    } else {
        (above / below).max(below / above)
    }
}

/// The sample at rank `⌊(n − 1) · q⌋` of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = ((sorted.len().checked_sub(1)?) as f64 * q) as usize;
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evenly spaced standard normal quantiles (a deterministic "sample").
    fn normal_quantiles(n: usize) -> Vec<f64> {
        // Inverse of the logistic approximation of the normal CDF is close
        // enough for a symmetric, light-tailed test sample.
        (1..=n)
            .map(|i| {
                let p = i as f64 / (n + 1) as f64;
                (p / (1.0 - p)).ln() / 1.702
            })
            .collect()
    }

    #[test]
    fn log_normal_warm_up_goes_on_the_log_scale() {
        let values: Vec<f64> = normal_quantiles(750)
            .iter()
            .map(|z| 5.0 * z.exp())
            .collect();
        let scale = Scale::for_warmup(&values, 1.5);
        assert!(matches!(scale, Scale::Log { .. }), "{scale:?}");
        // Agrees with the raw scale at the median.
        let Scale::Log { center, .. } = scale else {
            return;
        };
        assert!((scale.apply(center) - center).abs() < 1e-12);
        assert!(scale.apply(0.0).is_finite());
        assert!(scale.apply(-3.0) < scale.apply(values[0]));
    }

    #[test]
    fn symmetric_or_not_log_normal_stays_linear() {
        let normal: Vec<f64> = normal_quantiles(750).iter().map(|z| 50.0 + z).collect();
        assert_eq!(Scale::for_warmup(&normal, 1.5), Scale::Linear);
        // A low baseline with rare large spikes: skewed, and still skewed
        // after the log, so the log would only squash the spikes.
        let spiky: Vec<f64> = normal
            .iter()
            .enumerate()
            .map(|(i, z)| {
                if i % 5 == 0 {
                    30.0 + 10.0 * z
                } else {
                    2.0 + 0.01 * z
                }
            })
            .collect();
        assert_eq!(Scale::for_warmup(&spiky, 1.5), Scale::Linear);
        // Zeros cannot go on a log scale.
        let with_zero: Vec<f64> = std::iter::once(0.0)
            .chain(normal_quantiles(750).iter().map(|z| z.exp()))
            .collect();
        assert_eq!(Scale::for_warmup(&with_zero, 1.5), Scale::Linear);
        assert_eq!(Scale::for_warmup(&[], 1.5), Scale::Linear);
    }
}
