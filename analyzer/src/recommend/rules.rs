//! The rules. Each reads what it needs, and pushes a recommendation per affected subject.

use std::collections::BTreeMap;

use pulse_timeseries::forecast::{ForecastConfig, regime_start};

use super::window::{increase, label, latest, line, points, span};
use super::{Change, RecommendConfig, Recommendation, Severity};
use crate::capacity::Forecast;
use crate::storage::{LatestSample, Reader, StoreError};

const MIB: f64 = 1024.0 * 1024.0;

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / MIB)
}

fn duration(secs: f64) -> String {
    if secs >= 86_400.0 {
        format!("{:.1} days", secs / 86_400.0)
    } else if secs >= 3600.0 {
        format!("{:.1} hours", secs / 3600.0)
    } else {
        format!("{:.0} minutes", secs / 60.0)
    }
}

/// The sample among `rows` from the same scrape target whose label `key` equals `value`.
fn same<'a>(
    rows: &'a [LatestSample],
    instance: &str,
    key: &str,
    value: &str,
) -> impl Iterator<Item = &'a LatestSample> {
    let (instance, key, value) = (instance.to_owned(), key.to_owned(), value.to_owned());
    rows.iter()
        .filter(move |r| r.series.target == instance && label(r, &key) == Some(value.as_str()))
}

/// The metric names one cache kind is read from.
struct CacheKind {
    kind: &'static str,
    evicted: &'static str,
    used: &'static str,
    max: &'static str,
    items: &'static str,
    /// Hits and misses counters, with the label values that pick them.
    hits: (&'static str, &'static [(&'static str, &'static str)]),
    misses: (&'static str, &'static [(&'static str, &'static str)]),
}

const CACHES: &[CacheKind] = &[
    CacheKind {
        kind: "redis",
        evicted: "redis_evicted_keys_total",
        used: "redis_memory_used_bytes",
        max: "redis_memory_max_bytes",
        items: "redis_db_keys",
        hits: ("redis_keyspace_hits_total", &[]),
        misses: ("redis_keyspace_misses_total", &[]),
    },
    CacheKind {
        kind: "memcached",
        evicted: "memcached_items_evicted_total",
        used: "memcached_current_bytes",
        max: "memcached_limit_bytes",
        items: "memcached_current_items",
        hits: (
            "memcached_commands_total",
            &[("command", "get"), ("status", "hit")],
        ),
        misses: (
            "memcached_commands_total",
            &[("command", "get"), ("status", "miss")],
        ),
    },
];

/// Increase over the window of the counters named `name` of one cache, summed over the
/// series whose labels match `pick`.
fn cache_increase(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    rows: &[LatestSample],
    (instance, address): (&str, &str),
    pick: &[(&str, &str)],
) -> Result<f64, StoreError> {
    let mut total = 0.0;
    for row in same(rows, instance, "target", address) {
        if pick.iter().all(|(k, v)| label(row, k) == Some(v)) {
            total += increase(&points(reader, row.series.id, now_ms, config.window)?);
        }
    }
    Ok(total)
}

