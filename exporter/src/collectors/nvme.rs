//! `node_nvme_info{device,firmware_revision,model,serial,state}` from sysfs `class/nvme`, as
//! node_exporter's `nvme` collector: which NVMe controllers a host has, their firmware (to find
//! the hosts a vendor advisory is about) and whether each is `live`. No NVMe: nothing to report.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, numbered_entries, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nvme",
    default_enabled: true,
    help: "NVMe controllers' model, serial, firmware and state from /sys/class/nvme.",
    build,
};

/// The label of each `class/nvme/<device>` file read, in label order after `device`.
const FILES: [(&str, &str); 4] = [
    ("firmware_revision", "firmware_rev"),
    ("model", "model"),
    ("serial", "serial"),
    ("state", "state"),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(NvmeCollector {
        class: ctx.paths.sys("class/nvme"),
    }))
}

struct NvmeCollector {
    class: PathBuf,
}

impl Collector for NvmeCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let devices = numbered_entries(&self.class, "nvme")?;
        if devices.is_empty() {
            return Ok(());
        }
        let family = out.family(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            Kind::Gauge,
        );
        for (number, dir) in &devices {
            let device = format!("nvme{number}");
            let mut values = Vec::with_capacity(FILES.len());
            for (_, file) in FILES {
                values.push(read_file(&dir.join(file))?.trim().to_owned());
            }
            let mut labels = vec![("device", device.as_str())];
            labels.extend(
                FILES
                    .iter()
                    .zip(&values)
                    .map(|((l, _), v)| (*l, v.as_str())),
            );
            family.sample(&labels, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_info_series_per_controller_and_none_without_nvme() {
        let class = tempfile::tempdir().unwrap();
        let collector = NvmeCollector {
            class: class.path().join("nvme"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let dir = class.path().join("nvme/nvme0");
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in [
            ("firmware_rev", "1B2QEXM7\n"),
            ("model", "Samsung SSD 970 EVO 500GB    \n"),
            ("serial", "S466NX0K701415V\n"),
            ("state", "live\n"),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let labels = out.families[0].samples[0].label_pairs();
        assert_eq!(
            labels,
            [
                ("device", "nvme0"),
                ("firmware_revision", "1B2QEXM7"),
                ("model", "Samsung SSD 970 EVO 500GB"),
                ("serial", "S466NX0K701415V"),
                ("state", "live"),
            ]
        );

        std::fs::remove_file(dir.join("state")).unwrap();
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("state"), "{error}");
    }
}
