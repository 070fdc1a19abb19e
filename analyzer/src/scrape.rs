//! The scrape loop: one task per target fetches `/metrics`, then parsing, derived series and
//! the SQLite write run on a blocking thread so the async workers only ever wait on I/O.
//!
//! A failing target never affects another: its error is recorded (`up 0`, the target's
//! status row, `pulse_analyzer_scrape_success{target} 0`) and its loop goes on.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::anomaly::Engine;
use crate::anomaly::engine::Observation;
use crate::config::{BasicAuth, Target, TlsClient};
use crate::derived::{self, Derived, RateState};
use crate::parse::{self, Format};
use crate::storage::{self, Point, Store, TargetStatus};

/// What Prometheus sends: OpenMetrics first, the text format as fallback.
const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// Larger bodies are refused rather than buffered.
const MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{field}: reading {}: {source}", path.display())]
    Read {
        field: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// An HTTP client with the target's TLS trust and credentials.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Option<(String, String)>,
}

impl HttpClient {
    pub fn new(tls: &TlsClient, auth: Option<&BasicAuth>) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("pulse-analyzer/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(tls.insecure_skip_verify);
        if let Some(ca_file) = &tls.ca_file {
            let pem = std::fs::read(ca_file).map_err(|source| ClientError::Read {
                field: "tls.ca_file",
                path: ca_file.clone(),
                source,
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Invalid {
                    field: "tls.ca_file",
                    message: format!("{}: {e}", ca_file.display()),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert_file, key_file)) = &tls.client_certificate {
            builder = builder.identity(identity(cert_file, key_file)?);
        }
        let client = builder.build().map_err(|e| ClientError::Invalid {
            field: "tls",
            message: e.to_string(),
        })?;
        let auth = match auth {
            None => None,
            Some(auth) => {
                let password = std::fs::read_to_string(&auth.password_file).map_err(|source| {
                    ClientError::Read {
                        field: "basic_auth.password_file",
                        path: auth.password_file.clone(),
                        source,
                    }
                })?;
                Some((
                    auth.username.clone(),
                    password.trim_end_matches(['\n', '\r']).to_owned(),
                ))
            }
        };
        Ok(Self { client, auth })
    }

    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }
}

/// The client certificate and its key, read from their PEM files.
fn identity(cert_file: &Path, key_file: &Path) -> Result<reqwest::Identity, ClientError> {
    let read = |field: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| ClientError::Read {
            field,
            path: path.to_owned(),
            source,
        })
    };
    let mut pem = read("tls.cert_file", cert_file)?;
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend(read("tls.key_file", key_file)?);
    reqwest::Identity::from_pem(&pem).map_err(|e| ClientError::Invalid {
        field: "tls.cert_file",
        message: format!("{} and {}: {e}", cert_file.display(), key_file.display()),
    })
}

/// Per-target figures for the analyzer's own `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetMetrics {
    pub success: bool,
    pub duration_seconds: f64,
}

/// Self-monitoring counters shared by the scrape loops and the HTTP server.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    pub samples_ingested: AtomicU64,
    pub parse_errors: AtomicU64,
    pub targets: Mutex<BTreeMap<String, TargetMetrics>>,
}

impl SelfMetrics {
    pub fn record(&self, target: &str, success: bool, duration_seconds: f64) {
        if let Ok(mut targets) = self.targets.lock() {
            targets.insert(
                target.to_owned(),
                TargetMetrics {
                    success,
                    duration_seconds,
                },
            );
        }
    }
}

/// Everything a scrape loop needs besides its target.
pub struct Ingest {
    pub store: Arc<Mutex<Store>>,
    pub metrics: Arc<SelfMetrics>,
    pub derived: Vec<Derived>,
    /// Rung after every stored scrape: alert rules evaluate on fresh data.
    pub scraped: Arc<tokio::sync::Notify>,
    /// Live anomaly detection, fed after each stored round (`None` when disabled).
    pub anomaly: Option<Arc<Mutex<Engine>>>,
}

