//! `GET /api/v1/reports` from the real analyzer binary scraping a real pulse-exporter: every
//! format comes back as a download with the right type and file name, carries the scraped
//! host's figures (PDF printed by Debian's `chromium`), and bad parameters are named.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::header;
use support::{Process, analyzer, exporter_bin, get_json, wait_for};

#[test]
fn reports_download_in_every_format() {
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{url: '{}', name: local, interval: 300ms, timeout: 300ms}}\n",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let cpu = analyzer.url("/api/v1/snapshot?metric=pulse:cpu_utilisation:ratio&target=local");
    wait_for("a derived CPU sample", Duration::from_secs(30), || {
        get_json(&cpu).1["samples"][0]["value"].as_f64()
    });

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .unwrap();
    let get = |query: &str| {
        client
            .get(analyzer.url(&format!("/api/v1/reports?{query}")))
            .send()
            .unwrap()
    };
    for (format, kind) in [
        ("html", "text/html; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("json", "application/json"),
        ("pdf", "application/pdf"),
    ] {
        let response = get(&format!("period=day&format={format}"));
        assert_eq!(response.status(), 200, "{format}");
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], kind, "{format}");
        let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"pulse-report-day-")
                && disposition.ends_with(&format!(".{format}\"")),
            "{disposition}"
        );
        let body = response.bytes().unwrap();
        match format {
            "pdf" => assert!(body.starts_with(b"%PDF-"), "not a PDF"),
            "json" => {
                let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(report["period"]["label"], "last 24 hours");
                let cpu = report["capacity"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|h| h["resource"] == "cpu")
                    .unwrap_or_else(|| panic!("no CPU headroom: {report}"));
                assert!(cpu["subject"].as_str().unwrap().contains("local"), "{cpu}");
            }
            "csv" => {
                let text = String::from_utf8(body.to_vec()).unwrap();
                assert!(text.starts_with("section,subject,metric,value\n"), "{text}");
                assert!(text.contains("capacity,cpu local,"), "{text}");
            }
            _ => {
                let text = String::from_utf8(body.to_vec()).unwrap();
                assert!(text.contains("<svg"), "the HTML report has its charts");
            }
        }
    }

    let custom = get("period=custom&start=-1h&format=json");
    assert_eq!(custom.status(), 200);
    let report: serde_json::Value = custom.json().unwrap();
    let period = &report["period"];
    assert_eq!(
        period["end_ms"].as_i64().unwrap() - period["start_ms"].as_i64().unwrap(),
        3_600_000,
        "{period}"
    );

    for (query, message) in [
        ("format=docx", "format: expected html, pdf, csv or json"),
        ("period=month", "period: expected day, week or custom"),
        ("period=custom", "start: required with period=custom"),
        ("colour=red", "unknown field `colour`"),
    ] {
        let response = get(query);
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(message), "{query}: {error}");
    }
}
