//! The `probes:` section: modules (how to probe) and targets (what to probe, how often),
//! after blackbox_exporter's `modules.<name>.http` block, validated when the file is read.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hyper::Uri;
use serde::{Deserialize, Deserializer, de};

use crate::config::{ConfigDuration, Pattern};
use crate::tls_client::TlsOptions;

/// Probes never wait longer than this unless the module says so.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a target is probed unless it says so.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_MAX_CONCURRENCY: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(try_from = "RawProbeConfig")]
pub struct ProbeConfig {
    /// Probes in flight at once, across all targets.
    pub max_concurrency: usize,
    /// URLs (regexes) that `/probe?target=` may reach besides the configured targets.
    pub allow: Vec<Pattern>,
    pub modules: BTreeMap<String, Module>,
    pub targets: Vec<Target>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            allow: Vec::new(),
            modules: BTreeMap::new(),
            targets: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbeConfig {
    max_concurrency: Option<usize>,
    #[serde(default)]
    allow: Vec<Pattern>,
    #[serde(default)]
    modules: BTreeMap<String, Module>,
    #[serde(default)]
    targets: Vec<Target>,
}

impl TryFrom<RawProbeConfig> for ProbeConfig {
    type Error = String;

    fn try_from(raw: RawProbeConfig) -> Result<Self, String> {
        let max_concurrency = raw.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if max_concurrency == 0 {
            return Err("max_concurrency must be at least 1".into());
        }
        let mut names = HashMap::new();
        for (i, target) in raw.targets.iter().enumerate() {
            if let Some(first) = names.insert(target.name.as_str(), i) {
                return Err(format!(
                    "targets[{i}]: name {:?} is already used by targets[{first}]",
                    target.name
                ));
            }
            let Some(module) = raw.modules.get(&target.module) else {
                return Err(format!(
                    "targets[{i}]: unknown module {:?}, expected one of: {}",
                    target.module,
                    raw.modules.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            };
            if module.timeout > target.interval {
                return Err(format!(
                    "targets[{i}]: interval {} is shorter than module {:?}'s timeout {}",
                    humantime::format_duration(target.interval),
                    target.module,
                    humantime::format_duration(module.timeout)
                ));
            }
        }
        Ok(Self {
            max_concurrency,
            allow: raw.allow,
            modules: raw.modules,
            targets: raw.targets,
        })
    }
}

/// How to probe: blackbox_exporter's `http` prober options.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawModule")]
pub struct Module {
    pub timeout: Duration,
    pub method: hyper::Method,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// Request body (for POST checks).
    pub body: String,
    /// Accepted status codes; empty means any 2xx.
    pub valid_status_codes: Vec<u16>,
    pub fail_if_body_matches_regexp: Vec<Pattern>,
    pub fail_if_body_not_matches_regexp: Vec<Pattern>,
    pub follow_redirects: bool,
    pub tls: TlsOptions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    timeout: Option<ConfigDuration>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    valid_status_codes: Vec<u16>,
    #[serde(default)]
    fail_if_body_matches_regexp: Vec<Pattern>,
    #[serde(default)]
    fail_if_body_not_matches_regexp: Vec<Pattern>,
    #[serde(default = "yes")]
    follow_redirects: bool,
    #[serde(default)]
    tls: TlsOptions,
}

fn yes() -> bool {
    true
}

impl TryFrom<RawModule> for Module {
    type Error = String;

    fn try_from(raw: RawModule) -> Result<Self, String> {
        let method = raw.method.as_deref().unwrap_or("GET");
        let method = hyper::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid method {method:?}"))?;
        let headers = raw
            .headers
            .iter()
            .map(|(k, v)| {
                let name = hyper::header::HeaderName::try_from(k.as_str())
                    .map_err(|_| format!("invalid header name {k:?}"))?;
                let value = hyper::header::HeaderValue::try_from(v.as_str())
                    .map_err(|_| format!("invalid value for header {k:?}"))?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        if let Some(code) = raw
            .valid_status_codes
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(format!("invalid status code {code}"));
        }
        Ok(Self {
            timeout: raw.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
            method,
            headers,
            body: raw.body,
            valid_status_codes: raw.valid_status_codes,
            fail_if_body_matches_regexp: raw.fail_if_body_matches_regexp,
            fail_if_body_not_matches_regexp: raw.fail_if_body_not_matches_regexp,
            follow_redirects: raw.follow_redirects,
            tls: raw.tls,
        })
    }
}

/// What to probe and how often. `name` is the `target` label.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub url: ProbeUrl,
    pub module: String,
    #[serde(default = "default_interval")]
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    ConfigDuration::deserialize(deserializer).map(|d| d.0)
}

/// An absolute `http://` or `https://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl(pub Uri);

impl ProbeUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => Ok(Self(uri)),
            _ => Err(format!(
                "invalid URL {text:?}: expected http:// or https:// and a host"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ProbeUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ProbeUrl::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("pulse.yml"), text).map_err(|e| e.to_string())
    }

    const MODULES: &str = "probes:\n  modules:\n    http_2xx: {timeout: 2s}\n";

    #[test]
    fn full_config_parses() {
        let config = parse(
            "probes:\n  max_concurrency: 2\n  allow: ['^https://status\\.example\\.com/']\n  modules:\n    post:\n      timeout: 2s\n      method: post\n      headers: {X-Check: pulse}\n      body: '{}'\n      valid_status_codes: [200, 201]\n      fail_if_body_not_matches_regexp: ['ok']\n      follow_redirects: false\n      tls: {insecure_skip_verify: true}\n  targets:\n    - {name: api, url: 'https://api.example.com/health', module: post, interval: 10s}\n",
        )
        .unwrap();
        let probes = config.probes;
        assert_eq!(probes.max_concurrency, 2);
        let module = &probes.modules["post"];
        assert_eq!(module.method, hyper::Method::POST);
        assert!(!module.follow_redirects);
        assert_eq!(
            probes.targets[0].interval,
            std::time::Duration::from_secs(10)
        );
    }

    #[test]
    fn unknown_module_is_named() {
        let err = parse(&format!(
            "{MODULES}  targets:\n    - {{name: a, url: 'http://x/', module: nope}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[0]: unknown module \"nope\", expected one of: http_2xx"
        );
    }

    #[test]
    fn bad_url_and_interval_are_named() {
        let err = parse(&format!(
            "{MODULES}  targets:\n    - {{name: a, url: 'ftp://x/', module: http_2xx}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:5:7: probes.targets[0].url: invalid URL \"ftp://x/\": expected http:// or https:// and a host"
        );
        let err = parse(&format!(
            "{MODULES}  targets:\n    - {{name: a, url: 'http://x/', module: http_2xx, interval: 1s}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[0]: interval 1s is shorter than module \"http_2xx\"'s timeout 2s"
        );
        let err = parse(&format!(
            "{MODULES}  targets:\n    - {{name: a, url: 'http://x/', module: http_2xx}}\n    - {{name: a, url: 'http://y/', module: http_2xx}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[1]: name \"a\" is already used by targets[0]"
        );
    }

    #[test]
    fn bad_module_fields_are_named() {
        let err = parse("probes:\n  modules:\n    m: {method: 'GE T'}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.m: invalid method \"GE T\""
        );
        let err = parse("probes:\n  modules:\n    m: {valid_status_codes: [700]}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.m: invalid status code 700"
        );
        let err = parse("probes:\n  modules:\n    m: {fail_if_body_matches_regexp: ['(']}\n")
            .unwrap_err();
        assert!(
            err.starts_with("pulse.yml:3:38: probes.modules.m.fail_if_body_matches_regexp[0]: invalid regular expression \"(\""),
            "{err}"
        );
    }
}
