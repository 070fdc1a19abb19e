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
        interpolated(self.sorted.len(), q, |rank, next| {
            let below = self.sorted[rank];
            (below, if next { self.sorted[rank + 1] } else { below })
        })
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// A robust estimate of the standard deviation of the window, see
    /// [`robust_scale`].
    pub(crate) fn robust_scale(&self) -> f64 {
        robust_scale(|q| self.quantile(q))
    }
}

/// Two windows read as one, such as the newest and the older segment of
/// one trailing window: the order statistics of all their values, found
/// by a binary search over the two sorted windows rather than kept in a
/// merged copy that every value would be pushed into twice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Union<'a>(
    pub(crate) &'a RollingQuantiles,
    pub(crate) &'a RollingQuantiles,
);

/// How far from where a quantile was found last time [`Union`] first
/// looks for it: one push moves a value into each window and one out of
/// each, which moves the answer by at most this.
const NEAR: usize = 2;

impl Union<'_> {
    pub(crate) fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }

    /// The `q`-quantile of both windows' values, as
    /// [`RollingQuantiles::quantile`] gives it for one window holding them.
    /// The search starts at `start`, where the same quantile was found the
    /// last time (any value will do; the result does not depend on it), and
    /// leaves there where it was found now.
    pub(crate) fn quantile_from(&self, q: f64, start: &mut usize) -> Option<f64> {
        interpolated(self.len(), q, |rank, next| self.ranked(rank, next, start))
    }

    /// The value of 0-based rank `rank` (below [`Union::len`]) among both
    /// windows' values, in the order `f64::total_cmp` sorts them, and the
    /// value of the next rank if `next` (else the same value again). The
    /// `rank + 1` smallest values are the first `taken` of the first
    /// window and the rest of the second, for the one `taken` searched for
    /// from `start`; the value of `rank` is the larger of the last two
    /// taken, the next one the smaller of the first two left.
    fn ranked(&self, rank: usize, next: bool, start: &mut usize) -> (f64, f64) {
        let (a, b) = (&self.0.sorted, &self.1.sorted);
        let wanted = rank + 1;
        let (mut lo, mut hi) = (wanted.saturating_sub(b.len()), wanted.min(a.len()));
        // Too few taken from `a` while the last taken from `b` ranks above
        // the next of `a`; that holds for every count below the right one
        // (which lies in `lo..=hi`) and for none from it on.
        let too_few = |taken: usize| b[wanted - taken - 1].total_cmp(&a[taken]).is_gt();
        let guess = (*start).clamp(lo, hi);
        let (near_lo, near_hi) = (guess.saturating_sub(NEAR).max(lo), (guess + NEAR).min(hi));
        if near_lo == lo || too_few(near_lo - 1) {
            lo = near_lo;
        }
        if near_hi == hi || !too_few(near_hi) {
            hi = near_hi;
        }
        while lo < hi {
            let taken = lo + (hi - lo) / 2;
            if too_few(taken) {
                lo = taken + 1;
            } else {
                hi = taken;
            }
        }
        *start = lo;
        let (taken_a, taken_b) = (lo, wanted - lo);
        let last = match (taken_a.checked_sub(1), taken_b.checked_sub(1)) {
            (Some(i), Some(j)) if a[i].total_cmp(&b[j]).is_gt() => a[i],
            (_, Some(j)) => b[j],
            (Some(i), None) => a[i],
            // Not reached: `rank + 1` values are taken.
            (None, None) => f64::NAN,
        };
        if !next {
            return (last, last);
        }
        let following = match (a.get(taken_a), b.get(taken_b)) {
            (Some(&x), Some(&y)) if x.total_cmp(&y).is_lt() => x,
            (_, Some(&y)) => y,
            (Some(&x), None) => x,
            // Not reached: `next` is asked only below the last rank.
            (None, None) => last,
        };
        (last, following)
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) with linear interpolation of `n` sorted
/// values; `at(k, next)` gives the value of rank `k` and, if `next`, that
/// of rank `k + 1` (else the same value again). `None` when `n` is 0.
fn interpolated(n: usize, q: f64, at: impl FnOnce(usize, bool) -> (f64, f64)) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    // `pos` is never negative, so truncation is `floor`; without SSE4.1
    // (the baseline x86-64 target) `floor` and `ceil` are libm calls.
    let lo = pos as usize;
    let (below, above) = at(lo, (lo as f64) < pos);
    Some(below + (above - below) * (pos - lo as f64))
}

