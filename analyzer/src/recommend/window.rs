//! What the rules read from the store: latest values by name and label, and windows of raw
//! history reduced to an increase, a minimum or a fitted line.

use std::time::Duration;

use crate::recent;
pub use crate::recent::latest;
use crate::storage::{LatestSample, Reader, StoreError};

pub fn label<'a>(sample: &'a LatestSample, name: &str) -> Option<&'a str> {
    sample.series.labels.get(name).map(String::as_str)
}

/// Raw points of one series over the last `window`: one per 10 s at most, so a 6-hour
/// window stays cheap to read, but at least one per 90th of a shorter window (down to one a
/// second), so a rule asked to judge the last 30 s still sees a line and not three points.
pub fn points(
    reader: &Reader,
    id: i64,
    now_ms: i64,
    window: Duration,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let step = (window / 90).clamp(Duration::from_secs(1), Duration::from_secs(10));
    recent::points(reader, id, now_ms, window, window, step)
}

/// Increase of a counter over the points, counting a drop as a reset (as `increase()`).
pub fn increase(points: &[(i64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| {
            if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            }
        })
        .sum()
}

/// Seconds the points span.
pub fn span(points: &[(i64, f64)]) -> i64 {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0,
    }
}

/// Least-squares slope (per second) and coefficient of determination R².
pub fn line(points: &[(i64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let t0 = points[0].0;
    let x_mean = points.iter().map(|p| (p.0 - t0) as f64).sum::<f64>() / n;
    let y_mean = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(t, y) in points {
        let dx = (t - t0) as f64 - x_mean;
        let dy = y - y_mean;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 {
        return None;
    }
    let r2 = if syy > 0.0 {
        sxy * sxy / (sxx * syy)
    } else {
        0.0
    };
    Some((sxy / sxx, r2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_counts_resets_and_line_fits() {
        assert_eq!(increase(&[(0, 5.0), (1, 8.0), (2, 2.0), (3, 4.0)]), 7.0);
        assert_eq!(increase(&[(0, 5.0)]), 0.0);
        let (slope, r2) = line(&[(0, 1.0), (10, 2.0), (20, 3.0)]).expect("fit");
        assert!((slope - 0.1).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        assert_eq!(line(&[(0, 1.0), (0, 2.0), (0, 3.0)]), None);
        assert_eq!(span(&[(3, 0.0), (10, 0.0)]), 7);
    }
}
