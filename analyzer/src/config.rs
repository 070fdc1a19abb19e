//! The analyzer's YAML configuration (`--config.file`).
//!
//! Same contract as the exporter's config (whose YAML helper it reuses): strict
//! (`deny_unknown_fields`), validated while read, and every mistake reported as
//! `FILE:LINE:COL: field.path: message`. Secrets (basic-auth passwords, the write token) are
//! only ever named by file, so the config file itself can be shared and logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pulse_exporter::config::{ConfigError, invalid_at, parse_yaml, read_file};
use serde::{Deserialize, Deserializer};

use crate::anomaly::AnomalyConfig;
use crate::derived::Derived;

pub const DEFAULT_TARGET: &str = "http://127.0.0.1:9100/metrics";
pub const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:9190";
pub const DEFAULT_STORAGE_PATH: &str = "./pulse-history.db";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where history comes from: `local` scrapes `targets`; `prometheus` reads
    /// `prometheus.queries` from a Prometheus-compatible query API (fleet mode).
    pub source: SourceKind,
    pub targets: Vec<Target>,
    pub prometheus: Option<PrometheusSource>,
    pub storage: Storage,
    pub retention: Retention,
    /// Derived series computed after each scrape (default: all of them).
    pub derived: Vec<Derived>,
    pub web: Web,
    /// Alert rules, routes, channels and grouping (see `alerting::config`).
    pub alerting: crate::alerting::config::AlertingConfig,
    /// Forecasts, recommendations and the opt-in apply mode.
    pub analysis: crate::analysis::AnalysisConfig,
    /// Live anomaly detection and the `detect` command's detector settings.
    pub anomaly: AnomalyConfig,
    /// Reports mailed on a schedule through the alerting channels.
    pub reports: crate::schedule::config::ReportsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: SourceKind::Local,
            targets: vec![Target::default_target()],
            prometheus: None,
            storage: Storage::default(),
            retention: Retention::default(),
            derived: Derived::ALL.to_vec(),
            web: Web::default(),
            alerting: Default::default(),
            analysis: crate::analysis::AnalysisConfig::default(),
            anomaly: AnomalyConfig::default(),
            reports: Default::default(),
        }
    }
}

impl Config {
    /// Reads and validates `path`. An empty file is the default configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &read_file(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let config: Config = parse_yaml(path, text)?;
        // Cross-field rules are checked after deserializing: point at the field's own line.
        let invalid =
            |at: &str, field: &str, message: &str| invalid_at(path, text, at, field, message);
        if config.source == SourceKind::Prometheus && config.prometheus.is_none() {
            return Err(invalid(
                "source",
                "prometheus",
                "required when source is prometheus",
            ));
        }
        if config.retention.rollups < config.retention.raw {
            return Err(invalid(
                "retention.rollups",
                "retention.rollups",
                "must be at least retention.raw",
            ));
        }
        let alerting = &config.alerting;
        let known = |name: &String| alerting.channels.contains_key(name);
        for (i, route) in alerting.routes.iter().enumerate() {
            for (list, field) in [
                (&route.channels, "channels"),
                (&route.escalate_to, "escalate_to"),
            ] {
                if let Some(name) = list.iter().find(|n| !known(n)) {
                    let field = format!("alerting.routes[{i}].{field}");
                    let message = format!("no channel named {name:?} in alerting.channels");
                    return Err(invalid(&field, &field, &message));
                }
            }
        }
        if let Some((i, message)) =
            crate::schedule::config::check_channels(&config.reports.schedules, &alerting.channels)
        {
            let field = format!("reports.schedules[{i}]");
            return Err(invalid(&field, &field, &message));
        }
        if let Err(e) = config.analysis.recommendations.validate() {
            return Err(invalid(&e.field, &e.field, e.message));
        }
        Ok(config)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Local,
    Prometheus,
}

/// A validated, non-zero duration written the humantime way (`15s`, `5m`, `48h`, `90d`);
/// the same type as the exporter's config durations, so both binaries read them alike.
pub use pulse_exporter::config::ConfigDuration as Dur;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawTarget")]
pub struct Target {
    pub url: String,
    /// Stored as the `target` of every series; defaults to the URL's host:port.
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub tls: TlsClient,
    pub basic_auth: Option<BasicAuth>,
}

impl Target {
    pub fn default_target() -> Self {
        Self::try_from(RawTarget {
            url: DEFAULT_TARGET.to_owned(),
            name: None,
            interval: None,
            timeout: None,
            tls: TlsClient::default(),
            basic_auth: None,
        })
        .expect("the default target is valid")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    url: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    interval: Option<Dur>,
    #[serde(default)]
    timeout: Option<Dur>,
    #[serde(default)]
    tls: TlsClient,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
}

impl TryFrom<RawTarget> for Target {
    type Error = String;

