//! `namedprocess_namegroup_*`: per-group process metrics with process-exporter's names.
//!
//! # What is read
//! For every pid: `stat` (name, state, CPU, faults, threads, memory, start time). For every
//! pid in a reported group, also `status` (swap, context switches), the open-fd count and
//! `limits` (for `worst_fd_ratio`), and `io` only when `processes.io` is set. `cmdline` is
//! read once per new process, and only if a rule needs it. On a live procfs the fd count is
//! the size `stat(2)` reports for `/proc/PID/fd` (Linux ≥ 6.2), one syscall instead of a
//! directory walk; elsewhere (older kernels, fixture trees) the directory is listed. On the
//! procfs of the exporter's own pid namespace the fd limit comes from `prlimit(2)`, which
//! costs a twentieth of having the kernel format all 16 lines of `limits`; the file stays
//! the fallback (a non-root exporter may not ask about other users' processes) and the only
//! source for another namespace's procfs, whose pids `prlimit(2)` would take for ours.
//!
//! # Counters across process exits
//! As in process-exporter, a group's counters (CPU, faults, context switches, I/O) are the
//! sum of the increases seen for its processes since the collector first ran, so they never
//! go down when a process exits. Processes already running at the first scrape count from
//! then; a process first seen later started after the previous scrape and counts in full
//! (process-exporter's `firstUpdateAt` rule). Unlike process-exporter, a group with no
//! processes left is dropped with its counters (its series go stale); if it comes back, its
//! counters restart from zero, which `rate()` treats as a counter reset.
//!
//! # Cardinality
//! At most `max_groups` groups are reported by name. Groups reported on the previous scrape
//! keep their place, new ones are admitted in name order, and the processes of the rest
//! are folded into the group `other`; `pulse_process_groups_overflowed` says how many
//! groups were folded. A process's increases go to the group it is reported under on that
//! scrape, so every counter stays monotonic while groups move in and out of `other`.

mod grouping;
mod read;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use grouping::NameTemplate;
use grouping::{Attributes, Grouper};

use super::kernel_files::{fd_count, read_into};
use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "processes",
    default_enabled: true,
    help: "Per-group process metrics (process-exporter's namedprocess_namegroup_*), grouped by comm or by processes.process_names rules.",
    build,
};

/// Name of the group that collects processes beyond `max_groups`.
pub const OVERFLOW_GROUP: &str = "other";

/// `PROC_SUPER_MAGIC` from linux/magic.h.
const PROC_SUPER_MAGIC: i128 = 0x9fa0;

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let config = &ctx.config.processes;
    let procfs = ctx.paths.procfs.clone();
    let kind = ProcfsKind::of(&procfs);
    Ok(Box::new(ProcessesCollector::new(
        procfs,
        kind,
        Grouper::new(config.process_names.clone()),
        config.max_groups,
        config.io,
    )))
}

/// What `procfs` is, which decides the cheapest way to read a process's fd count and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcfsKind {
    /// A tree of files (the test fixtures): list `fd`, read `limits`.
    Files,
    /// A mounted procfs, perhaps another pid namespace's (a host's `/proc` in a container):
    /// `fd`'s size is its entry count.
    Mounted,
    /// The procfs of the exporter's own pid namespace: its pids are ours, so `prlimit(2)` can
    /// be asked about them, too.
    Own,
}

impl ProcfsKind {
    fn of(procfs: &Path) -> Self {
        let mounted =
            rustix::fs::statfs(procfs).is_ok_and(|s| i128::from(s.f_type) == PROC_SUPER_MAGIC);
        // A procfs names every reader by its pid in the procfs's own namespace.
        let own = std::fs::read_link(procfs.join("self"))
            .is_ok_and(|pid| pid.as_os_str() == std::process::id().to_string().as_str());
        match (mounted, own) {
            (false, _) => Self::Files,
            (true, false) => Self::Mounted,
            (true, true) => Self::Own,
        }
    }
}

struct ProcessesCollector {
    procfs: PathBuf,
    kind: ProcfsKind,
    grouper: Grouper,
    needs_cmdline: bool,
    max_groups: usize,
    read_io: bool,
    ticks_per_second: f64,
    page_size: u64,
    state: Mutex<State>,
}

/// Increasing per-process values, in their native units (ticks, counts, bytes).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    user_ticks: u64,
    system_ticks: u64,
    minflt: u64,
    majflt: u64,
    voluntary: u64,
    nonvoluntary: u64,
    read_bytes: u64,
    write_bytes: u64,
}

