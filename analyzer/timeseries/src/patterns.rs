//! Workload patterns: does a series follow a daily or weekly rhythm, and
//! at which hours does it peak?
//!
//! The series is averaged per hour and detrended (a least-squares line),
//! then the autocorrelation at a lag of one day and one week says whether
//! the rhythm is there: the classic correlogram test, cheap and with no
//! model to fit. A weekly rhythm (weekdays busier than weekends) shows as a
//! week-lag correlation clearly above the day-lag one; a purely daily
//! rhythm correlates equally at both. Peak hours come from the mean
//! detrended value per hour of the day (UTC), so they are meaningful only
//! when a daily rhythm was found.

use serde::Serialize;

const HOUR: i64 = 3600;
const DAY_LAG: usize = 24;
const WEEK_LAG: usize = 168;
/// Autocorrelation above which a rhythm counts as present.
const MIN_CORRELATION: f64 = 0.3;
/// How much more the week lag must correlate than the day lag for a
/// weekly rhythm of its own.
const WEEKLY_MARGIN: f64 = 0.1;

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    /// Hours of data (hourly means) the answer rests on.
    pub hours: usize,
    /// Autocorrelation at a lag of 24 h, `None` with under 2 days of data.
    pub daily_correlation: Option<f64>,
    /// Autocorrelation at a lag of 168 h, `None` with under 2 weeks.
    pub weekly_correlation: Option<f64>,
    pub daily: bool,
    pub weekly: bool,
    /// Hours of the day (UTC, 0–23) with the highest mean, busiest first;
    /// empty without a daily rhythm.
    pub peak_hours: Vec<u8>,
    /// Hour of the day (UTC) with the lowest mean, when daily.
    pub quietest_hour: Option<u8>,
    /// Mean detrended value per hour of the day (UTC), relative to the
    /// overall mean.
    pub hourly_profile: Vec<f64>,
}

/// Finds the daily/weekly rhythm of `points` (unix seconds, value).
pub fn detect(points: &[(i64, f64)]) -> Pattern {
    let hourly = hourly_means(points);
    let hours = hourly.iter().filter(|v| v.is_some()).count();
    let detrended = detrend(&hourly);
    let daily_correlation =
        (hourly.len() >= 2 * DAY_LAG).then(|| autocorrelation(&detrended, DAY_LAG));
    let weekly_correlation =
        (hourly.len() >= 2 * WEEK_LAG).then(|| autocorrelation(&detrended, WEEK_LAG));
    let daily = daily_correlation.is_some_and(|c| c >= MIN_CORRELATION);
    let weekly = weekly_correlation.is_some_and(|w| {
        w >= MIN_CORRELATION && w >= daily_correlation.unwrap_or(0.0) + WEEKLY_MARGIN
    });
    let first_hour = points
        .iter()
        .map(|p| p.0)
        .min()
        .unwrap_or(0)
        .div_euclid(HOUR);
    let mut sums = [(0.0, 0u32); 24];
    for (i, v) in detrended.iter().enumerate() {
        if let Some(v) = v {
            let hour = (first_hour + i as i64).rem_euclid(24) as usize;
            sums[hour].0 += v;
            sums[hour].1 += 1;
        }
    }
    let hourly_profile: Vec<f64> = sums
        .iter()
        .map(|&(s, n)| if n > 0 { s / f64::from(n) } else { 0.0 })
        .collect();
    let mut order: Vec<u8> = (0..24).collect();
    order.sort_by(|&a, &b| {
        hourly_profile[usize::from(b)].total_cmp(&hourly_profile[usize::from(a)])
    });
    let (peak_hours, quietest_hour) = if daily {
        (order[..3].to_vec(), order.last().copied())
    } else {
        (Vec::new(), None)
    };
    Pattern {
        hours,
        daily_correlation,
        weekly_correlation,
        daily,
        weekly,
        peak_hours,
        quietest_hour,
        hourly_profile,
    }
}

