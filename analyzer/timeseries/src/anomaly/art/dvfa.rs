//! Dual-vigilance Fuzzy ART over complement-coded feature vectors.
//!
//! A category is a hyper-box in feature space (its lower corner and the
//! complement of its upper corner). A sample that matches a category at
//! least `rho_ub` well is absorbed into it: the box grows towards the
//! sample by the learning rate, a fraction of the way (see below); one
//! that matches the best category only between `rho_lb` and `rho_ub`
//! becomes a new category of that *cluster*, a variant of something known
//! (committed whole: "fast commit"). Below `rho_lb` nothing known
//! resembles it: a new cluster, which is what the detector reports as a
//! possible anomaly.
//!
//! Why a fraction ("slow recode", Carpenter, Grossberg & Rosen 1991): the
//! match divides by the box's own size, so any sample inside a box
//! matches it at exactly 1. With the box grown all the way to every
//! sample it absorbed, one odd window widened a category for good, and
//! categories that had absorbed thousands of windows became boxes wide
//! enough to hold an anomaly's window too, or not, depending on where the
//! 7-sample blocks happened to fall on it, i.e. on the row the series
//! started at. Grown half-way, a box reaches a sample it sees again and
//! again but not one it saw once.
//!
//! The number of categories is capped, dropping the least recently matched
//! one, so memory per series is bounded: 272 bytes per category (32
//! weights inline, their cached sum and the clock beside them).

use serde::{Deserialize, Serialize};

use super::encoder::{DIM, Features};

/// Match of a sample against "nothing learned": the initial all-ones box
/// matches every complement-coded sample at exactly `0.5³ · 0.5²`.
const EMPTY_MATCH: f64 = 0.031_25;
const EMPTY_ENERGY: f64 = 0.5;

/// How a sample matched what was learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Outcome {
    /// Best match `(|x ∧ w| / |w|)³ · energy²` over all categories.
    pub(super) matched: f64,
    /// Energy similarity of that best category: how close the current level
    /// is to the levels the category covers.
    pub(super) energy: f64,
    /// Nothing matched at `rho_lb`: a new cluster was made.
    pub(super) new_cluster: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Category {
    /// Complement-coded box: `[lower corner; 1 - upper corner]`. Inline
    /// rather than a `Vec` so the match loop walks one contiguous array of
    /// categories instead of chasing a heap pointer per category.
    weights: [f64; 2 * DIM],
    /// `Σ weights`, the box size every match divides by. Every sample is
    /// matched against every category but only the categories it is
    /// absorbed into change, so summing once per change instead of once
    /// per match saves a third of the match loop's arithmetic. It is always
    /// recomputed by [`weight_sum`] from the weights (never adjusted
    /// incrementally) so it equals the sum the match would have computed,
    /// bit for bit.
    size: f64,
    /// Sample count when this category last matched best or learned.
    last_used: u64,
}

impl Category {
    fn new(weights: [f64; 2 * DIM], last_used: u64) -> Self {
        Self {
            size: weight_sum(&weights),
            weights,
            last_used,
        }
    }
}

/// Default fraction of the way a box grows towards a sample it absorbs
/// (see [`super::ArtConfig::learning_rate`]).
pub(super) const LEARNING_RATE: f64 = 0.5;