impl Ingest {
    /// The points of a round that live anomaly detection analyses.
    pub fn observations<'a>(
        &self,
        points: impl IntoIterator<Item = Point<'a>>,
    ) -> Vec<Observation> {
        let Some(engine) = &self.anomaly else {
            return Vec::new();
        };
        let Ok(engine) = engine.lock() else {
            return Vec::new();
        };
        points
            .into_iter()
            .filter(|p| engine.wants(p.name))
            .map(|p| Observation {
                name: p.name.to_owned(),
                labels: p.labels.to_vec(),
                value: p.value,
                ts_ms: p.ts_ms,
            })
            .collect()
    }

    /// Scores a stored round. Detection problems are logged, never passed on: they must not
    /// stop ingestion.
    pub fn analyse(&self, target: &str, observations: Vec<Observation>) {
        let Some(engine) = &self.anomaly else {
            return;
        };
        let Ok(mut engine) = engine.lock() else {
            tracing::error!("anomaly engine lock poisoned");
            return;
        };
        if let Err(e) = engine.observe(target, observations, storage::now_ms()) {
            tracing::error!(target = %target, "anomaly detection: {e}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP status {0}")]
    Status(reqwest::StatusCode),
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

async fn fetch(client: &HttpClient, target: &Target) -> Result<(String, Format), FetchError> {
    let request = async {
        let mut response = client
            .get(&target.url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", target.timeout.as_secs_f64()),
            )
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let format = Format::from_content_type(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((String::from_utf8_lossy(&body).into_owned(), format))
    };
    tokio::time::timeout(target.timeout, request)
        .await
        .unwrap_or(Err(FetchError::Timeout(target.timeout)))
}

/// Scrapes `target` every interval until `stop` flips to true.
pub async fn run_target(
    target: Target,
    client: HttpClient,
    ingest: Arc<Ingest>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(target.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let target = Arc::new(target);
    let mut rates = Some(RateState::default());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let started = Instant::now();
        let scraped_at = storage::now_ms();
        let fetched = fetch(&client, &target).await;
        let duration = started.elapsed().as_secs_f64();
        let ingest = ingest.clone();
        let job_target = target.clone();
        let state = rates.take().unwrap_or_default();
        let job = tokio::task::spawn_blocking(move || {
            store_scrape(&ingest, &job_target, scraped_at, duration, fetched, state)
        });
        match job.await {
            Ok(state) => rates = Some(state),
            Err(e) => tracing::error!(target = %target.name, "scrape task failed: {e}"),
        }
    }
}

/// Parses, derives and writes one scrape; returns the rate state for the next one.
fn store_scrape(
    ingest: &Ingest,
    target: &Target,
    scraped_at: i64,
    duration: f64,
    fetched: Result<(String, Format), FetchError>,
    mut rates: RateState,
) -> RateState {
    let mut status = TargetStatus {
        target: target.name.clone(),
        last_scrape_ms: scraped_at,
        success: false,
        duration_seconds: duration,
        samples: 0,
        error: None,
    };
    let up_labels: Vec<(String, String)> = Vec::new();
    let parsed;
    let derived_points;
    let mut points: Vec<Point<'_>> = Vec::new();
    match &fetched {
        Ok((body, format)) => {
            parsed = parse::parse(body, *format);
            if !parsed.errors.is_empty() {
                ingest
                    .metrics
                    .parse_errors
                    .fetch_add(parsed.errors.len() as u64, Ordering::Relaxed);
                let first = &parsed.errors[0];
                tracing::warn!(
                    target = %target.name,
                    errors = parsed.errors.len(),
                    "rejected malformed lines; first: line {}: {}",
                    first.line,
                    first.message
                );
            }
            derived_points =
                derived::compute(&ingest.derived, &parsed.samples, scraped_at, &mut rates);
            status.success = true;
            status.samples = parsed.samples.len() as u64;
            points.extend(parsed.samples.iter().map(|s| Point {
                name: &s.name,
                labels: &s.labels,
                value: s.value,
                ts_ms: s.timestamp_ms.unwrap_or(scraped_at),
            }));
            points.extend(derived_points.iter().map(|p| Point {
                name: &p.name,
                labels: &p.labels,
                value: p.value,
                ts_ms: scraped_at,
            }));
        }
        Err(e) => {
            tracing::warn!(target = %target.name, url = %target.url, "scrape failed: {e}");
            status.error = Some(e.to_string());
        }
    }
    // Like Prometheus, every scrape leaves `up` and its duration in the history.
    points.push(Point {
        name: "up",
        labels: &up_labels,
        value: if status.success { 1.0 } else { 0.0 },
        ts_ms: scraped_at,
    });
    points.push(Point {
        name: "scrape_duration_seconds",
        labels: &up_labels,
        value: duration,
        ts_ms: scraped_at,
    });
    ingest
        .metrics
        .record(&target.name, status.success, duration);
    let observations = ingest.observations(points.iter().map(|p| Point { ..*p }));
    let Ok(mut store) = ingest.store.lock() else {
        tracing::error!("history store lock poisoned");
        return rates;
    };
    match store.ingest(&target.name, points, &status) {
        Ok(inserted) => {
            ingest
                .metrics
                .samples_ingested
                .fetch_add(inserted, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(target = %target.name, "writing history: {e}"),
    }
    if let Err(e) = store.maintain(storage::now_ms()) {
        tracing::error!("rollups/retention: {e}");
    }
    drop(store);
    // Anomaly state first, so the alert rules woken next see this round's.
    ingest.analyse(&target.name, observations);
    ingest.scraped.notify_one();
    rates
}
