//! `report`: what happened over a day, a week or a chosen period, for a manager as much as
//! for on-call: a grade, SLI compliance per probe, capacity headroom, resource trends with
//! charts and the top process groups.
//!
//! One [`Report`] value is built from the history and then rendered: JSON is its serde form,
//! CSV flattens the same numbers, HTML adds inline SVG charts, PDF prints the HTML. Building reads every series
//! once through [`window`], so the numbers are those SQL gives over the same rows.

pub mod charts;
pub mod csv;
pub mod html;
pub mod pdf;
pub mod render;

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::health::{self, Grade, Level};
use crate::storage::{Reader, StoreError};
use crate::suggest::percentile;
use crate::units::Unit;
use crate::window::{self, Summary};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("drawing the {chart} chart: {message}")]
    Chart { chart: String, message: String },
    #[error("PDF: {message}")]
    Pdf { message: String },
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Period {
    const DAY_MS: i64 = 86_400_000;

    /// The 24 hours before `end_ms`, as `report --period day` and the reports API name them.
    pub fn last_day(end_ms: i64) -> Period {
        Self::span("last 24 hours", Self::DAY_MS, end_ms)
    }

    /// The 7 days before `end_ms`.
    pub fn last_week(end_ms: i64) -> Period {
        Self::span("last 7 days", 7 * Self::DAY_MS, end_ms)
    }

    fn span(label: &str, length_ms: i64, end_ms: i64) -> Period {
        Period {
            label: label.to_owned(),
            start_ms: end_ms - length_ms,
            end_ms,
        }
    }
}

/// One headline number.
#[derive(Debug, Clone, Serialize)]
pub struct Number {
    pub name: &'static str,
    pub value: f64,
    pub display: String,
}

/// Availability and latency of one probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeSli {
    pub probe: String,
    pub samples: u64,
    /// Share of successful probes.
    pub availability: f64,
    pub latency_avg_seconds: Option<f64>,
    pub latency_p95_seconds: Option<f64>,
    pub latency_max_seconds: Option<f64>,
    pub level: Level,
}

/// How much room is left on one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Headroom {
    pub resource: &'static str,
    pub subject: String,
    pub average: f64,
    /// Worst point: highest use, or lowest available memory.
    pub peak: f64,
    /// Share still free at the worst point.
    pub headroom: f64,
    pub level: Level,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessGroup {
    pub groupname: String,
    pub cpu_cores_avg: Option<f64>,
    pub rss_bytes_max: Option<f64>,
}

/// One line of a chart, with its summary.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub chart: &'static str,
    pub series: String,
    pub unit: Unit,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub first: f64,
    pub last: f64,
    /// `[bucket start ms, average]`, about [`CHART_POINTS`] of them.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at_ms: i64,
    pub period: Period,
    pub grade: Grade,
    pub reasons: Vec<String>,
    pub summary: Vec<Number>,
    pub sli: Vec<ProbeSli>,
    pub capacity: Vec<Headroom>,
    pub process_groups: Vec<ProcessGroup>,
    pub trends: Vec<Trend>,
}

/// Points per chart line: enough to show daily shape over a week, small enough for a PDF.
pub const CHART_POINTS: i64 = 168;
/// Process groups shown, by average CPU.
const TOP_GROUPS: usize = 5;

/// The charts and the series drawn on them, with the label that names a line.
const CHARTS: &[(&str, &str, &[&str], Unit)] = &[
    ("cpu", "pulse:cpu_utilisation:ratio", &[], Unit::Ratio),
    ("memory", "pulse:memory_available:ratio", &[], Unit::Ratio),
    (
        "disk",
        "pulse:filesystem_used:ratio",
        &["mountpoint"],
        Unit::Ratio,
    ),
    (
        "disk_io",
        "pulse:disk_read_bytes:rate",
        &["device"],
        Unit::BytesPerSecond,
    ),
    (
        "disk_io",
        "pulse:disk_written_bytes:rate",
        &["device"],
        Unit::BytesPerSecond,
    ),
    (
        "network",
        "pulse:network_receive_bytes:rate",
        &["device"],
        Unit::BytesPerSecond,
    ),
    (
        "network",
        "pulse:network_transmit_bytes:rate",
        &["device"],
        Unit::BytesPerSecond,
    ),
    (
        "processes",
        "pulse:process_cpu:rate",
        &["groupname"],
        Unit::Cores,
    ),
];

