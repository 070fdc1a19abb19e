//! Notification channels: what each receiver wants on the wire, and one delivery with
//! retries and exponential backoff (`backon`) around it.
//!
//! A delivery attempt that times out or gets a network error, 429 or 5xx is retried; a
//! 4xx other than 429 is the receiver saying the request itself is wrong, so it is not.
//! Every failed attempt counts in `pulse_analyzer_notifications_failed_total{channel}`.
//! Errors name the channel but never carry a secret (Slack URLs are credentials: reqwest
//! errors are stripped of their URL before they are shown).

pub mod alertmanager;
pub mod email;
pub mod slack;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::config::{ChannelConfig, ChannelKind, Retry, SecretError};
use super::message::Message;
use crate::schedule::mail::ReportMail;

/// What a channel carries: a group's alerts, or a report (see [`crate::schedule`]).
#[derive(Clone, Copy)]
enum Payload<'a> {
    Alerts(&'a Message),
    Report(&'a ReportMail),
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("alerting.channels.{channel}.{field}: {message}")]
    Invalid {
        channel: String,
        field: &'static str,
        message: String,
    },
    #[error("alerting.channels.{channel}.{field}: {error}")]
    Secret {
        channel: String,
        field: &'static str,
        error: SecretError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("HTTP: {0}")]
    Http(String),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("SMTP: {message}")]
    Smtp { message: String, permanent: bool },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("rendering: {0}")]
    Render(String),
}

impl SendError {
    /// Worth another attempt: the receiver may be back or less busy then.
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Http(_) | SendError::Timeout(_) => true,
            SendError::Status { status, .. } => *status == 429 || *status >= 500,
            SendError::Smtp { permanent, .. } => !permanent,
            SendError::Render(_) => false,
        }
    }

    fn from_reqwest(error: reqwest::Error) -> Self {
        // The URL may hold a credential (Slack); keep only what went wrong.
        SendError::Http(error.without_url().to_string())
    }

    /// Turns a non-2xx answer into an error with the start of its body.
    async fn check(response: reqwest::Response) -> Result<(), SendError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(SendError::Status {
            status: status.as_u16(),
            body: body.chars().take(200).collect(),
        })
    }
}

pub enum Kind {
    Slack(slack::Slack),
    Email(email::Email),
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::Alertmanager),
}

/// A ready-to-use channel: secrets loaded, client built.
pub struct Channel {
    pub name: String,
    pub kind: Kind,
    pub retry: Retry,
}

/// Sent and failed counts per channel, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    counts: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl DeliveryMetrics {
    pub fn register(&self, channel: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.entry(channel.to_owned()).or_default();
        }
    }

    fn add(&self, channel: &str, sent: u64, failed: u64) {
        if let Ok(mut counts) = self.counts.lock() {
            let entry = counts.entry(channel.to_owned()).or_default();
            entry.0 += sent;
            entry.1 += failed;
        }
    }

    /// (channel, sent, failed attempts), sorted by channel.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(k, (s, f))| (k.clone(), *s, *f)).collect())
            .unwrap_or_default()
    }
}

/// Builds every channel once and drops it: `--config.check` then also catches a missing
/// secret file, an unset variable or a bad address, not only syntax.
pub fn check(config: &super::config::AlertingConfig) -> Result<(), BuildError> {
    for (name, channel) in &config.channels {
        Channel::build(name, channel, config.grouping.repeat_interval)?;
    }
    Ok(())
}

impl Channel {
    /// `alertmanager_ttl`: how long a pushed firing alert stays valid in Alertmanager
    /// (see [`alertmanager`]).
    pub fn build(
        name: &str,
        config: &ChannelConfig,
        alertmanager_ttl: Duration,
    ) -> Result<Self, BuildError> {
        let http = || {
            reqwest::Client::builder()
                .user_agent(concat!("pulse-analyzer/", env!("CARGO_PKG_VERSION")))
                .timeout(config.retry.timeout)
                .build()
                .map_err(|e| BuildError::Invalid {
                    channel: name.to_owned(),
                    field: "http",
                    message: e.to_string(),
                })
        };
        let kind = match &config.kind {
            ChannelKind::Slack(c) => Kind::Slack(slack::Slack::new(name, c, http()?)?),
            ChannelKind::Email(c) => Kind::Email(email::Email::new(name, c, config.retry.timeout)?),
            ChannelKind::Webhook(c) => Kind::Webhook(webhook::Webhook::new(name, c, http()?)?),
            ChannelKind::Alertmanager(c) => Kind::Alertmanager(alertmanager::Alertmanager::new(
                name,
                c,
                alertmanager_ttl,
                http()?,
            )?),
        };
        Ok(Self {
            name: name.to_owned(),
            kind,
            retry: config.retry.clone(),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Slack(_) => "slack",
            Kind::Email(_) => "email",
            Kind::Webhook(_) => "webhook",
            Kind::Alertmanager(_) => "alertmanager",
        }
    }

    /// One attempt, bounded by the retry timeout.
    async fn send_once(&self, payload: Payload<'_>) -> Result<(), SendError> {
        let attempt = async {
            match (&self.kind, payload) {
                (Kind::Slack(c), Payload::Alerts(m)) => c.send(m).await,
                (Kind::Email(c), Payload::Alerts(m)) => c.send(m).await,
                (Kind::Webhook(c), Payload::Alerts(m)) => c.send(m).await,
                (Kind::Alertmanager(c), Payload::Alerts(m)) => c.send(m).await,
                (Kind::Slack(c), Payload::Report(r)) => c.send_report(r).await,
                (Kind::Email(c), Payload::Report(r)) => c.send_report(r).await,
                (Kind::Webhook(c), Payload::Report(r)) => c.send_report(r).await,
                (Kind::Alertmanager(_), Payload::Report(_)) => Err(SendError::Render(
                    "Alertmanager takes alerts, not reports".into(),
                )),
            }
        };
        tokio::time::timeout(self.retry.timeout, attempt)
            .await
            .unwrap_or(Err(SendError::Timeout(self.retry.timeout)))
    }

    /// Whether this channel can carry a report (Alertmanager only takes alerts).
    pub fn takes_reports(&self) -> bool {
        !matches!(self.kind, Kind::Alertmanager(_))
    }

    /// Delivers with retries; returns the attempts made and the final outcome.
    pub async fn deliver(
        &self,
        message: &Message,
        metrics: &DeliveryMetrics,
    ) -> (u32, Result<(), SendError>) {
        self.retrying(Payload::Alerts(message), metrics).await
    }

    /// Delivers a report with the same retries and backoff as alerts.
    pub async fn deliver_report(
        &self,
        report: &ReportMail,
        metrics: &DeliveryMetrics,
    ) -> (u32, Result<(), SendError>) {
        self.retrying(Payload::Report(report), metrics).await
    }

    async fn retrying(
        &self,
        payload: Payload<'_>,
        metrics: &DeliveryMetrics,
    ) -> (u32, Result<(), SendError>) {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.attempts.saturating_sub(1) as usize)
            .with_jitter();
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let result = (|| async {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let outcome = self.send_once(payload).await;
            if outcome.is_err() {
                metrics.add(&self.name, 0, 1);
            }
            outcome
        })
        .retry(backoff)
        .when(SendError::is_transient)
        .notify(|error, delay| {
            tracing::warn!(
                channel = %self.name,
                "delivery failed, retrying in {delay:?}: {error}"
            );
        })
        .await;
        if result.is_ok() {
            metrics.add(&self.name, 1, 0);
        }
        (attempts.load(std::sync::atomic::Ordering::Relaxed), result)
    }
}
