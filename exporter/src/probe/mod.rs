//! Background probes (blackbox_exporter's `probe_*` metrics) for the targets in the config's
//! `probes:` section: HTTP (`http.rs`), TCP (`tcp.rs`), both over one connection routine
//! (`connect.rs`), ICMP echo (`icmp.rs`), DNS queries (`dns.rs`) and gRPC health checks
//! (`grpc.rs`).
//!
//! Each target runs in its own tokio task on its own interval, with jitter so targets do
//! not fire together, and a semaphore bounds how many probes are in flight. A scrape only
//! reads the latest outcome of each target (the `probe` collector), so a slow target never
//! slows a scrape. Besides the latest `probe_*` gauges, every target keeps a latency
//! histogram and success/failure counters, so availability and p95 over any window come
//! straight from PromQL.
//!
//! `/probe?target=&module=` runs one probe on demand, as blackbox_exporter does, but only
//! for configured targets (by name, URL or address) or targets matched by the `allow` list:
//! the exporter must not become an open proxy into the network it runs in.

mod body;
mod certificate;
pub mod config;
mod connect;
mod dns;
mod grpc;
mod http;
mod icmp;
mod outcome;
mod proxy;
mod tcp;

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Uri;
use tokio::sync::Semaphore;

use crate::exposition::{Histogram, Kind, MetricSet, Value};
use certificate::TrustedRoots;
use config::{Module, ProbeAddress, ProbeConfig, ProbeHost, ProbeUrl, Prober};
use connect::{ProbeTls, ip_addr_hash};
use http::PHASES;
use outcome::{Outcome, ProbeError};

/// Latency buckets of `pulse_probe_duration_seconds` (blackbox-style web latencies).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error("probes.modules.{module}.tls: {error}")]
    Tls {
        module: String,
        error: crate::tls_client::TlsError,
    },
}

/// What `/probe` refuses, and the HTTP status it maps to.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("missing parameter 'target'")]
    MissingTarget,
    #[error("unknown module {0:?}")]
    UnknownModule(String),
    #[error("target {0:?} is neither a configured probe target nor in the allow list")]
    NotAllowed(String),
    #[error(
        "module {module:?} cannot probe target {target:?} (HTTP modules take URLs, TCP, DNS and gRPC modules host:port, ICMP modules a host)"
    )]
    WrongProber { module: String, target: String },
}

/// A module made ready to run: its TLS client config built once.
pub struct Prepared {
    pub module: Module,
    pub tls: ProbeTls,
}

/// What a target points at: a URL for the HTTP prober, `host:port` for the TCP prober and
/// for the DNS prober's server, a host for the ICMP prober.
#[derive(Clone, PartialEq)]
enum Endpoint {
    Url(Uri),
    Address(ProbeAddress),
    Host(ProbeHost),
}

impl Endpoint {
    /// Whether `text` names this endpoint as `/probe?target=` would.
    fn is(&self, text: &str) -> bool {
        match self {
            Self::Url(url) => *url == text,
            Self::Address(address) => address.to_string() == text,
            Self::Host(host) => host.0 == text,
        }
    }

