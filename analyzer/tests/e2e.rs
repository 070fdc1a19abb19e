//! Black-box tests of the real binaries: the analyzer scraping the real pulse-exporter,
//! its /metrics checked by promtool, the JSON API, the CLI commands and the launcher.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use pulse_testkit::pki::TestCa;

use support::{
    Process, SyntheticExporter, analyzer, exporter_bin, get_json, promtool_check, run, wait_for,
};

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("analyzer.yml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn scrapes_real_exporter_and_serves_metrics_and_api() {
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let config = write_config(
        dir.path(),
        &format!(
            "targets:\n  - url: {}\n    name: local\n    interval: 300ms\n    timeout: 300ms\n",
            exporter.url("/metrics")
        ),
    );
    let analyzer = analyzer(&config, &db, &[]);

    let health = wait_for(
        "two scrapes of the exporter",
        Duration::from_secs(30),
        || {
            let (_, health) = get_json(&analyzer.url("/api/v1/health"));
            let up = health["targets"][0]["success"].as_bool()?;
            (up && health["samples_ingested"].as_u64()? > 10).then_some(health)
        },
    );
    assert_eq!(health["status"], "ok");
    assert_eq!(health["targets"][0]["target"], "local");

    // Own metrics: the names the issue asks for, and promtool-clean.
    let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    for needle in [
        "pulse_analyzer_scrape_success{target=\"local\"} 1",
        "pulse_analyzer_scrape_duration_seconds{target=\"local\"}",
        "pulse_analyzer_samples_ingested_total ",
        "pulse_analyzer_parse_errors_total 0",
        "pulse_analyzer_series ",
        "pulse_analyzer_db_size_bytes ",
        "pulse_build_info{version=\"0.1.0\",component=\"analyzer\"} 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    let (clean, report) = promtool_check(&metrics);
    assert!(clean, "promtool: {report}");

    // Series list, history, snapshot.
    let (status, listing) = get_json(&analyzer.url("/api/v1/series?metric=node_load1"));
    assert_eq!(status, 200);
    let series = listing["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{listing}");
    assert_eq!(series[0]["target"], "local");
    let id = series[0]["id"].as_i64().unwrap();
    let (status, history) =
        get_json(&analyzer.url(&format!("/api/v1/series/{id}/history?start=-5m&end=now")));
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["resolution"], "raw");
    assert!(!history["points"].as_array().unwrap().is_empty());
    let (status, stepped) = get_json(&analyzer.url(&format!(
        "/api/v1/series/{id}/history?start=-5m&step=1m&limit=2"
    )));
    assert_eq!(status, 200, "{stepped}");
    assert!(stepped["points"].as_array().unwrap().len() <= 2);
    let (status, snapshot) = get_json(&analyzer.url("/api/v1/snapshot?metric=up,node_load1"));
    assert_eq!(status, 200);
    assert_eq!(
        snapshot["samples"].as_array().unwrap().len(),
        2,
        "{snapshot}"
    );

    // Bad parameters: 400 naming the parameter; unknown series: 404.
    for (query, needle) in [
        (format!("/api/v1/series/{id}/history?step=abc"), "step: "),
        (
            format!("/api/v1/series/{id}/history?start=yesterday"),
            "start: ",
        ),
        (
            format!("/api/v1/series/{id}/history?resolution=fine"),
            "resolution: ",
        ),
        (
            format!("/api/v1/series/{id}/history?start=0&step=1s"),
            "more than 11000 points",
        ),
        (
            format!("/api/v1/series/{id}/history?start=now&end=-1h"),
            "start: must not be after end",
        ),
        ("/api/v1/series?limit=0".to_owned(), "limit: "),
        (
            "/api/v1/series?colour=red".to_owned(),
            "unknown field `colour`",
        ),
        ("/api/v1/series/x/history".to_owned(), "series id: "),
    ] {
        let (status, body) = get_json(&analyzer.url(&query));
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let (status, _) = get_json(&analyzer.url("/api/v1/series/999999/history"));
    assert_eq!(status, 404);
    // The write API is off without a token.
    let response = reqwest::blocking::Client::new()
        .post(analyzer.url("/api/v1/admin/maintenance"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // status and export read the same database while the analyzer runs.
    let db_arg = db.to_str().unwrap();
    let (code, out, err) = run(&["status", "--storage.path", db_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("target local: up"), "{out}");
    let (code, csv, err) = run(&[
        "export",
        "--storage.path",
        db_arg,
        "--format",
        "csv",
        "--since",
        "1h",
        "--metric",
        "up",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("target,name,labels,timestamp_ms,value"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.starts_with("local,up,{},") && r.ends_with(",1")),
        "{rows:?}"
    );
    let (code, json, err) = run(&[
        "export",
        "--storage.path",
        db_arg,
        "--format",
        "json",
        "--metric",
        "up",
        "--metric",
        "node_load1",
    ]);
    assert_eq!(code, 0, "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 2, "{json}");
    assert!(parsed[0]["samples"][0][1].is_number());
}

#[test]
fn parse_errors_are_counted_and_derived_series_served() {
    let exporter = SyntheticExporter::start(100);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "targets: [{{url: '{}', name: syn, interval: 200ms, timeout: 200ms}}]\n\
             derived: [memory_available, cpu_utilisation]\n\
             web: {{write_token_file: '{}'}}\n",
            exporter.url(),
            token.display()
        ),
    );
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let snapshot = wait_for("derived CPU series", Duration::from_secs(30), || {
        let (_, body) = get_json(&analyzer.url(
            "/api/v1/snapshot?metric=pulse:memory_available:ratio,pulse:cpu_utilisation:ratio",
        ));
        (body["samples"].as_array()?.len() == 2).then_some(body)
    });
    assert_eq!(
        snapshot["samples"][1]["name"],
        "pulse:memory_available:ratio"
    );
    assert_eq!(snapshot["samples"][1]["value"], 0.25);
    let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let errors: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pulse_analyzer_parse_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        errors >= 1.0,
        "the malformed line was not counted:\n{metrics}"
    );

    // The write API needs the bearer token from web.write_token_file.
    let client = reqwest::blocking::Client::new();
    let post = |auth: Option<&str>| {
        let mut request = client.post(analyzer.url("/api/v1/admin/maintenance"));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(post(None), 403);
    assert_eq!(post(Some("Bearer wrong")), 403);
    assert_eq!(post(Some("Bearer s3cret-token")), 200);
}

#[test]
fn config_check_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(
        dir.path(),
        "targets: [{url: 'http://127.0.0.1:9100/metrics'}]\n",
    );
    let (code, out, _) = run(&["--config.check", "--config.file", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("configuration is valid"));
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "retention:\n  raw: 2h\n  rollup: 1d\n").unwrap();
    let (code, _, err) = run(&["--config.check", "--config.file", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yml:3:3: retention.rollup: unknown field `rollup`"),
        "{err}"
    );
}

#[test]
fn launcher_starts_supervises_and_stops_the_exporter() {
    // A free port for the spawned exporter.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "targets: [{{url: 'http://127.0.0.1:{port}/metrics', interval: 300ms, timeout: 300ms}}]\n"
        ),
    );
    let exporter = exporter_bin();
    let mut analyzer = analyzer(
        &config,
        &dir.path().join("h.db"),
        &[
            "run",
            "--spawn-exporter",
            "--exporter.path",
            exporter.to_str().unwrap(),
        ],
    );
    wait_for(
        "the spawned exporter to be scraped",
        Duration::from_secs(30),
        || {
            let (_, health) = get_json(&analyzer.url("/api/v1/health"));
            health["targets"][0]["success"].as_bool()?.then_some(())
        },
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let status = analyzer.terminate();
    assert!(status.success(), "{status}");
    // The exporter went down with the analyzer.
    wait_for("the exporter to stop", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
}

#[test]
fn launcher_without_an_exporter_says_where_it_looked() {
    // A lone analyzer binary (a hard link: /proc/self/exe names the link, a symlink would lead
    // back to the build tree) with nothing on PATH.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("pulse-analyzer");
    if std::fs::hard_link(support::analyzer_bin(), &lone).is_err() {
        std::fs::copy(support::analyzer_bin(), &lone).unwrap();
    }
    let out = std::process::Command::new(&lone)
        .args([
            "run",
            "--spawn-exporter",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .arg("--storage.path")
        .arg(dir.path().join("h.db"))
        .env("PATH", dir.path().join("empty"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let beside = dir.path().join("pulse-exporter");
    assert!(
        stderr.ends_with(&format!(
            "pulse-analyzer: no pulse-exporter beside this binary ({}) nor on PATH: build it \
             (`cargo build --release --workspace`) or give --exporter.path\n",
            beside.display()
        )),
        "{stderr}"
    );
}

/// Mutual TLS: the real exporter behind a web config that requires a client certificate
/// signed by its CA (exporter-toolkit's `RequireAndVerifyClientCert`); the analyzer scrapes it
/// with `tls: {ca_file, cert_file, key_file}`, and a target without the certificate fails
/// its scrapes (the exporter ends the handshake).
#[test]
fn scrapes_an_exporter_that_requires_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let server = ca.server(&["localhost"], None);
    let client = ca.client();
    let path = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let ca_file = path("ca.pem", &ca.cert_pem);
    let server_cert_file = path("server.pem", &server.cert_pem);
    let server_key_file = path("server.key", &server.key_pem);
    let cert_file = path("client.pem", &client.cert_pem);
    let key_file = path("client.key", &client.key_pem);
    let web_config = path(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {server_cert_file}\n  key_file: {server_key_file}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca_file}\n"
        ),
    );
    let exporter = Process::start(
        &exporter_bin(),
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            &web_config,
            "--collector.disable-defaults",
            "--collector.loadavg",
        ],
    );
    let port = exporter.addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/metrics");
    let config = write_config(
        dir.path(),
        &format!(
            "targets:\n  - name: mutual\n    url: {url}\n    interval: 300ms\n    timeout: 300ms\n    tls: {{ca_file: {ca_file}, cert_file: {cert_file}, key_file: {key_file}}}\n  - name: anonymous\n    url: {url}\n    interval: 300ms\n    timeout: 300ms\n    tls: {{ca_file: {ca_file}}}\n"
        ),
    );
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let metrics = wait_for("a scrape of each target", Duration::from_secs(30), || {
        let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
            .ok()?
            .text()
            .ok()?;
        (metrics.contains("pulse_analyzer_scrape_success{target=\"mutual\"}")
            && metrics.contains("pulse_analyzer_scrape_success{target=\"anonymous\"}"))
        .then_some(metrics)
    });
    assert!(
        metrics.contains("pulse_analyzer_scrape_success{target=\"mutual\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pulse_analyzer_scrape_success{target=\"anonymous\"} 0"),
        "{metrics}"
    );
}

/// A client certificate without its key is a config error naming the file, line and field.
#[test]
fn a_client_certificate_without_its_key_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "targets:\n  - name: a\n    url: https://localhost:9100/metrics\n    tls:\n      cert_file: client.pem\n",
    );
    let (code, _, stderr) = run(&["--config.file", config.to_str().unwrap(), "--config.check"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("analyzer.yml:4:5: targets[0].tls: cert_file needs key_file"),
        "{stderr}"
    );
}
