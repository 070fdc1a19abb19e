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
use serde::{Deserialize, Deserializer, de};

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
    /// Most series with a live detector. A warmed-up detector holds about 310 kB at the
    /// default windows (measured: 200 detectors after 10,000 points each of a noisy daily
    /// wave), plus up to 76 kB for its ART member's categories (35 kB measured the same
    /// way), so the default caps detection at about 90 MB; points of series beyond it are counted in
    /// `pulse_anomaly_refused_points_total` and not analysed.
    pub max_series: usize,
    /// Score at or above which a point is anomalous. NAB's three profiles all pick 0.25 on
    /// the shared split; 0.3 is a little stricter, for fewer alerts from noisy series.
    #[serde(deserialize_with = "score_threshold")]
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
            max_series: 250,
            threshold: 0.3,
            quiet: Dur(Duration::from_secs(300)),
            warmup: Dur(Duration::from_secs(48 * 3600)),
            correlation: CorrelationConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
}

/// Scores lie in [0, 1): a threshold outside (0, 1) would alert on everything or nothing.
fn score_threshold<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(de::Error::custom(format!(
            "must be between 0 and 1 (exclusive), got {value}"
        )))
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
    /// Weakest |r| worth reporting: "correlates with r=0.1" would send an operator after noise.
    pub min_abs_r: f64,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            context: Dur(Duration::from_secs(900)),
            top: 3,
            max_candidates: 5_000,
            min_points: 8,
            min_abs_r: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("analyzer.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn section_defaults_and_overrides() {
        let config = parse("targets: [{url: 'http://a:9100/metrics'}]\n").unwrap();
        assert!(config.anomaly.enabled);
        assert_eq!(config.anomaly.series.len(), super::DEFAULT_SERIES.len());
        assert_eq!(config.anomaly.detector.level_points, 36);

        let config = parse(
            "anomaly:\n  series: [node_load1]\n  quiet: 10m\n  threshold: 0.5\n\
             \x20 correlation: {top: 5}\n  detector: {baseline_window: 100}\n",
        )
        .unwrap();
        assert_eq!(config.anomaly.series, ["node_load1"]);
        assert_eq!(config.anomaly.quiet.0.as_secs(), 600);
        assert_eq!(config.anomaly.threshold, 0.5);
        assert_eq!(config.anomaly.correlation.top, 5);
        assert_eq!(config.anomaly.correlation.min_points, 8);
        assert_eq!(config.anomaly.detector.baseline_window, 100);
    }

    #[test]
    fn mistakes_name_line_and_field() {
        let err = parse("anomaly:\n  quiet: soon\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:2:3: anomaly.quiet: invalid duration \"soon\""),
            "{err}"
        );
        let err = parse("anomaly:\n  threshold: 1.5\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:2:3: anomaly.threshold: must be between 0 and 1"),
            "{err}"
        );
        let err = parse("anomaly:\n  correlation:\n    topp: 2\n").unwrap_err();
        assert!(
            err.starts_with("analyzer.yml:3:5: anomaly.correlation.topp: unknown field"),
            "{err}"
        );
    }
}