    /// Runs the module's prober against this endpoint under the module's timeout; `None`
    /// when the two do not fit. Never fails otherwise: failure is an outcome.
    async fn probe(&self, prepared: &Prepared) -> Option<(Outcome, Option<ProbeError>)> {
        let prober = prepared.module.prober;
        let mut outcome = match (self, prober) {
            (Self::Url(_), Prober::Http) => Outcome {
                failed_due_to_regex: Some(false),
                http: Some(outcome::HttpOutcome::default()),
                ..Outcome::default()
            },
            (Self::Address(_), Prober::Tcp) => Outcome {
                failed_due_to_regex: Some(false),
                ..Outcome::default()
            },
            (Self::Address(_), Prober::Dns) => Outcome {
                dns: Some(outcome::DnsOutcome::default()),
                ..Outcome::default()
            },
            (Self::Address(_), Prober::Grpc) => Outcome {
                grpc: Some(outcome::GrpcOutcome::default()),
                ..Outcome::default()
            },
            (Self::Host(_), Prober::Icmp) => Outcome {
                icmp: Some(outcome::IcmpOutcome::default()),
                ..Outcome::default()
            },
            _ => return None,
        };
        let start = Instant::now();
        let timeout = prepared.module.timeout;
        let exchange = async {
            match self {
                Self::Url(url) => http::run(prepared, url, &mut outcome).await,
                Self::Address(address) if prober == Prober::Dns => {
                    dns::run(prepared, address, &mut outcome).await
                }
                Self::Address(address) if prober == Prober::Grpc => {
                    grpc::run(prepared, address, &mut outcome).await
                }
                Self::Address(address) => tcp::run(prepared, address, &mut outcome).await,
                Self::Host(host) => icmp::run(prepared, host, &mut outcome).await,
            }
        };
        let result = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(ProbeError::Timeout(timeout)));
        outcome.duration = start.elapsed();
        if let (Err(ProbeError::Timeout(_)), Some(grpc)) = (&result, &mut outcome.grpc) {
            grpc.status_code = grpc::DEADLINE_EXCEEDED;
            // The call was cut off in its check phase once an address was being dialled.
            if outcome.ip.is_some() {
                grpc.phases[1] = outcome.duration.as_secs_f64() - grpc.phases[0];
            }
        }
        outcome.success = result.is_ok();
        Some((outcome, result.err()))
    }
}

/// Latest outcome plus cumulative history of one target.
#[derive(Default)]
struct History {
    latest: Option<Outcome>,
    /// Count per bucket of [`BUCKETS`] (not cumulative), then the sum.
    bucket_counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
    successes: u64,
    failures: u64,
}

impl History {
    fn record(&mut self, outcome: Outcome) {
        let seconds = outcome.duration.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.bucket_counts[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
        if outcome.success {
            self.successes += 1;
        } else {
            self.failures += 1;
        }
        self.latest = Some(outcome);
    }

    fn histogram(&self) -> Histogram {
        let mut cumulative = 0;
        let buckets = BUCKETS
            .iter()
            .zip(self.bucket_counts)
            .map(|(bound, n)| {
                cumulative += n;
                (*bound, cumulative)
            })
            .collect();
        Histogram {
            sum: self.sum,
            count: self.count,
            buckets,
        }
    }
}

struct TargetEntry {
    name: String,
    module: String,
    endpoint: Endpoint,
    interval: Duration,
    history: Mutex<History>,
}

/// The configured probes, ready to run. Shared by the server (`/probe`, the scheduler) and
/// the `probe` collector.
pub struct Probes {
    modules: Vec<(String, Arc<Prepared>)>,
    targets: Vec<Arc<TargetEntry>>,
    allow: Vec<crate::config::Pattern>,
    limit: Arc<Semaphore>,
}

impl Probes {
    pub fn new(config: &ProbeConfig) -> Result<Self, ProbeSetupError> {
        let modules = config
            .modules
            .iter()
            .map(|(name, module)| {
                // HTTP probes offer HTTP/2 and HTTP/1.1, as blackbox_exporter's do, gRPC
                // runs on HTTP/2 only; a TCP exchange is no protocol ALPN knows.
                let alpn: &[&[u8]] = match module.prober {
                    Prober::Http if module.enable_http2 => &[b"h2", b"http/1.1"],
                    Prober::Http => &[b"http/1.1"],
                    Prober::Grpc => &[b"h2"],
                    Prober::Tcp | Prober::Icmp | Prober::Dns => &[],
                };
                let (config, roots) =
                    module.tls.client_config_and_roots(alpn).map_err(|error| {
                        ProbeSetupError::Tls {
                            module: name.clone(),
                            error,
                        }
                    })?;
                let prepared = Prepared {
                    module: module.clone(),
                    tls: ProbeTls {
                        config,
                        roots: TrustedRoots::new(roots),
                        server_name: module.tls.server_name.clone(),
                    },
                };
                Ok((name.clone(), Arc::new(prepared)))
            })
            .collect::<Result<_, _>>()?;
        let targets = config
            .targets
            .iter()
            .filter_map(|t| {
                // The config's validation gives every target exactly the one of url, address
                // and host that its module's prober takes.
                let endpoint = match (&t.url, &t.address, &t.host) {
                    (Some(url), _, _) => Endpoint::Url(url.0.clone()),
                    (None, Some(address), _) => Endpoint::Address(address.clone()),
                    (None, None, Some(host)) => Endpoint::Host(host.clone()),
                    (None, None, None) => return None,
                };
                Some(Arc::new(TargetEntry {
                    name: t.name.clone(),
                    module: t.module.clone(),
                    endpoint,
                    interval: t.interval,
                    history: Mutex::new(History::default()),
                }))
            })
            .collect();
        Ok(Self {
            modules,
            targets,
            allow: config.allow.clone(),
            limit: Arc::new(Semaphore::new(config.max_concurrency)),
        })
    }

