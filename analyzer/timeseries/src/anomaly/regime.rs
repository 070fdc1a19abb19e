//! Regime watch: tells when the series has settled at a new level, so the
//! spike and level members' baseline can forget the old one.
//!
//! Those members judge each point against the median and quantile spread
//! of a long trailing window (`baseline_window`). After a level shift (a
//! deploy, a failover, a resized instance) that window straddles both
//! levels until the old one has scrolled out, hours to days later: its
//! spread spans the jump, and a real spike on the new level scores low
//! against it. An operator expects the detector to re-learn "normal" after
//! such a change, as the forecaster's regimes do.
//!
//! The test is two-segment and robust: the newest `samples` values against
//! the older rest of the baseline window. When their medians lie more than
//! `shift` spreads apart (the larger spread of the two, so a segment that
//! itself still straddles the jump does not count), the series has been at
//! a new level for most of the newest segment, and the baseline restarts
//! from it. A single spike or a short burst moves neither median; a daily
//! rhythm is the same in both segments when the newest spans a whole day.
//! The calibrators are left alone, so a restart does not make everything
//! news: deviations against the restarted baseline are of the size they
//! were before the shift.
//!
//! The baseline is kept here, as the two segments the test compares; the
//! members read them as one window. A separate copy of the whole window
//! for the members cost one more sorted insert of every value and 720
//! more values per series; reading the two segments as one, each search
//! starting where the same quantile was found the point before, runs
//! fewer instructions (the `cost` example, 100,000 points under
//! cachegrind: 2.583 → 2.569 billion) and scores bit for bit as the copy
//! did.
//!
//! The seasonal members start over too. Their profiles hold the old level
//! for up to `seasonal_memory` periods, so their residuals carry the jump
//! and their residual windows learn it as normal; when the weekly profile
//! reaches the shift a week later, the residuals drop back and the rhythm
//! view alarms on a series that did nothing. Restarted, they are silent
//! for a period and then learn the new level only.
//!
//! What it changed (see [`DetectorConfig::regime_samples`] for the NAB
//! scores): on a generated set of level shifts (8σ on Gaussian noise,
//! shift at sample 1,800 of 4,000, 5 seeds with and 5 without a 7σ spike
//! 350–650 samples after the shift) the rows ≥ 0.25 other than the
//! shift's and the spike's own went from 14 to 0 over the 10 series, and
//! the spike was caught in 3 of 5 series instead of 1.
//! With the baseline restarted but not the seasonal members, 4 of 5 spikes
//! were caught but the 14 phantom rows stayed, and NAB's scores did not
//! move. It does not fire when a daily rhythm is larger than about a
//! third of the shift (the spread of a day's values then includes the
//! rhythm): 10σ shifts under a 4σ daily sine, and Poisson counts whose
//! rate doubles, kept their phantom rows (22 and 2 over 10 series).
//!
//! [`DetectorConfig::regime_samples`]: super::DetectorConfig::regime_samples

use serde::{Deserialize, Serialize};

use crate::window::{RollingQuantiles, Union, robust_scale};

/// The spike and level members' trailing window, kept as the two segments
/// the regime test compares: the newest `samples` values and the older
/// rest. The members read both as one window ([`Union`]), so the test
/// needs no second copy of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Baseline {
    /// 0 when the watch is off; the older segment is then the whole window.
    samples: usize,
    shift: f64,
    newest: RollingQuantiles,
    older: RollingQuantiles,
    /// The whole window's median and robust spread as of the latest value:
    /// the members read them at every point, before the point is learned.
    median: Option<f64>,
    scale: f64,
    /// Where the median and the quartiles were found in the two segments
    /// the last time, for [`Union::quantile_from`].
    starts: [usize; 3],
}

