//! Threshold rules over the stored history, turned into [`Signal`]s.
//!
//! A rule watches one metric; each series of it (per scrape target and labels) has its own
//! state. A level fires when the value has been past `fire` for `consecutive` evaluations
//! *and* for the `for` duration; a firing level holds until the value is back past `clear`
//! (hysteresis), so a value hovering at the threshold does not flap. The alert's severity
//! is the highest level that fires or holds; it resolves when none does.
//!
//! Signals carry the series labels plus `instance` (the scrape target, as in Prometheus)
//! and the rule's extra labels.

use std::collections::{BTreeMap, HashMap};

use super::config::{Op, RuleConfig};
use super::message::format_value;
use super::{Signal, SignalStatus};
use crate::storage::{Reader, Resolution, SeriesFilter, StoreError};

/// The rules a newcomer gets without writing any (`alerting.default_rules: false` turns
/// them off). Thresholds follow node-mixin's habits.
pub const DEFAULT_RULES: &str = r#"
- name: CpuHigh
  metric: "pulse:cpu_utilisation:ratio"
  levels:
    - {severity: warning, fire: 0.80, clear: 0.75}
    - {severity: critical, fire: 0.95, clear: 0.90}
  for: 5m
  summary: "CPU utilisation {{percent}} on {{instance}}"
- name: MemoryHigh
  # Used above 85 % / 95 % is available below 15 % / 5 %.
  metric: "pulse:memory_available:ratio"
  op: below
  levels:
    - {severity: warning, fire: 0.15, clear: 0.20}
    - {severity: critical, fire: 0.05, clear: 0.08}
  for: 5m
  summary: "Memory available only {{percent}} on {{instance}}"
- name: ProbeSlow
  metric: "pulse:probe_latency:seconds"
  levels:
    - {severity: warning, fire: 0.5, clear: 0.4}
  consecutive: 3
  summary: "Probe {{labels.target}} takes {{value}} s (over 500 ms)"
- name: ProbeDown
  metric: probe_success
  op: below
  levels:
    - {severity: critical, fire: 1}
  consecutive: 2
  summary: "Probe {{labels.target}} fails"
- name: TargetDown
  metric: up
  op: below
  levels:
    - {severity: warning, fire: 1}
  consecutive: 3
  summary: "Scrape of {{instance}} fails"
- name: FilesystemFillingUp
  # Seconds until full at the 6 h linear trend: warning within 24 h, critical within 4 h.
  metric: "pulse:filesystem_used:ratio"
  op: below
  fill: {limit: 1.0, lookback: 6h}
  levels:
    - {severity: warning, fire: 86400, clear: 108000}
    - {severity: critical, fire: 14400, clear: 21600}
  consecutive: 2
  summary: "Filesystem {{labels.mountpoint}} on {{instance}} full in about {{value}}"
"#;

pub fn default_rules() -> Vec<RuleConfig> {
    serde_yaml::from_str(DEFAULT_RULES).unwrap_or_else(|e| {
        tracing::error!("built-in alert rules: {e}");
        Vec::new()
    })
}

/// Samples older than this are not evaluated (the target stopped reporting the series).
const STALE_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Default)]
struct SeriesState {
    /// Index into the rule's levels of the level firing now.
    level: Option<usize>,
    streaks: Vec<u32>,
    since: Vec<Option<i64>>,
    /// Timestamp of the last sample taken in.
    last_at: Option<i64>,
}

/// The rules and each series' hysteresis state.
pub struct Rules {
    rules: Vec<RuleConfig>,
    state: HashMap<(usize, String), SeriesState>,
}

fn past(op: Op, value: f64, level: f64) -> bool {
    match op {
        Op::Above => value > level,
        Op::Below => value < level,
    }
}

impl Rules {
    pub fn new(rules: Vec<RuleConfig>) -> Self {
        Self {
            rules,
            state: HashMap::new(),
        }
    }

    pub fn rules(&self) -> &[RuleConfig] {
        &self.rules
    }

