//! The periodic analysis pass: every `analysis.interval` it forecasts capacity from the
//! stored history, evaluates the recommendation rules and (opt-in) applies the safe changes,
//! then publishes the result for `/metrics` and the API.
//!
//! It runs on its own read connection on a blocking thread, so a slow pass never delays
//! scrapes or API answers, and a failed pass keeps the previous result (with the error shown)
//! rather than blanking it.

mod metrics;
mod routes;

pub use metrics::render;
pub use routes::routes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pulse_timeseries::forecast::ForecastConfig;
use serde::{Deserialize, Serialize};

use crate::capacity::{self, CapacitySettings, Forecast};
use crate::config::de_duration;
use crate::recommend::apply::{ActionRecord, Applier};
use crate::recommend::{self, RecommendConfig, Recommendation};
use crate::storage::{self, Reader, StoreError};

/// `analysis:` in the analyzer config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Run the periodic pass at all.
    pub enabled: bool,
    /// Time between two passes.
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// History each forecast and pattern is computed from.
    #[serde(deserialize_with = "de_duration")]
    pub lookback: Duration,
    /// Resolution of that history.
    #[serde(deserialize_with = "de_duration")]
    pub step: Duration,
    /// Trend + season model parameters.
    pub forecast: ForecastConfig,
    pub recommendations: RecommendConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(60),
            lookback: Duration::from_secs(14 * 86_400),
            step: Duration::from_secs(300),
            forecast: ForecastConfig::default(),
            recommendations: RecommendConfig::default(),
        }
    }
}

/// The latest pass. Plain data, so alerting can read it from [`crate::api::ApiState::analysis`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    /// Unix seconds of the pass, `None` before the first one finished.
    pub computed_at: Option<i64>,
    pub duration_seconds: f64,
    /// Why the last pass failed; its predecessor's results are kept.
    pub error: Option<String>,
    pub forecasts: Vec<Forecast>,
    pub recommendations: Vec<Recommendation>,
    /// Changes applied or dry-run, oldest first (the last 100).
    pub actions: Vec<ActionRecord>,
    /// Changes applied or dry-run since start.
    pub actions_total: u64,
}

pub type SharedAnalysis = Arc<RwLock<Analysis>>;

/// One pass over the store at `now_ms`.
pub fn pass(
    reader: &Reader,
    now_ms: i64,
    config: &AnalysisConfig,
    raw_retention: Duration,
    applier: &mut Applier,
) -> Result<Analysis, StoreError> {
    let start = Instant::now();
    let settings = CapacitySettings {
        lookback: config.lookback,
        raw_retention,
        step: config.step,
        model: config.forecast.clone(),
    };
    let forecasts = capacity::assess(reader, now_ms, &settings)?;
    let recommendations = recommend::evaluate(reader, now_ms, &forecasts, &config.recommendations)?;
    applier.run(&recommendations, now_ms / 1000);
    Ok(Analysis {
        computed_at: Some(now_ms / 1000),
        duration_seconds: start.elapsed().as_secs_f64(),
        error: None,
        forecasts,
        recommendations,
        actions: applier.log.iter().cloned().collect(),
        actions_total: applier.total,
    })
}

/// Runs [`pass`] every interval until `stop` turns true. `applier` is shared with the API,
/// where an operator's Apply goes through the same cooldowns and log.
pub async fn run(
    db_path: PathBuf,
    config: AnalysisConfig,
    raw_retention: Duration,
    shared: SharedAnalysis,
    applier: Arc<Mutex<Applier>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let (path, config, applier) = (db_path.clone(), config.clone(), applier.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut applier = applier
                .lock()
                .map_err(|_| "applier lock poisoned".to_owned())?;
            once(&path, &config, raw_retention, &mut applier).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let Ok(mut current) = shared.write() else {
            return;
        };
        match result {
            Ok(analysis) => *current = analysis,
            Err(e) => {
                tracing::warn!(error = %e, "analysis pass failed");
                current.error = Some(e);
            }
        }
    }
}

fn once(
    path: &Path,
    config: &AnalysisConfig,
    raw_retention: Duration,
    applier: &mut Applier,
) -> Result<Analysis, StoreError> {
    // A fresh connection per pass: cheap next to the pass, and never shared with the API.
    let reader = Reader::open(path)?;
    pass(&reader, storage::now_ms(), config, raw_retention, applier)
}
