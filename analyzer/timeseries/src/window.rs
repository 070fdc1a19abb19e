//! Sliding windows with cheap order statistics.
//!
//! Robust statistics (median, quantile spreads) are what keep a detector from
//! learning its own anomalies: one spike moves a mean and a standard deviation
//! a lot, a median not at all. A sorted copy of the window makes every
//! quantile an O(1) lookup; keeping it sorted costs two binary searches
//! plus one shift of the values ranked between the evicted and the new
//! value, which for the window sizes we use (hundreds to a few thousand
//! points) is well under a microsecond.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// A fixed-capacity window of the most recent finite values, kept both in
/// arrival order (to know what to evict) and in sorted order (for quantiles).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RollingQuantiles {
    capacity: usize,
    arrival: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl RollingQuantiles {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            arrival: VecDeque::with_capacity(capacity),
            sorted: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Adds `value`, evicting the oldest value once the window is full.
    /// Non-finite values are ignored so that one bad sample cannot poison
    /// every later quantile.
    pub(crate) fn push(&mut self, value: f64) {
        self.push_evicting(value);
    }

    /// [`RollingQuantiles::push`] that returns the value it evicted, so a
    /// second window can take over where this one ends.
    pub(crate) fn push_evicting(&mut self, value: f64) -> Option<f64> {
        if !value.is_finite() {
            return None;
        }
        let at = self.sorted.partition_point(|v| v.total_cmp(&value).is_lt());
        let mut evicted = None;
        if self.arrival.len() == self.capacity
            && let Some(old) = self.arrival.pop_front()
        {
            let from = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            self.replace(from, at, value);
            evicted = Some(old);
        } else {
            self.sorted.insert(at, value);
        }
        self.arrival.push_back(value);
        evicted
    }

    /// Forgets all but the newest `n` values (a window that must start
    /// over, e.g. after a level shift). Rare, so it simply re-sorts.
    pub(crate) fn keep_last(&mut self, n: usize) {
        if self.arrival.len() <= n {
            return;
        }
        let drop = self.arrival.len() - n;
        self.arrival.drain(..drop);
        self.sorted.clear();
        self.sorted.extend(self.arrival.iter().copied());
        self.sorted.sort_unstable_by(f64::total_cmp);
    }

    pub(crate) fn clear(&mut self) {
        self.arrival.clear();
        self.sorted.clear();
    }

    /// Replaces the evicted value at sorted position `from` by `value`,
    /// whose insertion point in the window still holding the evicted value
    /// is `at`. Removing and then inserting would move everything after
    /// each position (two `memmove`s of up to `capacity` floats); shifting
    /// only the values between the two positions by one leaves the same
    /// sorted window and, as a new value is usually near the evicted one
    /// in rank, moves a small fraction of the data.
    fn replace(&mut self, from: usize, at: usize, value: f64) {
        if from >= self.sorted.len() {
            // The evicted value is always in the window; stay sorted anyway.
            self.sorted.insert(at, value);
        } else if at <= from {
            // Values in `at..from` rank above `value`: one step up each.
            self.sorted.copy_within(at..from, at + 1);
            self.sorted[at] = value;
        } else {
            // The evicted value ranks below `value` and is counted in `at`:
            // values in `from + 1..at` move one step down into its place.
            self.sorted.copy_within(from + 1..at, from);
            self.sorted[at - 1] = value;
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) with linear interpolation, or `None`
    /// for an empty window.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        // `pos` is never negative, so truncation is `floor`; without SSE4.1
        // (the baseline x86-64 target) `floor` and `ceil` are libm calls.
        let lo = pos as usize;
        let hi = if (lo as f64) < pos { lo + 1 } else { lo };
        let frac = pos - lo as f64;
        Some(self.sorted[lo] + (self.sorted[hi] - self.sorted[lo]) * frac)
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// A robust estimate of the standard deviation of the window.
    ///
    /// The interquartile range is the first choice (it ignores up to a
    /// quarter of outliers on each side). Quantised or mostly-constant
    /// metrics (a CPU gauge stuck at 0.1 %) often have an IQR of zero, and
    /// dividing by zero would turn every small wiggle into an "infinite"
    /// anomaly, so we widen to the 5–95 % and then to the full range before
    /// giving up and returning 0.
    pub(crate) fn robust_scale(&self) -> f64 {
        let spread = |lo: f64, hi: f64, z: f64| -> f64 {
            match (self.quantile(lo), self.quantile(hi)) {
                (Some(a), Some(b)) => (b - a) / z,
                _ => 0.0,
            }
        };
        let iqr = spread(0.25, 0.75, 1.349);
        if iqr > 0.0 {
            return iqr;
        }
        let wide = spread(0.05, 0.95, 3.29);
        if wide > 0.0 {
            return wide;
        }
        spread(0.0, 1.0, 6.0)
    }
}

/// A fixed-capacity window that keeps a running sum and sum of squares for
/// O(1) mean and variance. The sums are recomputed from scratch every
/// `capacity` pushes so floating-point drift cannot accumulate over months
/// of streaming.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RollingMoments {
    capacity: usize,
    values: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    since_refresh: usize,
}

