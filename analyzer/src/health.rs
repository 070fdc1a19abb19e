//! `check`: an emergency health check over the last few minutes of history, graded
//! EXCELLENT … CRITICAL, with the Nagios exit convention so it drops into cron and existing
//! monitoring (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//!
//! It reads the derived series (`pulse:*`, computed at ingest) where they exist and the raw
//! node metrics otherwise. Every threshold is a named constant below with the reason for
//! its value, so an on-call engineer can see why a check fired.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::storage::{Reader, StoreError};
use crate::window::{self, Summary};

/// How bad one measurement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Worth a look, not yet a problem: keeps the grade at GOOD instead of EXCELLENT.
    Notice,
    Warning,
    Critical,
}

/// Overall grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Grade {
    Excellent,
    Good,
    Fair,
    Poor,
    Critical,
    /// No data in the window: nothing can be said about the host.
    Unknown,
}

impl Grade {
    /// Nagios plugin exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Grade::Excellent | Grade::Good => 0,
            Grade::Fair | Grade::Poor => 1,
            Grade::Critical => 2,
            Grade::Unknown => 3,
        }
    }

    /// Nagios service state.
    pub fn state(self) -> &'static str {
        match self.exit_code() {
            0 => "OK",
            1 => "WARNING",
            2 => "CRITICAL",
            _ => "UNKNOWN",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Grade::Excellent => "EXCELLENT",
            Grade::Good => "GOOD",
            Grade::Fair => "FAIR",
            Grade::Poor => "POOR",
            Grade::Critical => "CRITICAL",
            Grade::Unknown => "UNKNOWN",
        }
    }
}

/// Notice / warning / critical boundaries of one check.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub notice: f64,
    pub warning: f64,
    pub critical: f64,
    /// `false` when low values are bad (available memory).
    pub higher_is_worse: bool,
}

impl Limits {
    const fn high(notice: f64, warning: f64, critical: f64) -> Self {
        Self {
            notice,
            warning,
            critical,
            higher_is_worse: true,
        }
    }

    pub fn level(&self, value: f64) -> Level {
        let beyond = |limit: f64| {
            if self.higher_is_worse {
                value >= limit
            } else {
                value <= limit
            }
        };
        if beyond(self.critical) {
            Level::Critical
        } else if beyond(self.warning) {
            Level::Warning
        } else if beyond(self.notice) {
            Level::Notice
        } else {
            Level::Ok
        }
    }
}

/// Average CPU busy share: sustained >95 % means run queues grow and latency follows.
pub const CPU: Limits = Limits::high(0.70, 0.85, 0.95);
/// MemAvailable share: under 5 % the kernel reclaims hard and the OOM killer is near.
pub const MEMORY_AVAILABLE: Limits = Limits {
    notice: 0.25,
    warning: 0.10,
    critical: 0.05,
    higher_is_worse: false,
};
/// Swap in use: heavy swap use on a server means the working set no longer fits.
pub const SWAP_USED: Limits = Limits::high(0.25, 0.50, 0.80);
/// 1-minute load per core: above 2 tasks wait for every core.
pub const LOAD_PER_CORE: Limits = Limits::high(0.7, 1.0, 2.0);
/// PSI "some" share of time stalled on CPU.
pub const PSI_CPU: Limits = Limits::high(0.05, 0.20, 0.50);
/// PSI share of time stalled on memory or I/O: memory stalls hurt earlier than CPU stalls.
pub const PSI_MEMORY_IO: Limits = Limits::high(0.02, 0.10, 0.30);
/// Filesystem fill: at 95 % ext4's reserve is nearly all that is left.
pub const FILESYSTEM_USED: Limits = Limits::high(0.75, 0.85, 0.95);
/// Connection-tracking table fill (its peak in the window): node-mixin warns at 75 %; at 100 %
/// the kernel drops new connections.
pub const CONNTRACK_USED: Limits = Limits::high(0.50, 0.75, 0.90);
/// Storage redundancy, as a number of the worst state in the window: 0 healthy, 1 running
/// without full redundancy (a degraded ZFS pool or md array), 2 unable to serve (a faulted or
/// unavailable pool).
pub const STORAGE_REDUNDANCY: Limits = Limits::high(0.5, 1.0, 2.0);
/// New btrfs device errors (I/O or checksum) in the window: any is a disk to look at.
pub const STORAGE_ERRORS: Limits = Limits::high(0.5, 1.0, f64::INFINITY);
/// Probe success share in the window: any failure in a 5-minute window is worth a warning,
/// most failing is down.
pub const PROBE_SUCCESS: Limits = Limits {
    notice: 0.999,
    warning: 0.99,
    critical: 0.5,
    higher_is_worse: false,
};
/// Average probe latency in seconds.
pub const PROBE_LATENCY: Limits = Limits::high(0.5, 1.0, 5.0);

