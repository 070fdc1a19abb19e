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

/// Recent-window memory and the nearest-neighbour search over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Novelty {
    dims: usize,
    capacity: usize,
    /// The last `dims` values, oldest first.
    current: Vec<f64>,
    /// Stored windows, `dims` values each, in no particular order (the
    /// nearest-neighbour search does not care): once full, the oldest is
    /// overwritten in place at `next`.
    stored: Vec<f64>,
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
            stored: Vec::with_capacity(capacity * dims),
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
        let current = &self.current;
        let mut best = f64::INFINITY;
        for window in self.stored.chunks_exact(self.dims) {
            best = best.min(distance(current, window));
        }
        self.pending.extend(self.current.iter());
        if self.pending.len() > self.dims * self.dims {
            if self.stored.len() < self.capacity * self.dims {
                self.stored.extend(self.pending.drain(..self.dims));
            } else {
                let at = self.next * self.dims;
                for (slot, v) in self.stored[at..at + self.dims]
                    .iter_mut()
                    .zip(self.pending.drain(..self.dims))
                {
                    *slot = v;
                }
                self.next = (self.next + 1) % self.capacity;
            }
        }
        best.is_finite().then(|| (best / self.dims as f64).sqrt())
    }
}

/// Squared distance between `a` and `w`. Deliberately branch-free: with a
/// handful of dimensions an early-abandon test costs more than it saves and
/// keeps the compiler from vectorising the loop.
fn distance(a: &[f64], w: &[f64]) -> f64 {
    a.iter().zip(w).map(|(x, y)| (x - y) * (x - y)).sum()
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
    fn nothing_to_compare_with_at_first() {
        let mut n = Novelty::new(3, 10);
        assert_eq!(n.update(1.0), None);
        assert_eq!(n.update(1.0), None);
        assert_eq!(n.update(1.0), None);
    }
}
