//! Alerting: turns what the analyzer sees into alerts people can act on, and delivers them
//! without a storm.
//!
//! # Pieces
//! * [`rules`]: threshold rules (severity levels, `for`, hysteresis, N consecutive intervals,
//!   linear fill-time) evaluated over the latest stored samples after every scrape round.
//! * [`lifecycle`]: the [`Engine`](lifecycle::Engine): fingerprints, states
//!   (firing → acknowledged → resolved), silences, grouping, repeat, escalation.
//! * [`store`]: alerts, silences, groups and the notification outbox in the analyzer's
//!   SQLite database, so a restart neither repeats nor loses a notification.
//! * [`channels`]: Slack, email, webhook and Alertmanager, each with retries and backoff.
//! * [`dispatch`]: one delivery queue per channel, so a dead or slow channel blocks no
//!   other channel and never blocks detection.
//! * [`service`]: wires them into `run`; [`api`]: the REST endpoints and the SSE stream.
//! * [`sources`]: active anomaly events and recommendations as signals, polled every round.
//!
//! # Feeding other sources in
//! Everything enters the engine as a [`Signal`] through
//! [`Engine::observe(now, signals)`](lifecycle::Engine::observe). Threshold rules are one
//! producer; anomaly events, exhaustion forecasts and recommendations are others: map each
//! finding to a `Signal` with its own `source` (`"anomaly"`, `"forecast"`,
//! `"recommendation"`), a stable `name` and the labels that identify the thing it is about,
//! and send [`SignalStatus::Firing`] while it holds. Either send `Resolved` when it ends or
//! stop sending it: an alert not observed for `alerting.resolve_timeout` (default 5m)
//! resolves itself, which suits point events such as anomalies. In `run`, push signals to
//! [`service::Alerting::observe`]; it evaluates them with the rule signals of the next round.

pub mod api;
pub mod channels;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod lifecycle;
pub mod message;
pub mod rules;
pub mod service;
pub mod sources;
pub mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;

use serde::{Deserialize, Serialize};

/// How urgent an alert is; ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[serde(alias = "P4", alias = "p4")]
    Info,
    #[serde(alias = "P3", alias = "p3")]
    Advisory,
    #[serde(alias = "P2", alias = "p2")]
    Warning,
    #[serde(alias = "P1", alias = "p1")]
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Advisory,
        Severity::Warning,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Advisory => "advisory",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The on-call shorthand (P1 is the most urgent).
    pub fn priority(self) -> &'static str {
        match self {
            Severity::Critical => "P1",
            Severity::Warning => "P2",
            Severity::Advisory => "P3",
            Severity::Info => "P4",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text || s.priority().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AlertState::Firing,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Firing or acknowledged: the condition still holds.
    pub fn is_active(self) -> bool {
        self != AlertState::Resolved
    }
}

/// Whether the condition a signal reports holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalStatus {
    Firing,
    Resolved,
}

/// One observation from any alert source (rules, anomaly detection, forecasts,
/// recommendations): the single input of the [`lifecycle::Engine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// What produced it: `rule`, `anomaly`, `forecast`, `recommendation`.
    pub source: String,
    /// The alert name (`CpuHigh`, `FilesystemFillingUp`, ...).
    pub name: String,
    /// What it is about (`target`, `mountpoint`, ...). Together with `source` and `name`
    /// they make the fingerprint, so keep them stable and free of values.
    pub labels: BTreeMap<String, String>,
    pub severity: Severity,
    /// One readable line for people.
    pub summary: String,
    /// The key number behind it, if any (shown in messages).
    pub value: Option<f64>,
    pub status: SignalStatus,
}

impl Signal {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.source, &self.name, &self.labels)
    }
}

/// A stable id for "this condition on this thing": FNV-1a (as Alertmanager) over source,
/// name and the sorted labels, as 16 hex digits. Severity is not part of it, so an alert
/// that worsens from warning to critical stays one alert.
pub fn fingerprint(source: &str, name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut hasher = fnv::FnvHasher::default();
    for part in [source, name] {
        hasher.write(part.as_bytes());
        hasher.write_u8(0xff);
    }
    for (key, value) in labels {
        hasher.write(key.as_bytes());
        hasher.write_u8(0xfe);
        hasher.write(value.as_bytes());
        hasher.write_u8(0xff);
    }
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_label_order_free() {
        let a: BTreeMap<String, String> = [("b".into(), "2".into()), ("a".into(), "1".into())]
            .into_iter()
            .collect();
        let fp = fingerprint("rule", "CpuHigh", &a);
        assert_eq!(fp.len(), 16);
        // A fixed value: a change here would orphan every stored alert.
        assert_eq!(fp, "82dda61d56e3952f");
        assert_ne!(fp, fingerprint("anomaly", "CpuHigh", &a));
        let mut b = a.clone();
        b.insert("a".into(), "9".into());
        assert_ne!(fp, fingerprint("rule", "CpuHigh", &b));
    }

    #[test]
    fn severities_parse_names_and_priorities() {
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::parse("P2"), Some(Severity::Warning));
        assert_eq!(Severity::parse("bad"), None);
        assert!(Severity::Critical > Severity::Warning);
    }
}