/// One measured fact and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    /// Target plus the identifying labels (`local /home`).
    pub subject: String,
    pub value: f64,
    /// How `value` reads to a human (`87.0%`).
    pub display: String,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

/// The check's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub grade: Grade,
    pub state: &'static str,
    pub exit_code: u8,
    pub window_seconds: u64,
    pub checked_at_ms: i64,
    /// Why the grade is what it is, worst first.
    pub reasons: Vec<String>,
    pub actions: Vec<String>,
    pub findings: Vec<Finding>,
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        check: &'static str,
        subject: String,
        value: f64,
        display: String,
        limits: &Limits,
        action: &'static str,
    ) {
        let level = limits.level(value);
        self.0.push(Finding {
            check,
            subject,
            value,
            display,
            level,
            action: (level >= Level::Warning).then_some(action),
        });
    }
}

/// Runs every check over `[now - window, now]`.
pub fn check(path: &Path, window: std::time::Duration, now_ms: i64) -> Result<Health, StoreError> {
    let window_ms = window.as_millis() as i64;
    let start = now_ms - window_ms;
    let unknown = |reason: String| Health {
        grade: Grade::Unknown,
        state: Grade::Unknown.state(),
        exit_code: Grade::Unknown.exit_code(),
        window_seconds: window.as_secs(),
        checked_at_ms: now_ms,
        reasons: vec![reason],
        actions: vec![
            "start the analyzer (`pulse-analyzer run`) and check that it can reach its targets"
                .into(),
        ],
        findings: Vec::new(),
    };
    if !path.exists() {
        return Ok(unknown(format!(
            "no history database at {}",
            path.display()
        )));
    }
    let reader = Reader::open(path)?;
    let summaries = window::summarise(&reader, NAMES, start, now_ms)?;
    if summaries.is_empty() {
        let newest = reader
            .stats()?
            .targets
            .iter()
            .map(|t| t.last_scrape_ms)
            .max();
        return Ok(unknown(match newest {
            Some(ms) => format!(
                "no samples in the last {}: the newest scrape is {} old",
                humantime::format_duration(window),
                humantime::format_duration(std::time::Duration::from_secs(
                    ((now_ms - ms).max(0) / 1000) as u64
                ))
            ),
            None => "the history database holds no scrapes".to_owned(),
        }));
    }
    let mut findings = Findings(Vec::new());
    freshness(&reader, start, &mut findings)?;
    resources(&summaries, &mut findings);
    let mut findings = findings.0;
    findings.sort_by(|a, b| b.level.cmp(&a.level).then(a.check.cmp(b.check)));
    Ok(grade(findings, window, now_ms))
}

