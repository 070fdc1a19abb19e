//! Trends: forecast exhaustion, steadily growing RSS, probe latency change points.

use std::collections::BTreeMap;

use pulse_timeseries::forecast::{ForecastConfig, regime_start};

use super::super::window::{label, latest, line, points, span};
use super::super::{RecommendConfig, Recommendation, Severity};
use super::{duration, mib};
use crate::capacity::Forecast;
use crate::storage::{Reader, StoreError};

/// Forecast exhaustion within the warning horizon (and fd use already near its limit).
pub fn exhaustion(forecasts: &[Forecast], config: &RecommendConfig, out: &mut Vec<Recommendation>) {
    for f in forecasts {
        let (rule, what, action) = match f.resource {
            "filesystem_bytes" | "filesystem_inodes" => (
                "filesystem_exhaustion",
                f.labels.get("mountpoint").cloned().unwrap_or_default(),
                "free space (old logs, caches, snapshots) or grow the filesystem",
            ),
            "memory" | "swap" => (
                "memory_exhaustion",
                f.resource.to_owned(),
                "find the growing process group (see pulse:process_rss:bytes) or add memory",
            ),
            "file_descriptors" | "process_file_descriptors" => (
                "fd_exhaustion",
                f.labels
                    .get("groupname")
                    .cloned()
                    .unwrap_or_else(|| "host".to_owned()),
                "find the fd leak (ls /proc/PID/fd) or raise the limit (LimitNOFILE, fs.file-max)",
            ),
            _ => (
                "cache_memory_exhaustion",
                f.labels.get("target").cloned().unwrap_or_default(),
                "raise the cache's memory limit or shorten TTLs",
            ),
        };
        let left = f.seconds_left();
        let cache = rule == "cache_memory_exhaustion";
        if cache && f.limit > 0.0 && f.current / f.limit >= config.cache_used_max {
            // Already at the limit: `cache_memory_near_limit` says so.
            continue;
        }
        let fd_near = rule == "fd_exhaustion" && f.limit > 0.0 && f.current / f.limit >= 0.9;
        let within = left.is_some_and(|s| s as f64 <= config.warn_within.as_secs_f64());
        if !within && !fd_near {
            continue;
        }
        let critical = left.is_some_and(|s| s as f64 <= config.critical_within.as_secs_f64());
        // A narrow interval relative to the time left is a confident forecast.
        let confidence = match (left, f.earliest, f.latest) {
            (Some(s), Some(e), Some(l)) if s > 0 => {
                (1.0 - (l - e) as f64 / (2.0 * s as f64)).clamp(0.1, 0.95)
            }
            (Some(_), _, _) => 0.5,
            _ => 0.8,
        };
        let mut evidence = BTreeMap::new();
        evidence.insert("current", f.current);
        evidence.insert("limit", f.limit);
        evidence.insert("trend_per_hour", f.trend_per_second * 3600.0);
        if let Some(s) = left {
            evidence.insert("seconds_left", s as f64);
        }
        if let Some(e) = f.earliest {
            evidence.insert("earliest_timestamp", e as f64);
        }
        if let Some(l) = f.latest {
            evidence.insert("latest_timestamp", l as f64);
        }
        let when = match left {
            Some(s) => format!("exhausted in about {}", duration(s as f64)),
            None => format!("at {:.0} % of its limit", 100.0 * f.current / f.limit),
        };
        out.push(Recommendation {
            id: format!("{rule}:{}:{}:{what}", f.instance, f.resource),
            rule,
            // Filling a cache is what it is for; see `cache_near_limit`.
            severity: if cache {
                Severity::Info
            } else if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence,
            instance: f.instance.clone(),
            subject: what.clone(),
            summary: format!("{} {what} on {}: {when}", f.resource, f.instance),
            action: action.to_owned(),
            evidence,
            change: None,
        });
    }
}

