//! Black-box tests of `check`, `suggest-rules` and `report` against a history filled by a
//! real pulse-exporter run, with the numbers checked against SQL over the same database.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::{Process, analyzer, exporter_bin, run, wait_for};

/// Runs the real exporter and the analyzer scraping it until the derived CPU series has a
/// few points, then stops the analyzer so the database holds still for the comparisons.
fn real_history(dir: &Path) -> std::path::PathBuf {
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let db = dir.join("h.db");
    let config = dir.join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - url: {}\n    name: local\n    interval: 300ms\n    timeout: 300ms\n",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    let mut analyzer = analyzer(&config, &db, &[]);
    wait_for("derived CPU samples", Duration::from_secs(30), || {
        let conn = rusqlite::Connection::open(&db).ok()?;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id
                 WHERE s.name = 'pulse:cpu_utilisation:ratio'",
                [],
                |r| r.get(0),
            )
            .ok()?;
        (n >= 3).then_some(())
    });
    analyzer.terminate();
    db
}

fn sql_f64(db: &Path, sql: &str) -> f64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn check_on_a_real_exporter_history_matches_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let db_arg = db.to_str().unwrap();
    let (code, stdout, stderr) = run(&["check", "--format", "json", "--storage.path", db_arg]);
    // The build machine may be busy, so the grade is not fixed; the numbers are.
    assert!((0..=2).contains(&code), "{code} {stdout} {stderr}");
    let health: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(health["exit_code"], code);
    let finding = |check: &str| {
        health["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check} finding in {stdout}"))
            .clone()
    };
    let scrape = finding("scrape");
    assert_eq!(scrape["level"], "ok");
    assert_eq!(scrape["subject"], "local");
    let cpu = finding("cpu")["value"].as_f64().unwrap();
    let sql_cpu = sql_f64(
        &db,
        "SELECT avg(x.value) FROM samples x JOIN series s ON s.id = x.series_id
         WHERE s.name = 'pulse:cpu_utilisation:ratio'",
    );
    assert!((cpu - sql_cpu).abs() < 1e-9, "{cpu} vs {sql_cpu}");
    let memory = finding("memory")["value"].as_f64().unwrap();
    let sql_memory = sql_f64(
        &db,
        "SELECT x.value FROM samples x JOIN series s ON s.id = x.series_id
         WHERE s.name = 'pulse:memory_available:ratio' ORDER BY x.ts DESC LIMIT 1",
    );
    // serde_json parses floats to within one ulp, not exactly.
    assert!(
        (memory - sql_memory).abs() < 1e-12,
        "{memory} vs {sql_memory}"
    );

    let (code, text, _) = run(&["check", "--storage.path", db_arg]);
    assert!(text.starts_with("PULSE "), "{text}");
    assert!(text.contains("Findings over the last 300s"), "{text}");
    assert!((0..=2).contains(&code));

    // A window that ends before the data starts is no data: UNKNOWN.
    std::thread::sleep(Duration::from_millis(2100));
    let (code, text, _) = run(&["check", "--window", "1s", "--storage.path", db_arg]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.starts_with("PULSE UNKNOWN - grade UNKNOWN: no samples in the last 1s"),
        "{text}"
    );

    let missing = dir.path().join("missing.db");
    let (code, text, _) = run(&["check", "--storage.path", missing.to_str().unwrap()]);
    assert_eq!(code, 3, "{text}");
}
