//! Root-cause hints: which other stored series moved with an anomalous one.
//!
//! Over the event's window (plus some history before it, so the coefficient does not rest on
//! a handful of anomalous points) every other stored series is aligned to the anomalous
//! series' sample times and ranked by |Pearson r|. Aligning "as of" each sample time (the
//! candidate's latest value at or before it) lets series from different targets, scraped at
//! different moments, be compared without resampling both onto a grid.
//!
//! Only |r| ≥ `min_abs_r` is reported, so an event without a clear companion gets no hints
//! rather than the least bad of unrelated series.
//!
//! Cumulative series (`*_total` counters, histogram parts) are skipped: they rise with time,
//! so they "correlate" with anything that trends and would crowd out real causes.

use std::collections::BTreeMap;

use average::Covariance;

use crate::storage::{Reader, Resolution, SeriesFilter, SeriesInfo, StoreError};

use super::CorrelationConfig;
use super::events::Correlation;

const CUMULATIVE_SUFFIXES: &[&str] = &["_total", "_bucket", "_count", "_sum", "_created"];

/// Most points read per series for one event (as the API's per-answer cap).
const MAX_POINTS: usize = 11_000;

/// Ranks the stored series by |r| against `subject` over `[start_ms, end_ms]`.
pub fn rank(
    reader: &Reader,
    subject: &SeriesInfo,
    start_ms: i64,
    end_ms: i64,
    config: &CorrelationConfig,
) -> Result<Vec<Correlation>, StoreError> {
    let (points, _) = reader.history(
        subject.id,
        start_ms,
        end_ms,
        None,
        Resolution::Raw,
        MAX_POINTS,
    )?;
    let subject_points: Vec<(i64, f64)> = points
        .iter()
        .filter_map(|p| p.value.filter(|v| v.is_finite()).map(|v| (p.ts, v)))
        .collect();
    if subject_points.len() < config.min_points.max(2) {
        return Ok(Vec::new());
    }
    // A candidate's value is fresh for one typical gap of the subject's own sampling.
    let staleness = median_gap(&subject_points).max(1);
    let (candidates, _) = reader.series(&SeriesFilter::default(), config.max_candidates)?;
    let mut ranked = Vec::new();
    for candidate in candidates {
        if candidate.id == subject.id
            || CUMULATIVE_SUFFIXES
                .iter()
                .any(|s| candidate.name.ends_with(s))
        {
            continue;
        }
        let (points, _) = reader.history(
            candidate.id,
            start_ms - staleness,
            end_ms,
            None,
            Resolution::Raw,
            MAX_POINTS,
        )?;
        let other: Vec<(i64, f64)> = points
            .iter()
            .filter_map(|p| p.value.filter(|v| v.is_finite()).map(|v| (p.ts, v)))
            .collect();
        let cov = as_of_pairs(&subject_points, &other, staleness).collect::<Covariance>();
        let r = cov.pearson();
        if (cov.len() as usize) < config.min_points || !r.is_finite() || r.abs() < config.min_abs_r
        {
            continue;
        }
        ranked.push((r, cov.len() as usize, candidate));
    }
    ranked.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    Ok(ranked
        .into_iter()
        .take(config.top)
        .map(|(r, points, candidate)| Correlation {
            hint: format!(
                "{} correlates with {}, r={r:.2}",
                describe(subject),
                describe(&candidate)
            ),
            target: candidate.target,
            metric: candidate.name,
            labels: candidate.labels,
            r,
            points,
        })
        .collect())
}

/// Pairs each subject point with the other series' latest value no older than `staleness`.
/// Both inputs are in time order.
fn as_of_pairs<'a>(
    subject: &'a [(i64, f64)],
    other: &'a [(i64, f64)],
    staleness: i64,
) -> impl Iterator<Item = (f64, f64)> + 'a {
    let mut next = 0;
    subject.iter().filter_map(move |&(ts, x)| {
        while next < other.len() && other[next].0 <= ts {
            next += 1;
        }
        let (ots, y) = *other.get(next.checked_sub(1)?)?;
        (ts - ots <= staleness).then_some((x, y))
    })
}

fn median_gap(points: &[(i64, f64)]) -> i64 {
    let mut gaps: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(0)
}

/// `name{labels} on target`, the way an operator would write the series.
pub fn describe(series: &SeriesInfo) -> String {
    format!(
        "{}{} on {}",
        series.name,
        format_labels(&series.labels),
        series.target
    )
}

fn format_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_alignment_respects_staleness() {
        let subject = [(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)];
        let other = [(5, 10.0), (19, 20.0), (21, 30.0)];
        let pairs: Vec<_> = as_of_pairs(&subject, &other, 10).collect();
        // ts 40 pairs with nothing: the latest other point (21) is 19 ms old.
        assert_eq!(pairs, [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]);
    }

    #[test]
    fn labels_are_written_like_promql() {
        let series = SeriesInfo {
            id: 1,
            target: "host".into(),
            name: "pulse:process_cpu:rate".into(),
            labels: BTreeMap::from([("groupname".into(), "java".into())]),
        };
        assert_eq!(
            describe(&series),
            "pulse:process_cpu:rate{groupname=\"java\"} on host"
        );
    }
}
