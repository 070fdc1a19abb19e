//! The rules over synthetic history written through the real store. (The Redis eviction and
//! apply path runs against a real redis-server in `analyzer/tests/recommend.rs`.)

use std::time::Duration;

use super::*;
use crate::storage::{Point, Policy, Store, TargetStatus};

const MIB: f64 = 1024.0 * 1024.0;

type Row = (&'static str, Vec<(String, String)>, f64);

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Writes `rows(minute)` once a minute for `minutes` minutes; returns the reader and "now".
fn store_with(minutes: i64, rows: impl Fn(i64) -> Vec<Row>) -> (tempfile::TempDir, Reader, i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let policy = Policy {
        raw: Duration::from_secs(86_400),
        rollups: Duration::from_secs(30 * 86_400),
        rollup_step: Duration::from_secs(300),
        grace: Duration::ZERO,
    };
    let mut store = Store::open(&path, policy).expect("open");
    let start = 1_700_000_000_000;
    for m in 0..=minutes {
        let ts = start + m * 60_000;
        let rows = rows(m);
        let status = TargetStatus::scraped("host", ts, rows.len() as u64);
        store
            .ingest(
                "host",
                rows.iter().map(|(name, labels, value)| Point {
                    name,
                    labels,
                    value: *value,
                    ts_ms: ts,
                }),
                &status,
            )
            .expect("ingest");
    }
    let reader = Reader::open(&path).expect("reader");
    (dir, reader, start + minutes * 60_000)
}

fn wobble(m: i64) -> f64 {
    ((m * 7919) % 13) as f64 / 13.0 - 0.5
}

#[test]
fn steadily_growing_rss_is_a_leak_suspect_and_a_flat_one_is_not() {
    let (_dir, reader, now) = store_with(7 * 60, |m| {
        vec![
            (
                "pulse:process_rss:bytes",
                labels(&[("groupname", "leaky")]),
                100.0 * MIB + m as f64 / 60.0 * 10.0 * MIB + wobble(m) * MIB,
            ),
            (
                "pulse:process_rss:bytes",
                labels(&[("groupname", "steady")]),
                200.0 * MIB + wobble(m) * 5.0 * MIB,
            ),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let leak = &recs[0];
    assert_eq!(leak.rule, "rss_leak");
    assert_eq!(leak.subject, "leaky");
    assert_eq!(leak.id, "rss_leak:host:leaky");
    let per_hour = leak.evidence["growth_bytes_per_hour"] / MIB;
    assert!((per_hour - 10.0).abs() < 0.5, "{per_hour} MiB/h");
    assert!(leak.confidence > 0.9, "{}", leak.confidence);
    assert!(leak.action.contains("leaky"), "{}", leak.action);
}

#[test]
fn memory_pressure_names_the_largest_groups() {
    let (_dir, reader, now) = store_with(20, |m| {
        vec![
            ("node_memory_MemAvailable_bytes", vec![], 40.0 * MIB),
            ("node_memory_MemTotal_bytes", vec![], 1024.0 * MIB),
            ("node_vmstat_pswpout", vec![], 1000.0 + 50.0 * m as f64),
            (
                "pulse:process_rss:bytes",
                labels(&[("groupname", "java")]),
                700.0 * MIB,
            ),
            (
                "pulse:process_rss:bytes",
                labels(&[("groupname", "nginx")]),
                30.0 * MIB,
            ),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    let pressure = recs
        .iter()
        .find(|r| r.rule == "memory_pressure")
        .expect("memory pressure");
    // 3.9 % available is under half the 10 % threshold.
    assert_eq!(pressure.severity, Severity::Critical);
    assert!((pressure.evidence["available_ratio"] - 40.0 / 1024.0).abs() < 1e-9);
    assert!((pressure.evidence["swap_out_pages_per_second"] - 50.0 / 60.0).abs() < 0.01);
    let java = pressure.action.find("java").expect("java named");
    let nginx = pressure.action.find("nginx").expect("nginx named");
    assert!(java < nginx, "{}", pressure.action);
}

#[test]
fn a_zfs_arc_filling_memory_is_not_memory_pressure() {
    // 4 % MemAvailable, but 600 MiB of ARC above its minimum that ZFS gives back on demand.
    let (_dir, reader, now) = store_with(20, |_| {
        vec![
            ("node_memory_MemAvailable_bytes", vec![], 40.0 * MIB),
            ("node_memory_MemTotal_bytes", vec![], 1024.0 * MIB),
            ("node_zfs_arc_size", vec![], 632.0 * MIB),
            ("node_zfs_arc_c_min", vec![], 32.0 * MIB),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    assert!(
        recs.iter().all(|r| r.rule != "memory_pressure"),
        "{recs:#?}"
    );
}

#[test]
fn sustained_load_per_core_is_cpu_saturation_but_a_short_spike_is_not() {
    let cpus = |m: i64| -> Vec<Row> {
        (0..4)
            .map(|c| {
                let cpu = c.to_string();
                (
                    "node_cpu_seconds_total",
                    labels(&[("cpu", cpu.as_str()), ("mode", "idle")]),
                    m as f64,
                )
            })
            .collect()
    };
    let (_dir, reader, now) = store_with(20, |m| {
        let mut rows = cpus(m);
        rows.push(("node_load1", vec![], 6.0 + wobble(m)));
        rows.push((
            "pulse:process_cpu:rate",
            labels(&[("groupname", "ffmpeg")]),
            3.5,
        ));
        rows
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    let cpu = recs
        .iter()
        .find(|r| r.rule == "cpu_saturation")
        .expect("saturated");
    assert_eq!(cpu.evidence["cores"], 4.0);
    assert!(cpu.evidence["min_load_per_core"] > 1.3, "{cpu:?}");
    assert!(cpu.action.contains("ffmpeg (3.5 cores)"), "{}", cpu.action);

    // Load 6 only in the last 3 minutes: not sustained.
    let (_dir, reader, now) = store_with(20, |m| {
        let mut rows = cpus(m);
        rows.push(("node_load1", vec![], if m > 17 { 6.0 } else { 0.5 }));
        rows
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    assert!(recs.iter().all(|r| r.rule != "cpu_saturation"), "{recs:#?}");
}

#[test]
fn memcached_evictions_with_misses_recommend_more_memory() {
    let (_dir, reader, now) = store_with(20, |m| {
        let target = [("target", "127.0.0.1:11211")];
        let m = m as f64;
        vec![
            ("memcached_items_evicted_total", labels(&target), 100.0 * m),
            (
                "memcached_commands_total",
                labels(&[
                    ("command", "get"),
                    ("status", "hit"),
                    ("target", "127.0.0.1:11211"),
                ]),
                600.0 * m,
            ),
            (
                "memcached_commands_total",
                labels(&[
                    ("command", "get"),
                    ("status", "miss"),
                    ("target", "127.0.0.1:11211"),
                ]),
                400.0 * m,
            ),
            ("memcached_current_bytes", labels(&target), 63.0 * MIB),
            ("memcached_limit_bytes", labels(&target), 64.0 * MIB),
            ("memcached_current_items", labels(&target), 1000.0),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    let evict = recs
        .iter()
        .find(|r| r.rule == "cache_evictions")
        .expect("evictions");
    assert_eq!(evict.subject, "memcached 127.0.0.1:11211");
    assert!((evict.evidence["hit_ratio"] - 0.6).abs() < 1e-9);
    assert_eq!(evict.evidence["evicted_keys"], 1500.0);
    // 1500 evicted per 1000 kept: double, the most one step suggests.
    assert_eq!(evict.evidence["suggested_limit_bytes"], 128.0 * MIB);
    assert_eq!(
        evict.change, None,
        "memcached cannot be resized at run time"
    );
    assert!(recs.iter().any(|r| r.rule == "cache_memory_near_limit"));
}

#[test]
fn forecast_exhaustion_severity_follows_the_time_left() {
    let forecast = |resource: &'static str, hours: Option<i64>, current: f64| Forecast {
        resource,
        instance: "host".into(),
        series: "s".into(),
        labels: [("mountpoint".to_owned(), "/data".to_owned())].into(),
        current,
        limit: 100.0,
        trend_per_second: 1.0,
        at: 0,
        regime_start: 0,
        points: 100,
        expected: hours.map(|h| h * 3600),
        earliest: hours.map(|h| h * 3000),
        latest: hours.map(|h| h * 4200),
    };
    let forecasts = [
        forecast("filesystem_bytes", Some(12), 10.0),
        forecast("filesystem_inodes", Some(72), 10.0),
        forecast("filesystem_bytes", Some(24 * 30), 10.0),
        forecast("process_file_descriptors", None, 95.0),
        forecast("redis_memory", Some(12), 50.0),
        forecast("redis_memory", Some(1), 95.0),
    ];
    let mut out = Vec::new();
    super::rules::exhaustion(&forecasts, &RecommendConfig::default(), &mut out);
    let severities: Vec<_> = out.iter().map(|r| (r.rule, r.severity)).collect();
    assert_eq!(
        severities,
        [
            ("filesystem_exhaustion", Severity::Critical),
            ("filesystem_exhaustion", Severity::Warning),
            ("fd_exhaustion", Severity::Warning),
            ("cache_memory_exhaustion", Severity::Info),
        ]
    );
    assert_eq!(out[0].evidence["seconds_left"], 12.0 * 3600.0);
    assert!((out[0].confidence - (1.0 - 1200.0 / 7200.0)).abs() < 1e-9);
    assert!(out[0].summary.contains("/data"), "{}", out[0].summary);
}

#[test]
fn config_bounds_are_validated() {
    let mut config = RecommendConfig::default();
    config.apply.redis.push(RedisBounds {
        address: "a:1".into(),
        password_file: None,
        min_maxmemory_bytes: 10,
        max_maxmemory_bytes: 5,
    });
    let invalid = config.validate().expect_err("min above max");
    assert_eq!(
        invalid.field,
        "analysis.recommendations.apply.redis[0].max_maxmemory_bytes"
    );
}

#[test]
fn probe_latency_step_is_a_regression_but_spikes_are_not() {
    let (_dir, reader, now) = store_with(5 * 60, |m| {
        let jitter = wobble(m) * 0.004;
        // A spike every 37 minutes on the steady probe.
        let spike = if m % 37 == 0 { 0.5 } else { 0.0 };
        vec![
            (
                "pulse:probe_latency:seconds",
                labels(&[("target", "checkout")]),
                if m < 180 { 0.020 } else { 0.080 } + jitter,
            ),
            (
                "pulse:probe_latency:seconds",
                labels(&[("target", "home")]),
                0.030 + jitter + spike,
            ),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(r.rule, "probe_latency_regression");
    assert_eq!(r.subject, "checkout");
    assert_eq!(
        r.severity,
        Severity::Critical,
        "4x is over twice the 1.5x ratio"
    );
    assert!((r.evidence["ratio"] - 4.0).abs() < 0.5, "{r:?}");
    let change = r.evidence["change_timestamp"] as i64 * 1000;
    let truth = now - 120 * 60_000;
    assert!((change - truth).abs() <= 5 * 60_000, "{change} vs {truth}");
}

#[test]
fn a_conntrack_table_near_its_limit_gets_a_larger_one() {
    let (_dir, reader, now) = store_with(20, |m| {
        vec![
            // Peaks at 100,000 of 131,072 (76 %), no drops yet.
            (
                "node_nf_conntrack_entries",
                vec![],
                80_000.0 + 1_000.0 * m as f64,
            ),
            ("node_nf_conntrack_entries_limit", vec![], 131_072.0),
            ("node_nf_conntrack_stat_early_drop", vec![], 0.0),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    let rec = recs
        .iter()
        .find(|r| r.rule == "conntrack_near_limit")
        .expect("conntrack recommendation");
    assert_eq!(rec.severity, Severity::Warning);
    assert_eq!(rec.evidence["peak_entries"], 100_000.0);
    // Twice the peak, 200,000, rounded up to a power of two.
    assert_eq!(rec.evidence["suggested_limit_entries"], 262_144.0);
    assert!(
        rec.action.contains("nf_conntrack_max=262144"),
        "{}",
        rec.action
    );
    // (262,144 - 131,072) entries at 320 bytes.
    assert!(rec.action.contains("40 MiB"), "{}", rec.action);
}

#[test]
fn conntrack_drops_are_critical_even_below_the_threshold_and_a_quiet_table_is_fine() {
    let (_dir, reader, now) = store_with(20, |m| {
        vec![
            ("node_nf_conntrack_entries", labels(&[]), 30_000.0),
            ("node_nf_conntrack_entries_limit", vec![], 65_536.0),
            // Bursts between samples: drops while sampled use stays under half.
            (
                "node_nf_conntrack_stat_drop",
                vec![],
                if m > 10 { 250.0 } else { 0.0 },
            ),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    let rec = recs
        .iter()
        .find(|r| r.rule == "conntrack_near_limit")
        .expect("conntrack recommendation");
    assert_eq!(rec.severity, Severity::Critical);
    assert_eq!(rec.evidence["dropped_in_window"], 250.0);
    assert_eq!(rec.evidence["suggested_limit_entries"], 131_072.0);

    let (_dir, reader, now) = store_with(20, |_| {
        vec![
            ("node_nf_conntrack_entries", vec![], 30_000.0),
            ("node_nf_conntrack_entries_limit", vec![], 65_536.0),
            ("node_nf_conntrack_stat_drop", vec![], 7.0),
        ]
    });
    let recs = evaluate(&reader, now, &[], &RecommendConfig::default()).expect("evaluate");
    assert!(
        recs.iter().all(|r| r.rule != "conntrack_near_limit"),
        "{recs:#?}"
    );
}
