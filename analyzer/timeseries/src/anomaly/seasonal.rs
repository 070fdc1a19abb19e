//! Seasonal baselines: "what did this series do at this time of day (week)?"
//!
//! Much of what is normal on a service is its daily and weekly rhythm:
//! traffic peaks every afternoon, a batch job runs every night. A detector
//! that only compares with the last few hours flags every morning ramp, or
//! becomes so tolerant that a missing peak goes unnoticed. The profile keeps,
//! for each phase slot of the period, the values seen in the last few
//! periods, and predicts the median of them. Slots are keyed by wall-clock
//! phase (timestamp modulo period) rather than by sample index, so gaps,
//! duplicated and out-of-order timestamps shift nothing.

use serde::{Deserialize, Serialize};

/// The values seen at each phase of one period over the last `memory`
/// periods.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SeasonalProfile {
    period_secs: i64,
    step_secs: i64,
    slots: usize,
    memory: usize,
    /// `slots × memory` values, `NaN` where nothing has been seen yet.
    values: Vec<f64>,
    /// Next write position in each slot's ring.
    cursor: Vec<u8>,
}

impl SeasonalProfile {
    /// `step_secs` is the series' sampling interval: one slot per sample.
    /// Returns `None` when the period is not a sensible multiple of the
    /// step (fewer than 4 slots, or so many that memory would blow up).
    pub(crate) fn new(
        period_secs: i64,
        step_secs: i64,
        memory: usize,
        max_slots: usize,
    ) -> Option<Self> {
        if step_secs <= 0 || period_secs <= 0 {
            return None;
        }
        let slots = usize::try_from(period_secs / step_secs).ok()?;
        if slots < 4 || slots > max_slots {
            return None;
        }
        let memory = memory.clamp(1, u8::MAX as usize);
        Some(Self {
            period_secs,
            step_secs,
            slots,
            memory,
            values: vec![f64::NAN; slots * memory],
            cursor: vec![0; slots],
        })
    }

    fn slot(&self, timestamp_secs: i64) -> usize {
        let phase = timestamp_secs.rem_euclid(self.period_secs);
        // Round to the nearest slot so that samples jittering a few seconds
        // around the nominal time land in the same slot every period.
        let slot = (phase + self.step_secs / 2) / self.step_secs;
        usize::try_from(slot).unwrap_or(0) % self.slots
    }

    /// Phase slots per period (one per learned step).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// The median of the values seen at this phase in previous periods.
    pub(crate) fn baseline(&self, timestamp_secs: i64) -> Option<f64> {
        let slot = self.slot(timestamp_secs);
        let seen = &self.values[slot * self.memory..(slot + 1) * self.memory];
        let mut buf = [0.0f64; 8];
        let mut n = 0;
        for &v in seen.iter().filter(|v| !v.is_nan()) {
            if n < buf.len() {
                buf[n] = v;
                n += 1;
            }
        }
        if n == 0 {
            return None;
        }
        let buf = &mut buf[..n];
        buf.sort_by(f64::total_cmp);
        Some(if n % 2 == 1 {
            buf[n / 2]
        } else {
            0.5 * (buf[n / 2 - 1] + buf[n / 2])
        })
    }

    pub(crate) fn record(&mut self, timestamp_secs: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let slot = self.slot(timestamp_secs);
        let at = usize::from(self.cursor[slot]);
        self.values[slot * self.memory + at] = value;
        self.cursor[slot] = u8::try_from((at + 1) % self.memory).unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_the_same_phase_of_earlier_periods() {
        let mut p = SeasonalProfile::new(100, 10, 3, 1000).expect("valid profile");
        assert_eq!(p.baseline(0), None);
        for period in 0..3 {
            for i in 0..10 {
                let ts = period * 100 + i * 10;
                p.record(ts, (i * i) as f64 + period as f64 * 0.1);
            }
        }
        // Phase 30 saw 9.0, 9.1, 9.2: the median is 9.1.
        let b = p.baseline(330).expect("seen");
        assert!((b - 9.1).abs() < 1e-12);
        // Jitter of a few seconds lands in the same slot.
        assert_eq!(p.baseline(333), p.baseline(330));
    }

    #[test]
    fn rejects_degenerate_periods() {
        assert!(SeasonalProfile::new(20, 10, 3, 1000).is_none());
        assert!(SeasonalProfile::new(100_000, 1, 3, 1000).is_none());
        assert!(SeasonalProfile::new(100, 0, 3, 1000).is_none());
    }

    #[test]
    fn negative_timestamps_are_fine() {
        let mut p = SeasonalProfile::new(100, 10, 2, 1000).expect("valid profile");
        p.record(-30, 5.0);
        assert_eq!(p.baseline(70), Some(5.0));
    }
}
