//! Redis and memcached: evictions with a low hit ratio, memory at the limit.

use std::collections::BTreeMap;

use super::super::window::{increase, label, latest, points};
use super::super::{Change, RecommendConfig, Recommendation, Severity};
use super::{MIB, duration, mib, same};
use crate::storage::{LatestSample, Reader, StoreError};

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