/// One slot per hour from the first to the last point; `None` for hours
/// without data (the analyzer was down), which the correlation skips.
fn hourly_means(points: &[(i64, f64)]) -> Vec<Option<f64>> {
    let finite = points.iter().filter(|p| p.1.is_finite());
    let (Some(first), Some(last)) = (
        finite.clone().map(|p| p.0.div_euclid(HOUR)).min(),
        finite.clone().map(|p| p.0.div_euclid(HOUR)).max(),
    ) else {
        return Vec::new();
    };
    let mut sums = vec![(0.0, 0u32); (last - first + 1) as usize];
    for &(t, v) in finite {
        let slot = &mut sums[(t.div_euclid(HOUR) - first) as usize];
        slot.0 += v;
        slot.1 += 1;
    }
    sums.into_iter()
        .map(|(s, n)| (n > 0).then(|| s / f64::from(n)))
        .collect()
}

/// Residuals of the least-squares line through the present hours.
fn detrend(hourly: &[Option<f64>]) -> Vec<Option<f64>> {
    let present: Vec<(f64, f64)> = hourly
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
        .collect();
    let n = present.len().max(1) as f64;
    let x_mean = present.iter().map(|p| p.0).sum::<f64>() / n;
    let y_mean = present.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(x, y) in &present {
        sxy += (x - x_mean) * (y - y_mean);
        sxx += (x - x_mean).powi(2);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    hourly
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|v| v - y_mean - slope * (i as f64 - x_mean)))
        .collect()
}

/// Sample autocorrelation at `lag` over the pairs where both hours exist
/// (the series is already centred by [`detrend`]).
fn autocorrelation(series: &[Option<f64>], lag: usize) -> f64 {
    let variance: f64 = series.iter().flatten().map(|v| v * v).sum();
    let count = series.iter().flatten().count();
    let (mut products, mut pairs) = (0.0, 0usize);
    for (a, b) in series.iter().zip(series.iter().skip(lag)) {
        if let (Some(a), Some(b)) = (a, b) {
            products += a * b;
            pairs += 1;
        }
    }
    if variance <= 0.0 || pairs == 0 {
        return 0.0;
    }
    // Normalise per pair so that gaps do not shrink the estimate.
    (products / pairs as f64) / (variance / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// splitmix64: deterministic noise without the lattice structure of a
    /// bare multiplicative hash, which hourly averaging would turn into a
    /// fake rhythm.
    fn noise(i: i64) -> f64 {
        let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }

    fn series(days: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
        (0..days * 288)
            .map(|i| (i * 300, f(i * 300) + noise(i)))
            .collect()
    }

    /// Busy office hours: a bump centred on 14:00 UTC.
    fn office(t: i64) -> f64 {
        let hour = (t % DAY) as f64 / 3600.0;
        10.0 * (-((hour - 14.0) / 3.0).powi(2)).exp()
    }

    #[test]
    fn daily_rhythm_and_its_peak_hours() {
        let p = detect(&series(7, |t| 100.0 + t as f64 / DAY as f64 + office(t)));
        assert!(p.daily, "{p:?}");
        assert!(!p.weekly, "{p:?}");
        assert_eq!(p.peak_hours.first(), Some(&14), "{p:?}");
        assert!(p.peak_hours.iter().all(|h| (13..=15).contains(h)), "{p:?}");
        let quiet = p.quietest_hour.expect("daily");
        assert!(!(8..=20).contains(&quiet), "{p:?}");
    }

    #[test]
    fn weekdays_busier_than_weekends_is_weekly() {
        // 1970-01-01 was a Thursday: days 2 and 3 of each week are the weekend.
        let p = detect(&series(28, |t| {
            let weekend = matches!((t / DAY) % 7, 2 | 3);
            if weekend { 5.0 } else { 5.0 + office(t) }
        }));
        assert!(p.daily && p.weekly, "{p:?}");
    }

    #[test]
    fn noise_and_short_series_have_no_rhythm() {
        let p = detect(&series(14, |_| 50.0));
        assert!(!p.daily && !p.weekly, "{p:?}");
        assert!(p.peak_hours.is_empty());
        let short = detect(&series(1, office));
        assert_eq!(short.daily_correlation, None);
        assert!(!short.daily);
        assert!(detect(&[]).hourly_profile.iter().all(|v| *v == 0.0));
    }
}
