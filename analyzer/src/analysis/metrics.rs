//! The analysis on the analyzer's `/metrics`: forecast and recommendation families.

use std::borrow::Cow;

use pulse_exporter::exposition::{Kind, MetricSet, Value};

use super::Analysis;
use crate::capacity::Forecast;

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