impl RollingMoments {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            values: VecDeque::with_capacity(capacity),
            sum: 0.0,
            sum_sq: 0.0,
            since_refresh: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.values.len() == self.capacity
            && let Some(old) = self.values.pop_front()
        {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.values.push_back(value);
        self.sum += value;
        self.sum_sq += value * value;
        self.since_refresh += 1;
        if self.since_refresh >= self.capacity {
            self.sum = self.values.iter().sum();
            self.sum_sq = self.values.iter().map(|v| v * v).sum();
            self.since_refresh = 0;
        }
    }

    pub(crate) fn mean(&self) -> f64 {
        if self.values.is_empty() {
            0.0
        } else {
            self.sum / self.values.len() as f64
        }
    }

    pub(crate) fn std_dev(&self) -> f64 {
        let n = self.values.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let mean = self.sum / n;
        (self.sum_sq / n - mean * mean).max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_the_window() {
        let mut w = RollingQuantiles::new(5);
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            w.push(v);
        }
        assert_eq!(w.median(), Some(3.0));
        assert_eq!(w.quantile(0.0), Some(1.0));
        assert_eq!(w.quantile(1.0), Some(5.0));
        // Between two ranks: interpolated.
        assert_eq!(w.quantile(0.375), Some(2.5));
        // Evicts 5.0, the oldest.
        w.push(10.0);
        assert_eq!(w.len(), 5);
        assert_eq!(w.quantile(1.0), Some(10.0));
        assert_eq!(w.median(), Some(3.0));
    }

    #[test]
    fn keep_last_forgets_the_oldest_and_evictions_are_returned() {
        let mut w = RollingQuantiles::new(4);
        for v in [9.0, 8.0, 1.0, 3.0] {
            assert_eq!(w.push_evicting(v), None);
        }
        assert_eq!(w.push_evicting(2.0), Some(9.0));
        w.keep_last(3);
        assert_eq!(w.len(), 3);
        assert_eq!(w.quantile(0.0), Some(1.0));
        assert_eq!(w.quantile(1.0), Some(3.0));
        // Still evicts in arrival order after the restart.
        w.push(7.0);
        assert_eq!(w.push_evicting(6.0), Some(1.0));
        w.clear();
        assert_eq!(w.median(), None);
    }

    #[test]
    fn the_sorted_window_matches_a_fresh_sort() {
        // Duplicates, ties with the evicted value and moves in both
        // directions all go through the single-shift replacement.
        let mut w = RollingQuantiles::new(7);
        let mut x = 12_345_u64;
        for i in 0..2_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            w.push(((x >> 59) as f64) - if i % 3 == 0 { 0.0 } else { 8.0 });
            let mut expected: Vec<f64> = w.arrival.iter().copied().collect();
            expected.sort_by(f64::total_cmp);
            assert_eq!(w.sorted, expected, "after push {i}");
        }
    }

    #[test]
    fn non_finite_values_are_ignored() {
        let mut w = RollingQuantiles::new(3);
        w.push(f64::NAN);
        w.push(f64::INFINITY);
        assert_eq!(w.len(), 0);
        assert_eq!(w.median(), None);
    }

    #[test]
    fn robust_scale_survives_quantised_data() {
        let mut w = RollingQuantiles::new(100);
        for i in 0..100 {
            w.push(if i % 20 == 0 { 1.0 } else { 0.0 });
        }
        assert_eq!(w.quantile(0.25), w.quantile(0.75));
        assert!(w.robust_scale() > 0.0);

        let mut flat = RollingQuantiles::new(10);
        for _ in 0..10 {
            flat.push(7.0);
        }
        assert_eq!(flat.robust_scale(), 0.0);
    }

    #[test]
    fn moments_match_direct_computation() {
        let mut m = RollingMoments::new(4);
        for v in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
            m.push(v);
        }
        // Window is 3, 4, 5, 6.
        assert!((m.mean() - 4.5).abs() < 1e-12);
        assert!((m.std_dev() - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(m.len(), 4);
    }
}
