//! The analyzer's HTTP side: its own `/metrics`, the JSON read API under `/api/v1` and the
//! one write endpoint, all behind the exporter's web-config TLS and basic auth.
//!
//! Responses are bounded (`limit` parameters with hard caps, at most
//! [`MAX_POINTS`] points per history answer, as Prometheus' query API) so a careless
//! query can neither exhaust memory nor stall the writer. Bad parameters get a 400 whose
//! message names the parameter. See `analyzer/API.md`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use pulse_exporter::exposition::{Kind, MetricSet};
use serde::Deserialize;
use serde_json::json;

use crate::anomaly::{Engine, events};
use crate::scrape::SelfMetrics;
use crate::storage::{self, Reader, Resolution, SeriesFilter, Store};

/// Most points one history answer holds (Prometheus' own limit).
pub const MAX_POINTS: usize = 11_000;
/// Most series one listing or snapshot holds.
pub const MAX_SERIES: usize = 10_000;
const DEFAULT_SERIES_LIMIT: usize = 1_000;

pub struct ApiState {
    pub db_path: PathBuf,
    pub reader: Mutex<Option<Reader>>,
    pub store: Arc<Mutex<Store>>,
    pub metrics: Arc<SelfMetrics>,
    /// Raw samples older than this are gone; `resolution=auto` switches to rollups.
    pub raw_retention: Duration,
    pub write_token: Option<String>,
    /// Alert engine behind `/api/v1/alerts`, silences and events (absent in tools/tests).
    pub alerting: Option<Arc<crate::alerting::service::Alerting>>,
    /// Latest forecasts and recommendations, refreshed by the analysis task.
    pub analysis: crate::analysis::SharedAnalysis,
    pub analysis_config: crate::analysis::AnalysisConfig,
    /// Apply mode, shared with the analysis task: an operator's Apply (`POST
    /// /api/v1/recommendations/{id}/apply`) shares its cooldowns and log.
    pub applier: Arc<Mutex<crate::recommend::apply::Applier>>,
    /// Live anomaly detection, for its `/metrics` families (`None` when disabled).
    pub anomaly: Option<Arc<Mutex<Engine>>>,
    /// The browser that prints PDF reports (`reports.chromium`), as for scheduled reports.
    pub report_chromium: std::path::PathBuf,
}

