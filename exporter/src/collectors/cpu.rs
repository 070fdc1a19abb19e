//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`, plus thermal-throttle counters and isolated CPUs from sysfs, as
//! node_exporter's `cpu` collector.
//!
//! `/proc/stat` is parsed here rather than with `procfs_core::KernelStats`, which numbers CPUs
//! by their position in the file: with an offline CPU the kernel skips its line (`cpu0`,
//! `cpu2`), and positional numbering would then put one CPU's time under another's label.

mod topology;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use topology::Topology;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cpu",
    default_enabled: true,
    help: "Seconds each CPU spent per mode from /proc/stat; thermal throttles from sysfs.",
    build,
};

/// Modes of a `cpuN` line in kernel order; the last two are the guest share of user/nice.
const MODES: [&str; 10] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
];
const GUEST: usize = 8;
const GUEST_NICE: usize = 9;
const IDLE: usize = 3;

/// An idle counter that drops by more than this many seconds means the CPU was unplugged
/// and plugged back in; node_exporter resets its cached values then.
const JUMP_BACK_SECONDS: f64 = 3.0;

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(CpuCollector {
        stat: ctx.paths.proc("stat"),
        cpu_dir: ctx.paths.sys("devices/system/cpu"),
        topology: Topology::new(ctx.paths.sys("devices/system/cpu")),
        // USER_HZ is 100 on every Linux architecture in use; asking keeps us right if not.
        ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
        last: Mutex::new(BTreeMap::new()),
    }))
}

struct CpuCollector {
    stat: PathBuf,
    cpu_dir: PathBuf,
    topology: Topology,
    ticks_per_second: f64,
    /// Last seconds exported per CPU, so the counters never go backwards.
    last: Mutex<BTreeMap<u32, [f64; 10]>>,
}

impl Collector for CpuCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.stat)?;
        let cpus = parse_cpu_lines(&text).map_err(|m| CollectorError::parse(&self.stat, m))?;
        // Only CPUs present now are exported: an offline CPU's series ends, rather than
        // repeating its last values as node_exporter does.
        let seconds: Vec<(u32, [f64; 10])> = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            cpus.into_iter()
                .map(|(cpu, ticks)| {
                    let now = ticks.map(|t| t as f64 / self.ticks_per_second);
                    let entry = last.entry(cpu).or_insert([0.0; 10]);
                    *entry = monotonic(*entry, now);
                    (cpu, *entry)
                })
                .collect()
        };

        let family = out.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            Kind::Counter,
        );
        for (cpu, values) in &seconds {
            let cpu = cpu.to_string();
            for (mode, value) in MODES.iter().zip(values).take(GUEST) {
                family.sample(&[("cpu", &cpu), ("mode", mode)], *value);
            }
        }
        let guest = out.family(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            Kind::Counter,
        );
        // The kernel also counts guest time in user/nice; these series are that share.
        for (cpu, values) in &seconds {
            let cpu = cpu.to_string();
            guest.sample(&[("cpu", &cpu), ("mode", "user")], values[GUEST]);
            guest.sample(&[("cpu", &cpu), ("mode", "nice")], values[GUEST_NICE]);
        }

        let online: Vec<u32> = seconds.iter().map(|(cpu, _)| *cpu).collect();
        self.throttles(&online, out);
        self.isolated(out);
        Ok(())
    }
}

impl CpuCollector {
    /// `node_cpu_{core,package}_throttles_total` from `cpuN/thermal_throttle` (Intel only).
    /// Each core and package is read once, from the first CPU that belongs to it.
    fn throttles(&self, online: &[u32], out: &mut MetricSet) {
        let files = self.topology.throttle_files(online);
        let family = out.family(
            "node_cpu_core_throttles_total",
            "Number of times this CPU core has been throttled.",
            Kind::Counter,
        );
        for (&(package, core), path) in &files.cores {
            if let Some(count) = read_u64(path) {
                family.sample(
                    &[
                        ("core", &core.to_string()),
                        ("package", &package.to_string()),
                    ],
                    count as f64,
                );
            }
        }
        let family = out.family(
            "node_cpu_package_throttles_total",
            "Number of times this CPU package has been throttled.",
            Kind::Counter,
        );
        for (&package, path) in &files.packages {
            if let Some(count) = read_u64(path) {
                family.sample(&[("package", &package.to_string())], count as f64);
            }
        }
    }

    /// `node_cpu_isolated{cpu}` for each CPU in `isolated` (the `isolcpus=` boot option).
    fn isolated(&self, out: &mut MetricSet) {
        let Ok(text) = super::kernel_files::read_to_string(&self.cpu_dir.join("isolated")) else {
            return;
        };
        let Some(cpus) = parse_cpu_list(&text) else {
            tracing::debug!(path = %self.cpu_dir.join("isolated").display(), "unparsable CPU list");
            return;
        };
        let family = out.family(
            "node_cpu_isolated",
            "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            Kind::Gauge,
        );
        for cpu in cpus {
            family.sample(&[("cpu", &cpu.to_string())], 1.0);
        }
    }
}

/// The `cpuN` directories under `devices/system/cpu`, in CPU order. Shared with `cpufreq`.
pub(super) fn cpu_dirs(cpu_dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let number = name.to_str()?.strip_prefix("cpu")?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    dirs.sort_unstable_by_key(|(n, _)| *n);
    dirs
}

