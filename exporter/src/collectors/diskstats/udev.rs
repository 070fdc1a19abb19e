//! The udev-derived disk series: `node_disk_info`, `node_disk_filesystem_info`,
//! `node_disk_device_mapper_info` and `node_disk_ata_*`, from udev's database
//! (`run/udev/data/b<major>:<minor>`), as node_exporter reads it.

use std::io::ErrorKind;
use std::path::Path;

use procfs_core::DiskStat;

use crate::exposition::{Kind, MetricSet};

/// `node_disk_info` for every device, and the filesystem, device-mapper and ATA series
/// for the devices whose udev record has them. Without a udev record (containers, no
/// udevd) the labels are empty, as with node_exporter.
pub fn write_series(dir: &Path, disks: &[DiskStat], out: &mut MetricSet) {
    let records: Vec<String> = disks.iter().map(|d| read_record(dir, d)).collect();
    let props: Vec<UdevProps> = records.iter().map(|r| UdevProps::parse(r)).collect();

    let info = out.family(
        "node_disk_info",
        "Info of /sys/block/<block_device>.",
        Kind::Gauge,
    );
    for (disk, p) in disks.iter().zip(&props) {
        let (major, minor) = (disk.major.to_string(), disk.minor.to_string());
        // The serial printed on the label; ID_SERIAL_SHORT when SCSI did not report one.
        let serial = p.scsi_ident_serial.or(p.serial_short).unwrap_or_default();
        info.sample(
            &[
                ("device", &disk.name),
                ("major", &major),
                ("minor", &minor),
                ("path", p.path.unwrap_or_default()),
                ("wwn", p.wwn.unwrap_or_default()),
                ("model", p.model.unwrap_or_default()),
                ("serial", serial),
                ("revision", p.revision.unwrap_or_default()),
            ],
            1.0,
        );
    }

    let fs = out.family(
        "node_disk_filesystem_info",
        "Info about disk filesystem.",
        Kind::Gauge,
    );
    for (disk, p) in disks.iter().zip(&props) {
        if let Some(fs_type) = p.fs_type.filter(|t| !t.is_empty()) {
            fs.sample(
                &[
                    ("device", &disk.name),
                    ("type", fs_type),
                    ("usage", p.fs_usage.unwrap_or_default()),
                    ("uuid", p.fs_uuid.unwrap_or_default()),
                    ("version", p.fs_version.unwrap_or_default()),
                ],
                1.0,
            );
        }
    }

    let dm = out.family(
        "node_disk_device_mapper_info",
        "Info about disk device mapper.",
        Kind::Gauge,
    );
    for (disk, p) in disks.iter().zip(&props) {
        if let Some(name) = p.dm_name.filter(|n| !n.is_empty()) {
            dm.sample(
                &[
                    ("device", &disk.name),
                    ("name", name),
                    ("uuid", p.dm_uuid.unwrap_or_default()),
                    ("vg_name", p.dm_vg_name.unwrap_or_default()),
                    ("lv_name", p.dm_lv_name.unwrap_or_default()),
                    ("lv_layer", p.dm_lv_layer.unwrap_or_default()),
                ],
                1.0,
            );
        }
    }

    const ATA: [(&str, &str); 3] = [
        (
            "node_disk_ata_rotation_rate_rpm",
            "ATA disk rotation rate in RPMs (0 for SSDs).",
        ),
        ("node_disk_ata_write_cache", "ATA disk has a write cache."),
        (
            "node_disk_ata_write_cache_enabled",
            "ATA disk has its write cache enabled.",
        ),
    ];
    for (i, (name, help)) in ATA.into_iter().enumerate() {
        let family = out.family(name, help, Kind::Gauge);
        for (disk, p) in disks.iter().zip(&props) {
            if p.ata.is_none_or(str::is_empty) {
                continue;
            }
            let Some(text) = p.ata_values[i] else {
                continue;
            };
            match text.parse::<f64>() {
                Ok(value) => {
                    family.sample(&[("device", &disk.name)], value);
                }
                Err(_) => tracing::warn!(
                    device = disk.name,
                    value = text,
                    "udev: {name} is not a number"
                ),
            }
        }
    }
}

