//! `node_thermal_zone_temp{type,zone}` from `/sys/class/thermal/thermal_zone*/{type,temp}`
//! and `node_cooling_device_{cur,max}_state{name,type}` from
//! `/sys/class/thermal/cooling_device*/`, as node_exporter's thermal_zone collector.
//!
//! A zone whose `temp` cannot be read right now (some ACPI zones answer EAGAIN or ENODATA
//! while the firmware is busy) is skipped for this scrape; the others are still exported.

use std::path::{Path, PathBuf};

use super::{BuildContext, Collector, CollectorError, CollectorSpec, numbered_entries, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "thermal_zone",
    default_enabled: true,
    help: "Thermal zone temperatures and cooling device states from /sys/class/thermal.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(ThermalZoneCollector {
        class: ctx.paths.sys("class/thermal"),
    }))
}

struct ThermalZoneCollector {
    class: PathBuf,
}

impl Collector for ThermalZoneCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let zones = numbered_entries(&self.class, "thermal_zone")?;
        let family = out.family(
            "node_thermal_zone_temp",
            "Zone temperature in Celsius",
            Kind::Gauge,
        );
        for (zone, dir) in &zones {
            let kind = read_value(&dir.join("type"))?;
            let temp_path = dir.join("temp");
            let temp = match read_value(&temp_path) {
                Ok(temp) => temp,
                Err(CollectorError::Io { source, .. }) => {
                    tracing::debug!(path = %temp_path.display(), error = %source, "thermal zone unreadable");
                    continue;
                }
                Err(other) => return Err(other),
            };
            let millidegrees = parse_int(&temp_path, &temp)?;
            family.sample(
                &[("zone", zone), ("type", &kind)],
                millidegrees as f64 / 1000.0,
            );
        }

        let devices = numbered_entries(&self.class, "cooling_device")?;
        let mut states = Vec::with_capacity(devices.len());
        for (name, dir) in &devices {
            let kind = read_value(&dir.join("type"))?;
            let current = dir.join("cur_state");
            let max = dir.join("max_state");
            let current = parse_int(&current, &read_value(&current)?)?;
            let max = parse_int(&max, &read_value(&max)?)?;
            states.push((name, kind, current, max));
        }
        let family = out.family(
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            Kind::Gauge,
        );
        for (name, kind, current, _) in &states {
            family.sample(&[("name", name), ("type", kind)], *current as f64);
        }
        let family = out.family(
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            Kind::Gauge,
        );
        for (name, kind, _, max) in &states {
            family.sample(&[("name", name), ("type", kind)], *max as f64);
        }
        Ok(())
    }
}

fn read_value(path: &Path) -> Result<String, CollectorError> {
    Ok(read_file(path)?.trim().to_owned())
}

/// Temperatures may be negative (millidegrees), and so may `cur_state` (intel_powerclamp
/// reports -1 when idle).
fn parse_int(path: &Path, text: &str) -> Result<i64, CollectorError> {
    text.parse()
        .map_err(|_| CollectorError::parse(path, format!("expected an integer, got {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn values(set: &MetricSet, name: &str) -> Vec<(Vec<String>, f64)> {
        let family = set.families.iter().find(|f| f.name == name).unwrap();
        family
            .samples
            .iter()
            .map(|s| {
                let Value::Number(v) = s.value else {
                    unreachable!()
                };
                (s.labels.iter().map(|(_, v)| v.clone()).collect(), v)
            })
            .collect()
    }

    #[test]
    fn zones_and_cooling_devices() {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path();
        write(&class.join("thermal_zone10/type"), "iwlwifi_1\n");
        write(&class.join("thermal_zone10/temp"), "-5500\n");
        write(&class.join("thermal_zone2/type"), "x86_pkg_temp\n");
        write(&class.join("thermal_zone2/temp"), "55000\n");
        write(&class.join("cooling_device0/type"), "intel_powerclamp\n");
        write(&class.join("cooling_device0/cur_state"), "-1\n");
        write(&class.join("cooling_device0/max_state"), "50\n");
        let mut out = MetricSet::default();
        ThermalZoneCollector {
            class: class.to_owned(),
        }
        .collect(&mut out)
        .unwrap();
        let label = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
        assert_eq!(
            values(&out, "node_thermal_zone_temp"),
            [
                (label("2", "x86_pkg_temp"), 55.0),
                (label("10", "iwlwifi_1"), -5.5)
            ]
        );
        assert_eq!(
            values(&out, "node_cooling_device_cur_state"),
            [(label("0", "intel_powerclamp"), -1.0)]
        );
        assert_eq!(
            values(&out, "node_cooling_device_max_state"),
            [(label("0", "intel_powerclamp"), 50.0)]
        );
    }

    #[test]
    fn unreadable_temp_skips_the_zone_but_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path();
        write(&class.join("thermal_zone0/type"), "acpitz\n");
        let collector = ThermalZoneCollector {
            class: class.to_owned(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families[0].samples.is_empty());

        write(&class.join("thermal_zone0/temp"), "warm\n");
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("thermal_zone0/temp"), "{error}");
        assert!(error.to_string().contains("\"warm\""), "{error}");
    }

    #[test]
    fn no_thermal_class_is_success_without_series() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = MetricSet::default();
        ThermalZoneCollector {
            class: dir.path().join("nope"),
        }
        .collect(&mut out)
        .unwrap();
        assert!(out.families.iter().all(|f| f.samples.is_empty()));
    }
}
