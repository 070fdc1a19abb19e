//! Pattern novelty: "has this series ever moved like this before?"
//!
//! The other members compare single numbers (a value, a short mean, a
//! change) with a baseline. Some incidents consist only of ordinary values
//! in an unusual order: an oscillation that stalls, a sawtooth whose period
//! changes, a ramp where there used to be steps. This member follows the
//! Netdata idea of scoring a short window of recent values (a lagged
//! feature vector) by its distance to what was seen before, but measures
//! the distance to the exact nearest stored window rather than to k-means
//! centroids: with a few hundred stored windows that is as cheap as one
//! clustering pass per point would be amortised, needs no retraining
//! schedule, and cannot be fooled by a cluster centre that lies between
//! two normal regimes.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Stored windows compared side by side in one pass of the search: as many
/// as two SSE2 registers' worth of lanes, so the independent sums overlap.
const LANES: usize = 8;

/// Recent-window memory and the nearest-neighbour search over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Novelty {
    dims: usize,
    capacity: usize,
    /// The last `dims` values, oldest first.
    current: Vec<f64>,
    /// Stored windows by dimension: value `d` of the window in slot `i` is
    /// at `d * capacity + i`. Slots are in no particular order (the
    /// nearest-neighbour search does not care): once all `capacity` are
    /// filled, the oldest is overwritten in place at `next`. Storing
    /// columns rather than whole windows lets the search compute the
    /// distances to `LANES` windows at once in vector lanes, each still
    /// summed over the dimensions in order, so every distance is the same
    /// number, bit for bit, as summing that window alone.
    stored: Vec<f64>,
    filled: usize,
    next: usize,
    /// Windows not yet searchable: they overlap the current one, so they
    /// would always look close.
    pending: VecDeque<f64>,
}

impl Novelty {
    pub(crate) fn new(dims: usize, capacity: usize) -> Self {
        let dims = dims.max(1);
        let capacity = capacity.max(1);
        Self {
            dims,
            capacity,
            current: Vec::with_capacity(dims),
            stored: vec![0.0; capacity * dims],
            filled: 0,
            next: 0,
            pending: VecDeque::with_capacity(dims * dims),
        }
    }

    /// Adds `value` and returns the RMS distance per dimension from the
    /// window ending at it to the nearest earlier non-overlapping window,
    /// or `None` while there is nothing to compare with.
    pub(crate) fn update(&mut self, value: f64) -> Option<f64> {
        if self.current.len() == self.dims {
            // A handful of floats: shifting is cheaper than a ring buffer
            // that would need re-linearising for every comparison.
            self.current.copy_within(1.., 0);
            self.current.pop();
        }
        self.current.push(value);
        if self.current.len() < self.dims {
            return None;
        }
        let best = self.nearest();
        self.pending.extend(self.current.iter());
        if self.pending.len() > self.dims * self.dims {
            let slot = if self.filled < self.capacity {
                self.filled += 1;
                self.filled - 1
            } else {
                let slot = self.next;
                self.next = (self.next + 1) % self.capacity;
                slot
            };
            for (d, v) in self.pending.drain(..self.dims).enumerate() {
                self.stored[d * self.capacity + slot] = v;
            }
        }
        best.is_finite().then(|| (best / self.dims as f64).sqrt())
    }

    /// Smallest squared distance from the current window to a stored one
    /// (infinite when none is stored). Deliberately branch-free: with a
    /// handful of dimensions an early-abandon test costs more than it saves
    /// and keeps the compiler from vectorising the loop. The minimum is
    /// exact, so taking it per lane first does not change it.
    fn nearest(&self) -> f64 {
        let mut lane_best = [f64::INFINITY; LANES];
        let mut slot = 0;
        while slot + LANES <= self.filled {
            let mut sums = [0.0; LANES];
            for (d, &c) in self.current.iter().enumerate() {
                let column = &self.stored[d * self.capacity + slot..][..LANES];
                for (sum, &w) in sums.iter_mut().zip(column) {
                    *sum += (c - w) * (c - w);
                }
            }
            for (best, sum) in lane_best.iter_mut().zip(sums) {
                *best = best.min(sum);
            }
            slot += LANES;
        }
        let mut best = lane_best.into_iter().fold(f64::INFINITY, f64::min);
        for slot in slot..self.filled {
            let mut sum = 0.0;
            for (d, &c) in self.current.iter().enumerate() {
                let w = self.stored[d * self.capacity + slot];
                sum += (c - w) * (c - w);
            }
            best = best.min(sum);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_pattern_is_not_novel_but_a_new_one_is() {
        let mut n = Novelty::new(4, 100);
        let pattern = [0.0, 1.0, 2.0, 1.0];
        let mut last = None;
        for i in 0..200 {
            last = n.update(pattern[i % 4]);
        }
        assert_eq!(last, Some(0.0));
        // Same values, new order.
        n.update(2.0);
        n.update(2.0);
        n.update(0.0);
        let novel = n.update(0.0).expect("history exists");
        assert!(novel > 0.5, "{novel}");
    }

    #[test]
    fn the_search_matches_a_direct_scan_of_the_last_windows() {
        // 13 slots: full lane blocks plus a remainder, and wrap-around.
        let (dims, capacity) = (5, 13);
        let mut n = Novelty::new(dims, capacity);
        let mut windows: Vec<Vec<f64>> = Vec::new();
        let mut x = 7_u64;
        for i in 0..500 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let got = n.update((x >> 40) as f64 / 1e3);
            if i + 1 < dims {
                continue;
            }
            let current = n.current.clone();
            // A window becomes searchable `dims` updates after it ended.
            let searchable = windows.len().saturating_sub(dims);
            let from = searchable.saturating_sub(capacity);
            let expected = windows[from..searchable]
                .iter()
                .map(|w| current.iter().zip(w).map(|(a, b)| (a - b) * (a - b)).sum())
                .fold(f64::INFINITY, f64::min);
            let expected = expected
                .is_finite()
                .then(|| (expected / dims as f64).sqrt());
            assert_eq!(
                got.map(f64::to_bits),
                expected.map(f64::to_bits),
                "update {i}"
            );
            windows.push(current);
        }
    }

    #[test]
    fn nothing_to_compare_with_at_first() {
        let mut n = Novelty::new(3, 10);
        assert_eq!(n.update(1.0), None);
        assert_eq!(n.update(1.0), None);
        assert_eq!(n.update(1.0), None);
    }
}
