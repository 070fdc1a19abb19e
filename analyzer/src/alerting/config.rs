//! The `alerting:` section of the analyzer config: rules, routes, channels, grouping.
//!
//! Each piece validates itself while it is deserialized (`try_from` raw structs), so a
//! mistake is reported with the file, line and field path like the rest of the config.
//! Secrets (webhook URLs, SMTP passwords) are never written in the file: they are named by
//! `*_file` or `*_env` and read when the channel is built.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Severity;
use crate::config::Dur;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Evaluate the built-in rules (CPU, memory, probes, filesystem fill) besides `rules`.
    pub default_rules: bool,
    pub rules: Vec<RuleConfig>,
    /// Checked in order; the first match decides unless it sets `continue: true`.
    pub routes: Vec<Route>,
    /// Channels by name, referenced from routes.
    pub channels: BTreeMap<String, ChannelConfig>,
    pub grouping: Grouping,
    /// An alert not observed again for this long resolves itself (for sources that report
    /// events and never say "over").
    #[serde(deserialize_with = "de_duration")]
    pub resolve_timeout: Duration,
    /// Base URL put into messages as the link back (default: the analyzer's listen address).
    pub external_url: Option<String>,
    /// Whether `GET /api/v1/alerts`, silences and events need the bearer token too.
    pub read_requires_token: bool,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            default_rules: true,
            rules: Vec::new(),
            routes: Vec::new(),
            channels: BTreeMap::new(),
            grouping: Grouping::default(),
            resolve_timeout: Duration::from_secs(300),
            external_url: None,
            read_requires_token: false,
        }
    }
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Dur::deserialize(d).map(|d| d.0)
}

/// Alertmanager's timing model: a new group waits `group_wait` to collect its siblings,
/// later changes are batched at most once per `group_interval`, and an unchanged firing
/// group is re-sent after `repeat_interval`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grouping {
    /// Labels whose values make a group (alerts about the same host go in one message).
    pub group_by: Vec<String>,
    #[serde(deserialize_with = "de_duration")]
    pub group_wait: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub group_interval: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub repeat_interval: Duration,
}

impl Default for Grouping {
    fn default() -> Self {
        Self {
            group_by: vec!["instance".to_owned()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Degraded when the value is above the level (utilisation, latency).
    #[default]
    Above,
    /// Degraded when the value is below the level (probe success, time until full).
    Below,
}

/// One severity step of a rule: fire when the value crosses `fire`, clear only when it
/// is back past `clear` (hysteresis; default: the same level).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub severity: Severity,
    pub fire: f64,
    #[serde(default)]
    pub clear: Option<f64>,
}

/// Linear fill-time: the rule's value becomes the seconds until the metric reaches
/// `limit` at the least-squares trend of the last `lookback` (infinite when not rising).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fill {
    #[serde(default = "default_fill_limit")]
    pub limit: f64,
    #[serde(default = "default_lookback")]
    pub lookback: Dur,
}

fn default_fill_limit() -> f64 {
    1.0
}
fn default_lookback() -> Dur {
    Dur(Duration::from_secs(6 * 3600))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRule")]
pub struct RuleConfig {
    pub name: String,
    pub metric: String,
    pub matchers: BTreeMap<String, String>,
    pub op: Op,
    /// Sorted from least to most severe.
    pub levels: Vec<Level>,
    pub for_: Duration,
    pub consecutive: u32,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    pub fill: Option<Fill>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    /// The stored series the rule reads (e.g. `pulse:cpu_utilisation:ratio`).
    metric: String,
    /// Only series with these exact label values.
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    #[serde(default)]
    op: Op,
    levels: Vec<Level>,
    /// How long a level must hold before it fires.
    #[serde(default, rename = "for")]
    for_: Option<Dur>,
    /// How many consecutive degraded evaluations a level needs before it fires.
    #[serde(default)]
    consecutive: Option<u32>,
    /// `{{value}}`, `{{target}}` and `{{labels.NAME}}` are filled in.
    #[serde(default)]
    summary: Option<String>,
    /// Added to the alert's labels (e.g. `team: db`).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    fill: Option<Fill>,
}

impl TryFrom<RawRule> for RuleConfig {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        if raw.name.is_empty() || raw.metric.is_empty() {
            return Err("name and metric must not be empty".into());
        }
        if raw.levels.is_empty() {
            return Err(format!("rule {}: levels: at least one level", raw.name));
        }
        let mut levels = raw.levels;
        levels.sort_by_key(|l| l.severity);
        for pair in levels.windows(2) {
            if pair[0].severity == pair[1].severity {
                return Err(format!(
                    "rule {}: levels: severity {} appears twice",
                    raw.name, pair[0].severity
                ));
            }
            let worse = match raw.op {
                Op::Above => pair[1].fire >= pair[0].fire,
                Op::Below => pair[1].fire <= pair[0].fire,
            };
            if !worse {
                return Err(format!(
                    "rule {}: levels: the {} level must fire past the {} level",
                    raw.name, pair[1].severity, pair[0].severity
                ));
            }
        }
        for level in &levels {
            if !level.fire.is_finite() {
                return Err(format!("rule {}: levels: fire must be a number", raw.name));
            }
            if let Some(clear) = level.clear {
                let ok = match raw.op {
                    Op::Above => clear <= level.fire,
                    Op::Below => clear >= level.fire,
                };
                if !ok {
                    return Err(format!(
                        "rule {}: levels: clear ({clear}) must be on the healthy side of fire ({})",
                        raw.name, level.fire
                    ));
                }
            }
        }
        let consecutive = raw.consecutive.unwrap_or(1);
        if consecutive == 0 {
            return Err(format!("rule {}: consecutive must be at least 1", raw.name));
        }
        Ok(Self {
            summary: raw
                .summary
                .unwrap_or_else(|| format!("{} is {{{{value}}}} on {{{{target}}}}", raw.metric)),
            name: raw.name,
            metric: raw.metric,
            matchers: raw.matchers,
            op: raw.op,
            levels,
            for_: raw.for_.map_or(Duration::ZERO, |d| d.0),
            consecutive,
            labels: raw.labels,
            fill: raw.fill,
        })
    }
}

/// Which alerts go to which channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Only these severities (default: all).
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// Only alerts with these exact label values (`alertname` matches the alert's name).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub channels: Vec<String>,
    /// Overrides `grouping.group_by` for this route.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// A critical alert nobody acknowledged for this long also goes to `escalate_to`.
    #[serde(default)]
    pub escalate_after: Option<Dur>,
    #[serde(default)]
    pub escalate_to: Vec<String>,
    /// Send a message when the group's alerts resolve.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Keep matching later routes after this one.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

fn yes() -> bool {
    true
}

/// A secret named by file or environment variable, never written in the config.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSecret")]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    env: Option<String>,
}