/// Serde's default for state saved before the learning rate existed.
pub(super) fn default_learning_rate() -> f64 {
    LEARNING_RATE
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Dvfa {
    categories: Vec<Category>,
    max_categories: usize,
    /// Fraction of the way a box grows towards a sample it absorbs.
    #[serde(default = "default_learning_rate")]
    learning_rate: f64,
    samples: u64,
    pub(super) rho_lb: f64,
    pub(super) rho_ub: f64,
}

impl Dvfa {
    pub(super) fn new(max_categories: usize, rho: f64, learning_rate: f64) -> Self {
        Self {
            categories: Vec::new(),
            max_categories: max_categories.max(1),
            learning_rate: learning_rate.clamp(0.0, 1.0),
            samples: 0,
            rho_lb: rho,
            rho_ub: rho,
        }
    }

    /// Matches `x` against every category and, when `learn`, updates the
    /// categories by the dual-vigilance rules.
    pub(super) fn train(&mut self, x: &Features, learn: bool) -> Outcome {
        self.samples += 1;
        let mut sample = [0.0; 2 * DIM];
        for (k, &v) in x.iter().enumerate() {
            sample[k] = v;
            sample[DIM + k] = 1.0 - v;
        }
        let (mut best, mut best_energy, mut best_index) = (EMPTY_MATCH, EMPTY_ENERGY, None);
        let (rho_ub, samples, rate) = (self.rho_ub, self.samples, self.learning_rate);
        // Categories are visited in order, as the first best match wins.
        let mut visit = |j: usize, category: &mut Category, overlap: f64| {
            let (m, energy) = activation(&sample, category, overlap);
            if m > best {
                (best, best_energy, best_index) = (m, energy, Some(j));
            }
            if learn && m >= rho_ub {
                for (w, &s) in category.weights.iter_mut().zip(&sample) {
                    *w = rate * w.min(s) + (1.0 - rate) * *w;
                }
                category.size = weight_sum(&category.weights);
                category.last_used = samples;
            }
        };
        let (blocks, rest) = self.categories.as_chunks_mut::<LANES>();
        let mut j = 0;
        for block in blocks {
            let block_overlaps = overlaps(&sample, block);
            for (category, overlap) in block.iter_mut().zip(block_overlaps) {
                visit(j, category, overlap);
                j += 1;
            }
        }
        for category in rest {
            let [overlap] = overlaps(&sample, std::array::from_ref(category));
            visit(j, category, overlap);
            j += 1;
        }
        if let Some(category) = best_index.and_then(|j| self.categories.get_mut(j)) {
            category.last_used = self.samples;
        }
        let outcome = Outcome {
            matched: best,
            energy: best_energy,
            new_cluster: learn && best < self.rho_lb,
        };
        if learn && best < self.rho_ub {
            self.commit(&sample);
        }
        outcome
    }

    fn commit(&mut self, sample: &[f64; 2 * DIM]) {
        if self.categories.len() >= self.max_categories
            && let Some(oldest) = self
                .categories
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(j, _)| j)
        {
            self.categories.swap_remove(oldest);
        }
        self.categories.push(Category::new(*sample, self.samples));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.categories.len()
    }
}

/// `Σ weights` in index order, the order the match has always summed in:
/// a different order could round differently and change scores.
fn weight_sum(weights: &[f64; 2 * DIM]) -> f64 {
    let mut size = 0.0;
    for &w in weights {
        size += w;
    }
    size
}

/// Categories whose overlaps are summed side by side.
const LANES: usize = 4;

/// `|x ∧ w| = Σ min(x, w)` of the sample with each category of a block.
/// Each sum is a chain of 32 dependent additions in index order (another
/// order could round differently); running the chains of a block's
/// categories interleaved keeps the adder busy instead of waiting for the
/// previous addition of a single chain.
fn overlaps<const L: usize>(sample: &[f64; 2 * DIM], block: &[Category; L]) -> [f64; L] {
    let mut sums = [0.0; L];
    for (k, &s) in sample.iter().enumerate() {
        for (sum, category) in sums.iter_mut().zip(block) {
            *sum += s.min(category.weights[k]);
        }
    }
    sums
}