/// Low hit ratio while the cache evicts: it is too small for its working set.
pub fn cache_evictions(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    for cache in CACHES {
        let evicted_rows = latest(reader, cache.evicted)?;
        if evicted_rows.is_empty() {
            continue;
        }
        let (used, max, items) = (
            latest(reader, cache.used)?,
            latest(reader, cache.max)?,
            latest(reader, cache.items)?,
        );
        let (hits_rows, misses_rows) = (
            latest(reader, cache.hits.0)?,
            latest(reader, cache.misses.0)?,
        );
        for row in &evicted_rows {
            let Some(address) = label(row, "target") else {
                continue;
            };
            let instance = row.series.target.as_str();
            let window = points(reader, row.series.id, now_ms, config.window)?;
            let evicted = increase(&window);
            if evicted <= 0.0 {
                continue;
            }
            let key = (instance, address);
            let hits = cache_increase(reader, now_ms, config, &hits_rows, key, cache.hits.1)?;
            let misses = cache_increase(reader, now_ms, config, &misses_rows, key, cache.misses.1)?;
            let lookups = hits + misses;
            if lookups <= 0.0 {
                continue;
            }
            let hit_ratio = hits / lookups;
            if hit_ratio >= config.hit_ratio_min {
                continue;
            }
            let value = |rows: &[LatestSample]| {
                same(rows, instance, "target", address)
                    .filter_map(|r| r.value)
                    .sum::<f64>()
            };
            let (used, max, keys) = (value(&used), value(&max), value(&items));
            if max <= 0.0 {
                continue;
            }
            // Keys evicted per key kept, over the window: the share of the working set that
            // did not fit. Raise by that share, at least a quarter, at most double per step.
            let factor = (1.0 + evicted / keys.max(1.0)).clamp(1.25, 2.0);
            let suggested = ((max * factor / MIB).ceil() * MIB) as u64;
            let window_text = duration(config.window.as_secs_f64());
            let enough = evicted >= 100.0 && lookups >= 1000.0;
            let mut evidence = BTreeMap::new();
            evidence.insert("evicted_keys", evicted);
            evidence.insert("hit_ratio", hit_ratio);
            evidence.insert("lookups", lookups);
            evidence.insert("used_bytes", used);
            evidence.insert("limit_bytes", max);
            evidence.insert("keys", keys);
            evidence.insert("suggested_limit_bytes", suggested as f64);
            let (action, change) = if cache.kind == "redis" {
                (
                    format!(
                        "raise maxmemory of {address} from {} to {} (CONFIG SET maxmemory {suggested}) \
                         or give keys shorter TTLs so the working set fits",
                        mib(max),
                        mib(suggested as f64)
                    ),
                    Some(Change::RedisMaxmemory {
                        address: address.to_owned(),
                        from: max as u64,
                        to: suggested,
                    }),
                )
            } else {
                (
                    format!(
                        "raise the memory limit (-m) of memcached {address} from {} to {} \
                         or give items shorter expiry times",
                        mib(max),
                        mib(suggested as f64)
                    ),
                    None,
                )
            };
            out.push(Recommendation {
                id: format!("cache_evictions:{instance}:{address}"),
                rule: "cache_evictions",
                severity: if hit_ratio < 0.5 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                confidence: if enough { 0.9 } else { 0.6 },
                instance: instance.to_owned(),
                subject: format!("{} {address}", cache.kind),
                summary: format!(
                    "{} {address}: hit ratio {:.0} % with {evicted:.0} keys evicted in {window_text}",
                    cache.kind,
                    hit_ratio * 100.0
                ),
                action,
                evidence,
                change,
            });
        }
    }
    Ok(())
}

/// Cache memory close to its limit: evictions (or write errors with `noeviction`) are next.
pub fn cache_near_limit(
    reader: &Reader,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    for cache in CACHES {
        let max = latest(reader, cache.max)?;
        for used in latest(reader, cache.used)? {
            let (Some(address), Some(used_bytes)) = (label(&used, "target"), used.value) else {
                continue;
            };
            let instance = used.series.target.as_str();
            let Some(limit) = same(&max, instance, "target", address)
                .find_map(|r| r.value)
                .filter(|v| *v > 0.0)
            else {
                continue;
            };
            let ratio = used_bytes / limit;
            if ratio < config.cache_used_max {
                continue;
            }
            let mut evidence = BTreeMap::new();
            evidence.insert("used_bytes", used_bytes);
            evidence.insert("limit_bytes", limit);
            evidence.insert("used_ratio", ratio);
            // A cache that evicts by design (an LRU policy) lives at its limit; the harm shows
            // as evictions with a falling hit ratio (`cache_evictions`), or as failed writes
            // under `noeviction`. So this one is for information.
            out.push(Recommendation {
                id: format!("cache_memory_near_limit:{instance}:{address}"),
                rule: "cache_memory_near_limit",
                severity: Severity::Info,
                confidence: 0.8,
                instance: instance.to_owned(),
                subject: format!("{} {address}", cache.kind),
                summary: format!(
                    "{} {address} uses {:.0} % of its {} limit",
                    cache.kind,
                    ratio * 100.0,
                    mib(limit)
                ),
                action: format!(
                    "raise the limit of {address} above {} or check that keys expire \
                     (an eviction policy and TTLs) before it fills",
                    mib(used_bytes / config.cache_used_max)
                ),
                evidence,
                change: None,
            });
        }
    }
    Ok(())
}

/// The biggest process groups of an instance by the latest value of `name`, biggest first.
fn top_groups(
    reader: &Reader,
    instance: &str,
    name: &str,
    n: usize,
) -> Result<Vec<(String, f64)>, StoreError> {
    let mut groups: Vec<(String, f64)> = latest(reader, name)?
        .iter()
        .filter(|r| r.series.target == instance)
        .filter_map(|r| Some((label(r, "groupname")?.to_owned(), r.value?)))
        .collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    groups.truncate(n);
    Ok(groups)
}

