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
        let raw = compressed(z);
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

/// A raw deviation `z` (≥ 0) as both calibrators learn it: `ln(1 + z)`,
/// which compresses huge deviations (z of 1e6 on a flat series) so they
/// cannot dominate a history, while still ordering them above smaller
/// ones; 0 for a deviation that is not finite.
fn compressed(z: f64) -> f64 {
    if z.is_finite() {
        z.max(0.0).ln_1p()
    } else {
        0.0
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

    #[test]
    fn tail_calibration_ranks_by_the_series_own_tail() {
        let mut quiet = TailCalibrator::new(1000, 100, 100, 0.02, 0.05);
        let mut bursty = TailCalibrator::new(1000, 100, 100, 0.02, 0.05);
        for i in 0..800 {
            quiet.update(if i % 2 == 0 { 0.5 } else { 1.0 });
            bursty.update(if i % 20 == 0 { 30.0 } else { 1.0 });
        }
        let q = quiet.update(10.0);
        let b = bursty.update(10.0);
        assert!(q > 5.0, "a deviation beyond anything seen is news: {q}");
        assert!(b < q, "routine bursts raise the bar: {b} vs {q}");
        assert!(quiet.update(0.5) < 1.0);
    }

    #[test]
    fn the_refresh_forgets_evicted_top_bins() {
        let mut c = TailCalibrator::new(100, 10, 10, 0.02, 0.05);
        for _ in 0..100 {
            c.update(1e6);
        }
        for i in 0..150 {
            c.update(if i % 2 == 0 { 0.5 } else { 1.0 });
        }
        c.refresh();
        let mut total = 0;
        let mut expected: Vec<u32> = c
            .counts
            .iter()
            .rev()
            .map(|&n| {
                total += n;
                total
            })
            .collect();
        expected.reverse();
        assert_eq!(c.at_or_above, expected);
        // Only the routine values are left: ln(2) lies in bin 27.
        assert!(c.threshold <= 28.0 * BIN_WIDTH, "{}", c.threshold);
    }

    #[test]
    fn a_long_run_of_exceedances_is_learned_as_one_event() {
        // Spread evenly over 0.5..1.5, no two of the top 2 % within two
        // samples of each other.
        let routine = |i: usize| 0.5 + (i * 19 % 100) as f64 / 100.0;
        let mut plain = TailCalibrator::new(2000, 100, 100, 0.02, 0.05);
        let mut declustered = TailCalibrator::new(2000, 100, 100, 0.02, 0.05).declustered();
        let mut feed = |z: f64| (plain.update(z), declustered.update(z));
        for i in 0..1000 {
            feed(routine(i));
        }
        let (first, first_declustered) = feed(30.0);
        assert_eq!(first, first_declustered, "same history until a run");
        for _ in 0..39 {
            feed(30.0);
        }
        for i in 0..300 {
            feed(routine(i));
        }
        let (second, second_declustered) = feed(30.0);
        // Forty samples of the first surge fill the plain tail, so the
        // second is nearly routine there; declustered, the first surge is
        // one event in 1,340 samples, and the second as rare as that.
        assert!(second < 5.0, "{second}");
        let once_before = -(2.0f64 / 1341.0).ln();
        assert!(
            second_declustered > once_before,
            "{second_declustered} vs {second}"
        );
    }

    #[test]
    fn isolated_bursts_are_learned_as_they_are() {
        let mut plain = TailCalibrator::new(2000, 100, 100, 0.02, 0.05);
        let mut declustered = TailCalibrator::new(2000, 100, 100, 0.02, 0.05).declustered();
        for i in 0..3000usize {
            let z = if i % 50 == 0 {
                5.0 + (i % 7) as f64
            } else {
                1.0
            };
            assert_eq!(plain.update(z), declustered.update(z), "sample {i}");
        }
    }

    #[test]
    fn tail_calibration_is_silent_until_it_has_history() {
        let mut c = TailCalibrator::new(1000, 100, 100, 0.02, 0.05);
        assert!((0..99).all(|_| c.update(5.0) == 0.0));
    }

    #[test]
    fn a_young_history_reports_early_but_discounted() {
        let routine = |i: usize| if i.is_multiple_of(2) { 0.5 } else { 1.0 };
        let mut early = TailCalibrator::new(1000, 100, 400, 0.02, 0.05);
        let mut trusting = TailCalibrator::new(1000, 100, 100, 0.02, 0.05);
        let mut late = TailCalibrator::new(1000, 400, 400, 0.02, 0.05);
        for i in 0..100 {
            early.update(routine(i));
            trusting.update(routine(i));
            late.update(routine(i));
        }
        let (e, t, l) = (early.update(10.0), trusting.update(10.0), late.update(10.0));
        assert_eq!(l, 0.0, "without an early start nothing is reported yet");
        assert!(e > 2.0, "the jump is reported from 100 samples on: {e}");
        // At a quarter of the full history the surprise counts half.
        assert!((e - 0.5 * t).abs() < 1e-9, "{e} vs {t}");
    }
}

/// Width of one histogram bin of `ln(1 + z)`.
const BIN_WIDTH: f64 = 0.025;
/// Number of bins: `ln(1 + z)` up to 25.6, i.e. z up to ~1.3e11; larger
/// deviations share the top bin, which only coarsens the history, not the
/// score of the new point.
const BINS: usize = 1024;
/// How often (in updates) the tail threshold and mean excess are refreshed.
const REFRESH_EVERY: u32 = 16;
/// Samples below the tail threshold that end a run of exceedances (see
/// [`TailCalibrator::declustered`]): one quiet sample inside a surge does
/// not split it in two.
const RUN_GAP: usize = 2;

/// Extreme-value calibration ("peaks over threshold").
///
/// Keeps a histogram of the member's recent `s = ln(1 + z)`, finds the
/// threshold `u` exceeded by a fraction `q` of them and the mean excess over
/// it, and models the tail beyond `u` as exponential (a generalised Pareto
/// tail with shape 0). The surprise of a new `s > u` is then
/// `-ln q + (s - u) / mean_excess`: linear in `s`, steep on series whose
/// deviations have always been small, gentle on series that routinely
/// produce big ones. Unlike a Gaussian fit to the history it does not assume
/// the deviations are light-tailed, which bursty infrastructure metrics
/// never are.
///
/// # Declustering
/// The fit assumes exceedances are separate events. A surge on a count
/// series is one event that exceeds the threshold on every one of its
/// 10–60 samples, and as history it would fill the tail (2 % of four weeks
/// is 161 samples): the next surge of the series is then judged against
/// the last one and no longer stands out. On generated tweet-like counts
/// the third surge of one series, 17 times the rate for 56 samples, got
/// a spike surprise of 6–7 (the series' healthy maximum is 10.6) after two
/// earlier surges. So, as in runs declustering in extreme-value
/// statistics, a calibrator built [`TailCalibrator::declustered`] learns
/// a run of exceedances (ended by [`RUN_GAP`] samples below the threshold)
/// by its running maxima: a sample that does not exceed the run's largest
/// so far is learned just below the threshold. A burst of a sample or
/// two, a bursty series' routine, keeps its peak in the tail as before
/// (only a second, lower sample of it is learned below the threshold).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TailCalibrator {
    counts: Vec<u32>,
    ring: VecDeque<u16>,
    capacity: usize,
    /// History from which surprises are reported at all.
    early_history: usize,
    /// History from which they are trusted in full.
    min_history: usize,
    tail_fraction: f64,
    min_excess: f64,
    since_refresh: u32,
    threshold: f64,
    exceed_fraction: f64,
    mean_excess: f64,
    /// Per bin, how many history values lay in it or above at the last
    /// refresh, and the history length then.
    at_or_above: Vec<u32>,
    refreshed_len: f64,
    /// Every bin from here up has a zero count. Deviations rarely reach far
    /// into the 1024 bins (`ln(1 + z)` of a z of 100 is bin 184), so the
    /// refresh starts its walks here instead of at the top; the bins it
    /// skips would add nothing.
    counted_below: usize,
    /// Every `at_or_above` entry from here up is zero.
    summed_below: usize,
    /// Whether runs of exceedances are learned by their maxima only.
    #[serde(default)]
    decluster: bool,
    /// Largest `s` of the current run of exceedances and the samples below
    /// the threshold since its last exceedance.
    #[serde(default)]
    run: Option<(f64, usize)>,
}

