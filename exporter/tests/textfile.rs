//! The textfile collector on the fixture directories under `tests/fixtures/textfile/`,
//! through the real binary. `UPDATE_GOLDEN=1` rewrites `good.out`.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::path::{Path, PathBuf};

use support::{Exporter, promtool_check};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/textfile")
        .join(name)
}

fn scrape(directory: &Path) -> String {
    let exporter = Exporter::start(&[
        "--web.disable-exporter-metrics",
        "--collector.disable-defaults",
        "--collector.textfile",
        "--collector.textfile.directory",
        directory.to_str().unwrap(),
    ]);
    reqwest::blocking::get(exporter.url("/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

/// The scrape without what depends on the checkout (file mtimes) or the run (pulse_*).
fn stable_part(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("node_textfile_mtime_seconds{") && !l.contains("pulse_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn good_directory_matches_golden_and_merges_families_across_files() {
    let text = scrape(&fixture("good"));
    promtool_check(&text);
    assert!(text.contains("node_textfile_scrape_error 0\n"), "{text}");
    assert!(text.contains("node_textfile_mtime_seconds{file=\"app.prom\"} "));
    assert!(text.contains("node_textfile_mtime_seconds{file=\"backup.prom\"} "));
    assert!(!text.contains("not_exported") && !text.contains("README"));
    assert_eq!(text.matches("# TYPE app_jobs_total counter\n").count(), 1);

    let golden = fixture("good.out");
    let actual = stable_part(&text);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    assert_eq!(actual, std::fs::read_to_string(&golden).unwrap());
}

#[test]
fn malformed_files_are_reported_and_skipped() {
    let text = scrape(&fixture("mixed"));
    promtool_check(&text);
    assert!(text.contains("node_textfile_scrape_error 1\n"), "{text}");
    assert!(text.contains("pulse_collector_success{collector=\"textfile\"} 1\n"));
    // The good file is served whole.
    assert!(text.contains("app_queue_depth{queue=\"emails\"} 12\n"));
    assert!(text.contains("app_job_duration_seconds_bucket{queue=\"emails\",le=\"+Inf\"} 1030\n"));
    assert!(text.contains("node_textfile_mtime_seconds{file=\"app.prom\"} "));
    // Syntax error, client timestamp, type conflict: nothing of those files, no mtime.
    for absent in [
        "broken_metric",
        "stamped_metric",
        "conflict_only_metric",
        "# TYPE app_queue_depth counter",
        "file=\"bad_syntax.prom\"",
        "file=\"timestamps.prom\"",
        "file=\"zz_conflict.prom\"",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
}

#[test]
fn missing_directory_is_a_scrape_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = scrape(&dir.path().join("absent"));
    assert!(text.contains("node_textfile_scrape_error 1\n"), "{text}");
}
