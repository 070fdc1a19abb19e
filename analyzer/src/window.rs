//! Per-series summaries of a time window, the common input of `check`, `report` and
//! `suggest-rules`.
//!
//! Raw samples are read where they still exist, and the part of the window before a series'
//! oldest raw sample is read from its rollups (count-weighted average, min of min, max of
//! max), so a week-long report covers the whole week with 48 hours of raw retention. Only
//! rollup buckets that end before the oldest raw sample are read
//! ([`Reader::rollups_before_raw`]); retention drops raw samples a bucket at a time, so
//! nothing is counted twice or left out.

use rusqlite::{OptionalExtension, params};

use crate::storage::{Reader, SeriesInfo, StoreError};

/// One series over `[start, end]`.
#[derive(Debug, Clone)]
pub struct Summary {
    pub series: SeriesInfo,
    /// Samples (raw, plus those behind the rollups).
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    /// Oldest and newest `(ts, value)`; from rollups, the oldest bucket's minimum and the
    /// newest bucket's last value, which for a counter bound its increase.
    pub first: (i64, f64),
    pub last: (i64, f64),
}

impl Summary {
    /// How people name the series: its target, then the values of `keys` (e.g. the
    /// mountpoint or the process group) where the series has them.
    pub fn name(&self, keys: &[&str]) -> String {
        let mut out = self.series.target.clone();
        for key in keys {
            if let Some(v) = self.series.labels.get(*key) {
                out.push(' ');
                out.push_str(v);
            }
        }
        out
    }

    /// Per-second increase of a counter over the window; `None` with fewer than two points.
    /// A reset inside the window makes the difference negative and is clamped to zero.
    pub fn rate(&self) -> Option<f64> {
        let seconds = (self.last.0 - self.first.0) as f64 / 1000.0;
        (seconds > 0.0).then(|| ((self.last.1 - self.first.1) / seconds).max(0.0))
    }
}

/// Aggregates of one table's rows: count, min, max, sum, first ts, last ts.
#[derive(Debug, Clone, Copy)]
struct Part {
    count: i64,
    min: f64,
    max: f64,
    sum: f64,
    first_ts: i64,
    last_ts: i64,
}

