//! Alerting inside `run`: evaluates the rules after every scrape round, passes their
//! signals (and those other sources pushed) to the engine, ticks the engine every second
//! for group timers, and hands new notifications to the dispatcher.
//!
//! The engine and the rules work on SQLite, so each round runs on a blocking thread; the
//! scrape loops only ring a [`Notify`] and never wait for alerting.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use super::channels::{BuildError, Channel, DeliveryMetrics};
use super::config::AlertingConfig;
use super::dispatch::{Dispatcher, Queued};
use super::lifecycle::{AlertEvent, Engine, EngineConfig, EngineError};
use super::rules::{Rules, default_rules};
use super::store::AlertStoreError;
use super::{Severity, Signal};
use crate::storage::{Reader, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Channel(#[from] BuildError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] AlertStoreError),
}

/// Current findings of another part of the analyzer, as signals.
pub type SignalSource = Box<dyn Fn() -> Vec<Signal> + Send + Sync>;

pub struct Alerting {
    pub engine: Mutex<Engine>,
    rules: Mutex<Rules>,
    /// Signals pushed by other sources since the last round.
    pushed: Mutex<Vec<Signal>>,
    /// Sources asked for their current findings at every round (anomaly detection,
    /// recommendations): what they stop reporting resolves after `resolve_timeout`.
    sources: Mutex<Vec<SignalSource>>,
    dispatcher: Dispatcher,
    reader: Mutex<Option<Reader>>,
    db_path: PathBuf,
    pub metrics: Arc<DeliveryMetrics>,
    pub read_requires_token: bool,
    /// Alert history is kept as long as the history's rollups.
    retention: Duration,
    pruned_at: Mutex<i64>,
}

impl Alerting {
    /// Builds the channels (reading their secrets), opens the engine and starts delivery.
    pub fn start(
        config: &AlertingConfig,
        db_path: &Path,
        retention: Duration,
        link: String,
        stop: watch::Receiver<bool>,
    ) -> Result<(Arc<Self>, Vec<JoinHandle<()>>), ServiceError> {
        let grouping = &config.grouping;
        let ttl = grouping.repeat_interval + grouping.group_interval;
        let channels = config
            .channels
            .iter()
            .map(|(name, c)| Channel::build(name, c, ttl))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics = Arc::new(DeliveryMetrics::default());
        let engine = Engine::open(db_path, EngineConfig::new(config, link), now_ms())?;
        let (dispatcher, workers) = Dispatcher::start(channels, db_path, metrics.clone(), stop)?;
        let mut rules = if config.default_rules {
            default_rules()
        } else {
            Vec::new()
        };
        rules.extend(config.rules.iter().cloned());
        let service = Arc::new(Self {
            engine: Mutex::new(engine),
            rules: Mutex::new(Rules::new(rules)),
            pushed: Mutex::new(Vec::new()),
            sources: Mutex::new(Vec::new()),
            dispatcher,
            reader: Mutex::new(None),
            db_path: db_path.to_owned(),
            metrics,
            read_requires_token: config.read_requires_token,
            retention,
            pruned_at: Mutex::new(0),
        });
        Ok((service, workers))
    }

    /// Live alert changes; `None` only if the engine lock is poisoned.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<AlertEvent>> {
        self.engine.lock().ok().map(|e| e.subscribe())
    }

    /// Open alerts per severity, every severity present (a missing series is not a zero).
    pub fn open_by_severity(&self) -> Vec<(Severity, usize)> {
        let Ok(engine) = self.engine.lock() else {
            return Vec::new();
        };
        let open = engine.open_alerts();
        Severity::ALL
            .into_iter()
            .map(|s| (s, open.iter().filter(|a| a.severity == s).count()))
            .collect()
    }

    /// Signals from another source (anomalies, forecasts, recommendations); they are
    /// evaluated with the next round.
    pub fn observe(&self, signals: impl IntoIterator<Item = Signal>) {
        if let Ok(mut pushed) = self.pushed.lock() {
            pushed.extend(signals);
        }
    }

    /// Registers a source polled at every round; see [`crate::alerting::sources`].
    pub fn add_source(&self, source: SignalSource) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(source);
        }
    }

    /// One round: rules over the latest history plus pushed signals. Blocking.
    pub fn evaluate(&self, now: i64) {
        let mut signals = match self.rule_signals(now) {
            Ok(signals) => signals,
            Err(e) => {
                tracing::error!("alert rules: {e}");
                Vec::new()
            }
        };
        if let Ok(mut pushed) = self.pushed.lock() {
            signals.append(&mut pushed);
        }
        if let Ok(sources) = self.sources.lock() {
            for source in sources.iter() {
                signals.extend(source());
            }
        }
        self.with_engine(|engine| engine.observe(now, &signals));
    }

    /// Timers only (group waits, repeats, timeouts, escalations), and once an hour the
    /// history's retention. Blocking.
    pub fn tick(&self, now: i64) {
        self.with_engine(|engine| engine.tick(now));
        const HOUR: i64 = 3_600_000;
        let Ok(mut pruned_at) = self.pruned_at.lock() else {
            return;
        };
        if now - *pruned_at < HOUR {
            return;
        }
        *pruned_at = now;
        let cutoff = now - self.retention.as_millis() as i64;
        if let Ok(mut engine) = self.engine.lock()
            && let Err(e) = engine.prune(cutoff)
        {
            tracing::error!("alert history retention: {e}");
        }
    }

    /// Hands committed notifications to their channels' queues.
    pub fn dispatch(&self, queued: &[Queued]) {
        for q in queued {
            self.dispatcher.enqueue(q);
        }
    }

    /// Runs `op` on the engine, then dispatches what it queued.
    fn with_engine(&self, op: impl FnOnce(&mut Engine) -> Result<Vec<Queued>, EngineError>) {
        let Ok(mut engine) = self.engine.lock() else {
            tracing::error!("alert engine lock poisoned");
            return;
        };
        let result = op(&mut engine);
        drop(engine);
        match result {
            Ok(queued) => self.dispatch(&queued),
            Err(e) => tracing::error!("alert engine: {e}"),
        }
    }

    fn rule_signals(&self, now: i64) -> Result<Vec<Signal>, crate::storage::StoreError> {
        let (Ok(mut reader), Ok(mut rules)) = (self.reader.lock(), self.rules.lock()) else {
            tracing::error!("alert rules lock poisoned");
            return Ok(Vec::new());
        };
        if rules.rules().is_empty() {
            return Ok(Vec::new());
        }
        let reader = match reader.take() {
            Some(open) => reader.insert(open),
            None => reader.insert(Reader::open(&self.db_path)?),
        };
        rules.evaluate(now, reader)
    }

    /// Evaluates after every scrape round (`scraped` rings) and ticks every second.
    pub async fn run(self: Arc<Self>, scraped: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let evaluate = tokio::select! {
                _ = scraped.notified() => true,
                _ = ticker.tick() => false,
                _ = stop.changed() => break,
            };
            let service = self.clone();
            let job = tokio::task::spawn_blocking(move || {
                if evaluate {
                    service.evaluate(now_ms());
                } else {
                    service.tick(now_ms());
                }
            });
            if let Err(e) = job.await {
                tracing::error!("alert round failed: {e}");
            }
        }
    }
}
