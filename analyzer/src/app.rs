//! The commands: `run` wires storage, scrape loops (or fleet pulls), the HTTP server and the
//! optional exporter launcher together; `status` and `export` read the database directly, so
//! they work whether or not the analyzer is running.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse_exporter::server::{self, ServeError};

use crate::alerting::cli::AlertsCliError;
use crate::alerting::service::{Alerting, ServiceError};
use crate::alerting::{self};
use crate::anomaly::Engine;
use crate::api::{self, ApiState};
use crate::cli::{
    AlertAction, AlertsArgs, CheckArgs, CheckFormat, ExportArgs, ExportFormat, ReportArgs,
    ReportPeriod, RunArgs, Settings, SuggestArgs,
};
use crate::config::SourceKind;
use crate::fleet;
use crate::health;
use crate::launcher::{self, LaunchError};
use crate::report::{self, Period, ReportError};
use crate::schedule::mail::ReportMail;
use crate::schedule::service::{self as schedule, ScheduleError};
use crate::scrape::{self, ClientError, HttpClient, Ingest, SelfMetrics};
use crate::storage::{self, ExportError, Policy, Reader, SeriesFilter, Store, StoreError};
use crate::suggest;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("target {target}: {source}")]
    Client {
        target: String,
        #[source]
        source: ClientError,
    },
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Alerting(#[from] ServiceError),
    #[error("reports: {0}")]
    Schedule(#[from] ScheduleError),
}

/// Runs until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings, args: RunArgs) -> Result<(), RunError> {
    let config = &settings.config;
    let grace = config
        .targets
        .iter()
        .map(|t| t.interval + t.timeout)
        .max()
        .unwrap_or(Duration::from_secs(30));
    let policy = Policy {
        raw: config.retention.raw,
        rollups: config.retention.rollups,
        rollup_step: config.retention.rollup_step,
        grace,
    };
    let store = Store::open(&settings.storage_path, policy)?;
    let store = Arc::new(Mutex::new(store));
    let anomaly = if config.anomaly.enabled {
        let engine = Engine::open(
            config.anomaly.clone(),
            &settings.storage_path,
            config.retention.rollups,
        )?;
        Some(Arc::new(Mutex::new(engine)))
    } else {
        None
    };
    let metrics = Arc::new(SelfMetrics::default());
    let scraped = Arc::new(tokio::sync::Notify::new());
    let ingest = Arc::new(Ingest {
        store: store.clone(),
        metrics: metrics.clone(),
        derived: config.derived.clone(),
        scraped: scraped.clone(),
        anomaly: anomaly.clone(),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let tls = settings.web_config.tls();
    let link = match &config.alerting.external_url {
        Some(url) => format!("{}/api/v1/alerts", url.trim_end_matches('/')),
        None => format!(
            "{}://{}/api/v1/alerts",
            if tls.is_some() { "https" } else { "http" },
            settings.listen_address
        ),
    };
    let (alerting, workers) = Alerting::start(
        &config.alerting,
        &settings.storage_path,
        config.retention.rollups,
        link,
        stop_rx.clone(),
    )?;
    tasks.extend(workers);
    tasks.push(tokio::spawn(alerting.clone().run(scraped, stop_rx.clone())));
    tasks.extend(schedule::start(
        &config.reports,
        &config.alerting,
        &settings.storage_path,
        alerting.metrics.clone(),
        stop_rx.clone(),
    )?);
    let exporter = if args.spawn_exporter {
        Some(launcher::spawn(&args, config, stop_rx.clone())?)
    } else {
        None
    };
    match config.source {
        SourceKind::Local => {
            for target in &config.targets {
                let client =
                    HttpClient::new(&target.tls, target.basic_auth.as_ref()).map_err(|source| {
                        RunError::Client {
                            target: target.name.clone(),
                            source,
                        }
                    })?;
                tasks.push(tokio::spawn(scrape::run_target(
                    target.clone(),
                    client,
                    ingest.clone(),
                    stop_rx.clone(),
                )));
            }
        }
        SourceKind::Prometheus => {
            if let Some(source) = config.prometheus.clone() {
                let client =
                    HttpClient::new(&source.tls, source.basic_auth.as_ref()).map_err(|e| {
                        RunError::Client {
                            target: source.url.clone(),
                            source: e,
                        }
                    })?;
                tasks.push(tokio::spawn(fleet::run(
                    source,
                    client,
                    ingest.clone(),
                    stop_rx.clone(),
                )));
            }
        }
    }

    let analysis = crate::analysis::SharedAnalysis::default();
    let applier = Arc::new(Mutex::new(crate::recommend::apply::Applier::new(
        config.analysis.recommendations.apply.clone(),
    )));
    if config.analysis.enabled {
        tasks.push(tokio::spawn(crate::analysis::run(
            settings.storage_path.clone(),
            config.analysis.clone(),
            config.retention.raw,
            analysis.clone(),
            applier.clone(),
            stop_rx.clone(),
        )));
    }

    if let Some(engine) = anomaly.clone() {
        alerting.add_source(Box::new(move || match engine.lock() {
            Ok(engine) => crate::alerting::sources::from_anomalies(&engine.active_events()),
            Err(_) => Vec::new(),
        }));
    }
    let findings = analysis.clone();
    alerting.add_source(Box::new(move || match findings.read() {
        Ok(analysis) => crate::alerting::sources::from_recommendations(&analysis.recommendations),
        Err(_) => Vec::new(),
    }));

    let state = Arc::new(ApiState {
        db_path: settings.storage_path.clone(),
        reader: Mutex::new(None),
        store: store.clone(),
        metrics,
        raw_retention: config.retention.raw,
        write_token: settings.write_token.clone(),
        alerting: Some(alerting),
        analysis,
        analysis_config: config.analysis.clone(),
        applier,
        anomaly,
        report_chromium: config.reports.chromium.clone(),
    });
    let router = server::protect(
        api::router(state),
        Arc::new(settings.web_config),
        "pulse-analyzer",
    );
    let listeners = server::bind_all(
        std::slice::from_ref(&settings.listen_address),
        tls.is_some(),
    )
    .await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let local = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or_else(|| settings.listen_address.clone(), |a| a.to_string());
    let mut banner = String::new();
    if let Some(exporter) = &exporter {
        banner.push_str(&format!("pulse: exporter  {}\n", exporter.url));
    }
    banner.push_str(&format!(
        "pulse: analyzer {scheme}://{local}/  (health: /api/v1/health, series: /api/v1/series, metrics: /metrics)\n\
         pulse: history  {}\n",
        settings.storage_path.display()
    ));
    eprint!("{banner}");
    let _ = std::io::stderr().flush();

    server::serve_router(listeners, router, tls, server::shutdown_signal()).await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if let Some(exporter) = exporter {
        exporter.stop().await;
    }
    Ok(())
}

/// `status`: one line per fact, then one per target.
pub fn status(settings: &Settings, out: &mut impl Write) -> Result<(), ExportError> {
    if !settings.storage_path.exists() {
        writeln!(
            out,
            "no history at {} (has the analyzer run yet?)",
            settings.storage_path.display()
        )?;
        return Ok(());
    }
    let stats = Reader::open(&settings.storage_path)?.stats()?;
    writeln!(
        out,
        "database:          {}",
        settings.storage_path.display()
    )?;
    writeln!(out, "size:              {} bytes", stats.db_size_bytes)?;
    writeln!(out, "series:            {}", stats.series)?;
    writeln!(out, "samples ingested:  {}", stats.samples_ingested)?;
    if let Some(done) = stats.rollup_done_ms {
        writeln!(out, "rollups done to:   {}", format_ms(done))?;
    }
    for t in &stats.targets {
        writeln!(
            out,
            "target {}: {} at {} ({:.3}s, {} samples){}",
            t.target,
            if t.success { "up" } else { "DOWN" },
            format_ms(t.last_scrape_ms),
            t.duration_seconds,
            t.samples,
            t.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn format_ms(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// `export`: raw samples since `--since`, streamed as CSV rows or one JSON document.
pub fn export(
    settings: &Settings,
    args: &ExportArgs,
    out: &mut impl Write,
) -> Result<(), ExportError> {
    let reader = Reader::open(&settings.storage_path)?;
    let filter = SeriesFilter {
        names: args.metric.clone(),
        target: args.target.clone(),
    };
    let since = storage::now_ms() - args.since.as_millis() as i64;
    // A count of samples on stderr; indicatif draws nothing when stderr is not a terminal,
    // so a piped or cron export stays quiet.
    let progress = indicatif::ProgressBar::new_spinner().with_message("exporting");
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {pos} samples") {
        progress.set_style(style);
    }
    let number = |v: Option<f64>| match v {
        Some(v) if v.is_finite() => serde_json::json!(v),
        Some(v) => serde_json::json!(pulse_exporter::exposition::format_value(v)),
        None => serde_json::Value::Null,
    };
    match args.format {
        ExportFormat::Csv => {
            writeln!(out, "target,name,labels,timestamp_ms,value")?;
            reader.export(&filter, since, |series, ts, value| {
                progress.inc(1);
                let labels = serde_json::to_string(&series.labels).unwrap_or_default();
                let value = value.map_or_else(
                    || "NaN".to_owned(),
                    pulse_exporter::exposition::format_value,
                );
                writeln!(
                    out,
                    "{},{},{},{ts},{value}",
                    csv_field(&series.target),
                    csv_field(&series.name),
                    csv_field(&labels)
                )
            })?;
        }
        ExportFormat::Json => {
            // One object per series: {"target","name","labels","samples":[[ts, value], ...]}.
            write!(out, "[")?;
            let mut current: Option<i64> = None;
            reader.export(&filter, since, |series, ts, value| {
                progress.inc(1);
                if current != Some(series.id) {
                    if current.is_some() {
                        write!(out, "]}},")?;
                    }
                    current = Some(series.id);
                    write!(
                        out,
                        "\n{{\"target\":{},\"name\":{},\"labels\":{},\"samples\":[",
                        serde_json::to_string(&series.target).unwrap_or_default(),
                        serde_json::to_string(&series.name).unwrap_or_default(),
                        serde_json::to_string(&series.labels).unwrap_or_default()
                    )?;
                } else {
                    write!(out, ",")?;
                }
                write!(out, "[{ts},{}]", number(value))
            })?;
            if current.is_some() {
                write!(out, "]}}")?;
            }
            writeln!(out, "\n]")?;
        }
    }
    progress.finish_with_message("exported");
    Ok(())
}

/// `check`: prints the health report and returns the Nagios exit code; an error reading the
/// database is UNKNOWN (3) too, as Nagios expects of a plugin that could not check.
/// `alerts`: lists from the database, or acknowledges / resolves through the running analyzer.
pub fn alerts(
    settings: &Settings,
    args: &AlertsArgs,
    out: &mut impl Write,
) -> Result<(), AlertsCliError> {
    let Some(action) = &args.action else {
        return alerting::cli::list(
            &settings.storage_path,
            args.state.as_deref(),
            args.severity.as_deref(),
            args.limit,
            args.format == CheckFormat::Json,
            out,
        );
    };
    let (verb, id) = match action {
        AlertAction::Ack { id } => ("acknowledge", *id),
        AlertAction::Resolve { id } => ("resolve", *id),
    };
    let url = args.url.clone().unwrap_or_else(|| {
        let scheme = if settings.web_config.tls().is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", settings.listen_address)
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let alert = runtime.block_on(alerting::cli::act(
        &url,
        settings.write_token.as_deref(),
        verb,
        id,
        &args.by,
    ))?;
    writeln!(
        out,
        "alert {id}: {}",
        alert["state"].as_str().unwrap_or("unknown")
    )?;
    Ok(())
}

pub fn check(settings: &Settings, args: &CheckArgs, out: &mut impl Write) -> u8 {
    let result = health::check(&settings.storage_path, args.window, storage::now_ms());
    let health = match result {
        Ok(health) => health,
        Err(error) => {
            let _ = writeln!(out, "PULSE UNKNOWN - {error}");
            return 3;
        }
    };
    let written = match args.format {
        CheckFormat::Text => health::write_text(&health, out),
        CheckFormat::Json => serde_json::to_writer_pretty(&mut *out, &health)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
    };
    if written.is_err() {
        return 3;
    }
    health.exit_code
}

/// Opens the history for `report` and `suggest-rules`; a missing file is reported as such
/// rather than as SQLite's "unable to open database file".
fn open_history(path: &std::path::Path) -> Result<Reader, AnalysisError> {
    if !path.exists() {
        return Err(AnalysisError::NoHistory(path.to_owned()));
    }
    Ok(Reader::open(path)?)
}

/// `suggest-rules`: learns thresholds and writes the rule file to `--output` or `out`.
pub fn suggest_rules(
    settings: &Settings,
    args: &SuggestArgs,
    out: &mut impl Write,
) -> Result<(), AnalysisError> {
    let reader = open_history(&settings.storage_path)?;
    let end_ms = storage::now_ms();
    let learn = suggest::Learn {
        start_ms: end_ms - args.since.as_millis() as i64,
        end_ms,
        percentile: args.percentile.clamp(50.0, 100.0),
        margin: args.margin.max(1.0),
        min_samples: args.min_samples,
    };
    let (suggestions, skipped) = suggest::learn(&reader, &learn)?;
    match &args.output {
        Some(path) => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
            suggest::write_rules(
                &suggestions,
                &skipped,
                &learn,
                &settings.storage_path,
                &mut file,
            )?;
            file.flush()?;
        }
        None => suggest::write_rules(&suggestions, &skipped, &learn, &settings.storage_path, out)?,
    }
    Ok(())
}

/// Errors of `report` and `suggest-rules`.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("no history database at {} (has the analyzer run yet?)", .0.display())]
    NoHistory(std::path::PathBuf),
    #[error("{flag}: `{value}` is neither an RFC 3339 time nor a duration (like `36h`)")]
    Time { flag: &'static str, value: String },
    #[error("--period custom needs --since")]
    NoSince,
    #[error("--since is after --until")]
    Empty,
    #[error("--send: {0}")]
    Schedule(#[from] ScheduleError),
    #[error("--send: {0}")]
    Send(String),
}

impl From<StoreError> for AnalysisError {
    fn from(e: StoreError) -> Self {
        Self::Report(e.into())
    }
}

impl From<std::io::Error> for AnalysisError {
    fn from(e: std::io::Error) -> Self {
        Self::Report(e.into())
    }
}

/// A time given as RFC 3339 or as a duration before `now_ms`.
fn parse_time(flag: &'static str, value: &str, now_ms: i64) -> Result<i64, AnalysisError> {
    if let Ok(ago) = humantime::parse_duration(value) {
        return Ok(now_ms - ago.as_millis() as i64);
    }
    humantime::parse_rfc3339_weak(value)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| AnalysisError::Time {
            flag,
            value: value.to_owned(),
        })
}

fn report_period(args: &ReportArgs, now_ms: i64) -> Result<Period, AnalysisError> {
    let period = match args.period {
        ReportPeriod::Day => Period::last_day(now_ms),
        ReportPeriod::Week => Period::last_week(now_ms),
        ReportPeriod::Custom => {
            let since = args.since.as_deref().ok_or(AnalysisError::NoSince)?;
            let end_ms = match args.until.as_deref() {
                Some(until) => parse_time("--until", until, now_ms)?,
                None => now_ms,
            };
            Period {
                label: "custom period".to_owned(),
                start_ms: parse_time("--since", since, now_ms)?,
                end_ms,
            }
        }
    };
    if period.start_ms >= period.end_ms {
        return Err(AnalysisError::Empty);
    }
    Ok(period)
}

/// `report`: builds the report (with a progress bar that only shows on a terminal) and
/// writes it to `--output` or `out`.
pub fn report(
    settings: &Settings,
    args: &ReportArgs,
    out: &mut impl Write,
) -> Result<(), AnalysisError> {
    let now_ms = storage::now_ms();
    let period = report_period(args, now_ms)?;
    let reader = open_history(&settings.storage_path)?;
    let progress = indicatif::ProgressBar::new(0).with_message("reading history");
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} series")
    {
        progress.set_style(style);
    }
    let built = report::build(&reader, period, now_ms, &progress)?;
    if !args.send.is_empty() {
        return send_report(settings, args, &built, out);
    }
    let mut file;
    let mut stdout;
    let target: &mut dyn Write = match &args.output {
        Some(path) => {
            file = std::io::BufWriter::new(std::fs::File::create(path)?);
            &mut file
        }
        None => {
            stdout = out;
            &mut stdout
        }
    };
    report::render::write(&built, args.format, &args.chromium, target)?;
    target.flush()?;
    Ok(())
}

/// `report --send`: the scheduled reports' delivery, once, to the named channels.
fn send_report(
    settings: &Settings,
    args: &ReportArgs,
    built: &report::Report,
    out: &mut impl Write,
) -> Result<(), AnalysisError> {
    let mail = Arc::new(ReportMail::new(
        "on-demand",
        built,
        args.format,
        &args.chromium,
    )?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcomes = runtime.block_on(async {
        let channels = schedule::channels(&settings.config.alerting, &args.send)?;
        let metrics = Arc::new(alerting::channels::DeliveryMetrics::default());
        Ok::<_, ScheduleError>(schedule::deliver(mail, &channels, metrics).await)
    })?;
    let mut failed = Vec::new();
    for (channel, attempts, result) in outcomes {
        match result {
            Ok(()) => writeln!(out, "report sent to {channel} ({attempts} attempts)")?,
            Err(e) => failed.push(format!("{channel}: {e} ({attempts} attempts)")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(AnalysisError::Send(failed.join("; ")))
    }
}

/// Quotes a CSV field when it holds a comma, quote or newline (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("{\"a\":\"b,c\"}"), "\"{\"\"a\"\":\"\"b,c\"\"}\"");
    }
}
