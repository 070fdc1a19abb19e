//! The `probes:` section: modules (how to probe) and targets (what to probe, how often),
//! after blackbox_exporter's `modules.<name>.http` block, validated when the file is read.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU8;
use std::time::Duration;

use hyper::Uri;
use regex::Regex;
use serde::{Deserialize, Deserializer, de};

use crate::config::{ConfigDuration, PasswordSource, Pattern};
use crate::tls_client::TlsOptions;

/// Probes never wait longer than this unless the module says so.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a target is probed unless it says so.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// The protocol versions `valid_http_versions` takes, as blackbox_exporter spells them.
pub const HTTP_VERSIONS: [&str; 4] = ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"];
/// 65,535 bytes of IPv4 datagram less its 20-byte header and the 8-byte ICMP header.
const MAX_ICMP_PAYLOAD: usize = 65_507;

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
            let (wanted, prober) = module.prober.endpoint_field();
            let given = [
                ("url", target.url.is_some()),
                ("address", target.address.is_some()),
                ("host", target.host.is_some()),
            ];
            if given.iter().any(|&(field, set)| set != (field == wanted)) {
                let others: Vec<&str> = given
                    .iter()
                    .map(|&(field, _)| field)
                    .filter(|field| *field != wanted)
                    .collect();
                return Err(format!(
                    "targets[{i}]: module {:?} probes {prober}, so the target needs `{wanted}` (not {})",
                    target.module,
                    others.join(" or ")
                ));
            }
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

/// Which of blackbox_exporter's probers a module runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prober {
    /// An HTTP(S) request with phase timings (`probe_http_*`).
    #[default]
    Http,
    /// A TCP connection, optionally TLS, optionally a scripted exchange (SMTP banner, Redis
    /// `PING`, STARTTLS): for the services that do not speak HTTP.
    Tcp,
    /// One ICMP echo (ping): is the host there, and how far away.
    Icmp,
    /// One DNS query to a server: does it answer, with what, how fast.
    Dns,
    /// One call of a server's gRPC health service (`grpc.health.v1.Health/Check`): is it,
    /// or one of its services, serving.
    Grpc,
}

impl Prober {
    /// The target field this prober probes, and how the error messages call the prober.
    fn endpoint_field(self) -> (&'static str, &'static str) {
        match self {
            Self::Http => ("url", "HTTP"),
            Self::Tcp => ("address", "TCP"),
            Self::Icmp => ("host", "ICMP"),
            Self::Dns => ("address", "DNS"),
            Self::Grpc => ("address", "gRPC"),
        }
    }
}

/// How to probe: blackbox_exporter's module, its `http` prober options at the top level
/// (as before the `tcp` prober existed) and the `tcp` prober's under `tcp:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawModule")]
pub struct Module {
    pub prober: Prober,
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
    /// Credentials sent with every request of the probe.
    pub auth: ProbeAuth,
    /// Fails the probe when a header of the final response matches.
    pub fail_if_header_matches: Vec<HeaderCheck>,
    /// Fails the probe when a header of the final response does not match.
    pub fail_if_header_not_matches: Vec<HeaderCheck>,
    /// Accepted versions of the final response (`HTTP/1.1`, …); empty accepts any.
    pub valid_http_versions: Vec<String>,
    /// Fails a probe whose final response came over TLS (blackbox's `fail_if_ssl`).
    pub fail_if_ssl: bool,
    /// Fails a probe whose final response did not come over TLS, such as a site that
    /// stopped redirecting to HTTPS (blackbox's `fail_if_not_ssl`).
    pub fail_if_not_ssl: bool,
    /// Offers HTTP/2 in the TLS handshake (blackbox's `enable_http2`, default true); plain
    /// HTTP is always HTTP/1.1.
    pub enable_http2: bool,
    /// How the response body is compressed, asked for with `Accept-Encoding` and undone
    /// before the body is checked (blackbox's `compression`); the probe fails when the
    /// body is not compressed that way.
    pub compression: Option<Compression>,
    /// Longest (decompressed) body the probe reads; a longer one fails it (blackbox's
    /// `body_size_limit`).
    pub body_size_limit: Option<usize>,
    /// The HTTP proxy every request of the probe goes through (blackbox's `proxy_url`).
    pub proxy: Option<HttpProxy>,
    /// Leaves the target's name to the proxy to resolve (blackbox's
    /// `skip_resolve_phase_with_proxy`): for a name only the proxy's side knows. The probe
    /// then reports no target address.
    pub skip_resolve_phase_with_proxy: bool,
    pub tls: TlsOptions,
    pub tcp: TcpOptions,
    pub icmp: IcmpOptions,
    pub dns: DnsOptions,
    pub grpc: GrpcOptions,
    /// Which address family every prober uses when a name has both.
    pub ip: IpPreference,
    /// The local address the TCP, ICMP and DNS probers send from (blackbox_exporter's
    /// `source_ip_address`): on a host with several addresses, the one a firewall or a
    /// route expects; the system's choice unless set.
    pub source_ip: Option<IpAddr>,
}

/// A response body's compression, as `Accept-Encoding` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    /// Raw DEFLATE, as blackbox_exporter reads it (Go's `compress/flate`).
    Deflate,
    Br,
    Identity,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Br => "br",
            Self::Identity => "identity",
        }
    }
}

/// A size in bytes: a number, or one with a unit (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`,
/// all powers of 1,024, as blackbox_exporter reads `body_size_limit`).
#[derive(Debug, Clone, Copy)]
struct ByteSize(usize);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(bytes) => return Ok(Self(bytes)),
            Raw::Text(text) => text,
        };
        let invalid = || {
            de::Error::custom(format!(
                "invalid size {text:?}, expected bytes or a number with B, KB, MB or GB (KiB, MiB, GiB)"
            ))
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (number, unit) = text.split_at(split);
        let shift = match unit.trim() {
            "B" => 0,
            "KB" | "KiB" => 10,
            "MB" | "MiB" => 20,
            "GB" | "GiB" => 30,
            _ => return Err(invalid()),
        };
        let number: usize = number.parse().map_err(|_| invalid())?;
        number.checked_mul(1 << shift).map(Self).ok_or_else(invalid)
    }
}

/// An HTTP proxy: where it listens, and the credentials it asks for, read from the
/// environment or a file as every probe secret is (never written in the URL).
#[derive(Debug, Clone)]
pub struct HttpProxy {
    pub host: String,
    pub port: u16,
    pub auth: ProbeAuth,
}