/// Builds the report over `period`; `progress` advances once per series read.
pub fn build(
    reader: &Reader,
    period: Period,
    now_ms: i64,
    progress: &ProgressBar,
) -> Result<Report, ReportError> {
    let (start, end) = (period.start_ms, period.end_ms);
    let mut names: Vec<&str> = CHARTS.iter().map(|c| c.1).collect();
    names.extend([
        "probe_success",
        "pulse:probe_latency:seconds",
        "pulse:process_rss:bytes",
    ]);
    let summaries = window::summarise(reader, &names, start, end)?;
    progress.set_length(summaries.len() as u64 + 1);
    progress.inc(1);
    let named = |name: &'static str| summaries.iter().filter(move |s| s.series.name == name);

    let mut sli = Vec::new();
    for s in named("probe_success") {
        let probe = s.name(&["target", "module"]);
        let latency = named("pulse:probe_latency:seconds")
            .find(|l| l.series.target == s.series.target && l.series.labels == s.series.labels);
        let p95 = match latency {
            Some(l) => {
                let mut values: Vec<f64> = window::values(reader, l.series.id, start, end)?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                values.sort_by(f64::total_cmp);
                percentile(&values, 95.0)
            }
            None => None,
        };
        let level = health::PROBE_SUCCESS
            .level(s.avg)
            .max(latency.map_or(Level::Ok, |l| health::PROBE_LATENCY.level(l.avg)));
        sli.push(ProbeSli {
            probe,
            samples: s.count,
            availability: s.avg,
            latency_avg_seconds: latency.map(|l| l.avg),
            latency_p95_seconds: p95,
            latency_max_seconds: latency.map(|l| l.max),
            level,
        });
    }

    let mut capacity = Vec::new();
    for s in named("pulse:cpu_utilisation:ratio") {
        capacity.push(Headroom {
            resource: "cpu",
            subject: s.name(&[]),
            average: s.avg,
            peak: s.max,
            headroom: 1.0 - s.max,
            level: health::CPU.level(s.avg),
        });
    }
    for s in named("pulse:memory_available:ratio") {
        capacity.push(Headroom {
            resource: "memory",
            subject: s.name(&[]),
            average: 1.0 - s.avg,
            peak: 1.0 - s.min,
            headroom: s.min,
            level: health::MEMORY_AVAILABLE.level(s.min),
        });
    }
    for s in named("pulse:filesystem_used:ratio") {
        capacity.push(Headroom {
            resource: "filesystem",
            subject: s.name(&["mountpoint"]),
            average: s.avg,
            peak: s.max,
            headroom: 1.0 - s.max,
            level: health::FILESYSTEM_USED.level(s.max),
        });
    }

    let mut groups: BTreeMap<String, ProcessGroup> = BTreeMap::new();
    for s in named("pulse:process_cpu:rate").chain(named("pulse:process_rss:bytes")) {
        let groupname = s.name(&["groupname"]);
        let entry = groups.entry(groupname.clone()).or_insert(ProcessGroup {
            groupname,
            cpu_cores_avg: None,
            rss_bytes_max: None,
        });
        if s.series.name == "pulse:process_cpu:rate" {
            entry.cpu_cores_avg = Some(s.avg);
        } else {
            entry.rss_bytes_max = Some(s.max);
        }
    }
    let mut process_groups: Vec<ProcessGroup> = groups.into_values().collect();
    process_groups.sort_by(|a, b| {
        b.cpu_cores_avg
            .unwrap_or(0.0)
            .total_cmp(&a.cpu_cores_avg.unwrap_or(0.0))
    });
    process_groups.truncate(TOP_GROUPS);

    let step = ((end - start) / CHART_POINTS).max(1);
    let mut trends = Vec::new();
    for (chart, name, keys, unit) in CHARTS {
        for s in named(name) {
            progress.inc(1);
            if *chart == "processes"
                && !process_groups
                    .iter()
                    .any(|g| g.groupname == s.name(&["groupname"]))
            {
                continue;
            }
            let metric = name.trim_start_matches("pulse:").replace(':', " ");
            let series = if chart.starts_with("disk_io") || *chart == "network" {
                format!("{} {metric}", s.name(keys))
            } else {
                s.name(keys)
            };
            trends.push(Trend {
                chart,
                series,
                unit: *unit,
                min: s.min,
                max: s.max,
                avg: s.avg,
                first: s.first.1,
                last: s.last.1,
                points: window::buckets(reader, s.series.id, start, end, step)?,
            });
        }
    }

    let mut levels: Vec<(Level, String)> = Vec::new();
    for h in &capacity {
        levels.push((
            h.level,
            format!(
                "{} {}: peak {}, headroom {}",
                h.resource,
                h.subject,
                Unit::Ratio.show(h.peak),
                Unit::Ratio.show(h.headroom)
            ),
        ));
    }
    for p in &sli {
        levels.push((
            p.level,
            format!(
                "probe {}: {} available",
                p.probe,
                Unit::Ratio.show(p.availability)
            ),
        ));
    }
    levels.sort_by_key(|l| std::cmp::Reverse(l.0));
    let grade = if summaries.is_empty() {
        Grade::Unknown
    } else {
        health::grade_of(levels.iter().map(|l| l.0))
    };
    let reasons = levels
        .into_iter()
        .filter(|l| l.0 >= Level::Notice)
        .map(|l| l.1)
        .collect();

    let summary = headline(&capacity, &sli, &summaries);
    progress.finish_and_clear();
    Ok(Report {
        generated_at_ms: now_ms,
        period,
        grade,
        reasons,
        summary,
        sli,
        capacity,
        process_groups,
        trends,
    })
}

