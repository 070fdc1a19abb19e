//! Silence: how far the current run of one repeated value has outlasted
//! the longest such run the series showed before.
//!
//! A stuck sensor, an exporter that repeats its last value, a job that
//! stops writing, traffic that drops to zero: the values are ordinary (the
//! series has been at that value before), their order is ordinary (a flat
//! stretch is a known shape), only the *length* of the flat stretch is
//! new. No other member measures that.
//!
//! The deviation is how far the current run exceeds the longest run
//! completed before it, in units of that record: 0 while the run is no
//! longer than the record, 1 once it has lasted twice as long. Runs are of
//! exactly equal values: stuck sensors and zero counts repeat exactly, and
//! a tolerance relative to the spread would count the slow stretches of a
//! smooth series as flat. The deviation is calibrated like every other
//! member, so a series whose long silences routinely beat their record
//! (counts that are 0 every night, a square wave) learns that as normal.
//!
//! Measuring the excess over the record rather than the ratio run/record
//! keeps the member at 0 for every run that is not a record. As a ratio,
//! each short repeat on a series that seldom repeats was a calibrated
//! surprise of its own: with a floor of 12 samples NAB's shared split
//! scored 72.9 / 66.4 (standard / low FP; false-positive rows 65 → 69)
//! and the generated stuck sensors 74.6 / 56.8 / 75.9 (seeds 1–3), against
//! 73.3 / 67.1 and 78.4 / 63.0 / 77.9 for the excess. Without the wait for
//! a few changes of value (measured with the ratio), `art_flatline`, flat
//! from its first sample, alarmed on 4 rows.
//!
//! Also measured and not kept: a tolerance of 1 % or 5 % of the trailing
//! window's spread for "the same value" (the split with irregular
//! sampling, mean of 5 seeds, 64.8 → 64.6 and 64.3; stuck sensors 79.1 /
//! 65.0 / 81.9 and 72.1 / 55.5 / 79.6); scoring the end of a silence
//! instead of its length (the excess of the run just ended, at the sample
//! that ends it): the stuck sensors as without the member (49.2 / 27.1 /
//! 55.2), the 1,500- and 2,500-row segments −1.4 and −1.5, although NAB's
//! split rose to 73.5 / 67.5.

use serde::{Deserialize, Serialize};

/// Length of the current run of identical values and the record before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Silence {
    min_record: usize,
    last: Option<f64>,
    /// Samples, after the first, that repeated `last`.
    run: usize,
    /// Longest run completed so far.
    record: usize,
    /// Times the value changed, counted up to `min_record + 1`: past that
    /// the series has shown the activity a silence is compared with, and
    /// the count has nothing more to tell.
    changes: usize,
}

impl Silence {
    /// `min_record` (at least 1) floors the record, so the first short
    /// repeats of a series that never repeated are not a record broken
    /// many times over; until the value has changed that many times the
    /// series has shown no activity to compare a silence with (a series
    /// flat from its start stays at 0).
    pub(crate) fn new(min_record: usize) -> Self {
        Self {
            min_record: min_record.max(1),
            last: None,
            run: 0,
            record: 0,
            changes: 0,
        }
    }

    /// Feeds the newest value and returns how far the current run exceeds
    /// the record, in units of the record.
    pub(crate) fn update(&mut self, value: f64) -> f64 {
        if self.last == Some(value) {
            self.run += 1;
        } else {
            self.record = self.record.max(self.run);
            self.run = 0;
            self.last = Some(value);
            if self.changes <= self.min_record {
                self.changes += 1;
            }
        }
        if self.changes <= self.min_record {
            return 0.0;
        }
        let record = self.record.max(self.min_record) as f64;
        (self.run as f64 - record).max(0.0) / record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `values` and returns the last deviation.
    fn feed(silence: &mut Silence, values: &[f64]) -> f64 {
        values
            .iter()
            .map(|&v| silence.update(v))
            .fold(0.0, |_, z| z)
    }

    #[test]
    fn a_run_counts_once_it_outlasts_the_record() {
        let mut silence = Silence::new(2);
        // Activity, then a run of 4 repeats, then a change.
        feed(&mut silence, &[1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0, 5.0]);
        assert_eq!(feed(&mut silence, &[5.0, 5.0, 5.0, 5.0]), 0.0);
        assert_eq!(silence.update(5.0), 0.25);
        assert_eq!(feed(&mut silence, &[5.0, 5.0, 5.0]), 1.0);
        assert_eq!(silence.update(6.0), 0.0, "the run ended");
    }

    #[test]
    fn the_record_is_floored() {
        let mut silence = Silence::new(4);
        feed(&mut silence, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(feed(&mut silence, &[5.0; 4]), 0.0);
        assert_eq!(silence.update(5.0), 0.25);
    }

    #[test]
    fn changes_are_counted_only_until_they_are_enough() {
        let mut silence = Silence::new(4);
        let values: Vec<f64> = (0..1_000).map(f64::from).collect();
        feed(&mut silence, &values);
        assert_eq!(silence.changes, 5);
        feed(&mut silence, &[999.0; 4]);
        assert_eq!(silence.update(999.0), 0.25, "still past the wait");
    }

    #[test]
    fn a_series_flat_from_its_start_is_not_silent() {
        let mut silence = Silence::new(6);
        assert_eq!(feed(&mut silence, &[3.0; 10_000]), 0.0);
    }
}
