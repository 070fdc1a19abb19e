//! Live anomaly detection end to end: the real analyzer binary scrapes an HTTP exporter whose
//! load jumps, publishes `pulse_anomaly_*` (checked by promtool), stores the event with its
//! correlated series and lists it in the API; and the `detect` command on real files.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::{SyntheticExporter, analyzer, get_json, promtool_check, run, wait_for};

/// Scrapes at which the incident happens.
const INCIDENT: std::ops::Range<u64> = 160..175;

/// Exposition of scrape `n`: `node_load1` and `app_queue_depth` jump together during the
/// incident; `app_temperature` only wanders.
fn body(n: u64) -> String {
    let wobble = |salt: u64| ((n.wrapping_mul(2_654_435_761) ^ salt) % 1000) as f64 / 1000.0;
    let jump = if INCIDENT.contains(&n) { 1.0 } else { 0.0 };
    format!(
        "# TYPE node_load1 gauge\nnode_load1 {}\n\
         # TYPE app_queue_depth gauge\napp_queue_depth {}\n\
         # TYPE app_temperature gauge\napp_temperature {}\n",
        1.0 + 0.1 * wobble(1) + 8.0 * jump,
        20.0 + 2.0 * wobble(7) + 300.0 * jump,
        40.0 + wobble(13),
    )
}

#[test]
fn live_detection_publishes_scores_and_stores_correlated_events() {
    let exporter = SyntheticExporter::serve(body);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("analyzer.yml");
    // Short windows so the detector learns within seconds of 100 ms scrapes.
    std::fs::write(
        &config,
        format!(
            "targets: [{{url: 'http://{}/metrics', name: syn, interval: 100ms, timeout: 100ms}}]\n\
             anomaly:\n\
             \x20 series: [node_load1]\n\
             \x20 quiet: 1s\n\
             \x20 detector: {{warmup_points: 60, likelihood_min_history: 40, baseline_window: 120}}\n",
            exporter.addr
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);

    let event = wait_for(
        "the incident as a finished event",
        Duration::from_secs(90),
        || {
            let (status, body) = get_json(&analyzer.url("/api/v1/anomalies?since=-1h"));
            assert!(status == 200 || status == 0, "{status} {body}");
            body["events"]
                .as_array()?
                .iter()
                .find(|e| e["end_ms"].is_i64())
                .cloned()
        },
    );
    assert!(
        exporter.scrapes.load(Ordering::Relaxed) > INCIDENT.start,
        "an event before the incident is a false alarm: {event}"
    );
    assert_eq!(event["target"], "syn");
    assert_eq!(event["metric"], "node_load1");
    assert!(event["peak_score"].as_f64().unwrap() >= 0.3, "{event}");
    let top = &event["correlations"][0];
    assert_eq!(top["metric"], "app_queue_depth", "{event}");
    assert!(top["r"].as_f64().unwrap() > 0.9, "{event}");
    assert!(
        top["hint"]
            .as_str()
            .unwrap()
            .starts_with("node_load1 on syn correlates with app_queue_depth on syn, r="),
        "{event}"
    );

    // The event reached the alert engine as an anomaly alert naming the series and the hint.
    let (status, body) = get_json(&analyzer.url("/api/v1/alerts"));
    assert_eq!(status, 200, "{body}");
    let alert = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "anomaly")
        .unwrap_or_else(|| panic!("no anomaly alert: {body}"));
    assert_eq!(alert["name"], "AnomalyDetected", "{alert}");
    assert_eq!(alert["labels"]["series"], "node_load1", "{alert}");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("app_queue_depth"),
        "{alert}"
    );

    let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    for needle in [
        "# TYPE pulse_anomaly_score gauge",
        "pulse_anomaly_score{target=\"syn\",series=\"node_load1\"} ",
        "pulse_anomaly_active{target=\"syn\",series=\"node_load1\"} ",
        "pulse_anomaly_series 1",
        "pulse_anomaly_events_total ",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    let (clean, report) = promtool_check(&metrics);
    assert!(clean, "promtool: {report}");

    let (status, body) = get_json(&analyzer.url("/api/v1/anomalies?since=yesterday"));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("since: "),
        "{body}"
    );
}

#[test]
fn detect_scores_files_and_trees_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/cat");
    std::fs::create_dir_all(&data).unwrap();
    let mut csv = String::from("timestamp,value\n");
    for i in 0..600 {
        let spike = if i == 550 { 100.0 } else { 0.0 };
        csv.push_str(&format!(
            "2014-04-01 {:02}:{:02}:00,{}\n",
            i / 60 % 24,
            i % 60,
            (i % 13) as f64 + spike
        ));
    }
    std::fs::write(data.join("a.csv"), &csv).unwrap();
    std::fs::write(data.join("b.csv"), &csv).unwrap();
    let empty = dir.path().join("empty.yml");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();

    let out = dir.path().join("a-scores.csv");
    let (code, _, stderr) = run(&[
        "--config.file",
        empty,
        "detect",
        "--input",
        data.join("a.csv").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("scored 600 rows"), "{stderr}");
    let scores: Vec<f64> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 600);
    assert!(scores.iter().all(|s| (0.0..1.0).contains(s)));
    let best = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    // Reported once confirmed: the detector's default `confirmation_samples` (3) late.
    assert_eq!(best, 553, "the spike is the most anomalous point");

    let tree = dir.path().join("scores");
    let (code, _, stderr) = run(&[
        "--config.file",
        empty,
        "detect",
        "--input-dir",
        dir.path().join("data").to_str().unwrap(),
        "--output-dir",
        tree.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(tree.join("cat/b.csv")).unwrap(),
        std::fs::read_to_string(&out).unwrap(),
        "a tree is scored file by file like single files"
    );

    std::fs::write(
        data.join("bad.csv"),
        "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,oops\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&[
        "--config.file",
        empty,
        "detect",
        "--input",
        data.join("bad.csv").to_str().unwrap(),
        "--output",
        dir.path().join("bad-scores.csv").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad.csv:3: cannot parse value \"oops\""),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["--config.file", empty, "detect", "--input", "x.csv"]);
    assert_eq!(code, 2, "clap usage error: {stderr}");
    assert!(stderr.contains("--output"), "{stderr}");

    // Detector settings come from the config file and are checked like the rest of it.
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "anomaly:\n  detector:\n    baseline_windw: 5\n").unwrap();
    let (code, _, stderr) = run(&[
        "--config.file",
        bad.to_str().unwrap(),
        "detect",
        "--input",
        "x.csv",
        "--output",
        "y.csv",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad.yml:3:5: anomaly.detector.baseline_windw: unknown field"),
        "{stderr}"
    );
}
