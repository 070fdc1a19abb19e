//! The analysis on the JSON API: forecasts and recommendations from the last pass, patterns
//! computed on demand, and an operator's Apply of one recommendation.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use pulse_timeseries::patterns;
use serde::Deserialize;
use serde_json::json;

use super::Analysis;
use crate::api::{ApiError, ApiState, authorize};
use crate::recent;
use crate::storage::{self, SeriesFilter};

/// `GET /api/v1/forecasts`, `/api/v1/recommendations` and `/api/v1/patterns`; `POST
/// /api/v1/recommendations/{id}/apply`.
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/forecasts", get(forecasts))
        .route("/api/v1/recommendations", get(recommendations))
        .route("/api/v1/recommendations/{id}/apply", post(apply))
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
    let apply = &state.analysis_config.recommendations.apply;
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
        .map(|r| {
            let mut v = json!(r);
            v["applicable"] = json!(apply.bounds_for(r.change.as_ref()).is_some());
            v
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "computed_at": analysis.computed_at,
        "error": analysis.error,
        "apply_enabled": apply.enabled,
        "recommendations": recommendations,
        "actions": analysis.actions,
    })))
}

/// Makes one current recommendation's change now, for real (write token): the console's
/// Apply after the operator confirmed. Same servers, bounds, cooldown and log as apply mode;
/// a refusal is a 400 saying why. Redis is called on a blocking thread.
async fn apply(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let recommendation = snapshot(&state)?
        .recommendations
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no current recommendation with id {id:?}")))?;
    let (applier, shared) = (state.applier.clone(), state.analysis.clone());
    let result = tokio::task::spawn_blocking(move || {
        let mut applier = applier
            .lock()
            .map_err(|_| ApiError::Internal("applier lock poisoned".into()))?;
        let result = applier.apply(&recommendation, storage::now_ms() / 1000);
        // The log on `/api/v1/recommendations` shows the new entry before the next pass.
        if let Ok(mut analysis) = shared.write() {
            analysis.actions = applier.log.iter().cloned().collect();
            analysis.actions_total = applier.total;
        }
        Ok::<_, ApiError>(result)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let action = result.map_err(|refusal| ApiError::BadRequest(format!("{id}: {refusal}")))?;
    Ok(Json(json!({"status": "success", "action": action})))
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
