//! Turns raw samples into the ART detector's feature vectors.
//!
//! Why this shape: Fuzzy ART compares vectors in `[0, 1]`, and what an
//! operator calls "a new pattern" is a new *shape* of the recent curve at a
//! known *level*. So every `step` samples the block is reduced to one value
//! (its extreme, so a one-sample spike survives downsampling), put on a
//! coarse grid of the series' range (noise smaller than a grid step is not
//! news) and pulled onto the running median level when close to it (small
//! wobble around the usual level is not news either). The feature vector is
//! the last [`WINDOW`] levels as they are (the level) followed by their Haar
//! wavelet transform rescaled to `[0, 1]` (the shape, whatever the level).

use serde::{Deserialize, Serialize};

/// Downsampled levels per feature vector.
pub(super) const WINDOW: usize = 8;
/// Length of a feature vector: the wavelet coefficients, then the levels.
pub(super) const DIM: usize = 2 * WINDOW;
/// Grid steps over the learned range.
const LEVELS: usize = 80;
/// A level closer than this to the running median level is snapped to it.
const SNAP: f64 = 0.075;

pub(super) type Features = [f64; DIM];

/// What happens to a value outside the range learned during warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeRule {
    /// Clipped to the nearest edge: the learned categories keep their
    /// meaning, and a value beyond the edge still reads as an extreme level.
    Clip,
    /// The range grows to include it; later values are placed on the wider
    /// grid (already learned categories are not re-encoded).
    Widen,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Encoder {
    step: usize,
    min: f64,
    max: f64,
    rule: RangeRule,
    block: Vec<f64>,
    moving_average: f64,
    blocks: u64,
    median: LevelMedian,
    levels: [f64; WINDOW],
    /// A level closer than this (a fraction of the grid) to the running
    /// median level is snapped to it.
    snap: f64,
}

impl Encoder {
    pub(super) fn new(step: usize, min: f64, max: f64, rule: RangeRule) -> Self {
        Self {
            step: step.max(1),
            min,
            max,
            rule,
            block: Vec::with_capacity(step.max(1)),
            moving_average: 0.0,
            blocks: 0,
            median: LevelMedian::default(),
            levels: [0.0; WINDOW],
            snap: SNAP,
        }
    }

    /// Widens the snap to at least `snap` (a fraction of the grid).
    pub(super) fn with_snap(mut self, snap: f64) -> Self {
        self.snap = self.snap.max(snap);
        self
    }

    /// Positions on the grid (fractions of the range, before rounding to
    /// a level or snapping) of the blocks `values` would make; leaves
    /// `self` as it was.
    pub(super) fn block_levels(&self, values: &[f64]) -> Vec<f64> {
        let mut probe = self.clone();
        let mut positions = Vec::new();
        for &v in values {
            if let Some(ds) = probe.downsample(v) {
                positions.push(probe.position(ds));
            }
        }
        positions
    }

    /// Feeds one raw sample; at the end of each block returns its feature
    /// vector (all zeros until [`WINDOW`] blocks have been seen).
    pub(super) fn push(&mut self, value: f64) -> Option<Features> {
        let ds = self.downsample(value)?;
        let level = self.quantise(ds);
        self.median.push(level, self.blocks);
        let mut ds = level as f64 / LEVELS as f64;
        let median = self.median.level as f64 / LEVELS as f64;
        if (ds - median).abs() < self.snap {
            ds = median;
        }
        self.levels.rotate_left(1);
        self.levels[WINDOW - 1] = ds;
        let mut features = [0.0; DIM];
        if self.blocks >= WINDOW as u64 {
            let (shape, level) = features.split_at_mut(WINDOW);
            shape.copy_from_slice(&self.levels);
            rescale(shape);
            haar(shape);
            rescale(shape);
            level.copy_from_slice(&self.levels);
        }
        Some(features)
    }

    /// Feeds one raw sample; at the end of each block returns the value
    /// that stands for the block.
    fn downsample(&mut self, value: f64) -> Option<f64> {
        self.block.push(value);
        if self.block.len() < self.step {
            return None;
        }
        let n = self.block.len() as f64;
        let mean = self.block.iter().sum::<f64>() / n;
        let hi = self.block.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = self.block.iter().copied().fold(f64::INFINITY, f64::min);
        self.block.clear();
        self.blocks += 1;
        if self.blocks == 1 {
            self.moving_average = mean;
        }
        self.moving_average = (self.moving_average + mean) / 2.0;
        // Keep the extreme farther from the moving average, unless it is
        // within 10 % of the block mean: then the block is just its mean.
        let mut ds = if (hi - self.moving_average).abs() < (lo - self.moving_average).abs() {
            lo
        } else {
            hi
        };
        if (ds - mean).abs() < 0.1 * mean {
            ds = mean;
        }
        Some(ds)
    }

