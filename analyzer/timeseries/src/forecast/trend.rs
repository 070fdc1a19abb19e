//! Polynomial trend (a line or a parabola) by ordinary least squares, with
//! what the prediction interval needs: the leverage of a future time.
//!
//! Written here rather than taken from a crate because it is a 3×3 normal
//! system: `linregress` or `nalgebra` would bring a linear-algebra stack
//! into a crate that depends on serde and thiserror only. Times are centred
//! on their mean and scaled to about [-1, 1] before the sums are formed, so
//! the system stays well conditioned for any epoch and history length.

/// The form of a trend in the scaled time `u = (x − centre) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// `c0 + c1·u + c2·u²` up to the degree (0, 1 or 2).
    Polynomial(usize),
    /// `c0 + c1·e^(r·u)`: growth that compounds (r > 0) or levels off
    /// (r < 0) at a constant relative rate.
    Exponential(f64),
}

impl Shape {
    fn features(self, u: f64) -> [f64; 3] {
        match self {
            Self::Polynomial(_) => [1.0, u, u * u],
            // Clamped so that a far horizon gives a huge value, not +inf
            // (inf − inf would turn the interval into NaN).
            Self::Exponential(r) => [1.0, (r * u).clamp(-700.0, 700.0).exp(), 0.0],
        }
    }

    /// Number of linear coefficients.
    fn size(self) -> usize {
        match self {
            Self::Polynomial(degree) => degree.min(2) + 1,
            Self::Exponential(_) => 2,
        }
    }
}

/// A fitted trend: linear coefficients over the features of its shape.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trend {
    centre: f64,
    scale: f64,
    shape: Shape,
    /// Coefficients, 0 beyond the shape's size.
    coef: [f64; 3],
    /// `(XᵀX)⁻¹`, zero outside the shape's block.
    inverse: [[f64; 3]; 3],
}

impl Trend {
    /// Least-squares polynomial of `degree` (1 or 2) through `points`
    /// (x, y). Falls back to lower degrees when the times cannot pin the
    /// higher one down (all equal, or only two distinct times for a
    /// parabola), and to a flat mean at worst. `None` for no points.
    pub(super) fn fit(points: &[(f64, f64)], degree: usize) -> Option<Self> {
        let (centre, scale) = centre_and_scale(points)?;
        (0..=degree.min(2))
            .rev()
            .find_map(|d| Self::solve(points, centre, scale, Shape::Polynomial(d)))
            .map(|(trend, _)| trend)
    }

