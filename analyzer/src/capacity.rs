//! Capacity planning: when will each finite resource run out?
//!
//! Every resource is one stored series moving towards a limit: free space falling to zero
//! (filesystem bytes and inodes, available memory, free swap) or usage rising to a limit read
//! from a sibling series with the same labels (allocated vs maximum file descriptors, Redis
//! and memcached memory vs their configured maximum), or to a constant (a process group's
//! worst fd ratio reaching 1). Each is forecast from its stored history with
//! [`pulse_timeseries::forecast::time_to_exhaustion`]: trend over the current regime plus the
//! daily profile, with a prediction interval. Forecasting a single series (free bytes) rather
//! than a ratio keeps the answer in the unit an operator acts on.

use std::collections::BTreeMap;
use std::time::Duration;

use pulse_timeseries::forecast::{ForecastConfig, time_to_exhaustion};
use serde::Serialize;

use crate::recent::{self, latest};
use crate::storage::{LatestSample, Reader, StoreError};

/// Where a resource's value is heading.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// Free amount falling to zero.
    Zero,
    /// Usage rising to the latest value of this series (same target and labels).
    Series(&'static str),
    /// Usage rising to a fixed value.
    Value(f64),
}

struct Resource {
    resource: &'static str,
    series: &'static str,
    limit: Limit,
    /// A size series that must be positive for the resource to exist (no swap configured:
    /// `SwapFree` is 0 and already "exhausted", which is not news; a filesystem without
    /// inode accounting reports 0 files).
    requires: Option<&'static str>,
    /// A flag series that, when 1, takes the resource out (a read-only filesystem has no
    /// free space by design and will not fill up).
    excluded_by: Option<&'static str>,
}

const RESOURCES: &[Resource] = &[
    Resource {
        resource: "filesystem_bytes",
        series: "node_filesystem_avail_bytes",
        limit: Limit::Zero,
        requires: Some("node_filesystem_size_bytes"),
        excluded_by: Some("node_filesystem_readonly"),
    },
    Resource {
        resource: "filesystem_inodes",
        series: "node_filesystem_files_free",
        limit: Limit::Zero,
        requires: Some("node_filesystem_files"),
        excluded_by: Some("node_filesystem_readonly"),
    },
    Resource {
        resource: "memory",
        // MemAvailable plus the ZFS ARC above its minimum (`derived::reclaimable_arc`).
        series: "pulse:memory_available:bytes",
        limit: Limit::Zero,
        requires: None,
        excluded_by: None,
    },
    Resource {
        resource: "swap",
        series: "node_memory_SwapFree_bytes",
        limit: Limit::Zero,
        requires: Some("node_memory_SwapTotal_bytes"),
        excluded_by: None,
    },
    Resource {
        resource: "file_descriptors",
        series: "node_filefd_allocated",
        limit: Limit::Series("node_filefd_maximum"),
        requires: None,
        excluded_by: None,
    },
    Resource {
        resource: "process_file_descriptors",
        series: "namedprocess_namegroup_worst_fd_ratio",
        limit: Limit::Value(1.0),
        requires: None,
        excluded_by: None,
    },
    Resource {
        resource: "redis_memory",
        series: "redis_memory_used_bytes",
        limit: Limit::Series("redis_memory_max_bytes"),
        requires: None,
        excluded_by: None,
    },
    Resource {
        resource: "memcached_memory",
        series: "memcached_current_bytes",
        limit: Limit::Series("memcached_limit_bytes"),
        requires: None,
        excluded_by: None,
    },
];

/// What and how far ahead the capacity forecasts look.
#[derive(Debug, Clone)]
pub struct CapacitySettings {
    /// History used per forecast.
    pub lookback: Duration,
    /// Raw retention of the store (older history comes from rollups).
    pub raw_retention: Duration,
    /// Resolution of the history fed to the model.
    pub step: Duration,
    pub model: ForecastConfig,
}

