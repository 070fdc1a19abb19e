//! Fleet mode (`source: prometheus`): instead of scraping, pull series for many hosts from a
//! Prometheus-compatible `query_range` API (Prometheus, Thanos, Mimir, VictoriaMetrics) into
//! the same local history, so detection and the API work unchanged.
//!
//! Each pull asks for `[last evaluated + step, now]` on a step-aligned grid, so consecutive
//! pulls neither overlap nor leave gaps; after a restart the lookback window is fetched again
//! and duplicates are dropped by the `(series, ts)` key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;

use crate::config::{FleetQuery, PrometheusSource};
use crate::scrape::{HttpClient, Ingest};
use crate::storage::{self, Point, TargetStatus};

/// MemAvailable plus the ZFS ARC above its minimum, as `derived::reclaimable_arc` (`or`
/// keeps hosts without ZFS, where the sum has no result).
const MEMORY_AVAILABLE_BYTES: &str = "node_memory_MemAvailable_bytes \
    + clamp_min(node_zfs_arc_size - node_zfs_arc_c_min, 0) or node_memory_MemAvailable_bytes";

/// The derived series, computed fleet-wide by the query API itself.
pub fn default_queries() -> Vec<FleetQuery> {
    [
        (
            "pulse:cpu_utilisation:ratio",
            "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))".to_owned(),
        ),
        (
            "pulse:memory_available:bytes",
            MEMORY_AVAILABLE_BYTES.to_owned(),
        ),
        (
            "pulse:memory_available:ratio",
            format!("({MEMORY_AVAILABLE_BYTES}) / node_memory_MemTotal_bytes"),
        ),
        (
            "pulse:filesystem_used:ratio",
            "1 - node_filesystem_avail_bytes / node_filesystem_size_bytes".to_owned(),
        ),
        ("pulse:load1", "node_load1".to_owned()),
        ("up", "up".to_owned()),
    ]
    .into_iter()
    .map(|(name, expr)| FleetQuery {
        name: name.to_owned(),
        expr,
    })
    .collect()
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RangeSeries>,
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("query {name}: {message}")]
    Query { name: String, message: String },
    #[error("query {name}: {source}")]
    Http {
        name: String,
        #[source]
        source: reqwest::Error,
    },
}

/// One series of a `query_range` answer, as labels and `(ms, value)` points.
pub type Series = (Vec<(String, String)>, Vec<(i64, f64)>);

/// Runs one `query_range` and returns its series.
pub async fn query_range(
    client: &HttpClient,
    base: &str,
    query: &FleetQuery,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Vec<Series>, FleetError> {
    let http = |source| FleetError::Http {
        name: query.name.clone(),
        source,
    };
    let seconds = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query_range", base.trim_end_matches('/')),
        &[
            ("query", query.expr.as_str()),
            ("start", &seconds(start_ms)),
            ("end", &seconds(end_ms)),
            ("step", &seconds(step_ms)),
        ],
    )
    .map_err(|e| FleetError::Query {
        name: query.name.clone(),
        message: format!("url: {e}"),
    })?;
    let answer: Answer = client
        .get(url.as_str())
        .send()
        .await
        .map_err(http)?
        .json()
        .await
        .map_err(http)?;
    let fail = |message: String| FleetError::Query {
        name: query.name.clone(),
        message,
    };
    if answer.status != "success" {
        return Err(fail(answer.error.unwrap_or(answer.status)));
    }
    let data = answer
        .data
        .ok_or_else(|| fail("no data in answer".into()))?;
    if data.result_type != "matrix" {
        return Err(fail(format!("expected a matrix, got {}", data.result_type)));
    }
    Ok(data
        .result
        .into_iter()
        .map(|series| {
            let labels = series
                .metric
                .into_iter()
                .filter(|(k, _)| k != "__name__")
                .collect();
            let points = series
                .values
                .into_iter()
                .filter_map(|(ts, v)| {
                    crate::parse::parse_float(&v).map(|v| ((ts * 1000.0).round() as i64, v))
                })
                .collect();
            (labels, points)
        })
        .collect())
}

/// Pulls every query each interval until `stop` flips.
pub async fn run(
    source: PrometheusSource,
    client: HttpClient,
    ingest: Arc<Ingest>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let step = source.step.0.as_millis().max(1) as i64;
    let target = reqwest::Url::parse(&source.url)
        .ok()
        .and_then(|u| u.host_str().map(|h| format!("prometheus:{h}")))
        .unwrap_or_else(|| "prometheus".to_owned());
    // Per query, so one broken expression does not make the others re-fetch a growing window.
    let first = (storage::now_ms() - source.lookback.0.as_millis() as i64) / step * step;
    let mut next_start = vec![first; source.queries.len()];
    let mut ticker = tokio::time::interval(source.interval.0);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let started = Instant::now();
        let end = storage::now_ms() / step * step;
        let mut all: Vec<(String, Series)> = Vec::new();
        let mut error = None;
        for (query, next) in source.queries.iter().zip(next_start.iter_mut()) {
            if end < *next {
                continue;
            }
            match query_range(&client, &source.url, query, *next, end, step).await {
                Ok(series) => {
                    all.extend(series.into_iter().map(|s| (query.name.clone(), s)));
                    *next = end + step;
                }
                Err(e) => {
                    tracing::warn!("fleet: {e}");
                    error = Some(e.to_string());
                }
            }
        }
        let status = TargetStatus {
            target: target.clone(),
            last_scrape_ms: storage::now_ms(),
            success: error.is_none(),
            duration_seconds: started.elapsed().as_secs_f64(),
            samples: all.iter().map(|(_, (_, p))| p.len() as u64).sum(),
            error,
        };
        let ingest = ingest.clone();
        let job_target = target.clone();
        let job = tokio::task::spawn_blocking(move || {
            let points = all.iter().flat_map(|(name, (labels, points))| {
                points.iter().map(move |(ts, value)| Point {
                    name,
                    labels,
                    value: *value,
                    ts_ms: *ts,
                })
            });
            ingest
                .metrics
                .record(&job_target, status.success, status.duration_seconds);
            let observations = ingest.observations(points.clone());
            let Ok(mut store) = ingest.store.lock() else {
                return;
            };
            match store.ingest(&job_target, points, &status) {
                Ok(n) => {
                    ingest
                        .metrics
                        .samples_ingested
                        .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => tracing::error!("fleet: writing history: {e}"),
            }
            if let Err(e) = store.maintain(storage::now_ms()) {
                tracing::error!("rollups/retention: {e}");
            }
            drop(store);
            // Anomaly state first, so the alert rules woken next see this round's.
            ingest.analyse(&job_target, observations);
            ingest.scraped.notify_one();
        });
        if let Err(e) = job.await {
            tracing::error!("fleet task failed: {e}");
        }
    }
}
