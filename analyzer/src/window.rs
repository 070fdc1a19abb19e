//! Per-series summaries of a time window, the common input of `check`, `report` and
//! `suggest-rules`.
//!
//! Raw samples are read where they still exist; a series whose raw samples in the window
//! have aged out is summarised from its rollups instead (count-weighted average, min of
//! min, max of max), so a week-long report still works with an hour of raw retention.

use rusqlite::params;

use crate::storage::{Reader, SeriesInfo, StoreError};

/// Where a summary's numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Raw,
    Rollup,
}

/// One series over `[start, end]`.
#[derive(Debug, Clone)]
pub struct Summary {
    pub series: SeriesInfo,
    pub source: Source,
    /// Samples (raw) or samples behind the rollups.
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    /// Oldest and newest `(ts, value)`; for rollups the oldest bucket's minimum and the
    /// newest bucket's last value, which for a counter bound its increase.
    pub first: (i64, f64),
    pub last: (i64, f64),
}

impl Summary {
    /// Per-second increase of a counter over the window; `None` with fewer than two points.
    /// A reset inside the window makes the difference negative and is clamped to zero.
    pub fn rate(&self) -> Option<f64> {
        let seconds = (self.last.0 - self.first.0) as f64 / 1000.0;
        (seconds > 0.0).then(|| ((self.last.1 - self.first.1) / seconds).max(0.0))
    }
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
        "SELECT count(value), min(value), max(value), avg(value), min(ts), max(ts)
         FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND value IS NOT NULL",
    )?;
    let mut value_at = conn.prepare_cached(
        "SELECT value FROM samples WHERE series_id = ?1 AND ts = ?2 AND value IS NOT NULL",
    )?;
    let mut rolled = conn.prepare_cached(
        "SELECT sum(count), min(min), max(max), sum(avg * count) / sum(count), min(ts), max(ts)
         FROM rollups WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND avg IS NOT NULL",
    )?;
    let mut rollup_first =
        conn.prepare_cached("SELECT min, last FROM rollups WHERE series_id = ?1 AND ts = ?2")?;
    let mut out = Vec::new();
    for series in series_ids(reader, names)? {
        type Row = (
            i64,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<i64>,
            Option<i64>,
        );
        let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        };
        let row = raw.query_row(params![series.id, start, end], read)?;
        let summary = if let (n, Some(min), Some(max), Some(avg), Some(t0), Some(t1)) = row {
            let first: f64 = value_at.query_row(params![series.id, t0], |r| r.get(0))?;
            let last: f64 = value_at.query_row(params![series.id, t1], |r| r.get(0))?;
            Summary {
                series,
                source: Source::Raw,
                count: n as u64,
                min,
                max,
                avg,
                first: (t0, first),
                last: (t1, last),
            }
        } else {
            let row = rolled.query_row(params![series.id, start, end], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            let (n, Some(min), Some(max), Some(avg), Some(t0), Some(t1)) = row else {
                continue;
            };
            let (first, _): (Option<f64>, Option<f64>) =
                rollup_first.query_row(params![series.id, t0], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (_, last): (Option<f64>, Option<f64>) =
                rollup_first.query_row(params![series.id, t1], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Summary {
                series,
                source: Source::Rollup,
                count: n as u64,
                min,
                max,
                avg,
                first: (t0, first.unwrap_or(min)),
                last: (t1, last.unwrap_or(avg)),
            }
        };
        out.push(summary);
    }
    Ok(out)
}

/// The values of one series in `[start, end]`: raw samples, or where none are left, the
/// rollups' maxima (so percentiles over long periods err on the high side, as thresholds
/// should).
pub fn values(reader: &Reader, id: i64, start: i64, end: i64) -> Result<Vec<f64>, StoreError> {
    let conn = reader.connection();
    let collect = |sql: &str| -> Result<Vec<f64>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id, start, end], |r| r.get::<_, f64>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let raw = collect(
        "SELECT value FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
         AND value IS NOT NULL ORDER BY ts",
    )?;
    if !raw.is_empty() {
        return Ok(raw);
    }
    collect(
        "SELECT max FROM rollups WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3
         AND max IS NOT NULL ORDER BY ts",
    )
}

/// Average of one series per `step`-wide bucket in `[start, end]`, as `(bucket start, avg)`:
/// from raw samples, or from rollups (count-weighted) where raw samples have aged out. The
/// chart input: a fixed number of points whatever the period.
pub fn buckets(
    reader: &Reader,
    id: i64,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let conn = reader.connection();
    let collect = |sql: &str| -> Result<Vec<(i64, f64)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id, start, end, step.max(1)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let raw = collect(
        "SELECT ?2 + ((ts - ?2) / ?4) * ?4 AS bucket, avg(value) FROM samples
         WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND value IS NOT NULL
         GROUP BY bucket ORDER BY bucket",
    )?;
    if !raw.is_empty() {
        return Ok(raw);
    }
    collect(
        "SELECT ?2 + ((ts - ?2) / ?4) * ?4 AS bucket, sum(avg * count) / sum(count) FROM rollups
         WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3 AND avg IS NOT NULL
         GROUP BY bucket ORDER BY bucket",
    )
}