impl HttpProxy {
    /// `proxy_url` (`http://host[:port]`) with `proxy_basic_auth` where given.
    fn parse(url: &str, basic_auth: Option<RawBasicAuth>) -> Result<Self, String> {
        // The URL is not repeated: it may hold a password (the line number points at it).
        let invalid = |why: &str| format!("proxy_url: {why}");
        let uri: Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("expected an http:// proxy"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials go in proxy_basic_auth (password_env or password_file), not in the URL",
            ));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("a proxy URL has no path"));
        }
        let auth = match basic_auth {
            None => ProbeAuth::None,
            Some(basic) => ProbeAuth::Basic {
                username: basic.username,
                password: secret(
                    "proxy_basic_auth.password",
                    basic.password_env,
                    basic.password_file,
                )?,
            },
        };
        Ok(Self {
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(80),
            auth,
        })
    }
}

/// The `grpc` prober's options, blackbox_exporter's names.
#[derive(Debug, Clone, Default)]
pub struct GrpcOptions {
    /// The service whose health is asked for; empty asks about the server as a whole.
    pub service: String,
    /// Over TLS (checked with the module's `tls` options) instead of plain HTTP/2.
    pub tls: bool,
}

/// An address family, as blackbox_exporter's `preferred_ip_protocol` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpProtocol {
    Ip4,
    Ip6,
}

impl IpProtocol {
    fn holds(self, ip: std::net::IpAddr) -> bool {
        match self {
            Self::Ip4 => ip.is_ipv4(),
            Self::Ip6 => ip.is_ipv6(),
        }
    }
}

impl std::fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ip4 => "IPv4",
            Self::Ip6 => "IPv6",
        })
    }
}

/// blackbox_exporter's `preferred_ip_protocol` and `ip_protocol_fallback`: a probe uses
/// the preferred family's addresses if the name has any, else (with fallback) the other
/// family's. Unset, the system resolver's order stands (RFC 6724, which puts a family the
/// host cannot reach last), where blackbox_exporter would prefer IPv6: an IPv4-only host
/// probing a dual-stack name then still reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPreference {
    pub preferred: Option<IpProtocol>,
    pub fallback: bool,
}

impl Default for IpPreference {
    fn default() -> Self {
        Self {
            preferred: None,
            fallback: true,
        }
    }
}

impl IpPreference {
    /// The addresses a probe may use, of those `host` resolved to, in order; an error
    /// names the family missing when none is left.
    pub fn choose(
        self,
        addrs: Vec<std::net::SocketAddr>,
    ) -> Result<Vec<std::net::SocketAddr>, String> {
        let Some(preferred) = self.preferred else {
            return Ok(addrs);
        };
        let (chosen, other): (Vec<_>, Vec<_>) =
            addrs.into_iter().partition(|a| preferred.holds(a.ip()));
        match (chosen.is_empty(), self.fallback) {
            (false, _) => Ok(chosen),
            (true, true) => Ok(other),
            (true, false) => Err(format!("no {preferred} address, and no fallback")),
        }
    }
}

/// The `dns` prober's options, blackbox_exporter's names.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    pub query_name: hickory_proto::rr::Name,
    pub query_type: hickory_proto::rr::RecordType,
    /// `IN` unless set (`CH` asks a server about itself: `version.bind`, `id.server`).
    pub query_class: hickory_proto::rr::DNSClass,
    /// Over TCP instead of UDP.
    pub tcp: bool,
    /// Over TLS on TCP (DNS over TLS, RFC 7858), checked with the module's `tls` options.
    pub over_tls: bool,
    pub recursion_desired: bool,
    /// Response codes that count as success (`NOERROR` unless set).
    pub valid_rcodes: Vec<u16>,
    pub validate_answer_rrs: RrChecks,
    pub validate_authority_rrs: RrChecks,
    pub validate_additional_rrs: RrChecks,
}

impl Default for DnsOptions {
    fn default() -> Self {
        Self {
            query_name: hickory_proto::rr::Name::root(),
            query_type: hickory_proto::rr::RecordType::ANY,
            query_class: hickory_proto::rr::DNSClass::IN,
            tcp: false,
            over_tls: false,
            recursion_desired: true,
            valid_rcodes: vec![0],
            validate_answer_rrs: RrChecks::default(),
            validate_authority_rrs: RrChecks::default(),
            validate_additional_rrs: RrChecks::default(),
        }
    }
}

/// Checks of one section's records, each record read as its zone-file line
/// (`name<TAB>ttl<TAB>class<TAB>type<TAB>data`), as blackbox_exporter reads them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrChecks {
    /// Fails when any record matches any of these.
    #[serde(with = "regexes")]
    pub fail_if_matches_regexp: Vec<Regex>,
    /// Fails when every record matches one of these (and there is a record).
    #[serde(with = "regexes")]
    pub fail_if_all_match_regexp: Vec<Regex>,
    /// Fails when any record does not match one of these.
    #[serde(with = "regexes")]
    pub fail_if_not_matches_regexp: Vec<Regex>,
    /// Fails when no record matches one of these.
    #[serde(with = "regexes")]
    pub fail_if_none_matches_regexp: Vec<Regex>,
}

/// Regular expressions compiled when the file is read, so a bad one names its line.
mod regexes {
    use regex::Regex;
    use serde::{Deserialize, Deserializer, de};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Regex>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|pattern| {
                Regex::new(pattern).map_err(|e| {
                    de::Error::custom(format!("invalid regular expression {pattern:?}: {e}"))
                })
            })
            .collect()
    }
}

/// The `icmp` prober's options.
#[derive(Debug, Clone)]
pub struct IcmpOptions {
    /// Bytes of data in the echo request (56, as `ping` sends, unless set).
    pub payload_size: usize,
    /// An echo request larger than the path's MTU fails instead of going out in fragments:
    /// the check that a path carries packets of `payload_size` whole.
    pub dont_fragment: bool,
    /// The request's TTL (IPv4) or hop limit (IPv6); the system's default unless set.
    pub ttl: Option<NonZeroU8>,
}

impl Default for IcmpOptions {
    fn default() -> Self {
        Self {
            payload_size: 56,
            dont_fragment: false,
            ttl: None,
        }
    }
}

/// One header check, blackbox_exporter's: every value of `header` is matched against
/// `regexp`; a missing header fails the probe unless `allow_missing`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCheck {
    pub header: String,
    pub regexp: Pattern,
    #[serde(default)]
    pub allow_missing: bool,
}

