//! Generic webhook: a JSON body built from a template, so SMS gateways, Teams or
//! PagerDuty-style endpoints need no code. Without a template the whole message is sent.

use serde_json::Value;

use super::{BuildError, SendError};
use crate::alerting::config::WebhookConfig;
use crate::alerting::message::Message;
use crate::schedule::mail::ReportMail;

pub struct Webhook {
    url: String,
    token: Option<String>,
    body: Option<Value>,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(
        name: &str,
        config: &WebhookConfig,
        http: reqwest::Client,
    ) -> Result<Self, BuildError> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| BuildError::Invalid {
            channel: name.to_owned(),
            field: "webhook.url",
            message: e.to_string(),
        })?;
        let token = match &config.bearer_token {
            None => None,
            Some(secret) => Some(secret.load().map_err(|error| BuildError::Secret {
                channel: name.to_owned(),
                field: "webhook.bearer_token",
                error,
            })?),
        };
        Ok(Self {
            url: url.to_string(),
            token,
            body: config.body.clone(),
            http,
        })
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let body = match &self.body {
            None => serde_json::to_value(message).map_err(|e| SendError::Render(e.to_string()))?,
            Some(template) => fill(template, message)?,
        };
        self.post(&body).await
    }

    /// The report's summary as JSON (`kind: report`); the body template is for alerts only,
    /// since its placeholders describe an alert group.
    pub async fn send_report(&self, report: &ReportMail) -> Result<(), SendError> {
        let mut body =
            serde_json::to_value(report).map_err(|e| SendError::Render(e.to_string()))?;
        body["kind"] = Value::String("report".into());
        self.post(&body).await
    }

    async fn post(&self, body: &Value) -> Result<(), SendError> {
        let mut request = self.http.post(&self.url).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(SendError::from_reqwest)?;
        SendError::check(response).await
    }
}

/// Replaces the placeholders in every string of `template`.
pub fn fill(template: &Value, message: &Message) -> Result<Value, SendError> {
    Ok(match template {
        Value::String(text) if text == "{{alerts}}" => {
            serde_json::to_value(&message.alerts).map_err(|e| SendError::Render(e.to_string()))?
        }
        Value::String(text) => {
            let firing = message.firing().count();
            Value::String(
                text.replace("{{title}}", &message.title())
                    .replace("{{text}}", &message.text())
                    .replace("{{status}}", message.status.as_str())
                    .replace("{{severity}}", message.severity().as_str())
                    .replace("{{priority}}", message.severity().priority())
                    .replace("{{count}}", &firing.to_string())
                    .replace("{{link}}", &message.link)
                    .replace("{{group_key}}", &message.group_key),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, message))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), fill(v, message)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::message::tests::sample;

    #[test]
    fn template_fills_strings_and_alerts() {
        let template = serde_json::json!(
            {"summary": "{{title}}", "severity": "{{severity}}", "alerts": "{{alerts}}"}
        );
        let body = fill(&template, &sample()).unwrap();
        assert_eq!(body["severity"], "critical");
        assert_eq!(
            body["summary"],
            "[P1 CRITICAL] 1 firing, 1 resolved: CpuHigh, ProbeDown (target=db1)"
        );
        assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(body["alerts"][0]["name"], "CpuHigh");
    }
}
