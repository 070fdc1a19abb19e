//! Block device I/O counters from `/proc/diskstats`, named, typed and scaled as
//! node_exporter's `diskstats` collector names them (`node_disk_reads_completed_total`, ...),
//! plus the udev-derived `node_disk_info`, `node_disk_filesystem_info`,
//! `node_disk_device_mapper_info` and `node_disk_ata_*` series.
//!
//! Lines are parsed with procfs-core's [`DiskStat`]; a malformed line is logged with its line
//! number and skipped, so one odd device never hides the others. Devices matching the
//! `diskstats` filter (by default partitions, loop, ram and floppy devices, which would
//! double-count their parent disk or say nothing) are left out.

mod udev;

use std::path::{Path, PathBuf};

use procfs_core::DiskStat;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::config::{DEFAULT_DISK_DEVICE_EXCLUDE, DeviceFilter};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "diskstats",
    default_enabled: true,
    help: "Block device I/O statistics from /proc/diskstats.",
    build,
};

/// The kernel counts I/O in 512-byte sectors whatever the device's real sector size.
const SECTOR_BYTES: f64 = 512.0;
/// Milliseconds to seconds. A multiplication, as node_exporter does, so the values agree
/// with node_exporter's to the last bit (`574132 * 0.001` is not `574132 / 1000.0`).
const MS: f64 = 0.001;

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    // `cli::resolve` already put the default exclude in place; a config built elsewhere
    // (tests, embedding) gets the same default here.
    let filter = DeviceFilter {
        device_include: ctx.config.diskstats.device_include.clone(),
        device_exclude: ctx.config.diskstats.device_exclude.clone(),
    }
    .with_default_exclude(DEFAULT_DISK_DEVICE_EXCLUDE);
    Ok(Box::new(DiskstatsCollector {
        path: ctx.paths.proc("diskstats"),
        udev_dir: ctx.paths.rooted("/run/udev/data"),
        filter,
    }))
}

struct DiskstatsCollector {
    path: PathBuf,
    /// udev's database (`b<major>:<minor>` files), under `--path.rootfs` like the host's `/`.
    udev_dir: PathBuf,
    filter: DeviceFilter,
}

/// One `/proc/diskstats` column exported as a metric.
struct Field {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    /// `None` when the kernel does not report the column (discards before 4.18, flushes
    /// before 5.5): node_exporter exports only the columns present.
    value: fn(&DiskStat) -> Option<f64>,
}

