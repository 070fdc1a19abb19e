//! The periodic analysis pass: every `analysis.interval` it forecasts capacity from the
//! stored history, evaluates the recommendation rules and (opt-in) applies the safe changes,
//! then publishes the result for `/metrics` and the API.
//!
//! It runs on its own read connection on a blocking thread, so a slow pass never delays
//! scrapes or API answers, and a failed pass keeps the previous result (with the error shown)
//! rather than blanking it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use pulse_exporter::exposition::{Kind, MetricSet, Value};
use pulse_timeseries::forecast::ForecastConfig;
use pulse_timeseries::patterns;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{ApiError, ApiState};
use crate::capacity::{self, CapacitySettings, Forecast};
use crate::config::de_duration;
use crate::recent;
use crate::recommend::apply::{ActionRecord, Applier};
use crate::recommend::{self, RecommendConfig, Recommendation};
use crate::storage::{self, Reader, SeriesFilter, StoreError};

/// `analysis:` in the analyzer config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Run the periodic pass at all.
    pub enabled: bool,
    /// Time between two passes.
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// History each forecast and pattern is computed from.
    #[serde(deserialize_with = "de_duration")]
    pub lookback: Duration,
    /// Resolution of that history.
    #[serde(deserialize_with = "de_duration")]
    pub step: Duration,
    /// Trend + season model parameters.
    pub forecast: ForecastConfig,
    pub recommendations: RecommendConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(14 * 86_400),
            step: Duration::from_secs(300),
            forecast: ForecastConfig::default(),
            recommendations: RecommendConfig::default(),
        }
    }
}

/// The latest pass. Plain data, so alerting can read it from [`ApiState::analysis`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    /// Unix seconds of the pass, `None` before the first one finished.
    pub computed_at: Option<i64>,
    pub duration_seconds: f64,
    /// Why the last pass failed; its predecessor's results are kept.
    pub error: Option<String>,
    pub forecasts: Vec<Forecast>,
    pub recommendations: Vec<Recommendation>,
    /// Changes applied or dry-run, oldest first (the last 100).
    pub actions: Vec<ActionRecord>,
    /// Changes applied or dry-run since start.
    pub actions_total: u64,
}

pub type SharedAnalysis = Arc<RwLock<Analysis>>;

/// One pass over the store at `now_ms`.
pub fn pass(
    reader: &Reader,
    now_ms: i64,
    config: &AnalysisConfig,
    raw_retention: Duration,
    applier: &mut Applier,
) -> Result<Analysis, StoreError> {
    let start = Instant::now();
    let settings = CapacitySettings {
        lookback: config.lookback,
        raw_retention,
        step: config.step,
        model: config.forecast.clone(),
    };
    let forecasts = capacity::assess(reader, now_ms, &settings)?;
    let recommendations = recommend::evaluate(reader, now_ms, &forecasts, &config.recommendations)?;
    applier.run(&recommendations, now_ms / 1000);
    Ok(Analysis {
        computed_at: Some(now_ms / 1000),
        duration_seconds: start.elapsed().as_secs_f64(),
        error: None,
        forecasts,
        recommendations,
        actions: applier.log.iter().cloned().collect(),
        actions_total: applier.total,
    })
}

/// Runs [`pass`] every interval until `stop` turns true.
pub async fn run(
    db_path: PathBuf,
    config: AnalysisConfig,
    raw_retention: Duration,
    shared: SharedAnalysis,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let applier = Arc::new(Mutex::new(Applier::new(
        config.recommendations.apply.clone(),
    )));
    let config = Arc::new(config);
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let (path, config, applier) = (db_path.clone(), config.clone(), applier.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut applier = applier
                .lock()
                .map_err(|_| "applier lock poisoned".to_owned())?;
            once(&path, &config, raw_retention, &mut applier).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let Ok(mut current) = shared.write() else {
            return;
        };
        match result {
            Ok(analysis) => *current = analysis,
            Err(e) => {
                tracing::warn!(error = %e, "analysis pass failed");
                current.error = Some(e);
            }
        }
    }
}

