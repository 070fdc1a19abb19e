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
//! The record is the longest run that ended within a window before the
//! current run began (`silence_record_window`, two weeks of 5-minute
//! samples), not the longest ever: a routine silence recurs and stays in
//! the window, while a one-off outage ages out, so a second outage as
//! long as the first is reported again.
//!
//! Also measured and not kept: a tolerance of 1 % or 5 % of the trailing
//! window's spread for "the same value" (the split with irregular
//! sampling, mean of 5 seeds, 64.8 → 64.6 and 64.3; stuck sensors 79.1 /
//! 65.0 / 81.9 and 72.1 / 55.5 / 79.6); scoring the end of a silence
//! instead of its length (the excess of the run just ended, at the sample
//! that ends it): the stuck sensors as without the member (49.2 / 27.1 /
//! 55.2), the 1,500- and 2,500-row segments −1.4 and −1.5, although NAB's
//! split rose to 73.5 / 67.5.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Length of the current run of identical values and the record before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Silence {
    min_record: usize,
    /// Samples before the current run began within which a run must have
    /// ended to count toward the record; 0 counts every run.
    record_window: usize,
    last: Option<f64>,
    /// Samples, after the first, that repeated `last`.
    run: usize,
    /// Samples seen.
    seen: u64,
    /// The completed runs that are or may become the record as older ones
    /// leave the window: the sample each ended at and its length, longest
    /// first (each one ended after every longer one).
    runs: VecDeque<(u64, usize)>,
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
    /// flat from its start stays at 0). `record_window` (0: for ever) is
    /// how long a run counts toward the record after it ended.
    pub(crate) fn new(min_record: usize, record_window: usize) -> Self {
        Self {
            min_record: min_record.max(1),
            record_window,
            last: None,
            run: 0,
            seen: 0,
            runs: VecDeque::new(),
            changes: 0,
        }
    }

    /// Feeds the newest value and returns how far the current run exceeds
    /// the record, in units of the record.
    pub(crate) fn update(&mut self, value: f64) -> f64 {
        self.seen += 1;
        if self.last == Some(value) {
            self.run += 1;
        } else {
            self.end_run();
            self.last = Some(value);
            if self.changes <= self.min_record {
                self.changes += 1;
            }
        }
        if self.changes <= self.min_record {
            return 0.0;
        }
        let record = self.record().max(self.min_record) as f64;
        (self.run as f64 - record).max(0.0) / record
    }

    /// The longest run that ended within `record_window` samples before
    /// the current one began.
    fn record(&self) -> usize {
        self.runs.front().map_or(0, |&(_, length)| length)
    }

    /// Files the run that just ended, and forgets the runs that ended too
    /// long before the run that starts now.
    fn end_run(&mut self) {
        let (now, run) = (self.seen, std::mem::take(&mut self.run));
        while self.runs.back().is_some_and(|&(_, length)| length <= run) {
            self.runs.pop_back();
        }
        self.runs.push_back((now, run));
        if self.record_window > 0 {
            let window = self.record_window as u64;
            while self
                .runs
                .front()
                .is_some_and(|&(ended, _)| ended + window < now)
            {
                self.runs.pop_front();
            }
        }
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
        let mut silence = Silence::new(2, 0);
        // Activity, then a run of 4 repeats, then a change.
        feed(&mut silence, &[1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0, 5.0]);
        assert_eq!(feed(&mut silence, &[5.0, 5.0, 5.0, 5.0]), 0.0);
        assert_eq!(silence.update(5.0), 0.25);
        assert_eq!(feed(&mut silence, &[5.0, 5.0, 5.0]), 1.0);
        assert_eq!(silence.update(6.0), 0.0, "the run ended");
    }

    #[test]
    fn the_record_is_floored() {
        let mut silence = Silence::new(4, 0);
        feed(&mut silence, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(feed(&mut silence, &[5.0; 4]), 0.0);
        assert_eq!(silence.update(5.0), 0.25);
    }

    #[test]
    fn changes_are_counted_only_until_they_are_enough() {
        let mut silence = Silence::new(4, 0);
        let values: Vec<f64> = (0..1_000).map(f64::from).collect();
        feed(&mut silence, &values);
        assert_eq!(silence.changes, 5);
        assert_eq!(silence.record(), 0);
        feed(&mut silence, &[999.0; 4]);
        assert_eq!(silence.update(999.0), 0.25, "still past the wait");
    }

    #[test]
    fn a_record_counts_for_its_window_only() {
        // Activity, a run of 20 repeats, activity: a second run of 20
        // repeats long after the first beats no record kept for ever, but
        // does beat one kept for 1,000 samples.
        let busy: Vec<f64> = (0..500).map(|i| f64::from(i % 7)).collect();
        let stuck = [9.0; 21];
        let twice = |window| {
            let mut silence = Silence::new(6, window);
            feed(&mut silence, &busy);
            feed(&mut silence, &stuck);
            for _ in 0..3 {
                feed(&mut silence, &busy);
            }
            feed(&mut silence, &stuck)
        };
        assert_eq!(twice(0), 0.0, "the first run is the record");
        assert_eq!(twice(1_000), (20.0 - 6.0) / 6.0, "the record is 6 again");
        assert_eq!(twice(2_000), 0.0, "the first run is still the record");
    }

    #[test]
    fn a_series_flat_from_its_start_is_not_silent() {
        let mut silence = Silence::new(6, 0);
        assert_eq!(feed(&mut silence, &[3.0; 10_000]), 0.0);
    }
}
