//! One HTTP probe with blackbox_exporter's phase timings.
//!
//! reqwest hides where the time goes, so the request is driven by hand: DNS through
//! `tokio::net::lookup_host` (resolve), `TcpStream::connect` (connect), tokio-rustls
//! (tls), hyper's HTTP/1 connection until the response head arrives (processing), and
//! reading the body (transfer). Redirects are followed by hand too, so each hop's phases
//! add up as they do in blackbox_exporter and `probe_http_redirects` counts the hops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::config::Module;

/// blackbox_exporter's limit.
const MAX_REDIRECTS: u32 = 10;
/// Bodies beyond this are not read: a probe checks health, it does not download.
const MAX_BODY: usize = 10 << 20;

/// The phases of `probe_http_duration_seconds`, in order.
pub const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// What one probe found. Every field has a value even when the probe failed, so every
/// series exists on every scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub success: bool,
    pub duration: Duration,
    /// Seconds per phase, indexed like [`PHASES`].
    pub phases: [f64; 5],
    /// 0 when no response arrived.
    pub status_code: u16,
    /// The Content-Length header, else the bytes read; -1 without a response.
    pub content_length: f64,
    pub redirects: u32,
    /// Whether the final response came over TLS.
    pub ssl: bool,
    /// Earliest `notAfter` (Unix seconds) of the certificates the server presented.
    pub cert_expiry: Option<f64>,
    pub failed_due_to_regex: bool,
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
    #[error("too many redirects")]
    Redirects,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("status {0} is not accepted")]
    Status(u16),
    #[error("body regex check failed")]
    Regex,
}

/// A module made ready to run: its TLS client config built once.
pub struct Prepared {
    pub module: Module,
    pub tls: Arc<rustls::ClientConfig>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs one probe of `url` under the module's timeout. Never fails: failure is an outcome.
pub async fn probe(prepared: &Prepared, url: &Uri) -> (Outcome, Option<ProbeError>) {
    let start = Instant::now();
    let mut outcome = Outcome {
        content_length: -1.0,
        ..Outcome::default()
    };
    let timeout = prepared.module.timeout;
    let result = match tokio::time::timeout(timeout, run(prepared, url, &mut outcome)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(timeout)),
    };
    outcome.duration = start.elapsed();
    outcome.success = result.is_ok();
    (outcome, result.err())
}

async fn run(prepared: &Prepared, url: &Uri, outcome: &mut Outcome) -> Result<(), ProbeError> {
    let module = &prepared.module;
    let mut uri = url.clone();
    let mut method = module.method.clone();
    let mut body = module.body.clone();
    loop {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| ProbeError::Request(format!("no host in {uri}")))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });

        let t = Instant::now();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|source| ProbeError::Resolve {
                host: host.clone(),
                source,
            })?
            .collect();
        outcome.phases[0] += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let tcp = connect(&addrs).await?;
        outcome.phases[1] += t.elapsed().as_secs_f64();

        outcome.ssl = https;
        let io: Box<dyn Io> = if https {
            let t = Instant::now();
            let name = ServerName::try_from(host.clone())
                .map_err(|e| ProbeError::Request(format!("server name {host:?}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(prepared.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(ProbeError::Tls)?;
            outcome.phases[2] += t.elapsed().as_secs_f64();
            outcome.cert_expiry = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(earliest_expiry);
            Box::new(stream)
        } else {
            Box::new(tcp)
        };

        let t = Instant::now();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)).await?;
        // Drives the connection; aborted with the probe, so nothing outlives a timeout.
        let driver = AbortOnDrop(tokio::spawn(connection));
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned())
            .header(
                hyper::header::HOST,
                uri.authority().map_or(host.as_str(), |a| a.as_str()),
            )
            .header(
                hyper::header::USER_AGENT,
                concat!("pulse-exporter/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &module.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| ProbeError::Request(e.to_string()))?;
        let response = sender.send_request(request).await?;
        outcome.phases[3] += t.elapsed().as_secs_f64();
        let status = response.status();
        outcome.status_code = status.as_u16();

        if module.follow_redirects
            && status.is_redirection()
            && let Some(next) = redirect_target(&uri, &response)
        {
            drop(driver);
            outcome.redirects += 1;
            if outcome.redirects > MAX_REDIRECTS {
                return Err(ProbeError::Redirects);
            }
            // 303, and 301/302 after a POST in practice, turn into GET without a body.
            if status == StatusCode::SEE_OTHER
                || (method == hyper::Method::POST
                    && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
            {
                method = hyper::Method::GET;
                body.clear();
            }
            uri = next;
            continue;
        }

        let t = Instant::now();
        let header_length = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let bytes = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| ProbeError::Body(e.to_string()))?
            .to_bytes();
        outcome.phases[4] += t.elapsed().as_secs_f64();
        drop(driver);
        outcome.content_length = header_length.unwrap_or(bytes.len() as f64);

        let valid = if module.valid_status_codes.is_empty() {
            status.is_success()
        } else {
            module.valid_status_codes.contains(&status.as_u16())
        };
        if !valid {
            return Err(ProbeError::Status(status.as_u16()));
        }
        let text = String::from_utf8_lossy(&bytes);
        let regex_ok = module
            .fail_if_body_matches_regexp
            .iter()
            .all(|p| !p.is_match(&text))
            && module
                .fail_if_body_not_matches_regexp
                .iter()
                .all(|p| p.is_match(&text));
        if !regex_ok {
            outcome.failed_due_to_regex = true;
            return Err(ProbeError::Regex);
        }
        return Ok(());
    }
}

async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, ProbeError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(ProbeError::Connect(last))
}

/// The `Location` of a redirect, made absolute against the current URL.
fn redirect_target<B>(current: &Uri, response: &hyper::Response<B>) -> Option<Uri> {
    let location = response
        .headers()
        .get(hyper::header::LOCATION)?
        .to_str()
        .ok()?;
    if location.contains("://") {
        return location.parse().ok();
    }
    let mut parts = current.clone().into_parts();
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        // Relative to the current path's directory.
        let base = current.path();
        format!(
            "{}{location}",
            &base[..base.rfind('/').map_or(0, |i| i + 1)]
        )
    };
    parts.path_and_query = Some(path.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn earliest_expiry(certs: &[rustls::pki_types::CertificateDer<'_>]) -> Option<f64> {
    certs
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp() as f64)
        .reduce(f64::min)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_become_absolute() {
        let current: Uri = "http://example.test:8080/a/b?x=1".parse().unwrap();
        let response = |location: &str| {
            hyper::Response::builder()
                .status(302)
                .header("location", location)
                .body(())
                .unwrap()
        };
        assert_eq!(
            redirect_target(&current, &response("/c")).unwrap(),
            "http://example.test:8080/c"
        );
        assert_eq!(
            redirect_target(&current, &response("d?y=2")).unwrap(),
            "http://example.test:8080/a/d?y=2"
        );
        assert_eq!(
            redirect_target(&current, &response("https://other.test/")).unwrap(),
            "https://other.test/"
        );
    }
}
