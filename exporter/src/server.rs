//! HTTP serving: `/metrics` (content negotiation, gzip, concurrency limit), the landing page,
//! `/-/healthy`, basic auth and TLS from the web config, graceful shutdown on SIGTERM.
//!
//! The web-config plumbing ([`protect`], [`serve_router`], [`shutdown_signal`]) is public so
//! that pulse-analyzer serves its API with exactly the same TLS and auth semantics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use crate::cli::Settings;
use crate::collectors::{BuildContext, CollectorError, Collectors};
use crate::exposition::MetricSet;
use crate::probe::{Probes, RequestError};
use crate::self_metrics;
use crate::web_config::WebConfig;

const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Taken off the scraper's timeout so our answer arrives before it gives up.
const SCRAPE_TIMEOUT_OFFSET: f64 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("building collectors: {0}")]
    Collectors(#[from] CollectorError),
    #[error("listening on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid listen address {0:?} (expected host:port or :port)")]
    Address(String),
}

/// Shared by every request.
pub struct AppState {
    collectors: Collectors,
    web_config: Arc<WebConfig>,
    telemetry_path: String,
    collector_timeout: Duration,
    exporter_metrics: bool,
    scrapes_total: AtomicU64,
    in_flight: Option<Semaphore>,
    probes: Arc<Probes>,
}

impl AppState {
    pub fn new(settings: &Settings, web_config: WebConfig) -> Result<Self, CollectorError> {
        let probes = Arc::new(
            Probes::new(&settings.config.probes)
                .map_err(|e| CollectorError::Other(e.to_string()))?,
        );
        let collectors = Collectors::build(
            &settings.collectors,
            &BuildContext {
                paths: &settings.paths,
                config: &settings.config,
                probes: &probes,
            },
        )?;
        Ok(Self {
            collectors,
            web_config: Arc::new(web_config),
            telemetry_path: settings.telemetry_path.clone(),
            collector_timeout: settings.collector_timeout,
            exporter_metrics: settings.exporter_metrics,
            scrapes_total: AtomicU64::new(0),
            in_flight: (settings.max_requests > 0).then(|| Semaphore::new(settings.max_requests)),
            probes,
        })
    }
}

/// The router, apart from any listener, so tests can drive it directly.
///
/// `/metrics` is gzipped at the fastest level because Prometheus asks for gzip on every scrape:
/// at the default level compressing the 18-collector page (43 KB) cost 1.26 ms of CPU,
/// 70 % on top of the 1.8 ms of collecting and encoding it; the fastest level costs 0.21 ms
/// for a 22 % larger body (8.1 KB instead of 6.6 KB, node_exporter's is 7.8 KB).
pub fn app(state: Arc<AppState>) -> Router {
    let metrics_route = Router::new()
        .route(&state.telemetry_path, get(metrics))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .quality(CompressionLevel::Fastest),
        );
    let router = Router::new()
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "Healthy" }))
        .route("/probe", get(probe))
        .merge(metrics_route);
    protect(router, state.web_config.clone(), "pulse-exporter").with_state(state)
}

/// What the auth and header middlewares need, apart from any application state.
struct Guard {
    web_config: Arc<WebConfig>,
    /// The `WWW-Authenticate` header sent with a 401.
    challenge: HeaderValue,
}