/// Rate per second of the single counter `name` of `instance` over the window.
fn counter_rate(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    instance: &str,
    name: &str,
) -> Result<Option<f64>, StoreError> {
    let Some(row) = latest(reader, name)?
        .into_iter()
        .find(|r| r.series.target == instance)
    else {
        return Ok(None);
    };
    let window = points(reader, row.series.id, now_ms, config.window)?;
    let secs = span(&window);
    Ok((secs > 0).then(|| increase(&window) / secs as f64))
}

/// Little memory available, swapping or memory stalls: name the groups to shrink.
pub fn memory_pressure(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let totals = latest(reader, "node_memory_MemTotal_bytes")?;
    for available in latest(reader, "node_memory_MemAvailable_bytes")? {
        let instance = available.series.target.as_str();
        let (Some(avail), Some(total)) = (
            available.value,
            totals
                .iter()
                .find(|r| r.series.target == instance)
                .and_then(|r| r.value)
                .filter(|t| *t > 0.0),
        ) else {
            continue;
        };
        let ratio = avail / total;
        let swap_out =
            counter_rate(reader, now_ms, config, instance, "node_vmstat_pswpout")?.unwrap_or(0.0);
        let stalled = counter_rate(
            reader,
            now_ms,
            config,
            instance,
            "node_pressure_memory_waiting_seconds_total",
        )?
        .unwrap_or(0.0);
        let low = ratio < config.memory_available_min;
        if !low && swap_out <= 0.0 && stalled < 0.1 {
            continue;
        }
        let groups = top_groups(reader, instance, "pulse:process_rss:bytes", 3)?;
        let names: Vec<String> = groups
            .iter()
            .map(|(g, rss)| format!("{g} ({})", mib(*rss)))
            .collect();
        let mut evidence = BTreeMap::new();
        evidence.insert("available_ratio", ratio);
        evidence.insert("swap_out_pages_per_second", swap_out);
        evidence.insert("memory_stall_ratio", stalled);
        if let Some((_, rss)) = groups.first() {
            evidence.insert("largest_group_rss_bytes", *rss);
        }
        let mut reasons = Vec::new();
        if low {
            reasons.push(format!("{:.1} % memory available", ratio * 100.0));
        }
        if swap_out > 0.0 {
            reasons.push(format!("swapping out {swap_out:.1} pages/s"));
        }
        if stalled >= 0.1 {
            reasons.push(format!(
                "tasks stalled on memory {:.0} % of the time",
                stalled * 100.0
            ));
        }
        out.push(Recommendation {
            id: format!("memory_pressure:{instance}:host"),
            rule: "memory_pressure",
            severity: if ratio < config.memory_available_min / 2.0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence: if low && (swap_out > 0.0 || stalled >= 0.1) {
                0.9
            } else {
                0.7
            },
            instance: instance.to_owned(),
            subject: "host".to_owned(),
            summary: format!("memory pressure on {instance}: {}", reasons.join(", ")),
            action: if names.is_empty() {
                "shrink or cap (cgroup memory.max) the largest processes, or add memory".to_owned()
            } else {
                format!(
                    "shrink or cap (cgroup memory.max) the largest process groups: {}; or add memory",
                    names.join(", ")
                )
            },
            evidence,
            change: None,
        });
    }
    Ok(())
}

