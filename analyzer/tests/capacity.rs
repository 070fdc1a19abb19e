//! Capacity forecasting end to end: a file that really grows on disk, reported as the used
//! part of a 64 MiB "filesystem" by an in-test endpoint (the host's own disk is shared with
//! builds, far too noisy to time), scraped by the real analyzer binary. The forecast on the
//! API and `/metrics` must match the file's measured growth, the exhaustion must become a
//! critical recommendation, and the patterns API must answer for the same series.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{analyzer, get_json, read_request_head, wait_for};

const CAPACITY: u64 = 64 * 1024 * 1024;

/// Serves `node_filesystem_{size,avail}_bytes` for mountpoint `/data` from `file`'s size.
fn filesystem_endpoint(file: PathBuf, stop: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            read_request_head(&mut stream);
            let used = std::fs::metadata(&file).map_or(0, |m| m.len());
            let labels = "device=\"loop7\",fstype=\"ext4\",mountpoint=\"/data\"";
            let body = format!(
                "# TYPE node_filesystem_size_bytes gauge\nnode_filesystem_size_bytes{{{labels}}} {CAPACITY}\n\
                 # TYPE node_filesystem_avail_bytes gauge\nnode_filesystem_avail_bytes{{{labels}}} {}\n",
                CAPACITY - used.min(CAPACITY)
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Appends 128 KiB chunks at 2.5 MiB/s until stopped or 48 MiB are written, paced by the
/// clock, so a slow `fsync` on a busy machine is caught up rather than slowing the fill.
fn grow(file: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    const CHUNK: usize = 128 * 1024;
    let mut out = std::fs::File::create(file).unwrap();
    std::thread::spawn(move || {
        let chunk = vec![7u8; CHUNK];
        let started = Instant::now();
        let mut written = 0;
        while !stop.load(Ordering::Relaxed) && written < 48 * 1024 * 1024 {
            let due = (started.elapsed().as_secs_f64() * 20.0) as usize * CHUNK;
            while written < due {
                out.write_all(&chunk).unwrap();
                written += CHUNK;
            }
            out.sync_data().unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

#[test]
fn a_growing_file_is_forecast_to_fill_its_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("growing.log");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = grow(&file, stop.clone());
    let started = Instant::now();
    let addr = filesystem_endpoint(file.clone(), stop.clone());
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - url: http://{addr}/metrics\n    name: disk\n    interval: 250ms\n    timeout: 200ms\n\
             analysis:\n  interval: 1s\n  step: 1s\n"
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);

    // Wait for a forecast resting on at least 6 seconds of growth.
    let forecast = wait_for(
        "a filesystem forecast over 6 points",
        Duration::from_secs(60),
        || {
            let (_, body) = get_json(&analyzer.url("/api/v1/forecasts?resource=filesystem_bytes"));
            let f = body["forecasts"].get(0)?.clone();
            (f["points"].as_u64()? >= 6).then_some(f)
        },
    );
    // The truth from the file itself: bytes left over its measured write rate.
    let used = std::fs::metadata(&file).unwrap().len() as f64;
    let rate = used / started.elapsed().as_secs_f64();
    let truth = (CAPACITY as f64 - used) / rate;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    assert_eq!(forecast["labels"]["mountpoint"], "/data");
    assert_eq!(forecast["instance"], "disk");
    assert_eq!(forecast["limit"], 0.0);
    let left = forecast["seconds_left"].as_f64().expect("exhausts");
    // The forecast was made up to a second before the truth was measured.
    assert!(
        (left - truth).abs() <= 0.25 * truth + 2.0,
        "forecast {left} s, truth {truth:.1} s: {forecast:#}"
    );
    let trend = forecast["trend_per_second"].as_f64().unwrap();
    assert!(
        (trend / rate - 1.0).abs() < 0.3,
        "trend {trend} vs {rate} B/s"
    );
    let (earliest, latest) = (
        forecast["earliest"].as_i64().unwrap(),
        forecast["latest"].as_i64().unwrap(),
    );
    let expected = forecast["expected"].as_i64().unwrap();
    assert!(earliest <= expected && expected <= latest, "{forecast:#}");

    // Minutes from full: a critical recommendation naming the mountpoint.
    let (_, recs) = get_json(&analyzer.url("/api/v1/recommendations?rule=filesystem_exhaustion"));
    let rec = &recs["recommendations"][0];
    assert_eq!(rec["severity"], "critical", "{recs:#}");
    assert_eq!(rec["subject"], "/data");
    assert!(rec["evidence"]["seconds_left"].as_f64().unwrap() > 0.0);

    let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("pulse_forecast_exhaustion_seconds{")
                && l.contains("mountpoint=\"/data\"")
        })
        .unwrap_or_else(|| panic!("no forecast metric in:\n{metrics}"));
    assert!(line.contains("resource=\"filesystem_bytes\""), "{line}");
    assert!(line.contains("instance=\"disk\""), "{line}");
    assert!(metrics.contains(
        "pulse_recommendation_info{id=\"filesystem_exhaustion:disk:filesystem_bytes:/data\""
    ));

    // Patterns: seconds of history have no daily rhythm; a missing metric is a 400 naming it.
    let (status, patterns) =
        get_json(&analyzer.url("/api/v1/patterns?metric=node_filesystem_avail_bytes"));
    assert_eq!(status, 200);
    assert_eq!(patterns["patterns"][0]["pattern"]["daily"], false);
    assert_eq!(
        patterns["patterns"][0]["series"]["labels"]["mountpoint"],
        "/data"
    );
    let (status, error) = get_json(&analyzer.url("/api/v1/patterns"));
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().starts_with("metric:"),
        "{error}"
    );
    let (status, error) = get_json(&analyzer.url("/api/v1/recommendations?severity=bad"));
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().starts_with("severity:"),
        "{error}"
    );
}