/// Wraps every route of `router` in the web config's basic auth and extra response headers.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    web_config: Arc<WebConfig>,
    realm: &str,
) -> Router<S> {
    let challenge = HeaderValue::try_from(format!("Basic realm=\"{realm}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    let has_headers = !web_config.http_server_config.headers.is_empty();
    let guard = Arc::new(Guard {
        web_config,
        challenge,
    });
    let router = if has_headers {
        router.layer(middleware::from_fn_with_state(guard.clone(), extra_headers))
    } else {
        router
    };
    router.layer(middleware::from_fn_with_state(guard, basic_auth))
}

async fn basic_auth(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if !guard.web_config.auth_required() {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // bcrypt is deliberately slow: keep it off the async workers.
    let checker = guard.clone();
    let ok = tokio::task::spawn_blocking(move || checker.web_config.authorized(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, guard.challenge.clone())],
            "Unauthorized\n",
        )
            .into_response()
    }
}

async fn extra_headers(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in &guard.web_config.http_server_config.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let _permit = match &state.in_flight {
        Some(semaphore) => match semaphore.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Limit of concurrent requests reached, try again later.\n",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let scrapes = state.scrapes_total.fetch_add(1, Ordering::Relaxed) + 1;
    let timeout = scrape_deadline(&headers, state.collector_timeout);
    let mut set = state.collectors.collect(timeout).await;
    if state.exporter_metrics {
        self_metrics::collect(scrapes, &mut set);
    }
    set.normalize();
    encode(set, wants_openmetrics(&headers))
}

fn encode(set: MetricSet, openmetrics: bool) -> Response {
    if openmetrics {
        match set.encode_openmetrics() {
            Ok(body) => ([(header::CONTENT_TYPE, OPENMETRICS_TYPE)], body).into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response(),
        }
    } else {
        ([(header::CONTENT_TYPE, TEXT_TYPE)], set.encode_text()).into_response()
    }
}

/// blackbox_exporter's `/probe?target=&module=`, limited to configured targets and the
/// allow list. A failed probe is still 200 with `probe_success 0`; with `debug=true` the
/// answer is plain text saying why it failed, then the metrics, as blackbox_exporter's is.
async fn probe(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = state
        .probes
        .probe_now(
            params.get("target").map(String::as_str),
            params.get("module").map(String::as_str),
        )
        .await;
    match result {
        Ok(mut report) => {
            report.metrics.normalize();
            if params.get("debug").is_some_and(|v| v == "true") {
                let verdict = match &report.error {
                    None => "Probe succeeded".to_owned(),
                    Some(error) => format!("Probe failed: {error}"),
                };
                let body = format!(
                    "{verdict}\n\nMetrics that would have been returned:\n{}",
                    report.metrics.encode_text()
                );
                return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
                    .into_response();
            }
            encode(report.metrics, wants_openmetrics(&headers))
        }
        Err(error) => {
            let status = match error {
                RequestError::NotAllowed(_) => StatusCode::FORBIDDEN,
                RequestError::MissingTarget
                | RequestError::UnknownModule(_)
                | RequestError::WrongProber { .. } => StatusCode::BAD_REQUEST,
            };
            (status, format!("{error}\n")).into_response()
        }
    }
}

/// The scraper's own timeout minus an offset, capped by `--collector.timeout`.
fn scrape_deadline(headers: &HeaderMap, cap: Duration) -> Duration {
    headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64((s - SCRAPE_TIMEOUT_OFFSET).max(0.1)))
        .map_or(cap, |d| d.min(cap))
}

/// OpenMetrics only when the client asks for it (Prometheus does); text 0.0.4 otherwise.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|part| {
                let mut params = part.split(';').map(str::trim);
                params.next() == Some("application/openmetrics-text")
                    && !params.any(|p| p.replace(' ', "") == "q=0")
            })
        })
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let collectors: String = state
        .collectors
        .names()
        .iter()
        .map(|n| format!("<li>{n}</li>"))
        .collect();
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Pulse Exporter</title></head>\n\
         <body><h1>Pulse Exporter</h1><p>Version {version}</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li></ul>\n\
         <h2>Enabled collectors</h2><ul>{collectors}</ul></body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
        path = html_escape(&state.telemetry_path),
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Resolves `:9100` (every interface) and `host:port`.
fn listen_addrs(address: &str) -> Result<Vec<SocketAddr>, ServeError> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| ServeError::Address(address.to_owned()))?;
        return Ok(vec![
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], port)),
            SocketAddr::from(([0, 0, 0, 0], port)),
        ]);
    }
    std::net::ToSocketAddrs::to_socket_addrs(address)
        .map(|addrs| addrs.collect())
        .map_err(|_| ServeError::Address(address.to_owned()))
}