    fn quantise(&mut self, value: f64) -> usize {
        let x = self.position(value);
        // Ties to even, the usual rounding of numeric code, so a value
        // exactly between two grid steps does not always go up.
        let level = (x.clamp(0.0, 1.0) * LEVELS as f64).round_ties_even();
        level as usize
    }

    /// Where `value` lies in the range (0 at the minimum, 1 at the
    /// maximum), widening the range first under [`RangeRule::Widen`].
    fn position(&mut self, value: f64) -> f64 {
        if self.rule == RangeRule::Widen {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        let span = self.max - self.min;
        let x = value - self.min;
        if span != 0.0 { x / span } else { x }
    }
}

/// An approximate running median of the levels: a histogram and a pointer
/// that moves at most one occupied level per sample, which is all a slowly
/// drifting "usual level" needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LevelMedian {
    counts: Vec<u64>,
    level: usize,
    below: u64,
    above: u64,
}

impl Default for LevelMedian {
    fn default() -> Self {
        Self {
            counts: vec![0; LEVELS + 1],
            level: 0,
            below: 0,
            above: 0,
        }
    }
}

impl LevelMedian {
    /// `n` is the number of levels seen so far, this one included.
    fn push(&mut self, level: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(level) {
            *c += 1;
        }
        if n == 1 {
            self.level = level;
        }
        if self.level > level {
            self.below += 1;
        } else if self.level < level {
            self.above += 1;
        }
        let half = n / 2;
        if half < self.above {
            self.below += self.count(self.level);
            self.level += 1;
            while self.level < LEVELS && self.count(self.level) == 0 {
                self.level += 1;
            }
            self.above = self.above.saturating_sub(self.count(self.level));
        } else if half < self.below {
            self.above += self.count(self.level);
            self.level = self.level.saturating_sub(1);
            while self.level > 0 && self.count(self.level) == 0 {
                self.level -= 1;
            }
            self.below = self.below.saturating_sub(self.count(self.level));
        }
    }

    fn count(&self, level: usize) -> u64 {
        self.counts.get(level).copied().unwrap_or(0)
    }
}

/// Shifts and scales `xs` onto `[0, 1]` (left as is if constant).
fn rescale(xs: &mut [f64]) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    for x in xs.iter_mut() {
        *x -= lo;
    }
    let hi = xs.iter().copied().fold(0.0, f64::max);
    if hi != 0.0 {
        for x in xs.iter_mut() {
            *x /= hi;
        }
    }
}

/// Full orthonormal Haar transform of a power-of-two slice, in place:
/// the overall average first, then the details from coarse to fine.
fn haar(xs: &mut [f64]) {
    let mut scratch = [0.0; WINDOW];
    let mut n = xs.len().min(WINDOW);
    while n >= 2 {
        let half = n / 2;
        for k in 0..half {
            let (a, b) = (xs[2 * k], xs[2 * k + 1]);
            scratch[k] = (a + b) * std::f64::consts::FRAC_1_SQRT_2;
            // Later minus earlier, the sign ARTime was published with.
            scratch[half + k] = (b - a) * std::f64::consts::FRAC_1_SQRT_2;
        }
        xs[..n].copy_from_slice(&scratch[..n]);
        n = half;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haar_of_a_constant_has_no_details() {
        let mut xs = [1.0; WINDOW];
        haar(&mut xs);
        assert!((xs[0] - 8f64.sqrt()).abs() < 1e-12);
        assert!(xs[1..].iter().all(|d| d.abs() < 1e-12), "{xs:?}");
    }

    #[test]
    fn haar_details_are_ordered_coarse_to_fine() {
        let mut xs = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        haar(&mut xs);
        // Only the coarsest detail (second half minus first) is non-zero.
        assert!(xs[1] > 1.0, "{xs:?}");
        assert!(xs[2..].iter().all(|d| d.abs() < 1e-12), "{xs:?}");
    }

    #[test]
    fn one_feature_vector_per_block_and_levels_on_the_grid() {
        let mut enc = Encoder::new(4, 0.0, 80.0, RangeRule::Clip);
        let out: Vec<_> = (0..40).filter_map(|i| enc.push(f64::from(i))).collect();
        assert_eq!(out.len(), 10);
        assert!(
            out[..WINDOW - 1]
                .iter()
                .all(|f| f.iter().all(|&x| x == 0.0))
        );
        let last = out[9];
        assert!(last.iter().all(|x| (0.0..=1.0).contains(x)), "{last:?}");
        for x in &last[WINDOW..] {
            assert_eq!((x * 80.0).round(), x * 80.0, "{x} is not on the grid");
        }
    }

    #[test]
    fn clip_holds_the_range_and_widen_grows_it() {
        let mut clip = Encoder::new(1, 0.0, 10.0, RangeRule::Clip);
        let mut widen = Encoder::new(1, 0.0, 10.0, RangeRule::Widen);
        assert_eq!(clip.quantise(20.0), 80);
        assert_eq!(widen.quantise(20.0), 80);
        assert_eq!(clip.quantise(10.0), 80);
        assert_eq!(widen.quantise(10.0), 40);
    }
}
