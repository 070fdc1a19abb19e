//! Live detection: one streaming detector per analysed series, fed after each scrape round.
//!
//! # Events
//! A point scoring at or above the threshold starts an event on its series. The detector
//! reports an incident at full strength only when it starts (its suppression decays the score
//! of what follows), so the event goes on while the detector's *unsuppressed* score stays at
//! or above the threshold, and ends once the series has been quiet for `anomaly.quiet`. The
//! detector reports a point only once the next few samples confirm it, so the event opens
//! then but is dated from the point itself ([`Detector::reports_on`]).
//!
//! Correlations are computed twice: when the event starts, over `correlation.context` up to
//! the first anomalous point, so an alert raised on an active event can already name a
//! likely cause; and when it ends, over the whole event plus that context, which is what the
//! stored event keeps.
//!
//! # Bounded state
//! At most `max_series` detectors exist, each bounded by its window lengths; a series that
//! stops reporting for [`IDLE_EVICT_MS`] loses its detector (and ends its event).
//!
//! # Restarts
//! When a series is first seen, its detector replays up to `anomaly.warmup` of stored raw
//! history before scoring the new point, so after a restart it is as warm as the history
//! allows. Replayed points raise no events: they were not observed live.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use pulse_exporter::exposition::{Kind, Labels, MetricSet, Value};
use pulse_timeseries::anomaly::Detector;

use crate::storage::{self, Reader, Resolution, SeriesFilter, SeriesInfo, StoreError};

use super::events::{AnomalyEvent, Correlation, EventStore};
use super::{AnomalyConfig, CorrelationConfig, correlate};

/// A series silent for this long is forgotten.
pub const IDLE_EVICT_MS: i64 = 3_600_000;

/// Most raw points one detector replays on warm-up (two days at 15 s).
const MAX_WARMUP_POINTS: usize = 11_520;

/// One analysed point of a scrape round.
#[derive(Debug, Clone)]
pub struct Observation {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub ts_ms: i64,
}

/// Correlations for an event window; a failed read costs the hints, not the event.
fn hints(
    reader: &Reader,
    info: &SeriesInfo,
    start_ms: i64,
    end_ms: i64,
    config: &CorrelationConfig,
) -> Vec<Correlation> {
    correlate::rank(reader, info, start_ms, end_ms, config).unwrap_or_else(|e| {
        tracing::warn!(
            "correlating an anomaly of {}: {e}",
            correlate::describe(info)
        );
        Vec::new()
    })
}

/// The latest score of one series, for `/metrics` and the alerting engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesScore {
    pub target: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub score: f64,
    pub active: bool,
}

struct Active {
    id: i64,
    start_ms: i64,
    last_ms: i64,
    peak_score: f64,
    peak_ms: i64,
    correlations: Vec<Correlation>,
}

struct Tracked {
    info: SeriesInfo,
    detector: Detector,
    last_ts_ms: i64,
    score: f64,
    active: Option<Active>,
}

/// Per-series detectors plus the event bookkeeping.
pub struct Engine {
    config: AnomalyConfig,
    names: HashSet<String>,
    series: HashMap<(String, String, String), Tracked>,
    events: EventStore,
    reader: Reader,
    events_started: u64,
    refused_points: u64,
    retention_ms: i64,
}

impl Engine {
    /// Opens the events table in the history database at `path` (which must exist) and
    /// ends events a previous run left open. Events older than `retention` are pruned.
    pub fn open(
        config: AnomalyConfig,
        path: &Path,
        retention: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let events = EventStore::open(path)?;
        events.close_orphans()?;
        Ok(Self {
            names: config.series.iter().cloned().collect(),
            config,
            series: HashMap::new(),
            events,
            reader: Reader::open(path)?,
            events_started: 0,
            refused_points: 0,
            retention_ms: retention.as_millis() as i64,
        })
    }

    /// Whether points of metric `name` are analysed.
    pub fn wants(&self, name: &str) -> bool {
        self.config.enabled && self.names.contains(name)
    }

    /// Scores one scrape round of `target` (after it was stored) and updates events.
    /// `now_ms` drives event ends and eviction. A database error on one series does not
    /// stop the others; the first one is returned after all were handled.
    pub fn observe(
        &mut self,
        target: &str,
        observations: Vec<Observation>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut first_error = None;
        for obs in observations {
            if let Err(e) = self.observe_one(target, obs) {
                first_error.get_or_insert(e);
            }
        }
        let finished = self.finish_quiet_events(now_ms);
        match first_error {
            Some(e) => Err(e),
            None => finished,
        }
    }