    /// Evaluates every rule against the latest samples in the history.
    pub fn evaluate(&mut self, now: i64, reader: &Reader) -> Result<Vec<Signal>, StoreError> {
        let mut signals = Vec::new();
        for index in 0..self.rules.len() {
            let rule = &self.rules[index];
            let filter = SeriesFilter {
                names: vec![rule.metric.clone()],
                target: rule.matchers.get("instance").cloned(),
            };
            let (latest, _) = reader.latest(&filter, crate::api::MAX_SERIES)?;
            for sample in latest {
                let Some(value) = sample.value else { continue };
                if now - sample.ts > STALE_MS {
                    continue;
                }
                let mut labels: BTreeMap<String, String> = sample.series.labels.clone();
                labels.insert("instance".into(), sample.series.target.clone());
                let value = match &self.rules[index].fill {
                    None => value,
                    Some(fill) => {
                        let lookback = fill.lookback.0.as_millis() as i64;
                        let (points, _) = reader.history(
                            sample.series.id,
                            now - lookback,
                            now,
                            None,
                            Resolution::Raw,
                            crate::api::MAX_POINTS,
                        )?;
                        let points: Vec<(i64, f64)> = points
                            .iter()
                            .filter_map(|p| p.value.map(|v| (p.ts / 1000, v)))
                            .collect();
                        seconds_until(&points, now / 1000, fill.limit)
                    }
                };
                signals.extend(self.step(sample.ts, index, labels, value));
            }
        }
        Ok(signals)
    }

    /// Feeds one sample (taken at `at`, ms) of one series of rule `index`; returns the
    /// signal it gives, if any. The same sample seen again (every target's scrape triggers
    /// a round) changes no streak: `consecutive` counts samples, not rounds.
    pub fn step(
        &mut self,
        at: i64,
        index: usize,
        mut labels: BTreeMap<String, String>,
        value: f64,
    ) -> Option<Signal> {
        let rule = self.rules.get(index)?;
        if !rule.matchers.iter().all(|(k, v)| labels.get(k) == Some(v)) || value.is_nan() {
            return None;
        }
        let key = (index, super::message::labels_text(&labels));
        let n = rule.levels.len();
        let state = self.state.entry(key).or_insert_with(|| SeriesState {
            level: None,
            streaks: vec![0; n],
            since: vec![None; n],
            last_at: None,
        });
        let fresh = state.last_at.is_none_or(|t| at > t);
        let (level, was) = if fresh {
            state.last_at = Some(at);
            for (i, level) in rule.levels.iter().enumerate() {
                if past(rule.op, value, level.fire) {
                    state.streaks[i] = state.streaks[i].saturating_add(1);
                    state.since[i].get_or_insert(at);
                } else {
                    state.streaks[i] = 0;
                    state.since[i] = None;
                }
            }
            let for_ms = rule.for_.as_millis() as i64;
            let level = (0..n).rev().find(|&i| {
                let fires = state.streaks[i] >= rule.consecutive
                    && state.since[i].is_some_and(|t| at - t >= for_ms);
                let clear = rule.levels[i].clear.unwrap_or(rule.levels[i].fire);
                let holds = state.level.is_some_and(|l| l >= i) && past(rule.op, value, clear);
                fires || holds
            });
            (level, std::mem::replace(&mut state.level, level))
        } else {
            // Nothing new: repeat the current verdict (keeps a firing alert alive).
            (state.level, state.level)
        };
        let severity = match (level, was) {
            (Some(i), _) => rule.levels[i].severity,
            (None, Some(i)) => rule.levels[i].severity,
            (None, None) => return None,
        };
        for (k, v) in &rule.labels {
            labels.insert(k.clone(), v.clone());
        }
        let summary = render(&rule.summary, &labels, value, rule.fill.is_some());
        Some(Signal {
            source: "rule".into(),
            name: rule.name.clone(),
            labels,
            severity,
            summary,
            value: Some(value),
            status: if level.is_some() {
                SignalStatus::Firing
            } else {
                SignalStatus::Resolved
            },
        })
    }
}

/// Seconds until the least-squares line through `points` (unix seconds, value) reaches
/// `limit`; infinite when it does not rise towards it. Uses the forecasting crate's
/// `predict_linear` (Prometheus' function) at two horizons.
pub fn seconds_until(points: &[(i64, f64)], now: i64, limit: f64) -> f64 {
    const HOUR: i64 = 3600;
    let (Some(at_now), Some(in_an_hour)) = (
        pulse_timeseries::forecast::predict_linear(points, now, 0),
        pulse_timeseries::forecast::predict_linear(points, now, HOUR),
    ) else {
        return f64::INFINITY;
    };
    let per_second = (in_an_hour - at_now) / HOUR as f64;
    if at_now >= limit {
        return 0.0;
    }
    if per_second <= 0.0 {
        return f64::INFINITY;
    }
    (limit - at_now) / per_second
}