fn series_ids(reader: &Reader, names: &[&str]) -> Result<Vec<SeriesInfo>, StoreError> {
    let conn = reader.connection();
    let mut stmt =
        conn.prepare_cached("SELECT id, target, name, labels FROM series WHERE name = ?1")?;
    let mut out = Vec::new();
    for name in names {
        let rows = stmt.query_map([name], |r| {
            let labels: String = r.get(3)?;
            Ok(SeriesInfo {
                id: r.get(0)?,
                target: r.get(1)?,
                name: r.get(2)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    out.sort_by(|a, b| (&a.name, &a.target, &a.labels).cmp(&(&b.name, &b.target, &b.labels)));
    Ok(out)
}

fn part(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Part>> {
    let count: Option<i64> = row.get(0)?;
    Ok(
        match (
            count,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        ) {
            (Some(count), Some(min), Some(max), Some(sum), Some(first_ts), Some(last_ts))
                if count > 0 =>
            {
                Some(Part {
                    count,
                    min,
                    max,
                    sum,
                    first_ts,
                    last_ts,
                })
            }
            _ => None,
        },
    )
}

/// Summaries of every series named in `names` that has data in `[start, end]` (NaN samples,
/// stored as NULL, are skipped), ordered by name, target and labels.
pub fn summarise(
    reader: &Reader,
    names: &[&str],
    start: i64,
    end: i64,
) -> Result<Vec<Summary>, StoreError> {
    let conn = reader.connection();
    let mut raw = conn.prepare_cached(
        "SELECT count(value), min(value), max(value), sum(value), min(ts), max(ts)
         FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND value IS NOT NULL",
    )?;
    let mut raw_value = conn.prepare_cached(
        "SELECT value FROM samples WHERE series_id = ?1 AND ts = ?2 AND value IS NOT NULL",
    )?;
    let mut rolled = conn.prepare_cached(
        "SELECT sum(count), min(min), max(max), sum(avg * count), min(ts), max(ts)
         FROM rollups WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3 AND avg IS NOT NULL",
    )?;
    let mut rollup_value =
        conn.prepare_cached("SELECT min, last FROM rollups WHERE series_id = ?1 AND ts = ?2")?;
    let mut out = Vec::new();
    for series in series_ids(reader, names)? {
        let rollups_end = reader.rollups_before_raw(series.id, start, end)?;
        let recent = raw.query_row(params![series.id, start, end], part)?;
        let older = rolled.query_row(params![series.id, start, rollups_end], part)?;
        let value_at = |stmt: &mut rusqlite::CachedStatement<'_>, ts: i64| {
            stmt.query_row(params![series.id, ts], |r| r.get::<_, f64>(0))
                .optional()
        };
        let (first, last) = match (older, recent) {
            (None, None) => continue,
            (Some(o), None) => {
                let (min, _): (Option<f64>, Option<f64>) = rollup_value
                    .query_row(params![series.id, o.first_ts], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                let (_, last): (Option<f64>, Option<f64>) = rollup_value
                    .query_row(params![series.id, o.last_ts], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                (
                    (o.first_ts, min.unwrap_or(o.min)),
                    (o.last_ts, last.unwrap_or(o.max)),
                )
            }
            (older, Some(r)) => {
                let last = value_at(&mut raw_value, r.last_ts)?.unwrap_or(r.max);
                let first = match older {
                    Some(o) => {
                        let (min, _): (Option<f64>, Option<f64>) = rollup_value
                            .query_row(params![series.id, o.first_ts], |row| {
                                Ok((row.get(0)?, row.get(1)?))
                            })?;
                        (o.first_ts, min.unwrap_or(o.min))
                    }
                    None => (
                        r.first_ts,
                        value_at(&mut raw_value, r.first_ts)?.unwrap_or(r.min),
                    ),
                };
                (first, (r.last_ts, last))
            }
        };
        let parts = [older, recent];
        let parts = parts.iter().flatten();
        let count: i64 = parts.clone().map(|p| p.count).sum();
        let sum: f64 = parts.clone().map(|p| p.sum).sum();
        out.push(Summary {
            series,
            count: count as u64,
            min: parts.clone().map(|p| p.min).fold(f64::INFINITY, f64::min),
            max: parts.map(|p| p.max).fold(f64::NEG_INFINITY, f64::max),
            avg: sum / count as f64,
            first,
            last,
        });
    }
    Ok(out)
}

/// The `(ts, value)` points of one series in `[start, end]`: rollup maxima before its oldest
/// raw sample (so percentiles over long periods err on the high side, as thresholds should),
/// then the raw samples.
pub fn values(
    reader: &Reader,
    id: i64,
    start: i64,
    end: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let rollups_end = reader.rollups_before_raw(id, start, end)?;
    let conn = reader.connection();
    let collect = |sql: &str, to: i64| -> Result<Vec<(i64, f64)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id, start, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let mut out = collect(
        "SELECT ts, max FROM rollups WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3
         AND max IS NOT NULL ORDER BY ts",
        rollups_end,
    )?;
    out.extend(collect(
        "SELECT ts, value FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
         AND value IS NOT NULL ORDER BY ts",
        end,
    )?);
    Ok(out)
}

/// Average of one series per `step`-wide bucket in `[start, end]`, as `(bucket start, avg)`:
/// rollups (count-weighted) before its oldest raw sample, raw samples after. The chart input:
/// a fixed number of points whatever the period.
pub fn buckets(
    reader: &Reader,
    id: i64,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let rollups_end = reader.rollups_before_raw(id, start, end)?;
    let conn = reader.connection();
    // (bucket, sum, count) so a bucket holding both rollups and raw samples merges exactly.
    let collect = |sql: &str, to: i64| -> Result<Vec<(i64, f64, f64)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id, start, to, step.max(1)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let mut merged: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    let older = collect(
        "SELECT ?2 + ((ts - ?2) / ?4) * ?4 AS bucket, sum(avg * count), sum(count) FROM rollups
         WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3 AND avg IS NOT NULL GROUP BY bucket",
        rollups_end,
    )?;
    let recent = collect(
        "SELECT ?2 + ((ts - ?2) / ?4) * ?4 AS bucket, sum(value), count(value) FROM samples
         WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND value IS NOT NULL GROUP BY bucket",
        end,
    )?;
    for (bucket, sum, count) in older.into_iter().chain(recent) {
        let entry = merged.entry(bucket).or_default();
        entry.0 += sum;
        entry.1 += count;
    }
    Ok(merged
        .into_iter()
        .filter(|(_, (_, count))| *count > 0.0)
        .map(|(bucket, (sum, count))| (bucket, sum / count))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Point, Policy, Store, TargetStatus};
    use std::time::Duration;

    #[test]
    fn window_spans_rollups_and_raw_samples_without_double_counting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(3600),
            rollups: Duration::from_secs(30 * 86_400),
            rollup_step: Duration::from_secs(300),
            grace: Duration::from_secs(0),
        };
        let mut store = Store::open(&path, policy).unwrap();
        // A multiple of the 5-minute rollup step.
        let base: i64 = 1_800_000_000_000;
        // Three hours of one sample a minute, valued 0, 1, 2, ...
        for i in 0..180 {
            let ts = base + i * 60_000;
            let status = TargetStatus::scraped("t", ts, 1);
            let point = Point {
                name: "m",
                labels: &[],
                value: i as f64,
                ts_ms: ts,
            };
            store.ingest("t", [point], &status).unwrap();
            // As the scrape loop does: rollups and retention follow ingestion.
            store.maintain(ts + 60_000).unwrap();
        }
        let now = base + 180 * 60_000;
        let reader = Reader::open(&path).unwrap();
        let raw_left: i64 = reader
            .connection()
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw_left, 60, "retention kept the last hour raw");

        let summary = &summarise(&reader, &["m"], base, now).unwrap()[0];
        assert_eq!(summary.count, 180);
        assert_eq!(summary.avg, 89.5);
        assert_eq!((summary.min, summary.max), (0.0, 179.0));
        assert_eq!(summary.first, (base, 0.0));
        assert_eq!(summary.last, (base + 179 * 60_000, 179.0));
        assert_eq!(summary.rate(), Some(1.0 / 60.0));

        let values = values(&reader, summary.series.id, base, now).unwrap();
        assert_eq!(
            values.len(),
            24 + 60,
            "24 older 5-minute maxima, then the raw hour"
        );
        assert_eq!(values[0], (base, 4.0));

        let points = buckets(&reader, summary.series.id, base, now, 3_600_000).unwrap();
        assert_eq!(
            points,
            [
                (base, 29.5),
                (base + 3_600_000, 89.5),
                (base + 7_200_000, 149.5)
            ]
        );
    }

    #[test]
    fn a_young_series_first_bucket_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(48 * 3600),
            rollups: Duration::from_secs(30 * 86_400),
            rollup_step: Duration::from_secs(300),
            grace: Duration::from_secs(0),
        };
        let mut store = Store::open(&path, policy).unwrap();
        // Samples valued 1 from 10 s before a bucket boundary to 10 s after it: the first
        // bucket is rolled up while its samples are still raw.
        for second in 290..=310 {
            let ts = second * 1000;
            let status = TargetStatus::scraped("t", ts, 1);
            let point = Point {
                name: "m",
                labels: &[],
                value: 1.0,
                ts_ms: ts,
            };
            store.ingest("t", [point], &status).unwrap();
            store.maintain(ts).unwrap();
        }
        let reader = Reader::open(&path).unwrap();
        let summary = &summarise(&reader, &["m"], 0, 310_000).unwrap()[0];
        assert_eq!(summary.count, 21);
        assert_eq!(summary.first, (290_000, 1.0));
        let values = values(&reader, summary.series.id, 0, 310_000).unwrap();
        assert_eq!(values.len(), 21);
        let points = buckets(&reader, summary.series.id, 0, 310_000, 60_000).unwrap();
        assert_eq!(points, [(240_000, 1.0), (300_000, 1.0)]);
    }
}
