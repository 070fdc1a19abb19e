//! Anomaly detection over the analyzer's history, live and offline.
//!
//! Both modes run pulse-timeseries' streaming [`Detector`] one point at a time, so a CSV
//! replayed with `pulse-analyzer detect` scores exactly what the live sidecar would have
//! scored (given the same sampling), and the NAB evaluation in CI measures the code that
//! runs in production.
//!
//! - [`engine`]: per-series detectors fed after every scrape, event bookkeeping and the
//!   `pulse_anomaly_*` gauges;
//! - [`events`]: anomaly events in the history database and the API's listing;
//! - [`correlate`]: root-cause hints, the stored series that moved with an event;
//! - [`offline`]: the `detect` command over CSV files and directory trees.
//!
//! [`Detector`]: pulse_timeseries::anomaly::Detector

pub mod correlate;
pub mod engine;
pub mod events;
pub mod offline;

use std::time::Duration;

use pulse_timeseries::anomaly::DetectorConfig;
use serde::Deserialize;

use crate::config::Dur;

pub use engine::{Engine, SeriesScore};
pub use events::{AnomalyEvent, Correlation};

/// The series analysed by default: one per resource an operator pages on, all of them
/// ratios, gauges or rates (raw counters only ever grow, so every point would be "new").
pub const DEFAULT_SERIES: &[&str] = &[
    "pulse:cpu_utilisation:ratio",
    "pulse:memory_available:ratio",
    "node_load1",
    "pulse:disk_io_time_seconds:rate",
    "pulse:network_receive_bytes:rate",
    "pulse:network_transmit_bytes:rate",
    "pulse:probe_latency:seconds",
    "pulse:process_cpu:rate",
];

/// The `anomaly:` section of the analyzer's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Live detection on or off (`detect` always works).
    pub enabled: bool,
    /// Metric names analysed live, every label set of each (default: [`DEFAULT_SERIES`]).
    pub series: Vec<String>,
    /// Most series with a live detector. A detector holds a few hundred kilobytes at the
    /// default windows, so this bounds the analyzer's memory; series beyond it are counted in
    /// `pulse_anomaly_series_dropped` and not analysed.
    pub max_series: usize,
    /// Score at or above which a point is anomalous. 0.3 sits between the thresholds NAB's
    /// standard (0.25) and low-false-positive (0.32) profiles pick on the shared split.
    pub threshold: f64,
    /// An event ends once its series has gone this long without an anomalous point.
    pub quiet: Dur,
    /// How much stored history a detector replays when its series is first seen after a
    /// start, so a restart does not mean hours of blindness.
    pub warmup: Dur,
    /// Root-cause hints attached to each event.
    pub correlation: CorrelationConfig,
    /// Detector parameters, shared by every series and by `detect`.
    pub detector: DetectorConfig,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            series: DEFAULT_SERIES.iter().map(|s| (*s).to_owned()).collect(),
            max_series: 1_000,
            threshold: 0.3,
            quiet: Dur(Duration::from_secs(300)),
            warmup: Dur(Duration::from_secs(48 * 3600)),
            correlation: CorrelationConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
}

/// How correlations are ranked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// History before the event's start included in the window: a correlation over the
    /// anomalous points alone would rest on a handful of samples.
    pub context: Dur,
    /// How many correlated series each event keeps.
    pub top: usize,
    /// Most stored series compared per event, which bounds the work one event costs.
    pub max_candidates: usize,
    /// Fewest aligned points a correlation needs to be reported.
    pub min_points: usize,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            context: Dur(Duration::from_secs(900)),
            top: 3,
            max_candidates: 5_000,
            min_points: 8,
        }
    }
}
