//! Pressure stall information from `/proc/pressure/{cpu,io,memory,irq}`, as node_exporter's
//! `pressure` collector: the cumulative stall time of the `some` line becomes
//! `node_pressure_<resource>_waiting_seconds_total`, that of the `full` line
//! `node_pressure_<resource>_stalled_seconds_total`.
//!
//! Only the totals are exported: the kernel's `avg10/60/300` are `rate()` of them.

use std::io::ErrorKind;
use std::path::PathBuf;

use procfs_core::parse_pressure_record;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "pressure",
    default_enabled: true,
    help: "Pressure stall information (PSI) from /proc/pressure.",
    build,
};

/// Resource, help for `some` (waiting), help for `full` (stalled). The kernel reports no
/// `some` line for irq, and system-wide CPU `full` only since Linux 5.13.
const RESOURCES: [(&str, &str, &str); 4] = [
    (
        "cpu",
        "Total time in seconds that processes have waited for CPU time",
        "Total time in seconds no process could make progress due to CPU congestion",
    ),
    (
        "io",
        "Total time in seconds that processes have waited due to IO congestion",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        "Total time in seconds that processes have waited for memory",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        "Total time in seconds that processes have waited due to IRQ congestion",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(PressureCollector {
        dir: ctx.paths.proc("pressure"),
    }))
}

struct PressureCollector {
    dir: PathBuf,
}

impl Collector for PressureCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        for (resource, some_help, full_help) in RESOURCES {
            let path = self.dir.join(resource);
            let text = match read_file(&path) {
                Ok(text) => text,
                // irq pressure needs Linux 6.1 and CONFIG_IRQ_TIME_ACCOUNTING: optional.
                Err(CollectorError::Io { source, .. })
                    if resource == "irq" && source.kind() == ErrorKind::NotFound =>
                {
                    continue;
                }
                // No file: a kernel before 4.20 or without CONFIG_PSI. EOPNOTSUPP: booted
                // with psi=0. Neither is a fault of ours.
                Err(CollectorError::Io { source, .. })
                    if source.kind() == ErrorKind::NotFound
                        || source.kind() == ErrorKind::Unsupported =>
                {
                    return Err(CollectorError::NoData(format!(
                        "{}: {source} (needs Linux >= 4.20 with PSI enabled)",
                        path.display()
                    )));
                }
                Err(other) => return Err(other),
            };
            let (some, full) = parse_totals(&text).map_err(|m| CollectorError::parse(&path, m))?;
            if let Some(some) = some {
                let name = format!("node_pressure_{resource}_waiting_seconds_total");
                out.family(name, some_help, Kind::Counter).sample(&[], some);
            }
            if let Some(full) = full {
                let name = format!("node_pressure_{resource}_stalled_seconds_total");
                out.family(name, full_help, Kind::Counter).sample(&[], full);
            }
        }
        Ok(())
    }
}

/// The `total=` of the `some` and `full` lines, converted from microseconds to seconds.
fn parse_totals(text: &str) -> Result<(Option<f64>, Option<f64>), String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record = parse_pressure_record(line).map_err(|e| format!("bad line {line:?}: {e}"))?;
        let seconds = Some(record.total as f64 / 1e6);
        if line.starts_with("some") {
            some = seconds;
        } else {
            full = seconds;
        }
    }
    if some.is_none() && full.is_none() {
        return Err("neither a some nor a full line".into());
    }
    Ok((some, full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_microseconds() {
        let text = "some avg10=7.97 avg60=4.80 avg300=2.28 total=146216661\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n";
        assert_eq!(parse_totals(text).unwrap(), (Some(146.216661), Some(2.5)));
    }

    #[test]
    fn irq_has_only_full() {
        let text = "full avg10=0.00 avg60=0.00 avg300=0.00 total=62500\n";
        assert_eq!(parse_totals(text).unwrap(), (None, Some(0.0625)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_totals("some total=x\n").is_err());
        assert!(parse_totals("\n").is_err());
    }
}
