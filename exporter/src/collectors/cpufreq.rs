//! CPU frequencies and governors from `/sys/devices/system/cpu/cpuN/cpufreq`, as
//! node_exporter's `cpufreq` collector: `node_cpu_frequency_{,min_,max_}hertz`,
//! `node_cpu_scaling_frequency_{,min_,max_}hertz` and `node_cpu_scaling_governor`.

use std::path::PathBuf;

use super::cpu::{cpu_dirs, read_u64};
use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cpufreq",
    default_enabled: true,
    help: "CPU frequency and governor from /sys/devices/system/cpu/cpu*/cpufreq.",
    build,
};

/// sysfs file (kHz), metric name, help.
const FREQUENCIES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum CPU thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(CpufreqCollector {
        cpu_dir: ctx.paths.sys("devices/system/cpu"),
    }))
}

struct CpufreqCollector {
    cpu_dir: PathBuf,
}

impl Collector for CpufreqCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let cpus: Vec<_> = cpu_dirs(&self.cpu_dir)
            .into_iter()
            .map(|(n, dir)| (n.to_string(), dir.join("cpufreq")))
            .filter(|(_, dir)| dir.is_dir())
            .collect();
        if cpus.is_empty() {
            // VMs and containers usually have no cpufreq driver; that is not a failure.
            return Err(CollectorError::NoData(format!(
                "no cpufreq directories under {}",
                self.cpu_dir.display()
            )));
        }
        for (file, name, help) in FREQUENCIES {
            let family = out.family(name, help, Kind::Gauge);
            for (cpu, dir) in &cpus {
                // cpuinfo_cur_freq is readable by root only; unreadable means "not exported".
                if let Some(khz) = read_u64(&dir.join(file)) {
                    family.sample(&[("cpu", cpu)], khz as f64 * 1000.0);
                }
            }
        }
        let family = out.family(
            "node_cpu_scaling_governor",
            "Current enabled CPU frequency governor.",
            Kind::Gauge,
        );
        for (cpu, dir) in &cpus {
            let Ok(current) = std::fs::read_to_string(dir.join("scaling_governor")) else {
                continue;
            };
            let available = std::fs::read_to_string(dir.join("scaling_available_governors"))
                .unwrap_or_default();
            for (governor, active) in governors(current.trim(), &available) {
                family.sample(
                    &[("cpu", cpu), ("governor", governor)],
                    if active { 1.0 } else { 0.0 },
                );
            }
        }
        Ok(())
    }
}

/// Each available governor and whether it is the active one. The active governor is always
/// listed, even when the driver does not publish `scaling_available_governors`.
fn governors<'a>(current: &'a str, available: &'a str) -> Vec<(&'a str, bool)> {
    let mut list: Vec<_> = available
        .split_ascii_whitespace()
        .map(|g| (g, g == current))
        .collect();
    if !current.is_empty() && !list.iter().any(|(_, active)| *active) {
        list.push((current, true));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_active_governor() {
        assert_eq!(
            governors("powersave", "performance powersave\n"),
            [("performance", false), ("powersave", true)]
        );
        assert_eq!(governors("schedutil", ""), [("schedutil", true)]);
        assert!(governors("", "").is_empty());
    }
}
