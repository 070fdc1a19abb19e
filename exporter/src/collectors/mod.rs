//! The collector framework: one small trait, one file per collector, and a runner that
//! isolates failures.
//!
//! A collector reads its source (blocking `/proc` and `/sys` reads, or a short TCP exchange)
//! and appends plain values to a [`MetricSet`]. The runner calls every enabled collector
//! concurrently on the blocking pool with a deadline, and always emits
//! `pulse_collector_success` and `pulse_collector_duration_seconds` for each of them: a
//! collector that errors, panics or overruns the deadline is reported as `success 0` while
//! the other collectors and the scrape carry on (node_exporter's `execute()` semantics).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use procfs_core::FromRead;

use crate::config::Config;
use crate::exposition::{Kind, MetricSet};
use crate::paths::Paths;

mod arp;
mod batch;
mod bcache;
mod bonding;
mod btrfs;
mod cgroups;
mod conntrack;
mod cpu;
mod cpufreq;
mod diskstats;
mod dmi;
mod edac;
mod entropy;
mod fibrechannel;
mod filefd;
mod filesystem;
mod hwmon;
mod infiniband;
mod ipvs;
pub(crate) mod kernel_files;
mod loadavg;
mod mdadm;
mod memcached;
mod meminfo;
mod netclass;
mod netdev;
mod netlink_dump;
mod netstat;
mod nfs;
mod nfsd;
mod nvme;
mod os;
mod powersupplyclass;
mod pressure;
mod probe;
pub mod processes;
mod rapl;
mod redis;
mod schedstat;
mod selinux;
mod sockstat;
mod softnet;
mod stat;
mod tagged_lines;
mod tapestats;
mod tcpstat;
mod textfile;
mod thermal_zone;
mod time;
mod timex;
mod udp_queues;
mod uname;
mod vmstat;
mod xfs;
mod zfs;

/// One source of metrics.
pub trait Collector: Send + Sync + 'static {
    /// Reads the source and appends families to `out`. Runs on a blocking thread.
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError>;
}

/// Why a collector produced nothing (or only part of its data).
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parsing {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error(transparent)]
    Procfs(#[from] procfs_core::ProcError),
    /// The source is absent on this machine (e.g. no PSI support); logged at debug level.
    #[error("no data: {0}")]
    NoData(String),
    #[error("{0}")]
    Other(String),
}