fn once(
    path: &Path,
    config: &AnalysisConfig,
    raw_retention: Duration,
    applier: &mut Applier,
) -> Result<Analysis, StoreError> {
    // A fresh connection per pass: cheap next to the pass, and never shared with the API.
    let reader = Reader::open(path)?;
    pass(&reader, storage::now_ms(), config, raw_retention, applier)
}

/// One forecast number for one metric family; `None` leaves the sample out.
type ForecastValue = fn(&Forecast) -> Option<f64>;

/// Adds the forecast and recommendation families to the analyzer's `/metrics`.
pub fn render(analysis: &Analysis, set: &mut MetricSet) {
    let labels_of = |f: &Forecast| {
        let mut labels: Vec<(Cow<'static, str>, String)> = vec![
            (Cow::Borrowed("resource"), f.resource.to_owned()),
            (Cow::Borrowed("instance"), f.instance.clone()),
        ];
        for (k, v) in &f.labels {
            let key = if k == "resource" || k == "instance" {
                format!("exported_{k}")
            } else {
                k.clone()
            };
            labels.push((Cow::Owned(key), v.clone()));
        }
        labels
    };
    let families: [(&'static str, &'static str, ForecastValue); 6] = [
        (
            "pulse_forecast_exhaustion_seconds",
            "Seconds until the resource is expected to be exhausted (+Inf: not within the horizon).",
            |f| Some(f.seconds_left().map_or(f64::INFINITY, |s| s as f64)),
        ),
        (
            "pulse_forecast_exhaustion_lower_seconds",
            "Pessimistic edge of the prediction interval: earliest plausible exhaustion, in seconds from now.",
            |f| {
                Some(
                    f.earliest
                        .map_or(f64::INFINITY, |t| (t - f.at).max(0) as f64),
                )
            },
        ),
        (
            "pulse_forecast_exhaustion_upper_seconds",
            "Optimistic edge of the prediction interval: latest plausible exhaustion, in seconds from now.",
            |f| Some(f.latest.map_or(f64::INFINITY, |t| (t - f.at).max(0) as f64)),
        ),
        (
            "pulse_forecast_exhaustion_timestamp_seconds",
            "Unix time at which the resource is expected to be exhausted (absent: not within the horizon).",
            |f| f.expected.map(|t| t as f64),
        ),
        (
            "pulse_forecast_exhaustion_lower_timestamp_seconds",
            "Unix time of the earliest plausible exhaustion.",
            |f| f.earliest.map(|t| t as f64),
        ),
        (
            "pulse_forecast_exhaustion_upper_timestamp_seconds",
            "Unix time of the latest plausible exhaustion.",
            |f| f.latest.map(|t| t as f64),
        ),
    ];
    for (name, help, value) in families {
        let family = set.family(name, help, Kind::Gauge);
        for f in &analysis.forecasts {
            if let Some(v) = value(f) {
                family.sample_owned(labels_of(f), Value::Number(v));
            }
        }
    }
    let info = set.family(
        "pulse_recommendation_info",
        "A current recommendation (see GET /api/v1/recommendations for evidence and action); always 1.",
        Kind::Gauge,
    );
    for r in &analysis.recommendations {
        info.sample(
            &[
                ("id", &r.id),
                ("rule", r.rule),
                ("severity", r.severity.as_str()),
                ("instance", &r.instance),
                ("subject", &r.subject),
            ],
            1.0,
        );
    }
    let confidence = set.family(
        "pulse_recommendation_confidence",
        "Confidence (0-1) of a current recommendation.",
        Kind::Gauge,
    );
    for r in &analysis.recommendations {
        confidence.sample(&[("id", &r.id)], r.confidence);
    }
    set.counter(
        "pulse_recommendation_actions_total",
        "Changes applied or dry-run since start (see GET /api/v1/recommendations).",
        analysis.actions_total as f64,
    );
    if let Some(at) = analysis.computed_at {
        set.gauge(
            "pulse_analysis_last_run_timestamp_seconds",
            "Unix time of the last finished analysis pass.",
            at as f64,
        );
        set.gauge(
            "pulse_analysis_duration_seconds",
            "Duration of the last analysis pass.",
            analysis.duration_seconds,
        );
    }
}