/// The device's udev record, or an empty one when there is none.
fn read_record(dir: &Path, disk: &DiskStat) -> String {
    let path = dir.join(format!("b{}:{}", disk.major, disk.minor));
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            if e.kind() != ErrorKind::NotFound {
                tracing::debug!(path = %path.display(), error = %e, "udev record unreadable");
            }
            String::new()
        }
    }
}

/// The properties (`E:KEY=VALUE` lines) of a udev database record that node_exporter
/// exports, borrowed from the record's text.
#[derive(Debug, Default, PartialEq)]
struct UdevProps<'a> {
    path: Option<&'a str>,
    wwn: Option<&'a str>,
    model: Option<&'a str>,
    scsi_ident_serial: Option<&'a str>,
    serial_short: Option<&'a str>,
    revision: Option<&'a str>,
    fs_type: Option<&'a str>,
    fs_usage: Option<&'a str>,
    fs_uuid: Option<&'a str>,
    fs_version: Option<&'a str>,
    dm_name: Option<&'a str>,
    dm_uuid: Option<&'a str>,
    dm_vg_name: Option<&'a str>,
    dm_lv_name: Option<&'a str>,
    dm_lv_layer: Option<&'a str>,
    ata: Option<&'a str>,
    /// ID_ATA_ROTATION_RATE_RPM, ID_ATA_WRITE_CACHE, ID_ATA_WRITE_CACHE_ENABLED.
    ata_values: [Option<&'a str>; 3],
}

impl<'a> UdevProps<'a> {
    fn parse(record: &'a str) -> Self {
        let mut p = Self::default();
        for line in record.lines() {
            let Some((key, value)) = line.strip_prefix("E:").and_then(|l| l.split_once('=')) else {
                continue;
            };
            let slot = match key {
                "ID_PATH" => &mut p.path,
                "ID_WWN" => &mut p.wwn,
                "ID_MODEL" => &mut p.model,
                "SCSI_IDENT_SERIAL" => &mut p.scsi_ident_serial,
                "ID_SERIAL_SHORT" => &mut p.serial_short,
                "ID_REVISION" => &mut p.revision,
                "ID_FS_TYPE" => &mut p.fs_type,
                "ID_FS_USAGE" => &mut p.fs_usage,
                "ID_FS_UUID" => &mut p.fs_uuid,
                "ID_FS_VERSION" => &mut p.fs_version,
                "DM_NAME" => &mut p.dm_name,
                "DM_UUID" => &mut p.dm_uuid,
                "DM_VG_NAME" => &mut p.dm_vg_name,
                "DM_LV_NAME" => &mut p.dm_lv_name,
                "DM_LV_LAYER" => &mut p.dm_lv_layer,
                "ID_ATA" => &mut p.ata,
                "ID_ATA_ROTATION_RATE_RPM" => &mut p.ata_values[0],
                "ID_ATA_WRITE_CACHE" => &mut p.ata_values[1],
                "ID_ATA_WRITE_CACHE_ENABLED" => &mut p.ata_values[2],
                _ => continue,
            };
            *slot = Some(value);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_properties() {
        let record = "S:disk/by-id/E:ID_MODEL=link\nE:ID_MODEL=Disk=Model\nE:ID_WWN=\n\
                      E:UNRELATED=1\nE:ID_ATA_WRITE_CACHE=1\nbroken line\n";
        let p = UdevProps::parse(record);
        assert_eq!(p.model, Some("Disk=Model"));
        assert_eq!(p.wwn, Some(""));
        assert_eq!(p.ata_values, [None, Some("1"), None]);
        assert_eq!(p.path, None);
    }
}
