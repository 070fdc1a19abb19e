//! `node_dmi_info` from sysfs `class/dmi/id`: the machine's vendor, model, BIOS and serial
//! numbers as the firmware reports them (SMBIOS), as node_exporter's `dmi` collector, so a
//! fleet's hardware inventory and BIOS versions are one query away.
//!
//! Read once when the collector is built: the firmware's tables do not change until a reboot.
//! Serial numbers and the UUID are readable by root only; an unreadable or absent field is
//! left out of the labels, as node_exporter does. Machines without DMI (many ARM boards,
//! some VMs) report nothing.

use std::io::ErrorKind;
use std::path::Path;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::collectors::kernel_files;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "dmi",
    default_enabled: true,
    help: "Hardware vendor, model, BIOS and serials from /sys/class/dmi/id (read once).",
    build,
};

/// The `class/dmi/id` files node_exporter exports, which are also its label names.
const FIELDS: [&str; 20] = [
    "bios_date",
    "bios_release",
    "bios_vendor",
    "bios_version",
    "board_asset_tag",
    "board_name",
    "board_serial",
    "board_vendor",
    "board_version",
    "chassis_asset_tag",
    "chassis_serial",
    "chassis_vendor",
    "chassis_version",
    "product_family",
    "product_name",
    "product_serial",
    "product_sku",
    "product_uuid",
    "product_version",
    "sys_vendor",
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(DmiCollector {
        labels: read_labels(&ctx.paths.sys("class/dmi/id"))?,
    }))
}

/// The fields present and readable in `dir`, as (label, value).
fn read_labels(dir: &Path) -> Result<Vec<(&'static str, String)>, CollectorError> {
    let mut labels = Vec::new();
    for field in FIELDS {
        let path = dir.join(field);
        match kernel_files::read_to_string(&path) {
            Ok(text) => labels.push((label_name(field), text.trim().to_owned())),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {}
            Err(source) => return Err(CollectorError::Io { path, source }),
        }
    }
    Ok(labels)
}

/// node_exporter names the `sys_vendor` file `system_vendor`.
fn label_name(field: &'static str) -> &'static str {
    if field == "sys_vendor" {
        "system_vendor"
    } else {
        field
    }
}

struct DmiCollector {
    labels: Vec<(&'static str, String)>,
}

impl Collector for DmiCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        if self.labels.is_empty() {
            return Ok(());
        }
        let labels: Vec<(&'static str, &str)> =
            self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.family(
            "node_dmi_info",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, \
             bios_version, board_asset_tag, board_name, board_serial, board_vendor, \
             board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, \
             product_family, product_name, product_serial, product_sku, product_uuid, \
             product_version, system_vendor if provided by DMI.",
            Kind::Gauge,
        )
        .sample(&labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(sys: &Path) -> DmiCollector {
        DmiCollector {
            labels: read_labels(&sys.join("class/dmi/id")).unwrap(),
        }
    }

    #[test]
    fn labels_are_the_fields_present_with_sys_vendor_as_system_vendor() {
        let sys = tempfile::tempdir().unwrap();
        let id = sys.path().join("class/dmi/id");
        std::fs::create_dir_all(&id).unwrap();
        std::fs::write(id.join("bios_vendor"), "SeaBIOS\n").unwrap();
        std::fs::write(id.join("product_name"), "Standard PC (Q35 + ICH9, 2009)\n").unwrap();
        std::fs::write(id.join("sys_vendor"), "QEMU\n").unwrap();
        let mut out = MetricSet::default();
        built(sys.path()).collect(&mut out).unwrap();
        let labels = out.families[0].samples[0].label_pairs();
        assert_eq!(
            labels,
            [
                ("bios_vendor", "SeaBIOS"),
                ("product_name", "Standard PC (Q35 + ICH9, 2009)"),
                ("system_vendor", "QEMU"),
            ]
        );
    }

    #[test]
    fn no_dmi_is_nothing_to_report() {
        let sys = tempfile::tempdir().unwrap();
        let mut out = MetricSet::default();
        built(sys.path()).collect(&mut out).unwrap();
        assert!(out.families.is_empty());
    }
}
