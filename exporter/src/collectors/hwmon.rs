//! Hardware sensors from `/sys/class/hwmon/hwmon*/` (and each chip's `device/`), named as
//! node_exporter's hwmon collector names them, so its dashboards and alerts keep working:
//! `node_hwmon_temp_celsius{chip,sensor}`, `node_hwmon_temp_{max,crit,...}_celsius`,
//! `node_hwmon_fan_rpm`, `node_hwmon_in_volts`, `node_hwmon_power_*_watt`,
//! `node_hwmon_chip_names{chip,chip_name}` and `node_hwmon_sensor_label{chip,sensor,label}`.
//!
//! `chip` comes from the device path (`platform_coretemp_0`, `nvme_nvme0`), not from the
//! `hwmonN` number: the numbers follow driver load order and change between boots.
//! A chip that cannot be read is logged and skipped; the other chips are still exported.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "hwmon",
    default_enabled: true,
    help: "Temperatures, fan speeds, voltages and power from /sys/class/hwmon.",
    build,
};

/// The sensor file prefixes node_exporter reads; others (`name`, `uevent`, ...) are ignored.
const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// `<type><number>_<property>`, node_exporter's split of sensor file names.
const FILE_NAME: &str = r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$";

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(HwmonCollector::new(ctx.paths.sys("class/hwmon"))?))
}

struct HwmonCollector {
    class: PathBuf,
    /// [`FILE_NAME`], compiled once.
    file_name: Regex,
}

impl HwmonCollector {
    fn new(class: PathBuf) -> Result<Self, CollectorError> {
        let file_name = Regex::new(FILE_NAME).map_err(|e| CollectorError::Other(e.to_string()))?;
        Ok(Self { class, file_name })
    }
}

/// Sensor (`temp1`) → property (`input`, `max`, `label`, or `""` for `pwm1`) → raw value.
type Sensors = BTreeMap<String, BTreeMap<String, String>>;

impl Collector for HwmonCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let entries = match std::fs::read_dir(&self.class) {
            Ok(entries) => entries,
            // No hwmon driver at all (most VMs): nothing is failing, so success with no
            // series. node_exporter reports ErrNoData (success 0) here, which would keep
            // PulseCollectorFailing firing on every VM.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(CollectorError::Io {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort_unstable();
        for dir in dirs {
            if let Err(error) = self.chip(&dir, out) {
                tracing::warn!(chip = %dir.display(), %error, "hwmon: skipping chip");
            }
        }
        Ok(())
    }
}

impl HwmonCollector {
    fn chip(&self, dir: &Path, out: &mut MetricSet) -> Result<(), CollectorError> {
        let chip = chip_name(dir)?;
        let mut sensors = Sensors::new();
        self.read_sensors(dir, &mut sensors)?;
        let device = dir.join("device");
        if device.exists() {
            self.read_sensors(&device, &mut sensors)?;
        }
        if let Some(name) = read_trimmed(&dir.join("name")).map(|n| clean(&n))
            && !name.is_empty()
        {
            out.family(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                Kind::Gauge,
            )
            .sample(&[("chip", &chip), ("chip_name", &name)], 1.0);
        }
        for (sensor, properties) in &sensors {
            emit_sensor(&chip, sensor, properties, &self.file_name, out);
        }
        Ok(())
    }

    /// Reads every sensor file of a known type in `dir` into `sensors`. Unreadable files
    /// (a driver returning EAGAIN or EIO) are skipped, as node_exporter does.
    fn read_sensors(&self, dir: &Path, sensors: &mut Sensors) -> Result<(), CollectorError> {
        let entries = std::fs::read_dir(dir).map_err(|source| CollectorError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            let Some((kind, number, property)) = self.split(file_name) else {
                continue;
            };
            if !SENSOR_TYPES.contains(&kind) {
                continue;
            }
            if let Some(value) = read_trimmed(&entry.path()) {
                sensors
                    .entry(format!("{kind}{number}"))
                    .or_default()
                    .insert(property.to_owned(), value);
            }
        }
        Ok(())
    }