fn headline(capacity: &[Headroom], sli: &[ProbeSli], summaries: &[Summary]) -> Vec<Number> {
    let mut out = Vec::new();
    let mut push = |name, value: f64, unit: Unit| {
        out.push(Number {
            name,
            value,
            display: unit.show(value),
        });
    };
    let cpu = capacity.iter().filter(|h| h.resource == "cpu");
    if let Some(h) = cpu.clone().max_by(|a, b| a.average.total_cmp(&b.average)) {
        push("cpu_average", h.average, Unit::Ratio);
    }
    if let Some(h) = cpu.max_by(|a, b| a.peak.total_cmp(&b.peak)) {
        push("cpu_peak", h.peak, Unit::Ratio);
    }
    if let Some(h) = capacity
        .iter()
        .filter(|h| h.resource == "memory")
        .min_by(|a, b| a.headroom.total_cmp(&b.headroom))
    {
        push("memory_available_min", h.headroom, Unit::Ratio);
    }
    if let Some(h) = capacity
        .iter()
        .filter(|h| h.resource == "filesystem")
        .max_by(|a, b| a.peak.total_cmp(&b.peak))
    {
        push("filesystem_fullest", h.peak, Unit::Ratio);
    }
    let probes: u64 = sli.iter().map(|p| p.samples).sum();
    if probes > 0 {
        let ok: f64 = sli.iter().map(|p| p.availability * p.samples as f64).sum();
        push("availability", ok / probes as f64, Unit::Ratio);
    }
    push(
        "samples",
        summaries.iter().map(|s| s.count as f64).sum(),
        Unit::Count,
    );
    out
}
