//! `node_time_seconds` and the clock sources from
//! `/sys/devices/system/clocksource/clocksourceN`, as node_exporter's `time` collector.
//!
//! `node_time_zone_offset_seconds` is left out: the offset is a property of the exporter's
//! environment (`TZ`, usually UTC in a container), not of the host.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "time",
    default_enabled: true,
    help: "System time, and the available and current clock sources from sysfs.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(TimeCollector {
        clocksource_dir: ctx.paths.sys("devices/system/clocksource"),
    }))
}

struct TimeCollector {
    clocksource_dir: PathBuf,
}

impl Collector for TimeCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| CollectorError::Other(format!("system clock before 1970: {e}")))?;
        out.gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            now.as_secs_f64(),
        );

        let mut devices = clocksource_devices(&self.clocksource_dir);
        devices.sort_unstable();
        let available = out.family(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
            Kind::Gauge,
        );
        for (device, dir) in &devices {
            let text = super::kernel_files::read_to_string(&dir.join("available_clocksource"))
                .unwrap_or_default();
            for source in text.split_ascii_whitespace() {
                available.sample(
                    &[("clocksource", source), ("device", &device.to_string())],
                    1.0,
                );
            }
        }
        let current = out.family(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            Kind::Gauge,
        );
        for (device, dir) in &devices {
            if let Ok(text) = super::kernel_files::read_to_string(&dir.join("current_clocksource"))
            {
                current.sample(
                    &[
                        ("clocksource", text.trim()),
                        ("device", &device.to_string()),
                    ],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

/// `clocksourceN` directories as (N, path); none is not an error (containers may hide them).
fn clocksource_devices(dir: &std::path::Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let number = entry
                .file_name()
                .to_str()?
                .strip_prefix("clocksource")?
                .parse()
                .ok()?;
            Some((number, entry.path()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_clock_and_clocksources() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("clocksource0");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("available_clocksource"), "tsc hpet acpi_pm \n").unwrap();
        std::fs::write(source.join("current_clocksource"), "tsc\n").unwrap();
        let collector = TimeCollector {
            clocksource_dir: dir.path().to_owned(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let text = out.encode_text();
        assert!(
            text.contains(
                "node_time_clocksource_available_info{clocksource=\"hpet\",device=\"0\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "node_time_clocksource_current_info{clocksource=\"tsc\",device=\"0\"} 1\n"
            ),
            "{text}"
        );
        // 4 clocksource series plus the clock, which is after 2020 on any machine running this.
        assert_eq!(out.len_samples(), 5);
        let now = &out.families[0].samples[0].value;
        assert!(matches!(now, crate::exposition::Value::Number(t) if *t > 1.6e9));
    }
}
