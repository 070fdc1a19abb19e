//! Derived series: the ratios and rates the analysis reads, computed once per scrape.
//!
//! Computing them at ingest (like Prometheus recording rules) means detection and the API
//! read one stored series instead of re-deriving rates from raw counters on every query.
//! Names follow the recording-rule convention `level:metric:operation`
//! (`pulse:cpu_utilisation:ratio`). Rates come from two consecutive scrapes; a counter that
//! went down was reset (process restart), so its new value is the increase since the reset.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::parse::Sample;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derived {
    /// `pulse:cpu_utilisation:ratio`: 1 - idle share of all CPU time.
    CpuUtilisation,
    /// `pulse:memory_available:bytes` and `pulse:memory_available:ratio` (over MemTotal):
    /// MemAvailable plus the ZFS ARC above its minimum (see [`reclaimable_arc`]).
    MemoryAvailable,
    /// `pulse:filesystem_used:ratio{device,mountpoint,fstype}`.
    FilesystemUsed,
    /// `pulse:disk_*:rate{device}`: bytes and operations per second.
    DiskRates,
    /// `pulse:network_*:rate{device}`: bytes, errors and drops per second.
    NetworkRates,
    /// `pulse:probe_latency:seconds`: blackbox-style probe duration.
    ProbeLatency,
    /// `pulse:cache_hit:ratio{cache}`: Redis keyspace and memcached get hit ratio.
    CacheHitRatio,
    /// `pulse:process_cpu:rate{groupname}`: CPU cores used per process group.
    ProcessCpu,
    /// `pulse:process_rss:bytes{groupname}`: resident memory per process group.
    ProcessRss,
}

impl Derived {
    pub const ALL: &[Derived] = &[
        Derived::CpuUtilisation,
        Derived::MemoryAvailable,
        Derived::FilesystemUsed,
        Derived::DiskRates,
        Derived::NetworkRates,
        Derived::ProbeLatency,
        Derived::CacheHitRatio,
        Derived::ProcessCpu,
        Derived::ProcessRss,
    ];
}

type Labels = Vec<(String, String)>;

/// One computed point, stored like a scraped sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

const DISK_COUNTERS: &[&str] = &[
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_io_time_seconds_total",
];
const NETWORK_COUNTERS: &[&str] = &[
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
];

/// Counter values of the previous scrape of one target, for rates.
#[derive(Debug, Default)]
pub struct RateState {
    previous: HashMap<(String, Labels), (f64, i64)>,
    current: HashMap<(String, Labels), (f64, i64)>,
}

impl RateState {
    /// Per-second increase since the previous scrape, `None` on the first sighting.
    fn rate(&mut self, sample: &Sample, now_ms: i64) -> Option<f64> {
        let key = (sample.name.clone(), sample.labels.clone());
        let previous = self.previous.get(&key).copied();
        self.current.insert(key, (sample.value, now_ms));
        let (before, then_ms) = previous?;
        let seconds = (now_ms - then_ms) as f64 / 1000.0;
        if seconds <= 0.0 || !sample.value.is_finite() || !before.is_finite() {
            return None;
        }
        let increase = if sample.value >= before {
            sample.value - before
        } else {
            sample.value
        };
        Some(increase / seconds)
    }