/// Fills `{{value}}`, `{{percent}}`, `{{instance}}` and `{{labels.NAME}}`.
fn render(template: &str, labels: &BTreeMap<String, String>, value: f64, seconds: bool) -> String {
    let value_text = if seconds && value.is_finite() {
        humantime::format_duration(std::time::Duration::from_secs(
            value.max(0.0) as u64 / 60 * 60,
        ))
        .to_string()
    } else {
        format_value(value)
    };
    let mut out = template
        .replace("{{value}}", &value_text)
        .replace("{{percent}}", &format!("{:.1}%", value * 100.0))
        .replace(
            "{{instance}}",
            labels.get("instance").map_or("", String::as_str),
        );
    while let Some(start) = out.find("{{labels.") {
        let Some(len) = out[start..].find("}}") else {
            break;
        };
        let name = &out[start + "{{labels.".len()..start + len];
        let value = labels.get(name).cloned().unwrap_or_default();
        out.replace_range(start..start + len + 2, &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::Severity;

    fn rule(yaml: &str) -> Rules {
        Rules::new(vec![serde_yaml::from_str(yaml).unwrap()])
    }

    fn labels() -> BTreeMap<String, String> {
        [("instance".to_owned(), "db1".to_owned())].into()
    }

    #[test]
    fn defaults_parse() {
        let rules = default_rules();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "CpuHigh",
                "MemoryHigh",
                "ProbeSlow",
                "ProbeDown",
                "TargetDown",
                "FilesystemFillingUp"
            ]
        );
        assert_eq!(rules[0].levels[1].severity, Severity::Critical);
    }

    #[test]
    fn levels_for_and_hysteresis() {
        let mut r = rule(
            "{name: Cpu, metric: m, for: 1m, levels: [{severity: warning, fire: 0.8, clear: 0.7}, \
             {severity: critical, fire: 0.95, clear: 0.9}], summary: 'cpu {{percent}} on {{instance}}'}",
        );
        // Not yet: `for` has not elapsed.
        assert_eq!(r.step(0, 0, labels(), 0.85), None);
        let s = r.step(60_000, 0, labels(), 0.85).unwrap();
        assert_eq!(
            (s.severity, s.status),
            (Severity::Warning, SignalStatus::Firing)
        );
        assert_eq!(s.summary, "cpu 85.0% on db1");
        // Below fire but above clear: holds.
        assert_eq!(
            r.step(75_000, 0, labels(), 0.75).unwrap().status,
            SignalStatus::Firing
        );
        // Critical needs its own minute.
        assert_eq!(
            r.step(90_000, 0, labels(), 0.97).unwrap().severity,
            Severity::Warning
        );
        assert_eq!(
            r.step(150_000, 0, labels(), 0.97).unwrap().severity,
            Severity::Critical
        );
        // Back under critical's clear level: down to warning, then resolved under 0.7.
        assert_eq!(
            r.step(165_000, 0, labels(), 0.85).unwrap().severity,
            Severity::Warning
        );
        let s = r.step(180_000, 0, labels(), 0.5).unwrap();
        assert_eq!(s.status, SignalStatus::Resolved);
        assert_eq!(r.step(195_000, 0, labels(), 0.5), None);
    }

    #[test]
    fn consecutive_intervals_and_below() {
        let mut r = rule(
            "{name: Down, metric: probe_success, op: below, consecutive: 2, \
             levels: [{severity: critical, fire: 1}], summary: 'probe {{labels.target}} down'}",
        );
        let mut l = labels();
        l.insert("target".into(), "web".into());
        assert_eq!(r.step(0, 0, l.clone(), 0.0), None);
        assert_eq!(r.step(15_000, 0, l.clone(), 1.0), None);
        assert_eq!(r.step(30_000, 0, l.clone(), 0.0), None);
        let s = r.step(45_000, 0, l.clone(), 0.0).unwrap();
        assert_eq!(s.summary, "probe web down");
        assert_eq!(s.status, SignalStatus::Firing);
        assert_eq!(
            r.step(60_000, 0, l, 1.0).unwrap().status,
            SignalStatus::Resolved
        );
    }

    #[test]
    fn matchers_select_series() {
        let mut r = rule(
            "{name: X, metric: m, matchers: {instance: db2}, levels: [{severity: info, fire: 1}]}",
        );
        assert_eq!(r.step(0, 0, labels(), 5.0), None);
        let mut l = labels();
        l.insert("instance".into(), "db2".into());
        assert!(r.step(0, 0, l, 5.0).is_some());
    }

    #[test]
    fn default_rules_over_stored_history() {
        use crate::storage::{Point, Policy, Store, TargetStatus};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let hour = 3_600_000;
        let policy = Policy {
            raw: std::time::Duration::from_secs(48 * 3600),
            rollups: std::time::Duration::from_secs(96 * 3600),
            rollup_step: std::time::Duration::from_secs(300),
            grace: std::time::Duration::ZERO,
        };
        let mut store = Store::open(&path, policy).unwrap();
        let now = 100 * hour;
        let status = |ts| TargetStatus::scraped("host:9100", ts, 1);
        let mount = vec![("mountpoint".to_owned(), "/data".to_owned())];
        let probe = vec![("target".to_owned(), "web".to_owned())];
        let none: Vec<(String, String)> = Vec::new();
        // /data fills 2 % an hour and is at 96 %: full in 2 h.
        for i in 0..=36 {
            let ts = now - 6 * hour + i * hour / 6;
            let used = 0.96 - (36 - i) as f64 / 6.0 * 0.02;
            let point = Point {
                name: "pulse:filesystem_used:ratio",
                labels: &mount,
                value: used,
                ts_ms: ts,
            };
            store.ingest("host:9100", [point], &status(ts)).unwrap();
        }
        let probe_down = |ts| Point {
            name: "probe_success",
            labels: &probe,
            value: 0.0,
            ts_ms: ts,
        };
        // Down, but an hour ago: stale, not evaluated.
        let up = Point {
            name: "up",
            labels: &none,
            value: 0.0,
            ts_ms: now - hour,
        };
        store
            .ingest("host:9100", [probe_down(now), up], &status(now))
            .unwrap();
        let reader = crate::storage::Reader::open(&path).unwrap();
        let mut rules = Rules::new(default_rules());
        assert!(
            rules.evaluate(now, &reader).unwrap().is_empty(),
            "two intervals needed"
        );
        // The same samples again (another target's round) do not count as a second one.
        assert!(rules.evaluate(now + 5_000, &reader).unwrap().is_empty());
        let later = now + 15_000;
        let fs = Point {
            name: "pulse:filesystem_used:ratio",
            labels: &mount,
            value: 0.96 + 0.02 / 240.0,
            ts_ms: later,
        };
        store
            .ingest("host:9100", [probe_down(later), fs], &status(later))
            .unwrap();
        let mut signals = rules.evaluate(later, &reader).unwrap();
        signals.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = signals
            .iter()
            .map(|s| (s.name.as_str(), s.severity))
            .collect();
        assert_eq!(
            names,
            [
                ("FilesystemFillingUp", Severity::Critical),
                ("ProbeDown", Severity::Critical)
            ]
        );
        assert_eq!(
            signals[0].summary,
            "Filesystem /data on host:9100 full in about 1h 59m"
        );
        assert_eq!(signals[0].labels["instance"], "host:9100");
        assert_eq!(signals[1].summary, "Probe web fails");
    }

    #[test]
    fn fill_time_from_linear_trend() {
        // 1 % per hour from 50 %: full in 50 h.
        let points: Vec<(i64, f64)> = (0..=12)
            .map(|i| (i * 1800, 0.5 + i as f64 * 0.005))
            .collect();
        let secs = seconds_until(&points, 6 * 3600, 1.0);
        assert!((secs - 44.0 * 3600.0).abs() < 60.0, "{secs}");
        let flat: Vec<(i64, f64)> = (0..10).map(|i| (i * 60, 0.9)).collect();
        assert_eq!(seconds_until(&flat, 600, 1.0), f64::INFINITY);
        assert_eq!(
            render("full in {{value}}", &labels(), 5400.0, true),
            "full in 1h 30m"
        );
    }
}