impl Counts {
    fn since(&self, earlier: &Self) -> Self {
        Self {
            user_ticks: self.user_ticks.saturating_sub(earlier.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
            minflt: self.minflt.saturating_sub(earlier.minflt),
            majflt: self.majflt.saturating_sub(earlier.majflt),
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            nonvoluntary: self.nonvoluntary.saturating_sub(earlier.nonvoluntary),
            read_bytes: self.read_bytes.saturating_sub(earlier.read_bytes),
            write_bytes: self.write_bytes.saturating_sub(earlier.write_bytes),
        }
    }

    fn add(&mut self, other: &Self) {
        self.user_ticks += other.user_ticks;
        self.system_ticks += other.system_ticks;
        self.minflt += other.minflt;
        self.majflt += other.majflt;
        self.voluntary += other.voluntary;
        self.nonvoluntary += other.nonvoluntary;
        self.read_bytes += other.read_bytes;
        self.write_bytes += other.write_bytes;
    }
}

/// What we remember about a process between scrapes.
struct Tracked {
    starttime: u64,
    comm: Box<[u8]>,
    /// `None`: no rule matches it.
    group: Option<Arc<str>>,
    last: Counts,
    generation: u64,
}

/// Cross-scrape state: only what monotonic counters and stable overflow need.
#[derive(Default)]
struct State {
    generation: u64,
    procs: HashMap<u32, Tracked>,
    /// Counter totals of each reported group.
    totals: HashMap<Arc<str>, Counts>,
    boot_time: Option<f64>,
    procread_errors: u64,
    partial_errors: u64,
}

/// Process states as process-exporter names them.
const STATES: [&str; 5] = ["Running", "Sleeping", "Waiting", "Zombie", "Other"];

fn state_index(state: u8) -> usize {
    match state {
        b'R' => 0,
        b'S' => 1,
        b'D' => 2,
        b'Z' => 3,
        _ => 4,
    }
}

/// One group's gauges and counter increases on this scrape.
#[derive(Debug, Default, Clone)]
struct GroupSnapshot {
    procs: u64,
    threads: u64,
    resident: u64,
    virtual_bytes: u64,
    swapped: u64,
    open_fds: u64,
    worst_fd_ratio: f64,
    states: [u64; 5],
    /// Earliest start, in ticks after boot.
    oldest_start: Option<u64>,
    increase: Counts,
}

impl GroupSnapshot {
    fn merge(&mut self, other: &Self) {
        self.procs += other.procs;
        self.threads += other.threads;
        self.resident += other.resident;
        self.virtual_bytes += other.virtual_bytes;
        self.swapped += other.swapped;
        self.open_fds += other.open_fds;
        self.worst_fd_ratio = self.worst_fd_ratio.max(other.worst_fd_ratio);
        for (a, b) in self.states.iter_mut().zip(other.states) {
            *a += b;
        }
        self.oldest_start = match (self.oldest_start, other.oldest_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.increase.add(&other.increase);
    }
}

/// Why one process could not be read.
enum ProcRead {
    /// It exited while we read it: not an error.
    Gone,
    Failed,
}

fn classify(error: &io::Error) -> ProcRead {
    // ESRCH shows up when a task exits between open and read.
    if error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(3) {
        ProcRead::Gone
    } else {
        ProcRead::Failed
    }
}

impl ProcessesCollector {
    fn new(
        procfs: PathBuf,
        kind: ProcfsKind,
        grouper: Grouper,
        max_groups: usize,
        read_io: bool,
    ) -> Self {
        Self {
            procfs,
            kind,
            needs_cmdline: grouper.needs_cmdline(),
            grouper,
            max_groups,
            read_io,
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as u64,
            state: Mutex::new(State::default()),
        }
    }

    fn open_fds(&self, dir: &Path) -> io::Result<u64> {
        fd_count(dir, self.kind != ProcfsKind::Files)
    }

    /// The soft `RLIMIT_NOFILE` of `pid` (`Some(None)`: unlimited); `path` is `/proc/PID`.
    fn nofile_limit(&self, pid: u32, path: &mut PathBuf, buf: &mut Vec<u8>) -> Option<Option<u64>> {
        if self.kind == ProcfsKind::Own
            && let Ok(pid) = i32::try_from(pid)
        {
            let (mut soft, mut hard) = (0, 0);
            let asked = rlimit::prlimit(
                pid,
                rlimit::Resource::NOFILE,
                None,
                Some((&mut soft, &mut hard)),
            );
            if asked.is_ok() {
                return Some((soft != rlimit::INFINITY).then_some(soft));
            }
        }
        path.push("limits");
        let limits = read_into(path, buf);
        path.pop();
        limits.ok().and_then(|()| read::parse_nofile_limit(buf))
    }