impl TryFrom<RawSecret> for Secret {
    type Error = String;

    fn try_from(raw: RawSecret) -> Result<Self, String> {
        match (raw.file, raw.env) {
            (Some(file), None) => Ok(Secret::File(file)),
            (None, Some(env)) => Ok(Secret::Env(env)),
            _ => Err("give exactly one of file or env".into()),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Where the secret lives is fine to show; its value never is.
        match self {
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
            Secret::Env(name) => write!(f, "Secret(env {name})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    // The io error is part of the message, not a `source`: `{:#}` chains would repeat it.
    #[error("reading {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("environment variable {0} is not set")]
    Env(String),
    #[error("{0} is empty")]
    Empty(String),
}

impl Secret {
    /// Reads the value (trailing newline trimmed).
    pub fn load(&self) -> Result<String, SecretError> {
        let (text, what) = match self {
            Secret::File(path) => (
                std::fs::read_to_string(path).map_err(|error| SecretError::Read {
                    path: path.clone(),
                    error,
                })?,
                path.display().to_string(),
            ),
            Secret::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::Env(name.clone()))?,
                name.clone(),
            ),
        };
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if text.is_empty() {
            return Err(SecretError::Empty(what));
        }
        Ok(text)
    }
}

/// Delivery retries: exponential backoff from `min_delay` to `max_delay`, `attempts` in all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    pub attempts: u32,
    #[serde(deserialize_with = "de_duration")]
    pub min_delay: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub max_delay: Duration,
    /// One attempt's deadline.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 8,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawChannel")]
pub struct ChannelConfig {
    pub kind: ChannelKind,
    pub retry: Retry,
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Slack(SlackConfig),
    Email(EmailConfig),
    Webhook(WebhookConfig),
    Alertmanager(AlertmanagerConfig),
}

impl ChannelKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelKind::Slack(_) => "slack",
            ChannelKind::Email(_) => "email",
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Alertmanager(_) => "alertmanager",
        }
    }
}

/// Exactly one of the typed keys, plus optional `retry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    #[serde(default)]
    slack: Option<SlackConfig>,
    #[serde(default)]
    email: Option<EmailConfig>,
    #[serde(default)]
    webhook: Option<WebhookConfig>,
    #[serde(default)]
    alertmanager: Option<AlertmanagerConfig>,
    #[serde(default)]
    retry: Retry,
}

impl TryFrom<RawChannel> for ChannelConfig {
    type Error = String;

    fn try_from(raw: RawChannel) -> Result<Self, String> {
        let mut kinds = Vec::new();
        kinds.extend(raw.slack.map(ChannelKind::Slack));
        kinds.extend(raw.email.map(ChannelKind::Email));
        kinds.extend(raw.webhook.map(ChannelKind::Webhook));
        kinds.extend(raw.alertmanager.map(ChannelKind::Alertmanager));
        if kinds.len() != 1 {
            return Err(
                "a channel needs exactly one of slack, email, webhook or alertmanager".into(),
            );
        }
        if raw.retry.attempts == 0 || raw.retry.min_delay > raw.retry.max_delay {
            return Err("retry: attempts must be at least 1 and min_delay <= max_delay".into());
        }
        Ok(Self {
            kind: kinds.remove(0),
            retry: raw.retry,
        })
    }
}

