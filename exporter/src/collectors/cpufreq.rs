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
            // Most VMs have no cpufreq driver: a permanent, normal state, so success with no
            // series (as node_exporter), not a failure an alert on success == 0 would flag.
            tracing::debug!(dir = %self.cpu_dir.display(), "no cpufreq directories");
            return Ok(());
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
            let Ok(current) = super::kernel_files::read_to_string(&dir.join("scaling_governor"))
            else {
                continue;
            };
            let available =
                super::kernel_files::read_to_string(&dir.join("scaling_available_governors"))
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
    fn no_cpufreq_driver_is_success_without_series() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cpu0/topology")).unwrap();
        let collector = CpufreqCollector {
            cpu_dir: dir.path().to_owned(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.len_samples(), 0);
    }

    #[test]
    fn reads_khz_as_hertz_and_skips_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let freq = dir.path().join("cpu3/cpufreq");
        std::fs::create_dir_all(&freq).unwrap();
        std::fs::write(freq.join("scaling_cur_freq"), "1800000\n").unwrap();
        std::fs::write(freq.join("scaling_governor"), "schedutil\n").unwrap();
        let collector = CpufreqCollector {
            cpu_dir: dir.path().to_owned(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        out.normalize();
        let text = out.encode_text();
        assert!(
            text.contains("node_cpu_scaling_frequency_hertz{cpu=\"3\"} 1800000000\n"),
            "{text}"
        );
        assert!(
            text.contains("node_cpu_scaling_governor{cpu=\"3\",governor=\"schedutil\"} 1\n"),
            "{text}"
        );
        assert_eq!(out.len_samples(), 2, "{text}");
    }

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