/// An HTTP probe's credentials. The secret is never in the config file itself (an
/// environment variable or a file, read on every probe so a rotated one is picked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAuth {
    None,
    Basic {
        username: String,
        password: PasswordSource,
    },
    Bearer(PasswordSource),
}

/// The `tcp` prober's options.
#[derive(Debug, Clone, Default)]
pub struct TcpOptions {
    /// TLS from the first byte (IMAPS, Redis or PostgreSQL behind TLS, …).
    pub tls: bool,
    /// The exchange run after connecting, in order.
    pub query_response: Vec<QueryStep>,
}

/// One step of a TCP exchange.
#[derive(Debug, Clone)]
pub enum QueryStep {
    /// Read lines until one matches; the connection ending first fails the probe as a regex
    /// failure (`probe_failed_due_to_regex 1`), as in blackbox_exporter.
    Expect(Regex),
    /// Write this text and a newline.
    Send(String),
    /// Upgrade the connection to TLS (SMTP, IMAP, POP3 after their STARTTLS command).
    StartTls,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    #[serde(default)]
    prober: Prober,
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
    #[serde(default)]
    follow_redirects: Option<bool>,
    #[serde(default)]
    fail_if_header_matches: Vec<HeaderCheck>,
    #[serde(default)]
    fail_if_header_not_matches: Vec<HeaderCheck>,
    #[serde(default)]
    valid_http_versions: Vec<String>,
    basic_auth: Option<RawBasicAuth>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<std::path::PathBuf>,
    #[serde(default)]
    fail_if_ssl: bool,
    #[serde(default)]
    fail_if_not_ssl: bool,
    enable_http2: Option<bool>,
    compression: Option<Compression>,
    body_size_limit: Option<ByteSize>,
    proxy_url: Option<String>,
    proxy_basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    skip_resolve_phase_with_proxy: bool,
    #[serde(default)]
    tls: TlsOptions,
    #[serde(default)]
    tcp: Option<RawTcp>,
    #[serde(default)]
    icmp: Option<RawIcmp>,
    #[serde(default)]
    dns: Option<RawDns>,
    #[serde(default)]
    grpc: Option<RawGrpc>,
    preferred_ip_protocol: Option<IpProtocol>,
    ip_protocol_fallback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrpc {
    #[serde(default)]
    service: String,
    #[serde(default)]
    tls: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    query_name: Option<String>,
    query_type: Option<String>,
    query_class: Option<String>,
    transport_protocol: Option<String>,
    #[serde(default)]
    dns_over_tls: bool,
    recursion_desired: Option<bool>,
    #[serde(default)]
    valid_rcodes: Vec<String>,
    #[serde(default)]
    validate_answer_rrs: RrChecks,
    #[serde(default)]
    validate_authority_rrs: RrChecks,
    #[serde(default)]
    validate_additional_rrs: RrChecks,
    source_ip_address: Option<IpAddr>,
}

/// DNS response codes by the names blackbox_exporter's `valid_rcodes` takes.
const RCODES: [(&str, u16); 11] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
];

fn dns_options(raw: RawDns) -> Result<DnsOptions, String> {
    let name = raw
        .query_name
        .ok_or("dns.query_name is required (the name to ask for)")?;
    let mut query_name = hickory_proto::rr::Name::from_ascii(&name)
        .map_err(|e| format!("dns.query_name: invalid name {name:?}: {e}"))?;
    query_name.set_fqdn(true);
    let query_type = mnemonic(raw.query_type, "query_type", "record type")?
        .unwrap_or(hickory_proto::rr::RecordType::ANY);
    let query_class = mnemonic(raw.query_class, "query_class", "class")?
        .unwrap_or(hickory_proto::rr::DNSClass::IN);
    let tcp = match raw.transport_protocol.as_deref() {
        None => raw.dns_over_tls,
        Some("udp") if raw.dns_over_tls => {
            return Err("dns.dns_over_tls: DNS over TLS runs over tcp, not udp".into());
        }
        Some("udp") => false,
        Some("tcp") => true,
        Some(other) => {
            return Err(format!(
                "dns.transport_protocol: expected udp or tcp, not {other:?}"
            ));
        }
    };
    let valid_rcodes = if raw.valid_rcodes.is_empty() {
        vec![0]
    } else {
        raw.valid_rcodes
            .iter()
            .map(|name| {
                RCODES
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(name))
                    .map(|&(_, code)| code)
                    .ok_or_else(|| format!("dns.valid_rcodes: unknown response code {name:?}"))
            })
            .collect::<Result<_, _>>()?
    };
    Ok(DnsOptions {
        query_name,
        query_type,
        query_class,
        tcp,
        over_tls: raw.dns_over_tls,
        recursion_desired: raw.recursion_desired.unwrap_or(true),
        valid_rcodes,
        validate_answer_rrs: raw.validate_answer_rrs,
        validate_authority_rrs: raw.validate_authority_rrs,
        validate_additional_rrs: raw.validate_additional_rrs,
    })
}

/// A DNS mnemonic (`mx`, `CH`) read in any case, as blackbox_exporter reads it; `field`
/// and `what` name it in the error.
fn mnemonic<T: std::str::FromStr>(
    text: Option<String>,
    field: &str,
    what: &str,
) -> Result<Option<T>, String> {
    text.map(|text| {
        text.to_ascii_uppercase()
            .parse()
            .map_err(|_| format!("dns.{field}: unknown {what} {text:?}"))
    })
    .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: String,
    password_env: Option<String>,
    password_file: Option<std::path::PathBuf>,
}

