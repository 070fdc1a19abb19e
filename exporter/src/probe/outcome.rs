//! What one probe found, whichever prober ran it, and why it failed.

use std::net::IpAddr;
use std::time::Duration;

/// What one probe found. Every field a prober reports has a value even when the probe
/// failed, so every series exists on every scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub success: bool,
    pub duration: Duration,
    /// Seconds spent resolving the target's name (summed over an HTTP probe's redirects).
    pub dns_lookup_seconds: f64,
    /// The address the last connection went to, once one was resolved.
    pub ip: Option<IpAddr>,
    /// The target's name was left to a proxy to resolve, so there is no address to report
    /// (not even the 0 of a name that did not resolve), as blackbox_exporter leaves it out.
    pub resolved_by_proxy: bool,
    /// Set when the last connection completed a TLS handshake.
    pub tls: Option<TlsFacts>,
    /// A body regex (HTTP) or an `expect` (TCP) failed the probe; `None` for ICMP, which
    /// has nothing to match.
    pub failed_due_to_regex: Option<bool>,
    /// The HTTP prober's own figures; `None` for the other probers.
    pub http: Option<HttpOutcome>,
    /// The ICMP prober's own figures; `None` for the other probers.
    pub icmp: Option<IcmpOutcome>,
    /// The DNS prober's own figures; `None` for the other probers.
    pub dns: Option<DnsOutcome>,
    /// The gRPC prober's own figures; `None` for the other probers.
    pub grpc: Option<GrpcOutcome>,
}

/// The gRPC prober's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcOutcome {
    /// Seconds per phase, indexed like [`super::grpc::PHASES`].
    pub phases: [f64; 2],
    /// Whether the call went over TLS.
    pub ssl: bool,
    /// The call's gRPC status code (0 OK, 5 NOT_FOUND for an unknown service, 14
    /// UNAVAILABLE when no server answered, ...).
    pub status_code: u8,
    /// The health service's answer, indexed like [`super::grpc::SERVING_STATUSES`]; `None`
    /// when the call did not return one.
    pub serving_status: Option<usize>,
}

impl Default for GrpcOutcome {
    /// Before any answer: UNAVAILABLE, as a gRPC client reports a server it did not reach.
    fn default() -> Self {
        Self {
            phases: [0.0; 2],
            ssl: false,
            status_code: super::grpc::UNAVAILABLE,
            serving_status: None,
        }
    }
}

/// The DNS prober's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsOutcome {
    /// Seconds per phase, indexed like [`super::dns::PHASES`].
    pub phases: [f64; 3],
    /// Whether a response arrived, whatever its code.
    pub query_succeeded: bool,
    pub answer_rrs: usize,
    pub authority_rrs: usize,
    pub additional_rrs: usize,
    /// Serial of the SOA record in the answer, if there is one.
    pub serial: Option<u32>,
}

/// The ICMP prober's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IcmpOutcome {
    /// Seconds per phase, indexed like [`super::icmp::PHASES`].
    pub phases: [f64; 3],
    /// TTL of the IPv4 reply, as a raw socket sees it in the reply's IP header (an
    /// unprivileged ICMP socket is handed no header, and an IPv6 reply's hop limit needs
    /// ancillary data the ICMP library does not read).
    pub reply_hop_limit: Option<f64>,
}

/// What a TLS handshake showed.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFacts {
    /// blackbox_exporter's spelling: `TLS 1.2`, `TLS 1.3`.
    pub version: &'static str,
    /// What the server's certificates showed.
    pub certificates: super::certificate::Shown,
}

/// The HTTP prober's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpOutcome {
    /// Seconds per phase, indexed like [`super::http::PHASES`].
    pub phases: [f64; 5],
    /// 0 when no response arrived.
    pub status_code: u16,
    /// The Content-Length header; -1 for a response without one, 0 without a response (as
    /// blackbox_exporter reports Go's `ContentLength`).
    pub content_length: f64,
    pub redirects: u32,
    /// Whether the final response came over TLS.
    pub ssl: bool,
    /// HTTP version of the final response (1.1, …); 0 without a response.
    pub version: f64,
    /// Bytes of the final response body as read (the probe asks for no compression).
    pub uncompressed_body_length: f64,
    /// The final response's `Last-Modified`, in Unix seconds.
    pub last_modified: Option<f64>,
}

/// Why a probe failed; logged at debug level, never used as a label.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("resolving {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(String),
    #[error("reading body: {0}")]
    Body(String),
    #[error("the body is longer than body_size_limit ({0} bytes)")]
    BodyTooLarge(usize),
    #[error("the proxy answered {0} to CONNECT")]
    Proxy(u16),
    #[error("too many redirects")]
    Redirects,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("status {0} is not accepted")]
    Status(u16),
    #[error("body or header regex check failed")]
    Regex,
    #[error("{0} is not among valid_http_versions")]
    Version(&'static str),
    #[error("the final response came {}", if *.0 { "over TLS (fail_if_ssl)" } else { "without TLS (fail_if_not_ssl)" })]
    Ssl(bool),
    #[error("no line matched `{0}` before the connection closed")]
    Expect(String),
    #[error("exchange: {0}")]
    Exchange(std::io::Error),
    #[error("opening an ICMP socket (needs root, CAP_NET_RAW or net.ipv4.ping_group_range): {0}")]
    IcmpSocket(std::io::Error),
    #[error("ICMP echo: {0}")]
    Echo(std::io::Error),
    #[error("DNS: {0}")]
    Dns(String),
    #[error("DNS response code {0} is not accepted")]
    Rcode(u16),
    #[error("DNS {0} records failed their checks")]
    Records(&'static str),
    #[error("gRPC status {code}: {message}")]
    Grpc { code: u8, message: String },
    #[error("the health service answered {0}")]
    NotServing(&'static str),
}
