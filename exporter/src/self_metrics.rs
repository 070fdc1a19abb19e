//! The exporter's own metrics: build info, scrape count and process figures.
//!
//! Process figures always come from the real `/proc/self`, never from `--path.procfs`,
//! which may point at a fixture tree.

use std::path::Path;

use procfs_core::FromRead;
use procfs_core::process::Stat;

use crate::collectors::kernel_files::fd_count;

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
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            boot_time() + stat.starttime as f64 / ticks,
        );
    }
    if let Ok(fds) = fd_count(Path::new("/proc/self/fd"), true) {
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            fds as f64,
        );
    }
    // One syscall; `/proc/self/limits` would have the kernel format all 16 limits.
    if let Some(max) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
}

/// The boot time `/proc/stat` reports as `btime` (whole seconds of the wall clock), worked out
/// from two vDSO clock reads instead: the kernel computes it the same way (`CLOCK_REALTIME`
/// minus `CLOCK_BOOTTIME`), so it follows clock steps just as the file does, while making the
/// kernel format the whole of `/proc/stat` (every CPU and interrupt) costs more than the rest
/// of these figures together.
fn boot_time() -> f64 {
    let seconds = |t: rustix::time::Timespec| t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9;
    let realtime = seconds(rustix::time::clock_gettime(rustix::time::ClockId::Realtime));
    let since_boot = seconds(rustix::time::clock_gettime(rustix::time::ClockId::Boottime));
    (realtime - since_boot).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_time_is_the_btime_of_proc_stat() {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let btime: f64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Equal but for a second boundary crossed by clock slewing between the two reads.
        assert!((boot_time() - btime).abs() <= 1.0);
    }

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
        let value = |name: &str| {
            let family = set.families.iter().find(|f| f.name == name).unwrap();
            match family.samples[0].value {
                crate::exposition::Value::Number(v) => v,
                ref other => panic!("{name}: {other:?}"),
            }
        };
        // getrlimit(2) and the limits file agree (the test runner's limit is never unlimited).
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft: f64 = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(value("process_max_fds"), soft);
        assert!(
            value("process_open_fds") >= 3.0,
            "stdin, stdout and stderr at least"
        );
    }
}
