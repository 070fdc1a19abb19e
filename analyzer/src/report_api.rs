//! `GET /api/v1/reports`: the `report` command's output over HTTP, so the console can offer
//! HTML, PDF, CSV and JSON downloads without shell access to the analyzer's host.
//!
//! A report is a read like `/api/v1/snapshot` (the same figures, summarised), so it follows
//! the read policy of the other history endpoints: open, behind the web config's TLS and
//! basic auth. Building reads every charted series and PDF starts a browser, so one report is
//! built at a time (others wait their turn) on a blocking thread with its own read
//! connection: a report never stalls scrapes or holds the API's shared reader.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::api::{ApiError, ApiState, parse_time};
use clap::ValueEnum;

use crate::cli::ReportFormat;
use crate::report::{self, Period, ReportError};
use crate::storage::{self, Reader};

pub fn routes() -> Router<Arc<ApiState>> {
    let turn = Arc::new(Semaphore::new(1));
    Router::new().route(
        "/api/v1/reports",
        get(move |state, query| render(state, query, turn.clone())),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// `day` (default), `week` or `custom` (needs `start`).
    period: Option<String>,
    /// `html` (default), `pdf`, `csv` or `json`.
    format: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// The `format` parameter, spelled as `report --format` takes it.
fn format(text: &str) -> Result<ReportFormat, ApiError> {
    ReportFormat::from_str(text, false).map_err(|_| {
        ApiError::BadRequest(format!(
            "format: expected html, pdf, csv or json, got {text:?}"
        ))
    })
}

/// The period the query names, with the label the report prints (as `report --period`).
fn period(query: &ReportQuery, now_ms: i64) -> Result<(&'static str, Period), ApiError> {
    let time = |text: &str, name: &str| {
        parse_time(text, now_ms).map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
    };
    let (name, period) = match query.period.as_deref().unwrap_or("day") {
        "day" => ("day", Period::last_day(now_ms)),
        "week" => ("week", Period::last_week(now_ms)),
        "custom" => {
            let start = query
                .start
                .as_deref()
                .ok_or_else(|| ApiError::BadRequest("start: required with period=custom".into()))?;
            let end_ms = match query.end.as_deref() {
                Some(end) => time(end, "end")?,
                None => now_ms,
            };
            let period = Period {
                label: "custom period".to_owned(),
                start_ms: time(start, "start")?,
                end_ms,
            };
            ("custom", period)
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "period: expected day, week or custom, got {other:?}"
            )));
        }
    };
    if query.period.as_deref() != Some("custom") && (query.start.is_some() || query.end.is_some()) {
        return Err(ApiError::BadRequest(
            "start: only with period=custom".into(),
        ));
    }
    if period.start_ms >= period.end_ms {
        return Err(ApiError::BadRequest("start: must be before end".into()));
    }
    Ok((name, period))
}

async fn render(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
    turn: Arc<Semaphore>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = format(query.format.as_deref().unwrap_or("html"))?;
    let now_ms = storage::now_ms();
    let (name, period) = period(&query, now_ms)?;
    let _turn = turn
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (path, chromium) = (state.db_path.clone(), state.report_chromium.clone());
    let body = tokio::task::spawn_blocking(move || {
        let reader = Reader::open(&path)?;
        let built = report::build(&reader, period, now_ms, &indicatif::ProgressBar::hidden())?;
        let mut out = Vec::new();
        report::render::write(&built, format, &chromium, &mut out)?;
        Ok::<_, ReportError>(out)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("report: {e}")))?;
    let day = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + millis(now_ms));
    let (content_type, extension) = report::render::media_type(format);
    let file = format!("pulse-report-{name}-{}.{extension}", &day.to_string()[..10]);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response())
}

fn millis(ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(ms.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    fn query(period: Option<&str>, start: Option<&str>, end: Option<&str>) -> ReportQuery {
        ReportQuery {
            period: period.map(str::to_owned),
            format: None,
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
        }
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("not a bad request: {other:?}"),
        }
    }

    #[test]
    fn periods_end_now_or_where_asked() {
        let now = 1_700_000_000_000;
        let (name, day) = period(&query(None, None, None), now).unwrap();
        assert_eq!((name, day.start_ms, day.end_ms), ("day", now - DAY_MS, now));
        let (_, week) = period(&query(Some("week"), None, None), now).unwrap();
        assert_eq!(week.end_ms - week.start_ms, 7 * DAY_MS);
        let (name, custom) = period(&query(Some("custom"), Some("-2h"), Some("-1h")), now).unwrap();
        assert_eq!(name, "custom");
        assert_eq!(
            (custom.start_ms, custom.end_ms),
            (now - 7_200_000, now - 3_600_000)
        );
    }

    #[test]
    fn bad_periods_name_the_parameter() {
        let now = 1_700_000_000_000;
        let cases = [
            (query(Some("month"), None, None), "period:"),
            (query(Some("custom"), None, None), "start: required"),
            (
                query(Some("custom"), Some("-1h"), Some("-2h")),
                "start: must be before",
            ),
            (
                query(Some("custom"), Some("yesterday"), None),
                "start: expected",
            ),
            (query(Some("day"), Some("-1h"), None), "start: only with"),
        ];
        for (q, expected) in cases {
            let got = message(period(&q, now).unwrap_err());
            assert!(got.starts_with(expected), "{got:?} lacks {expected:?}");
        }
        assert!(message(format("docx").unwrap_err()).starts_with("format:"));
    }
}