/// Scrapes: a target not scraped within the window, or whose last scrape failed, means the
/// numbers below describe the past, so it is critical in itself.
fn freshness(reader: &Reader, start: i64, findings: &mut Findings) -> Result<(), StoreError> {
    for t in reader.stats()?.targets {
        let (level, display, action) = if !t.success {
            (
                Level::Critical,
                format!("last scrape failed: {}", t.error.unwrap_or_default()),
                "check that the exporter is running and reachable from the analyzer",
            )
        } else if t.last_scrape_ms < start {
            (
                Level::Critical,
                "stale: no scrape within the window".to_owned(),
                "the analyzer is not scraping: check `pulse-analyzer status` and its logs",
            )
        } else {
            (Level::Ok, "fresh".to_owned(), "")
        };
        findings.0.push(Finding {
            check: "scrape",
            subject: t.target,
            value: t.last_scrape_ms as f64,
            display,
            level,
            action: (level >= Level::Warning).then_some(action),
        });
    }
    Ok(())
}

const NAMES: &[&str] = &[
    "pulse:cpu_utilisation:ratio",
    "pulse:memory_available:ratio",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_load1",
    "node_cpu_seconds_total",
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "pulse:filesystem_used:ratio",
    "node_nf_conntrack_entries",
    "node_nf_conntrack_entries_limit",
    "node_zfs_zpool_state",
    "node_md_disks_required",
    "node_md_disks",
    "node_btrfs_device_errors_total",
    "probe_success",
    "pulse:probe_latency:seconds",
];