    /// Scans every pid and returns this scrape's groups (before overflow folding).
    fn scan(&self, state: &mut State) -> Result<HashMap<Arc<str>, GroupSnapshot>, CollectorError> {
        let first_scan = state.generation == 0;
        state.generation += 1;
        let generation = state.generation;
        let entries = std::fs::read_dir(&self.procfs).map_err(|source| CollectorError::Io {
            path: self.procfs.clone(),
            source,
        })?;
        let mut groups: HashMap<Arc<str>, GroupSnapshot> = HashMap::new();
        let mut buf = Vec::with_capacity(4096);
        let mut path = PathBuf::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            path.clone_from(&self.procfs);
            path.push(&name);
            match self.read_process(pid, &mut path, &mut buf, state, first_scan, generation) {
                Ok(Some((group, snapshot))) => groups.entry(group).or_default().merge(&snapshot),
                Ok(None) | Err(ProcRead::Gone) => {}
                Err(ProcRead::Failed) => state.procread_errors += 1,
            }
        }
        state.procs.retain(|_, t| t.generation == generation);
        Ok(groups)
    }

    /// Reads one process; `path` is `/proc/PID` on entry.
    fn read_process(
        &self,
        pid: u32,
        path: &mut PathBuf,
        buf: &mut Vec<u8>,
        state: &mut State,
        first_scan: bool,
        generation: u64,
    ) -> Result<Option<(Arc<str>, GroupSnapshot)>, ProcRead> {
        path.push("stat");
        read_into(path, buf).map_err(|e| classify(&e))?;
        path.pop();
        let stat = read::parse_stat(buf).ok_or(ProcRead::Failed)?;

        // Name the process once per (pid, start time, comm): comm changes on exec.
        let known = state
            .procs
            .get(&pid)
            .filter(|t| t.starttime == stat.starttime);
        let renamed = known.is_none_or(|t| *t.comm != *stat.comm);
        let previous = known.map(|t| t.last);
        if renamed {
            let group = self.name_process(&stat, path);
            let tracked = state.procs.entry(pid).or_insert_with(|| Tracked {
                starttime: stat.starttime,
                comm: Box::default(),
                group: None,
                last: Counts::default(),
                generation,
            });
            tracked.starttime = stat.starttime;
            tracked.comm = stat.comm.into();
            tracked.group = group.map(Arc::from);
        }
        let tracked = state.procs.get_mut(&pid).ok_or(ProcRead::Failed)?;
        tracked.generation = generation;
        let Some(group) = tracked.group.clone() else {
            return Ok(None);
        };

        let mut snapshot = GroupSnapshot {
            procs: 1,
            threads: stat.num_threads,
            resident: stat.rss_pages * self.page_size,
            virtual_bytes: stat.vsize,
            oldest_start: Some(stat.starttime),
            ..GroupSnapshot::default()
        };
        snapshot.states[state_index(stat.state)] = 1;
        let mut counts = Counts {
            user_ticks: stat.utime,
            system_ticks: stat.stime,
            minflt: stat.minflt,
            majflt: stat.majflt,
            ..Counts::default()
        };
        // `stat` borrows `buf`; everything needed from it is copied by now.

        path.push("status");
        let status = read_into(path, buf);
        path.pop();
        status.map_err(|e| classify(&e))?;
        let status = read::parse_status(buf);
        snapshot.swapped = status.swap_bytes;
        counts.voluntary = status.voluntary_ctxt_switches;
        counts.nonvoluntary = status.nonvoluntary_ctxt_switches;

        let mut partial = false;
        path.push("fd");
        let fds = self.open_fds(path);
        path.pop();
        match fds {
            Ok(n) => snapshot.open_fds = n,
            Err(_) => partial = true,
        }
        match self.nofile_limit(pid, path, buf) {
            Some(Some(limit)) if limit > 0 && fds.is_ok() => {
                snapshot.worst_fd_ratio = snapshot.open_fds as f64 / limit as f64;
            }
            Some(_) => {}
            None => partial = true,
        }
        if self.read_io {
            path.push("io");
            let io = read_into(path, buf);
            path.pop();
            match io.ok().and_then(|()| read::parse_io(buf)) {
                Some((read, write)) => {
                    counts.read_bytes = read;
                    counts.write_bytes = write;
                }
                None => {
                    // Keep the last value so the increase is zero, not negative.
                    let last = previous.unwrap_or_default();
                    counts.read_bytes = last.read_bytes;
                    counts.write_bytes = last.write_bytes;
                    partial = true;
                }
            }
        }
        if partial {
            state.partial_errors += 1;
        }

        snapshot.increase = match previous {
            Some(last) => counts.since(&last),
            // Running before our first scan: count from now on.
            None if first_scan => Counts::default(),
            // Started since the previous scan: all of it happened in this interval.
            None => counts,
        };
        if let Some(t) = state.procs.get_mut(&pid) {
            t.last = counts;
        }
        Ok(Some((group, snapshot)))
    }