/// Process group RSS growing steadily over the leak window: a leak suspect.
pub fn rss_leak(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    for group in latest(reader, "pulse:process_rss:bytes")? {
        let Some(name) = label(&group, "groupname") else {
            continue;
        };
        let window = points(reader, group.series.id, now_ms, config.leak_window)?;
        let secs = span(&window) as f64;
        if window.len() < 20 || secs < 0.8 * config.leak_window.as_secs_f64() {
            continue;
        }
        let Some((slope, r2)) = line(&window) else {
            continue;
        };
        let start = window[0].1.max(1.0);
        let growth = slope * secs / start;
        if slope <= 0.0 || r2 < 0.8 || growth < 0.1 {
            continue;
        }
        let instance = group.series.target.as_str();
        let mut evidence = BTreeMap::new();
        evidence.insert("growth_bytes_per_hour", slope * 3600.0);
        evidence.insert("r_squared", r2);
        evidence.insert("growth_ratio", growth);
        evidence.insert("rss_bytes", group.value.unwrap_or(f64::NAN));
        evidence.retain(|_, v| v.is_finite());
        out.push(Recommendation {
            id: format!("rss_leak:{instance}:{name}"),
            rule: "rss_leak",
            severity: Severity::Warning,
            confidence: r2.clamp(0.0, 0.95),
            instance: instance.to_owned(),
            subject: name.to_owned(),
            summary: format!(
                "process group {name} on {instance}: RSS grew {:.0} % in {} at a steady {}/hour (R² {r2:.2})",
                growth * 100.0,
                duration(secs),
                mib(slope * 3600.0)
            ),
            action: format!(
                "profile {name} for a memory leak (heap profile, or compare two dumps); until fixed, \
                 restart it before it adds {} a day, or cap it with cgroup memory.max",
                mib(slope * 86_400.0)
            ),
            evidence,
            change: None,
        });
    }
    Ok(())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    Some(*values.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Probe latency that stepped up and stayed up: the latest change point in the
/// `regression_window` (two lines fitting far better than one, as for forecasts), with the
/// median after it at least `latency_regression_ratio` times the median before.
pub fn probe_latency_regression(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let split = ForecastConfig {
        min_regime_secs: config.window.as_secs() as i64,
        ..ForecastConfig::default()
    };
    for probe in latest(reader, "pulse:probe_latency:seconds")? {
        let window = points(reader, probe.series.id, now_ms, config.regression_window)?;
        if window.len() < 30 {
            continue;
        }
        let start = regime_start(&window, |_| 0.0, &split);
        if start == 0 {
            continue;
        }
        let mut before: Vec<f64> = window[..start].iter().map(|p| p.1).collect();
        let mut after: Vec<f64> = window[start..].iter().map(|p| p.1).collect();
        let (Some(before), Some(after)) = (median(&mut before), median(&mut after)) else {
            continue;
        };
        let ratio = after / before.max(1e-6);
        // Below 10 ms a doubling is noise of the network stack, not a regression.
        if ratio < config.latency_regression_ratio || after - before < 0.01 {
            continue;
        }
        let instance = probe.series.target.as_str();
        let subject = label(&probe, "target")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                probe
                    .series
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        let changed_at = window[start].0;
        let mut evidence = BTreeMap::new();
        evidence.insert("median_before_seconds", before);
        evidence.insert("median_after_seconds", after);
        evidence.insert("ratio", ratio);
        evidence.insert("change_timestamp", changed_at as f64);
        let ago = (now_ms / 1000 - changed_at) as f64;
        out.push(Recommendation {
            id: format!("probe_latency_regression:{instance}:{subject}"),
            rule: "probe_latency_regression",
            severity: if ratio >= 2.0 * config.latency_regression_ratio {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence: if start >= 30 && window.len() - start >= 30 {
                0.8
            } else {
                0.6
            },
            instance: instance.to_owned(),
            subject: subject.clone(),
            summary: format!(
                "probe {subject}: median latency {:.0} ms → {:.0} ms ({ratio:.1}×) since {} ago",
                before * 1000.0,
                after * 1000.0,
                duration(ago)
            ),
            action: format!(
                "check what changed around {} ago for {subject} (deploy, config, dependency, \
                 network path) and roll back or fix it",
                duration(ago)
            ),
            evidence,
            change: None,
        });
    }
    Ok(())
}