impl ApiState {
    /// Runs `f` with the read connection on a blocking thread (SQLite calls block).
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = state
                .reader
                .lock()
                .map_err(|_| ApiError::Internal("reader lock poisoned".into()))?;
            if guard.is_none() {
                *guard = Some(
                    Reader::open(&state.db_path).map_err(|e| ApiError::Internal(e.to_string()))?,
                );
            }
            let reader = guard
                .as_ref()
                .ok_or_else(|| ApiError::Internal("no reader".into()))?;
            f(reader)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Forbidden(&'static str),
    Internal(String),
}

impl From<storage::StoreError> for ApiError {
    fn from(e: storage::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            ApiError::Internal(m) => {
                tracing::error!("API: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, m)
            }
        };
        (status, Json(json!({"status": "error", "error": message}))).into_response()
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api", get(landing))
        .route("/-/healthy", get(|| async { "Healthy" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/series", get(series))
        .route("/api/v1/series/{id}/history", get(history))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/admin/maintenance", post(maintenance))
        .merge(crate::alerting::api::routes())
        .merge(crate::analysis::routes())
        .merge(crate::console::routes())
        .merge(crate::report_api::routes())
        .with_state(state)
}

/// Plain links to the API, at `/api` since the console took over `/`.
async fn landing() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Pulse Analyzer</title></head>\n",
        "<body><h1>Pulse Analyzer</h1><p>Version ",
        env!("CARGO_PKG_VERSION"),
        "</p>\n<ul><li><a href=\"/\">Console</a></li><li><a href=\"/metrics\">Metrics</a></li>",
        "<li><a href=\"/api/v1/health\">Health</a></li>",
        "<li><a href=\"/api/v1/series\">Series</a></li>",
        "<li><a href=\"/api/v1/snapshot\">Latest snapshot</a></li>",
        "<li><a href=\"/api/v1/alerts\">Alerts</a></li>",
        "<li><a href=\"/api/v1/forecasts\">Forecasts</a></li>",
        "<li><a href=\"/api/v1/recommendations\">Recommendations</a></li>",
        "<li><a href=\"/api/v1/anomalies\">Anomaly events</a></li></ul></body></html>\n"
    ))
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let series = state
        .read(|reader| Ok(reader.series_count()?))
        .await
        .unwrap_or(0);
    let mut set = MetricSet::default();
    set.family(
        "pulse_build_info",
        "Build information of pulse-analyzer; the value is always 1.",
        Kind::Gauge,
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("component", "analyzer"),
        ],
        1.0,
    );
    if let Ok(targets) = state.metrics.targets.lock() {
        let success = set.family(
            "pulse_analyzer_scrape_success",
            "Whether the last scrape of the target succeeded (1) or not (0).",
            Kind::Gauge,
        );
        for (target, m) in targets.iter() {
            success.sample(&[("target", target)], if m.success { 1.0 } else { 0.0 });
        }
        let duration = set.family(
            "pulse_analyzer_scrape_duration_seconds",
            "Duration of the last scrape of the target.",
            Kind::Gauge,
        );
        for (target, m) in targets.iter() {
            duration.sample(&[("target", target)], m.duration_seconds);
        }
    }
    set.counter(
        "pulse_analyzer_samples_ingested_total",
        "Samples written to the history since start.",
        state.metrics.samples_ingested.load(Ordering::Relaxed) as f64,
    );
    set.counter(
        "pulse_analyzer_parse_errors_total",
        "Exposition lines rejected as malformed since start.",
        state.metrics.parse_errors.load(Ordering::Relaxed) as f64,
    );
    set.gauge(
        "pulse_analyzer_series",
        "Series in the history database.",
        series as f64,
    );
    set.gauge(
        "pulse_analyzer_db_size_bytes",
        "Size of the history database and its write-ahead log on disk.",
        storage::db_size_bytes(&state.db_path) as f64,
    );
    if let Some(alerting) = &state.alerting {
        let open = alerting.open_by_severity();
        let family = set.family(
            "pulse_analyzer_alerts",
            "Open alerts (firing or acknowledged) by severity.",
            Kind::Gauge,
        );
        for (severity, n) in open {
            family.sample(&[("severity", severity.as_str())], n as f64);
        }
        let counts = alerting.metrics.snapshot();
        let sent = set.family(
            "pulse_analyzer_notifications_sent_total",
            "Notifications delivered, per channel.",
            Kind::Counter,
        );
        for (channel, n, _) in &counts {
            sent.sample(&[("channel", channel)], *n as f64);
        }
        let failed = set.family(
            "pulse_analyzer_notifications_failed_total",
            "Failed delivery attempts (each retry counts), per channel.",
            Kind::Counter,
        );
        for (channel, _, n) in &counts {
            failed.sample(&[("channel", channel)], *n as f64);
        }
    }
    if let Ok(analysis) = state.analysis.read() {
        crate::analysis::render(&analysis, &mut set);
    }
    if let Some(engine) = &state.anomaly
        && let Ok(engine) = engine.lock()
    {
        engine.encode(&mut set);
    }
    pulse_exporter::self_metrics::process(&mut set);
    set.normalize();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        set.encode_text(),
    )
        .into_response()
}

async fn health(State(state): State<Arc<ApiState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let stats = state.read(|reader| Ok(reader.stats()?)).await?;
    let healthy = stats.targets.iter().all(|t| t.success);
    Ok(Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "series": stats.series,
        "samples_ingested": stats.samples_ingested,
        "rollup_done_ms": stats.rollup_done_ms,
        "db_size_bytes": stats.db_size_bytes,
        "targets": stats.targets,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesQuery {
    /// Comma-separated exact metric names.
    metric: Option<String>,
    target: Option<String>,
    limit: Option<String>,
}

fn filter(metric: Option<&str>, target: Option<String>) -> SeriesFilter {
    SeriesFilter {
        names: metric
            .map(|m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        target,
    }
}

pub(crate) fn parse_limit(
    text: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match text {
        None => Ok(default),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "limit: expected an integer from 1 to {max}, got {t:?}"
            ))),
        },
    }
}

async fn series(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = parse_limit(query.limit.as_deref(), DEFAULT_SERIES_LIMIT, MAX_SERIES)?;
    let filter = filter(query.metric.as_deref(), query.target);
    let (series, truncated) = state.read(move |r| Ok(r.series(&filter, limit)?)).await?;
    Ok(Json(
        json!({"status": "success", "truncated": truncated, "series": series}),
    ))
}