/// `GET /api/v1/forecasts`, `/api/v1/recommendations` and `/api/v1/patterns`.
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/forecasts", get(forecasts))
        .route("/api/v1/recommendations", get(recommendations))
        .route("/api/v1/patterns", get(patterns_handler))
}

fn snapshot(state: &ApiState) -> Result<Analysis, ApiError> {
    state
        .analysis
        .read()
        .map(|a| a.clone())
        .map_err(|_| ApiError::Internal("analysis lock poisoned".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastQuery {
    resource: Option<String>,
    instance: Option<String>,
}

async fn forecasts(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let analysis = snapshot(&state)?;
    let forecasts: Vec<_> = analysis
        .forecasts
        .iter()
        .filter(|f| query.resource.as_deref().is_none_or(|r| r == f.resource))
        .filter(|f| query.instance.as_deref().is_none_or(|i| i == f.instance))
        .map(|f| {
            let mut v = json!(f);
            v["seconds_left"] = json!(f.seconds_left());
            v
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "computed_at": analysis.computed_at,
        "error": analysis.error,
        "forecasts": forecasts,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendationQuery {
    severity: Option<String>,
    rule: Option<String>,
}

async fn recommendations(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<RecommendationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &query.severity
        && !["info", "warning", "critical"].contains(&s.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "severity: expected info, warning or critical, got {s:?}"
        )));
    }
    let analysis = snapshot(&state)?;
    let recommendations: Vec<_> = analysis
        .recommendations
        .iter()
        .filter(|r| {
            query
                .severity
                .as_deref()
                .is_none_or(|s| s == r.severity.as_str())
        })
        .filter(|r| query.rule.as_deref().is_none_or(|x| x == r.rule))
        .collect();
    Ok(Json(json!({
        "status": "success",
        "computed_at": analysis.computed_at,
        "error": analysis.error,
        "recommendations": recommendations,
        "actions": analysis.actions,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternQuery {
    /// Comma-separated exact metric names (required: patterns are computed on demand).
    metric: Option<String>,
    target: Option<String>,
    limit: Option<String>,
}

/// Most series one patterns answer computes (each reads up to `lookback` of history).
const MAX_PATTERN_SERIES: usize = 200;

async fn patterns_handler(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<PatternQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let names: Vec<String> = query
        .metric
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err(ApiError::BadRequest(
            "metric: required, one or more comma-separated metric names".into(),
        ));
    }
    let limit = match query.limit.as_deref() {
        None => 50,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PATTERN_SERIES).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit: expected an integer from 1 to {MAX_PATTERN_SERIES}, got {t:?}"
                ))
            })?,
    };
    let filter = SeriesFilter {
        names,
        target: query.target,
    };
    let (lookback, raw_retention, step) = (
        state.analysis_config.lookback,
        state.raw_retention,
        state.analysis_config.step,
    );
    let now = storage::now_ms();
    let (rows, truncated) = state
        .read(move |reader| {
            let (series, truncated) = reader.series(&filter, limit)?;
            let mut rows = Vec::new();
            for s in series {
                let points = recent::points(reader, s.id, now, lookback, raw_retention, step)?;
                rows.push(json!({"series": s, "pattern": patterns::detect(&points)}));
            }
            Ok((rows, truncated))
        })
        .await?;
    Ok(Json(json!({
        "status": "success",
        "truncated": truncated,
        "patterns": rows,
    })))
}