/// Reads a sysfs file holding one unsigned number; absent or unreadable is `None`.
pub(super) fn read_u64(path: &Path) -> Option<u64> {
    super::kernel_files::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Keeps every mode's counter from going backwards (iowait may, by the kernel's own docs),
/// unless idle jumped back far enough to mean a CPU hotplug, which starts the CPU afresh.
fn monotonic(previous: [f64; 10], now: [f64; 10]) -> [f64; 10] {
    let base = if previous[IDLE] - now[IDLE] >= JUMP_BACK_SECONDS {
        [0.0; 10]
    } else {
        previous
    };
    std::array::from_fn(|i| now[i].max(base[i]))
}

/// The per-CPU lines of `/proc/stat` as (CPU number, ticks per mode). Modes an old kernel
/// does not report are zero.
fn parse_cpu_lines(text: &str) -> Result<Vec<(u32, [u64; 10])>, String> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(number) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let number = number
            .parse()
            .map_err(|_| format!("bad CPU name in line {line:?}"))?;
        let mut ticks = [0u64; 10];
        let mut seen = 0;
        for (slot, field) in ticks.iter_mut().zip(fields) {
            *slot = field
                .parse()
                .map_err(|_| format!("bad tick count {field:?} for cpu{number}"))?;
            seen += 1;
        }
        if seen < 4 {
            return Err(format!(
                "cpu{number} has {seen} fields, expected at least 4"
            ));
        }
        cpus.push((number, ticks));
    }
    if cpus.is_empty() {
        return Err("no per-CPU lines".into());
    }
    Ok(cpus)
}

/// Parses the kernel's CPU list format (`0-2,5`), as in `isolated` and `online`.
fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => cpus.extend(from.parse::<u32>().ok()?..=to.parse().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  117318 0 34485 2420626 2727 0 345 4412 0 0
cpu0 55433 0 17250 1213925 749 0 45 2307 0 0
cpu2 61884 3 17235 1206700 1977 0 299 2104 120 7
intr 1045183 0 0
ctxt 1230767
";

    #[test]
    fn keeps_kernel_cpu_numbers_when_one_is_offline() {
        let cpus = parse_cpu_lines(STAT).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].0, 0);
        assert_eq!(
            cpus[1],
            (2, [61884, 3, 17235, 1206700, 1977, 0, 299, 2104, 120, 7])
        );
    }

    #[test]
    fn old_kernels_without_steal_and_guest_read_as_zero() {
        let cpus = parse_cpu_lines("cpu0 1 2 3 4 5\n").unwrap();
        assert_eq!(cpus[0].1, [1, 2, 3, 4, 5, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_cpu_lines("cpu0 1 x 3 4\n").is_err());
        assert!(parse_cpu_lines("cpu0 1 2\n").is_err());
        assert!(parse_cpu_lines("ctxt 5\n").is_err());
    }

    #[test]
    fn counters_never_go_backwards_but_hotplug_resets() {
        let mut prev = [0.0; 10];
        prev[IDLE] = 100.0;
        prev[4] = 5.0;
        let mut now = prev;
        now[IDLE] = 101.0;
        now[4] = 4.0; // iowait dipped
        let kept = monotonic(prev, now);
        assert_eq!(kept[4], 5.0);
        assert_eq!(kept[IDLE], 101.0);
        let mut replugged = [0.0; 10];
        replugged[IDLE] = 1.0;
        replugged[4] = 0.5;
        assert_eq!(monotonic(prev, replugged), replugged);
    }

    /// The topology is cached, the counters are not: a throttle between two scrapes shows.
    #[test]
    fn throttle_counters_are_read_on_every_scrape() {
        let root = tempfile::tempdir().unwrap();
        let cpu0 = root.path().join("cpu0");
        std::fs::create_dir_all(cpu0.join("topology")).unwrap();
        std::fs::create_dir_all(cpu0.join("thermal_throttle")).unwrap();
        std::fs::write(cpu0.join("topology/physical_package_id"), "0\n").unwrap();
        std::fs::write(cpu0.join("topology/core_id"), "0\n").unwrap();
        let stat = root.path().join("stat");
        std::fs::write(&stat, "cpu0 1 2 3 4\n").unwrap();
        let collector = CpuCollector {
            stat,
            cpu_dir: root.path().to_owned(),
            topology: Topology::new(root.path().to_owned()),
            ticks_per_second: 100.0,
            last: Mutex::new(BTreeMap::new()),
        };
        let core_throttles = |count: &str| {
            std::fs::write(cpu0.join("thermal_throttle/core_throttle_count"), count).unwrap();
            let mut out = MetricSet::default();
            collector.collect(&mut out).unwrap();
            out.normalize();
            let family = out
                .families
                .iter()
                .find(|f| f.name == "node_cpu_core_throttles_total")
                .unwrap();
            family.samples[0].value.clone()
        };
        assert_eq!(core_throttles("3\n"), crate::exposition::Value::Number(3.0));
        assert_eq!(core_throttles("5\n"), crate::exposition::Value::Number(5.0));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("\n"), Some(vec![]));
        assert_eq!(parse_cpu_list("a-b"), None);
    }
}