async fn snapshot(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = parse_limit(query.limit.as_deref(), DEFAULT_SERIES_LIMIT, MAX_SERIES)?;
    let filter = filter(query.metric.as_deref(), query.target);
    let (samples, truncated) = state.read(move |r| Ok(r.latest(&filter, limit)?)).await?;
    Ok(Json(
        json!({"status": "success", "truncated": truncated, "samples": samples}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomaliesQuery {
    since: Option<String>,
    limit: Option<String>,
}

/// Anomaly events active at or after `since` (default: the last 24 hours), newest first.
async fn anomalies(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AnomaliesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = storage::now_ms();
    let since = match &query.since {
        Some(t) => parse_time(t, now).map_err(|e| ApiError::BadRequest(format!("since: {e}")))?,
        None => now - 86_400_000,
    };
    let limit = parse_limit(query.limit.as_deref(), DEFAULT_SERIES_LIMIT, MAX_SERIES)?;
    let path = state.db_path.clone();
    let (events, truncated) =
        tokio::task::spawn_blocking(move || events::list(&path, since, limit))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(
        json!({"status": "success", "since": since, "truncated": truncated, "events": events}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    start: Option<String>,
    end: Option<String>,
    step: Option<String>,
    resolution: Option<String>,
    limit: Option<String>,
}

async fn history(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("series id: expected an integer, got {id:?}")))?;
    let now = storage::now_ms();
    let end = match &query.end {
        Some(t) => parse_time(t, now).map_err(|e| ApiError::BadRequest(format!("end: {e}")))?,
        None => now,
    };
    let start = match &query.start {
        Some(t) => parse_time(t, now).map_err(|e| ApiError::BadRequest(format!("start: {e}")))?,
        None => end - 3_600_000,
    };
    if start > end {
        return Err(ApiError::BadRequest("start: must not be after end".into()));
    }
    let step = match &query.step {
        Some(s) => Some(parse_step(s).map_err(|e| ApiError::BadRequest(format!("step: {e}")))?),
        None => None,
    };
    let resolution = match query.resolution.as_deref().unwrap_or("auto") {
        "raw" => Resolution::Raw,
        "rollup" => Resolution::Rollup,
        "auto" if start < now - state.raw_retention.as_millis() as i64 => Resolution::Rollup,
        "auto" => Resolution::Raw,
        other => {
            return Err(ApiError::BadRequest(format!(
                "resolution: expected raw, rollup or auto, got {other:?}"
            )));
        }
    };
    if let Some(step) = step
        && (end - start) / step > MAX_POINTS as i64
    {
        return Err(ApiError::BadRequest(format!(
            "step: more than {MAX_POINTS} points per series; use a larger step"
        )));
    }
    let limit = parse_limit(query.limit.as_deref(), MAX_POINTS, MAX_POINTS)?;
    let (series, points, truncated) = state
        .read(move |r| {
            let series = r
                .series_by_id(id)?
                .ok_or_else(|| ApiError::NotFound(format!("no series with id {id}")))?;
            let (points, truncated) = r.history(id, start, end, step, resolution, limit)?;
            Ok((series, points, truncated))
        })
        .await?;
    Ok(Json(json!({
        "status": "success",
        "series": series,
        "resolution": if resolution == Resolution::Raw { "raw" } else { "rollup" },
        "start": start,
        "end": end,
        "step": step,
        "truncated": truncated,
        "points": points,
    })))
}

/// Runs rollups and retention now; needs `Authorization: Bearer <write token>`.
async fn maintenance(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = store
            .lock()
            .map_err(|_| ApiError::Internal("store lock poisoned".into()))?;
        store.maintain(storage::now_ms())?;
        Ok::<_, ApiError>(())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(json!({"status": "success"})))
}

/// Checks `Authorization: Bearer <write token>`; every write endpoint calls it.
pub(crate) fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.write_token else {
        return Err(ApiError::Forbidden(
            "write API disabled: set web.write_token_file in the config",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        return Err(ApiError::Forbidden("missing or wrong bearer token"));
    }
    Ok(())
}

/// Compares secrets without leaking the matching prefix length through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `now`, `-1h` (relative to now), RFC 3339, or Unix seconds (fractions allowed).
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    if text == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = text.strip_prefix('-')
        && let Ok(d) = humantime::parse_duration(ago)
    {
        return Ok(now_ms - d.as_millis() as i64);
    }
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds.abs() < 1e13
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .map_err(|_| format!("{text:?} is before 1970"));
    }
    Err(format!(
        "expected now, -<duration>, RFC 3339 or Unix seconds, got {text:?}"
    ))
}

/// `30s`, `5m` or plain seconds; returned in milliseconds.
pub fn parse_step(text: &str) -> Result<i64, String> {
    let ms = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => (seconds * 1000.0).round() as i64,
        _ => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?}: {e}"))?
            .as_millis() as i64,
    };
    if ms <= 0 {
        return Err(format!("{text:?}: must be positive"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-1h", now), Ok(now - 3_600_000));
        assert_eq!(parse_time("1700000000.5", now), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now),
            Ok(1_700_000_000_000)
        );
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert_eq!(parse_step("5m"), Ok(300_000));
        assert_eq!(parse_step("15"), Ok(15_000));
        assert!(parse_step("0").is_err());
        assert!(parse_step("abc").is_err());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
