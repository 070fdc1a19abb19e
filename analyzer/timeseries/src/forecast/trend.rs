//! Polynomial trend (a line or a parabola) by ordinary least squares, with
//! what the prediction interval needs: the leverage of a future time.
//!
//! Written here rather than taken from a crate because it is a 3×3 normal
//! system: `linregress` or `nalgebra` would bring a linear-algebra stack
//! into a crate that depends on serde and thiserror only. Times are centred
//! on their mean and scaled to about [-1, 1] before the sums are formed, so
//! the system stays well conditioned for any epoch and history length.

/// A fitted polynomial `c0 + c1·u + c2·u²` of the scaled time
/// `u = (x − centre) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trend {
    centre: f64,
    scale: f64,
    /// Coefficients; `coef[2]` is 0 for a line.
    coef: [f64; 3],
    /// `(XᵀX)⁻¹`, zero outside the fitted degree's block.
    inverse: [[f64; 3]; 3],
    degree: usize,
}

impl Trend {
    /// Least-squares polynomial of `degree` (1 or 2) through `points`
    /// (x, y). Falls back to lower degrees when the times cannot pin the
    /// higher one down (all equal, or only two distinct times for a
    /// parabola), and to a flat mean at worst. `None` for no points.
    pub(super) fn fit(points: &[(f64, f64)], degree: usize) -> Option<Self> {
        let n = points.len() as f64;
        if points.is_empty() {
            return None;
        }
        let centre = points.iter().map(|p| p.0).sum::<f64>() / n;
        let scale = points
            .iter()
            .map(|p| (p.0 - centre).abs())
            .fold(0.0, f64::max);
        let scale = if scale > 0.0 { scale } else { 1.0 };
        (0..=degree.min(2))
            .rev()
            .find_map(|d| Self::solve(points, centre, scale, d))
    }

    fn solve(points: &[(f64, f64)], centre: f64, scale: f64, degree: usize) -> Option<Self> {
        let size = degree + 1;
        let mut xtx = [[0.0; 3]; 3];
        let mut xty = [0.0; 3];
        for &(x, y) in points {
            let f = features((x - centre) / scale);
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
        Some(Self {
            centre,
            scale,
            coef,
            inverse,
            degree,
        })
    }

    /// 1 for a line, 2 for a parabola.
    pub(super) fn degree(&self) -> usize {
        self.degree
    }

    /// Number of fitted coefficients, for the residual degrees of freedom.
    pub(super) fn parameters(&self) -> usize {
        self.degree + 1
    }

    pub(super) fn at(&self, x: f64) -> f64 {
        let f = features((x - self.centre) / self.scale);
        (0..3).map(|i| self.coef[i] * f[i]).sum()
    }

    /// Derivative at `x`, in units of y per unit of x.
    pub(super) fn slope_at(&self, x: f64) -> f64 {
        let u = (x - self.centre) / self.scale;
        (self.coef[1] + 2.0 * self.coef[2] * u) / self.scale
    }

    /// `fᵀ(XᵀX)⁻¹f` at `x`: the variance of the fitted value there in units
    /// of the residual variance. Grows with the distance from the data, as
    /// `u²` for a line and `u⁴` for a parabola, which is what widens the
    /// interval of a curved extrapolation.
    pub(super) fn leverage(&self, x: f64) -> f64 {
        let f = features((x - self.centre) / self.scale);
        let mut sum = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                sum += f[i] * self.inverse[i][j] * f[j];
            }
        }
        sum.max(0.0)
    }

    /// Residual sum of squares over `points`.
    pub(super) fn sse(&self, points: &[(f64, f64)]) -> f64 {
        points.iter().map(|&(x, y)| (y - self.at(x)).powi(2)).sum()
    }
}

fn features(u: f64) -> [f64; 3] {
    [1.0, u, u * u]
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
        assert_eq!(fit.degree(), 2);
        let x = 1.7e9 + 10.0 * 86_400.0;
        assert!((fit.at(x) - 58.0).abs() < 1e-6, "{}", fit.at(x));
        let per_day = fit.slope_at(x) * 86_400.0;
        assert!((per_day - 1.1).abs() < 1e-6, "{per_day}");
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
        assert_eq!(Trend::fit(&two, 2).expect("line").degree(), 1);
        let one = [(5.0, 1.0), (5.0, 3.0)];
        let flat = Trend::fit(&one, 2).expect("mean");
        assert_eq!(flat.degree(), 0);
        assert!((flat.at(9.0) - 2.0).abs() < 1e-12);
        assert_eq!(Trend::fit(&[], 1), None);
    }
}