/// One secret from either an environment variable or a file; `what` names it in errors.
fn secret(
    what: &str,
    env: Option<String>,
    file: Option<std::path::PathBuf>,
) -> Result<PasswordSource, String> {
    match (env, file) {
        (Some(_), Some(_)) => Err(format!("{what}_env and {what}_file are mutually exclusive")),
        (Some(var), None) => Ok(PasswordSource::Env(var)),
        (None, Some(path)) => Ok(PasswordSource::File(path)),
        (None, None) => Err(format!("{what}_env or {what}_file is required")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIcmp {
    payload_size: Option<usize>,
    #[serde(default)]
    dont_fragment: bool,
    ttl: Option<NonZeroU8>,
    source_ip_address: Option<IpAddr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    query_response: Vec<RawStep>,
    source_ip_address: Option<IpAddr>,
}

/// blackbox_exporter's step: any of `expect`, `send` and `starttls`, run in that order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    expect: Option<String>,
    send: Option<String>,
    #[serde(default)]
    starttls: bool,
}

impl RawModule {
    /// Names of the HTTP options this module sets, which a `tcp` module must not.
    fn http_options_set(&self) -> Vec<&'static str> {
        [
            ("method", self.method.is_some()),
            ("headers", !self.headers.is_empty()),
            ("body", !self.body.is_empty()),
            ("valid_status_codes", !self.valid_status_codes.is_empty()),
            (
                "fail_if_body_matches_regexp",
                !self.fail_if_body_matches_regexp.is_empty(),
            ),
            (
                "fail_if_body_not_matches_regexp",
                !self.fail_if_body_not_matches_regexp.is_empty(),
            ),
            ("follow_redirects", self.follow_redirects.is_some()),
            (
                "fail_if_header_matches",
                !self.fail_if_header_matches.is_empty(),
            ),
            (
                "fail_if_header_not_matches",
                !self.fail_if_header_not_matches.is_empty(),
            ),
            ("valid_http_versions", !self.valid_http_versions.is_empty()),
            ("basic_auth", self.basic_auth.is_some()),
            (
                "bearer_token_env/bearer_token_file",
                self.bearer_token_env.is_some() || self.bearer_token_file.is_some(),
            ),
            ("fail_if_ssl", self.fail_if_ssl),
            ("fail_if_not_ssl", self.fail_if_not_ssl),
            ("enable_http2", self.enable_http2.is_some()),
            ("compression", self.compression.is_some()),
            ("body_size_limit", self.body_size_limit.is_some()),
            ("proxy_url", self.proxy_url.is_some()),
            ("proxy_basic_auth", self.proxy_basic_auth.is_some()),
            (
                "skip_resolve_phase_with_proxy",
                self.skip_resolve_phase_with_proxy,
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// `headers` asking for `compression`: an `Accept-Encoding` of the module's own must
/// accept it (else the check could never pass), and one is added where there is none.
fn with_accept_encoding(
    mut headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    compression: Option<Compression>,
) -> Result<Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>, String> {
    let Some(compression) = compression else {
        return Ok(headers);
    };
    let name = compression.name();
    let given = headers
        .iter()
        .find(|(header, _)| header == hyper::header::ACCEPT_ENCODING);
    match given {
        None => headers.push((
            hyper::header::ACCEPT_ENCODING,
            hyper::header::HeaderValue::from_static(name),
        )),
        Some((_, value)) => {
            let value = value.to_str().unwrap_or_default();
            let accepted = value.split(',').any(|coding| {
                let coding = coding.split(';').next().unwrap_or_default().trim();
                coding.eq_ignore_ascii_case(name) || coding == "*"
            });
            if !accepted {
                return Err(format!(
                    "headers: Accept-Encoding {value:?} does not accept compression {name}"
                ));
            }
        }
    }
    Ok(headers)
}

fn icmp_options(raw: RawIcmp) -> Result<IcmpOptions, String> {
    let defaults = IcmpOptions::default();
    let payload_size = raw.payload_size.unwrap_or(defaults.payload_size);
    // An echo request must fit one IPv4 datagram (65,535 bytes less the headers).
    if payload_size > MAX_ICMP_PAYLOAD {
        return Err(format!(
            "icmp.payload_size: {payload_size} is more than an echo request holds ({MAX_ICMP_PAYLOAD})"
        ));
    }
    Ok(IcmpOptions {
        payload_size,
        dont_fragment: raw.dont_fragment,
        ttl: raw.ttl,
    })
}

fn tcp_options(raw: RawTcp) -> Result<TcpOptions, String> {
    let mut steps = Vec::new();
    for (i, step) in raw.query_response.into_iter().enumerate() {
        if step.expect.is_none() && step.send.is_none() && !step.starttls {
            return Err(format!(
                "tcp.query_response[{i}]: expected at least one of expect, send, starttls"
            ));
        }
        if let Some(expect) = step.expect {
            let regex = Regex::new(&expect).map_err(|e| {
                format!(
                    "tcp.query_response[{i}].expect: invalid regular expression {expect:?}: {e}"
                )
            })?;
            steps.push(QueryStep::Expect(regex));
        }
        if let Some(send) = step.send {
            steps.push(QueryStep::Send(send));
        }
        if step.starttls {
            if raw.tls {
                return Err(format!(
                    "tcp.query_response[{i}].starttls: the connection is already TLS (tcp.tls: true)"
                ));
            }
            steps.push(QueryStep::StartTls);
        }
    }
    Ok(TcpOptions {
        tls: raw.tls,
        query_response: steps,
    })
}

impl TryFrom<RawModule> for Module {
    type Error = String;

    fn try_from(mut raw: RawModule) -> Result<Self, String> {
        let tcp = raw.tcp.take();
        let icmp = raw.icmp.take();
        let dns = raw.dns.take();
        let grpc = raw.grpc.take();
        let set = raw.http_options_set();
        if raw.prober != Prober::Http && !set.is_empty() {
            return Err(format!("{} apply to `prober: http` only", set.join(", ")));
        }
        if raw.prober != Prober::Tcp && tcp.is_some() {
            return Err("tcp options apply to `prober: tcp` only".into());
        }
        if raw.prober != Prober::Icmp && icmp.is_some() {
            return Err("icmp options apply to `prober: icmp` only".into());
        }
        if raw.prober != Prober::Dns && dns.is_some() {
            return Err("dns options apply to `prober: dns` only".into());
        }
        if raw.prober != Prober::Grpc && grpc.is_some() {
            return Err("grpc options apply to `prober: grpc` only".into());
        }
        // blackbox_exporter's place for the source address: the block of the prober that
        // sends from it (none for HTTP and gRPC).
        let source_ip = tcp
            .as_ref()
            .and_then(|tcp| tcp.source_ip_address)
            .or(icmp.as_ref().and_then(|icmp| icmp.source_ip_address))
            .or(dns.as_ref().and_then(|dns| dns.source_ip_address));
        let grpc = grpc.map_or_else(GrpcOptions::default, |raw| GrpcOptions {
            service: raw.service,
            tls: raw.tls,
        });
        let dns = match (raw.prober, dns) {
            (Prober::Dns, Some(dns)) => dns_options(dns)?,
            (Prober::Dns, None) => {
                return Err("a dns module needs dns.query_name (the name to ask for)".into());
            }
            _ => DnsOptions::default(),
        };
        let tcp = tcp.map(tcp_options).transpose()?.unwrap_or_default();
        let icmp = icmp.map(icmp_options).transpose()?.unwrap_or_default();
        if raw.preferred_ip_protocol.is_none() && raw.ip_protocol_fallback.is_some() {
            return Err("ip_protocol_fallback needs preferred_ip_protocol".into());
        }
        let ip = IpPreference {
            preferred: raw.preferred_ip_protocol,
            fallback: raw.ip_protocol_fallback.unwrap_or(true),
        };
        let proxy = match (raw.proxy_url.take(), raw.proxy_basic_auth.take()) {
            (Some(url), basic_auth) => Some(HttpProxy::parse(&url, basic_auth)?),
            (None, Some(_)) => return Err("proxy_basic_auth needs proxy_url".into()),
            (None, None) => None,
        };
        if raw.skip_resolve_phase_with_proxy && proxy.is_none() {
            return Err("skip_resolve_phase_with_proxy needs proxy_url".into());
        }
        let bearer = raw.bearer_token_env.is_some() || raw.bearer_token_file.is_some();
        let auth = match raw.basic_auth.take() {
            Some(_) if bearer => {
                return Err("basic_auth and a bearer token are mutually exclusive".into());
            }
            Some(basic) => ProbeAuth::Basic {
                username: basic.username,
                password: secret(
                    "basic_auth.password",
                    basic.password_env,
                    basic.password_file,
                )?,
            },
            None if bearer => ProbeAuth::Bearer(secret(
                "bearer_token",
                raw.bearer_token_env.take(),
                raw.bearer_token_file.take(),
            )?),
            None => ProbeAuth::None,
        };
        if let Some(version) = raw
            .valid_http_versions
            .iter()
            .find(|v| !HTTP_VERSIONS.contains(&v.as_str()))
        {
            return Err(format!(
                "valid_http_versions: unknown version {version:?}, expected one of: {}",
                HTTP_VERSIONS.join(", ")
            ));
        }
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
            .collect::<Result<Vec<_>, String>>()?;
        let headers = with_accept_encoding(headers, raw.compression)?;
        if let Some(code) = raw
            .valid_status_codes
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(format!("invalid status code {code}"));
        }
        Ok(Self {
            prober: raw.prober,
            timeout: raw.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
            method,
            headers,
            body: raw.body,
            valid_status_codes: raw.valid_status_codes,
            fail_if_body_matches_regexp: raw.fail_if_body_matches_regexp,
            fail_if_body_not_matches_regexp: raw.fail_if_body_not_matches_regexp,
            follow_redirects: raw.follow_redirects.unwrap_or(true),
            auth,
            fail_if_header_matches: raw.fail_if_header_matches,
            fail_if_header_not_matches: raw.fail_if_header_not_matches,
            valid_http_versions: raw.valid_http_versions,
            fail_if_ssl: raw.fail_if_ssl,
            fail_if_not_ssl: raw.fail_if_not_ssl,
            enable_http2: raw.enable_http2.unwrap_or(true),
            compression: raw.compression,
            body_size_limit: raw
                .body_size_limit
                .map(|size| size.0)
                .filter(|&size| size > 0),
            proxy,
            skip_resolve_phase_with_proxy: raw.skip_resolve_phase_with_proxy,
            tls: raw.tls,
            tcp,
            icmp,
            dns,
            grpc,
            ip,
            source_ip,
        })
    }
}

/// What to probe and how often. `name` is the `target` label; an HTTP module probes a
/// `url`, a TCP module an `address`, an ICMP module a `host`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    #[serde(default)]
    pub url: Option<ProbeUrl>,
    #[serde(default)]
    pub address: Option<ProbeAddress>,
    #[serde(default)]
    pub host: Option<ProbeHost>,
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

/// A TCP probe's `host:port` (`[v6]:port` for an IPv6 literal), as blackbox_exporter's
/// `target` for its `tcp` prober.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAddress {
    pub host: String,
    pub port: u16,
}

impl ProbeAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid address {text:?}: expected host:port");
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').ok_or_else(invalid)?,
            None if host.contains(':') => return Err(invalid()),
            None => host,
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(invalid)?;
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for ProbeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An ICMP probe's host: a name or an IP address, without a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeHost(pub String);

impl ProbeHost {
    pub fn parse(text: &str) -> Result<Self, String> {
        let literal_v6 = text.parse::<std::net::Ipv6Addr>().is_ok();
        if text.is_empty()
            || text.contains(['/', ' ', '[', ']'])
            || (text.contains(':') && !literal_v6)
        {
            return Err(format!(
                "invalid host {text:?}: expected a name or an IP address, without a port"
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for ProbeHost {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ProbeHost::parse(&text).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ProbeAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ProbeAddress::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, PasswordSource};

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
    fn a_tcp_module_runs_its_steps_in_blackbox_order() {
        let config = parse(
            "probes:\n  modules:\n    smtp:\n      prober: tcp\n      tcp:\n        query_response:\n          - expect: '^220'\n          - {send: 'STARTTLS', expect: '^250', starttls: true}\n  targets:\n    - {name: mail, address: 'mail.example.com:25', module: smtp}\n    - {name: v6, address: '[::1]:25', module: smtp}\n",
        )
        .unwrap();
        let module = &config.probes.modules["smtp"];
        assert_eq!(module.prober, super::Prober::Tcp);
        let steps: Vec<String> = module
            .tcp
            .query_response
            .iter()
            .map(|step| match step {
                super::QueryStep::Expect(regex) => format!("expect {regex}"),
                super::QueryStep::Send(text) => format!("send {text}"),
                super::QueryStep::StartTls => "starttls".into(),
            })
            .collect();
        assert_eq!(
            steps,
            ["expect ^220", "expect ^250", "send STARTTLS", "starttls"]
        );
        let addresses: Vec<String> = config
            .probes
            .targets
            .iter()
            .map(|t| t.address.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(addresses, ["mail.example.com:25", "[::1]:25"]);
    }

    #[test]
    fn tcp_and_http_options_and_targets_do_not_mix() {
        let err = parse(
            "probes:\n  modules:\n    m: {prober: tcp, method: POST, follow_redirects: false, enable_http2: false}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.m: method, follow_redirects, enable_http2 apply to `prober: http` only"
        );
        let err = parse("probes:\n  modules:\n    m: {tcp: {tls: true}}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.m: tcp options apply to `prober: tcp` only"
        );
        let err = parse(&format!(
            "{MODULES}  targets:\n    - {{name: a, address: 'x:80', module: http_2xx}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[0]: module \"http_2xx\" probes HTTP, so the target needs `url` (not address or host)"
        );
        let err = parse(
            "probes:\n  modules:\n    t: {prober: tcp}\n  targets:\n    - {name: a, url: 'http://x/', module: t}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[0]: module \"t\" probes TCP, so the target needs `address` (not url or host)"
        );
    }

    #[test]
    fn bad_tcp_fields_are_named() {
        for (address, line) in [("x", 5), ("x:0", 5), ("::1:25", 5), ("[::1]:http", 5)] {
            let err = parse(&format!(
                "probes:\n  modules:\n    t: {{prober: tcp}}\n  targets:\n    - address: '{address}'\n      name: a\n      module: t\n"
            ))
            .unwrap_err();
            assert_eq!(
                err,
                format!(
                    "pulse.yml:{line}:7: probes.targets[0].address: invalid address {address:?}: expected host:port"
                )
            );
        }
        let err = parse(
            "probes:\n  modules:\n    t:\n      prober: tcp\n      tcp: {query_response: [{send: x}, {expect: '('}]}\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("pulse.yml:3:5: probes.modules.t: tcp.query_response[1].expect: invalid regular expression \"(\""),
            "{err}"
        );
        let err = parse(
            "probes:\n  modules:\n    t:\n      prober: tcp\n      tcp: {tls: true, query_response: [{starttls: true}]}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.t: tcp.query_response[0].starttls: the connection is already TLS (tcp.tls: true)"
        );
        let err = parse("probes:\n  modules:\n    t: {prober: tcp, tcp: {query_response: [{}]}}\n")
            .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.t: tcp.query_response[0]: expected at least one of expect, send, starttls"
        );
        let err = parse("probes:\n  modules:\n    t: {prober: udp}\n").unwrap_err();
        assert!(err.contains("unknown variant `udp`"), "{err}");
    }

    #[test]
    fn grpc_modules_take_an_address_and_their_own_options() {
        let config = parse(
            "probes:\n  modules:\n    health: {prober: grpc, grpc: {service: db, tls: true}}\n    server: {prober: grpc}\n  targets:\n    - {name: db, address: 'db.example.com:50051', module: health}\n",
        )
        .unwrap();
        let health = &config.probes.modules["health"].grpc;
        assert_eq!((health.service.as_str(), health.tls), ("db", true));
        let server = &config.probes.modules["server"].grpc;
        assert_eq!((server.service.as_str(), server.tls), ("", false));
        let err = parse(
            "probes:\n  modules:\n    health: {prober: grpc}\n  targets:\n    - {name: a, url: 'http://db:50051/', module: health}\n",
        )
        .unwrap_err();
        assert!(
            err.contains("probes gRPC, so the target needs `address`"),
            "{err}"
        );
        let err =
            parse("probes:\n  modules:\n    t: {prober: tcp, grpc: {service: db}}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.t: grpc options apply to `prober: grpc` only"
        );
        let err = parse("probes:\n  modules:\n    t: {prober: grpc, grpc: {services: [db]}}\n")
            .unwrap_err();
        assert!(err.contains("unknown field `services`"), "{err}");
    }

    #[test]
    fn icmp_modules_take_a_host() {
        let config = parse(
            "probes:\n  modules:\n    ping: {prober: icmp, icmp: {payload_size: 1200}}\n  targets:\n    - {name: gw, host: 10.0.0.1, module: ping}\n    - {name: v6, host: 'fe80::1', module: ping}\n    - {name: db, host: db.example.com, module: ping}\n",
        )
        .unwrap();
        assert_eq!(config.probes.modules["ping"].icmp.payload_size, 1200);
        let hosts: Vec<&str> = config
            .probes
            .targets
            .iter()
            .map(|t| t.host.as_ref().unwrap().0.as_str())
            .collect();
        assert_eq!(hosts, ["10.0.0.1", "fe80::1", "db.example.com"]);
        let err = parse(
            "probes:\n  modules:\n    ping: {prober: icmp}\n  targets:\n    - {name: a, host: 'db:5432', module: ping}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:5:7: probes.targets[0].host: invalid host \"db:5432\": expected a name or an IP address, without a port"
        );
        let err = parse(
            "probes:\n  modules:\n    ping: {prober: icmp}\n  targets:\n    - {name: a, address: 'db:5432', module: ping}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:1:1: probes: targets[0]: module \"ping\" probes ICMP, so the target needs `host` (not url or address)"
        );
        let err = parse("probes:\n  modules:\n    t: {prober: tcp, icmp: {payload_size: 8}}\n")
            .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.t: icmp options apply to `prober: icmp` only"
        );
        let err =
            parse("probes:\n  modules:\n    p: {prober: icmp, icmp: {payload_size: 70000}}\n")
                .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.p: icmp.payload_size: 70000 is more than an echo request holds (65507)"
        );
    }

    #[test]
    fn compression_asks_for_itself_and_a_body_limit_reads_blackbox_units() {
        let config = parse(
            "probes:\n  modules:\n    gz: {compression: gzip, body_size_limit: 1MB}\n    br: {compression: br, headers: {Accept-Encoding: 'br;q=1.0, gzip;q=0.5'}, body_size_limit: 512KiB}\n    bytes: {body_size_limit: 100B}\n    number: {body_size_limit: 4096}\n    none: {body_size_limit: 0B}\n",
        )
        .unwrap();
        let module = |name: &str| &config.probes.modules[name];
        assert_eq!(module("gz").compression, Some(super::Compression::Gzip));
        assert!(
            module("gz")
                .headers
                .iter()
                .any(|(name, value)| name == "accept-encoding" && value == "gzip"),
            "{:?}",
            module("gz").headers
        );
        // The module's own Accept-Encoding stays as it is.
        assert_eq!(module("br").headers.len(), 1);
        let limit = |name: &str| module(name).body_size_limit;
        assert_eq!(limit("gz"), Some(1 << 20));
        assert_eq!(limit("br"), Some(512 << 10));
        assert_eq!(limit("bytes"), Some(100));
        assert_eq!(limit("number"), Some(4096));
        assert_eq!(limit("none"), None, "0: no limit, as in blackbox");

        for (options, message) in [
            (
                "compression: gzip, headers: {Accept-Encoding: br}",
                "probes.modules.m: headers: Accept-Encoding \"br\" does not accept compression gzip",
            ),
            ("compression: zstd", "unknown variant `zstd`"),
            ("body_size_limit: 1 parsec", "invalid size \"1 parsec\""),
            ("body_size_limit: 99999999999GB", "invalid size"),
            (
                "prober: tcp, compression: gzip",
                "compression apply to `prober: http` only",
            ),
        ] {
            let err = parse(&format!("probes:\n  modules:\n    m: {{{options}}}\n")).unwrap_err();
            assert!(err.starts_with("pulse.yml:3:"), "{err}");
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn a_proxy_is_an_http_url_without_credentials_in_it() {
        let config = parse(
            "probes:\n  modules:\n    out: {proxy_url: 'http://proxy.corp:3128', proxy_basic_auth: {username: svc, password_env: PROXY_PASSWORD}, skip_resolve_phase_with_proxy: true}\n    default_port: {proxy_url: 'http://[2001:db8::1]/'}\n",
        )
        .unwrap();
        let module = &config.probes.modules["out"];
        let proxy = module.proxy.as_ref().unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.corp", 3128));
        assert_eq!(
            proxy.auth,
            super::ProbeAuth::Basic {
                username: "svc".into(),
                password: PasswordSource::Env("PROXY_PASSWORD".into())
            }
        );
        assert!(module.skip_resolve_phase_with_proxy);
        let proxy = config.probes.modules["default_port"]
            .proxy
            .as_ref()
            .unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("2001:db8::1", 80));
        assert_eq!(proxy.auth, super::ProbeAuth::None);

        for (options, message) in [
            (
                "proxy_url: 'https://proxy:3128'",
                "expected an http:// proxy",
            ),
            (
                "proxy_url: 'http://svc:s3cret@proxy:3128'",
                "credentials go in proxy_basic_auth",
            ),
            (
                "proxy_url: 'http://proxy:3128/path'",
                "a proxy URL has no path",
            ),
            (
                "proxy_basic_auth: {username: svc, password_env: P}",
                "proxy_basic_auth needs proxy_url",
            ),
            (
                "skip_resolve_phase_with_proxy: true",
                "skip_resolve_phase_with_proxy needs proxy_url",
            ),
            (
                "prober: tcp, proxy_url: 'http://proxy:3128'",
                "proxy_url apply to `prober: http` only",
            ),
        ] {
            let err = parse(&format!("probes:\n  modules:\n    m: {{{options}}}\n")).unwrap_err();
            assert!(
                err.starts_with("pulse.yml:3:5: probes.modules.m: "),
                "{err}"
            );
            assert!(err.contains(message), "{err}");
        }
        // The password never in the error, though it was in the URL.
        let err =
            parse("probes:\n  modules:\n    m: {proxy_url: 'http://svc:s3cret@proxy:3128'}\n")
                .unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_client_certificate_comes_with_its_key_and_a_server_name_is_a_name() {
        let config = parse(
            "probes:\n  modules:\n    mtls: {tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: api.internal}}\n",
        )
        .unwrap();
        let tls = &config.probes.modules["mtls"].tls;
        let client = tls.client_certificate.as_ref().unwrap();
        assert_eq!(client.cert_file, Path::new("client.pem"));
        assert_eq!(client.key_file, Path::new("client.key"));
        assert_eq!(
            tls.server_name
                .as_ref()
                .map(|name| name.to_str().into_owned()),
            Some("api.internal".to_owned())
        );

        for (options, message) in [
            ("{cert_file: client.pem}", "cert_file needs key_file"),
            ("{key_file: client.key}", "key_file needs cert_file"),
            (
                "{server_name: 'not a name'}",
                "server_name: invalid name \"not a name\"",
            ),
            ("{certfile: client.pem}", "unknown field `certfile`"),
            (
                "{min_version: TLS13, max_version: TLS12}",
                "min_version: above max_version",
            ),
            (
                "{max_version: TLS11}",
                "max_version: rustls speaks TLS 1.2 and 1.3 only",
            ),
            ("{min_version: SSL3}", "unknown variant `SSL3`"),
        ] {
            let err = parse(&format!(
                "probes:\n  modules:\n    m:\n      tls: {options}\n"
            ))
            .unwrap_err();
            assert!(err.starts_with("pulse.yml:4:"), "{err}");
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn source_address_ttl_and_fragmentation_are_read_where_blackbox_puts_them() {
        let config = parse(
            "probes:\n  modules:\n    mtu: {prober: icmp, icmp: {payload_size: 1472, dont_fragment: true, ttl: 8, source_ip_address: 192.0.2.7}}\n    ping: {prober: icmp}\n    smtp: {prober: tcp, tcp: {source_ip_address: '2001:db8::7'}}\n    dns: {prober: dns, dns: {query_name: example.com, source_ip_address: 192.0.2.8}}\n",
        )
        .unwrap();
        let module = |name: &str| &config.probes.modules[name];
        assert!(module("mtu").icmp.dont_fragment);
        assert_eq!(
            module("mtu").icmp.ttl.map(std::num::NonZeroU8::get),
            Some(8)
        );
        assert_eq!(module("mtu").source_ip, Some([192, 0, 2, 7].into()));
        assert!(!module("ping").icmp.dont_fragment);
        assert_eq!(module("ping").icmp.ttl, None);
        assert_eq!(module("ping").source_ip, None);
        assert_eq!(
            module("smtp").source_ip,
            Some("2001:db8::7".parse().unwrap())
        );
        assert_eq!(module("dns").source_ip, Some([192, 0, 2, 8].into()));

        let err = parse(
            "probes:\n  modules:\n    p:\n      prober: icmp\n      icmp:\n        source_ip_address: eth0\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "pulse.yml:6:28: probes.modules.p.icmp.source_ip_address: invalid IP address"
            ),
            "{err}"
        );
        for ttl in ["0", "256"] {
            let err = parse(&format!(
                "probes:\n  modules:\n    p:\n      prober: icmp\n      icmp: {{ttl: {ttl}}}\n"
            ))
            .unwrap_err();
            assert!(err.starts_with("pulse.yml:5:"), "{err}");
            assert!(
                err.contains("probes.modules.p.icmp.ttl: invalid value"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_address_family_is_preferred_as_blackbox_prefers_it() {
        let config = parse(
            "probes:\n  modules:\n    v4: {prober: icmp, preferred_ip_protocol: ip4}\n    v6only: {prober: tcp, preferred_ip_protocol: ip6, ip_protocol_fallback: false}\n    any: {prober: http}\n",
        )
        .unwrap();
        let ip = |module: &str| config.probes.modules[module].ip;
        let both: Vec<std::net::SocketAddr> = ["[2001:db8::1]:80", "192.0.2.1:80", "[::1]:80"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let v4_only = vec![both[1]];
        assert_eq!(ip("any").choose(both.clone()), Ok(both.clone()));
        assert_eq!(ip("v4").choose(both.clone()), Ok(v4_only.clone()));
        assert_eq!(
            ip("v6only").choose(both.clone()),
            Ok(vec![both[0], both[2]])
        );
        // A name with no address of the preferred family: the other, or with no fallback
        // an error that says which family was missing.
        assert_eq!(ip("v4").choose(vec![both[0]]), Ok(vec![both[0]]));
        assert_eq!(
            ip("v6only").choose(v4_only),
            Err("no IPv6 address, and no fallback".to_owned())
        );
        let err =
            parse("probes:\n  modules:\n    p: {prober: icmp, preferred_ip_protocol: ipv4}\n")
                .unwrap_err();
        assert!(
            err.starts_with("pulse.yml:3:")
                && err.contains("unknown variant `ipv4`, expected `ip4` or `ip6`"),
            "{err}"
        );
        let err =
            parse("probes:\n  modules:\n    p: {prober: icmp, ip_protocol_fallback: false}\n")
                .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.p: ip_protocol_fallback needs preferred_ip_protocol"
        );
    }

    #[test]
    fn dns_modules_are_checked_when_read() {
        let config = parse(
            "probes:\n  modules:\n    d:\n      prober: dns\n      dns: {query_name: example.com, query_type: mx, transport_protocol: tcp, valid_rcodes: [NOERROR, nxdomain]}\n  targets:\n    - {name: ns, address: '192.0.2.53:53', module: d}\n",
        )
        .unwrap();
        let dns = &config.probes.modules["d"].dns;
        assert_eq!(dns.query_name.to_string(), "example.com.");
        assert_eq!(dns.query_type, hickory_proto::rr::RecordType::MX);
        assert!(dns.tcp && dns.recursion_desired);
        assert_eq!(dns.valid_rcodes, [0, 3]);
        for (module, message) in [
            (
                "{prober: dns}",
                "a dns module needs dns.query_name (the name to ask for)",
            ),
            (
                "{prober: dns, dns: {query_type: A}}",
                "dns.query_name is required (the name to ask for)",
            ),
            (
                "{prober: dns, dns: {query_name: x, query_type: AAAAA}}",
                "dns.query_type: unknown record type \"AAAAA\"",
            ),
            (
                "{prober: dns, dns: {query_name: x, dns_over_tls: true, transport_protocol: udp}}",
                "dns.dns_over_tls: DNS over TLS runs over tcp, not udp",
            ),
            (
                "{prober: dns, dns: {query_name: x, query_class: CHAOS}}",
                "dns.query_class: unknown class \"CHAOS\"",
            ),
            (
                "{prober: dns, dns: {query_name: x, transport_protocol: quic}}",
                "dns.transport_protocol: expected udp or tcp, not \"quic\"",
            ),
            (
                "{prober: dns, dns: {query_name: x, valid_rcodes: [OK]}}",
                "dns.valid_rcodes: unknown response code \"OK\"",
            ),
            (
                "{prober: http, dns: {query_name: x}}",
                "dns options apply to `prober: dns` only",
            ),
        ] {
            let err = parse(&format!("probes:\n  modules:\n    d: {module}\n")).unwrap_err();
            assert_eq!(err, format!("pulse.yml:3:5: probes.modules.d: {message}"));
        }
        let err = parse(
            "probes:\n  modules:\n    d: {prober: dns, dns: {query_name: x, validate_answer_rrs: {fail_if_matches_regexp: ['(']}}}\n",
        )
        .unwrap_err();
        assert!(
            err.contains(
                "validate_answer_rrs.fail_if_matches_regexp: invalid regular expression \"(\""
            ),
            "{err}"
        );
    }

    #[test]
    fn http_credentials_come_from_the_environment_or_a_file_only() {
        let config = parse(
            "probes:\n  modules:\n    b: {basic_auth: {username: ops, password_env: PROBE_PASSWORD}}\n    t: {bearer_token_file: /run/secrets/token}\n",
        )
        .unwrap();
        assert_eq!(
            config.probes.modules["b"].auth,
            super::ProbeAuth::Basic {
                username: "ops".into(),
                password: PasswordSource::Env("PROBE_PASSWORD".into())
            }
        );
        assert_eq!(
            config.probes.modules["t"].auth,
            super::ProbeAuth::Bearer(PasswordSource::File("/run/secrets/token".into()))
        );
        for (module, message) in [
            (
                "{basic_auth: {username: ops}}",
                "basic_auth.password_env or basic_auth.password_file is required",
            ),
            (
                "{bearer_token_env: A, bearer_token_file: /b}",
                "bearer_token_env and bearer_token_file are mutually exclusive",
            ),
            (
                "{basic_auth: {username: ops, password_env: P}, bearer_token_env: T}",
                "basic_auth and a bearer token are mutually exclusive",
            ),
            (
                "{prober: tcp, bearer_token_env: T}",
                "bearer_token_env/bearer_token_file apply to `prober: http` only",
            ),
        ] {
            let err = parse(&format!("probes:\n  modules:\n    m: {module}\n")).unwrap_err();
            assert_eq!(err, format!("pulse.yml:3:5: probes.modules.m: {message}"));
        }
        let err = parse("probes:\n  modules:\n    m: {basic_auth: {username: ops, password: x}}\n")
            .unwrap_err();
        assert!(err.contains("unknown field `password`"), "{err}");
    }

    #[test]
    fn header_checks_and_http_versions_are_checked_when_read() {
        let config = parse(
            "probes:\n  modules:\n    h: {fail_if_header_matches: [{header: Server, regexp: 'nginx/1\\.1'}], valid_http_versions: [HTTP/1.1]}\n",
        )
        .unwrap();
        let module = &config.probes.modules["h"];
        assert_eq!(module.fail_if_header_matches[0].header, "Server");
        assert!(!module.fail_if_header_matches[0].allow_missing);
        assert_eq!(module.valid_http_versions, ["HTTP/1.1"]);
        let err =
            parse("probes:\n  modules:\n    h: {valid_http_versions: [HTTP/1.2]}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: probes.modules.h: valid_http_versions: unknown version \"HTTP/1.2\", expected one of: HTTP/1.0, HTTP/1.1, HTTP/2.0, HTTP/3.0"
        );
        let err = parse("probes:\n  modules:\n    h: {fail_if_header_not_matches: [{header: X, regexp: '('}]}\n")
            .unwrap_err();
        assert!(err.contains("invalid regular expression"), "{err}");
        let err =
            parse("probes:\n  modules:\n    h: {fail_if_header_not_matches: [{regexp: x}]}\n")
                .unwrap_err();
        assert!(err.contains("missing field `header`"), "{err}");
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