/// Slack incoming webhook; its URL is a credential, hence a secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub url: Secret,
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (port 587); the default.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Extra CA certificates (PEM) for the server's TLS certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// JSON body; string values may hold `{{title}}`, `{{text}}`, `{{status}}`,
    /// `{{severity}}`, `{{count}}`, `{{link}}`; a string that is exactly `{{alerts}}` becomes
    /// the array of alerts. Default: the whole message as JSON.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://alertmanager:9093`.
    pub url: String,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("analyzer.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn full_alerting_section_parses() {
        let config = parse(
            "alerting:\n\
             \x20 default_rules: false\n\
             \x20 rules:\n\
             \x20   - name: DiskBusy\n\
             \x20     metric: 'pulse:disk_io_time_seconds:rate'\n\
             \x20     matchers: {device: sda}\n\
             \x20     levels: [{severity: P3, fire: 0.9, clear: 0.8}]\n\
             \x20     for: 10m\n\
             \x20     consecutive: 4\n\
             \x20     labels: {team: storage}\n\
             \x20 routes:\n\
             \x20   - {severity: [critical], channels: [pager], escalate_after: 15m, escalate_to: [mail], continue: true}\n\
             \x20   - {labels: {team: storage}, channels: [mail], group_by: [alertname], send_resolved: false}\n\
             \x20 channels:\n\
             \x20   pager: {webhook: {url: 'https://pager/hook', bearer_token: {env: PAGER_TOKEN}}}\n\
             \x20   mail:\n\
             \x20     email: {host: smtp, security: tls, username: u, password: {file: pw}, from: a@b.c, to: [x@y.z]}\n\
             \x20     retry: {attempts: 3, min_delay: 2s, max_delay: 1m, timeout: 5s}\n\
             \x20 grouping: {group_by: [instance, alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 1h}\n\
             \x20 resolve_timeout: 10m\n\
             \x20 read_requires_token: true\n",
        )
        .unwrap();
        let a = config.alerting;
        assert!(!a.default_rules && a.read_requires_token);
        assert_eq!(a.rules[0].consecutive, 4);
        assert_eq!(a.rules[0].levels[0].severity, super::Severity::Advisory);
        assert_eq!(a.routes[0].escalate_to, ["mail"]);
        assert!(a.routes[0].continue_matching && !a.routes[1].send_resolved);
        assert_eq!(a.channels["mail"].retry.attempts, 3);
        assert_eq!(a.channels["mail"].kind.type_name(), "email");
        assert_eq!(a.grouping.repeat_interval.as_secs(), 3600);
    }

    #[test]
    fn mistakes_name_file_line_and_field() {
        let err = parse("alerting:\n  grouping:\n    group_wiat: 1s\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:3:5: alerting.grouping.group_wiat: unknown field"),
            "{err}"
        );
        let err = parse(
            "alerting:\n  rules:\n    - {name: X, metric: m, levels: [{severity: warning, fire: 0.9}, {severity: critical, fire: 0.5}]}\n",
        )
        .unwrap_err();
        assert!(err.starts_with("analyzer.yml:3:"), "{err}");
        assert!(
            err.contains("alerting.rules[0]: rule X: levels: the critical level must fire past the warning level"),
            "{err}"
        );
        let err = parse(
            "alerting:\n  rules:\n    - {name: X, metric: m, levels: [{severity: warning, fire: 0.9, clear: 0.95}]}\n",
        )
        .unwrap_err();
        assert!(
            err.contains("clear (0.95) must be on the healthy side"),
            "{err}"
        );
        let err = parse("alerting:\n  channels:\n    x: {slack: {url: {file: a, env: B}}}\n")
            .unwrap_err();
        assert!(err.contains("give exactly one of file or env"), "{err}");
        let err = parse("alerting:\n  channels:\n    x: {}\n").unwrap_err();
        assert!(
            err.contains("exactly one of slack, email, webhook or alertmanager"),
            "{err}"
        );
        let err = parse(
            "alerting:\n  channels:\n    hook: {webhook: {url: 'http://h'}}\n  routes:\n    - {channels: [hook, nope]}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "analyzer.yml:5:5: alerting.routes[0].channels: no channel named \"nope\" in alerting.channels"
        );
    }

    #[test]
    fn secrets_load_but_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let secret = super::Secret::File(path);
        assert_eq!(secret.load().unwrap(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let home = super::Secret::Env("PATH".into());
        assert!(!home.load().unwrap().is_empty());
        let missing = super::Secret::Env("PULSE_SURELY_UNSET_VARIABLE".into());
        assert_eq!(
            missing.load().unwrap_err().to_string(),
            "environment variable PULSE_SURELY_UNSET_VARIABLE is not set"
        );
    }
}