    fn observe_one(&mut self, target: &str, obs: Observation) -> Result<(), StoreError> {
        let labels_json = storage::labels_json(&obs.labels);
        let key = (target.to_owned(), obs.name.clone(), labels_json);
        if !self.series.contains_key(&key) {
            if self.series.len() >= self.config.max_series {
                self.refused_points += 1;
                return Ok(());
            }
            let tracked = self.start_tracking(target, &obs)?;
            self.series.insert(key.clone(), tracked);
        }
        let Some(tracked) = self.series.get_mut(&key) else {
            return Ok(());
        };
        if obs.ts_ms <= tracked.last_ts_ms || !obs.value.is_finite() {
            return Ok(());
        }
        tracked.last_ts_ms = obs.ts_ms;
        tracked.score = tracked
            .detector
            .update(obs.ts_ms.div_euclid(1000), obs.value);
        let ongoing = tracked.detector.unsuppressed_score();
        match &mut tracked.active {
            Some(active) if ongoing >= self.config.threshold => {
                active.last_ms = obs.ts_ms;
                if ongoing > active.peak_score {
                    active.peak_score = ongoing;
                    active.peak_ms = obs.ts_ms;
                }
                self.events
                    .extend(active.id, obs.ts_ms, active.peak_score, active.peak_ms)?;
            }
            Some(_) => {}
            None if tracked.score >= self.config.threshold => {
                // The detector confirms a point a few samples after it: the
                // event starts at the point, not at its confirmation.
                let start_ms = (tracked.detector.reports_on() * 1000).min(obs.ts_ms);
                let context = self.config.correlation.context.0.as_millis() as i64;
                let correlations = hints(
                    &self.reader,
                    &tracked.info,
                    start_ms - context,
                    obs.ts_ms,
                    &self.config.correlation,
                );
                // Confirmed means still anomalous now: the quiet period counts from
                // here, or a confirmation that came late (scrapes delayed past
                // `anomaly.quiet`) would end the event in the round that opened it.
                let id = self.events.start(
                    target,
                    &obs.name,
                    &key.2,
                    (start_ms, obs.ts_ms),
                    tracked.score,
                    &correlations,
                )?;
                self.events_started += 1;
                tracked.active = Some(Active {
                    id,
                    start_ms,
                    last_ms: obs.ts_ms,
                    peak_score: tracked.score,
                    peak_ms: start_ms,
                    correlations,
                });
            }
            None => {}
        }
        Ok(())
    }