impl Baseline {
    /// A window of the last `window` values whose `samples` newest are
    /// compared with the rest (0 turns the watch off, and so does a value
    /// over two thirds of `window`: the older segment could then never
    /// hold the half as many values a comparison needs).
    pub(crate) fn new(window: usize, samples: usize, shift: f64) -> Self {
        let on =
            samples > 0 && shift > 0.0 && samples.saturating_mul(3) <= window.saturating_mul(2);
        let samples = if on { samples } else { 0 };
        Self {
            samples,
            shift,
            newest: RollingQuantiles::new(samples),
            older: RollingQuantiles::new(window - samples),
            median: None,
            scale: 0.0,
            starts: [0; 3],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.newest.len() + self.older.len()
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.median
    }

    /// See [`RollingQuantiles::robust_scale`].
    pub(crate) fn robust_scale(&self) -> f64 {
        self.scale
    }

    /// Learns `value`, and restarts the window from its newest segment
    /// when the level has moved: returns whether it did.
    pub(crate) fn push(&mut self, value: f64) -> bool {
        let moved = self.learn(value);
        let window = Union(&self.newest, &self.older);
        let [low, middle, high] = &mut self.starts;
        self.median = window.quantile_from(0.5, middle);
        // The quartiles are asked for every time; the wider quantiles only
        // where they coincide, so those searches start afresh.
        self.scale = robust_scale(|q| {
            let mut anywhere = 0;
            let start = if q == 0.25 {
                &mut *low
            } else if q == 0.75 {
                &mut *high
            } else {
                &mut anywhere
            };
            window.quantile_from(q, start)
        });
        moved
    }

    /// Moves `value` into the segments and runs the test between them.
    fn learn(&mut self, value: f64) -> bool {
        if self.samples == 0 {
            self.older.push(value);
            return false;
        }
        if let Some(old) = self.newest.push_evicting(value) {
            self.older.push(old);
        }
        // Half the older segment: enough values for its median to mean
        // something, so the first samples of a series never restart it.
        if self.newest.len() < self.samples || self.older.len() * 2 < self.newest.len() {
            return false;
        }
        let (Some(new_median), Some(old_median)) = (self.newest.median(), self.older.median())
        else {
            return false;
        };
        let spread = self
            .newest
            .robust_scale()
            .max(self.older.robust_scale())
            .max(1e-9 * new_median.abs().max(old_median.abs()))
            .max(f64::MIN_POSITIVE);
        let moved = (new_median - old_median).abs() > self.shift * spread;
        if moved {
            self.older.clear();
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic, roughly uniform in [-1, 1).
    fn noise(i: usize) -> f64 {
        2.0 * super::super::art::tests::noise(i)
    }

    #[test]
    fn a_settled_shift_restarts_once_and_spikes_never_do() {
        let mut w = Baseline::new(400, 100, 5.0);
        let mut restarts = Vec::new();
        for i in 0..1_200 {
            let mut v = noise(i);
            if i % 50 == 0 {
                v += 40.0;
            }
            if i >= 600 {
                v += 20.0;
            }
            if w.push(v) {
                restarts.push(i);
                assert_eq!(w.len(), 100, "restarted from the newest segment");
            }
            assert!(w.len() <= 400);
        }
        assert_eq!(restarts.len(), 1, "{restarts:?}");
        assert!((650..700).contains(&restarts[0]), "{restarts:?}");
    }

    #[test]
    fn a_daily_rhythm_spanned_by_the_newest_segment_is_no_shift() {
        let mut w = Baseline::new(720, 288, 5.0);
        for i in 0..10_000 {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            assert!(!w.push(10.0 * phase.sin() + noise(i)), "{i}");
        }
    }

    #[test]
    fn zero_samples_or_too_many_turn_it_off() {
        for samples in [0, 481] {
            let mut w = Baseline::new(720, samples, 5.0);
            assert!((0..2_000).all(|i| !w.push(if i < 1_000 { 0.0 } else { 100.0 })));
            assert_eq!(w.len(), 720);
            assert_eq!(w.median(), Some(100.0));
        }
    }

    #[test]
    fn the_two_segments_read_as_the_whole_window() {
        let mut w = Baseline::new(720, 288, 5.0);
        let mut whole = RollingQuantiles::new(720);
        for i in 0..3_000 {
            let v = noise(i) * if i % 7 == 0 { 9.0 } else { 1.0 };
            assert!(!w.push(v));
            whole.push(v);
            assert_eq!(w.len(), whole.len());
            assert_eq!(w.median(), whole.median());
            assert_eq!(w.robust_scale(), whole.robust_scale());
        }
    }
}
