//! Kernel activity counters from `/proc/stat`, as node_exporter's `stat` collector:
//! context switches, interrupts, forks, boot time, running and blocked processes.
//!
//! A small parser of its own because `procfs_core::KernelStats` has no `intr` total and would
//! parse every per-CPU line, which the `cpu` collector already reads.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "stat",
    default_enabled: true,
    help: "Context switches, interrupts, forks, boot time and process states from /proc/stat.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(StatCollector {
        path: ctx.paths.proc("stat"),
    }))
}

struct StatCollector {
    path: PathBuf,
}

#[derive(Debug, Default, PartialEq)]
struct KernelActivity {
    intr: Option<f64>,
    ctxt: Option<f64>,
    btime: Option<f64>,
    processes: Option<f64>,
    procs_running: Option<f64>,
    procs_blocked: Option<f64>,
}

impl Collector for StatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let stat = parse_stat(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        let missing = |field: &str| CollectorError::parse(&self.path, format!("no {field} line"));
        out.counter(
            "node_intr_total",
            "Total number of interrupts serviced.",
            stat.intr.ok_or_else(|| missing("intr"))?,
        );
        out.counter(
            "node_context_switches_total",
            "Total number of context switches.",
            stat.ctxt.ok_or_else(|| missing("ctxt"))?,
        );
        out.counter(
            "node_forks_total",
            "Total number of forks.",
            stat.processes.ok_or_else(|| missing("processes"))?,
        );
        out.gauge(
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            stat.btime.ok_or_else(|| missing("btime"))?,
        );
        // Older than Linux 2.5.45 these two lines do not exist; nothing to report then.
        if let Some(running) = stat.procs_running {
            out.gauge(
                "node_procs_running",
                "Number of processes in runnable state.",
                running,
            );
        }
        if let Some(blocked) = stat.procs_blocked {
            out.gauge(
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                blocked,
            );
        }
        Ok(())
    }
}

/// The non-CPU lines of `/proc/stat` that node_exporter exports. For `intr` only the first
/// number (the total) is read; the per-IRQ counts follow it.
fn parse_stat(text: &str) -> Result<KernelActivity, String> {
    let mut stat = KernelActivity::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("intr") => &mut stat.intr,
            Some("ctxt") => &mut stat.ctxt,
            Some("btime") => &mut stat.btime,
            Some("processes") => &mut stat.processes,
            Some("procs_running") => &mut stat.procs_running,
            Some("procs_blocked") => &mut stat.procs_blocked,
            _ => continue,
        };
        let value = fields
            .next()
            .ok_or_else(|| format!("no value in line {line:?}"))?;
        *slot = Some(
            value
                .parse::<u64>()
                .map_err(|_| format!("bad value {value:?} in line {line:?}"))? as f64,
        );
    }
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_totals_and_ignores_cpu_lines() {
        let text = "cpu  117318 0 34485 2420626 2727 0 345 4412 0 0\n\
                    cpu0 55433 0 17250 1213925 749 0 45 2307 0 0\n\
                    intr 1045183 0 0 7 0\nctxt 1230767\nbtime 1795387713\n\
                    processes 33518\nprocs_running 3\nprocs_blocked 1\n\
                    softirq 760064 0 171981 6\n";
        assert_eq!(
            parse_stat(text).unwrap(),
            KernelActivity {
                intr: Some(1045183.0),
                ctxt: Some(1230767.0),
                btime: Some(1795387713.0),
                processes: Some(33518.0),
                procs_running: Some(3.0),
                procs_blocked: Some(1.0),
            }
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        assert!(parse_stat("ctxt many\n").is_err());
        assert!(parse_stat("btime\n").is_err());
        assert_eq!(parse_stat("").unwrap(), KernelActivity::default());
    }
}
