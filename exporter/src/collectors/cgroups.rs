//! `container_*`: cgroup CPU, memory, OOM and (v2) pressure figures per cgroup, with cAdvisor's
//! metric names and its `id` label (the cgroup path, `/` for the root).
//!
//! Both hierarchies are read: the unified v2 tree, and on hosts still on cgroup v1 (RHEL and
//! CentOS 7/8, older Debian and Ubuntu, many Kubernetes nodes) the `memory` tree, with the CPU
//! figures of the same cgroup from the `cpuacct` and `cpu` controllers. v1 has no per-cgroup
//! pressure (PSI) files, so those series are v2-only.
//!
//! The walk starts at `<sysfs>/fs/cgroup`, goes breadth-first in name order to at most
//! `cgroups.max_depth` levels below the root and stops after `cgroups.max_cgroups` cgroups,
//! so a host with thousands of transient scopes cannot flood the output; the number left out
//! is `pulse_cgroups_overflowed`. Each file is optional (the root has no `memory.current`,
//! controllers may be disabled for a subtree): what is missing is skipped, not an error.
//! cAdvisor's `name`, `image` and container labels come from the container runtime's API,
//! not from the cgroup tree, so they are not exported.

use std::path::{Path, PathBuf};

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cgroups",
    default_enabled: true,
    help: "cgroup CPU, memory, OOM and (v2) pressure per service/container (cAdvisor container_* names).",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(CgroupsCollector {
        root: ctx.paths.sys("fs/cgroup"),
        max_depth: ctx.config.cgroups.max_depth,
        max_cgroups: ctx.config.cgroups.max_cgroups,
    }))
}

struct CgroupsCollector {
    root: PathBuf,
    max_depth: usize,
    max_cgroups: usize,
}

