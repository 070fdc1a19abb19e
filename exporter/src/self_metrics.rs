//! The exporter's own metrics: build info, scrape count and process figures.
//!
//! Process figures always come from the real `/proc/self`, never from `--path.procfs`,
//! which may point at a fixture tree.

use procfs_core::FromRead;
use procfs_core::process::{LimitValue, Limits, Stat};

use crate::exposition::{Kind, MetricSet};

pub fn collect(scrapes_total: u64, out: &mut MetricSet) {
    out.family(
        "pulse_build_info",
        "Build information of pulse-exporter; the value is always 1.",
        Kind::Gauge,
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("component", "exporter"),
        ],
        1.0,
    );
    out.counter(
        "pulse_exporter_scrapes_total",
        "Scrapes of the telemetry path served since start.",
        scrapes_total as f64,
    );
    process(out);
}

/// Process figures of the current process (shared with pulse-analyzer).
pub fn process(out: &mut MetricSet) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page_size = rustix::param::page_size() as f64;
    if let Ok(stat) = Stat::from_file("/proc/self/stat") {
        out.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            (stat.utime + stat.stime) as f64 / ticks,
        );
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            stat.rss as f64 * page_size,
        );
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            stat.vsize as f64,
        );
        out.gauge(
            "process_threads",
            "Number of OS threads in the process.",
            stat.num_threads as f64,
        );
        if let Some(boot) = boot_time() {
            out.gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                boot + stat.starttime as f64 / ticks,
            );
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            entries.count() as f64,
        );
    }
    if let Ok(limits) = Limits::from_file("/proc/self/limits")
        && let LimitValue::Value(max) = limits.max_open_files.soft_limit
    {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_build_info_and_process_figures() {
        let mut set = MetricSet::default();
        collect(7, &mut set);
        let names: Vec<_> = set.families.iter().map(|f| f.name.as_ref()).collect();
        for expected in [
            "pulse_build_info",
            "pulse_exporter_scrapes_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(names.contains(&expected), "missing {expected} in {names:?}");
        }
    }
}