    fn name_process(&self, stat: &read::Stat, path: &mut PathBuf) -> Option<String> {
        let comm = String::from_utf8_lossy(stat.comm);
        let mut cmdline = Vec::new();
        if self.needs_cmdline {
            path.push("cmdline");
            if let Ok(bytes) = std::fs::read(&*path) {
                cmdline = read::parse_cmdline(&bytes);
            }
            path.pop();
        }
        self.grouper.group(&Attributes {
            comm: &comm,
            kernel_thread: stat.is_kernel_thread(),
            cmdline: &cmdline,
        })
    }

    fn boot_time(&self, state: &mut State) -> Option<f64> {
        if state.boot_time.is_none() {
            let path = self.procfs.join("stat");
            state.boot_time = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| read::parse_btime(&t));
            if state.boot_time.is_none() {
                tracing::warn!(path = %path.display(), "no btime: oldest_start_time_seconds is left out");
            }
        }
        state.boot_time
    }
}

/// Keeps at most `max` groups by name, preferring those reported last time, and folds the
/// rest into [`OVERFLOW_GROUP`]. Returns the reported groups and how many were folded.
fn fold_overflow(
    mut groups: HashMap<Arc<str>, GroupSnapshot>,
    reported_before: &HashSet<Arc<str>>,
    max: usize,
) -> (Vec<(Arc<str>, GroupSnapshot)>, usize) {
    if groups.len() <= max {
        let mut all: Vec<_> = groups.into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        return (all, 0);
    }
    let mut names: Vec<Arc<str>> = groups.keys().cloned().collect();
    // Sticky first, then by name: the reported set changes only when groups come or go.
    names.sort_by(|a, b| {
        let (a_old, b_old) = (reported_before.contains(a), reported_before.contains(b));
        b_old.cmp(&a_old).then_with(|| a.cmp(b))
    });
    let folded_names = names.split_off(max);
    let mut other = groups.remove(OVERFLOW_GROUP).unwrap_or_default();
    let mut folded = 0;
    for name in &folded_names {
        if let Some(snapshot) = groups.remove(name) {
            other.merge(&snapshot);
            folded += 1;
        }
    }
    // A real group named `other` that kept its place absorbs the overflow too.
    let mut kept: Vec<_> = names
        .into_iter()
        .filter_map(|n| groups.remove(&n).map(|s| (n, s)))
        .collect();
    kept.push((Arc::from(OVERFLOW_GROUP), other));
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    (kept, folded)
}

impl Collector for ProcessesCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| CollectorError::Other("state poisoned by an earlier panic".into()))?;
        let groups = self.scan(&mut state)?;
        let reported_before: HashSet<Arc<str>> = state.totals.keys().cloned().collect();
        let (groups, folded) = fold_overflow(groups, &reported_before, self.max_groups);

        // Counter totals follow the reported groups; vanished groups are dropped.
        let mut totals = HashMap::with_capacity(groups.len());
        for (name, snapshot) in &groups {
            let mut total = state.totals.get(name).copied().unwrap_or_default();
            total.add(&snapshot.increase);
            totals.insert(name.clone(), total);
        }
        state.totals = totals;
        let boot_time = self.boot_time(&mut state);
        self.emit(out, &groups, &state, boot_time, folded);
        Ok(())
    }
}