const FIELDS: &[Field] = &[
    Field {
        name: "node_disk_reads_completed_total",
        help: "The total number of reads completed successfully.",
        kind: Kind::Counter,
        value: |d| Some(d.reads as f64),
    },
    Field {
        name: "node_disk_reads_merged_total",
        help: "The total number of reads merged.",
        kind: Kind::Counter,
        value: |d| Some(d.merged as f64),
    },
    Field {
        name: "node_disk_read_bytes_total",
        help: "The total number of bytes read successfully.",
        kind: Kind::Counter,
        value: |d| Some(d.sectors_read as f64 * SECTOR_BYTES),
    },
    Field {
        name: "node_disk_read_time_seconds_total",
        help: "The total number of seconds spent by all reads.",
        kind: Kind::Counter,
        value: |d| Some(d.time_reading as f64 * MS),
    },
    Field {
        name: "node_disk_writes_completed_total",
        help: "The total number of writes completed successfully.",
        kind: Kind::Counter,
        value: |d| Some(d.writes as f64),
    },
    Field {
        name: "node_disk_writes_merged_total",
        help: "The number of writes merged.",
        kind: Kind::Counter,
        value: |d| Some(d.writes_merged as f64),
    },
    Field {
        name: "node_disk_written_bytes_total",
        help: "The total number of bytes written successfully.",
        kind: Kind::Counter,
        value: |d| Some(d.sectors_written as f64 * SECTOR_BYTES),
    },
    Field {
        name: "node_disk_write_time_seconds_total",
        help: "This is the total number of seconds spent by all writes.",
        kind: Kind::Counter,
        value: |d| Some(d.time_writing as f64 * MS),
    },
    Field {
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        kind: Kind::Gauge,
        value: |d| Some(d.in_progress as f64),
    },
    Field {
        name: "node_disk_io_time_seconds_total",
        help: "Total seconds spent doing I/Os.",
        kind: Kind::Counter,
        value: |d| Some(d.time_in_progress as f64 * MS),
    },
    Field {
        name: "node_disk_io_time_weighted_seconds_total",
        help: "The weighted # of seconds spent doing I/Os.",
        kind: Kind::Counter,
        value: |d| Some(d.weighted_time_in_progress as f64 * MS),
    },
    Field {
        name: "node_disk_discards_completed_total",
        help: "The total number of discards completed successfully.",
        kind: Kind::Counter,
        value: |d| d.discards.map(|v| v as f64),
    },
    Field {
        name: "node_disk_discards_merged_total",
        help: "The total number of discards merged.",
        kind: Kind::Counter,
        value: |d| d.discards_merged.map(|v| v as f64),
    },
    Field {
        name: "node_disk_discarded_sectors_total",
        help: "The total number of sectors discarded successfully.",
        kind: Kind::Counter,
        value: |d| d.sectors_discarded.map(|v| v as f64),
    },
    Field {
        name: "node_disk_discard_time_seconds_total",
        help: "This is the total number of seconds spent by all discards.",
        kind: Kind::Counter,
        value: |d| d.time_discarding.map(|v| v as f64 * MS),
    },
    Field {
        name: "node_disk_flush_requests_total",
        help: "The total number of flush requests completed successfully",
        kind: Kind::Counter,
        value: |d| d.flushes.map(|v| v as f64),
    },
    Field {
        name: "node_disk_flush_requests_time_seconds_total",
        help: "This is the total number of seconds spent by all flush requests.",
        kind: Kind::Counter,
        value: |d| d.time_flushing.map(|v| v as f64 * MS),
    },
];

/// `/proc/diskstats` columns after major, minor and name, for error messages.
const COLUMNS: [&str; 11] = [
    "reads_completed",
    "reads_merged",
    "sectors_read",
    "time_reading_ms",
    "writes_completed",
    "writes_merged",
    "sectors_written",
    "time_writing_ms",
    "io_in_progress",
    "time_io_ms",
    "weighted_time_io_ms",
];

impl Collector for DiskstatsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let Parsed { disks, lines, bad } = parse_diskstats(&text, &self.filter, &self.path);
        if lines > 0 && bad == lines {
            // Each bad line has been logged with its number already.
            return Err(CollectorError::parse(&self.path, "no valid line"));
        }
        for field in FIELDS {
            let family = out.family(field.name, field.help, field.kind);
            for disk in &disks {
                if let Some(value) = (field.value)(disk) {
                    family.sample(&[("device", &disk.name)], value);
                }
            }
        }
        udev::write_series(&self.udev_dir, &disks, out);
        Ok(())
    }
}

struct Parsed {
    /// The devices that pass the filter.
    disks: Vec<DiskStat>,
    /// Non-empty lines seen.
    lines: usize,
    /// Malformed lines skipped.
    bad: usize,
}

/// The devices of `/proc/diskstats` that pass `filter`. Malformed lines are logged (file,
/// line number, column) and skipped.
fn parse_diskstats(text: &str, filter: &DeviceFilter, path: &Path) -> Parsed {
    let mut parsed = Parsed {
        disks: Vec::new(),
        lines: 0,
        bad: 0,
    };
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        parsed.lines += 1;
        match DiskStat::from_line(line) {
            Ok(disk) if filter.accepts(&disk.name) => parsed.disks.push(disk),
            Ok(_) => {}
            Err(_) => {
                parsed.bad += 1;
                tracing::warn!(
                    "{}:{}: skipped: {}",
                    path.display(),
                    index + 1,
                    describe_bad_line(line)
                );
            }
        }
    }
    parsed
}