    /// Least-squares `c0 + c1·e^(r·u)` through `points`: for each rate
    /// the rest is linear, so the rate is searched on a grid over
    /// e^-8 .. e^8 of change across the data and refined by golden-section
    /// search (variable projection). `None` when no rate gives a
    /// well-posed fit (fewer than two distinct times).
    pub(super) fn fit_exponential(points: &[(f64, f64)]) -> Option<Self> {
        const GRID: f64 = 0.5;
        let (centre, scale) = centre_and_scale(points)?;
        let fit = |r: f64| Self::solve(points, centre, scale, Shape::Exponential(r));
        let sse = |r: f64| fit(r).map_or(f64::INFINITY, |(_, sse)| sse);
        let best = (-16..=16)
            .filter(|&k| k != 0)
            .map(|k| f64::from(k) * GRID)
            .map(|r| (r, sse(r)))
            .filter(|p| p.1.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        // Golden-section search, one new evaluation per step; 30 steps
        // narrow the bracket to 1e-6 of a unit of rate.
        let golden = (5f64.sqrt() - 1.0) / 2.0;
        let (mut lo, mut hi) = (best - GRID, best + GRID);
        let (mut a, mut b) = (hi - golden * (hi - lo), lo + golden * (hi - lo));
        let (mut fa, mut fb) = (sse(a), sse(b));
        for _ in 0..30 {
            if fa <= fb {
                (hi, b, fb) = (b, a, fa);
                a = hi - golden * (hi - lo);
                fa = sse(a);
            } else {
                (lo, a, fa) = (a, b, fb);
                b = lo + golden * (hi - lo);
                fb = sse(b);
            }
        }
        let r = (lo + hi) / 2.0;
        if r.abs() < 1e-3 {
            return None;
        }
        let (mut trend, _) = fit(r)?;
        // The interval must carry the uncertainty of the rate too: the
        // usual nonlinear least-squares (Gauss–Newton) covariance, with the
        // derivative by the rate as a third column.
        let mut jtj = [[0.0; 3]; 3];
        for &(x, _) in points {
            let g = trend.gradient((x - centre) / scale);
            for i in 0..3 {
                for j in 0..3 {
                    jtj[i][j] += g[i] * g[j];
                }
            }
        }
        trend.inverse = invert(jtj, 3)?;
        Some(trend)
    }

    /// The least-squares coefficients for `shape`, with the residual sum of
    /// squares from the normal equations (`yᵀy − cᵀXᵀy`), so that a search
    /// over shapes needs one pass over the points per candidate.
    fn solve(points: &[(f64, f64)], centre: f64, scale: f64, shape: Shape) -> Option<(Self, f64)> {
        let size = shape.size();
        let mut xtx = [[0.0; 3]; 3];
        let mut xty = [0.0; 3];
        let mut yy = 0.0;
        for &(x, y) in points {
            let f = shape.features((x - centre) / scale);
            yy += y * y;
            for i in 0..size {
                xty[i] += f[i] * y;
                for j in 0..size {
                    xtx[i][j] += f[i] * f[j];
                }
            }
        }
        let inverse = invert(xtx, size)?;
        let mut coef = [0.0; 3];
        for (i, c) in coef.iter_mut().enumerate().take(size) {
            *c = (0..size).map(|j| inverse[i][j] * xty[j]).sum();
        }
        let explained: f64 = (0..size).map(|i| coef[i] * xty[i]).sum();
        let trend = Self {
            centre,
            scale,
            shape,
            coef,
            inverse,
        };
        Some((trend, (yy - explained).max(0.0)))
    }

    pub(super) fn shape(&self) -> Shape {
        self.shape
    }

    /// Number of fitted parameters, for the residual degrees of freedom
    /// (an exponential's rate counts).
    pub(super) fn parameters(&self) -> usize {
        match self.shape {
            Shape::Polynomial(_) => self.shape.size(),
            Shape::Exponential(_) => 3,
        }
    }

    pub(super) fn at(&self, x: f64) -> f64 {
        let f = self.shape.features((x - self.centre) / self.scale);
        (0..3).map(|i| self.coef[i] * f[i]).sum()
    }

    /// Derivative at `x`, in units of y per unit of x.
    pub(super) fn slope_at(&self, x: f64) -> f64 {
        let u = (x - self.centre) / self.scale;
        let per_u = match self.shape {
            Shape::Polynomial(_) => self.coef[1] + 2.0 * self.coef[2] * u,
            Shape::Exponential(r) => self.coef[1] * r * (r * u).clamp(-700.0, 700.0).exp(),
        };
        per_u / self.scale
    }

    /// Derivatives of the fitted value by the parameters at scaled time
    /// `u`: the features for a polynomial, and for an exponential also the
    /// derivative by its rate, `c1·u·e^(r·u)`.
    fn gradient(&self, u: f64) -> [f64; 3] {
        let f = self.shape.features(u);
        match self.shape {
            Shape::Polynomial(_) => f,
            Shape::Exponential(_) => [f[0], f[1], self.coef[1] * u * f[1]],
        }
    }

    /// `gᵀ(JᵀJ)⁻¹g` at `x` (g: [`Self::gradient`]): the variance of the
    /// fitted value there in units of the residual variance. Grows with
    /// the distance from the data, as `u²` for a line, `u⁴` for a parabola
    /// and `u²·e^(2r·u)` for an exponential, which is what widens the
    /// interval of a curved extrapolation.
    pub(super) fn leverage(&self, x: f64) -> f64 {
        let f = self.gradient((x - self.centre) / self.scale);
        let mut sum = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                sum += f[i] * self.inverse[i][j] * f[j];
            }
        }
        // Far out on an exponential the terms overflow, and `inf - inf` is
        // NaN: the interval is then unbounded, not collapsed to the noise.
        if sum.is_nan() {
            f64::INFINITY
        } else {
            sum.max(0.0)
        }
    }

    /// Residual sum of squares over `points`.
    pub(super) fn sse(&self, points: &[(f64, f64)]) -> f64 {
        points.iter().map(|&(x, y)| (y - self.at(x)).powi(2)).sum()
    }
}

