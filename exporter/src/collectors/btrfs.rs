//! `node_btrfs_*` from sysfs `fs/btrfs/<uuid>/`, as node_exporter's `btrfs` collector: per
//! filesystem its label, global reserve, and per block-group type (data, metadata, system)
//! and profile (single, dup, raid1, …) the space allocated and used and the ratio of raw
//! disk to usable space; the size of each member device; and each device's error counters.
//!
//! Btrfs runs out of space per block-group type, not as a whole: a filesystem `df` shows
//! half empty can fail writes because metadata is full, which `node_btrfs_used_bytes` against
//! `node_btrfs_size_bytes` per type shows and `node_filesystem_*` cannot.
//!
//! node_exporter reads the device error counters with btrfs ioctls on the mounted
//! filesystem; Pulse reads the same counters from `devinfo/<devid>/error_stats` (Linux
//! 5.14+), without an ioctl, labelled by the device's btrfs id (`devid`) since sysfs does
//! not say which block device has which id. Any increase is a failing or lying disk.

use std::path::{Path, PathBuf};

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file, read_file_if_present,
    read_u64, sorted_entries,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "btrfs",
    default_enabled: true,
    help: "Btrfs space per block-group type and profile, devices and device errors from /sys/fs/btrfs.",
    build,
};

/// Block-group types, the directories of `allocation/`.
const BLOCK_GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

/// The counters of `error_stats`, as node_exporter's `type` label.
const ERROR_TYPES: [(&str, &str); 5] = [
    ("corruption_errs", "corruption"),
    ("flush_errs", "flush"),
    ("generation_errs", "generation"),
    ("read_errs", "read"),
    ("write_errs", "write"),
];

/// Bytes per sector in a device's `size` file.
const SECTOR_BYTES: f64 = 512.0;

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(BtrfsCollector {
        root: ctx.paths.sys("fs/btrfs"),
    }))
}

struct BtrfsCollector {
    root: PathBuf,
}

/// One profile of one block-group type.
struct Profile {
    block_group_type: &'static str,
    mode: String,
    size: u64,
    used: u64,
    ratio: f64,
}

/// What one filesystem's sysfs directory says.
struct Filesystem {
    uuid: String,
    label: String,
    global_reserve: u64,
    reserved: Vec<(&'static str, u64)>,
    profiles: Vec<Profile>,
    devices: Vec<(String, u64)>,
    /// `(devid, [(type, count)])` where the kernel has `error_stats`.
    errors: Vec<(String, Vec<(&'static str, u64)>)>,
}

impl Collector for BtrfsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut filesystems = Vec::new();
        // Filesystems are the directories with an `allocation/`; the global `features/` is not.
        for (uuid, dir) in sorted_dirs(&self.root)? {
            if dir.join("allocation").is_dir() {
                filesystems.push(read_filesystem(uuid, &dir)?);
            }
        }
        if !filesystems.is_empty() {
            emit(&filesystems, out);
        }
        Ok(())
    }
}

/// `(name, path)` of the subdirectories of `dir`, sorted; none when `dir` does not exist.
fn sorted_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .collect())
}

fn read_filesystem(uuid: String, dir: &Path) -> Result<Filesystem, CollectorError> {
    let allocation = dir.join("allocation");
    let devices_dir = dir.join("devices");
    let mut devices = Vec::new();
    for (name, path) in sorted_entries(&devices_dir)? {
        devices.push((name, read_u64(&path.join("size"))?));
    }

    let mut reserved = Vec::new();
    let mut profiles = Vec::new();
    for block_group_type in BLOCK_GROUP_TYPES {
        let type_dir = allocation.join(block_group_type);
        if !type_dir.is_dir() {
            continue;
        }
        reserved.push((
            block_group_type,
            read_u64(&type_dir.join("bytes_reserved"))?,
        ));
        for (mode, mode_dir) in sorted_dirs(&type_dir)? {
            profiles.push(Profile {
                block_group_type,
                ratio: allocation_ratio(&mode, devices.len()),
                size: read_u64(&mode_dir.join("total_bytes"))?,
                used: read_u64(&mode_dir.join("used_bytes"))?,
                mode,
            });
        }
    }

    let mut errors = Vec::new();
    for (devid, device_dir) in sorted_dirs(&dir.join("devinfo"))? {
        let path = device_dir.join("error_stats");
        if let Some(text) = read_file_if_present(&path)? {
            errors.push((devid, parse_error_stats(&path, &text)?));
        }
    }

    Ok(Filesystem {
        label: read_file(&dir.join("label"))?.trim().to_owned(),
        global_reserve: read_u64(&allocation.join("global_rsv_size"))?,
        uuid,
        reserved,
        profiles,
        devices,
        errors,
    })
}