fn resources(summaries: &[Summary], findings: &mut Findings) {
    let named = |name: &'static str| summaries.iter().filter(move |s| s.series.name == name);
    for s in named("pulse:cpu_utilisation:ratio") {
        findings.add(
            "cpu",
            s.name(&[]),
            s.avg,
            percent(s.avg),
            &CPU,
            "find the busiest processes (top process groups in the report, or `top`) and shed or move load",
        );
    }
    for s in named("pulse:memory_available:ratio") {
        findings.add(
            "memory",
            s.name(&[]),
            s.last.1,
            format!("{} available", percent(s.last.1)),
            &MEMORY_AVAILABLE,
            "find the largest resident process groups; restart leaking services or add memory",
        );
    }
    let swap_free: BTreeMap<&str, f64> = named("node_memory_SwapFree_bytes")
        .map(|s| (s.series.target.as_str(), s.last.1))
        .collect();
    for s in named("node_memory_SwapTotal_bytes").filter(|s| s.last.1 > 0.0) {
        if let Some(free) = swap_free.get(s.series.target.as_str()) {
            let used = 1.0 - free / s.last.1;
            findings.add(
                "swap",
                s.name(&[]),
                used,
                format!("{} used", percent(used)),
                &SWAP_USED,
                "memory is overcommitted: reduce the working set or add memory",
            );
        }
    }
    let mut cores: BTreeMap<&str, usize> = BTreeMap::new();
    for s in named("node_cpu_seconds_total")
        .filter(|s| s.series.labels.get("mode").is_some_and(|m| m == "idle"))
    {
        *cores.entry(s.series.target.as_str()).or_default() += 1;
    }
    for s in named("node_load1") {
        if let Some(n) = cores.get(s.series.target.as_str()) {
            let per_core = s.last.1 / *n as f64;
            findings.add(
                "load",
                s.name(&[]),
                per_core,
                format!("{per_core:.2} per core ({n} cores)"),
                &LOAD_PER_CORE,
                "tasks are queueing for CPU or blocked on I/O: see the PSI and CPU findings",
            );
        }
    }
    for (name, check, limits, action) in [
        (
            "node_pressure_cpu_waiting_seconds_total",
            "psi_cpu",
            &PSI_CPU,
            "tasks are stalled waiting for CPU: shed load or add cores",
        ),
        (
            "node_pressure_memory_waiting_seconds_total",
            "psi_memory",
            &PSI_MEMORY_IO,
            "tasks are stalled on memory reclaim: free memory before the OOM killer acts",
        ),
        (
            "node_pressure_io_waiting_seconds_total",
            "psi_io",
            &PSI_MEMORY_IO,
            "tasks are stalled on I/O: find the busiest disk and its writers",
        ),
    ] {
        for s in named(name) {
            if let Some(share) = s.rate() {
                findings.add(
                    check,
                    s.name(&[]),
                    share,
                    format!("{} of time stalled", percent(share)),
                    limits,
                    action,
                );
            }
        }
    }
    for s in named("pulse:filesystem_used:ratio") {
        findings.add(
            "filesystem",
            s.name(&["mountpoint"]),
            s.last.1,
            format!("{} full", percent(s.last.1)),
            &FILESYSTEM_USED,
            "free space now: old logs, caches, core dumps; then grow the filesystem",
        );
    }
    let conntrack_limits: BTreeMap<&str, f64> = named("node_nf_conntrack_entries_limit")
        .map(|s| (s.series.target.as_str(), s.last.1))
        .collect();
    for s in named("node_nf_conntrack_entries") {
        if let Some(limit) = conntrack_limits
            .get(s.series.target.as_str())
            .filter(|l| **l > 0.0)
        {
            let used = s.max / limit;
            findings.add(
                "conntrack",
                s.name(&[]),
                used,
                format!("{} of {limit:.0} entries at peak", percent(used)),
                &CONNTRACK_USED,
                "raise net.netfilter.nf_conntrack_max before new connections are dropped",
            );
        }
    }
    for s in named("node_zfs_zpool_state").filter(|s| s.max >= 1.0) {
        let state = s.series.labels.get("state").map_or("", String::as_str);
        let worst = match state {
            "online" => continue,
            "faulted" | "unavail" => 2.0,
            _ => 1.0,
        };
        findings.add(
            "zfs_pool",
            s.name(&["zpool"]),
            worst,
            format!("{state} in the window"),
            &STORAGE_REDUNDANCY,
            "see `zpool status -x`; replace the failed device and let the pool resilver",
        );
    }
    let active_disks: BTreeMap<(&str, Option<&String>), f64> = named("node_md_disks")
        .filter(|s| s.series.labels.get("state").is_some_and(|v| v == "active"))
        .map(|s| {
            (
                (s.series.target.as_str(), s.series.labels.get("device")),
                s.min,
            )
        })
        .collect();
    for s in named("node_md_disks_required") {
        let key = (s.series.target.as_str(), s.series.labels.get("device"));
        if let Some(active) = active_disks.get(&key) {
            let missing = (s.max - active).max(0.0);
            findings.add(
                "raid",
                s.name(&["device"]),
                missing.min(1.0),
                format!("{missing:.0} of {:.0} disks missing at worst", s.max),
                &STORAGE_REDUNDANCY,
                "see /proc/mdstat; replace the failed disk and let the array rebuild",
            );
        }
    }
    for s in named("node_btrfs_device_errors_total") {
        let new_errors = (s.last.1 - s.first.1).max(0.0);
        findings.add(
            "btrfs_errors",
            s.name(&["uuid", "devid", "type"]),
            new_errors,
            format!("{new_errors:.0} new errors"),
            &STORAGE_ERRORS,
            "see `btrfs device stats`; scrub the filesystem and replace the disk",
        );
    }
    for s in named("probe_success") {
        findings.add(
            "probe",
            s.name(&["target", "module"]),
            s.avg,
            format!("{} successful", percent(s.avg)),
            &PROBE_SUCCESS,
            "the probed service is failing: check it and its dependencies",
        );
    }
    for s in named("pulse:probe_latency:seconds") {
        findings.add(
            "probe_latency",
            s.name(&["target", "module"]),
            s.avg,
            format!("{:.3}s average", s.avg),
            &PROBE_LATENCY,
            "the probed service is slow: check its load and its backends",
        );
    }
}

