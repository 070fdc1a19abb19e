//! Slack incoming webhook: one `text` in Slack's mrkdwn (bold title, one line per alert,
//! a link back). The webhook URL is a credential, so it only comes from a secret.

use serde_json::json;

use super::{BuildError, SendError};
use crate::alerting::config::SlackConfig;
use crate::alerting::message::{Message, alert_line};
use crate::schedule::mail::ReportMail;

pub struct Slack {
    url: String,
    channel: Option<String>,
    http: reqwest::Client,
}

impl Slack {
    pub fn new(
        name: &str,
        config: &SlackConfig,
        http: reqwest::Client,
    ) -> Result<Self, BuildError> {
        let url = config.url.load().map_err(|error| BuildError::Secret {
            channel: name.to_owned(),
            field: "slack.url",
            error,
        })?;
        if reqwest::Url::parse(&url).is_err() {
            // Say where it came from, not what it is.
            return Err(BuildError::Invalid {
                channel: name.to_owned(),
                field: "slack.url",
                message: format!("the secret from {:?} is not a URL", config.url),
            });
        }
        Ok(Self {
            url,
            channel: config.channel.clone(),
            http,
        })
    }

    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        self.post(text(message)).await
    }

    /// The report's summary: bold title, then the rest as a code block so the
    /// reasons and numbers keep their lines.
    pub async fn send_report(&self, report: &ReportMail) -> Result<(), SendError> {
        let body = report
            .text
            .strip_prefix(&report.title)
            .unwrap_or(&report.text)
            .trim();
        self.post(format!(
            "*{}*\n```{}```",
            escape(&report.title),
            escape(body)
        ))
        .await
    }

    async fn post(&self, text: String) -> Result<(), SendError> {
        let mut body = json!({ "text": text });
        if let Some(channel) = &self.channel {
            body["channel"] = json!(channel);
        }
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_reqwest)?;
        SendError::check(response).await
    }
}

/// Slack's mrkdwn escapes only `&`, `<` and `>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn text(message: &Message) -> String {
    let mut out = format!("*{}*", escape(&message.title()));
    for alert in &message.alerts {
        out.push_str("\n• ");
        out.push_str(&escape(&alert_line(alert, message.created_at)));
    }
    out.push_str(&format!("\n<{}|Open in Pulse>", message.link));
    out
}