/// Raw bytes written per byte stored for a profile: 1 for `single` and `raid0`, one per copy
/// for the mirrored ones, `n/(n−1)` and `n/(n−2)` for RAID5 and RAID6 over `n` devices; 0
/// for a profile this does not know, as node_exporter reports it. (node_exporter 1.5 also
/// reports 0 for `raid1c3` and `raid1c4`, whose ratio is 3 and 4.)
fn allocation_ratio(mode: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid1c3" => 3.0,
        "raid1c4" => 4.0,
        "raid5" if devices > 1 => n / (n - 1.0),
        "raid6" if devices > 2 => n / (n - 2.0),
        _ => 0.0,
    }
}

/// `write_errs 0` lines, in the order of [`ERROR_TYPES`].
fn parse_error_stats(path: &Path, text: &str) -> Result<Vec<(&'static str, u64)>, CollectorError> {
    ERROR_TYPES
        .iter()
        .map(|(key, label)| {
            let value = text
                .lines()
                .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
                .ok_or_else(|| CollectorError::parse(path, format!("no count for {key}")))?;
            Ok((*label, value))
        })
        .collect()
}

fn emit(filesystems: &[Filesystem], out: &mut MetricSet) {
    let family = out.family("node_btrfs_info", "Filesystem information", Kind::Gauge);
    for fs in filesystems {
        family.sample(&[("label", &fs.label), ("uuid", &fs.uuid)], 1.0);
    }
    let family = out.family(
        "node_btrfs_global_rsv_size_bytes",
        "Size of global reserve.",
        Kind::Gauge,
    );
    for fs in filesystems {
        family.sample(&[("uuid", &fs.uuid)], fs.global_reserve as f64);
    }
    let family = out.family(
        "node_btrfs_reserved_bytes",
        "Amount of space reserved for a data type",
        Kind::Gauge,
    );
    for fs in filesystems {
        for (block_group_type, bytes) in &fs.reserved {
            family.sample(
                &[("block_group_type", block_group_type), ("uuid", &fs.uuid)],
                *bytes as f64,
            );
        }
    }
    for (name, help, value) in [
        (
            "node_btrfs_size_bytes",
            "Amount of space allocated for a layout/data type",
            (|p: &Profile| p.size as f64) as fn(&Profile) -> f64,
        ),
        (
            "node_btrfs_used_bytes",
            "Amount of used space by a layout/data type",
            |p: &Profile| p.used as f64,
        ),
        (
            "node_btrfs_allocation_ratio",
            "Data allocation ratio for a layout/data type",
            |p: &Profile| p.ratio,
        ),
    ] {
        let family = out.family(name, help, Kind::Gauge);
        for fs in filesystems {
            for profile in &fs.profiles {
                family.sample(
                    &[
                        ("block_group_type", profile.block_group_type),
                        ("mode", &profile.mode),
                        ("uuid", &fs.uuid),
                    ],
                    value(profile),
                );
            }
        }
    }
    let family = out.family(
        "node_btrfs_device_size_bytes",
        "Size of a device that is part of the filesystem.",
        Kind::Gauge,
    );
    for fs in filesystems {
        for (device, sectors) in &fs.devices {
            family.sample(
                &[("device", device), ("uuid", &fs.uuid)],
                *sectors as f64 * SECTOR_BYTES,
            );
        }
    }
    let family = out.family(
        "node_btrfs_device_errors_total",
        "Errors reported for the device",
        Kind::Counter,
    );
    for fs in filesystems {
        for (devid, counts) in &fs.errors {
            for (error_type, count) in counts {
                family.sample(
                    &[("devid", devid), ("type", error_type), ("uuid", &fs.uuid)],
                    *count as f64,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_per_profile() {
        assert_eq!(allocation_ratio("single", 1), 1.0);
        assert_eq!(allocation_ratio("dup", 1), 2.0);
        assert_eq!(allocation_ratio("raid1c3", 3), 3.0);
        assert_eq!(allocation_ratio("raid5", 3), 1.5);
        assert_eq!(allocation_ratio("raid6", 4), 2.0);
        assert_eq!(allocation_ratio("raid6", 2), 0.0);
        assert_eq!(allocation_ratio("new-profile", 2), 0.0);
    }

    #[test]
    fn error_stats_in_label_order_and_a_missing_count_is_an_error() {
        let path = Path::new("error_stats");
        let text =
            "write_errs 1\nread_errs 2\nflush_errs 3\ncorruption_errs 4\ngeneration_errs 5\n";
        assert_eq!(
            parse_error_stats(path, text).unwrap(),
            [
                ("corruption", 4),
                ("flush", 3),
                ("generation", 5),
                ("read", 2),
                ("write", 1)
            ]
        );
        let error = parse_error_stats(path, "write_errs 1\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no count for corruption_errs"), "{error}");
    }

    #[test]
    fn no_btrfs_is_nothing_to_report() {
        let root = tempfile::tempdir().unwrap();
        // The module's global `features/` exists as soon as btrfs is loaded.
        std::fs::create_dir_all(root.path().join("btrfs/features")).unwrap();
        let mut out = MetricSet::default();
        BtrfsCollector {
            root: root.path().join("btrfs"),
        }
        .collect(&mut out)
        .unwrap();
        assert!(out.families.is_empty());
    }
}
