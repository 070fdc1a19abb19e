//! Recommendations: rules over the analysed state (latest values, recent windows of stored
//! history and the capacity forecasts), each producing a [`Recommendation`] with the numbers
//! that triggered it, a severity, a confidence and a concrete action.
//!
//! Rules are stateless: every evaluation reads the store afresh, so a recommendation appears
//! while its condition holds and disappears with it, and a restart loses nothing. The only
//! state is the apply log (see [`apply`]), kept by the caller.

pub mod apply;
mod rules;
mod window;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capacity::Forecast;
use crate::config::de_duration;
use crate::storage::{Reader, StoreError};

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A change Pulse can make itself (see [`apply`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// `CONFIG SET maxmemory <to>` on the Redis server at `address`.
    RedisMaxmemory { address: String, from: u64, to: u64 },
}

/// One recommendation. Plain data, so alerting can consume it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Stable while the condition holds: `rule:instance:subject`.
    pub id: String,
    pub rule: &'static str,
    pub severity: Severity,
    /// 0–1: how sure the rule is (amount and consistency of the evidence).
    pub confidence: f64,
    /// Scrape target the evidence came from.
    pub instance: String,
    /// What it is about: a mountpoint, a process group, a cache address, `host`.
    pub subject: String,
    pub summary: String,
    pub action: String,
    /// The numbers that triggered the rule.
    pub evidence: BTreeMap<&'static str, f64>,
    /// Present when Pulse can carry out the action itself.
    pub change: Option<Change>,
}

/// Thresholds of the rules and the opt-in apply mode (`analysis.recommendations`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommendConfig {
    /// Window for rates and "sustained" conditions (evictions, load, PSI, swapping).
    #[serde(deserialize_with = "de_duration")]
    pub window: Duration,
    /// Window over which a process group's RSS must grow steadily to be a leak suspect.
    #[serde(deserialize_with = "de_duration")]
    pub leak_window: Duration,
    /// Window in which a probe latency change point is looked for.
    #[serde(deserialize_with = "de_duration")]
    pub regression_window: Duration,
    /// Median latency after the change over before it from which it is a regression.
    pub latency_regression_ratio: f64,
    /// Cache hit ratio below which evictions are a problem.
    pub hit_ratio_min: f64,
    /// Cache memory use (of the limit) from which it counts as near the limit.
    pub cache_used_max: f64,
    /// MemAvailable / MemTotal below which memory is under pressure.
    pub memory_available_min: f64,
    /// Load average per core above which the CPU is saturated (for the whole window).
    pub load_per_core_max: f64,
    /// Connection-tracking table use (peak in the window, of its limit) from which it is near
    /// the limit; node-mixin alerts at 0.75.
    pub conntrack_used_max: f64,
    /// Forecast exhaustion within this is a warning ...
    #[serde(deserialize_with = "de_duration")]
    pub warn_within: Duration,
    /// ... and within this critical.
    #[serde(deserialize_with = "de_duration")]
    pub critical_within: Duration,
    pub apply: ApplyConfig,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            leak_window: Duration::from_secs(6 * 3600),
            regression_window: Duration::from_secs(6 * 3600),
            latency_regression_ratio: 1.5,
            hit_ratio_min: 0.9,
            cache_used_max: 0.9,
            memory_available_min: 0.1,
            load_per_core_max: 1.0,
            conntrack_used_max: 0.75,
            warn_within: Duration::from_secs(7 * 86_400),
            critical_within: Duration::from_secs(86_400),
            apply: ApplyConfig::default(),
        }
    }
}

/// Opt-in apply mode: dry-run unless `enabled`, and only for listed Redis servers, within
/// their bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyConfig {
    /// Carry out changes (otherwise only log what would be done).
    pub enabled: bool,
    /// Least time between two changes to the same server, so a change can take effect
    /// before the evidence is judged again.
    #[serde(deserialize_with = "de_duration")]
    pub cooldown: Duration,
    pub redis: Vec<RedisBounds>,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            cooldown: Duration::from_secs(3600),
            redis: Vec::new(),
        }
    }
}

/// A Redis server whose `maxmemory` Pulse may set, and the range it may set it in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisBounds {
    /// `host:port`, as in the exporter's `redis.targets[].address` (the `target` label).
    pub address: String,
    /// File holding the `AUTH` password (never logged).
    pub password_file: Option<PathBuf>,
    pub min_maxmemory_bytes: u64,
    pub max_maxmemory_bytes: u64,
}

/// A cross-field mistake in [`RecommendConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Full path of the field (`analysis.recommendations.apply.redis[0].max_maxmemory_bytes`).
    pub field: String,
    pub message: &'static str,
}

impl RecommendConfig {
    /// Cross-field checks serde cannot express.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (i, r) in self.apply.redis.iter().enumerate() {
            if r.min_maxmemory_bytes > r.max_maxmemory_bytes {
                return Err(Invalid {
                    field: format!("analysis.recommendations.apply.redis[{i}].max_maxmemory_bytes"),
                    message: "must be at least min_maxmemory_bytes",
                });
            }
        }
        for (key, v) in [
            ("hit_ratio_min", self.hit_ratio_min),
            ("cache_used_max", self.cache_used_max),
            ("memory_available_min", self.memory_available_min),
            ("conntrack_used_max", self.conntrack_used_max),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Invalid {
                    field: format!("analysis.recommendations.{key}"),
                    message: "must be between 0 and 1",
                });
            }
        }
        Ok(())
    }
}

/// Runs every rule; one rule failing to read the store fails the evaluation (the store is
/// shared, so the others would fail the same way).
pub fn evaluate(
    reader: &Reader,
    now_ms: i64,
    forecasts: &[Forecast],
    config: &RecommendConfig,
) -> Result<Vec<Recommendation>, StoreError> {
    let mut out = Vec::new();
    rules::cache_evictions(reader, now_ms, config, &mut out)?;
    rules::cache_near_limit(reader, config, &mut out)?;
    rules::memory_pressure(reader, now_ms, config, &mut out)?;
    rules::cpu_saturation(reader, now_ms, config, &mut out)?;
    rules::conntrack_near_limit(reader, now_ms, config, &mut out)?;
    rules::exhaustion(forecasts, config, &mut out);
    rules::rss_leak(reader, now_ms, config, &mut out)?;
    rules::probe_latency_regression(reader, now_ms, config, &mut out)?;
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests;