/// When one resource is expected to run out. Plain data, so alerting can consume it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// `filesystem_bytes`, `filesystem_inodes`, `memory`, `swap`, `file_descriptors`,
    /// `process_file_descriptors`, `redis_memory` or `memcached_memory`.
    pub resource: &'static str,
    /// Scrape target (analyzer config name) the series came from.
    pub instance: String,
    /// The forecast series and its labels (mountpoint, groupname, Redis address, ...).
    pub series: String,
    pub labels: BTreeMap<String, String>,
    /// Latest value and the value at which the resource is exhausted.
    pub current: f64,
    pub limit: f64,
    /// Fitted trend in units per second, towards the limit when positive.
    pub trend_per_second: f64,
    /// Unix seconds when the forecast was made.
    pub at: i64,
    /// Start of the history the trend was fitted over (after the latest change point).
    pub regime_start: i64,
    pub points: usize,
    /// Expected exhaustion and the interval around it, unix seconds; `None` when not within
    /// the horizon.
    pub expected: Option<i64>,
    /// Pessimistic edge: the earliest plausible exhaustion.
    pub earliest: Option<i64>,
    /// Optimistic edge: the latest plausible exhaustion.
    pub latest: Option<i64>,
}

impl Forecast {
    /// Seconds from the forecast until the expected exhaustion.
    pub fn seconds_left(&self) -> Option<i64> {
        self.expected.map(|t| (t - self.at).max(0))
    }
}