/// The grade rule, shared with `report`: any critical finding is CRITICAL, two or more
/// warnings POOR, one FAIR, notices only GOOD, nothing EXCELLENT.
pub fn grade_of(levels: impl IntoIterator<Item = Level>) -> Grade {
    let mut count = [0usize; 4];
    for level in levels {
        count[level as usize] += 1;
    }
    if count[Level::Critical as usize] > 0 {
        Grade::Critical
    } else if count[Level::Warning as usize] >= 2 {
        Grade::Poor
    } else if count[Level::Warning as usize] == 1 {
        Grade::Fair
    } else if count[Level::Notice as usize] > 0 {
        Grade::Good
    } else {
        Grade::Excellent
    }
}

fn grade(findings: Vec<Finding>, window: std::time::Duration, now_ms: i64) -> Health {
    let grade = grade_of(findings.iter().map(|f| f.level));
    let reasons: Vec<String> = findings
        .iter()
        .filter(|f| f.level >= Level::Notice)
        .map(|f| format!("{} {}: {}", f.check, f.subject, f.display))
        .collect();
    let mut actions: Vec<String> = Vec::new();
    for action in findings.iter().filter_map(|f| f.action) {
        if !actions.iter().any(|a| a == action) {
            actions.push(action.to_owned());
        }
    }
    Health {
        grade,
        state: grade.state(),
        exit_code: grade.exit_code(),
        window_seconds: window.as_secs(),
        checked_at_ms: now_ms,
        reasons,
        actions,
        findings,
    }
}

