//! One HTTP probe with blackbox_exporter's phase timings.
//!
//! reqwest hides where the time goes, so the request is driven by hand: DNS through
//! `tokio::net::lookup_host` (resolve), `TcpStream::connect` (connect), tokio-rustls
//! (tls), hyper's HTTP/1 connection, or HTTP/2 where TLS negotiated it (ALPN `h2`, as
//! blackbox_exporter's Go client does unless `enable_http2: false`), until the response
//! head arrives (processing), and reading the body (transfer). Redirects are followed by
//! hand too, so each hop's phases add up as they do in blackbox_exporter and
//! `probe_http_redirects` counts the hops. With `proxy_url` every hop goes through the
//! proxy (see the `proxy` module).

use std::time::Instant;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::Prepared;
use super::config::{HeaderCheck, ProbeAuth};
use super::connect::{Io, connect, resolve, tls_handshake};
use super::outcome::{HttpOutcome, Outcome, ProbeError};
use super::{body, proxy};

/// blackbox_exporter's limit.
const MAX_REDIRECTS: u32 = 10;

/// The phases of `probe_http_duration_seconds`, in order.
pub const PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// The HTTP exchange of one probe of `url`, redirects followed, recorded into `outcome`
/// (whose HTTP figures start at zero, so a probe that fails before any response still
/// reports them all). The caller bounds it by the timeout.
pub async fn run(prepared: &Prepared, url: &Uri, outcome: &mut Outcome) -> Result<(), ProbeError> {
    let module = &prepared.module;
    let proxy = module.proxy.as_ref();
    let proxy_authorization = match proxy {
        Some(proxy) => authorization(&proxy.auth)?,
        None => None,
    };
    let authorization = authorization(&module.auth)?;
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
        let addrs = if proxy.is_some() && module.skip_resolve_phase_with_proxy {
            outcome.resolved_by_proxy = true;
            Vec::new()
        } else {
            resolve(&host, port, module.ip, outcome).await?
        };
        http_figures(outcome).phases[0] += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let tcp = match proxy {
            None => connect(&addrs, module.source_ip, outcome).await?,
            Some(proxy) => {
                // The address blackbox_exporter reports: the target's first, as resolved.
                outcome.ip = addrs.first().map(|addr| addr.ip());
                proxy.connect(outcome).await?
            }
        };
        http_figures(outcome).phases[1] += t.elapsed().as_secs_f64();

        // Whether the final response came over TLS: none has come on this hop yet.
        http_figures(outcome).ssl = false;
        outcome.tls = None;
        let (io, http2): (Box<dyn Io>, bool) = if https {
            let t = Instant::now();
            let tcp: Box<dyn Io> = match proxy {
                // The tunnel's set-up counts as connecting, as in Go's dialer.
                Some(_) => {
                    // The host as the URL writes it: an IPv6 address keeps its brackets.
                    let authority = format!("{}:{port}", uri.host().unwrap_or_default());
                    let tunnel =
                        proxy::tunnel(tcp, &authority, proxy_authorization.as_ref()).await?;
                    http_figures(outcome).phases[1] += t.elapsed().as_secs_f64();
                    tunnel
                }
                None => Box::new(tcp),
            };
            let t = Instant::now();
            let stream = tls_handshake(&prepared.tls, &host, tcp, outcome).await?;
            http_figures(outcome).phases[2] += t.elapsed().as_secs_f64();
            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            (Box::new(stream), http2)
        } else {
            (Box::new(tcp), false)
        };

        let t = Instant::now();
        let (mut sender, driver) = Sender::handshake(io, http2).await?;
        // HTTP/2 takes the scheme and authority from an absolute URI; HTTP/1.1 the path
        // and a Host header, or the whole URL when a proxy is to follow it.
        let through_proxy = proxy.is_some() && !https;
        let mut request = if http2 {
            Request::builder().uri(uri.clone())
        } else {
            let target = if through_proxy {
                uri.to_string()
            } else {
                uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
            };
            Request::builder().uri(target).header(
                hyper::header::HOST,
                uri.authority().map_or(host.as_str(), |a| a.as_str()),
            )
        }
        .method(method.clone())
        .header(
            hyper::header::USER_AGENT,
            concat!("pulse-exporter/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in &module.headers {
            request = request.header(name, value);
        }
        // Credentials go to the configured URL's host only, not to wherever it redirects.
        if let Some(value) = &authorization
            && uri.authority() == url.authority()
        {
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        if through_proxy && let Some(value) = &proxy_authorization {
            request = request.header(hyper::header::PROXY_AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| ProbeError::Request(e.to_string()))?;
        let response = sender.send_request(request).await?;
        http_figures(outcome).phases[3] += t.elapsed().as_secs_f64();
        let status = response.status();
        http_figures(outcome).status_code = status.as_u16();
        http_figures(outcome).ssl = https;
        http_figures(outcome).version = match response.version() {
            hyper::Version::HTTP_09 => 0.9,
            hyper::Version::HTTP_10 => 1.0,
            hyper::Version::HTTP_2 => 2.0,
            hyper::Version::HTTP_3 => 3.0,
            _ => 1.1,
        };

        if module.follow_redirects
            && status.is_redirection()
            && let Some(next) = redirect_target(&uri, &response)
        {
            drop(driver);
            http_figures(outcome).redirects += 1;
            if http_figures(outcome).redirects > MAX_REDIRECTS {
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

        let headers_failed = headers_fail(module, response.headers());
        http_figures(outcome).last_modified = response
            .headers()
            .get(hyper::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        let version = response.version();

        let t = Instant::now();
        let header_length = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let raw = Limited::new(response.into_body(), body::MAX_BODY)
            .collect()
            .await
            .map_err(|e| ProbeError::Body(e.to_string()))?
            .to_bytes();
        http_figures(outcome).phases[4] += t.elapsed().as_secs_f64();
        drop(driver);
        // Without the header (a chunked body) the length is unknown, -1, as Go reports it.
        http_figures(outcome).content_length = header_length.unwrap_or(-1.0);
        let (bytes, body_error) = body::read(raw, module.compression, module.body_size_limit);
        http_figures(outcome).uncompressed_body_length = bytes.len() as f64;

        let valid = if module.valid_status_codes.is_empty() {
            status.is_success()
        } else {
            module.valid_status_codes.contains(&status.as_u16())
        };
        if !valid {
            return Err(ProbeError::Status(status.as_u16()));
        }
        if let Some(error) = body_error {
            return Err(error);
        }
        if headers_failed {
            outcome.failed_due_to_regex = Some(true);
            return Err(ProbeError::Regex);
        }
        let version_name = version_name(version);
        if !module.valid_http_versions.is_empty()
            && !module.valid_http_versions.iter().any(|v| v == version_name)
        {
            return Err(ProbeError::Version(version_name));
        }
        if (module.fail_if_ssl && https) || (module.fail_if_not_ssl && !https) {
            return Err(ProbeError::Ssl(https));
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
            outcome.failed_due_to_regex = Some(true);
            return Err(ProbeError::Regex);
        }
        return Ok(());
    }
}

/// A connection's request half, HTTP/1.1 or HTTP/2 (the gRPC prober's too).
pub(super) enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Opens the HTTP connection over `io`, with the task that drives it: aborted with the
    /// probe, so nothing outlives a timeout.
    pub(super) async fn handshake(
        io: Box<dyn Io>,
        http2: bool,
    ) -> Result<(Self, AbortOnDrop<hyper::Result<()>>), ProbeError> {
        let io = TokioIo::new(io);
        Ok(if http2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            (Self::Http2(sender), AbortOnDrop(tokio::spawn(connection)))
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            (Self::Http1(sender), AbortOnDrop(tokio::spawn(connection)))
        })
    }

    pub(super) async fn send_request(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> hyper::Result<hyper::Response<hyper::body::Incoming>> {
        match self {
            Self::Http1(sender) => sender.send_request(request).await,
            Self::Http2(sender) => sender.send_request(request).await,
        }
    }
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

/// blackbox_exporter's spelling of a response's protocol version.
fn version_name(version: hyper::Version) -> &'static str {
    match version {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Whether the final response's headers fail the module's header checks, by
/// blackbox_exporter's rules: every value of the header is matched, and a missing header
/// fails unless the check allows it.
fn headers_fail(module: &super::config::Module, headers: &hyper::HeaderMap) -> bool {
    let fails = |check: &HeaderCheck, fails_on_match: bool| {
        let values: Vec<String> = headers
            .get_all(check.header.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if values.is_empty() {
            return !check.allow_missing;
        }
        values
            .iter()
            .any(|value| check.regexp.is_match(value) == fails_on_match)
    };
    module.fail_if_header_matches.iter().any(|c| fails(c, true))
        || module
            .fail_if_header_not_matches
            .iter()
            .any(|c| fails(c, false))
}

/// The `Authorization` header of the module's credentials, the secret read now; marked
/// sensitive so it is never printed.
fn authorization(auth: &ProbeAuth) -> Result<Option<HeaderValue>, ProbeError> {
    let secret = |source: &crate::config::PasswordSource| {
        source
            .read()
            .map_err(|e| ProbeError::Request(format!("credentials: {e}")))
            .map(Option::unwrap_or_default)
    };
    let text = match auth {
        ProbeAuth::None => return Ok(None),
        ProbeAuth::Basic { username, password } => {
            let pair = format!("{username}:{}", secret(password)?);
            format!("Basic {}", BASE64_STANDARD.encode(pair))
        }
        ProbeAuth::Bearer(token) => format!("Bearer {}", secret(token)?),
    };
    let mut value = HeaderValue::try_from(text)
        .map_err(|_| ProbeError::Request("credentials: not valid in a header".into()))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The HTTP figures of `outcome`, written in place so a probe cut off by its timeout
/// keeps the phases it finished.
fn http_figures(outcome: &mut Outcome) -> &mut HttpOutcome {
    outcome.http.get_or_insert_with(HttpOutcome::default)
}

/// A connection's driving task, aborted when the probe is done with it.
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

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
