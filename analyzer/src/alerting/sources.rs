//! The analyzer's own findings as alert signals: active anomaly events and recommendations
//! (which include the exhaustion forecasts that matter: a filesystem, memory, fds or cache
//! memory running out).
//!
//! Both are level-like: a finding is sent as firing at every round while it holds and simply
//! stops being sent when it goes away, so the engine resolves it after `resolve_timeout`.
//! Fingerprints use only what identifies the thing (series, rule and subject), never the
//! score or the numbers, so a finding whose evidence changes stays one alert.

use std::collections::BTreeMap;

use crate::alerting::{Severity, Signal, SignalStatus};
use crate::anomaly::events::AnomalyEvent;
use crate::recommend::{self, Recommendation};

/// Peak score from which an anomaly is a warning rather than an advisory: the detector's
/// scores are calibrated tail probabilities, and ≥ 0.9 is rare enough to be worth a page.
const WARNING_SCORE: f64 = 0.9;

/// Correlated series named in an anomaly alert's summary.
const HINTS_IN_SUMMARY: usize = 2;

/// One signal per active anomaly event.
pub fn from_anomalies(events: &[AnomalyEvent]) -> Vec<Signal> {
    events
        .iter()
        .map(|event| {
            let mut labels = event.labels.clone();
            labels.insert("target".into(), event.target.clone());
            labels.insert("series".into(), event.metric.clone());
            let mut summary = format!(
                "Anomaly in {} on {} (peak score {:.2})",
                event.metric, event.target, event.peak_score
            );
            let hints: Vec<&str> = event
                .correlations
                .iter()
                .take(HINTS_IN_SUMMARY)
                .map(|c| c.hint.as_str())
                .collect();
            if !hints.is_empty() {
                summary.push_str("; ");
                summary.push_str(&hints.join("; "));
            }
            Signal {
                source: "anomaly".into(),
                name: "AnomalyDetected".into(),
                labels,
                severity: if event.peak_score >= WARNING_SCORE {
                    Severity::Warning
                } else {
                    Severity::Advisory
                },
                summary,
                value: Some(event.peak_score),
                status: SignalStatus::Firing,
            }
        })
        .collect()
}

/// One signal per current recommendation; informational ones stay out of the alert stream
/// (they are listed by the API and on /metrics).
pub fn from_recommendations(recommendations: &[Recommendation]) -> Vec<Signal> {
    recommendations
        .iter()
        .filter_map(|r| {
            let severity = match r.severity {
                recommend::Severity::Info => return None,
                recommend::Severity::Warning => Severity::Warning,
                recommend::Severity::Critical => Severity::Critical,
            };
            let labels = BTreeMap::from([
                ("instance".to_owned(), r.instance.clone()),
                ("subject".to_owned(), r.subject.clone()),
                ("rule".to_owned(), r.rule.to_owned()),
            ]);
            Some(Signal {
                source: "recommendation".into(),
                name: "Recommendation".into(),
                labels,
                severity,
                summary: format!("{} Action: {}", r.summary, r.action),
                value: Some(r.confidence),
                status: SignalStatus::Firing,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::events::Correlation;

    fn event(peak_score: f64, correlations: Vec<Correlation>) -> AnomalyEvent {
        AnomalyEvent {
            id: 1,
            target: "host".into(),
            metric: "node_load1".into(),
            labels: BTreeMap::new(),
            start_ms: 0,
            last_ms: 0,
            end_ms: None,
            peak_score,
            peak_ms: 0,
            correlations,
        }
    }

    #[test]
    fn anomaly_severity_follows_the_peak_and_the_fingerprint_ignores_it() {
        let mild = from_anomalies(&[event(0.5, Vec::new())]);
        let strong = from_anomalies(&[event(0.95, Vec::new())]);
        assert_eq!(mild[0].severity, Severity::Advisory);
        assert_eq!(strong[0].severity, Severity::Warning);
        assert_eq!(mild[0].fingerprint(), strong[0].fingerprint());
        assert_eq!(mild[0].labels["series"], "node_load1");
    }

    #[test]
    fn anomaly_summary_names_the_top_hints() {
        let hint = |n: &str| Correlation {
            target: "host".into(),
            metric: n.into(),
            labels: BTreeMap::new(),
            r: 0.9,
            points: 30,
            hint: format!("moves with {n}"),
        };
        let signals = from_anomalies(&[event(0.7, vec![hint("a"), hint("b"), hint("c")])]);
        assert!(signals[0].summary.ends_with("moves with a; moves with b"));
    }

    #[test]
    fn recommendations_keep_severity_and_leave_out_info() {
        let rec = |severity, rule| Recommendation {
            id: format!("{rule}:host:/"),
            rule,
            severity,
            confidence: 0.8,
            instance: "host".into(),
            subject: "/".into(),
            summary: "Filesystem / full in 3h.".into(),
            action: "Free space.".into(),
            evidence: BTreeMap::new(),
            change: None,
        };
        let signals = from_recommendations(&[
            rec(recommend::Severity::Info, "cache_near_limit"),
            rec(recommend::Severity::Critical, "filesystem_exhaustion"),
        ]);
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].severity, Severity::Critical);
        assert_eq!(signals[0].labels["rule"], "filesystem_exhaustion");
        assert_eq!(
            signals[0].summary,
            "Filesystem / full in 3h. Action: Free space."
        );
    }
}
