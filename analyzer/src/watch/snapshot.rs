//! One read of the history: the tables `watch` shows, already as display strings so the
//! text and terminal forms cannot disagree.

use std::collections::BTreeMap;

use crate::storage::{Reader, SeriesFilter, StoreError};
use crate::units::Unit;

/// Process groups shown, by CPU.
const TOP_GROUPS: usize = 8;
/// Active alerts shown, most severe first.
const MAX_ALERTS: usize = 20;
const MAX_SERIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub taken_at_ms: i64,
    pub targets: Table,
    pub alerts: Table,
    pub processes: Table,
}

const SERIES: &[&str] = &[
    "pulse:cpu_utilisation:ratio",
    "pulse:memory_available:ratio",
    "node_load1",
    "pulse:filesystem_used:ratio",
    "pulse:disk_read_bytes:rate",
    "pulse:disk_written_bytes:rate",
    "pulse:network_receive_bytes:rate",
    "pulse:network_transmit_bytes:rate",
    "pulse:process_cpu:rate",
    "pulse:process_rss:bytes",
];

/// Latest values of one target, summed or maxed over devices and mountpoints.
#[derive(Debug, Default)]
struct Latest {
    cpu: Option<f64>,
    memory_available: Option<f64>,
    load1: Option<f64>,
    fullest: Option<(f64, String)>,
    disk_io: Option<f64>,
    net_rx: Option<f64>,
    net_tx: Option<f64>,
}

fn add(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.unwrap_or(0.0) + value);
}

fn show(value: Option<f64>, unit: Unit) -> String {
    value.map_or_else(|| "-".to_owned(), |v| unit.show(v))
}

pub fn take(reader: &Reader, now_ms: i64) -> Result<Snapshot, StoreError> {
    let filter = SeriesFilter {
        names: SERIES.iter().map(|s| (*s).to_owned()).collect(),
        target: None,
    };
    let (samples, _) = reader.latest(&filter, MAX_SERIES)?;
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    // (target, group) -> (cpu cores, rss bytes)
    let mut groups: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for sample in &samples {
        let Some(value) = sample.value.filter(|v| v.is_finite()) else {
            continue;
        };
        let series = &sample.series;
        let label = |key: &str| series.labels.get(key).cloned().unwrap_or_default();
        let row = latest.entry(series.target.clone()).or_default();
        match series.name.as_str() {
            "pulse:cpu_utilisation:ratio" => row.cpu = Some(value),
            "pulse:memory_available:ratio" => row.memory_available = Some(value),
            "node_load1" => row.load1 = Some(value),
            "pulse:filesystem_used:ratio" => {
                if row.fullest.as_ref().is_none_or(|(v, _)| value > *v) {
                    row.fullest = Some((value, label("mountpoint")));
                }
            }
            "pulse:disk_read_bytes:rate" | "pulse:disk_written_bytes:rate" => {
                add(&mut row.disk_io, value);
            }
            "pulse:network_receive_bytes:rate" => add(&mut row.net_rx, value),
            "pulse:network_transmit_bytes:rate" => add(&mut row.net_tx, value),
            "pulse:process_cpu:rate" => {
                groups
                    .entry((series.target.clone(), label("groupname")))
                    .or_default()
                    .0 = Some(value);
            }
            _ => {
                groups
                    .entry((series.target.clone(), label("groupname")))
                    .or_default()
                    .1 = Some(value);
            }
        }
    }
    let status: BTreeMap<String, (bool, i64)> = reader
        .stats()?
        .targets
        .into_iter()
        .map(|t| (t.target, (t.success, t.last_scrape_ms)))
        .collect();
    let mut names: Vec<&String> = latest.keys().chain(status.keys()).collect();
    names.sort();
    names.dedup();
    let empty = Latest::default();
    let targets = Table {
        title: "Targets",
        header: vec![
            "TARGET",
            "STATE",
            "AGE",
            "CPU",
            "MEM USED",
            "LOAD1",
            "DISK FULLEST",
            "DISK IO",
            "NET RX",
            "NET TX",
        ],
        rows: names
            .into_iter()
            .map(|name| {
                let row = latest.get(name).unwrap_or(&empty);
                let (state, age) = match status.get(name) {
                    Some((up, at)) => (
                        if *up { "up" } else { "DOWN" }.to_owned(),
                        format!("{}s", ((now_ms - at).max(0) + 500) / 1000),
                    ),
                    None => ("-".to_owned(), "-".to_owned()),
                };
                vec![
                    name.clone(),
                    state,
                    age,
                    show(row.cpu, Unit::Ratio),
                    show(row.memory_available.map(|a| 1.0 - a), Unit::Ratio),
                    show(row.load1, Unit::Plain),
                    row.fullest.as_ref().map_or_else(
                        || "-".to_owned(),
                        |(v, mount)| format!("{} {mount}", Unit::Ratio.show(*v)),
                    ),
                    show(row.disk_io, Unit::BytesPerSecond),
                    show(row.net_rx, Unit::BytesPerSecond),
                    show(row.net_tx, Unit::BytesPerSecond),
                ]
            })
            .collect(),
    };

    let mut top: Vec<_> = groups.into_iter().collect();
    top.sort_by(|a, b| b.1.0.unwrap_or(0.0).total_cmp(&a.1.0.unwrap_or(0.0)));
    top.truncate(TOP_GROUPS);
    let processes = Table {
        title: "Top process groups",
        header: vec!["TARGET", "GROUP", "CPU", "RSS"],
        rows: top
            .into_iter()
            .map(|((target, group), (cpu, rss))| {
                vec![
                    target,
                    group,
                    show(cpu, Unit::Cores),
                    show(rss, Unit::Bytes),
                ]
            })
            .collect(),
    };

    Ok(Snapshot {
        taken_at_ms: now_ms,
        targets,
        alerts: alerts(reader, now_ms)?,
        processes,
    })
}

/// Firing and acknowledged alerts, most severe and then newest first. A history without
/// the alert tables (alerting never ran) has none.
fn alerts(reader: &Reader, now_ms: i64) -> Result<Table, StoreError> {
    let conn = reader.connection();
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
        [],
        |r| r.get(0),
    )?;
    let mut rows = Vec::new();
    if exists {
        let mut stmt = conn.prepare(
            "SELECT severity, state, name, summary, started_at FROM alerts
             WHERE state != 'resolved'
             ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1
                      WHEN 'advisory' THEN 2 ELSE 3 END, started_at DESC
             LIMIT ?1",
        )?;
        rows = stmt
            .query_map([MAX_ALERTS as i64], |r| {
                let started: i64 = r.get(4)?;
                let since = humantime::format_duration(std::time::Duration::from_secs(
                    ((now_ms - started).max(0) / 1000) as u64,
                ));
                Ok(vec![
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    since.to_string(),
                    r.get::<_, String>(3)?,
                ])
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(Table {
        title: "Active alerts",
        header: vec!["SEVERITY", "STATE", "NAME", "FOR", "SUMMARY"],
        rows,
    })
}