impl TailCalibrator {
    /// Reports surprises from `early_history` samples of history on,
    /// discounted by `sqrt(history / min_history)` until `min_history`.
    pub(crate) fn new(
        capacity: usize,
        early_history: usize,
        min_history: usize,
        tail_fraction: f64,
        min_excess: f64,
    ) -> Self {
        let capacity = capacity.max(1);
        Self {
            counts: vec![0; BINS],
            // Grown as history comes: a member that never reports (the
            // counts-only one on other series) then costs no ring.
            ring: VecDeque::new(),
            capacity,
            early_history: early_history.min(min_history),
            min_history,
            tail_fraction: tail_fraction.clamp(1e-4, 0.5),
            min_excess: min_excess.max(1e-6),
            since_refresh: REFRESH_EVERY,
            threshold: 0.0,
            exceed_fraction: 1.0,
            mean_excess: 1.0,
            at_or_above: vec![0; BINS],
            refreshed_len: 0.0,
            counted_below: 0,
            summed_below: 0,
            decluster: false,
            run: None,
        }
    }

    /// A calibrator that learns each run of tail exceedances by its
    /// running maxima (see "Declustering" above).
    pub(crate) fn declustered(mut self) -> Self {
        self.decluster = true;
        self
    }

    /// Feeds the raw deviation `z` (≥ 0) and returns its surprise `-ln p`
    /// against the history before it.
    pub(crate) fn update(&mut self, z: f64) -> f64 {
        let s = compressed(z);
        let history = self.ring.len();
        let surprise = if history >= self.early_history {
            // A young history is refitted at every sample, as each one
            // still moves the tail noticeably.
            if self.since_refresh >= REFRESH_EVERY || history < self.min_history {
                self.refresh();
            }
            self.since_refresh += 1;
            let base = -self.exceed_fraction.ln();
            if s > self.threshold {
                base + (s - self.threshold) / self.mean_excess
            } else {
                // Below the tail the history itself is dense enough to
                // give the probability directly: the fraction of it at or
                // above this bin. This keeps the surprise of ordinary
                // points distributed like `-ln U`, which is what lets the
                // change-point stage accumulate it with a fixed drift.
                let bin = ((s / BIN_WIDTH) as usize).min(BINS - 1);
                let at_or_above = f64::from(self.at_or_above[bin]);
                (-((at_or_above + 1.0) / (self.refreshed_len + 1.0)).ln()).clamp(0.0, base)
            }
        } else {
            0.0
        };
        let surprise = if history < self.min_history {
            surprise * (history as f64 / self.min_history as f64).sqrt()
        } else {
            surprise
        };
        let learned = self.learned(s, history);
        self.push(learned);
        surprise
    }

