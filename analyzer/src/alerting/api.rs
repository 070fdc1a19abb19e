//! Alert endpoints under `/api/v1`: list and filter alerts, acknowledge, resolve, silence,
//! the notification log, and `GET /api/v1/events`, a Server-Sent Events stream of alert
//! changes. Writes need the analyzer's bearer (write) token; reads need it too when
//! `alerting.read_requires_token` is set. See `analyzer/API.md`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::lifecycle::{Engine, EngineError};
use super::service::Alerting;
use super::store::{Alert, AlertFilter};
use super::{AlertState, Severity};
use crate::api::{ApiError, ApiState, authorize, parse_limit, parse_time};
use crate::storage::now_ms;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}", get(one))
        .route("/api/v1/alerts/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/alerts/{id}/resolve", post(resolve))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(expire_silence),
        )
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/events", get(events))
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => ApiError::NotFound(m),
            EngineError::Conflict(m) | EngineError::Invalid(m) => ApiError::BadRequest(m),
            EngineError::Store(e) => ApiError::Internal(e.to_string()),
        }
    }
}

fn service(state: &ApiState) -> Result<Arc<Alerting>, ApiError> {
    state
        .alerting
        .clone()
        .ok_or_else(|| ApiError::NotFound("alerting is not running".into()))
}

/// The service, after checking the read policy.
fn reader(state: &ApiState, headers: &HeaderMap) -> Result<Arc<Alerting>, ApiError> {
    let alerting = service(state)?;
    if alerting.read_requires_token {
        authorize(state, headers)?;
    }
    Ok(alerting)
}

/// Runs `f` on the engine on a blocking thread (SQLite calls block).
async fn blocking<T: Send + 'static>(
    alerting: Arc<Alerting>,
    f: impl FnOnce(&Alerting) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(&alerting))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

fn engine_gone() -> ApiError {
    ApiError::Internal("alert engine unavailable".into())
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("id: expected an integer, got {text:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Comma-separated severities (`critical,warning` or `P1,P2`).
    severity: Option<String>,
    /// Comma-separated states.
    state: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
}

fn list_of<T>(
    text: Option<&str>,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                parse(s).ok_or_else(|| ApiError::BadRequest(format!("{what}: unknown value {s:?}")))
            })
            .collect()
    })
    .unwrap_or(Ok(Vec::new()))
}

