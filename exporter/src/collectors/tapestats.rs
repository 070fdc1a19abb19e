//! `node_tape_*{device}` from sysfs `class/scsi_tape/st<N>/stats/`, as node_exporter's
//! `tapestats` collector: per SCSI tape drive, I/Os in flight, reads and writes with their bytes
//! and time, other commands (seeks, rewinds) and residuals.
//!
//! Backup windows that overrun are usually a drive spending its time on other commands
//! (repositioning) or a slow source; `io_time` against read and write time tells which. Only
//! the rewinding devices `st<N>` are reported: `nst<N>` and the mode devices (`st0a`, …) are the
//! same drive again. No tape drives: nothing to report.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_u64, sorted_entries};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "tapestats",
    default_enabled: true,
    help: "SCSI tape drive I/O statistics from /sys/class/scsi_tape.",
    build,
};

/// Nanoseconds to seconds, multiplied as node_exporter does (so the values are the same
/// floats, to the last bit).
const NANOSECOND: f64 = 1e-9;

/// `stats/` files: the file, the metric, its help, its type and the factor to the unit.
const STATS: [(&str, &str, &str, Kind, f64); 10] = [
    (
        "in_flight",
        "node_tape_io_now",
        "The number of I/Os currently outstanding to this device.",
        Kind::Gauge,
        1.0,
    ),
    (
        "io_ns",
        "node_tape_io_time_seconds_total",
        "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.",
        Kind::Counter,
        NANOSECOND,
    ),
    (
        "other_cnt",
        "node_tape_io_others_total",
        "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
        Kind::Counter,
        1.0,
    ),
    (
        "read_byte_cnt",
        "node_tape_read_bytes_total",
        "The number of bytes read from the tape drive.",
        Kind::Counter,
        1.0,
    ),
    (
        "read_cnt",
        "node_tape_reads_completed_total",
        "The number of read requests issued to the tape drive.",
        Kind::Counter,
        1.0,
    ),
    (
        "read_ns",
        "node_tape_read_time_seconds_total",
        "The amount of time spent waiting for read requests to complete.",
        Kind::Counter,
        NANOSECOND,
    ),
    (
        "resid_cnt",
        "node_tape_residual_total",
        "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.",
        Kind::Counter,
        1.0,
    ),
    (
        "write_byte_cnt",
        "node_tape_written_bytes_total",
        "The number of bytes written to the tape drive.",
        Kind::Counter,
        1.0,
    ),
    (
        "write_cnt",
        "node_tape_writes_completed_total",
        "The number of write requests issued to the tape drive.",
        Kind::Counter,
        1.0,
    ),
    (
        "write_ns",
        "node_tape_write_time_seconds_total",
        "The amount of time spent waiting for write requests to complete.",
        Kind::Counter,
        NANOSECOND,
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(TapeCollector {
        class: ctx.paths.sys("class/scsi_tape"),
    }))
}

struct TapeCollector {
    class: PathBuf,
}

impl Collector for TapeCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let drives: Vec<(String, PathBuf)> = sorted_entries(&self.class)?
            .into_iter()
            .filter(|(name, _)| is_rewinding_device(name))
            .collect();
        let mut readings = Vec::with_capacity(drives.len());
        for (name, dir) in &drives {
            let values = STATS
                .iter()
                .map(|(file, ..)| read_u64(&dir.join("stats").join(file)))
                .collect::<Result<Vec<u64>, _>>()?;
            readings.push((name, values));
        }
        if readings.is_empty() {
            return Ok(());
        }
        for (column, (_, name, help, kind, factor)) in STATS.iter().enumerate() {
            let family = out.family(*name, *help, *kind);
            for (device, values) in &readings {
                family.sample(&[("device", device)], values[column] as f64 * factor);
            }
        }
        Ok(())
    }
}

/// `st0`, `st12`: not `nst0` (no rewind on close) or `st0a` (another mode of the same drive).
fn is_rewinding_device(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    #[test]
    fn one_series_per_drive_in_seconds_and_bytes() {
        let class = tempfile::tempdir().unwrap();
        let collector = TapeCollector {
            class: class.path().join("scsi_tape"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        for device in ["st0", "nst0", "st0a"] {
            let stats = class.path().join("scsi_tape").join(device).join("stats");
            std::fs::create_dir_all(&stats).unwrap();
            for (file, ..) in STATS {
                std::fs::write(stats.join(file), "1500000000\n").unwrap();
            }
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let family = |name: &str| out.families.iter().find(|f| f.name == name).unwrap();
        let read_time = family("node_tape_read_time_seconds_total");
        assert_eq!(read_time.samples.len(), 1);
        assert_eq!(read_time.samples[0].label_pairs(), [("device", "st0")]);
        assert_eq!(read_time.samples[0].value, Value::Number(1.5));
        assert_eq!(
            family("node_tape_read_bytes_total").samples[0].value,
            Value::Number(1.5e9)
        );

        std::fs::remove_file(class.path().join("scsi_tape/st0/stats/write_ns")).unwrap();
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("write_ns"), "{error}");
    }
}