    /// `temp1_crit_alarm` → (`temp`, 1, `crit_alarm`); `pwm1` → (`pwm`, 1, ``);
    /// `beep_enable` → (`beep_enable`, 0, ``).
    fn split<'a>(&self, file_name: &'a str) -> Option<(&'a str, u64, &'a str)> {
        let captures = self.file_name.captures(file_name)?;
        let kind = captures.name("type")?.as_str();
        let number = match captures.name("id").map(|m| m.as_str()) {
            Some(digits) if !digits.is_empty() => digits.parse().ok()?,
            _ => 0,
        };
        let property = captures.name("property").map_or("", |m| m.as_str());
        Some((kind, number, property))
    }
}

/// node_exporter's chip label: `<parent dir>_<device dir>` of the resolved `device` link
/// (`platform_coretemp_0`), else the `name` file, else the `hwmonN` directory name.
fn chip_name(dir: &Path) -> Result<String, CollectorError> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean(&n.to_string_lossy()));
        let parent = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()));
        match (parent, name) {
            (Some(parent), Some(name)) if !parent.is_empty() && !name.is_empty() => {
                return Ok(format!("{parent}_{name}"));
            }
            (_, Some(name)) if !name.is_empty() => return Ok(name),
            _ => {}
        }
    }
    if let Some(name) = read_trimmed(&dir.join("name")).map(|n| clean(&n))
        && !name.is_empty()
    {
        return Ok(name);
    }
    let real = std::fs::canonicalize(dir).map_err(|source| CollectorError::Io {
        path: dir.to_owned(),
        source,
    })?;
    real.file_name()
        .map(|n| clean(&n.to_string_lossy()))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CollectorError::parse(dir, "cannot derive a chip name"))
}

/// Lower case, every character outside `[a-z0-9:_]` replaced by `_`, `_` trimmed at both ends.
fn clean(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_owned()
}

fn read_trimmed(path: &Path) -> Option<String> {
    super::kernel_files::read_to_string(path)
        .ok()
        .map(|s| s.trim_matches('\n').to_owned())
}

/// Emits one sensor's series. The names, units and scale factors are node_exporter's
/// (sysfs gives millidegrees, millivolts, milliamps, microwatts, microjoules).
fn emit_sensor(
    chip: &str,
    sensor: &str,
    properties: &BTreeMap<String, String>,
    file_name: &Regex,
    out: &mut MetricSet,
) {
    let kind = file_name
        .captures(sensor)
        .and_then(|c| c.name("type"))
        .map_or(sensor, |m| m.as_str());
    let labels = [("chip", chip), ("sensor", sensor)];
    if let Some(label) = properties.get("label").filter(|l| !l.is_empty()) {
        out.family(
            "node_hwmon_sensor_label",
            "Label for given chip and sensor",
            Kind::Gauge,
        )
        .sample(&[("chip", chip), ("sensor", sensor), ("label", label)], 1.0);
    }
    let bare = properties.get("");
    let bare_number = bare.and_then(|v| v.parse::<f64>().ok());
    match kind {
        "beep_enable" => {
            let on = if bare.is_some_and(|v| v == "1") {
                1.0
            } else {
                0.0
            };
            out.family(
                "node_hwmon_beep_enabled",
                "Hardware beep enabled",
                Kind::Gauge,
            )
            .sample(&labels, on);
            return;
        }
        "vrm" => {
            if let Some(v) = bare_number {
                out.family(
                    "node_hwmon_voltage_regulator_version",
                    "Hardware voltage regulator",
                    Kind::Gauge,
                )
                .sample(&labels, v);
            }
            return;
        }
        "update_interval" => {
            if let Some(v) = bare_number {
                out.family(
                    "node_hwmon_update_interval_seconds",
                    "Hardware monitor update interval",
                    Kind::Gauge,
                )
                .sample(&labels, v * 0.001);
            }
            return;
        }
        _ => {}
    }
    for (element, value) in properties {
        if element == "label" {
            continue;
        }
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let mut name = format!("node_hwmon_{kind}");
        if element == "input" {
            // `temp1_input` is the reading itself, unless there is also a bare `temp1`.
            if bare.is_some() {
                name.push_str("_input");
            }
        } else if !element.is_empty() {
            name.push('_');
            name.push_str(&clean(element));
        }
        let (name, help, value, family_kind) = series(kind, element, name, value);
        out.family(name, help, family_kind).sample(&labels, value);
    }
}