/// Load per core above the limit for the whole window, or tasks waiting for CPU.
pub fn cpu_saturation(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let cpus = latest(reader, "node_cpu_seconds_total")?;
    for load in latest(reader, "node_load1")? {
        let instance = load.series.target.as_str();
        let cores = cpus
            .iter()
            .filter(|r| r.series.target == instance && label(r, "mode") == Some("idle"))
            .count();
        if cores == 0 {
            continue;
        }
        let window = points(reader, load.series.id, now_ms, config.window)?;
        // "Sustained" needs most of the window covered.
        let covered = span(&window) as f64 >= 0.8 * config.window.as_secs_f64();
        let min_load = window.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let per_core = min_load / cores as f64;
        let waiting = counter_rate(
            reader,
            now_ms,
            config,
            instance,
            "node_pressure_cpu_waiting_seconds_total",
        )?
        .unwrap_or(0.0);
        let saturated = covered && per_core > config.load_per_core_max;
        if !saturated && waiting < 0.5 {
            continue;
        }
        let groups = top_groups(reader, instance, "pulse:process_cpu:rate", 3)?;
        let names: Vec<String> = groups
            .iter()
            .map(|(g, c)| format!("{g} ({c:.1} cores)"))
            .collect();
        let mut evidence = BTreeMap::new();
        evidence.insert(
            "min_load_per_core",
            if covered { per_core } else { f64::NAN },
        );
        evidence.insert("cores", cores as f64);
        evidence.insert("cpu_wait_ratio", waiting);
        evidence.retain(|_, v| v.is_finite());
        out.push(Recommendation {
            id: format!("cpu_saturation:{instance}:host"),
            rule: "cpu_saturation",
            severity: if per_core > 2.0 * config.load_per_core_max {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence: if saturated && waiting >= 0.5 { 0.9 } else { 0.7 },
            instance: instance.to_owned(),
            subject: "host".to_owned(),
            summary: format!(
                "CPU saturated on {instance} for {}: load per core at least {per_core:.2}, \
                 tasks waiting for CPU {:.0} % of the time",
                duration(config.window.as_secs_f64()),
                waiting * 100.0
            ),
            action: if names.is_empty() {
                "add cores or move work off this host".to_owned()
            } else {
                format!(
                    "move, throttle (cgroup cpu.max) or optimise the busiest groups: {}; or add cores",
                    names.join(", ")
                )
            },
            evidence,
            change: None,
        });
    }
    Ok(())
}

/// Forecast exhaustion within the warning horizon (and fd use already near its limit).
pub fn exhaustion(forecasts: &[Forecast], config: &RecommendConfig, out: &mut Vec<Recommendation>) {
    for f in forecasts {
        let (rule, what, action) = match f.resource {
            "filesystem_bytes" | "filesystem_inodes" => (
                "filesystem_exhaustion",
                f.labels.get("mountpoint").cloned().unwrap_or_default(),
                "free space (old logs, caches, snapshots) or grow the filesystem",
            ),
            "memory" | "swap" => (
                "memory_exhaustion",
                f.resource.to_owned(),
                "find the growing process group (see pulse:process_rss:bytes) or add memory",
            ),
            "file_descriptors" | "process_file_descriptors" => (
                "fd_exhaustion",
                f.labels
                    .get("groupname")
                    .cloned()
                    .unwrap_or_else(|| "host".to_owned()),
                "find the fd leak (ls /proc/PID/fd) or raise the limit (LimitNOFILE, fs.file-max)",
            ),
            _ => (
                "cache_memory_exhaustion",
                f.labels.get("target").cloned().unwrap_or_default(),
                "raise the cache's memory limit or shorten TTLs",
            ),
        };
        let left = f.seconds_left();
        let cache = rule == "cache_memory_exhaustion";
        if cache && f.limit > 0.0 && f.current / f.limit >= config.cache_used_max {
            // Already at the limit: `cache_memory_near_limit` says so.
            continue;
        }
        let fd_near = rule == "fd_exhaustion" && f.limit > 0.0 && f.current / f.limit >= 0.9;
        let within = left.is_some_and(|s| s as f64 <= config.warn_within.as_secs_f64());
        if !within && !fd_near {
            continue;
        }
        let critical = left.is_some_and(|s| s as f64 <= config.critical_within.as_secs_f64());
        // A narrow interval relative to the time left is a confident forecast.
        let confidence = match (left, f.earliest, f.latest) {
            (Some(s), Some(e), Some(l)) if s > 0 => {
                (1.0 - (l - e) as f64 / (2.0 * s as f64)).clamp(0.1, 0.95)
            }
            (Some(_), _, _) => 0.5,
            _ => 0.8,
        };
        let mut evidence = BTreeMap::new();
        evidence.insert("current", f.current);
        evidence.insert("limit", f.limit);
        evidence.insert("trend_per_hour", f.trend_per_second * 3600.0);
        if let Some(s) = left {
            evidence.insert("seconds_left", s as f64);
        }
        if let Some(e) = f.earliest {
            evidence.insert("earliest_timestamp", e as f64);
        }
        if let Some(l) = f.latest {
            evidence.insert("latest_timestamp", l as f64);
        }
        let when = match left {
            Some(s) => format!("exhausted in about {}", duration(s as f64)),
            None => format!("at {:.0} % of its limit", 100.0 * f.current / f.limit),
        };
        out.push(Recommendation {
            id: format!("{rule}:{}:{}:{what}", f.instance, f.resource),
            rule,
            // Filling a cache is what it is for; see `cache_near_limit`.
            severity: if cache {
                Severity::Info
            } else if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence,
            instance: f.instance.clone(),
            subject: what.clone(),
            summary: format!("{} {what} on {}: {when}", f.resource, f.instance),
            action: action.to_owned(),
            evidence,
            change: None,
        });
    }
}

/// Process group RSS growing steadily over the leak window: a leak suspect.
pub fn rss_leak(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    for group in latest(reader, "pulse:process_rss:bytes")? {
        let Some(name) = label(&group, "groupname") else {
            continue;
        };
        let window = points(reader, group.series.id, now_ms, config.leak_window)?;
        let secs = span(&window) as f64;
        if window.len() < 20 || secs < 0.8 * config.leak_window.as_secs_f64() {
            continue;
        }
        let Some((slope, r2)) = line(&window) else {
            continue;
        };
        let start = window[0].1.max(1.0);
        let growth = slope * secs / start;
        if slope <= 0.0 || r2 < 0.8 || growth < 0.1 {
            continue;
        }
        let instance = group.series.target.as_str();
        let mut evidence = BTreeMap::new();
        evidence.insert("growth_bytes_per_hour", slope * 3600.0);
        evidence.insert("r_squared", r2);
        evidence.insert("growth_ratio", growth);
        evidence.insert("rss_bytes", group.value.unwrap_or(f64::NAN));
        evidence.retain(|_, v| v.is_finite());
        out.push(Recommendation {
            id: format!("rss_leak:{instance}:{name}"),
            rule: "rss_leak",
            severity: Severity::Warning,
            confidence: r2.clamp(0.0, 0.95),
            instance: instance.to_owned(),
            subject: name.to_owned(),
            summary: format!(
                "process group {name} on {instance}: RSS grew {:.0} % in {} at a steady {}/hour (R² {r2:.2})",
                growth * 100.0,
                duration(secs),
                mib(slope * 3600.0)
            ),
            action: format!(
                "profile {name} for a memory leak (heap profile, or compare two dumps); until fixed, \
                 restart it before it adds {} a day, or cap it with cgroup memory.max",
                mib(slope * 86_400.0)
            ),
            evidence,
            change: None,
        });
    }
    Ok(())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    Some(*values.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Probe latency that stepped up and stayed up: the latest change point in the
/// `regression_window` (two lines fitting far better than one, as for forecasts), with the
/// median after it at least `latency_regression_ratio` times the median before.
pub fn probe_latency_regression(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let split = ForecastConfig {
        min_regime_secs: config.window.as_secs() as i64,
        ..ForecastConfig::default()
    };
    for probe in latest(reader, "pulse:probe_latency:seconds")? {
        let window = points(reader, probe.series.id, now_ms, config.regression_window)?;
        if window.len() < 30 {
            continue;
        }
        let start = regime_start(&window, |_| 0.0, &split);
        if start == 0 {
            continue;
        }
        let mut before: Vec<f64> = window[..start].iter().map(|p| p.1).collect();
        let mut after: Vec<f64> = window[start..].iter().map(|p| p.1).collect();
        let (Some(before), Some(after)) = (median(&mut before), median(&mut after)) else {
            continue;
        };
        let ratio = after / before.max(1e-6);
        // Below 10 ms a doubling is noise of the network stack, not a regression.
        if ratio < config.latency_regression_ratio || after - before < 0.01 {
            continue;
        }
        let instance = probe.series.target.as_str();
        let subject = label(&probe, "target")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                probe
                    .series
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        let changed_at = window[start].0;
        let mut evidence = BTreeMap::new();
        evidence.insert("median_before_seconds", before);
        evidence.insert("median_after_seconds", after);
        evidence.insert("ratio", ratio);
        evidence.insert("change_timestamp", changed_at as f64);
        let ago = (now_ms / 1000 - changed_at) as f64;
        out.push(Recommendation {
            id: format!("probe_latency_regression:{instance}:{subject}"),
            rule: "probe_latency_regression",
            severity: if ratio >= 2.0 * config.latency_regression_ratio {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence: if start >= 30 && window.len() - start >= 30 {
                0.8
            } else {
                0.6
            },
            instance: instance.to_owned(),
            subject: subject.clone(),
            summary: format!(
                "probe {subject}: median latency {:.0} ms → {:.0} ms ({ratio:.1}×) since {} ago",
                before * 1000.0,
                after * 1000.0,
                duration(ago)
            ),
            action: format!(
                "check what changed around {} ago for {subject} (deploy, config, dependency, \
                 network path) and roll back or fix it",
                duration(ago)
            ),
            evidence,
            change: None,
        });
    }
    Ok(())
}
