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

use crate::window::RollingQuantiles;

/// The two segments of the trailing window and the test between them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RegimeWatch {
    samples: usize,
    shift: f64,
    newest: RollingQuantiles,
    older: RollingQuantiles,
}

impl RegimeWatch {
    /// `samples` is the newest segment (0 turns the watch off), `window`
    /// the whole trailing window the older segment completes.
    pub(crate) fn new(samples: usize, window: usize, shift: f64) -> Self {
        Self {
            samples,
            shift,
            newest: RollingQuantiles::new(samples),
            older: RollingQuantiles::new(window.saturating_sub(samples)),
        }
    }

    /// Learns `value` and returns how many of the newest values the
    /// baseline should keep when the level has moved, `None` otherwise.
    pub(crate) fn update(&mut self, value: f64) -> Option<usize> {
        if self.shift <= 0.0 || self.samples == 0 {
            return None;
        }
        if let Some(old) = self.newest.push_evicting(value) {
            self.older.push(old);
        }
        // Half the older segment: enough values for its median to mean
        // something, so the first samples of a series never restart it.
        if self.newest.len() < self.samples || self.older.len() * 2 < self.newest.len() {
            return None;
        }
        let (Some(new_median), Some(old_median)) = (self.newest.median(), self.older.median())
        else {
            return None;
        };
        let spread = self
            .newest
            .robust_scale()
            .max(self.older.robust_scale())
            .max(1e-9 * new_median.abs().max(old_median.abs()))
            .max(f64::MIN_POSITIVE);
        if (new_median - old_median).abs() > self.shift * spread {
            self.older.clear();
            Some(self.newest.len())
        } else {
            None
        }
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
        let mut w = RegimeWatch::new(100, 400, 5.0);
        let mut restarts = Vec::new();
        for i in 0..1_200 {
            let mut v = noise(i);
            if i % 50 == 0 {
                v += 40.0;
            }
            if i >= 600 {
                v += 20.0;
            }
            if let Some(keep) = w.update(v) {
                restarts.push((i, keep));
            }
        }
        assert_eq!(restarts.len(), 1, "{restarts:?}");
        let (at, keep) = restarts[0];
        assert!((650..700).contains(&at), "{at}");
        assert_eq!(keep, 100);
    }

    #[test]
    fn a_daily_rhythm_spanned_by_the_newest_segment_is_no_shift() {
        let mut w = RegimeWatch::new(288, 720, 5.0);
        for i in 0..10_000 {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            assert_eq!(w.update(10.0 * phase.sin() + noise(i)), None, "{i}");
        }
    }

    #[test]
    fn zero_samples_turns_it_off() {
        let mut w = RegimeWatch::new(0, 720, 5.0);
        assert!((0..2_000).all(|i| w.update(if i < 1_000 { 0.0 } else { 100.0 }).is_none()));
    }
}
