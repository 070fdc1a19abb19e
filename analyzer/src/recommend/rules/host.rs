//! The host: memory pressure and CPU saturation, naming the process groups behind them.

use std::collections::BTreeMap;

use super::super::window::{increase, label, latest, points, span};
use super::super::{RecommendConfig, Recommendation, Severity};
use super::{duration, mib};
use crate::derived::reclaimable_arc;
use crate::storage::{LatestSample, Reader, StoreError};

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

/// Increase of the single counter `name` of `instance` over the window, and the seconds its
/// points span.
fn counter_increase(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    instance: &str,
    name: &str,
) -> Result<Option<(f64, i64)>, StoreError> {
    let Some(row) = latest(reader, name)?
        .into_iter()
        .find(|r| r.series.target == instance)
    else {
        return Ok(None);
    };
    let window = points(reader, row.series.id, now_ms, config.window)?;
    Ok(Some((increase(&window), span(&window))))
}

/// Rate per second of the single counter `name` of `instance` over the window.
fn counter_rate(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    instance: &str,
    name: &str,
) -> Result<Option<f64>, StoreError> {
    let counted = counter_increase(reader, now_ms, config, instance, name)?;
    Ok(counted.and_then(|(increase, secs)| (secs > 0).then(|| increase / secs as f64)))
}

/// Little memory available, swapping or memory stalls: name the groups to shrink.
pub fn memory_pressure(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let totals = latest(reader, "node_memory_MemTotal_bytes")?;
    let arc_sizes = latest(reader, "node_zfs_arc_size")?;
    let arc_minimums = latest(reader, "node_zfs_arc_c_min")?;
    let of = |rows: &[LatestSample], instance: &str| {
        rows.iter()
            .find(|r| r.series.target == instance)
            .and_then(|r| r.value)
    };
    for available in latest(reader, "node_memory_MemAvailable_bytes")? {
        let instance = available.series.target.as_str();
        let (Some(avail), Some(total)) =
            (available.value, of(&totals, instance).filter(|t| *t > 0.0))
        else {
            continue;
        };
        let arc = reclaimable_arc(of(&arc_sizes, instance), of(&arc_minimums, instance));
        let ratio = ((avail + arc) / total).min(1.0);
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
        if arc > 0.0 {
            evidence.insert("zfs_arc_reclaimable_bytes", arc);
        }
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

/// Kernel memory per tracked connection: the `nf_conntrack` slab's object size, 256 bytes on
/// x86-64 Linux 6.x (`grep nf_conntrack /proc/slabinfo`), plus its share of the hash table.
const CONNTRACK_ENTRY_BYTES: f64 = 320.0;

/// The connection-tracking table near its limit, or already dropping: raise the limit so the
/// window's peak fills half of it (double it when drops came from bursts between samples),
/// rounded up to a power of two, as the kernel's own default is.
pub fn conntrack_near_limit(
    reader: &Reader,
    now_ms: i64,
    config: &RecommendConfig,
    out: &mut Vec<Recommendation>,
) -> Result<(), StoreError> {
    let limits = latest(reader, "node_nf_conntrack_entries_limit")?;
    for entries in latest(reader, "node_nf_conntrack_entries")? {
        let instance = entries.series.target.as_str();
        let Some(limit) = limits
            .iter()
            .find(|r| r.series.target == instance)
            .and_then(|r| r.value)
            .filter(|l| *l > 0.0)
        else {
            continue;
        };
        let window = points(reader, entries.series.id, now_ms, config.window)?;
        let peak = window
            .iter()
            .map(|p| p.1)
            .chain(entries.value)
            .fold(0.0, f64::max);
        let mut dropped = 0.0;
        for counter in [
            "node_nf_conntrack_stat_drop",
            "node_nf_conntrack_stat_early_drop",
        ] {
            if let Some((increase, _)) =
                counter_increase(reader, now_ms, config, instance, counter)?
            {
                dropped += increase;
            }
        }
        let used = peak / limit;
        if used < config.conntrack_used_max && dropped <= 0.0 {
            continue;
        }
        let target = if 2.0 * peak > limit {
            2.0 * peak
        } else {
            2.0 * limit
        };
        let suggested = 2f64.powi(target.log2().ceil() as i32);
        let extra_memory = (suggested - limit) * CONNTRACK_ENTRY_BYTES;
        let mut evidence = BTreeMap::new();
        evidence.insert("peak_entries", peak);
        evidence.insert("limit_entries", limit);
        evidence.insert("peak_used_ratio", used);
        evidence.insert("dropped_in_window", dropped);
        evidence.insert("suggested_limit_entries", suggested);
        let mut reasons = vec![format!(
            "connection-tracking table {:.0} % full at its peak ({peak:.0} of {limit:.0} entries)",
            used * 100.0
        )];
        if dropped > 0.0 {
            reasons.push(format!(
                "{dropped:.0} packets or entries dropped in {}",
                duration(config.window.as_secs_f64())
            ));
        }
        out.push(Recommendation {
            id: format!("conntrack_near_limit:{instance}:host"),
            rule: "conntrack_near_limit",
            severity: if dropped > 0.0 || used >= 0.9 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            confidence: if dropped > 0.0 { 0.9 } else { 0.8 },
            instance: instance.to_owned(),
            subject: "host".to_owned(),
            summary: format!("{instance}: {}", reasons.join(", ")),
            action: format!(
                "raise net.netfilter.nf_conntrack_max from {limit:.0} to {suggested:.0} \
                 (sysctl -w net.netfilter.nf_conntrack_max={suggested:.0}, and persist it in \
                 /etc/sysctl.d), about {} more kernel memory when full; or shorten \
                 nf_conntrack_tcp_timeout_time_wait, or exempt traffic that needs no state \
                 with notrack rules",
                mib(extra_memory)
            ),
            evidence,
            change: None,
        });
    }
    Ok(())
}