/// Nagios-style text: the first line is the status line (`PULSE WARNING - grade FAIR: …`).
pub fn write_text(health: &Health, out: &mut impl Write) -> std::io::Result<()> {
    let headline = health
        .reasons
        .first()
        .map_or_else(|| "all checks within limits".to_owned(), Clone::clone);
    writeln!(
        out,
        "PULSE {} - grade {}: {headline}",
        health.state,
        health.grade.name()
    )?;
    if !health.findings.is_empty() {
        writeln!(out, "\nFindings over the last {}s:", health.window_seconds)?;
    }
    for f in &health.findings {
        let level = format!("{:?}", f.level).to_uppercase();
        writeln!(
            out,
            "  {level:<8} {:<14} {:<30} {}",
            f.check, f.subject, f.display
        )?;
    }
    if health.findings.is_empty() {
        // The first reason is already the status line.
        for reason in health.reasons.iter().skip(1) {
            writeln!(out, "  {reason}")?;
        }
    }
    if !health.actions.is_empty() {
        writeln!(out, "\nImmediate actions:")?;
        for action in &health.actions {
            writeln!(out, "  - {action}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Point, Policy, Store, TargetStatus};
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000_000;

    fn store(path: &Path) -> Store {
        let policy = Policy {
            raw: Duration::from_secs(86_400),
            rollups: Duration::from_secs(86_400 * 30),
            rollup_step: Duration::from_secs(300),
            grace: Duration::from_secs(30),
        };
        Store::open(path, policy).unwrap()
    }

    /// Twenty scrapes 15 s apart ending at NOW, each with the given series.
    fn fill(path: &Path, series: &[Spec], ok: bool) {
        let mut store = store(path);
        for i in 0..20 {
            let ts = NOW - (19 - i) * 15_000;
            let labels: Vec<Vec<(String, String)>> = series
                .iter()
                .map(|(_, l, _, _)| {
                    l.iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect()
                })
                .collect();
            let points = series
                .iter()
                .zip(&labels)
                .map(|((name, _, base, slope), labels)| Point {
                    name,
                    labels,
                    value: base + slope * i as f64 * 15.0,
                    ts_ms: ts,
                });
            let status = TargetStatus {
                target: "local".into(),
                last_scrape_ms: ts,
                success: ok,
                duration_seconds: 0.01,
                samples: series.len() as u64,
                error: (!ok).then(|| "connection refused".to_owned()),
            };
            store.ingest("local", points, &status).unwrap();
        }
    }

    const CPU0: &[(&str, &str)] = &[("cpu", "0"), ("mode", "idle")];
    const CPU1: &[(&str, &str)] = &[("cpu", "1"), ("mode", "idle")];
    const ROOT: &[(&str, &str)] = &[("mountpoint", "/")];

    /// Name, labels, first value, increase per second.
    type Spec = (
        &'static str,
        &'static [(&'static str, &'static str)],
        f64,
        f64,
    );

    fn healthy() -> Vec<Spec> {
        vec![
            ("pulse:cpu_utilisation:ratio", &[], 0.10, 0.0),
            ("pulse:memory_available:ratio", &[], 0.60, 0.0),
            ("node_memory_SwapTotal_bytes", &[], 1e9, 0.0),
            ("node_memory_SwapFree_bytes", &[], 1e9, 0.0),
            ("node_load1", &[], 0.2, 0.0),
            ("node_cpu_seconds_total", CPU0, 100.0, 1.0),
            ("node_cpu_seconds_total", CPU1, 100.0, 1.0),
            ("node_pressure_cpu_waiting_seconds_total", &[], 5.0, 0.001),
            ("pulse:filesystem_used:ratio", ROOT, 0.40, 0.0),
            ("probe_success", &[("target", "web")], 1.0, 0.0),
            (
                "pulse:probe_latency:seconds",
                &[("target", "web")],
                0.05,
                0.0,
            ),
        ]
    }

    #[test]
    fn healthy_host_is_excellent_and_exits_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        fill(&path, &healthy(), true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!(health.grade, Grade::Excellent, "{health:#?}");
        assert_eq!(health.exit_code, 0);
        let load = health.findings.iter().find(|f| f.check == "load").unwrap();
        assert!((load.value - 0.1).abs() < 1e-9, "0.2 load over 2 cores");
        let psi = health
            .findings
            .iter()
            .find(|f| f.check == "psi_cpu")
            .unwrap();
        assert!((psi.value - 0.001).abs() < 1e-9, "counter grows 1 ms per s");
        assert_eq!(health.findings.len(), 9, "scrape + 8 resource checks");
    }

    #[test]
    fn degraded_host_is_graded_with_reasons_and_actions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut series = healthy();
        series[0].2 = 0.90; // CPU: warning
        series[8].2 = 0.97; // filesystem: critical
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!(health.grade, Grade::Critical);
        assert_eq!(health.exit_code, 2);
        assert_eq!(health.findings[0].check, "filesystem");
        assert_eq!(health.findings[0].subject, "local /");
        assert!(
            health.reasons[0].contains("97.0% full"),
            "{:?}",
            health.reasons
        );
        assert_eq!(health.actions.len(), 2);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut series = healthy();
        series[0].2 = 0.90;
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!((health.grade, health.exit_code), (Grade::Fair, 1));
        let mut text = Vec::new();
        write_text(&health, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.starts_with("PULSE WARNING - grade FAIR: cpu local: 90.0%"),
            "{text}"
        );
    }

    #[test]
    fn a_conntrack_table_filling_up_is_graded_by_its_peak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut series = healthy();
        // 40,000 entries growing 20 a second: 45,700 of 65,536 (69.7 %) at the last scrape.
        series.push(("node_nf_conntrack_entries", &[], 40_000.0, 20.0));
        series.push(("node_nf_conntrack_entries_limit", &[], 65_536.0, 0.0));
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        let conntrack = health
            .findings
            .iter()
            .find(|f| f.check == "conntrack")
            .unwrap();
        assert!((conntrack.value - 45_700.0 / 65_536.0).abs() < 1e-9);
        assert_eq!(conntrack.level, Level::Notice);
        assert_eq!(health.grade, Grade::Good, "{health:#?}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let len = series.len();
        series[len - 1].2 = 50_000.0; // 91 % at the peak
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!(health.grade, Grade::Critical);
        assert!(
            health.reasons[0].contains("91.4% of 50000 entries at peak"),
            "{:?}",
            health.reasons
        );
    }

    #[test]
    fn degraded_storage_is_a_warning_and_a_faulted_pool_is_critical() {
        const ONLINE: &[(&str, &str)] = &[("zpool", "tank"), ("state", "online")];
        const DEGRADED: &[(&str, &str)] = &[("zpool", "tank"), ("state", "degraded")];
        const FAULTED: &[(&str, &str)] = &[("zpool", "tank"), ("state", "faulted")];
        const MD0: &[(&str, &str)] = &[("device", "md0")];
        const MD0_ACTIVE: &[(&str, &str)] = &[("device", "md0"), ("state", "active")];
        const DEV2_READ: &[(&str, &str)] = &[("uuid", "u1"), ("devid", "2"), ("type", "read")];
        const DEV1_READ: &[(&str, &str)] = &[("uuid", "u1"), ("devid", "1"), ("type", "read")];
        let mut series = healthy();
        series.push(("node_zfs_zpool_state", ONLINE, 0.0, 0.0));
        series.push(("node_zfs_zpool_state", DEGRADED, 1.0, 0.0));
        series.push(("node_zfs_zpool_state", FAULTED, 0.0, 0.0));
        series.push(("node_md_disks_required", MD0, 2.0, 0.0));
        series.push(("node_md_disks", MD0_ACTIVE, 1.0, 0.0));
        // Three new read errors on one device over the window; an old count on the other.
        series.push(("node_btrfs_device_errors_total", DEV2_READ, 0.0, 0.0105));
        series.push(("node_btrfs_device_errors_total", DEV1_READ, 5.0, 0.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        let level = |check: &str, subject: &str| {
            health
                .findings
                .iter()
                .find(|f| f.check == check && f.subject == subject)
                .map(|f| f.level)
        };
        assert_eq!(
            level("zfs_pool", "local tank"),
            Some(Level::Warning),
            "{health:#?}"
        );
        assert_eq!(level("raid", "local md0"), Some(Level::Warning));
        assert_eq!(
            level("btrfs_errors", "local u1 2 read"),
            Some(Level::Warning)
        );
        assert_eq!(level("btrfs_errors", "local u1 1 read"), Some(Level::Ok));
        // Three warnings at once.
        assert_eq!(health.grade, Grade::Poor);

        let faulted = series.iter().position(|s| s.1 == FAULTED).unwrap();
        series[faulted].2 = 1.0;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        fill(&path, &series, true);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!(health.grade, Grade::Critical);
        assert!(
            health.reasons[0].contains("faulted in the window"),
            "{:?}",
            health.reasons
        );
    }

    #[test]
    fn failed_scrape_is_critical_and_no_data_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        fill(&path, &healthy(), false);
        let health = check(&path, Duration::from_secs(300), NOW).unwrap();
        assert_eq!(health.grade, Grade::Critical);
        assert!(health.reasons[0].contains("connection refused"));

        // An hour later the same history is stale: nothing in the window.
        let health = check(&path, Duration::from_secs(300), NOW + 3_600_000).unwrap();
        assert_eq!((health.grade, health.exit_code), (Grade::Unknown, 3));
        assert!(
            health.reasons[0].contains("newest scrape is 1h"),
            "{:?}",
            health.reasons
        );

        let missing = check(&dir.path().join("none.db"), Duration::from_secs(300), NOW).unwrap();
        assert_eq!(missing.exit_code, 3);
    }

    #[test]
    fn limits_in_both_directions() {
        assert_eq!(CPU.level(0.5), Level::Ok);
        assert_eq!(CPU.level(0.95), Level::Critical);
        assert_eq!(MEMORY_AVAILABLE.level(0.2), Level::Notice);
        assert_eq!(MEMORY_AVAILABLE.level(0.04), Level::Critical);
        assert_eq!(PROBE_SUCCESS.level(1.0), Level::Ok);
        assert_eq!(PROBE_SUCCESS.level(0.95), Level::Warning);
    }
}