/// Binds the first address of the list that works (`[::]` falls back to `0.0.0.0` on hosts
/// without IPv6).
async fn bind(address: &str) -> Result<TcpListener, ServeError> {
    let mut last_error = None;
    for addr in listen_addrs(address)? {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(ServeError::Listen {
        address: address.to_owned(),
        source: last_error.unwrap_or_else(|| std::io::Error::other("no address")),
    })
}

/// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish (up to 10 s).
pub async fn serve(mut settings: Settings) -> Result<(), ServeError> {
    let web_config = std::mem::take(&mut settings.web_config);
    let tls = web_config.tls();
    let state = Arc::new(AppState::new(&settings, web_config)?);
    if settings.collectors.contains(&"probe") {
        state.probes.start();
    }
    let router = app(state);
    let listeners = bind_all(&settings.listen_addresses, tls.is_some()).await?;
    tracing::info!(collectors = ?settings.collectors, "pulse-exporter started");
    serve_router(listeners, router, tls, shutdown_signal()).await;
    Ok(())
}

/// Binds every address, logging `listening address=...` (tests and launchers read that line).
pub async fn bind_all(addresses: &[String], tls: bool) -> Result<Vec<TcpListener>, ServeError> {
    let mut listeners = Vec::new();
    for address in addresses {
        let listener = bind(address).await?;
        let local = listener.local_addr().map_err(|source| ServeError::Listen {
            address: address.clone(),
            source,
        })?;
        tracing::info!(address = %local, tls, "listening");
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves `router` on `listeners` (TLS when given) until `shutdown` completes, then lets
/// in-flight requests finish (up to 10 s).
pub async fn serve_router(
    listeners: Vec<TcpListener>,
    router: Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut accept_loops = Vec::new();
    for listener in listeners {
        let router = router.clone();
        let tls = tls.clone();
        let graceful = graceful.clone();
        let mut stop = stop_rx.clone();
        accept_loops.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _peer)) = accepted else { continue };
                        serve_connection(stream, router.clone(), tls.clone(), &graceful);
                    }
                    _ = stop.changed() => break,
                }
            }
        }));
    }

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for handle in accept_loops {
        let _ = handle.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within 10s");
    }
}

fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    graceful: &GracefulShutdown,
) {
    let service = TowerToHyperService::new(router);
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    match tls {
        None => {
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                // A client that never finishes the handshake must not hold a task forever.
                let Ok(Ok(stream)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                else {
                    return;
                };
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let _ = watcher.watch(conn).await;
            });
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn negotiates_openmetrics_only_when_asked() {
        assert!(!wants_openmetrics(&headers(&[])));
        assert!(!wants_openmetrics(&headers(&[("accept", "text/plain")])));
        assert!(wants_openmetrics(&headers(&[(
            "accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )])));
        assert!(!wants_openmetrics(&headers(&[(
            "accept",
            "application/openmetrics-text;q=0"
        )])));
    }

    #[test]
    fn deadline_follows_scraper_timeout_capped() {
        let cap = Duration::from_secs(10);
        assert_eq!(scrape_deadline(&headers(&[]), cap), cap);
        assert_eq!(
            scrape_deadline(
                &headers(&[("x-prometheus-scrape-timeout-seconds", "3")]),
                cap
            ),
            Duration::from_secs_f64(2.5)
        );
        assert_eq!(
            scrape_deadline(
                &headers(&[("x-prometheus-scrape-timeout-seconds", "60")]),
                cap
            ),
            cap
        );
        assert_eq!(
            scrape_deadline(
                &headers(&[("x-prometheus-scrape-timeout-seconds", "junk")]),
                cap
            ),
            cap
        );
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(listen_addrs(":9100").unwrap().len(), 2);
        assert_eq!(
            listen_addrs("127.0.0.1:0").unwrap()[0].to_string(),
            "127.0.0.1:0"
        );
        assert!(listen_addrs(":x").is_err());
    }
}
