//! Crash safety: a real analyzer ingesting thousands of series from a synthetic exporter is
//! killed with SIGKILL at random moments, restarted each time, and the database must stay
//! intact with counts that only grow and bookkeeping that matches the rows.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use support::{SyntheticExporter, analyzer, wait_for};

const SERIES: usize = 3_000;
const RUNS: usize = 5;

struct Snapshot {
    samples: i64,
    ingested: i64,
    series: i64,
    rollup_done: Option<i64>,
}

fn inspect(db: &std::path::Path) -> Snapshot {
    let conn = Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let series = one("SELECT count(*) FROM series");
    assert_eq!(
        series,
        one("SELECT count(*) FROM (SELECT DISTINCT target, name, labels FROM series)"),
        "a series was created twice"
    );
    Snapshot {
        samples: one("SELECT count(*) FROM samples"),
        ingested: one(
            "SELECT coalesce((SELECT value FROM meta WHERE key = 'samples_ingested'), 0)",
        ),
        series,
        rollup_done: conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'rollup_done_ms'",
                [],
                |r| r.get(0),
            )
            .ok(),
    }
}

/// A cheap pseudo-random delay (no rand dependency): 300..1800 ms.
fn random_delay(salt: u64) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mixed =
        (nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    Duration::from_millis(300 + mixed % 1500)
}

#[test]
fn kill_9_during_heavy_ingest_never_corrupts_history() {
    let exporter = SyntheticExporter::start(SERIES);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - url: {}\n    interval: 200ms\n    timeout: 200ms\n\
             retention: {{raw: 48h, rollups: 90d, rollup_step: 1s}}\n",
            exporter.url()
        ),
    )
    .unwrap();

    let mut previous: Option<Snapshot> = None;
    let mut first_rollup = None;
    for run in 0..RUNS {
        let mut process = analyzer(&config, &db, &[]);
        // Kill only once this run has written something, so each run adds data.
        let before = previous.as_ref().map_or(0, |p| p.samples);
        wait_for("ingest after restart", Duration::from_secs(60), || {
            let conn = Connection::open(&db).ok()?;
            let n: i64 = conn
                .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
                .ok()?;
            (n > before).then_some(())
        });
        std::thread::sleep(random_delay(run as u64));
        process.kill_9();

        let now = inspect(&db);
        assert_eq!(
            now.ingested, now.samples,
            "run {run}: bookkeeping counter and rows disagree (a scrape was half-written)"
        );
        assert!(
            now.series >= SERIES as i64,
            "run {run}: {} series",
            now.series
        );
        if let Some(previous) = &previous {
            assert!(
                now.samples > previous.samples,
                "run {run}: samples did not grow"
            );
            assert!(now.series >= previous.series);
            assert!(
                now.rollup_done >= previous.rollup_done,
                "rollup bookkeeping went back"
            );
        }
        if first_rollup.is_none() {
            first_rollup = now.rollup_done;
        }
        previous = Some(now);
    }
    let last = previous.unwrap();
    assert!(
        last.rollup_done > first_rollup,
        "rollups did not resume across restarts: {first_rollup:?} -> {:?}",
        last.rollup_done
    );
    let conn = Connection::open(&db).unwrap();
    let rollups: i64 = conn
        .query_row("SELECT count(*) FROM rollups", [], |r| r.get(0))
        .unwrap();
    assert!(rollups > 0);
    // The derived series were computed from the synthetic CPU and memory figures.
    let ratio: f64 = conn
        .query_row(
            "SELECT value FROM samples JOIN series ON id = series_id
             WHERE name = 'pulse:memory_available:ratio' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ratio, 0.25);
    let cpu: f64 = conn
        .query_row(
            "SELECT value FROM samples JOIN series ON id = series_id
             WHERE name = 'pulse:cpu_utilisation:ratio' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!((0.0..=1.0).contains(&cpu), "{cpu}");
}
