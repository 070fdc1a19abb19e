//! The scale the ART detector reads a series on: as it is, or logarithmic
//! when its warm-up looks log-normal or is a count.
//!
//! Why: request latencies and similar positive, multiplicative metrics are
//! right-skewed even when healthy. On their raw scale the tail spreads
//! over many grid levels, so chance combinations of tail values in the
//! 8-block window keep making shapes ART has never seen (see "Noise" in
//! the `art` module docs). On a log scale the same noise is symmetric and
//! its tail short, so it snaps onto few levels, like Gaussian noise does.
//!
//! Counts of events (tweets, requests, errors per interval) are the same
//! case for a reason known in advance: their noise is overdispersed
//! Poisson, its spread growing with the rate, so busy hours are noisier
//! and bursts of a few samples are routine. They may be zero, so they are
//! read as `ln(1 + x)`, the usual variance-stabilising view of counts.

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
    /// `(center + 1) · (1 + ln((max(x, 0) + 1) / (center + 1))) − 1`: the
    /// same for counts, on `ln(1 + x)`, so that zero has a place.
    Counts {
        center: f64,
    },
}

impl Scale {
    /// The count scale when the warm-up is counts (non-negative whole
    /// numbers) and less lopsided on it than on the raw scale, within
    /// `tolerance` (see [`asymmetry`]); else the log scale when the
    /// warm-up is positive, skewed beyond `tolerance` on its raw scale
    /// and within it on the log scale; else linear. `tolerance` ≤ 1 never
    /// picks either.
    ///
    /// A count needs only to be more symmetric on its scale, not skewed
    /// beyond `tolerance` on the raw one: a busy count is only mildly
    /// skewed yet noisier at its peaks, and whether it were logged would
    /// hinge on where the tolerance sits. On 20 generated tweet-like count
    /// series (see [`super::ArtConfig::log_tolerance`]) the deciles lay
    /// 1.5 to 3 times farther above the median than below on the raw
    /// scale, 1.0 to 1.6 on `ln(1 + x)`; at tolerance 2 the raw rule left
    /// 9 of them linear (2.8 alarms per 10,000 samples against 1.7). The
    /// log must make it more symmetric, though: a whole-number series
    /// skewed the other way (a speed that drops in congestion) or
    /// over-corrected by the log (`elb_request_count_8c0756` on NAB, 1.78
    /// raw and 1.98 on `ln(1 + x)`; `nyc_taxi` 2.0 and 4.6) is not
    /// overdispersed noise around its level.
    pub(super) fn for_warmup(values: &[f64], tolerance: f64) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (Some(&min), Some(center)) = (sorted.first(), quantile(&sorted, 0.5)) else {
            return Self::Linear;
        };
        if tolerance <= 1.0 {
            return Self::Linear;
        }
        if min >= 0.0 && sorted.iter().all(|v| v.fract() == 0.0) {
            let counts = Self::Counts { center };
            let scaled: Vec<f64> = sorted.iter().map(|&v| counts.apply(v)).collect();
            let on_counts = asymmetry(&scaled);
            if on_counts <= tolerance && on_counts < asymmetry(&sorted) {
                return counts;
            }
        }
        if min <= 0.0 {
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
            Self::Counts { center } => {
                (center + 1.0) * (1.0 + ((value.max(0.0) + 1.0) / (center + 1.0)).ln()) - 1.0
            }
        }
    }

    /// Whether the scale is for counts, which are read on it whether or
    /// not their warm-up is noise (see the module docs).
    pub(super) fn is_counts(&self) -> bool {
        matches!(self, Self::Counts { .. })
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

    /// Evenly spaced quantiles of whole-number counts with an exponential
    /// tail of mean `mean`: a quarter of them zero at mean 3.
    fn geometric_counts(n: usize, mean: f64) -> Vec<f64> {
        (1..=n)
            .map(|i| (-mean * (1.0 - i as f64 / (n + 1) as f64).ln()).floor())
            .collect()
    }

    #[test]
    fn counts_go_on_the_count_scale() {
        let counts = geometric_counts(750, 5.0);
        assert_eq!(counts[0], 0.0);
        let scale = Scale::for_warmup(&counts, 1.5);
        assert_eq!(scale, Scale::Counts { center: 3.0 });
        assert!(scale.is_counts());
        assert!(
            (scale.apply(3.0) - 3.0).abs() < 1e-12,
            "agrees at the median"
        );
        assert!(scale.apply(0.0).is_finite() && scale.apply(0.0) < scale.apply(1.0));
        assert_eq!(scale.apply(-2.0), scale.apply(0.0));
        // Not counts: a fraction, or a negative value.
        let mut fractional = counts.clone();
        fractional[400] += 0.5;
        assert!(!Scale::for_warmup(&fractional, 1.5).is_counts());
        let mut negative = counts.clone();
        negative[0] = -1.0;
        assert_eq!(Scale::for_warmup(&negative, 1.5), Scale::Linear);
        assert_eq!(Scale::for_warmup(&counts, 1.0), Scale::Linear, "off");
    }

    #[test]
    fn whole_numbers_skewed_the_other_way_stay_linear() {
        // A speed in whole miles per hour that drops in congestion: the
        // log would stretch its low tail further.
        let speed: Vec<f64> = geometric_counts(750, 5.0)
            .iter()
            .map(|x| 65.0 - x)
            .collect();
        assert_eq!(Scale::for_warmup(&speed, 1.5), Scale::Linear);
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
