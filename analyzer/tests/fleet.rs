//! Fleet mode against a real Prometheus (Debian package `prometheus`) that scrapes a real
//! pulse-exporter: the analyzer pulls `query_range` into its history.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{ChildGuard, Process, analyzer, exporter_bin, free_port, get_json, wait_for};

#[test]
fn fleet_mode_reads_history_from_prometheus() {
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: pulse\n    static_configs: [{{targets: ['{}']}}]\n",
            exporter.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus = ChildGuard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus on PATH (Debian package prometheus)"),
    );
    let prom = format!("http://127.0.0.1:{port}");
    wait_for(
        "Prometheus to scrape the exporter",
        Duration::from_secs(60),
        || {
            let (_, body) = get_json(&format!("{prom}/api/v1/query?query=node_load1"));
            (!body["data"]["result"].as_array()?.is_empty()).then_some(())
        },
    );

    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "source: prometheus\n\
             prometheus:\n  url: {prom}\n  interval: 1s\n  step: 1s\n  lookback: 1m\n\
             \x20 queries:\n\
             \x20   - {{name: pulse:load1, expr: node_load1}}\n\
             \x20   - {{name: up, expr: up}}\n\
             \x20   - {{name: broken, expr: 'rate(('}}\n"
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let listing = wait_for("fleet series", Duration::from_secs(30), || {
        let (_, body) = get_json(&analyzer.url("/api/v1/series?metric=pulse:load1"));
        (!body["series"].as_array()?.is_empty()).then_some(body)
    });
    let series = &listing["series"][0];
    assert_eq!(series["labels"]["job"], "pulse");
    assert_eq!(series["labels"]["instance"], exporter.addr.as_str());
    assert_eq!(series["target"], "prometheus:127.0.0.1");
    let id = series["id"].as_i64().unwrap();
    let history = wait_for("several points", Duration::from_secs(30), || {
        let (_, body) = get_json(&analyzer.url(&format!("/api/v1/series/{id}/history?start=-2m")));
        (body["points"].as_array()?.len() >= 3).then_some(body)
    });
    let points = history["points"].as_array().unwrap();
    // A 1 s grid, no duplicates across pulls.
    let ts: Vec<i64> = points.iter().map(|p| p["ts"].as_i64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] - w[0] >= 1000), "{ts:?}");
    assert!(ts.iter().all(|t| t % 1000 == 0), "{ts:?}");
    // The broken query is reported, the others still flow.
    let (_, health) = get_json(&analyzer.url("/api/v1/health"));
    let error = health["targets"][0]["error"].as_str().unwrap();
    assert!(error.contains("query broken"), "{error}");
    drop(prometheus);
}
