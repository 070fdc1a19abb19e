//! A series' recent past as plain `(unix seconds, value)` points, the input every analysis
//! (forecasts, patterns, recommendation rules) takes.
//!
//! Raw samples are kept only for `retention.raw`, so a long look-back is stitched together:
//! 5-minute rollup averages for the older part, raw samples (the last one per `step`) for the
//! part raw retention still covers. Averages, not last values, for the rollups, because a
//! forecast fits the level and a single sample per bucket would add noise. Only buckets
//! that end before the oldest raw sample are taken, each at its middle: a young series' first
//! bucket is rolled up while its samples are still raw, and read twice, at its start, it would
//! add a point minutes before the series existed and bend every fitted trend.

use std::time::Duration;

use crate::storage::{LatestSample, Reader, Resolution, SeriesFilter, StoreError};

/// Most points one series contributes to an analysis: two weeks at 5 minutes is 4032.
const MAX_POINTS: usize = 20_000;

/// Latest sample of every series named `name` (at most [`crate::api::MAX_SERIES`]).
pub fn latest(reader: &Reader, name: &str) -> Result<Vec<LatestSample>, StoreError> {
    let filter = SeriesFilter {
        names: vec![name.to_owned()],
        target: None,
    };
    Ok(reader.latest(&filter, crate::api::MAX_SERIES)?.0)
}

/// Points of series `id` in `[now - lookback, now]`, ascending, NaN gaps dropped.
pub fn points(
    reader: &Reader,
    id: i64,
    now_ms: i64,
    lookback: Duration,
    raw_retention: Duration,
    step: Duration,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let start = now_ms - lookback.as_millis() as i64;
    let raw_start = start.max(now_ms - raw_retention.as_millis() as i64);
    let step_ms = (step.as_millis() as i64).max(1);
    let (raw, _) = reader.history(
        id,
        raw_start,
        now_ms,
        Some(step_ms),
        Resolution::Raw,
        MAX_POINTS,
    )?;
    let mut out = Vec::new();
    if raw.first().is_none_or(|p| p.ts > start) {
        let rollups_end = reader.rollups_before_raw(id, raw_start, now_ms)?;
        let (rollups, _) = reader.history(
            id,
            start,
            rollups_end - 1,
            None,
            Resolution::Rollup,
            MAX_POINTS,
        )?;
        // A bucket's average stands for its middle, not its start.
        let half_bucket = reader.rollup_step_ms()?.unwrap_or(0) / 2;
        out.extend(
            rollups
                .iter()
                .filter_map(|p| Some(((p.ts + half_bucket) / 1000, p.avg.or(p.value)?))),
        );
    }
    out.extend(raw.iter().filter_map(|p| Some((p.ts / 1000, p.value?))));
    out.retain(|p| p.1.is_finite());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Point, Policy, Store, TargetStatus};

    #[test]
    fn raw_tail_and_rollup_head_are_stitched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(3600),
            rollups: Duration::from_secs(86_400 * 30),
            rollup_step: Duration::from_secs(300),
            grace: Duration::ZERO,
        };
        let mut store = Store::open(&path, policy).expect("open");
        let now = 10 * 3_600_000;
        for i in 0..=600 {
            let ts = i * 60_000;
            let status = TargetStatus::scraped("t", ts, 1);
            let value = if i == 300 { f64::NAN } else { i as f64 };
            store
                .ingest(
                    "t",
                    [Point {
                        name: "m",
                        labels: &[],
                        value,
                        ts_ms: ts,
                    }],
                    &status,
                )
                .expect("ingest");
            // As the scrape loop does: rollups follow ingestion, raw retention trails it.
            store.maintain(ts).expect("maintain");
        }
        let reader = Reader::open(&path).expect("reader");
        let points = points(
            &reader,
            1,
            now,
            Duration::from_secs(10 * 3600),
            Duration::from_secs(3600),
            Duration::from_secs(300),
        )
        .expect("points");
        // Rollups every 5 minutes for 9 hours, then raw 5-minute steps for the last hour.
        assert!(points.len() > 100 && points.len() < 130, "{}", points.len());
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(points.last(), Some(&(36_000, 600.0)));
        assert!(points.iter().all(|p| p.1.is_finite()));
    }

    #[test]
    fn a_young_series_is_not_read_twice_across_its_first_bucket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(48 * 3600),
            rollups: Duration::from_secs(86_400 * 30),
            rollup_step: Duration::from_secs(300),
            grace: Duration::ZERO,
        };
        let mut store = Store::open(&path, policy).expect("open");
        // One sample a second from 10 s before a bucket boundary to 10 s after it.
        for second in 290..=310 {
            let ts = second * 1000;
            let status = TargetStatus::scraped("t", ts, 1);
            let point = Point {
                name: "m",
                labels: &[],
                value: second as f64,
                ts_ms: ts,
            };
            store.ingest("t", [point], &status).expect("ingest");
            store.maintain(ts).expect("maintain");
        }
        let reader = Reader::open(&path).expect("reader");
        let (rolled, _) = reader
            .history(1, 0, 310_000, None, Resolution::Rollup, 10)
            .expect("rollups");
        assert_eq!(rolled.len(), 1, "the first bucket is rolled up: {rolled:?}");
        let points = points(
            &reader,
            1,
            310_000,
            Duration::from_secs(3600),
            Duration::from_secs(48 * 3600),
            Duration::from_secs(1),
        )
        .expect("points");
        let expected: Vec<(i64, f64)> = (290..=310).map(|s| (s, s as f64)).collect();
        assert_eq!(points, expected);
    }
}