impl ProcessesCollector {
    fn emit(
        &self,
        out: &mut MetricSet,
        groups: &[(Arc<str>, GroupSnapshot)],
        state: &State,
        boot_time: Option<f64>,
        folded: usize,
    ) {
        let totals = |name: &str| state.totals.get(name).copied().unwrap_or_default();
        let ticks = self.ticks_per_second;
        let gauge = |out: &mut MetricSet,
                     name: &'static str,
                     help: &'static str,
                     f: &dyn Fn(&GroupSnapshot) -> f64| {
            let family = out.family(name, help, Kind::Gauge);
            for (group, s) in groups {
                family.sample(&[("groupname", group)], f(s));
            }
        };
        let counter = |out: &mut MetricSet,
                       name: &'static str,
                       help: &'static str,
                       f: &dyn Fn(&Counts) -> f64| {
            let family = out.family(name, help, Kind::Counter);
            for (group, _) in groups {
                family.sample(&[("groupname", group)], f(&totals(group)));
            }
        };

        gauge(
            out,
            "namedprocess_namegroup_num_procs",
            "Number of processes in this group.",
            &|s| s.procs as f64,
        );
        gauge(
            out,
            "namedprocess_namegroup_num_threads",
            "Number of threads in this group.",
            &|s| s.threads as f64,
        );
        let family = out.family(
            "namedprocess_namegroup_cpu_seconds_total",
            "CPU seconds used by this group since the collector started, by mode.",
            Kind::Counter,
        );
        for (group, _) in groups {
            let t = totals(group);
            family.sample(
                &[("groupname", group), ("mode", "user")],
                t.user_ticks as f64 / ticks,
            );
            family.sample(
                &[("groupname", group), ("mode", "system")],
                t.system_ticks as f64 / ticks,
            );
        }
        counter(
            out,
            "namedprocess_namegroup_major_page_faults_total",
            "Major page faults of this group since the collector started.",
            &|t| t.majflt as f64,
        );
        counter(
            out,
            "namedprocess_namegroup_minor_page_faults_total",
            "Minor page faults of this group since the collector started.",
            &|t| t.minflt as f64,
        );
        let family = out.family(
            "namedprocess_namegroup_context_switches_total",
            "Context switches of this group's main threads since the collector started.",
            Kind::Counter,
        );
        for (group, _) in groups {
            let t = totals(group);
            family.sample(
                &[("ctxswitchtype", "voluntary"), ("groupname", group)],
                t.voluntary as f64,
            );
            family.sample(
                &[("ctxswitchtype", "nonvoluntary"), ("groupname", group)],
                t.nonvoluntary as f64,
            );
        }
        if self.read_io {
            counter(
                out,
                "namedprocess_namegroup_read_bytes_total",
                "Bytes this group read from storage since the collector started.",
                &|t| t.read_bytes as f64,
            );
            counter(
                out,
                "namedprocess_namegroup_write_bytes_total",
                "Bytes this group wrote to storage since the collector started.",
                &|t| t.write_bytes as f64,
            );
        }
        let family = out.family(
            "namedprocess_namegroup_memory_bytes",
            "Memory of this group in bytes: resident, virtual, or swapped out.",
            Kind::Gauge,
        );
        for (group, s) in groups {
            family.sample(
                &[("groupname", group), ("memtype", "resident")],
                s.resident as f64,
            );
            family.sample(
                &[("groupname", group), ("memtype", "virtual")],
                s.virtual_bytes as f64,
            );
            family.sample(
                &[("groupname", group), ("memtype", "swapped")],
                s.swapped as f64,
            );
        }
        gauge(
            out,
            "namedprocess_namegroup_open_filedesc",
            "Open file descriptors of this group.",
            &|s| s.open_fds as f64,
        );
        gauge(
            out,
            "namedprocess_namegroup_worst_fd_ratio",
            "Highest ratio of open file descriptors to the soft limit among the group's processes.",
            &|s| s.worst_fd_ratio,
        );
        let family = out.family(
            "namedprocess_namegroup_states",
            "Number of processes of this group in each state (Running, Sleeping, Waiting = uninterruptible, Zombie, Other).",
            Kind::Gauge,
        );
        for (group, s) in groups {
            for (state_name, n) in STATES.iter().zip(s.states) {
                family.sample(&[("groupname", group), ("state", state_name)], n as f64);
            }
        }
        if let Some(boot) = boot_time {
            gauge(
                out,
                "namedprocess_namegroup_oldest_start_time_seconds",
                "Start time of the oldest process of this group, in seconds since the epoch.",
                &|s| s.oldest_start.map_or(0.0, |t| boot + t as f64 / ticks),
            );
        }
        out.counter(
            "namedprocess_scrape_procread_errors_total",
            "Processes whose stat or status could not be read (other than because they exited).",
            state.procread_errors as f64,
        );
        out.counter(
            "namedprocess_scrape_partial_errors_total",
            "Processes of which some file (fd, limits, io) could not be read.",
            state.partial_errors as f64,
        );
        out.gauge(
            "pulse_process_groups_overflowed",
            "Groups folded into groupname=\"other\" on this scrape because of the max-groups cap.",
            folded as f64,
        );
    }
}

#[cfg(test)]
mod tests;
