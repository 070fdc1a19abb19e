//! `node_schedstat_*{cpu}` from `/proc/schedstat`: per CPU, the time spent running tasks, the
//! time runnable tasks spent waiting for it, and the timeslices run, as node_exporter's
//! `schedstat` collector. Waiting time is CPU saturation measured directly, where load average
//! mixes in tasks blocked on I/O.
//!
//! Kernels built without `CONFIG_SCHEDSTATS` have no file: nothing to report.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "schedstat",
    default_enabled: true,
    help: "Per-CPU scheduler running and run-queue waiting time from /proc/schedstat.",
    build,
};

/// The families, by the field of a `cpuN` line they come from (0 is the first number after the
/// name: `yld_count sched_switch sched_count sched_goidle ttwu_count ttwu_local rq_cpu_time
/// run_delay pcount`, see the kernel's `Documentation/scheduler/sched-stats.rst`) and the
/// divisor to their unit.
const FAMILIES: [(&str, &str, usize, f64); 3] = [
    (
        "node_schedstat_running_seconds_total",
        "Number of seconds CPU spent running a process.",
        6,
        1e9,
    ),
    (
        "node_schedstat_waiting_seconds_total",
        "Number of seconds spent by processing waiting for this CPU.",
        7,
        1e9,
    ),
    (
        "node_schedstat_timeslices_total",
        "Number of timeslices executed by CPU.",
        8,
        1.0,
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(SchedstatCollector {
        path: ctx.paths.proc("schedstat"),
    }))
}

struct SchedstatCollector {
    path: PathBuf,
}

impl Collector for SchedstatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(text) = read_file_if_present(&self.path)? else {
            return Ok(());
        };
        let cpus = parse(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        for (name, help, field, divisor) in FAMILIES {
            let family = out.family(name, help, Kind::Counter);
            for (cpu, fields) in &cpus {
                family.sample(&[("cpu", cpu)], fields[field] as f64 / divisor);
            }
        }
        Ok(())
    }
}

/// The `cpuN` lines: the CPU's number and its nine counters. `domainN` lines are skipped.
fn parse(text: &str) -> Result<Vec<(&str, [u64; 9])>, String> {
    let mut cpus = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        let Some(cpu) = words.next().and_then(|w| w.strip_prefix("cpu")) else {
            continue;
        };
        let bad = || format!("line {}: expected cpuN and 9 numbers", index + 1);
        let mut fields = [0u64; 9];
        for field in &mut fields {
            *field = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        }
        cpus.push((cpu, fields));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDSTAT: &str = "version 15
timestamp 4297299139
cpu0 0 0 0 0 0 0 2045936778163039 343796328169361 4767485306
domain0 00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000003 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
cpu1 0 0 0 0 0 0 2040753339186007 337856335880567 4729316546
";

    #[test]
    fn reads_each_cpu_line_and_skips_domains() {
        let cpus = parse(SCHEDSTAT).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[1].0, "1");
        assert_eq!(cpus[0].1[6], 2045936778163039);
        assert_eq!(cpus[0].1[7], 343796328169361);
        assert_eq!(cpus[0].1[8], 4767485306);
        assert_eq!(
            parse("cpu0 1 2 3\n").unwrap_err(),
            "line 1: expected cpuN and 9 numbers"
        );
    }

    #[test]
    fn a_kernel_without_schedstats_is_nothing_to_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::default();
        SchedstatCollector {
            path: dir.path().join("schedstat"),
        }
        .collect(&mut out)
        .unwrap();
        assert!(out.families.is_empty());
    }
}