/// A robust estimate of the standard deviation of a window whose
/// quantiles `quantile` gives.
///
/// The interquartile range is the first choice (it ignores up to a
/// quarter of outliers on each side). Quantised or mostly-constant
/// metrics (a CPU gauge stuck at 0.1 %) often have an IQR of zero, and
/// dividing by zero would turn every small wiggle into an "infinite"
/// anomaly, so we widen to the 5–95 % and then to the full range before
/// giving up and returning 0.
pub(crate) fn robust_scale(mut quantile: impl FnMut(f64) -> Option<f64>) -> f64 {
    let mut spread = |lo: f64, hi: f64, z: f64| -> f64 {
        match (quantile(lo), quantile(hi)) {
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
    fn evictions_are_returned_in_arrival_order() {
        let mut w = RollingQuantiles::new(4);
        for v in [9.0, 8.0, 1.0, 3.0] {
            assert_eq!(w.push_evicting(v), None);
        }
        assert_eq!(w.push_evicting(2.0), Some(9.0));
        assert_eq!(w.push_evicting(7.0), Some(8.0));
        assert_eq!(w.len(), 4);
        assert_eq!(w.quantile(0.0), Some(1.0));
        assert_eq!(w.quantile(1.0), Some(7.0));
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
    fn two_windows_read_as_one_match_a_window_of_all_their_values() {
        // Ties within and across the windows, -0.0 beside 0.0, one window
        // empty or far shorter than the other; searches started where the
        // quantile was found last time, and anywhere at all.
        let mut x = 987_654_u64;
        for (cap_a, cap_b) in [(3, 5), (1, 9), (7, 7), (12, 2), (40, 60)] {
            let (mut a, mut b) = (RollingQuantiles::new(cap_a), RollingQuantiles::new(cap_b));
            let mut all = RollingQuantiles::new(cap_a + cap_b);
            let mut starts = [0; 8];
            for i in 0..400 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let v = match x >> 61 {
                    0 => -0.0,
                    1 => 0.0,
                    k => (k as f64 - 4.0) * if i % 2 == 0 { 1.0 } else { 0.5 },
                };
                all.push(v);
                if let Some(old) = a.push_evicting(v) {
                    b.push(old);
                }
                let both = Union(&a, &b);
                assert_eq!(both.len(), all.len());
                for rank in 0..all.len() {
                    let next = rank + 1 < all.len();
                    let mut anywhere = (x >> 20) as usize % (cap_a + 3);
                    let (value, following) = both.ranked(rank, next, &mut anywhere);
                    let expected = all.sorted[if next { rank + 1 } else { rank }];
                    assert_eq!(
                        value.to_bits(),
                        all.sorted[rank].to_bits(),
                        "rank {rank} after push {i}"
                    );
                    assert_eq!(
                        following.to_bits(),
                        expected.to_bits(),
                        "rank {rank} after push {i}"
                    );
                }
                for (q, start) in [0.0, 0.05, 0.25, 0.375, 0.5, 0.75, 0.95, 1.0]
                    .into_iter()
                    .zip(&mut starts)
                {
                    assert_eq!(
                        both.quantile_from(q, start).map(f64::to_bits),
                        all.quantile(q).map(f64::to_bits)
                    );
                }
            }
        }
        let empty = RollingQuantiles::new(3);
        assert_eq!(Union(&empty, &empty).quantile_from(0.5, &mut 0), None);
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