    /// What the history learns of `s`: itself, or, inside a run of
    /// exceedances that it does not top, a value just below the threshold.
    /// Only a mature history is declustered: a young one's threshold still
    /// moves with every sample (on 1,500-row segments of NAB's shared
    /// split declustering from the first report lost 0.4 points).
    fn learned(&mut self, s: f64, history: usize) -> f64 {
        if !self.decluster || history < self.min_history || self.threshold <= 0.0 {
            self.run = None;
            return s;
        }
        if s <= self.threshold {
            self.run = self
                .run
                .map(|(peak, below)| (peak, below + 1))
                .filter(|&(_, below)| below < RUN_GAP);
            return s;
        }
        match self.run {
            Some((peak, _)) if s <= peak => {
                self.run = Some((peak, 0));
                (self.threshold - 0.5 * BIN_WIDTH).max(0.0)
            }
            _ => {
                self.run = Some((s, 0));
                s
            }
        }
    }

    fn push(&mut self, s: f64) {
        if self.ring.len() == self.capacity
            && let Some(old) = self.ring.pop_front()
        {
            let c = &mut self.counts[usize::from(old)];
            *c = c.saturating_sub(1);
        }
        let bin = ((s / BIN_WIDTH) as usize).min(BINS - 1);
        self.counts[bin] += 1;
        self.counted_below = self.counted_below.max(bin + 1);
        self.ring.push_back(u16::try_from(bin).unwrap_or(u16::MAX));
    }

    /// Recomputes the tail threshold and the mean excess from the histogram.
    fn refresh(&mut self) {
        self.since_refresh = 0;
        let n = self.ring.len() as f64;
        // Evictions may have emptied the top bins since the last refresh.
        while self.counted_below > 0 && self.counts[self.counted_below - 1] == 0 {
            self.counted_below -= 1;
        }
        let top = self.counted_below;
        let mut total = 0u32;
        for (acc, &c) in self.at_or_above[..top]
            .iter_mut()
            .zip(&self.counts[..top])
            .rev()
        {
            total += c;
            *acc = total;
        }
        if top < self.summed_below {
            self.at_or_above[top..self.summed_below].fill(0);
        }
        self.summed_below = top;
        self.refreshed_len = n;
        let wanted = (self.tail_fraction * n).max(1.0);
        let mut above = 0.0;
        let mut excess_sum = 0.0;
        let mut bin = top;
        // Walk down from the top until a fraction q of the history lies at
        // or above the current bin's lower edge.
        while bin > 0 {
            bin -= 1;
            let c = f64::from(self.counts[bin]);
            if c == 0.0 {
                continue;
            }
            if above + c > wanted && above > 0.0 {
                break;
            }
            above += c;
            excess_sum += c * (bin as f64 + 0.5) * BIN_WIDTH;
        }
        // The threshold is the upper edge of the first bin not in the tail.
        let threshold = (bin as f64 + 1.0) * BIN_WIDTH;
        let threshold = if above >= n { 0.0 } else { threshold };
        self.threshold = threshold;
        self.exceed_fraction = ((above + 1.0) / (n + 1.0)).min(1.0);
        self.mean_excess = if above > 0.0 {
            (excess_sum / above - threshold).max(self.min_excess)
        } else {
            self.min_excess
        };
    }
}