/// Match of a complement-coded sample against a category whose overlap
/// with it is `overlap`, and the energy similarity (the level part of it):
/// the last level and its complement.
fn activation(sample: &[f64; 2 * DIM], category: &Category, overlap: f64) -> (f64, f64) {
    let weights = &category.weights;
    let size = if category.size == 0.0 {
        0.001
    } else {
        category.size
    };
    let features = overlap / size;
    let (last, last_c) = (DIM - 1, 2 * DIM - 1);
    let (ws, wc) = (weights[last], weights[last_c]);
    let energy_size = ws + wc;
    let energy = if energy_size > 0.0 {
        (sample[last].min(ws) + sample[last_c].min(wc)) / energy_size
    } else {
        0.0
    };
    (features.powi(3) * energy * energy, energy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(level: f64) -> Features {
        let mut f = [0.0; DIM];
        f[DIM - 1] = level;
        f
    }

    #[test]
    fn a_sample_matches_its_own_category_fully() {
        let mut art = Dvfa::new(8, 0.9, LEARNING_RATE);
        let first = art.train(&features(0.5), true);
        assert!(first.new_cluster);
        let again = art.train(&features(0.5), true);
        assert!(!again.new_cluster);
        assert!((again.matched - 1.0).abs() < 1e-12, "{again:?}");
        assert_eq!(art.len(), 1);
    }

    #[test]
    fn cached_sizes_and_blocked_overlaps_equal_direct_sums() {
        let mut art = Dvfa::new(64, 0.9, LEARNING_RATE);
        let mut x = 3_u64;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        // Jittered visits to a few shapes: new categories, and learning
        // that shrinks the boxes of existing ones.
        let shapes: Vec<Features> = (0..6).map(|_| std::array::from_fn(|_| next())).collect();
        for i in 0..300 {
            let f: Features = std::array::from_fn(|k| shapes[i % 6][k] + 0.01 * next());
            art.train(&f, true);
        }
        assert!(
            art.len() > LANES + 1,
            "blocks and a remainder: {}",
            art.len()
        );
        let sample: [f64; 2 * DIM] = std::array::from_fn(|_| next());
        let direct = |w: &[f64; 2 * DIM]| -> f64 {
            sample
                .iter()
                .zip(w)
                .map(|(s, w)| s.min(*w))
                .fold(0.0, |a, b| a + b)
        };
        for c in &art.categories {
            assert_eq!(
                c.size.to_bits(),
                c.weights.iter().fold(0.0, |a: f64, b| a + b).to_bits()
            );
        }
        let (blocks, _) = art.categories.as_chunks::<LANES>();
        for block in blocks {
            for (c, overlap) in block.iter().zip(overlaps(&sample, block)) {
                assert_eq!(overlap.to_bits(), direct(&c.weights).to_bits());
            }
        }
    }

    #[test]
    fn a_box_grows_part_way_to_a_sample_seen_once_and_all_the_way_to_one_seen_often() {
        // At 0.3 the sample at level 0.9 (match 0.33 against the box of
        // 0.5) is absorbed into the one category.
        let outlier = |rate: f64| {
            let mut art = Dvfa::new(8, 0.3, rate);
            art.train(&features(0.5), true);
            art.train(&features(0.9), true);
            assert_eq!(art.len(), 1);
            art
        };
        // Grown all the way, the box holds the outlier: matched perfectly.
        let fast = outlier(1.0).train(&features(0.9), false).matched;
        assert!((fast - 1.0).abs() < 1e-12, "{fast}");
        // Half-way, it reaches 0.7, and 0.9 is still outside.
        let mut art = outlier(LEARNING_RATE);
        let once = art.train(&features(0.9), false).matched;
        assert!(once < 0.6, "{once}");
        // Seen again and again, it is learned.
        for _ in 0..30 {
            art.train(&features(0.9), true);
        }
        let often = art.train(&features(0.9), false).matched;
        assert!(often > 0.999, "{often}");
        assert_eq!(art.len(), 1);
    }

    #[test]
    fn between_the_vigilances_a_new_category_but_no_new_cluster() {
        let mut art = Dvfa::new(8, 0.0, LEARNING_RATE);
        art.rho_lb = 0.3;
        art.rho_ub = 0.99;
        art.train(&features(0.5), true);
        let near = art.train(&features(0.4), true);
        assert!(near.matched > 0.3 && near.matched < 0.99, "{near:?}");
        assert!(!near.new_cluster);
        assert_eq!(art.len(), 2);
    }

    #[test]
    fn the_least_recently_matched_category_is_dropped_at_the_cap() {
        let mut art = Dvfa::new(2, 0.999, LEARNING_RATE);
        art.train(&features(0.0), true);
        art.train(&features(1.0), true);
        art.train(&features(0.0), true); // refreshes the first
        art.train(&features(0.5), true); // evicts the second
        assert_eq!(art.len(), 2);
        assert!(!art.train(&features(0.0), false).new_cluster);
        let far = art.train(&features(1.0), true);
        assert!(far.new_cluster, "{far:?}");
    }
}
