//! `node_power_supply_*{power_supply}` from sysfs `class/power_supply/<name>/`, as
//! node_exporter's `powersupplyclass` collector: mains adapters, batteries and UPS units the
//! kernel knows, with their charge, energy, voltages, currents, temperatures and state.
//!
//! On a server this is whether it runs on mains (`online`) and, behind a UPS or with a
//! battery-backed RAID cache, how much is left; on an edge box or a laptop in a rack it is
//! the battery's health over time (`energy_full` against `energy_full_design`).
//!
//! An attribute the driver cannot give right now (reading it fails, as `current_now` does
//! on some batteries when idle) is left out, not reported as 0; a value that is not a number
//! is an error naming the file.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, sorted_entries};
use crate::config::Pattern;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "powersupplyclass",
    default_enabled: true,
    help: "Mains adapters, batteries and UPSes from /sys/class/power_supply.",
    build,
};

/// Micro-units (µV, µA, µWh, µAh, µW) per unit. A divisor, not a factor of 1e-6: 47520000
/// µWh is then exactly 47.52 Wh, as node_exporter reports it, not 47.519999999999996.
const MICRO: f64 = 1e6;
/// Tenths of a degree Celsius per degree.
const DECI: f64 = 10.0;

/// Numeric attributes: the sysfs file, the metric name after `node_power_supply_` (node
/// exporter's, which keeps the file's unit name for some and not others), and the divisor.
const NUMBERS: [(&str, &str, f64); 49] = [
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", MICRO),
    ("current_max", "current_max", MICRO),
    ("current_now", "current_ampere", MICRO),
    ("energy_empty", "energy_empty", MICRO),
    ("energy_empty_design", "energy_empty_design", MICRO),
    ("energy_full", "energy_full", MICRO),
    ("energy_full_design", "energy_full_design", MICRO),
    ("energy_now", "energy_watthour", MICRO),
    ("voltage_boot", "voltage_boot", MICRO),
    ("voltage_max", "voltage_max", MICRO),
    ("voltage_max_design", "voltage_max_design", MICRO),
    ("voltage_min", "voltage_min", MICRO),
    ("voltage_min_design", "voltage_min_design", MICRO),
    ("voltage_now", "voltage_volt", MICRO),
    ("voltage_ocv", "voltage_ocv", MICRO),
    ("charge_control_limit", "charge_control_limit", MICRO),
    (
        "charge_control_limit_max",
        "charge_control_limit_max",
        MICRO,
    ),
    ("charge_counter", "charge_counter", MICRO),
    ("charge_empty", "charge_empty", MICRO),
    ("charge_empty_design", "charge_empty_design", MICRO),
    ("charge_full", "charge_full", MICRO),
    ("charge_full_design", "charge_full_design", MICRO),
    ("charge_now", "charge_ampere", MICRO),
    ("charge_term_current", "charge_term_current", MICRO),
    ("constant_charge_current", "constant_charge_current", MICRO),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        MICRO,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", MICRO),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        MICRO,
    ),
    ("precharge_current", "precharge_current", MICRO),
    ("input_current_limit", "input_current_limit", MICRO),
    ("power_now", "power_watt", MICRO),
    ("temp", "temp_celsius", DECI),
    ("temp_alert_max", "temp_alert_max_celsius", DECI),
    ("temp_alert_min", "temp_alert_min_celsius", DECI),
    ("temp_ambient", "temp_ambient_celsius", DECI),
    ("temp_ambient_max", "temp_ambient_max_celsius", DECI),
    ("temp_ambient_min", "temp_ambient_min_celsius", DECI),
    ("temp_max", "temp_max_celsius", DECI),
    ("temp_min", "temp_min_celsius", DECI),
];

/// Text attributes, reported as labels of `node_power_supply_info` (sorted).
const TEXTS: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(PowerSupplyCollector {
        class: ctx.paths.sys("class/power_supply"),
        ignored: ctx.config.powersupplyclass.ignored_supplies.clone(),
    }))
}

struct PowerSupplyCollector {
    class: PathBuf,
    /// Supplies not to report (`powersupplyclass.ignored_supplies`).
    ignored: Pattern,
}