async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let alerting = reader(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = now_ms();
    let time = |text: &Option<String>, name: &str| {
        text.as_deref()
            .map(|t| parse_time(t, now).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
            .transpose()
    };
    let filter = AlertFilter {
        severity: list_of(query.severity.as_deref(), "severity", Severity::parse)?,
        state: list_of(query.state.as_deref(), "state", AlertState::parse)?,
        start: time(&query.start, "start")?,
        end: time(&query.end, "end")?,
        limit: parse_limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?,
    };
    let (alerts, truncated) = blocking(alerting, move |a| {
        let engine = a.engine.lock().map_err(|_| engine_gone())?;
        Ok(engine.store().alerts(&filter).map_err(EngineError::from)?)
    })
    .await?;
    Ok(Json(
        json!({"status": "success", "truncated": truncated, "alerts": alerts}),
    ))
}

async fn one(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let alerting = reader(&state, &headers)?;
    let id = parse_id(&id)?;
    let alert = blocking(alerting, move |a| {
        let engine = a.engine.lock().map_err(|_| engine_gone())?;
        engine
            .store()
            .alert(id)
            .map_err(EngineError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no alert with id {id}")))
    })
    .await?;
    Ok(Json(json!({"status": "success", "alert": alert})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorBody {
    /// Who did it (shown in the alert's history).
    #[serde(default)]
    by: Option<String>,
}

fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}

/// An operator's change to one alert (`Engine::acknowledge` or `Engine::resolve`).
type AlertChange = fn(&mut Engine, i64, i64, &str) -> Result<Alert, EngineError>;

async fn acknowledge(
    state: State<Arc<ApiState>>,
    headers: HeaderMap,
    id: Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    change_alert(state, headers, id, bytes, Engine::acknowledge).await
}

async fn resolve(
    state: State<Arc<ApiState>>,
    headers: HeaderMap,
    id: Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    change_alert(state, headers, id, bytes, Engine::resolve).await
}

async fn change_alert(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
    change: AlertChange,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let alerting = service(&state)?;
    let id = parse_id(&id)?;
    let actor: ActorBody = body(&bytes)?;
    let by = actor.by.unwrap_or_else(|| "api".into());
    let alert = blocking(alerting, move |a| {
        let mut engine = a.engine.lock().map_err(|_| engine_gone())?;
        Ok(change(&mut engine, now_ms(), id, &by)?)
    })
    .await?;
    Ok(Json(json!({"status": "success", "alert": alert})))
}

async fn silences(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let alerting = reader(&state, &headers)?;
    let now = now_ms();
    let silences = blocking(alerting, move |a| {
        let engine = a.engine.lock().map_err(|_| engine_gone())?;
        Ok(engine
            .store()
            .all_silences(MAX_LIMIT)
            .map_err(EngineError::from)?)
    })
    .await?;
    let silences: Vec<serde_json::Value> = silences
        .into_iter()
        .map(|s| {
            let active = s.is_active(now);
            let mut value = json!(s);
            value["active"] = json!(active);
            value
        })
        .collect();
    Ok(Json(json!({"status": "success", "silences": silences})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    /// Exact label values (`alertname`, `severity` and `source` too).
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    /// How long from now (`2h`); or give `ends_at`.
    #[serde(default)]
    duration: Option<String>,
    /// RFC 3339, Unix seconds or `-`/`now` forms as the query parameters.
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

async fn add_silence(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let alerting = service(&state)?;
    let request: SilenceBody = body(&bytes)?;
    let now = now_ms();
    let ends_at = match (&request.duration, &request.ends_at) {
        (Some(d), None) => {
            let d = humantime::parse_duration(d)
                .map_err(|e| ApiError::BadRequest(format!("duration: {d:?}: {e}")))?;
            now + d.as_millis() as i64
        }
        (None, Some(t)) => {
            parse_time(t, now).map_err(|e| ApiError::BadRequest(format!("ends_at: {e}")))?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of duration or ends_at".into(),
            ));
        }
    };
    let silence = blocking(alerting, move |a| {
        let mut engine = a.engine.lock().map_err(|_| engine_gone())?;
        let (silence, queued) = engine.add_silence(
            now,
            request.matchers,
            ends_at,
            request.created_by.as_deref().unwrap_or("api"),
            request.comment.as_deref().unwrap_or(""),
        )?;
        drop(engine);
        a.dispatch(&queued);
        Ok(silence)
    })
    .await?;
    Ok(Json(json!({"status": "success", "silence": silence})))
}

async fn expire_silence(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let alerting = service(&state)?;
    let id = parse_id(&id)?;
    blocking(alerting, move |a| {
        let mut engine = a.engine.lock().map_err(|_| engine_gone())?;
        let queued = engine.expire_silence(now_ms(), id)?;
        drop(engine);
        a.dispatch(&queued);
        Ok(())
    })
    .await?;
    Ok(Json(json!({"status": "success"})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<String>,
}

async fn notifications(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    query: Result<Query<LimitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let alerting = reader(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = parse_limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let rows = blocking(alerting, move |a| {
        let engine = a.engine.lock().map_err(|_| engine_gone())?;
        Ok(engine
            .store()
            .notifications(limit)
            .map_err(EngineError::from)?)
    })
    .await?;
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|n| {
            json!({
                "id": n.id, "channel": n.channel, "group_key": n.group_key,
                "created_at": n.created_at, "status": n.status, "attempts": n.attempts,
                "finished_at": n.finished_at, "error": n.error,
                "message": serde_json::from_str::<serde_json::Value>(&n.payload).ok(),
            })
        })
        .collect();
    Ok(Json(json!({"status": "success", "notifications": rows})))
}

/// `text/event-stream`: one `alert` event (JSON: change, at, alert) per alert change; a
/// `lagged` event with the number of events a slow client missed.
async fn events(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let alerting = reader(&state, &headers)?;
    let receiver = alerting.subscribe().ok_or_else(engine_gone)?;
    let stream = BroadcastStream::new(receiver).map(|item| {
        Ok(match item {
            Ok(change) => Event::default()
                .event("alert")
                .json_data(&change)
                .unwrap_or_else(|_| Event::default().event("error")),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