/// Mean of the times and their largest distance from it (1 when all are
/// equal), so that the scaled times lie in [-1, 1].
fn centre_and_scale(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.is_empty() {
        return None;
    }
    let centre = points.iter().map(|p| p.0).sum::<f64>() / points.len() as f64;
    let scale = points
        .iter()
        .map(|p| (p.0 - centre).abs())
        .fold(0.0, f64::max);
    Some((centre, if scale > 0.0 { scale } else { 1.0 }))
}

/// Inverse of the leading `size`×`size` block by Gauss–Jordan elimination
/// with partial pivoting; `None` when it is (numerically) singular.
fn invert(matrix: [[f64; 3]; 3], size: usize) -> Option<[[f64; 3]; 3]> {
    let mut a = matrix;
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate().take(size) {
        row[i] = 1.0;
    }
    let norm = (0..size).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    for col in 0..size {
        let pivot = (col..size).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() <= norm * 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for j in 0..size {
            a[col][j] /= p;
            inv[col][j] /= p;
        }
        for row in 0..size {
            if row != col {
                let factor = a[row][col];
                for j in 0..size {
                    a[row][j] -= factor * a[col][j];
                    inv[row][j] -= factor * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parabola_is_recovered_with_its_slope() {
        let points: Vec<_> = (0..50)
            .map(|i| {
                let x = 1.7e9 + i as f64 * 300.0;
                let d = (x - 1.7e9) / 86_400.0;
                (x, 50.0 + 0.5 * d + 0.03 * d * d)
            })
            .collect();
        let fit = Trend::fit(&points, 2).expect("fit");
        assert_eq!(fit.shape(), Shape::Polynomial(2));
        let x = 1.7e9 + 10.0 * 86_400.0;
        assert!((fit.at(x) - 58.0).abs() < 1e-6, "{}", fit.at(x));
        let per_day = fit.slope_at(x) * 86_400.0;
        assert!((per_day - 1.1).abs() < 1e-6, "{per_day}");
    }

    #[test]
    fn an_exponential_is_recovered_with_its_rate() {
        for growth in [1.1f64, 0.9] {
            let points: Vec<_> = (0..400)
                .map(|i| {
                    let d = i as f64 / 24.0;
                    (d * 86_400.0, 45.0 + 5.0 * growth.powf(d))
                })
                .collect();
            let fit = Trend::fit_exponential(&points).expect("fit");
            assert!(matches!(fit.shape(), Shape::Exponential(_)));
            let x = 20.0 * 86_400.0;
            let truth = 45.0 + 5.0 * growth.powf(20.0);
            assert!((fit.at(x) - truth).abs() < 1e-3, "{growth}: {}", fit.at(x));
        }
    }

    #[test]
    fn line_leverage_is_the_classic_ols_term() {
        let points: Vec<_> = (0..10).map(|i| (i as f64, 2.0 * i as f64)).collect();
        let fit = Trend::fit(&points, 1).expect("fit");
        // 1/n + (x − x̄)² / Sxx with x̄ = 4.5, Sxx = 82.5.
        let expected = 0.1 + (20.0f64 - 4.5).powi(2) / 82.5;
        assert!((fit.leverage(20.0) - expected).abs() < 1e-9);
        assert!((fit.slope_at(3.0) - 2.0).abs() < 1e-12);
        assert!(fit.sse(&points) < 1e-18);
    }

    #[test]
    fn too_few_distinct_times_fall_back_to_lower_degrees() {
        let two = [(0.0, 1.0), (1.0, 3.0), (1.0, 3.0)];
        assert_eq!(
            Trend::fit(&two, 2).expect("line").shape(),
            Shape::Polynomial(1)
        );
        let one = [(5.0, 1.0), (5.0, 3.0)];
        let flat = Trend::fit(&one, 2).expect("mean");
        assert_eq!(flat.shape(), Shape::Polynomial(0));
        assert!((flat.at(9.0) - 2.0).abs() < 1e-12);
        assert_eq!(Trend::fit(&[], 1), None);
    }
}
