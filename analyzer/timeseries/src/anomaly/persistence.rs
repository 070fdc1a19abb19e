//! Persistence: how surprised a view has stayed over its last few samples.
//!
//! The ensemble wants two views to agree before it trusts a surprise (see
//! `combine` in the parent module): one view alone raises the score only
//! half as far. That is right for one odd sample, which noise produces in
//! every view now and then, but it also halves a broken rhythm that only
//! the seasonal members can see: a holiday whose daily peak never comes, a
//! job that stops writing, a counter that goes quiet for hours. The level
//! and shape views see nothing there (the values are ordinary, only their
//! timing is not), while the seasonal members are surprised sample after
//! sample.
//!
//! Each seasonal sample is scored on its own against the same phase of
//! earlier periods, so a rhythm that stays broken for several samples in a
//! row is several pieces of evidence, not one read several times. This
//! module keeps the least surprise of the last few samples, which the
//! ensemble counts as one more view: a rhythm surprise that has held for
//! that long corroborates itself. The level and novelty members average
//! over windows, so their surprise lingers after a single blip by
//! construction, and holding the shape or level view the same way scored
//! worse on NAB (see [`DetectorConfig::rhythm_persistence`]).
//!
//! [`DetectorConfig::rhythm_persistence`]: super::DetectorConfig::rhythm_persistence

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The least surprise of a view's last `samples` samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Persistence {
    samples: usize,
    recent: VecDeque<f64>,
}

impl Persistence {
    /// `samples` 0 turns persistence off: [`Persistence::update`] then
    /// always returns 0.
    pub(crate) fn new(samples: usize) -> Self {
        Self {
            samples,
            recent: VecDeque::with_capacity(samples),
        }
    }

    /// Feeds the view's surprise at the newest sample and returns the least
    /// surprise of the last `samples` samples, or 0 until that many have
    /// been seen.
    pub(crate) fn update(&mut self, surprise: f64) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        if self.recent.len() == self.samples {
            self.recent.pop_front();
        }
        self.recent.push_back(surprise);
        if self.recent.len() < self.samples {
            return 0.0;
        }
        self.recent.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_least_surprise_of_the_last_samples() {
        let mut p = Persistence::new(3);
        let held: Vec<f64> = [5.0, 6.0, 7.0, 1.0, 8.0, 9.0, 9.0]
            .into_iter()
            .map(|s| p.update(s))
            .collect();
        assert_eq!(held, [0.0, 0.0, 5.0, 1.0, 1.0, 1.0, 8.0]);
    }

    #[test]
    fn off_holds_nothing() {
        let mut p = Persistence::new(0);
        assert!((0..10).all(|_| p.update(7.0) == 0.0));
    }
}
