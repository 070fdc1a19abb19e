//! Fires the schedules inside `run`, and delivers a report to channels for both the
//! schedules and `report --send`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::ProgressBar;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::config::{ReportsConfig, Schedule};
use super::mail::ReportMail;
use super::store::{ScheduleStore, ScheduleStoreError};
use crate::alerting::channels::{BuildError, Channel, DeliveryMetrics, SendError};
use crate::alerting::config::AlertingConfig;
use crate::report::{self, Period, ReportError};
use crate::storage::{Reader, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Channel(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] ScheduleStoreError),
    #[error("no channel named {0:?} in alerting.channels")]
    UnknownChannel(String),
    #[error("channel {0:?} is an Alertmanager channel, which takes alerts, not reports")]
    NotForReports(String),
}

/// The longest single sleep: a suspended or re-set wall clock is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Builds the named channels from the alerting config, refusing those that cannot carry a
/// report.
pub fn channels(
    alerting: &AlertingConfig,
    names: &[String],
) -> Result<Vec<Arc<Channel>>, ScheduleError> {
    names
        .iter()
        .map(|name| {
            let config = alerting
                .channels
                .get(name)
                .ok_or_else(|| ScheduleError::UnknownChannel(name.clone()))?;
            let channel = Channel::build(name, config, alerting.grouping.repeat_interval)?;
            if !channel.takes_reports() {
                return Err(ScheduleError::NotForReports(name.clone()));
            }
            Ok(Arc::new(channel))
        })
        .collect()
}

/// One channel's outcome: (channel, attempts, result).
pub type Outcome = (String, u32, Result<(), SendError>);

/// Delivers `mail` to every channel at once, each with its own retries.
pub async fn deliver(
    mail: Arc<ReportMail>,
    channels: &[Arc<Channel>],
    metrics: Arc<DeliveryMetrics>,
) -> Vec<Outcome> {
    let mut set = JoinSet::new();
    for channel in channels {
        let (channel, mail, metrics) = (channel.clone(), mail.clone(), metrics.clone());
        set.spawn(async move {
            let (attempts, result) = channel.deliver_report(&mail, &metrics).await;
            (channel.name.clone(), attempts, result)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => tracing::error!("report delivery task failed: {e}"),
        }
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    outcomes
}

/// Reads the history and renders the report of `period`. Blocking.
pub fn build(
    db_path: &Path,
    schedule: &str,
    period: Period,
    format: crate::cli::ReportFormat,
    chromium: &Path,
) -> Result<ReportMail, ReportError> {
    let reader = Reader::open(db_path)?;
    let built = report::build(&reader, period, now_ms(), &ProgressBar::hidden())?;
    ReportMail::new(schedule, &built, format, chromium)
}

/// What every schedule task shares.
struct Shared {
    db_path: PathBuf,
    chromium: PathBuf,
    store: Mutex<ScheduleStore>,
    metrics: Arc<DeliveryMetrics>,
}

/// Starts one task per schedule. Channels are built here, so a bad secret stops start-up
/// like it does for alerting.
pub fn start(
    config: &ReportsConfig,
    alerting: &AlertingConfig,
    db_path: &Path,
    metrics: Arc<DeliveryMetrics>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, ScheduleError> {
    if config.schedules.is_empty() {
        return Ok(Vec::new());
    }
    let shared = Arc::new(Shared {
        db_path: db_path.to_owned(),
        chromium: config.chromium.clone(),
        store: Mutex::new(ScheduleStore::open(db_path)?),
        metrics,
    });
    let mut tasks = Vec::new();
    for schedule in &config.schedules {
        let channels = channels(alerting, &schedule.channels)?;
        tasks.push(tokio::spawn(run_schedule(
            schedule.clone(),
            channels,
            shared.clone(),
            stop.clone(),
        )));
    }
    Ok(tasks)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// The channels that have not handled the period ending at `due` yet.
async fn pending(
    shared: &Arc<Shared>,
    schedule: &Schedule,
    channels: &[Arc<Channel>],
    due: i64,
) -> Result<Vec<Arc<Channel>>, String> {
    let (shared, name) = (shared.clone(), schedule.name.clone());
    let names: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
    let last = blocking(move || {
        let store = shared
            .store
            .lock()
            .map_err(|_| "lock poisoned".to_owned())?;
        names
            .iter()
            .map(|c| Ok((c.clone(), store.last_fire(&name, c, due)?)))
            .collect::<Result<BTreeMap<String, i64>, ScheduleStoreError>>()
            .map_err(|e| e.to_string())
    })
    .await?;
    Ok(channels
        .iter()
        .filter(|c| last.get(&c.name).is_some_and(|&fire| fire < due))
        .cloned()
        .collect())
}

async fn run_schedule(
    schedule: Schedule,
    channels: Vec<Arc<Channel>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let name = schedule.name.clone();
    loop {
        let due = schedule.clock.latest(now_ms());
        match pending(&shared, &schedule, &channels, due).await {
            Ok(todo) if !todo.is_empty() => {
                let fire = fire(&schedule, todo, due, &shared);
                tokio::select! {
                    () = fire => {}
                    _ = stop.changed() => break,
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(schedule = %name, "report schedule: {e}"),
        }
        let wait = (schedule.clock.next(now_ms()) - now_ms()).max(0) as u64;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait).min(MAX_SLEEP)) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Builds the report of the period ending at `due` and delivers it to `todo`; records each
/// channel's outcome (a failure for good is recorded too, so it is not retried forever).
async fn fire(schedule: &Schedule, todo: Vec<Arc<Channel>>, due: i64, shared: &Arc<Shared>) {
    let name = schedule.name.clone();
    let period = Period {
        label: format!("{} report {name}", schedule.clock.every.as_str()),
        start_ms: due - schedule.clock.every.length_ms(),
        end_ms: due,
    };
    let (db, chromium, format, label) = (
        shared.db_path.clone(),
        shared.chromium.clone(),
        schedule.format,
        name.clone(),
    );
    let built =
        blocking(move || build(&db, &label, period, format, &chromium).map_err(|e| e.to_string()))
            .await;
    let outcomes: Vec<(String, Option<String>)> = match built {
        Ok(mail) => {
            tracing::info!(schedule = %name, grade = %mail.grade, "report built, sending");
            deliver(Arc::new(mail), &todo, shared.metrics.clone())
                .await
                .into_iter()
                .map(|(channel, attempts, result)| {
                    let error = result.err().map(|e| e.to_string());
                    match &error {
                        None => {
                            tracing::info!(schedule = %name, %channel, attempts, "report delivered")
                        }
                        Some(e) => tracing::error!(
                            schedule = %name, %channel, attempts, "report failed for good: {e}"
                        ),
                    }
                    (channel, error)
                })
                .collect()
        }
        Err(e) => {
            tracing::error!(schedule = %name, "building the report: {e}");
            todo.iter()
                .map(|c| (c.name.clone(), Some(format!("building the report: {e}"))))
                .collect()
        }
    };
    let shared = shared.clone();
    let recorded = blocking(move || {
        let store = shared
            .store
            .lock()
            .map_err(|_| "lock poisoned".to_owned())?;
        for (channel, error) in &outcomes {
            store
                .finish(&name, channel, due, now_ms(), error.as_deref())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = recorded {
        tracing::error!(schedule = %schedule.name, "report schedule: {e}");
    }
}