/// Forecasts every resource found in the store. A series whose forecast fails (too little
/// history) is skipped, never the whole run.
pub fn assess(
    reader: &Reader,
    now_ms: i64,
    settings: &CapacitySettings,
) -> Result<Vec<Forecast>, StoreError> {
    let mut out = Vec::new();
    for resource in RESOURCES {
        let series = latest(reader, resource.series)?;
        if series.is_empty() {
            continue;
        }
        let limits = match resource.limit {
            Limit::Series(name) => latest(reader, name)?,
            _ => Vec::new(),
        };
        let required = match resource.requires {
            Some(name) => latest(reader, name)?,
            None => Vec::new(),
        };
        let excluded = match resource.excluded_by {
            Some(name) => latest(reader, name)?,
            None => Vec::new(),
        };
        for sample in series {
            let sibling = |rows: &[LatestSample]| {
                rows.iter()
                    .find(|r| {
                        r.series.target == sample.series.target
                            && r.series.labels == sample.series.labels
                    })
                    .and_then(|r| r.value)
            };
            if resource.requires.is_some() && !sibling(&required).is_some_and(|v| v > 0.0) {
                continue;
            }
            if sibling(&excluded) == Some(1.0) {
                continue;
            }
            let limit = match resource.limit {
                Limit::Zero => 0.0,
                Limit::Value(v) => v,
                // A zero maximum means "unlimited" (Redis without maxmemory).
                Limit::Series(_) => match sibling(&limits) {
                    Some(v) if v > 0.0 => v,
                    _ => continue,
                },
            };
            let Some(current) = sample.value else {
                continue;
            };
            let points = recent::points(
                reader,
                sample.series.id,
                now_ms,
                settings.lookback,
                settings.raw_retention,
                settings.step,
            )?;
            let Ok(eta) = time_to_exhaustion(&points, limit, &settings.model) else {
                continue;
            };
            let towards = if matches!(resource.limit, Limit::Zero) {
                -1.0
            } else {
                1.0
            };
            out.push(Forecast {
                resource: resource.resource,
                instance: sample.series.target.clone(),
                series: sample.series.name.clone(),
                labels: sample.series.labels.clone(),
                current,
                limit,
                trend_per_second: towards * eta.trend_per_second,
                at: now_ms / 1000,
                regime_start: eta.regime_start,
                points: points.len(),
                expected: eta.expected,
                earliest: eta.earliest,
                latest: eta.latest,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Point, Policy, Store, TargetStatus};

    fn settings() -> CapacitySettings {
        CapacitySettings {
            lookback: Duration::from_secs(14 * 86_400),
            raw_retention: Duration::from_secs(14 * 86_400),
            step: Duration::from_secs(300),
            model: ForecastConfig::default(),
        }
    }

    #[test]
    fn filesystem_fd_and_unlimited_redis() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(14 * 86_400),
            rollups: Duration::from_secs(30 * 86_400),
            rollup_step: Duration::from_secs(300),
            grace: Duration::ZERO,
        };
        let mut store = Store::open(&path, policy).expect("open");
        let fs = vec![("mountpoint".to_owned(), "/data".to_owned())];
        let snap = vec![("mountpoint".to_owned(), "/snap/core".to_owned())];
        let redis = vec![("target".to_owned(), "127.0.0.1:6379".to_owned())];
        // One day, every 5 minutes: /data loses 1 GB per hour from 100 GB (and has no inode
        // accounting); a read-only /snap/core is full by design; fds grow 10 per hour towards
        // 1000; Redis has no maxmemory; swap is not configured.
        let hours = 24;
        for i in 0..=hours * 12 {
            let ts = i * 300_000;
            let h = ts as f64 / 3_600_000.0;
            let points = [
                Point {
                    name: "node_filesystem_avail_bytes",
                    labels: &fs,
                    value: 100e9 - h * 1e9,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_size_bytes",
                    labels: &fs,
                    value: 200e9,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_files_free",
                    labels: &fs,
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_files",
                    labels: &fs,
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_readonly",
                    labels: &fs,
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_avail_bytes",
                    labels: &snap,
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_size_bytes",
                    labels: &snap,
                    value: 1e8,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filesystem_readonly",
                    labels: &snap,
                    value: 1.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filefd_allocated",
                    labels: &[],
                    value: 500.0 + 10.0 * h,
                    ts_ms: ts,
                },
                Point {
                    name: "node_filefd_maximum",
                    labels: &[],
                    value: 1000.0,
                    ts_ms: ts,
                },
                Point {
                    name: "redis_memory_used_bytes",
                    labels: &redis,
                    value: 1e6 + h,
                    ts_ms: ts,
                },
                Point {
                    name: "redis_memory_max_bytes",
                    labels: &redis,
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_memory_SwapFree_bytes",
                    labels: &[],
                    value: 0.0,
                    ts_ms: ts,
                },
                Point {
                    name: "node_memory_SwapTotal_bytes",
                    labels: &[],
                    value: 0.0,
                    ts_ms: ts,
                },
            ];
            store
                .ingest("host", points, &TargetStatus::scraped("host", ts, 1))
                .expect("ingest");
        }
        let now = hours * 3_600_000;
        let reader = Reader::open(&path).expect("reader");
        let forecasts = assess(&reader, now, &settings()).expect("assess");
        let resources: Vec<_> = forecasts.iter().map(|f| f.resource).collect();
        assert_eq!(resources, ["filesystem_bytes", "file_descriptors"]);

        let fs = &forecasts[0];
        assert_eq!(fs.labels["mountpoint"], "/data");
        assert_eq!(fs.instance, "host");
        // 76 GB left at 1 GB/h: 76 hours.
        let left = fs.seconds_left().expect("exhausts") as f64 / 3600.0;
        assert!((left - 76.0).abs() < 0.5, "{left} h");
        assert!((fs.trend_per_second * 3600.0 - 1e9).abs() < 1e7, "{fs:?}");
        let (earliest, latest) = (fs.earliest.expect("lower"), fs.latest.expect("upper"));
        assert!(earliest <= fs.expected.expect("expected") && fs.expected <= Some(latest));

        let fd = &forecasts[1];
        assert_eq!(fd.limit, 1000.0);
        // 740 now, 260 to go at 10 per hour: 26 hours.
        let left = fd.seconds_left().expect("exhausts") as f64 / 3600.0;
        assert!((left - 26.0).abs() < 0.5, "{left} h");
    }
}