    fn module(&self, name: &str) -> Option<&Arc<Prepared>> {
        self.modules.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// Starts one task per target on the current tokio runtime. The tasks live as long as
    /// the process.
    pub fn start(self: &Arc<Self>) {
        for target in &self.targets {
            let Some(prepared) = self.module(&target.module).cloned() else {
                continue;
            };
            let target = target.clone();
            let limit = self.limit.clone();
            tokio::spawn(async move {
                // Spread first runs over one interval so targets do not fire in lockstep.
                tokio::time::sleep(jitter(&target.name, target.interval, 1.0)).await;
                loop {
                    let outcome = match limit.acquire().await {
                        Ok(_permit) => match target.endpoint.probe(&prepared).await {
                            Some((outcome, error)) => {
                                if let Some(error) = error {
                                    tracing::debug!(target = %target.name, %error, "probe failed");
                                }
                                outcome
                            }
                            None => return,
                        },
                        Err(_) => return,
                    };
                    if let Ok(mut history) = target.history.lock() {
                        history.record(outcome);
                    }
                    let pause =
                        target.interval.mul_f64(0.9) + jitter(&target.name, target.interval, 0.2);
                    tokio::time::sleep(pause).await;
                }
            });
        }
    }

    /// Appends every target's latest outcome and history.
    pub fn collect(&self, out: &mut MetricSet) {
        let mut rows = Vec::new();
        for target in &self.targets {
            let Ok(history) = target.history.lock() else {
                continue;
            };
            if let Some(latest) = &history.latest {
                rows.push((
                    target.name.as_str(),
                    target.module.as_str(),
                    latest.clone(),
                    Some((history.histogram(), history.successes, history.failures)),
                ));
            }
        }
        emit(&rows, out);
    }

    /// Runs one probe for `/probe`: `target` is a configured target's name, URL or address,
    /// or a URL or address the allow list matches; `module` defaults to the configured
    /// target's module.
    pub async fn probe_now(
        &self,
        target: Option<&str>,
        module: Option<&str>,
    ) -> Result<ProbeReport, RequestError> {
        let target = target
            .filter(|t| !t.is_empty())
            .ok_or(RequestError::MissingTarget)?;
        let configured = self
            .targets
            .iter()
            .find(|t| t.name == target || t.endpoint.is(target));
        let module_name = module
            .or(configured.map(|t| t.module.as_str()))
            .ok_or_else(|| RequestError::UnknownModule(String::new()))?;
        let prepared = self
            .module(module_name)
            .ok_or_else(|| RequestError::UnknownModule(module_name.to_owned()))?;
        let endpoint = match configured {
            Some(t) => t.endpoint.clone(),
            None => {
                if !self.allow.iter().any(|p| p.is_match(target)) {
                    return Err(RequestError::NotAllowed(target.to_owned()));
                }
                let endpoint = match prepared.module.prober {
                    Prober::Http => ProbeUrl::parse(target).map(|url| Endpoint::Url(url.0)),
                    Prober::Tcp | Prober::Dns | Prober::Grpc => {
                        ProbeAddress::parse(target).map(Endpoint::Address)
                    }
                    Prober::Icmp => ProbeHost::parse(target).map(Endpoint::Host),
                };
                endpoint.map_err(|_| RequestError::NotAllowed(target.to_owned()))?
            }
        };
        let name = configured.map_or(target, |t| t.name.as_str());
        let outcome = {
            let _permit = self.limit.acquire().await;
            endpoint.probe(prepared).await
        };
        let (outcome, error) = outcome.ok_or_else(|| RequestError::WrongProber {
            module: module_name.to_owned(),
            target: target.to_owned(),
        })?;
        let mut metrics = MetricSet::default();
        emit(&[(name, module_name, outcome, None)], &mut metrics);
        Ok(ProbeReport {
            metrics,
            error: error.map(|e| e.to_string()),
        })
    }
}

/// What one `/probe` run found: its metrics, and why it failed (for `debug=true`, which
/// shows an operator the cause that the metrics only count).
pub struct ProbeReport {
    pub metrics: MetricSet,
    pub error: Option<String>,
}

/// A pseudo-random share of `interval` in `[0, fraction × interval)`, different per call.
fn jitter(name: &str, interval: Duration, fraction: f64) -> Duration {
    let random = std::collections::hash_map::RandomState::new().hash_one(name);
    interval.mul_f64(fraction * (random % 10_000) as f64 / 10_000.0)
}

type OutcomeValue = fn(&Outcome) -> Option<f64>;

type Row<'a> = (&'a str, &'a str, Outcome, Option<(Histogram, u64, u64)>);

fn emit(rows: &[Row], out: &mut MetricSet) {
    let every_prober: [(&'static str, &'static str, OutcomeValue); 8] = [
        (
            "probe_success",
            "Whether the probe succeeded (1) or not (0).",
            |o| Some(f64::from(u8::from(o.success))),
        ),
        (
            "probe_duration_seconds",
            "Seconds the probe took, all phases and redirects included.",
            |o| Some(o.duration.as_secs_f64()),
        ),
        (
            "probe_dns_lookup_time_seconds",
            "Seconds spent resolving the target's name.",
            |o| Some(o.dns_lookup_seconds),
        ),
        (
            "probe_ip_protocol",
            "IP version of the address probed (4 or 6; 0 when the name did not resolve).",
            |o| {
                let ip = o.ip.map_or(0.0, |ip| if ip.is_ipv4() { 4.0 } else { 6.0 });
                (!o.resolved_by_proxy).then_some(ip)
            },
        ),
        (
            "probe_ip_addr_hash",
            "Hash of the address probed, which changes when the address does (0 when the name did not resolve).",
            |o| (!o.resolved_by_proxy).then(|| o.ip.map_or(0.0, ip_addr_hash)),
        ),
        (
            "probe_failed_due_to_regex",
            "Whether a body regex (HTTP) or an expected line (TCP) failed the probe.",
            |o| {
                o.failed_due_to_regex
                    .map(|failed| f64::from(u8::from(failed)))
            },
        ),
        (
            "probe_ssl_earliest_cert_expiry",
            "Earliest expiry (Unix seconds) of the certificates the server presented.",
            |o| o.tls.as_ref()?.certificates.earliest_expiry,
        ),
        (
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            "Earliest expiry (Unix seconds) along the chain verified to a trusted root.",
            |o| o.tls.as_ref()?.certificates.chain_expiry,
        ),
    ];
    for (name, help, value) in every_prober {
        gauge(out, name, help, rows, value);
    }
    let http_only: [(&'static str, &'static str, OutcomeValue); 7] = [
        (
            "probe_http_status_code",
            "Status code of the final response (0 if none arrived).",
            |o| Some(f64::from(o.http.as_ref()?.status_code)),
        ),
        (
            "probe_http_content_length",
            "Length of the final response body in bytes (-1 if none).",
            |o| Some(o.http.as_ref()?.content_length),
        ),
        ("probe_http_redirects", "Redirects followed.", |o| {
            Some(f64::from(o.http.as_ref()?.redirects))
        }),
        (
            "probe_http_ssl",
            "Whether the final request used TLS (1) or not (0).",
            |o| Some(f64::from(u8::from(o.http.as_ref()?.ssl))),
        ),
        (
            "probe_http_version",
            "HTTP version of the final response (0 if none arrived).",
            |o| Some(o.http.as_ref()?.version),
        ),
        (
            "probe_http_uncompressed_body_length",
            "Bytes of the final response body as read.",
            |o| Some(o.http.as_ref()?.uncompressed_body_length),
        ),
        (
            "probe_http_last_modified_timestamp_seconds",
            "Last-Modified of the final response, in Unix seconds.",
            |o| o.http.as_ref()?.last_modified,
        ),
    ];
    for (name, help, value) in http_only {
        gauge(out, name, help, rows, value);
    }
    let versions = out.family(
        "probe_tls_version_info",
        "TLS version the last connection negotiated, as the version label.",
        Kind::Gauge,
    );
    for (target, module, outcome, _) in rows {
        if let Some(tls) = &outcome.tls {
            versions.sample(
                &[
                    ("target", target),
                    ("module", module),
                    ("version", tls.version),
                ],
                1.0,
            );
        }
    }
    let leaves = out.family(
        "probe_ssl_last_chain_info",
        "The server's leaf certificate: SHA-256 fingerprint, issuer, subject and DNS names.",
        Kind::Gauge,
    );
    for (target, module, outcome, _) in rows {
        if let Some(leaf) = outcome
            .tls
            .as_ref()
            .and_then(|tls| tls.certificates.leaf.as_ref())
        {
            leaves.sample(
                &[
                    ("target", target),
                    ("module", module),
                    ("fingerprint_sha256", &leaf.fingerprint_sha256),
                    ("issuer", &leaf.issuer),
                    ("subject", &leaf.subject),
                    ("subjectalternative", &leaf.dns_names),
                ],
                1.0,
            );
        }
    }
    let dns_only: [(&'static str, &'static str, OutcomeValue); 5] = [
        (
            "probe_dns_query_succeeded",
            "Whether the DNS server answered (1), whatever the response code.",
            |o| Some(f64::from(u8::from(o.dns.as_ref()?.query_succeeded))),
        ),
        (
            "probe_dns_answer_rrs",
            "Records in the answer section.",
            |o| Some(o.dns.as_ref()?.answer_rrs as f64),
        ),
        (
            "probe_dns_authority_rrs",
            "Records in the authority section.",
            |o| Some(o.dns.as_ref()?.authority_rrs as f64),
        ),
        (
            "probe_dns_additional_rrs",
            "Records in the additional section.",
            |o| Some(o.dns.as_ref()?.additional_rrs as f64),
        ),
        (
            "probe_dns_serial",
            "Serial of the SOA record in the answer.",
            |o| o.dns.as_ref()?.serial.map(f64::from),
        ),
    ];
    for (name, help, value) in dns_only {
        gauge(out, name, help, rows, value);
    }
    phase_gauge(
        out,
        "probe_dns_duration_seconds",
        "Seconds per phase of the DNS query.",
        rows,
        &dns::PHASES,
        |o| Some(&o.dns.as_ref()?.phases[..]),
    );
    gauge(
        out,
        "probe_icmp_reply_hop_limit",
        "TTL of the IPv4 echo reply.",
        rows,
        |o| o.icmp.as_ref()?.reply_hop_limit,
    );
    phase_gauge(
        out,
        "probe_icmp_duration_seconds",
        "Seconds per phase of the ICMP probe.",
        rows,
        &icmp::PHASES,
        |o| Some(&o.icmp.as_ref()?.phases[..]),
    );
    gauge(
        out,
        "probe_grpc_ssl",
        "Whether the gRPC call went over TLS (1) or not (0).",
        rows,
        |o| Some(f64::from(u8::from(o.grpc.as_ref()?.ssl))),
    );
    gauge(
        out,
        "probe_grpc_status_code",
        "gRPC status code of the health check call (14 when no server answered).",
        rows,
        |o| Some(f64::from(o.grpc.as_ref()?.status_code)),
    );
    let serving = out.family(
        "probe_grpc_healthcheck_response",
        "The health service's answer: 1 for the serving status it returned, 0 for the others.",
        Kind::Gauge,
    );
    for (target, module, outcome, _) in rows {
        let Some(grpc) = &outcome.grpc else {
            continue;
        };
        for (i, status) in grpc::SERVING_STATUSES.iter().enumerate() {
            serving.sample(
                &[
                    ("target", target),
                    ("module", module),
                    ("serving_status", status),
                ],
                f64::from(u8::from(grpc.serving_status == Some(i))),
            );
        }
    }
    phase_gauge(
        out,
        "probe_grpc_duration_seconds",
        "Seconds per phase of the gRPC health check.",
        rows,
        &grpc::PHASES,
        |o| Some(&o.grpc.as_ref()?.phases[..]),
    );
    phase_gauge(
        out,
        "probe_http_duration_seconds",
        "Seconds per phase of the HTTP request, summed over redirects.",
        rows,
        &PHASES,
        |o| Some(&o.http.as_ref()?.phases[..]),
    );
    let histogram = out.family(
        "pulse_probe_duration_seconds",
        "Distribution of probe durations since the exporter started.",
        Kind::Histogram,
    );
    for (target, module, _, history) in rows {
        if let Some((h, _, _)) = history {
            histogram.sample_owned(
                vec![
                    (Cow::Borrowed("target"), (*target).to_owned()),
                    (Cow::Borrowed("module"), (*module).to_owned()),
                ],
                Value::Histogram(h.clone()),
            );
        }
    }
    let checks = out.family(
        "pulse_probe_checks_total",
        "Probes run since the exporter started, by result.",
        Kind::Counter,
    );
    for (target, module, _, history) in rows {
        if let Some((_, successes, failures)) = history {
            for (result, n) in [("success", successes), ("failure", failures)] {
                checks.sample(
                    &[("target", target), ("module", module), ("result", result)],
                    *n as f64,
                );
            }
        }
    }
}

type OutcomePhases = fn(&Outcome) -> Option<&[f64]>;

/// One gauge family of a prober's phases: a sample per phase for each row of that prober.
fn phase_gauge(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    rows: &[Row],
    phases: &[&'static str],
    seconds: OutcomePhases,
) {
    let family = out.family(name, help, Kind::Gauge);
    for (target, module, outcome, _) in rows {
        let Some(seconds) = seconds(outcome) else {
            continue;
        };
        for (phase, seconds) in phases.iter().zip(seconds) {
            family.sample(
                &[("target", target), ("module", module), ("phase", phase)],
                *seconds,
            );
        }
    }
}

/// One gauge family: a sample per row that has a value for it.
fn gauge(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    rows: &[Row],
    value: OutcomeValue,
) {
    let family = out.family(name, help, Kind::Gauge);
    for (target, module, outcome, _) in rows {
        if let Some(v) = value(outcome) {
            family.sample(&[("target", target), ("module", module)], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_buckets_are_cumulative() {
        let mut history = History::default();
        for (ms, success) in [(3, true), (40, true), (700, false)] {
            history.record(Outcome {
                success,
                duration: Duration::from_millis(ms),
                ..Outcome::default()
            });
        }
        let h = history.histogram();
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], (0.005, 1));
        assert_eq!(h.buckets[3], (0.05, 2));
        assert_eq!(h.buckets[7], (1.0, 3));
        assert_eq!((history.successes, history.failures), (2, 1));
    }

    #[test]
    fn all_phases_are_present_for_a_failed_probe() {
        let mut out = MetricSet::default();
        let failed = Outcome {
            http: Some(outcome::HttpOutcome::default()),
            ..Outcome::default()
        };
        emit(&[("t", "m", failed, None)], &mut out);
        let text = out.encode_text();
        for phase in PHASES {
            assert!(
                text.contains(&format!(
                    "probe_http_duration_seconds{{target=\"t\",module=\"m\",phase=\"{phase}\"}} 0\n"
                )),
                "{text}"
            );
        }
        assert!(text.contains("probe_success{target=\"t\",module=\"m\"} 0\n"));
    }
}