/// Unit suffix, help, scaled value and type for one sensor property.
fn series(kind: &str, element: &str, name: String, v: f64) -> (String, String, f64, Kind) {
    let gauge = Kind::Gauge;
    match (kind, element) {
        (_, "fault" | "alarm") => (
            name,
            format!("Hardware sensor {element} status ({kind})"),
            v,
            gauge,
        ),
        (_, "beep") => (
            format!("{name}_enabled"),
            "Hardware monitor sensor has beeping enabled".into(),
            v,
            gauge,
        ),
        ("in" | "cpu", _) => (
            format!("{name}_volts"),
            format!("Hardware monitor for voltage ({element})"),
            v * 0.001,
            gauge,
        ),
        ("temp", e) if e != "type" => (
            format!("{name}_celsius"),
            format!(
                "Hardware monitor for temperature ({})",
                if e.is_empty() { "input" } else { e }
            ),
            v * 0.001,
            gauge,
        ),
        ("curr", _) => (
            format!("{name}_amps"),
            format!("Hardware monitor for current ({element})"),
            v * 0.001,
            gauge,
        ),
        ("energy", _) => (
            format!("{name}_joule_total"),
            format!("Hardware monitor for joules used so far ({element})"),
            v / 1_000_000.0,
            Kind::Counter,
        ),
        ("power", "accuracy") => (
            name,
            "Hardware monitor power meter accuracy, as a ratio".into(),
            v / 1_000_000.0,
            gauge,
        ),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
            format!("{name}_seconds"),
            format!("Hardware monitor power usage update interval ({element})"),
            v * 0.001,
            gauge,
        ),
        ("power", _) => (
            format!("{name}_watt"),
            format!("Hardware monitor for power usage in watts ({element})"),
            v / 1_000_000.0,
            gauge,
        ),
        ("humidity", _) => (
            name,
            format!(
                "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the \
                 humidity as a percentage) ({element})"
            ),
            v / 1_000_000.0,
            gauge,
        ),
        ("fan", "input" | "min" | "max" | "target") => (
            format!("{name}_rpm"),
            format!("Hardware monitor for fan revolutions per minute ({element})"),
            v,
            gauge,
        ),
        _ => (
            name,
            format!("Hardware monitor {kind} element {element}"),
            v,
            gauge,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;
    use std::os::unix::fs::symlink;

    fn collector(class: PathBuf) -> HwmonCollector {
        HwmonCollector::new(class).unwrap()
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `name{labels} value` lines, sorted, for compact assertions.
    fn lines(set: &MetricSet) -> Vec<String> {
        let mut lines: Vec<String> = set
            .families
            .iter()
            .flat_map(|f| {
                f.samples.iter().map(move |s| {
                    let labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let Value::Number(v) = s.value else {
                        unreachable!()
                    };
                    format!("{}{{{}}} {v}", f.name, labels.join(","))
                })
            })
            .collect();
        lines.sort_unstable();
        lines
    }

    #[test]
    fn splits_file_names_like_node_exporter() {
        let c = collector(PathBuf::new());
        assert_eq!(c.split("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(c.split("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(c.split("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(c.split("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(c.split("in10_max"), Some(("in", 10, "max")));
        assert_eq!(c.split("12"), None);
    }

    #[test]
    fn cleans_names() {
        assert_eq!(clean("Package id 0"), "package_id_0");
        assert_eq!(clean("coretemp.0\n"), "coretemp_0");
        assert_eq!(clean("--"), "");
    }

    #[test]
    fn chip_named_from_device_path_then_name_file_then_directory() {
        let root = tempfile::tempdir().unwrap();
        let device = root.path().join("devices/platform/coretemp.0");
        let with_device = device.join("hwmon/hwmon1");
        write(&with_device.join("name"), "coretemp\n");
        symlink(&device, with_device.join("device")).unwrap();
        assert_eq!(chip_name(&with_device).unwrap(), "platform_coretemp_0");

        let named = root.path().join("devices/virtual/hwmon/hwmon0");
        write(&named.join("name"), "acpitz\n");
        assert_eq!(chip_name(&named).unwrap(), "acpitz");

        let bare = root.path().join("devices/virtual/hwmon/hwmon7");
        std::fs::create_dir_all(&bare).unwrap();
        assert_eq!(chip_name(&bare).unwrap(), "hwmon7");
    }

    #[test]
    fn exports_units_labels_and_skips_garbage() {
        let root = tempfile::tempdir().unwrap();
        let class = root.path().join("class/hwmon");
        let chip = root.path().join("devices/virtual/hwmon/hwmon0");
        for (file, text) in [
            ("name", "nct6798\n"),
            ("temp1_input", "38850\n"),
            ("temp1_max", "81850\n"),
            ("temp1_label", "Composite\n"),
            ("temp2_input", "not a number\n"),
            ("fan1_input", "1054\n"),
            ("fan1_pulses", "2\n"),
            ("in0_input", "1016\n"),
            ("power1_average", "12345000\n"),
            ("energy1_input", "36000000\n"),
            ("pwm1", "128\n"),
            ("uevent", "DRIVER=nct6775\n"),
        ] {
            write(&chip.join(file), text);
        }
        std::fs::create_dir_all(&class).unwrap();
        symlink(&chip, class.join("hwmon0")).unwrap();
        // A dangling entry must not hide the good chip.
        symlink(root.path().join("gone"), class.join("hwmon9")).unwrap();

        let mut out = MetricSet::default();
        collector(class).collect(&mut out).unwrap();
        out.normalize();
        assert_eq!(
            lines(&out),
            [
                "node_hwmon_chip_names{chip=nct6798,chip_name=nct6798} 1",
                "node_hwmon_energy_joule_total{chip=nct6798,sensor=energy1} 36",
                "node_hwmon_fan_pulses{chip=nct6798,sensor=fan1} 2",
                "node_hwmon_fan_rpm{chip=nct6798,sensor=fan1} 1054",
                "node_hwmon_in_volts{chip=nct6798,sensor=in0} 1.016",
                "node_hwmon_power_average_watt{chip=nct6798,sensor=power1} 12.345",
                "node_hwmon_pwm{chip=nct6798,sensor=pwm1} 128",
                "node_hwmon_sensor_label{chip=nct6798,sensor=temp1,label=Composite} 1",
                "node_hwmon_temp_celsius{chip=nct6798,sensor=temp1} 38.85",
                "node_hwmon_temp_max_celsius{chip=nct6798,sensor=temp1} 81.85000000000001",
            ]
        );
        let energy = out
            .families
            .iter()
            .find(|f| f.name == "node_hwmon_energy_joule_total")
            .unwrap();
        assert_eq!(energy.kind, Kind::Counter);
    }

    #[test]
    fn no_hwmon_class_is_success_without_series() {
        let root = tempfile::tempdir().unwrap();
        let mut out = MetricSet::default();
        collector(root.path().join("class/hwmon"))
            .collect(&mut out)
            .unwrap();
        assert!(out.families.is_empty());
    }
}