/// The figures of one cgroup; `None` where the file is absent.
#[derive(Debug, Default, PartialEq)]
struct CgroupStats {
    id: String,
    cpu: Option<CpuStat>,
    /// `cpu.max`: (quota µs or `None` for `max`, period µs).
    cpu_max: Option<(Option<u64>, u64)>,
    memory_current: Option<u64>,
    /// `memory.max`; `Some(None)` is `max` (no limit).
    memory_max: Option<Option<u64>>,
    memory_swap: Option<u64>,
    memory: Option<MemoryStat>,
    oom_kills: Option<u64>,
    /// (some, full) totals in µs for cpu, memory, io.
    pressure: [Option<(u64, u64)>; 3],
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct CpuStat {
    usage_usec: u64,
    user_usec: u64,
    system_usec: u64,
    nr_periods: u64,
    nr_throttled: u64,
    throttled_usec: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct MemoryStat {
    anon: u64,
    file: u64,
    file_mapped: u64,
    inactive_file: u64,
}

/// Looks `key` up in a flat-keyed file (`cpu.stat`, `memory.stat`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

fn parse_cpu_stat(text: &str) -> Option<CpuStat> {
    Some(CpuStat {
        usage_usec: keyed(text, "usage_usec")?,
        user_usec: keyed(text, "user_usec")?,
        system_usec: keyed(text, "system_usec")?,
        // Present only when the cpu controller is enabled for the cgroup.
        nr_periods: keyed(text, "nr_periods").unwrap_or(0),
        nr_throttled: keyed(text, "nr_throttled").unwrap_or(0),
        throttled_usec: keyed(text, "throttled_usec").unwrap_or(0),
    })
}

fn parse_memory_stat(text: &str) -> Option<MemoryStat> {
    Some(MemoryStat {
        anon: keyed(text, "anon")?,
        file: keyed(text, "file")?,
        file_mapped: keyed(text, "file_mapped").unwrap_or(0),
        inactive_file: keyed(text, "inactive_file").unwrap_or(0),
    })
}

/// `cpu.max`: `max 100000` or `50000 100000`.
fn parse_cpu_max(text: &str) -> Option<(Option<u64>, u64)> {
    let mut fields = text.split_ascii_whitespace();
    let quota = match fields.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    Some((quota, fields.next()?.parse().ok()?))
}

/// `memory.max`: a byte count or `max`.
fn parse_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

/// The `total=` of the `some` and `full` lines of a PSI file, in µs (`full` is 0 where the
/// kernel has no such line, as for cpu before Linux 5.13).
fn parse_pressure(text: &str) -> Option<(u64, u64)> {
    let total = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit_once("total="))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    Some((total("some ")?, total("full ").unwrap_or(0)))
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn read_cgroup(dir: &Path, id: String) -> CgroupStats {
    let pressure = |file| read(dir, file).as_deref().and_then(parse_pressure);
    CgroupStats {
        id,
        cpu: read(dir, "cpu.stat").as_deref().and_then(parse_cpu_stat),
        cpu_max: read(dir, "cpu.max").as_deref().and_then(parse_cpu_max),
        memory_current: read(dir, "memory.current").and_then(|t| t.trim().parse().ok()),
        memory_max: read(dir, "memory.max").as_deref().and_then(parse_limit),
        memory_swap: read(dir, "memory.swap.current").and_then(|t| t.trim().parse().ok()),
        memory: read(dir, "memory.stat")
            .as_deref()
            .and_then(parse_memory_stat),
        oom_kills: read(dir, "memory.events")
            .as_deref()
            .and_then(|t| keyed(t, "oom_kill")),
        pressure: [
            pressure("cpu.pressure"),
            pressure("memory.pressure"),
            pressure("io.pressure"),
        ],
    }
}

/// A v1 limit at or above this is "no limit": the kernel writes its page counter maximum
/// (9223372036854771712 on 4 KiB pages) rather than a word for it.
const V1_UNLIMITED: u64 = 1 << 62;

/// One cgroup of a v1 host: memory figures from `memory/<id>`, CPU from `cpuacct/<id>` and
/// CFS quota and throttling from `cpu/<id>` (the two are often one mount, `cpu,cpuacct`,
/// with both names as links to it).
fn read_cgroup_v1(root: &Path, id: String) -> CgroupStats {
    let relative = id.trim_start_matches('/');
    let memory = root.join("memory").join(relative);
    let cpuacct = root.join("cpuacct").join(relative);
    let cpu = root.join("cpu").join(relative);
    let number =
        |dir: &Path, file: &str| read(dir, file).and_then(|t| t.trim().parse::<u64>().ok());
    let usec_per_tick = 1_000_000 / rustix::param::clock_ticks_per_second().max(1);
    let cfs = read(&cpu, "cpu.stat");
    let cpu_stat = number(&cpuacct, "cpuacct.usage").map(|nanoseconds| {
        let ticks = read(&cpuacct, "cpuacct.stat");
        let ticks = |key| ticks.as_deref().and_then(|t| keyed(t, key)).unwrap_or(0);
        let cfs = |key| cfs.as_deref().and_then(|t| keyed(t, key)).unwrap_or(0);
        CpuStat {
            usage_usec: nanoseconds / 1_000,
            user_usec: ticks("user") * usec_per_tick,
            system_usec: ticks("system") * usec_per_tick,
            nr_periods: cfs("nr_periods"),
            nr_throttled: cfs("nr_throttled"),
            throttled_usec: cfs("throttled_time") / 1_000,
        }
    });
    let quota = read(&cpu, "cpu.cfs_quota_us").and_then(|t| t.trim().parse::<i64>().ok());
    let cpu_max = quota
        .zip(number(&cpu, "cpu.cfs_period_us"))
        .map(|(quota, period)| (u64::try_from(quota).ok(), period));
    let stat = read(&memory, "memory.stat");
    // `total_*` count the whole subtree, as v2's memory.stat does.
    let memory_stat = stat.as_deref().and_then(|t| {
        Some(MemoryStat {
            anon: keyed(t, "total_rss")?,
            file: keyed(t, "total_cache")?,
            file_mapped: keyed(t, "total_mapped_file").unwrap_or(0),
            inactive_file: keyed(t, "total_inactive_file").unwrap_or(0),
        })
    });
    CgroupStats {
        id,
        cpu: cpu_stat,
        cpu_max,
        memory_current: number(&memory, "memory.usage_in_bytes"),
        memory_max: number(&memory, "memory.limit_in_bytes")
            .map(|limit| (limit < V1_UNLIMITED).then_some(limit)),
        memory_swap: None,
        memory: memory_stat,
        oom_kills: read(&memory, "memory.oom_control")
            .as_deref()
            .and_then(|t| keyed(t, "oom_kill")),
        pressure: [None; 3],
    }
}

impl CgroupsCollector {
    /// Breadth-first, name-ordered walk from `root`; returns the cgroups to report (as
    /// directory and `id`) and how many were left out by the count cap.
    fn walk(&self, root: &Path) -> (Vec<(PathBuf, String)>, usize) {
        let mut found = vec![(root.to_owned(), "/".to_owned())];
        let mut level = vec![(root.to_owned(), String::new())];
        let mut overflowed = 0;
        for _ in 0..self.max_depth {
            let mut next = Vec::new();
            for (dir, id) in &level {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut children: Vec<_> = entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                children.sort_unstable();
                for name in children {
                    next.push((dir.join(&name), format!("{id}/{name}")));
                }
            }
            for child in next.iter().cloned() {
                if found.len() < self.max_cgroups {
                    found.push(child);
                } else {
                    overflowed += 1;
                }
            }
            level = next;
        }
        (found, overflowed)
    }
}

impl Collector for CgroupsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let v1_memory = self.root.join("memory");
        let (stats, overflowed) = if self.root.join("cgroup.controllers").exists() {
            let (dirs, overflowed) = self.walk(&self.root);
            let stats: Vec<CgroupStats> = dirs
                .into_iter()
                .map(|(dir, id)| read_cgroup(&dir, id))
                .collect();
            (stats, overflowed)
        } else if v1_memory.join("memory.usage_in_bytes").exists() {
            let (dirs, overflowed) = self.walk(&v1_memory);
            let stats: Vec<CgroupStats> = dirs
                .into_iter()
                .map(|(_, id)| read_cgroup_v1(&self.root, id))
                .collect();
            (stats, overflowed)
        } else {
            return Err(CollectorError::NoData(format!(
                "{} is neither a cgroup v2 hierarchy nor has a v1 memory controller",
                self.root.display()
            )));
        };
        emit(out, &stats);
        out.gauge(
            "pulse_cgroups_overflowed",
            "Cgroups within the depth limit left out because of the cgroup count cap.",
            overflowed as f64,
        );
        Ok(())
    }
}