    fn try_from(raw: RawTarget) -> Result<Self, String> {
        let url = reqwest::Url::parse(&raw.url).map_err(|e| format!("url {:?}: {e}", raw.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url {:?}: scheme must be http or https", raw.url));
        }
        let interval = raw.interval.map_or(Duration::from_secs(15), |d| d.0);
        let timeout = raw
            .timeout
            .map_or_else(|| interval.min(Duration::from_secs(10)), |d| d.0);
        if timeout > interval {
            return Err(format!(
                "timeout ({}) must not exceed interval ({})",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ));
        }
        let name = raw.name.unwrap_or_else(|| {
            let host = url.host_str().unwrap_or("unknown");
            match url.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        });
        Ok(Target {
            url: raw.url,
            name,
            interval,
            timeout,
            tls: raw.tls,
            basic_auth: raw.basic_auth,
        })
    }
}

/// How the analyzer trusts a scraped or queried HTTPS server, and proves itself to one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "RawTlsClient")]
pub struct TlsClient {
    /// PEM file of extra CA certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM files of the certificate (and its key) presented to a server that asks for one:
    /// an exporter whose web config requires client certificates (`client_auth_type:
    /// RequireAndVerifyClientCert`), a Prometheus behind mutual TLS.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// Skip certificate verification (testing only).
    pub insecure_skip_verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsClient {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

impl TryFrom<RawTlsClient> for TlsClient {
    type Error = String;

    fn try_from(raw: RawTlsClient) -> Result<Self, String> {
        let client_certificate = match (raw.cert_file, raw.key_file) {
            (Some(cert_file), Some(key_file)) => Some((cert_file, key_file)),
            (None, None) => None,
            (Some(_), None) => {
                return Err("cert_file needs key_file (the certificate's key)".into());
            }
            (None, Some(_)) => {
                return Err("key_file needs cert_file (the key's certificate)".into());
            }
        };
        Ok(Self {
            ca_file: raw.ca_file,
            client_certificate,
            insecure_skip_verify: raw.insecure_skip_verify,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    /// Read at start-up; the password never appears in the config or the logs.
    pub password_file: PathBuf,
}

/// Fleet mode: history comes from a Prometheus-compatible API instead of local scrapes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL, e.g. `http://prometheus:9090` (Thanos, Mimir and VictoriaMetrics work too).
    pub url: String,
    /// How often to pull new points.
    #[serde(default = "default_fleet_interval")]
    pub interval: Dur,
    /// Resolution asked of `query_range`.
    #[serde(default = "default_fleet_step")]
    pub step: Dur,
    /// How far back the first pull reaches.
    #[serde(default = "default_fleet_lookback")]
    pub lookback: Dur,
    #[serde(default)]
    pub tls: TlsClient,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// PromQL expressions stored under `name` (default: the derived series, fleet-wide).
    #[serde(default = "crate::fleet::default_queries")]
    pub queries: Vec<FleetQuery>,
}

fn default_fleet_interval() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_fleet_step() -> Dur {
    Dur(Duration::from_secs(15))
}
fn default_fleet_lookback() -> Dur {
    Dur(Duration::from_secs(3600))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetQuery {
    pub name: String,
    pub expr: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// SQLite database file (`--storage.path` wins).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// How long raw samples are kept.
    #[serde(deserialize_with = "de_duration")]
    pub raw: Duration,
    /// How long rollups are kept.
    #[serde(deserialize_with = "de_duration")]
    pub rollups: Duration,
    /// Width of one rollup bucket (min/max/avg/last).
    #[serde(deserialize_with = "de_duration")]
    pub rollup_step: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: Duration::from_secs(48 * 3600),
            rollups: Duration::from_secs(90 * 86400),
            rollup_step: Duration::from_secs(300),
        }
    }
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    Dur::deserialize(deserializer).map(|d| d.0)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// `--web.listen-address` wins.
    pub listen_address: Option<String>,
    /// exporter-toolkit web config (TLS, basic auth) for the analyzer's own server.
    pub config_file: Option<PathBuf>,
    /// File holding the bearer token that write endpoints (`POST /api/v1/admin/...`)
    /// require; without it they are disabled.
    pub write_token_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("analyzer.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.targets.len(), 1);
        assert_eq!(config.targets[0].url, DEFAULT_TARGET);
        assert_eq!(config.targets[0].name, "127.0.0.1:9100");
        assert_eq!(config.targets[0].interval, Duration::from_secs(15));
        assert_eq!(config.retention.raw, Duration::from_secs(48 * 3600));
        assert_eq!(config.derived.len(), Derived::ALL.len());
    }

    #[test]
    fn full_config_parses() {
        let config = parse(
            "source: local\n\
             targets:\n\
             \x20 - url: https://db1:9100/metrics\n\
             \x20   name: db1\n\
             \x20   interval: 30s\n\
             \x20   timeout: 5s\n\
             \x20   tls: {ca_file: ca.pem}\n\
             \x20   basic_auth: {username: u, password_file: pw}\n\
             retention: {raw: 24h, rollups: 30d, rollup_step: 1m}\n\
             derived: [cpu_utilisation, filesystem_used]\n\
             web: {listen_address: '127.0.0.1:0', write_token_file: token}\n",
        )
        .unwrap();
        assert_eq!(config.targets[0].name, "db1");
        assert_eq!(config.targets[0].timeout, Duration::from_secs(5));
        assert_eq!(config.retention.rollup_step, Duration::from_secs(60));
        assert_eq!(
            config.derived,
            vec![Derived::CpuUtilisation, Derived::FilesystemUsed]
        );
    }

    #[test]
    fn unknown_field_names_line_and_path() {
        let err = parse("targets:\n  - url: http://a/metrics\n    intervall: 5s\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:3:5: targets[0].intervall: unknown field `intervall`"),
            "{err}"
        );
    }

    #[test]
    fn bad_duration_names_field() {
        let err = parse("retention:\n  raw: forever\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:2:3: retention.raw: invalid duration \"forever\""),
            "{err}"
        );
        // The line of the field itself, not of the mapping's first key.
        let err =
            parse("retention:\n  raw: 48h\n  rollups: 90d\n  rollup_step: soon\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:4:3: retention.rollup_step: invalid duration \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn timeout_above_interval_is_rejected() {
        let err =
            parse("targets:\n  - url: http://a/metrics\n    interval: 5s\n    timeout: 10s\n")
                .unwrap_err();
        assert!(
            err.contains("targets[0]: timeout (10s) must not exceed interval (5s)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_derived_series_is_rejected() {
        let err = parse("derived: [cpu_utilisation, gpu]\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:1:28: derived[1]: unknown variant `gpu`"),
            "{err}"
        );
    }

    #[test]
    fn analysis_section_parses_and_checks_its_bounds() {
        let config = parse(
            "analysis:\n  interval: 30s\n  forecast: {horizon_secs: 86400}\n  recommendations:\n    \
             window: 5m\n    apply:\n      enabled: true\n      redis:\n        \
             - {address: '127.0.0.1:6379', min_maxmemory_bytes: 1, max_maxmemory_bytes: 2}\n",
        )
        .unwrap();
        assert_eq!(config.analysis.interval, Duration::from_secs(30));
        assert_eq!(config.analysis.forecast.horizon_secs, 86_400);
        assert_eq!(config.analysis.forecast.season_secs, 86_400, "default kept");
        let recs = &config.analysis.recommendations;
        assert_eq!(recs.window, Duration::from_secs(300));
        assert!(recs.apply.enabled);
        assert_eq!(recs.apply.redis[0].max_maxmemory_bytes, 2);
        assert!(!parse("").unwrap().analysis.recommendations.apply.enabled);

        let err = parse(
            "analysis:\n  recommendations:\n    apply:\n      redis:\n        - address: a:1\n          \
             min_maxmemory_bytes: 5\n          max_maxmemory_bytes: 1\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "analyzer.yml:7:11: analysis.recommendations.apply.redis[0].max_maxmemory_bytes: \
             must be at least min_maxmemory_bytes"
        );
        // The second entry's own line, not the first `max_maxmemory_bytes:` in the file.
        let err = parse(
            "analysis:\n  recommendations:\n    apply:\n      redis:\n        - address: a:1\n          \
             min_maxmemory_bytes: 1\n          max_maxmemory_bytes: 2\n        - address: b:1\n          \
             min_maxmemory_bytes: 5\n          max_maxmemory_bytes: 1\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "analyzer.yml:10:11: analysis.recommendations.apply.redis[1].max_maxmemory_bytes"
            ),
            "{err}"
        );
        let err = parse("analysis:\n  recommendations:\n    hit_ratio_min: 1.5\n").unwrap_err();
        assert_eq!(
            err,
            "analyzer.yml:3:5: analysis.recommendations.hit_ratio_min: must be between 0 and 1"
        );
        let err = parse("analysis:\n  recommendations:\n    windw: 5m\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:3:5: analysis.recommendations.windw: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn fleet_mode_needs_prometheus_section() {
        let err = parse("source: prometheus\n").unwrap_err();
        assert_eq!(
            err,
            "analyzer.yml:1:1: prometheus: required when source is prometheus"
        );
        let config = parse("source: prometheus\nprometheus: {url: 'http://p:9090'}\n").unwrap();
        assert!(!config.prometheus.unwrap().queries.is_empty());
    }
}