    /// Forgets counters not seen in this scrape, so vanished series do not accumulate.
    fn finish(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

fn label<'a>(sample: &'a Sample, name: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn keep(sample: &Sample, names: &[&str]) -> Labels {
    sample
        .labels
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .cloned()
        .collect()
}

fn without(sample: &Sample, names: &[&str]) -> Labels {
    sample
        .labels
        .iter()
        .filter(|(k, _)| !names.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// Sums of rates per group; a group with a member lacking history is left out, so a
/// partial sum never looks like a drop.
#[derive(Default)]
struct RateSums(BTreeMap<Labels, Option<f64>>);

impl RateSums {
    fn add(&mut self, group: Labels, rate: Option<f64>) {
        let entry = self.0.entry(group).or_insert(Some(0.0));
        *entry = match (*entry, rate) {
            (Some(sum), Some(rate)) => Some(sum + rate),
            _ => None,
        };
    }

    fn complete(self) -> impl Iterator<Item = (Labels, f64)> {
        self.0.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// Bytes of the ZFS ARC above its minimum (`arcstats` `size` − `c_min`), 0 without ZFS.
///
/// The ARC is ZFS's cache and lives outside the page cache, so the kernel's MemAvailable
/// counts it as used; yet ZFS shrinks it down to `c_min` as soon as the kernel asks for
/// memory. Without this a ZFS host, whose ARC grows to fill most of memory by design, looks
/// short of memory and "runs out" within days of every boot.
pub fn reclaimable_arc(arc_size: Option<f64>, arc_min: Option<f64>) -> f64 {
    match (arc_size, arc_min) {
        (Some(size), Some(min)) if size.is_finite() && min.is_finite() => (size - min).max(0.0),
        _ => 0.0,
    }
}

/// Computes the selected derived series from one scrape.
pub fn compute(
    kinds: &[Derived],
    samples: &[Sample],
    now_ms: i64,
    state: &mut RateState,
) -> Vec<Point> {
    let mut out = Vec::new();
    let mut by_name: HashMap<&str, Vec<&Sample>> = HashMap::new();
    for sample in samples {
        by_name
            .entry(sample.name.as_str())
            .or_default()
            .push(sample);
    }
    let get = |name: &str| by_name.get(name).map_or(&[][..], Vec::as_slice);
    let mut push = |name: &str, labels: Labels, value: f64| {
        if value.is_finite() {
            out.push(Point {
                name: name.to_owned(),
                labels,
                value,
            });
        }
    };

    for kind in kinds {
        match kind {
            Derived::CpuUtilisation => {
                let mut idle = RateSums::default();
                let mut total = RateSums::default();
                for s in get("node_cpu_seconds_total") {
                    let rate = state.rate(s, now_ms);
                    total.add(Vec::new(), rate);
                    if label(s, "mode") == Some("idle") {
                        idle.add(Vec::new(), rate);
                    }
                }
                let idle: BTreeMap<_, _> = idle.complete().collect();
                for (group, busy_and_idle) in total.complete() {
                    if let Some(idle) = idle.get(&group)
                        && busy_and_idle > 0.0
                    {
                        push(
                            "pulse:cpu_utilisation:ratio",
                            group,
                            (1.0 - idle / busy_and_idle).clamp(0.0, 1.0),
                        );
                    }
                }
            }
            Derived::MemoryAvailable => {
                let available = get("node_memory_MemAvailable_bytes").first();
                let total = get("node_memory_MemTotal_bytes").first();
                if let (Some(a), Some(t)) = (available, total)
                    && t.value > 0.0
                {
                    let arc = reclaimable_arc(
                        get("node_zfs_arc_size").first().map(|s| s.value),
                        get("node_zfs_arc_c_min").first().map(|s| s.value),
                    );
                    let available = (a.value + arc).min(t.value);
                    push("pulse:memory_available:bytes", Vec::new(), available);
                    push(
                        "pulse:memory_available:ratio",
                        Vec::new(),
                        available / t.value,
                    );
                }
            }
            Derived::FilesystemUsed => {
                let fs_labels = ["device", "mountpoint", "fstype"];
                let sizes: HashMap<Labels, f64> = get("node_filesystem_size_bytes")
                    .iter()
                    .map(|s| (keep(s, &fs_labels), s.value))
                    .collect();
                for s in get("node_filesystem_avail_bytes") {
                    let labels = keep(s, &fs_labels);
                    if let Some(size) = sizes.get(&labels).copied().filter(|v| *v > 0.0) {
                        push("pulse:filesystem_used:ratio", labels, 1.0 - s.value / size);
                    }
                }
            }
            Derived::DiskRates | Derived::NetworkRates => {
                let counters = if *kind == Derived::DiskRates {
                    DISK_COUNTERS
                } else {
                    NETWORK_COUNTERS
                };
                for counter in counters {
                    let stem = counter
                        .trim_start_matches("node_")
                        .trim_end_matches("_total");
                    let name = format!("pulse:{stem}:rate");
                    for s in get(counter) {
                        if let Some(rate) = state.rate(s, now_ms) {
                            push(&name, keep(s, &["device"]), rate);
                        }
                    }
                }
            }
            Derived::ProbeLatency => {
                for s in get("probe_duration_seconds") {
                    push("pulse:probe_latency:seconds", s.labels.clone(), s.value);
                }
            }
            Derived::CacheHitRatio => {
                cache_hit_ratio(&get, state, now_ms, &mut push);
            }
            Derived::ProcessCpu => {
                let mut sums = RateSums::default();
                for s in get("namedprocess_namegroup_cpu_seconds_total") {
                    sums.add(keep(s, &["groupname"]), state.rate(s, now_ms));
                }
                for (group, cores) in sums.complete() {
                    push("pulse:process_cpu:rate", group, cores);
                }
            }
            Derived::ProcessRss => {
                for s in get("namedprocess_namegroup_memory_bytes") {
                    if label(s, "memtype") == Some("resident") {
                        push("pulse:process_rss:bytes", keep(s, &["groupname"]), s.value);
                    }
                }
            }
        }
    }
    state.finish();
    out
}

fn cache_hit_ratio<'a>(
    get: &impl Fn(&str) -> &'a [&'a Sample],
    state: &mut RateState,
    now_ms: i64,
    push: &mut impl FnMut(&str, Labels, f64),
) {
    let mut ratio = |hits: RateSums, misses: RateSums, cache: &str| {
        let misses: BTreeMap<_, _> = misses.complete().collect();
        for (group, hit_rate) in hits.complete() {
            let Some(miss_rate) = misses.get(&group) else {
                continue;
            };
            let lookups = hit_rate + miss_rate;
            if lookups > 0.0 {
                let mut labels = group;
                labels.push(("cache".to_owned(), cache.to_owned()));
                labels.sort();
                push("pulse:cache_hit:ratio", labels, hit_rate / lookups);
            }
        }
    };
    let (mut hits, mut misses) = (RateSums::default(), RateSums::default());
    for s in get("redis_keyspace_hits_total") {
        hits.add(s.labels.clone(), state.rate(s, now_ms));
    }
    for s in get("redis_keyspace_misses_total") {
        misses.add(s.labels.clone(), state.rate(s, now_ms));
    }
    ratio(hits, misses, "redis");

    let (mut hits, mut misses) = (RateSums::default(), RateSums::default());
    for s in get("memcached_commands_total") {
        if label(s, "command") != Some("get") {
            continue;
        }
        let group = without(s, &["command", "status"]);
        match label(s, "status") {
            Some("hit") => hits.add(group, state.rate(s, now_ms)),
            Some("miss") => misses.add(group, state.rate(s, now_ms)),
            _ => {}
        }
    }
    ratio(hits, misses, "memcached");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, parse};

    fn run(state: &mut RateState, body: &str, now_ms: i64) -> Vec<Point> {
        let parsed = parse(body, Format::Text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        compute(Derived::ALL, &parsed.samples, now_ms, state)
    }

    fn value(points: &[Point], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        points
            .iter()
            .find(|p| {
                p.name == name
                    && p.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| p.labels.iter().any(|(pk, pv)| pk == k && pv == v))
            })
            .map(|p| p.value)
    }

    #[test]
    fn zfs_arc_above_its_minimum_counts_as_available_memory() {
        let points = run(
            &mut RateState::default(),
            "node_memory_MemAvailable_bytes 250\nnode_memory_MemTotal_bytes 1000\n\
             node_zfs_arc_size 600\nnode_zfs_arc_c_min 100\n",
            1000,
        );
        assert_eq!(
            value(&points, "pulse:memory_available:bytes", &[]),
            Some(750.0)
        );
        assert_eq!(
            value(&points, "pulse:memory_available:ratio", &[]),
            Some(0.75)
        );
        assert_eq!(reclaimable_arc(Some(50.0), Some(100.0)), 0.0);
        assert_eq!(reclaimable_arc(Some(50.0), None), 0.0);
    }

    #[test]
    fn gauges_ratios_need_one_scrape() {
        let points = run(
            &mut RateState::default(),
            "node_memory_MemAvailable_bytes 250\nnode_memory_MemTotal_bytes 1000\n\
             node_filesystem_avail_bytes{device=\"sda1\",mountpoint=\"/\",fstype=\"ext4\"} 30\n\
             node_filesystem_size_bytes{device=\"sda1\",mountpoint=\"/\",fstype=\"ext4\"} 120\n\
             probe_duration_seconds{target=\"x\"} 0.25\n\
             namedprocess_namegroup_memory_bytes{groupname=\"db\",memtype=\"resident\"} 4096\n\
             namedprocess_namegroup_memory_bytes{groupname=\"db\",memtype=\"virtual\"} 9999\n",
            1000,
        );
        assert_eq!(
            value(&points, "pulse:memory_available:ratio", &[]),
            Some(0.25)
        );
        assert_eq!(
            value(
                &points,
                "pulse:filesystem_used:ratio",
                &[("device", "sda1"), ("fstype", "ext4"), ("mountpoint", "/")]
            ),
            Some(0.75)
        );
        assert_eq!(
            value(&points, "pulse:probe_latency:seconds", &[("target", "x")]),
            Some(0.25)
        );
        assert_eq!(
            value(&points, "pulse:process_rss:bytes", &[("groupname", "db")]),
            Some(4096.0)
        );
        // Without ZFS, available bytes are MemAvailable's.
        assert_eq!(
            value(&points, "pulse:memory_available:bytes", &[]),
            Some(250.0)
        );
        assert_eq!(points.len(), 5);
    }

    #[test]
    fn rates_handle_counter_resets() {
        let mut state = RateState::default();
        let scrape = |idle: f64, user: f64, read: f64| {
            format!(
                "node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle}\n\
                 node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {user}\n\
                 node_disk_read_bytes_total{{device=\"sda\"}} {read}\n\
                 redis_keyspace_hits_total {read}\nredis_keyspace_misses_total {user}\n"
            )
        };
        assert!(run(&mut state, &scrape(100.0, 50.0, 1000.0), 0).is_empty());
        let points = run(&mut state, &scrape(107.5, 52.5, 3000.0), 10_000);
        assert_eq!(
            value(&points, "pulse:cpu_utilisation:ratio", &[]),
            Some(0.25)
        );
        assert_eq!(
            value(&points, "pulse:disk_read_bytes:rate", &[("device", "sda")]),
            Some(200.0)
        );
        // 200 hits/s against 0.25 misses/s.
        let ratio = value(&points, "pulse:cache_hit:ratio", &[("cache", "redis")]).unwrap();
        assert!((ratio - 200.0 / 200.25).abs() < 1e-12);
        // The disk counter was reset (device re-attached): 500 bytes since, over 5 s.
        let points = run(&mut state, &scrape(110.0, 55.0, 500.0), 15_000);
        assert_eq!(
            value(&points, "pulse:disk_read_bytes:rate", &[("device", "sda")]),
            Some(100.0)
        );
    }

    #[test]
    fn process_cpu_sums_modes_per_group_and_memcached_ratio() {
        let mut state = RateState::default();
        let scrape = |user: f64, system: f64, hits: f64, misses: f64| {
            format!(
                "namedprocess_namegroup_cpu_seconds_total{{groupname=\"web\",mode=\"user\"}} {user}\n\
                 namedprocess_namegroup_cpu_seconds_total{{groupname=\"web\",mode=\"system\"}} {system}\n\
                 memcached_commands_total{{command=\"get\",status=\"hit\"}} {hits}\n\
                 memcached_commands_total{{command=\"get\",status=\"miss\"}} {misses}\n\
                 memcached_commands_total{{command=\"set\",status=\"hit\"}} 5\n"
            )
        };
        run(&mut state, &scrape(10.0, 5.0, 0.0, 0.0), 0);
        let points = run(&mut state, &scrape(12.0, 6.0, 30.0, 10.0), 2000);
        assert_eq!(
            value(&points, "pulse:process_cpu:rate", &[("groupname", "web")]),
            Some(1.5)
        );
        assert_eq!(
            value(&points, "pulse:cache_hit:ratio", &[("cache", "memcached")]),
            Some(0.75)
        );
    }

    #[test]
    fn only_selected_kinds_are_computed() {
        let parsed = parse(
            "node_memory_MemAvailable_bytes 1\nnode_memory_MemTotal_bytes 2\nprobe_duration_seconds 1\n",
            Format::Text,
        );
        let points = compute(
            &[Derived::ProbeLatency],
            &parsed.samples,
            0,
            &mut RateState::default(),
        );
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].name, "pulse:probe_latency:seconds");
    }
}