/// One supply's readable attributes.
struct Supply {
    name: String,
    numbers: Vec<(&'static str, f64)>,
    texts: Vec<(&'static str, String)>,
}

impl Collector for PowerSupplyCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let dirs: Vec<(String, PathBuf)> = sorted_entries(&self.class)?
            .into_iter()
            .filter(|(name, _)| !self.ignored.is_match(name))
            .collect();
        if dirs.is_empty() {
            return Ok(());
        }
        let mut supplies = Vec::with_capacity(dirs.len());
        for (name, dir) in dirs {
            let mut supply = Supply {
                name,
                numbers: Vec::new(),
                texts: Vec::new(),
            };
            for (file, metric, divisor) in NUMBERS {
                let path = dir.join(file);
                let Ok(text) = super::kernel_files::read_to_string(&path) else {
                    continue;
                };
                let value: i64 = text.trim().parse().map_err(|_| {
                    CollectorError::parse(&path, format!("not an integer: {:?}", text.trim()))
                })?;
                supply.numbers.push((metric, value as f64 / divisor));
            }
            for file in TEXTS {
                if let Ok(text) = super::kernel_files::read_to_string(&dir.join(file)) {
                    let text = text.trim();
                    if !text.is_empty() {
                        supply.texts.push((file, text.to_owned()));
                    }
                }
            }
            supplies.push(supply);
        }
        for (_, metric, _) in NUMBERS {
            let family = out.family(
                format!("node_power_supply_{metric}"),
                format!("{metric} value of /sys/class/power_supply/<power_supply>."),
                Kind::Gauge,
            );
            for supply in &supplies {
                if let Some((_, value)) = supply.numbers.iter().find(|(m, _)| *m == metric) {
                    family.sample(&[("power_supply", &supply.name)], *value);
                }
            }
        }
        let family = out.family(
            "node_power_supply_info",
            "info of /sys/class/power_supply/<power_supply>.",
            Kind::Gauge,
        );
        for supply in &supplies {
            let mut labels: Vec<(&'static str, &str)> = supply
                .texts
                .iter()
                .map(|(label, value)| (*label, value.as_str()))
                .collect();
            labels.push(("power_supply", &supply.name));
            labels.sort_unstable();
            family.sample(&labels, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), format!("{text}\n")).unwrap();
        }
    }

    #[test]
    fn units_scaled_texts_as_info_labels_and_unreadable_attributes_left_out() {
        let class = tempfile::tempdir().unwrap();
        let collector = PowerSupplyCollector {
            class: class.path().join("power_supply"),
            ignored: Pattern::new("^$").unwrap(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        write(
            &class.path().join("power_supply/BAT0"),
            &[
                ("type", "Battery"),
                ("status", "Discharging"),
                ("voltage_now", "12229000"),
                ("current_now", "-1147000"),
                ("temp", "305"),
                ("cycle_count", "41"),
                ("model_name", ""),
            ],
        );
        // A directory where a file should be: reading it fails, as an attribute the driver
        // refuses does.
        std::fs::create_dir_all(class.path().join("power_supply/BAT0/energy_now")).unwrap();
        write(
            &class.path().join("power_supply/AC"),
            &[("online", "1"), ("type", "Mains")],
        );
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        out.normalize();
        let samples = |name: &str| out.samples_of(name);
        let bat = vec![("power_supply".to_owned(), "BAT0".to_owned())];
        assert_eq!(
            samples("node_power_supply_voltage_volt"),
            [(bat.clone(), Value::Number(12.229))]
        );
        assert_eq!(
            samples("node_power_supply_current_ampere"),
            [(bat.clone(), Value::Number(-1.147))]
        );
        assert_eq!(
            samples("node_power_supply_temp_celsius"),
            [(bat.clone(), Value::Number(30.5))]
        );
        assert_eq!(
            samples("node_power_supply_cyclecount"),
            [(bat, Value::Number(41.0))]
        );
        assert!(samples("node_power_supply_energy_watthour").is_empty());
        let info = samples("node_power_supply_info");
        assert_eq!(info.len(), 2);
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            info[0].0,
            pairs(&[("power_supply", "AC"), ("type", "Mains")])
        );
        assert_eq!(
            info[1].0,
            pairs(&[
                ("power_supply", "BAT0"),
                ("status", "Discharging"),
                ("type", "Battery")
            ])
        );

        let batteries_only = PowerSupplyCollector {
            class: collector.class.clone(),
            ignored: Pattern::new("^AC$").unwrap(),
        };
        let mut out = MetricSet::default();
        batteries_only.collect(&mut out).unwrap();
        let online = out.value_of("node_power_supply_online", &[("power_supply", "AC")]);
        assert_eq!(online, None);
        let cycles = out.value_of("node_power_supply_cyclecount", &[("power_supply", "BAT0")]);
        assert_eq!(cycles, Some(41.0));

        write(
            &class.path().join("power_supply/BAT0"),
            &[("capacity", "full")],
        );
        let error = collector
            .collect(&mut MetricSet::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("capacity") && error.contains("not an integer"),
            "{error}"
        );
    }
}
