//! One group's notification, as stored in the outbox and rendered for people.
//!
//! Channels share the rendering so Slack, email and webhooks say the same thing: a title
//! with severity and count, then one line per alert with its summary, key number and age.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::store::Alert;
use super::{AlertState, Severity};

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Something in the group changed (new, worse, resolved).
    Notify,
    /// Nothing changed, but it is still firing after `repeat_interval`.
    Repeat,
    /// A critical alert nobody acknowledged in time.
    Escalation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    pub fingerprint: String,
    pub source: String,
    pub name: String,
    pub severity: Severity,
    pub state: AlertState,
    pub summary: String,
    pub value: Option<f64>,
    pub labels: BTreeMap<String, String>,
    pub started_at: i64,
    pub resolved_at: Option<i64>,
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id,
            fingerprint: a.fingerprint.clone(),
            source: a.source.clone(),
            name: a.name.clone(),
            severity: a.severity,
            state: a.state,
            summary: a.summary.clone(),
            value: a.value,
            labels: a.labels.clone(),
            started_at: a.started_at,
            resolved_at: a.resolved_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub kind: Kind,
    /// `firing` while any alert in it fires, else `resolved`.
    pub status: AlertState,
    pub alerts: Vec<AlertView>,
    /// Where to look and act (the analyzer's alert API).
    pub link: String,
    pub created_at: i64,
}

impl Message {
    pub fn firing(&self) -> impl Iterator<Item = &AlertView> {
        self.alerts.iter().filter(|a| a.state.is_active())
    }

    /// The most severe firing alert's severity (or the most severe overall when resolved).
    pub fn severity(&self) -> Severity {
        self.firing()
            .map(|a| a.severity)
            .max()
            .or_else(|| self.alerts.iter().map(|a| a.severity).max())
            .unwrap_or(Severity::Info)
    }

    /// `[P1 CRITICAL] 2 firing, 1 resolved: CpuHigh, ProbeDown (target=db1)`
    pub fn title(&self) -> String {
        let firing = self.firing().count();
        let resolved = self.alerts.len() - firing;
        let mut names: Vec<&str> = self.alerts.iter().map(|a| a.name.as_str()).collect();
        names.dedup();
        let prefix = match (self.kind, firing) {
            (_, 0) => "[RESOLVED]".to_owned(),
            (Kind::Escalation, _) => format!(
                "[ESCALATED {} {}]",
                self.severity().priority(),
                self.severity().as_str().to_uppercase()
            ),
            _ => format!(
                "[{} {}]",
                self.severity().priority(),
                self.severity().as_str().to_uppercase()
            ),
        };
        let mut counts = Vec::new();
        if firing > 0 {
            counts.push(format!("{firing} firing"));
        }
        if resolved > 0 {
            counts.push(format!("{resolved} resolved"));
        }
        let group = if self.group_labels.is_empty() {
            String::new()
        } else {
            format!(" ({})", labels_text(&self.group_labels))
        };
        format!(
            "{prefix} {}: {}{group}",
            counts.join(", "),
            names.join(", ")
        )
    }

    /// Plain text: the title, then one line per alert.
    pub fn text(&self) -> String {
        let mut out = self.title();
        out.push('\n');
        for a in &self.alerts {
            let _ = write!(out, "\n{}", alert_line(a, self.created_at));
        }
        let _ = write!(out, "\n\n{}", self.link);
        out
    }

    /// HTML for the email's rich part: the same content as [`Message::text`].
    pub fn html(&self) -> String {
        let mut out = format!(
            "<html><body><h2>{}</h2>\n<table border=\"1\" cellpadding=\"4\">\n\
             <tr><th>State</th><th>Severity</th><th>Alert</th><th>Summary</th><th>Value</th><th>Labels</th></tr>\n",
            escape(&self.title())
        );
        for a in &self.alerts {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.state.as_str(),
                a.severity.priority(),
                a.severity.as_str(),
                escape(&a.name),
                escape(&a.summary),
                a.value.map(format_value).unwrap_or_default(),
                escape(&labels_text(&a.labels))
            );
        }
        let _ = write!(
            out,
            "</table>\n<p><a href=\"{0}\">{0}</a></p></body></html>\n",
            escape(&self.link)
        );
        out
    }
}

/// `FIRING P1 critical CpuHigh: CPU at 97% on db1 (value 0.97, since 12m)`
pub fn alert_line(a: &AlertView, now: i64) -> String {
    let value = a
        .value
        .map(|v| format!(", value {}", format_value(v)))
        .unwrap_or_default();
    let age = std::time::Duration::from_secs(((now - a.started_at).max(0) / 1000) as u64);
    let state = a.state.as_str().to_uppercase();
    format!(
        "{state} {} {} {}: {} ({}{value}, since {})",
        a.severity.priority(),
        a.severity,
        a.name,
        a.summary,
        labels_text(&a.labels),
        humantime::format_duration(age)
    )
}

pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Four significant digits are enough for people; exact values are in the API.
pub fn format_value(v: f64) -> String {
    if v.is_finite() && v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else if v.is_finite() {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        v.to_string()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Message {
        let view = |name: &str, severity, state, value| AlertView {
            id: 1,
            fingerprint: "f".into(),
            source: "rule".into(),
            name: name.into(),
            severity,
            state,
            summary: format!("{name} <summary>"),
            value,
            labels: [("target".to_owned(), "db1".to_owned())].into(),
            started_at: 0,
            resolved_at: None,
        };
        Message {
            group_key: "0|target=db1".into(),
            group_labels: [("target".to_owned(), "db1".to_owned())].into(),
            kind: Kind::Notify,
            status: AlertState::Firing,
            alerts: vec![
                view(
                    "CpuHigh",
                    Severity::Critical,
                    AlertState::Firing,
                    Some(0.97),
                ),
                view("ProbeDown", Severity::Warning, AlertState::Resolved, None),
            ],
            link: "http://analyzer/api/v1/alerts".into(),
            created_at: 720_000,
        }
    }

    #[test]
    fn text_and_html_carry_severity_summary_numbers_and_link() {
        let m = sample();
        assert_eq!(
            m.title(),
            "[P1 CRITICAL] 1 firing, 1 resolved: CpuHigh, ProbeDown (target=db1)"
        );
        let text = m.text();
        assert!(
            text.contains(
                "FIRING P1 critical CpuHigh: CpuHigh <summary> (target=db1, value 0.97, since 12m)"
            ),
            "{text}"
        );
        assert!(text.ends_with("http://analyzer/api/v1/alerts"), "{text}");
        let html = m.html();
        assert!(html.contains("CpuHigh &lt;summary&gt;"), "{html}");
        assert!(!html.contains("<summary>"), "{html}");
    }

    #[test]
    fn values_are_readable() {
        assert_eq!(format_value(0.97), "0.97");
        assert_eq!(format_value(12.0), "12");
        assert_eq!(format_value(86_400_000.0), "8.640e7");
    }
}