impl CollectorError {
    pub fn parse(path: &Path, message: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads a whole (small) file, attaching the path to the error.
pub fn read_file(path: &Path) -> Result<String, CollectorError> {
    kernel_files::read_to_string(path).map_err(|source| CollectorError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a whole (small) file that is absent when a kernel feature or module is: `None` then.
pub fn read_file_if_present(path: &Path) -> Result<Option<String>, CollectorError> {
    match kernel_files::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CollectorError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// `(name, path)` of every entry of `dir`, sorted by name; none when `dir` does not exist
/// (the module or hardware behind it is absent).
pub fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CollectorError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .collect();
    found.sort();
    Ok(found)
}

/// `(N, path)` of every entry `<prefix>N` of `dir` (`thermal_zone3`, `mc0`), sorted by N; none
/// when `dir` does not exist (the driver behind it is not loaded).
pub fn numbered_entries(
    dir: &Path,
    prefix: &str,
) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    let mut found: Vec<(u64, String, PathBuf)> = sorted_entries(dir)?
        .into_iter()
        .filter_map(|(name, path)| {
            let number = name.strip_prefix(prefix)?.to_owned();
            Some((number.parse().ok()?, number, path))
        })
        .collect();
    found.sort_unstable();
    Ok(found.into_iter().map(|(_, n, p)| (n, p)).collect())
}

/// `text` as part of a metric name: every character a name cannot hold becomes `_`, as
/// node_exporter does with names that come from the kernel (RAPL zones, ZFS kstats).
pub fn metric_name_part(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Reads a file holding one unsigned integer (`/proc/sys/...` knobs and counters).
pub fn read_u64(path: &Path) -> Result<u64, CollectorError> {
    let text = read_file(path)?;
    text.trim()
        .parse()
        .map_err(|_| CollectorError::parse(path, format!("not an unsigned integer: {text:?}")))
}

/// Parses a procfs file with the `procfs` crate's parser, whatever root it lives under.
pub fn read_procfs<T: FromRead>(path: &Path) -> Result<T, CollectorError> {
    Ok(T::from_file(path)?)
}

/// What a collector may need at construction time.
pub struct BuildContext<'a> {
    pub paths: &'a Paths,
    pub config: &'a Config,
    /// The HTTP probes, shared with the server that schedules them and serves `/probe`.
    pub probes: &'a Arc<crate::probe::Probes>,
}

type BuildFn = fn(&BuildContext) -> Result<Box<dyn Collector>, CollectorError>;

/// Static description of a collector: its flag name, whether it runs by default, and how to
/// build it.
pub struct CollectorSpec {
    pub name: &'static str,
    pub default_enabled: bool,
    pub help: &'static str,
    pub build: BuildFn,
}

/// Every collector this binary knows, in flag order.
pub const ALL: &[CollectorSpec] = &[
    arp::SPEC,
    bcache::SPEC,
    bonding::SPEC,
    btrfs::SPEC,
    cgroups::SPEC,
    conntrack::SPEC,
    cpu::SPEC,
    cpufreq::SPEC,
    diskstats::SPEC,
    dmi::SPEC,
    edac::SPEC,
    entropy::SPEC,
    fibrechannel::SPEC,
    filefd::SPEC,
    filesystem::SPEC,
    hwmon::SPEC,
    infiniband::SPEC,
    ipvs::SPEC,
    loadavg::SPEC,
    mdadm::SPEC,
    memcached::SPEC,
    meminfo::SPEC,
    netclass::SPEC,
    netdev::SPEC,
    netstat::SPEC,
    nfs::SPEC,
    nfsd::SPEC,
    nvme::SPEC,
    os::SPEC,
    powersupplyclass::SPEC,
    pressure::SPEC,
    probe::SPEC,
    processes::SPEC,
    rapl::SPEC,
    redis::SPEC,
    schedstat::SPEC,
    selinux::SPEC,
    sockstat::SPEC,
    softnet::SPEC,
    stat::SPEC,
    tapestats::SPEC,
    tcpstat::SPEC,
    textfile::SPEC,
    thermal_zone::SPEC,
    time::SPEC,
    timex::SPEC,
    udp_queues::SPEC,
    uname::SPEC,
    vmstat::SPEC,
    xfs::SPEC,
    zfs::SPEC,
];

pub fn spec(name: &str) -> Option<&'static CollectorSpec> {
    ALL.iter().find(|s| s.name == name)
}

struct Entry {
    name: &'static str,
    collector: Arc<dyn Collector>,
    /// Set while a run is in flight. A collector stuck past its deadline (a hung NFS mount)
    /// is not started again until it returns, so stuck threads cannot pile up.
    busy: Arc<AtomicBool>,
}

/// Blocking threads a scrape starts with. Most collectors take microseconds, so one thread
/// running them back to back costs the least CPU (a second one measured 5% more CPU for 20%
/// less latency, on a 2.5 ms scrape); a collector that takes long makes the batch add
/// drainers (see `batch`), so slow hosts still get parallelism.
const DRAINERS: usize = 1;

/// The enabled collectors, built once at start-up.
pub struct Collectors {
    entries: Vec<Entry>,
    drainers: usize,
}

impl Collectors {
    /// Builds the named collectors; fails on the first that cannot be built (bad options).
    pub fn build(names: &[&'static str], ctx: &BuildContext) -> Result<Self, CollectorError> {
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            let spec = spec(name)
                .ok_or_else(|| CollectorError::Other(format!("unknown collector '{name}'")))?;
            let collector = (spec.build)(ctx)
                .map_err(|e| CollectorError::Other(format!("collector '{name}': {e}")))?;
            entries.push(Entry {
                name: spec.name,
                collector: Arc::from(collector),
                busy: Arc::new(AtomicBool::new(false)),
            });
        }
        Ok(Self {
            entries,
            drainers: DRAINERS,
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// Runs every collector under one absolute deadline and returns their metrics plus the
    /// per-collector success and duration families. Never fails: failures are data.
    pub async fn collect(&self, deadline: Duration) -> MetricSet {
        let scrape_start = Instant::now();
        let deadline = tokio::time::Instant::now() + deadline;
        // A collector still stuck from an earlier scrape is not started again, so stuck
        // threads cannot pile up.
        let mut started = Vec::with_capacity(self.entries.len());
        let mut jobs = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let free = !entry.busy.swap(true, Ordering::AcqRel);
            if free {
                jobs.push(batch::Job {
                    collector: entry.collector.clone(),
                    busy: entry.busy.clone(),
                });
            } else {
                tracing::warn!(
                    collector = entry.name,
                    "skipped: previous run has not finished yet"
                );
            }
            started.push(free);
        }
        let mut finished = batch::run(jobs, self.drainers, deadline).await.into_iter();

        let mut out = MetricSet::default();
        let mut outcomes = Vec::with_capacity(self.entries.len());
        for (entry, started) in self.entries.iter().zip(started) {
            let (success, duration) = if started {
                match finished.next().flatten() {
                    Some(run) => (report(entry.name, run.result, &mut out), run.duration),
                    None => {
                        tracing::warn!(collector = entry.name, "collector timed out");
                        (false, scrape_start.elapsed())
                    }
                }
            } else {
                (false, Duration::ZERO)
            };
            outcomes.push((entry.name, success, duration));
        }
        let success = out.family(
            "pulse_collector_success",
            "Whether the collector succeeded on this scrape (1) or failed, panicked or timed out (0).",
            Kind::Gauge,
        );
        for (name, ok, _) in &outcomes {
            success.sample(&[("collector", name)], if *ok { 1.0 } else { 0.0 });
        }
        let duration = out.family(
            "pulse_collector_duration_seconds",
            "Wall-clock seconds the collector took on this scrape.",
            Kind::Gauge,
        );
        for (name, _, took) in &outcomes {
            duration.sample(&[("collector", name)], took.as_secs_f64());
        }
        out
    }
}

/// Logs a finished run's failure, or appends its metrics; returns whether it succeeded.
fn report(name: &str, result: Result<MetricSet, batch::Failure>, out: &mut MetricSet) -> bool {
    match result {
        Ok(metrics) => {
            out.extend(metrics);
            true
        }
        Err(batch::Failure::Error(CollectorError::NoData(why))) => {
            tracing::debug!(collector = name, reason = %why, "collector returned no data");
            false
        }
        Err(batch::Failure::Error(error)) => {
            tracing::warn!(collector = name, error = %error, "collector failed");
            false
        }
        Err(batch::Failure::Panic(message)) => {
            tracing::error!(collector = name, error = %message, "collector panicked");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);
    impl Collector for Fixed {
        fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
            match self.0 {
                "ok" => {
                    out.gauge("test_value", "A test value.", 1.0);
                    Ok(())
                }
                "err" => Err(CollectorError::Other("boom".into())),
                "slow" => {
                    std::thread::sleep(Duration::from_millis(400));
                    out.gauge("test_slow", "Too late.", 1.0);
                    Ok(())
                }
                _ => panic!("collector panicked on purpose"),
            }
        }
    }

    fn collectors(kinds: &[&'static str], drainers: usize) -> Collectors {
        Collectors {
            drainers,
            entries: kinds
                .iter()
                .map(|k| Entry {
                    name: k,
                    collector: Arc::new(Fixed(k)),
                    busy: Arc::new(AtomicBool::new(false)),
                })
                .collect(),
        }
    }

    fn success_of(set: &MetricSet, name: &str) -> f64 {
        let family = set
            .families
            .iter()
            .find(|f| f.name == "pulse_collector_success")
            .unwrap();
        let sample = family
            .samples
            .iter()
            .find(|s| s.labels[0].1 == name)
            .unwrap();
        match sample.value {
            crate::exposition::Value::Number(v) => v,
            _ => unreachable!(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_are_isolated_and_reported() {
        let c = collectors(&["ok", "err", "panic", "slow"], 2);
        let set = c.collect(Duration::from_millis(150)).await;
        assert_eq!(success_of(&set, "ok"), 1.0);
        assert_eq!(success_of(&set, "err"), 0.0);
        assert_eq!(success_of(&set, "panic"), 0.0);
        assert_eq!(success_of(&set, "slow"), 0.0);
        assert!(set.families.iter().any(|f| f.name == "test_value"));
        assert!(!set.families.iter().any(|f| f.name == "test_slow"));
        // The slow one is still running: the next scrape skips it instead of stacking threads.
        let again = c.collect(Duration::from_millis(50)).await;
        assert_eq!(success_of(&again, "slow"), 0.0);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let later = c.collect(Duration::from_millis(1000)).await;
        assert_eq!(success_of(&later, "slow"), 1.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stuck_collectors_do_not_starve_the_rest_of_the_batch() {
        // One drainer, stuck first on two slow collectors in a row: the stall check adds
        // drainers so the healthy ones still finish well before the deadline.
        let c = collectors(&["slow", "slow", "panic", "ok", "err", "ok"], 1);
        let started = Instant::now();
        let set = c.collect(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_millis(380));
        let values: Vec<_> = ["slow", "panic", "ok", "err"]
            .iter()
            .map(|name| success_of(&set, name))
            .collect();
        assert_eq!(values, [0.0, 0.0, 1.0, 0.0]);
        let ok_samples = set
            .families
            .iter()
            .filter(|f| f.name == "test_value")
            .count();
        assert_eq!(ok_samples, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collectors_not_started_by_the_deadline_run_next_time() {
        // The only drainer is stuck and the deadline comes before any stall check: "ok"
        // never starts, and must not stay marked busy behind the stuck collector.
        let c = collectors(&["slow", "ok"], 1);
        let first = c.collect(Duration::from_millis(10)).await;
        assert_eq!(success_of(&first, "ok"), 0.0);
        let second = c.collect(Duration::from_millis(200)).await;
        assert_eq!(success_of(&second, "slow"), 0.0);
        assert_eq!(success_of(&second, "ok"), 1.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duration_is_the_collectors_own_time() {
        // Measured inside the blocking thread: the fast collector's time does not include
        // waiting behind the slow one.
        let c = collectors(&["slow", "ok"], 2);
        let set = c.collect(Duration::from_millis(1000)).await;
        let family = set
            .families
            .iter()
            .find(|f| f.name == "pulse_collector_duration_seconds")
            .unwrap();
        let seconds: Vec<f64> = family
            .samples
            .iter()
            .map(|s| match s.value {
                crate::exposition::Value::Number(v) => v,
                _ => unreachable!(),
            })
            .collect();
        assert!(seconds[0] >= 0.4, "slow took {}", seconds[0]);
        assert!(seconds[1] < 0.1, "ok took {}", seconds[1]);
    }

    #[test]
    fn collector_names_are_unique() {
        let mut names: Vec<_> = ALL.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