const USEC: f64 = 1e-6;

/// Adds one family with a sample per cgroup that has the value.
fn family<F>(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    stats: &[CgroupStats],
    f: F,
) where
    F: Fn(&CgroupStats) -> Option<f64>,
{
    let family = out.family(name, help, kind);
    for s in stats {
        if let Some(v) = f(s) {
            family.sample(&[("id", &s.id)], v);
        }
    }
}

fn emit(out: &mut MetricSet, stats: &[CgroupStats]) {
    let usage = out.family(
        "container_cpu_usage_seconds_total",
        "Cumulative CPU time consumed in seconds (cpu.stat usage_usec).",
        Kind::Counter,
    );
    for s in stats {
        if let Some(cpu) = s.cpu {
            usage.sample(
                &[("cpu", "total"), ("id", &s.id)],
                cpu.usage_usec as f64 * USEC,
            );
        }
    }
    use Kind::{Counter, Gauge};
    family(
        out,
        "container_cpu_user_seconds_total",
        "Cumulative user CPU time consumed in seconds.",
        Counter,
        stats,
        |s| s.cpu.map(|c| c.user_usec as f64 * USEC),
    );
    family(
        out,
        "container_cpu_system_seconds_total",
        "Cumulative system CPU time consumed in seconds.",
        Counter,
        stats,
        |s| s.cpu.map(|c| c.system_usec as f64 * USEC),
    );
    family(
        out,
        "container_cpu_cfs_periods_total",
        "Number of elapsed CPU quota enforcement periods.",
        Counter,
        stats,
        |s| s.cpu.map(|c| c.nr_periods as f64),
    );
    family(
        out,
        "container_cpu_cfs_throttled_periods_total",
        "Number of enforcement periods in which the cgroup was throttled.",
        Counter,
        stats,
        |s| s.cpu.map(|c| c.nr_throttled as f64),
    );
    family(
        out,
        "container_cpu_cfs_throttled_seconds_total",
        "Total time the cgroup was throttled, in seconds.",
        Counter,
        stats,
        |s| s.cpu.map(|c| c.throttled_usec as f64 * USEC),
    );
    family(
        out,
        "container_spec_cpu_quota",
        "CPU quota in microseconds per period (cpu.max); absent when unlimited.",
        Gauge,
        stats,
        |s| s.cpu_max.and_then(|(q, _)| q).map(|q| q as f64),
    );
    family(
        out,
        "container_spec_cpu_period",
        "CPU quota enforcement period in microseconds (cpu.max).",
        Gauge,
        stats,
        |s| s.cpu_max.map(|(_, p)| p as f64),
    );
    family(
        out,
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including page cache (memory.current).",
        Gauge,
        stats,
        |s| s.memory_current.map(|v| v as f64),
    );
    family(
        out,
        "container_spec_memory_limit_bytes",
        "Memory limit in bytes (memory.max); 0 when unlimited, as cAdvisor reports it.",
        Gauge,
        stats,
        |s| s.memory_max.map(|l| l.unwrap_or(0) as f64),
    );
    family(
        out,
        "container_memory_working_set_bytes",
        "Memory usage minus inactive page cache, in bytes: what the OOM killer weighs.",
        Gauge,
        stats,
        |s| Some(s.memory_current?.saturating_sub(s.memory?.inactive_file) as f64),
    );
    family(
        out,
        "container_memory_rss",
        "Anonymous memory in bytes (memory.stat anon).",
        Gauge,
        stats,
        |s| s.memory.map(|m| m.anon as f64),
    );
    family(
        out,
        "container_memory_cache",
        "Page cache in bytes (memory.stat file).",
        Gauge,
        stats,
        |s| s.memory.map(|m| m.file as f64),
    );
    family(
        out,
        "container_memory_mapped_file",
        "Memory-mapped file pages in bytes (memory.stat file_mapped).",
        Gauge,
        stats,
        |s| s.memory.map(|m| m.file_mapped as f64),
    );
    family(
        out,
        "container_memory_swap",
        "Swap used in bytes (memory.swap.current).",
        Gauge,
        stats,
        |s| s.memory_swap.map(|v| v as f64),
    );
    family(
        out,
        "container_oom_events_total",
        "Processes of the cgroup killed by the OOM killer (memory.events oom_kill).",
        Counter,
        stats,
        |s| s.oom_kills.map(|v| v as f64),
    );
    for (i, (waiting, waiting_help, stalled, stalled_help)) in [
        (
            "container_pressure_cpu_waiting_seconds_total",
            "Time at least one task of the cgroup waited for CPU, in seconds (cpu.pressure some).",
            "container_pressure_cpu_stalled_seconds_total",
            "Time all non-idle tasks of the cgroup were stalled on CPU, in seconds (cpu.pressure full).",
        ),
        (
            "container_pressure_memory_waiting_seconds_total",
            "Time at least one task of the cgroup waited for memory, in seconds (memory.pressure some).",
            "container_pressure_memory_stalled_seconds_total",
            "Time all non-idle tasks of the cgroup were stalled on memory, in seconds (memory.pressure full).",
        ),
        (
            "container_pressure_io_waiting_seconds_total",
            "Time at least one task of the cgroup waited for I/O, in seconds (io.pressure some).",
            "container_pressure_io_stalled_seconds_total",
            "Time all non-idle tasks of the cgroup were stalled on I/O, in seconds (io.pressure full).",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        family(out, waiting, waiting_help, Counter, stats, |s| s.pressure[i].map(|(some, _)| some as f64 * USEC));
        family(out, stalled, stalled_help, Counter, stats, |s| s.pressure[i].map(|(_, full)| full as f64 * USEC));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    #[test]
    fn parses_cgroup_files() {
        let cpu = parse_cpu_stat("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 120000\n").unwrap();
        assert_eq!(
            (cpu.usage_usec, cpu.nr_throttled, cpu.throttled_usec),
            (2_500_000, 3, 120_000)
        );
        // Without the cpu controller only the usage lines exist.
        let bare = parse_cpu_stat("usage_usec 1\nuser_usec 1\nsystem_usec 0\n").unwrap();
        assert_eq!(bare.nr_periods, 0);
        assert_eq!(parse_cpu_max("max 100000\n"), Some((None, 100_000)));
        assert_eq!(
            parse_cpu_max("50000 100000\n"),
            Some((Some(50_000), 100_000))
        );
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("536870912\n"), Some(Some(536_870_912)));
        assert_eq!(parse_limit("lots\n"), None);
        assert_eq!(
            parse_pressure(
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=700\n"
            ),
            Some((1500, 700))
        );
        assert_eq!(
            parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n"),
            Some((9, 0))
        );
        assert_eq!(keyed("oom 2\noom_kill 1\n", "oom_kill"), Some(1));
        assert_eq!(keyed("oom 2\n", "oom_kill"), None);
    }

    fn fixture(max_depth: usize, max_cgroups: usize) -> MetricSet {
        let c = CgroupsCollector {
            root: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sys/fs/cgroup"),
            max_depth,
            max_cgroups,
        };
        let mut out = MetricSet::default();
        c.collect(&mut out).unwrap();
        out
    }

    fn value(set: &MetricSet, name: &str, id: &str) -> Option<f64> {
        let family = set.families.iter().find(|f| f.name == name)?;
        family
            .samples
            .iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "id" && v == id))
            .map(|s| match s.value {
                Value::Number(v) => v,
                Value::Histogram(_) => f64::NAN,
            })
    }

    fn ids(set: &MetricSet) -> Vec<String> {
        let family = set
            .families
            .iter()
            .find(|f| f.name == "container_cpu_usage_seconds_total")
            .unwrap();
        family
            .samples
            .iter()
            .map(|s| s.labels[1].1.clone())
            .collect()
    }

    const NGINX: &str = "/system.slice/nginx.service";
    const DOCKER: &str = "/system.slice/docker-4f2a7c9e1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8.scope";

    #[test]
    fn fixture_tree_values() {
        let set = fixture(3, 1000);
        assert_eq!(
            ids(&set),
            [
                "/",
                "/system.slice",
                "/user.slice",
                DOCKER,
                NGINX,
                "/system.slice/ssh.service",
                "/user.slice/user-1000.slice",
                "/user.slice/user-1000.slice/session-2.scope",
                "/user.slice/user-1000.slice/user@1000.service",
            ]
        );
        let v = |name, id| value(&set, name, id).unwrap();
        assert_eq!(v("container_cpu_usage_seconds_total", NGINX), 12.5);
        assert_eq!(v("container_cpu_user_seconds_total", NGINX), 9.0);
        assert_eq!(v("container_cpu_cfs_throttled_periods_total", DOCKER), 25.0);
        assert_eq!(v("container_cpu_cfs_throttled_seconds_total", DOCKER), 1.75);
        assert_eq!(v("container_spec_cpu_quota", DOCKER), 50_000.0);
        assert_eq!(value(&set, "container_spec_cpu_quota", NGINX), None);
        assert_eq!(v("container_memory_usage_bytes", NGINX), 52_428_800.0);
        // memory.max "max" is 0, as in cAdvisor.
        assert_eq!(v("container_spec_memory_limit_bytes", NGINX), 0.0);
        assert_eq!(
            v("container_spec_memory_limit_bytes", DOCKER),
            268_435_456.0
        );
        // 52428800 - inactive_file 10485760.
        assert_eq!(v("container_memory_working_set_bytes", NGINX), 41_943_040.0);
        assert_eq!(v("container_memory_rss", NGINX), 31_457_280.0);
        assert_eq!(v("container_memory_cache", NGINX), 18_874_368.0);
        assert_eq!(v("container_oom_events_total", DOCKER), 2.0);
        assert_eq!(
            v("container_pressure_memory_waiting_seconds_total", DOCKER),
            3.5
        );
        assert_eq!(
            v("container_pressure_memory_stalled_seconds_total", DOCKER),
            1.25
        );
        // The root has cpu.stat and pressure but no memory.current.
        assert_eq!(v("container_cpu_usage_seconds_total", "/"), 4000.0);
        assert_eq!(value(&set, "container_memory_usage_bytes", "/"), None);
        let overflowed = set
            .families
            .iter()
            .find(|f| f.name == "pulse_cgroups_overflowed")
            .unwrap();
        assert_eq!(overflowed.samples[0].value, Value::Number(0.0));
    }

    #[test]
    fn depth_and_count_caps() {
        let shallow = fixture(1, 1000);
        assert_eq!(ids(&shallow), ["/", "/system.slice", "/user.slice"]);
        let capped = fixture(3, 4);
        assert_eq!(ids(&capped), ["/", "/system.slice", "/user.slice", DOCKER]);
        let overflowed = capped
            .families
            .iter()
            .find(|f| f.name == "pulse_cgroups_overflowed")
            .unwrap();
        assert_eq!(overflowed.samples[0].value, Value::Number(5.0));
    }

    #[test]
    fn a_cgroup_v1_host_is_read_from_its_memory_cpuacct_and_cpu_trees() {
        let root = tempfile::tempdir().unwrap();
        let write = |dir: &str, files: &[(&str, &str)]| {
            let dir = root.path().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
        };
        write("memory", &[("memory.usage_in_bytes", "1073741824\n")]);
        write(
            "memory/system.slice/nginx.service",
            &[
                ("memory.usage_in_bytes", "52428800\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                (
                    "memory.stat",
                    "cache 1\nrss 2\ntotal_cache 18874368\ntotal_rss 31457280\n\
                     total_mapped_file 4096\ntotal_inactive_file 10485760\n",
                ),
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                ),
            ],
        );
        write(
            "cpuacct/system.slice/nginx.service",
            &[
                ("cpuacct.usage", "12500000000\n"),
                ("cpuacct.stat", "user 900\nsystem 300\n"),
            ],
        );
        write(
            "cpu/system.slice/nginx.service",
            &[
                ("cpu.cfs_quota_us", "50000\n"),
                ("cpu.cfs_period_us", "100000\n"),
                (
                    "cpu.stat",
                    "nr_periods 40\nnr_throttled 25\nthrottled_time 1750000000\n",
                ),
            ],
        );
        write(
            "cpu",
            &[
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.cfs_period_us", "100000\n"),
            ],
        );
        let collector = CgroupsCollector {
            root: root.path().to_owned(),
            max_depth: 3,
            max_cgroups: 100,
        };
        let mut set = MetricSet::default();
        collector.collect(&mut set).unwrap();
        let ids: Vec<String> = set
            .families
            .iter()
            .find(|f| f.name == "container_memory_usage_bytes")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.labels[0].1.clone())
            .collect();
        assert_eq!(ids, ["/", "/system.slice/nginx.service"]);
        let v = |name, id| value(&set, name, id).unwrap();
        let per_tick = 1.0 / rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(v("container_cpu_usage_seconds_total", NGINX), 12.5);
        assert!((v("container_cpu_user_seconds_total", NGINX) - 900.0 * per_tick).abs() < 1e-9);
        assert_eq!(v("container_cpu_cfs_throttled_periods_total", NGINX), 25.0);
        assert_eq!(v("container_cpu_cfs_throttled_seconds_total", NGINX), 1.75);
        assert_eq!(v("container_spec_cpu_quota", NGINX), 50_000.0);
        // A quota of -1 is no quota; the period is still reported.
        assert_eq!(value(&set, "container_spec_cpu_quota", "/"), None);
        assert_eq!(v("container_spec_cpu_period", "/"), 100_000.0);
        // The kernel's page-counter maximum is no limit: 0, as cAdvisor reports it.
        assert_eq!(v("container_spec_memory_limit_bytes", NGINX), 0.0);
        assert_eq!(v("container_memory_working_set_bytes", NGINX), 41_943_040.0);
        assert_eq!(v("container_memory_rss", NGINX), 31_457_280.0);
        assert_eq!(v("container_oom_events_total", NGINX), 2.0);
        assert_eq!(
            value(
                &set,
                "container_pressure_memory_waiting_seconds_total",
                NGINX
            ),
            None
        );
    }

    #[test]
    fn neither_hierarchy_is_no_data() {
        let c = CgroupsCollector {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            max_depth: 3,
            max_cgroups: 10,
        };
        let err = c.collect(&mut MetricSet::default()).unwrap_err();
        assert!(matches!(err, CollectorError::NoData(_)), "{err}");
    }
}