    /// Ends events whose series has been quiet long enough, and forgets idle series.
    fn finish_quiet_events(&mut self, now_ms: i64) -> Result<(), StoreError> {
        let quiet_ms = self.config.quiet.0.as_millis() as i64;
        let mut finished = false;
        let mut first_error = None;
        for tracked in self.series.values_mut() {
            let idle = now_ms - tracked.last_ts_ms >= IDLE_EVICT_MS;
            let Some(active) = &tracked.active else {
                continue;
            };
            if now_ms - active.last_ms < quiet_ms && !idle {
                continue;
            }
            let end_ms = now_ms.min(active.last_ms + quiet_ms);
            let context = self.config.correlation.context.0.as_millis() as i64;
            let correlations = hints(
                &self.reader,
                &tracked.info,
                active.start_ms - context,
                end_ms,
                &self.config.correlation,
            );
            // A row that could not be finished stays open until the next start closes it.
            if let Err(e) = self.events.finish(active.id, end_ms, &correlations) {
                first_error.get_or_insert(e);
            }
            tracked.active = None;
            finished = true;
        }
        self.series
            .retain(|_, t| now_ms - t.last_ts_ms < IDLE_EVICT_MS);
        if finished {
            self.events.prune(now_ms - self.retention_ms)?;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A new detector for a series, warmed up on its stored history.
    fn start_tracking(&self, target: &str, obs: &Observation) -> Result<Tracked, StoreError> {
        let labels: BTreeMap<String, String> = obs.labels.iter().cloned().collect();
        let filter = SeriesFilter {
            names: vec![obs.name.clone()],
            target: Some(target.to_owned()),
        };
        let (matches, _) = self.reader.series(&filter, crate::api::MAX_SERIES)?;
        let info = matches
            .into_iter()
            .find(|s| s.labels == labels)
            .unwrap_or_else(|| SeriesInfo {
                id: -1,
                target: target.to_owned(),
                name: obs.name.clone(),
                labels,
            });
        let mut detector = Detector::new(self.config.detector.clone());
        let mut last_ts_ms = i64::MIN;
        if info.id >= 0 {
            let warmup_ms = self.config.warmup.0.as_millis() as i64;
            let (history, _) = self.reader.history(
                info.id,
                obs.ts_ms - warmup_ms,
                obs.ts_ms - 1,
                None,
                Resolution::Raw,
                MAX_WARMUP_POINTS,
            )?;
            for point in history {
                if let Some(value) = point.value {
                    detector.update(point.ts.div_euclid(1000), value);
                    last_ts_ms = point.ts;
                }
            }
        }
        Ok(Tracked {
            info,
            detector,
            last_ts_ms,
            score: 0.0,
            active: None,
        })
    }

    /// The latest score of every analysed series.
    pub fn scores(&self) -> Vec<SeriesScore> {
        let mut scores: Vec<SeriesScore> = self
            .series
            .values()
            .map(|t| SeriesScore {
                target: t.info.target.clone(),
                metric: t.info.name.clone(),
                labels: t.info.labels.clone(),
                score: t.score,
                active: t.active.is_some(),
            })
            .collect();
        scores.sort_by(|a, b| {
            (&a.metric, &a.target, &a.labels).cmp(&(&b.metric, &b.target, &b.labels))
        });
        scores
    }

    /// Events active right now, oldest first, for the alerting engine: built from memory,
    /// so asking costs no database read and cannot fail. Their correlations are those found
    /// when the event started (see [`super::events::list`] for ended events).
    pub fn active_events(&self) -> Vec<AnomalyEvent> {
        let mut events: Vec<AnomalyEvent> = self
            .series
            .values()
            .filter_map(|tracked| {
                let active = tracked.active.as_ref()?;
                Some(AnomalyEvent {
                    id: active.id,
                    target: tracked.info.target.clone(),
                    metric: tracked.info.name.clone(),
                    labels: tracked.info.labels.clone(),
                    start_ms: active.start_ms,
                    last_ms: active.last_ms,
                    end_ms: None,
                    peak_score: active.peak_score,
                    peak_ms: active.peak_ms,
                    correlations: active.correlations.clone(),
                })
            })
            .collect();
        events.sort_by_key(|e| (e.start_ms, e.id));
        events
    }

    /// Adds the `pulse_anomaly_*` families to the analyzer's `/metrics`.
    pub fn encode(&self, set: &mut MetricSet) {
        let scores = self.scores();
        let labelled = |s: &SeriesScore| -> Labels {
            // `series` names the metric, as the alert rules and dashboards expect.
            let mut labels: Labels = vec![
                ("target".into(), s.target.clone()),
                ("series".into(), s.metric.clone()),
            ];
            for (k, v) in &s.labels {
                // The series' own labels may not shadow the two above.
                let key = if k == "target" || k == "series" {
                    format!("exported_{k}")
                } else {
                    k.clone()
                };
                labels.push((key.into(), v.clone()));
            }
            labels
        };
        let family = set.family(
            "pulse_anomaly_score",
            "Anomaly score in [0, 1) of the latest point of the analysed series.",
            Kind::Gauge,
        );
        for s in &scores {
            family.sample_owned(labelled(s), Value::Number(s.score));
        }
        let family = set.family(
            "pulse_anomaly_active",
            "Whether the analysed series is in an anomaly event (1) or not (0).",
            Kind::Gauge,
        );
        for s in &scores {
            family.sample_owned(labelled(s), Value::Number(f64::from(u8::from(s.active))));
        }
        set.gauge(
            "pulse_anomaly_series",
            "Series with a live anomaly detector.",
            scores.len() as f64,
        );
        set.counter(
            "pulse_anomaly_events_total",
            "Anomaly events started since the analyzer started.",
            self.events_started as f64,
        );
        set.counter(
            "pulse_anomaly_refused_points_total",
            "Points not analysed because anomaly.max_series detectors already exist.",
            self.refused_points as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::events;
    use crate::storage::{Point, Policy, Store, TargetStatus};
    use std::time::Duration;

    const STEP_MS: i64 = 15_000;
    const T0: i64 = 1_700_000_000_000;

    /// Deterministic noise in [-0.5, 0.5).
    fn noise(i: i64, salt: u64) -> f64 {
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        (x % 10_000) as f64 / 10_000.0 - 0.5
    }

    struct Host {
        store: Store,
        engine: Engine,
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    }

    fn config() -> AnomalyConfig {
        AnomalyConfig {
            series: vec![
                "pulse:cpu_utilisation:ratio".into(),
                "pulse:memory_available:ratio".into(),
            ],
            ..AnomalyConfig::default()
        }
    }

    fn host() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let policy = Policy {
            raw: Duration::from_secs(86_400),
            rollups: Duration::from_secs(86_400),
            rollup_step: Duration::from_secs(300),
            grace: Duration::from_secs(0),
        };
        let store = Store::open(&path, policy).unwrap();
        let engine = Engine::open(config(), &path, Duration::from_secs(86_400)).unwrap();
        Host {
            store,
            engine,
            _dir: dir,
            path,
        }
    }

    /// Scrape `i`: CPU and the `java` group's CPU jump together during `incident`; memory
    /// and the `cron` group only wander.
    fn scrape(host: &mut Host, i: i64, incident: bool) {
        try_scrape(host, i, incident).unwrap();
    }

    fn try_scrape(host: &mut Host, i: i64, incident: bool) -> Result<(), StoreError> {
        let ts = T0 + i * STEP_MS;
        let java = [("groupname".to_owned(), "java".to_owned())];
        let cron = [("groupname".to_owned(), "cron".to_owned())];
        let jump = if incident { 1.0 } else { 0.0 };
        let cpu = 0.2 + 0.02 * noise(i, 1) + 0.6 * jump;
        let values = [
            ("pulse:cpu_utilisation:ratio", &[][..], cpu),
            (
                "pulse:process_cpu:rate",
                &java[..],
                0.5 + 0.05 * noise(i, 2) + 2.5 * jump,
            ),
            (
                "pulse:process_cpu:rate",
                &cron[..],
                0.1 + 0.05 * noise(i, 3),
            ),
            (
                "pulse:memory_available:ratio",
                &[][..],
                0.6 + 0.01 * noise(i, 4),
            ),
            ("node_cpu_seconds_total", &[][..], i as f64 * 15.0),
        ];
        let points: Vec<Point<'_>> = values
            .iter()
            .map(|(name, labels, value)| Point {
                name,
                labels,
                value: *value,
                ts_ms: ts,
            })
            .collect();
        let observations: Vec<Observation> = points
            .iter()
            .filter(|p| host.engine.wants(p.name))
            .map(|p| Observation {
                name: p.name.to_owned(),
                labels: p.labels.to_vec(),
                value: p.value,
                ts_ms: p.ts_ms,
            })
            .collect();
        let status = TargetStatus::scraped("host", ts, 5);
        host.store.ingest("host", points, &status).unwrap();
        host.engine.observe("host", observations, ts)
    }

    /// Samples the detector holds a point back before reporting it.
    fn confirmation_samples() -> i64 {
        pulse_timeseries::anomaly::DetectorConfig::default().confirmation_samples as i64
    }

    fn cpu_score(engine: &Engine) -> SeriesScore {
        engine
            .scores()
            .into_iter()
            .find(|s| s.metric == "pulse:cpu_utilisation:ratio")
            .unwrap()
    }

    #[test]
    fn incident_becomes_one_event_with_the_cause_ranked_first() {
        let mut host = host();
        for i in 0..1500 {
            scrape(&mut host, i, false);
        }
        assert!(host.engine.active_events().is_empty());
        let quiet_before = events::list(&host.path, 0, 10).unwrap().0;
        assert!(quiet_before.is_empty(), "false alarms: {quiet_before:?}");

        for i in 1500..1520 {
            scrape(&mut host, i, true);
        }
        let active = host.engine.active_events();
        assert_eq!(active.len(), 1, "{active:?}");
        assert_eq!(active[0].metric, "pulse:cpu_utilisation:ratio");
        assert_eq!(active[0].start_ms, T0 + 1500 * STEP_MS);
        assert!(cpu_score(&host.engine).active);
        // An active event already names the likely cause, for alerts raised while it lasts.
        let early = &active[0].correlations[0];
        assert_eq!(early.labels["groupname"], "java", "{early:?}");
        assert!(early.r > 0.9, "{early:?}");
        // Memory and database agree (up to JSON's last-digit rounding of r).
        let rounded = |events: Vec<AnomalyEvent>| -> Vec<AnomalyEvent> {
            events
                .into_iter()
                .map(|mut e| {
                    for c in &mut e.correlations {
                        c.r = (c.r * 1e9).round();
                    }
                    e
                })
                .collect()
        };
        let stored = events::list(&host.path, 0, 10).unwrap().0;
        assert_eq!(rounded(stored), rounded(active.clone()));

        let mut set = MetricSet::default();
        host.engine.encode(&mut set);
        let text = set.encode_text();
        assert!(
            text.contains(
                "pulse_anomaly_active{target=\"host\",series=\"pulse:cpu_utilisation:ratio\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("pulse_anomaly_series 2"), "{text}");
        assert!(text.contains("pulse_anomaly_events_total 1"), "{text}");

        // Back to normal: the event ends after `quiet` (20 scrapes) with its hints.
        for i in 1520..1560 {
            scrape(&mut host, i, false);
        }
        assert!(host.engine.active_events().is_empty());
        let (events, _) = events::list(&host.path, 0, 10).unwrap();
        let event = events
            .iter()
            .find(|e| e.metric == "pulse:cpu_utilisation:ratio")
            .unwrap();
        assert!(event.peak_score >= 0.3, "{event:?}");
        assert!(
            event.last_ms > event.start_ms,
            "the event outlasts its first, reported point: {event:?}"
        );
        let end = event.end_ms.unwrap();
        assert!(end >= event.last_ms + 300_000 - STEP_MS, "{event:?}");
        let top = &event.correlations[0];
        assert_eq!(top.metric, "pulse:process_cpu:rate");
        assert_eq!(top.labels["groupname"], "java");
        assert!(top.r > 0.9, "{top:?}");
        assert!(top.hint.contains("groupname=\"java\""), "{}", top.hint);
        assert!(
            !event
                .correlations
                .iter()
                .any(|c| c.metric == "node_cpu_seconds_total"),
            "counters are not candidates: {:?}",
            event.correlations
        );
        assert!(
            event.correlations.iter().all(|c| c.r.abs() >= 0.5),
            "weak correlations are not hints: {:?}",
            event.correlations
        );
    }

    #[test]
    fn an_incident_confirmed_after_the_quiet_period_still_opens_an_event() {
        let mut host = host();
        // Confirmation comes three samples after the point, longer than `quiet`.
        host.engine.config.quiet = crate::config::Dur(Duration::from_millis(STEP_MS as u64));
        for i in 0..1500 {
            scrape(&mut host, i, false);
        }
        let confirmed = 1500 + confirmation_samples();
        for i in 1500..=confirmed {
            scrape(&mut host, i, true);
        }
        let active = host.engine.active_events();
        assert_eq!(active.len(), 1, "{active:?}");
        assert_eq!(
            active[0].start_ms,
            T0 + 1500 * STEP_MS,
            "dated from the point"
        );
    }

    #[test]
    fn restart_warms_up_from_stored_history() {
        let mut host = host();
        for i in 0..1500 {
            scrape(&mut host, i, false);
        }
        // A new engine (a restarted analyzer) scores the next spike at once: a cold
        // detector would stay silent through its warm-up.
        host.engine = Engine::open(config(), &host.path, Duration::from_secs(86_400)).unwrap();
        let confirmed = 1500 + confirmation_samples();
        for i in 1500..=confirmed {
            scrape(&mut host, i, true);
        }
        let score = cpu_score(&host.engine);
        assert!(score.score >= 0.3, "{score:?}");

        let mut cold = Engine::open(config(), &host.path, Duration::from_secs(86_400)).unwrap();
        cold.config.warmup = crate::config::Dur(Duration::from_millis(1));
        host.engine = cold;
        scrape(&mut host, confirmed + 1, true);
        assert_eq!(cpu_score(&host.engine).score, 0.0);
    }

    #[test]
    fn a_failing_event_write_does_not_stop_other_series() {
        let mut host = host();
        for i in 0..1500 {
            scrape(&mut host, i, false);
        }
        // A fault we can cause for real: the events table vanishes under the engine.
        rusqlite::Connection::open(&host.path)
            .unwrap()
            .execute("DROP TABLE anomaly_events", [])
            .unwrap();
        // The event starts, and its write fails, once the spike is confirmed.
        let confirmed = 1500 + confirmation_samples();
        for i in 1500..confirmed {
            try_scrape(&mut host, i, true).unwrap();
        }
        let err = try_scrape(&mut host, confirmed, true).unwrap_err();
        assert!(err.to_string().contains("anomaly_events"), "{err}");
        let ts = T0 + confirmed * STEP_MS;
        assert!(
            host.engine.series.values().all(|t| t.last_ts_ms == ts),
            "every series was still scored"
        );
        assert!(cpu_score(&host.engine).score >= 0.3);
    }

    #[test]
    fn series_beyond_the_limit_are_refused() {
        let mut host = host();
        host.engine.config.max_series = 1;
        scrape(&mut host, 0, false);
        assert_eq!(host.engine.scores().len(), 1);
        let mut set = MetricSet::default();
        host.engine.encode(&mut set);
        assert!(
            set.encode_text()
                .contains("pulse_anomaly_refused_points_total 1")
        );
    }
}
