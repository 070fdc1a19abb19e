//! Alertmanager: push to `POST /api/v2/alerts`, so teams that run Alertmanager keep its
//! routing, inhibition and silences.
//!
//! Alertmanager resolves an alert whose `endsAt` passed. Prometheus re-sends every
//! evaluation; we only speak when a group flushes, so a firing alert is sent with an
//! `endsAt` one repeat interval plus one group interval ahead: the next repeat renews it
//! before it lapses, and the resolve message ends it at once.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{BuildError, SendError};
use crate::alerting::config::AlertmanagerConfig;
use crate::alerting::message::{AlertView, Message, format_value};

pub struct Alertmanager {
    url: String,
    ttl: Duration,
    http: reqwest::Client,
}

fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

impl Alertmanager {
    pub fn new(
        name: &str,
        config: &AlertmanagerConfig,
        ttl: Duration,
        http: reqwest::Client,
    ) -> Result<Self, BuildError> {
        let base = reqwest::Url::parse(&config.url).map_err(|e| BuildError::Invalid {
            channel: name.to_owned(),
            field: "alertmanager.url",
            message: e.to_string(),
        })?;
        let url = format!("{}/api/v2/alerts", base.as_str().trim_end_matches('/'));
        Ok(Self { url, ttl, http })
    }

    pub fn body(&self, message: &Message) -> Value {
        let alert = |a: &AlertView| {
            let mut labels = a.labels.clone();
            labels.insert("alertname".into(), a.name.clone());
            labels.insert("severity".into(), a.severity.as_str().into());
            labels.insert("pulse_source".into(), a.source.clone());
            let mut annotations = serde_json::Map::new();
            annotations.insert("summary".into(), json!(a.summary));
            if let Some(v) = a.value {
                annotations.insert("value".into(), json!(format_value(v)));
            }
            let ends = a
                .resolved_at
                .unwrap_or(message.created_at + self.ttl.as_millis() as i64);
            json!({
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(a.started_at),
                "endsAt": rfc3339(ends),
                "generatorURL": message.link,
            })
        };
        Value::Array(message.alerts.iter().map(alert).collect())
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let response = self
            .http
            .post(&self.url)
            .json(&self.body(message))
            .send()
            .await
            .map_err(SendError::from_reqwest)?;
        SendError::check(response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::message::tests::sample;

    #[test]
    fn body_has_alertmanager_shape() {
        let am = Alertmanager::new(
            "am",
            &AlertmanagerConfig {
                url: "http://am:9093/".into(),
            },
            Duration::from_secs(3600),
            reqwest::Client::new(),
        )
        .unwrap();
        assert_eq!(am.url, "http://am:9093/api/v2/alerts");
        let body = am.body(&sample());
        assert_eq!(body[0]["labels"]["alertname"], "CpuHigh");
        assert_eq!(body[0]["labels"]["severity"], "critical");
        assert_eq!(body[0]["annotations"]["value"], "0.97");
        assert_eq!(body[0]["startsAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body[0]["endsAt"], "1970-01-01T01:12:00.000Z");
    }
}