/// What is wrong with a line procfs-core rejected, in terms of the column that is wrong
/// (its own error names a source expression, not the column).
fn describe_bad_line(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 + COLUMNS.len() {
        return format!(
            "expected at least {} fields (major minor name and {} counters), found {}",
            3 + COLUMNS.len(),
            COLUMNS.len(),
            fields.len()
        );
    }
    for (column, name) in [(0, "major"), (1, "minor")] {
        if fields[column].parse::<i32>().is_err() {
            return format!("{name}: invalid number {:?}", fields[column]);
        }
    }
    for (value, name) in fields[3..].iter().zip(COLUMNS) {
        if value.parse::<u64>().is_err() {
            return format!("{name}: invalid number {value:?}");
        }
    }
    "unparsable line".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn default_filter() -> DeviceFilter {
        DeviceFilter::default().with_default_exclude(DEFAULT_DISK_DEVICE_EXCLUDE)
    }

    fn names(disks: &[DiskStat]) -> Vec<&str> {
        disks.iter().map(|d| d.name.as_str()).collect()
    }

    const TEXT: &str = "   7       0 loop0 1120 0 4728 211 0 0 0 0 0 300 211 0 0 0 0 0 0\n\
         8       0 sda 192134 47821 11364208 88712 631942 829741 31508384 1413287 0 574132 1549872 31204 0 74218752 2814 78120 44511\n\
         8       1 sda1 512 1024 10392 103 2 0 2 1 0 120 104 0 0 0 0\n\
       254       0 vda 49256 7691 4254210 163589 19158 63392 45012072 249607 0 28208 417951\n\
       253       1 zram0 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
       259       0 nvme0n1 8711250 1297 620911602 1824317 40721734 18214520 2116734040 11984522 12 6051356 14039187 1528 0 1036284016 2519 3521906 230349\n\
       259       1 nvme0n1p1 1405 1034 28624 264 2 0 2 1 0 268 265 0 0 0 0\n";

    #[test]
    fn default_filter_drops_partitions_and_virtual_devices() {
        let parsed = parse_diskstats(TEXT, &default_filter(), Path::new("diskstats"));
        assert_eq!(names(&parsed.disks), ["sda", "vda", "nvme0n1"]);
        assert_eq!((parsed.lines, parsed.bad), (7, 0));
    }

    #[test]
    fn include_filter_replaces_the_default_exclude() {
        let filter = DeviceFilter {
            device_include: Some(Pattern::new("^(sda1|loop0)$").unwrap()),
            device_exclude: None,
        }
        .with_default_exclude(DEFAULT_DISK_DEVICE_EXCLUDE);
        let parsed = parse_diskstats(TEXT, &filter, Path::new("diskstats"));
        assert_eq!(names(&parsed.disks), ["loop0", "sda1"]);
    }

    fn collect(text: &str, udev: &[(&str, &str)]) -> Result<MetricSet, CollectorError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diskstats");
        std::fs::write(&path, text).unwrap();
        let udev_dir = dir.path().join("udev");
        std::fs::create_dir(&udev_dir).unwrap();
        for (name, record) in udev {
            std::fs::write(udev_dir.join(name), record).unwrap();
        }
        let collector = DiskstatsCollector {
            path,
            udev_dir,
            filter: default_filter(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out)?;
        out.normalize();
        Ok(out)
    }

    fn value(set: &MetricSet, name: &str, device: &str) -> Option<f64> {
        let family = set.families.iter().find(|f| f.name == name)?;
        let sample = family
            .samples
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "device" && v == device))?;
        match sample.value {
            crate::exposition::Value::Number(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn scales_sectors_and_milliseconds() {
        let set = collect(TEXT, &[]).unwrap();
        let v = |name| value(&set, name, "sda").unwrap();
        assert_eq!(v("node_disk_reads_completed_total"), 192134.0);
        assert_eq!(v("node_disk_read_bytes_total"), 11364208.0 * 512.0);
        assert_eq!(v("node_disk_written_bytes_total"), 31508384.0 * 512.0);
        assert_eq!(v("node_disk_read_time_seconds_total"), 88712.0 * 0.001);
        assert_eq!(v("node_disk_io_time_weighted_seconds_total"), 1549.872);
        assert_eq!(v("node_disk_discarded_sectors_total"), 74218752.0);
        assert_eq!(v("node_disk_flush_requests_total"), 78120.0);
        assert_eq!(v("node_disk_flush_requests_time_seconds_total"), 44.511);
        assert_eq!(value(&set, "node_disk_io_now", "nvme0n1"), Some(12.0));
    }

    #[test]
    fn exports_only_the_columns_the_kernel_reports() {
        let set = collect(TEXT, &[]).unwrap();
        // vda's line has the 11 pre-4.18 counters only.
        assert_eq!(
            value(&set, "node_disk_writes_merged_total", "vda"),
            Some(63392.0)
        );
        assert_eq!(
            value(&set, "node_disk_discards_completed_total", "vda"),
            None
        );
        assert_eq!(value(&set, "node_disk_flush_requests_total", "vda"), None);
    }

    #[test]
    fn udev_record_fills_info_labels() {
        let sda = "S:disk/by-id/ata-X\nE:ID_ATA=1\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S3Z9\n\
                   E:ID_ATA_ROTATION_RATE_RPM=0\nE:ID_ATA_WRITE_CACHE=1\nE:ID_FS_TYPE=\n";
        let nvme = "E:DM_NAME=vg0-root\nE:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\n\
                    E:ID_ATA_WRITE_CACHE=1\n";
        let set = collect(TEXT, &[("b8:0", sda), ("b259:0", nvme)]).unwrap();
        let info = set
            .families
            .iter()
            .find(|f| f.name == "node_disk_info")
            .unwrap();
        let sda_labels = info.samples[0].label_pairs();
        assert_eq!(
            sda_labels,
            [
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("path", ""),
                ("wwn", ""),
                ("model", "Samsung_SSD"),
                ("serial", "S3Z9"),
                ("revision", ""),
            ]
        );
        assert_eq!(info.samples.len(), 3, "every device has node_disk_info");
        // ATA series only for ID_ATA devices, and only the attributes present.
        assert_eq!(
            value(&set, "node_disk_ata_rotation_rate_rpm", "sda"),
            Some(0.0)
        );
        assert_eq!(value(&set, "node_disk_ata_write_cache", "nvme0n1"), None);
        assert_eq!(
            value(&set, "node_disk_ata_write_cache_enabled", "sda"),
            None
        );
        // An empty ID_FS_TYPE is no filesystem.
        assert_eq!(value(&set, "node_disk_filesystem_info", "sda"), None);
        assert_eq!(
            value(&set, "node_disk_filesystem_info", "nvme0n1"),
            Some(1.0)
        );
        assert_eq!(
            value(&set, "node_disk_device_mapper_info", "nvme0n1"),
            Some(1.0)
        );
    }

    #[test]
    fn a_malformed_line_is_skipped_not_fatal() {
        let text =
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 x 4 5 6 7 8 9 10 11\n8 32 sdc 1 2\n";
        let set = collect(text, &[]).unwrap();
        assert_eq!(
            value(&set, "node_disk_reads_completed_total", "sda"),
            Some(1.0)
        );
        assert_eq!(value(&set, "node_disk_reads_completed_total", "sdb"), None);
        assert_eq!(value(&set, "node_disk_reads_completed_total", "sdc"), None);
    }

    #[test]
    fn nothing_valid_is_an_error_naming_the_file() {
        let err = collect("8 0 sda 1 2\n", &[]).unwrap_err().to_string();
        assert!(err.contains("diskstats: no valid line"), "{err}");
        // An empty file (no block devices at all) is not an error.
        assert!(collect("", &[]).unwrap().families.is_empty());
    }

    #[test]
    fn bad_lines_are_described_by_column() {
        assert_eq!(
            describe_bad_line("8 0 sda 1 2 x 4 5 6 7 8 9 10 11"),
            "sectors_read: invalid number \"x\""
        );
        assert_eq!(
            describe_bad_line("8 0 sda 1 2"),
            "expected at least 14 fields (major minor name and 11 counters), found 5"
        );
        assert_eq!(
            describe_bad_line("a 0 sda 1 2 3 4 5 6 7 8 9 10 11"),
            "major: invalid number \"a\""
        );
    }
}
