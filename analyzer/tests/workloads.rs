//! The recommendation rules beyond Redis, each against a real workload: a process that
//! leaks memory beside one that does not, a process running out of file descriptors, busy
//! loops saturating the CPU, a `memcached` too small for its working set, and a web server
//! that slows down beside one that does not. Each runs the real pulse-exporter (only the
//! collectors its rule reads) scraped by the real analyzer, with the rules' windows
//! shortened to seconds so the workload can be short. Every rule must fire on the sick
//! subject with evidence matching the workload and, where a healthy twin runs beside it,
//! stay quiet on the twin.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{
    ChildGuard, Process, analyzer, exporter_with, get_json, memcached_server,
    niced_python_per_core, promtool_check, read_request_head, wait_for,
};

const MIB: f64 = 1024.0 * 1024.0;

/// The analyzer scraping `exporter` every 500 ms and judging every second, with
/// `recommendations` (indented YAML lines) under `analysis.recommendations`.
fn analyzer_on(dir: &Path, exporter: &Process, recommendations: &str) -> Process {
    let path = dir.join("analyzer.yml");
    std::fs::write(
        &path,
        format!(
            "targets:\n  - url: {}\n    name: local\n    interval: 500ms\n    timeout: 400ms\n\
             analysis:\n  interval: 1s\n  step: 1s\n  recommendations:\n{recommendations}",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    analyzer(&path, &dir.join("history.db"), &[])
}

/// The analyzer's current recommendations of `rule`.
fn recommendations(analyzer: &Process, rule: &str) -> Vec<serde_json::Value> {
    let (_, body) = get_json(&analyzer.url("/api/v1/recommendations"));
    body["recommendations"]
        .as_array()
        .map(|all| all.iter().filter(|r| r["rule"] == rule).cloned().collect())
        .unwrap_or_default()
}

/// The first of `rule`'s recommendations, waiting up to `timeout` for one to appear.
fn first_recommendation(analyzer: &Process, rule: &str, timeout: Duration) -> serde_json::Value {
    wait_for(&format!("a {rule} recommendation"), timeout, || {
        recommendations(analyzer, rule).into_iter().next()
    })
}

/// The analyzer's newest stored sample (series and value) of `metric` for the series whose
/// `label` is `value`.
fn stored(analyzer: &Process, metric: &str, label: &str, value: &str) -> Option<serde_json::Value> {
    let (_, body) = get_json(&analyzer.url(&format!("/api/v1/snapshot?metric={metric}")));
    body["samples"]
        .as_array()?
        .iter()
        .find(|s| s["labels"][label] == value)
        .cloned()
}

/// The analyzer's /metrics must carry `rule`'s recommendation for `subject` and pass promtool.
fn assert_exported(analyzer: &Process, rule: &str, subject: &str) {
    let metrics = reqwest::blocking::get(analyzer.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pulse_recommendation_info{")
                && l.contains(&format!("rule=\"{rule}\""))
                && l.contains(&format!("subject=\"{subject}\""))),
        "no {rule} recommendation for {subject} on /metrics:\n{metrics}"
    );
    let (clean, report) = promtool_check(&metrics);
    assert!(clean, "promtool check metrics:\n{report}");
}

/// Resident memory grows by 128 KiB chunks, 20 a second, paced by the clock so a busy
/// machine does not slow the leak: 2.5 MiB/s, up to 240 MiB.
const LEAKER: &str = "\
import time
start = time.monotonic()
chunks = []
while True:
    due = min(int((time.monotonic() - start) * 20), 1920)
    while len(chunks) < due:
        chunks.append(b'x' * 131072)
    time.sleep(0.02)
";
const LEAK_BYTES_PER_SECOND: f64 = 2.5 * MIB;

#[test]
fn a_process_that_leaks_is_a_leak_suspect_and_a_steady_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let _leaky = ChildGuard::spawn("python3", &["-c", LEAKER, "pulse-scenario-leaky"]);
    let _steady = ChildGuard::spawn(
        "python3",
        &[
            "-c",
            "import time; time.sleep(600)",
            "pulse-scenario-steady",
        ],
    );
    let exporter = exporter_with(
        dir.path(),
        &["processes"],
        "processes:\n  process_names:\n    - name: leaky\n      cmdline: [pulse-scenario-leaky]\n    \
         - name: steady\n      cmdline: [pulse-scenario-steady]\n",
    );
    let analyzer = analyzer_on(dir.path(), &exporter, "    leak_window: 30s\n");

    let leak = first_recommendation(&analyzer, "rss_leak", Duration::from_secs(90));
    assert_eq!(leak["subject"], "leaky", "{leak:#}");
    assert_eq!(leak["id"], "rss_leak:local:leaky");
    let per_second = leak["evidence"]["growth_bytes_per_hour"].as_f64().unwrap() / 3600.0;
    assert!(
        (per_second / LEAK_BYTES_PER_SECOND - 1.0).abs() < 0.25,
        "measured growth {:.2} MiB/s against the leak's 2.5: {leak:#}",
        per_second / MIB
    );
    assert!(leak["evidence"]["r_squared"].as_f64().unwrap() >= 0.8);
    assert!(
        leak["action"].as_str().unwrap().contains("leaky"),
        "{leak:#}"
    );

    // The steady twin is in the same history, and the rule leaves it alone.
    let steady = stored(&analyzer, "pulse:process_rss:bytes", "groupname", "steady");
    assert!(
        steady
            .as_ref()
            .and_then(|s| s["value"].as_f64())
            .is_some_and(|rss| rss > 0.0),
        "steady: {steady:?}"
    );
    let suspects = recommendations(&analyzer, "rss_leak");
    assert!(
        suspects.iter().all(|r| r["subject"] != "steady"),
        "{suspects:#?}"
    );
    assert_exported(&analyzer, "rss_leak", "leaky");
}

/// Opens `/dev/null` 10 times a second under a 512-descriptor limit, paced by the clock,
/// until 8 short of the limit (about 50 s).
const FD_LEAKER: &str = "\
import os, resource, time
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))
start = time.monotonic()
fds = []
while True:
    due = min(int((time.monotonic() - start) * 10), 500)
    while len(fds) < due:
        fds.append(os.open('/dev/null', os.O_RDONLY))
    time.sleep(0.02)
";
const FD_LIMIT: f64 = 512.0;
const FDS_PER_SECOND: f64 = 10.0;

#[test]
fn a_process_running_out_of_file_descriptors_is_forecast_to_and_recommended() {
    let dir = tempfile::tempdir().unwrap();
    let leaker = ChildGuard::spawn("python3", &["-c", FD_LEAKER, "pulse-scenario-fds"]);
    let exporter = exporter_with(
        dir.path(),
        &["processes"],
        "processes:\n  process_names:\n    - name: fds\n      cmdline: [pulse-scenario-fds]\n",
    );
    let analyzer = analyzer_on(dir.path(), &exporter, "    window: 10s\n");

    let forecast = wait_for(
        "a descriptor forecast over 6 points",
        Duration::from_secs(60),
        || {
            let (_, body) =
                get_json(&analyzer.url("/api/v1/forecasts?resource=process_file_descriptors"));
            let f = body["forecasts"].get(0)?.clone();
            (f["points"].as_u64()? >= 6).then_some(f)
        },
    );
    // The truth from the process itself: descriptors left over the rate it opens them.
    let open = std::fs::read_dir(format!("/proc/{}/fd", leaker.0.id()))
        .unwrap()
        .count() as f64;
    let truth = (FD_LIMIT - open) / FDS_PER_SECOND;
    assert_eq!(forecast["labels"]["groupname"], "fds", "{forecast:#}");
    assert_eq!(forecast["limit"], 1.0, "the worst fd ratio's limit");
    let left = forecast["seconds_left"].as_f64().expect("exhausts");
    // The forecast was made up to a second before the truth was measured.
    assert!(
        (left - truth).abs() <= 0.25 * truth + 2.0,
        "forecast {left} s, truth {truth:.1} s ({open} open): {forecast:#}"
    );

    let rec = first_recommendation(&analyzer, "fd_exhaustion", Duration::from_secs(10));
    assert_eq!(rec["subject"], "fds", "{rec:#}");
    assert_eq!(rec["severity"], "critical", "under a minute left: {rec:#}");
    assert!(
        rec["action"].as_str().unwrap().contains("LimitNOFILE"),
        "{rec:#}"
    );
    assert_exported(&analyzer, "fd_exhaustion", "fds");
}

#[test]
fn busy_loops_saturating_the_cpu_are_named_in_a_cpu_saturation_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    // Three per core at nice 19: the tests running beside this one keep the CPU they ask
    // for, tasks wait for CPU all the time, and the load climbs.
    let _hogs = niced_python_per_core(3, "while True: pass", &["pulse-scenario-hog"]);
    let exporter = exporter_with(
        dir.path(),
        &["cpu", "loadavg", "pressure", "processes"],
        "processes:\n  process_names:\n    - name: hog\n      cmdline: [pulse-scenario-hog]\n",
    );
    let analyzer = analyzer_on(dir.path(), &exporter, "    window: 10s\n");

    let rec = first_recommendation(&analyzer, "cpu_saturation", Duration::from_secs(90));
    // Either signal is enough: tasks waiting for CPU (pressure) or the load per core.
    let evidence = &rec["evidence"];
    let waiting = evidence["cpu_wait_ratio"].as_f64().unwrap();
    let per_core = evidence["min_load_per_core"].as_f64().unwrap_or(0.0);
    assert!(waiting >= 0.5 || per_core > 1.0, "{rec:#}");
    assert!(
        rec["action"].as_str().unwrap().contains("hog ("),
        "the busiest group is named: {rec:#}"
    );
    assert_exported(&analyzer, "cpu_saturation", "host");
}

/// Stores 1 KiB items under ever new keys and reads back random earlier ones, pipelined,
/// so the working set outgrows the cache: evictions and mostly misses.
fn memcached_workload(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
        let value = "x".repeat(1024);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut i: u64 = 0;
        let mut line = String::new();
        while !stop.load(Ordering::Relaxed) {
            let mut batch = String::new();
            for _ in 0..100 {
                batch.push_str(&format!("set key:{i} 0 0 {}\r\n{value}\r\n", value.len()));
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                batch.push_str(&format!("get key:{}\r\n", state % (i + 1)));
                i += 1;
            }
            stream.get_mut().write_all(batch.as_bytes()).unwrap();
            // 100 STORED lines and 100 gets, each ending in END (a hit has two lines before).
            let mut ends = 0;
            while ends < 100 {
                line.clear();
                assert!(stream.read_line(&mut line).unwrap() > 0, "memcached closed");
                if line == "END\r\n" {
                    ends += 1;
                } else if let Some(header) = line.strip_prefix("VALUE ") {
                    let len: usize = header
                        .trim_end()
                        .rsplit(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut body = vec![0; len + 2];
                    stream.read_exact(&mut body).unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

/// One figure of memcached's `stats`.
fn memcached_stat(port: u16, name: &str) -> f64 {
    let mut stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    stream.get_mut().write_all(b"stats\r\n").unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stream.read_line(&mut line).unwrap() > 0, "memcached closed");
        assert_ne!(line, "END\r\n", "no stat {name}");
        if let Some(value) = line.strip_prefix(&format!("STAT {name} ")) {
            return value.trim_end().parse().unwrap();
        }
    }
}

#[test]
fn a_memcached_too_small_for_its_working_set_gets_more_memory_recommended() {
    let (_memcached, port) = memcached_server(4);
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter_with(
        dir.path(),
        &["memcached"],
        &format!("memcached:\n  targets:\n    - address: 127.0.0.1:{port}\n"),
    );
    let analyzer = analyzer_on(dir.path(), &exporter, "    window: 10s\n");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = memcached_workload(port, stop.clone());

    let rec = first_recommendation(&analyzer, "cache_evictions", Duration::from_secs(90));
    let full = first_recommendation(
        &analyzer,
        "cache_memory_near_limit",
        Duration::from_secs(30),
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    let address = format!("127.0.0.1:{port}");
    assert_eq!(full["subject"], format!("memcached {address}"), "{full:#}");
    // The share memcached itself reports, once the workload has stopped.
    let used = memcached_stat(port, "bytes") / memcached_stat(port, "limit_maxbytes");
    assert!(
        (full["evidence"]["used_ratio"].as_f64().unwrap() - used).abs() < 0.03,
        "memcached says {used:.3}: {full:#}"
    );
    assert_eq!(rec["id"], format!("cache_evictions:local:{address}"));
    assert_eq!(rec["subject"], format!("memcached {address}"));
    let evidence = &rec["evidence"];
    assert!(evidence["evicted_keys"].as_f64().unwrap() > 0.0, "{rec:#}");
    assert!(evidence["hit_ratio"].as_f64().unwrap() < 0.9, "{rec:#}");
    assert_eq!(evidence["limit_bytes"], 4.0 * MIB, "memcached -m 4");
    assert!(
        evidence["suggested_limit_bytes"].as_f64().unwrap() >= 5.0 * MIB,
        "at least a quarter more: {rec:#}"
    );
    assert!(
        rec["change"].is_null(),
        "Pulse changes only Redis itself: {rec:#}"
    );
    assert!(
        rec["action"]
            .as_str()
            .unwrap()
            .contains("raise the memory limit (-m)"),
        "{rec:#}"
    );
    assert_exported(
        &analyzer,
        "cache_evictions",
        &format!("memcached {address}"),
    );
}

/// A web server on loopback: `/steady` answers at once, `/changing` after the delay held in
/// `delay_ms`, so the test can slow it down mid-run.
fn web_server(delay_ms: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let delay_ms = delay_ms.clone();
            std::thread::spawn(move || {
                if read_request_head(&mut stream).starts_with(b"GET /changing ") {
                    std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::Relaxed)));
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    port
}

#[test]
fn a_web_server_that_slows_down_is_a_latency_regression_and_a_steady_one_is_not() {
    let delay_ms = Arc::new(AtomicU64::new(0));
    let port = web_server(delay_ms.clone());
    let dir = tempfile::tempdir().unwrap();
    let exporter = exporter_with(
        dir.path(),
        &["probe"],
        &format!(
            "probes:\n  modules:\n    http_2xx: {{timeout: 450ms}}\n  targets:\n    \
             - {{name: changing, url: 'http://127.0.0.1:{port}/changing', module: http_2xx, interval: 500ms}}\n    \
             - {{name: steady, url: 'http://127.0.0.1:{port}/steady', module: http_2xx, interval: 500ms}}\n"
        ),
    );
    let analyzer = analyzer_on(
        dir.path(),
        &exporter,
        "    window: 10s\n    regression_window: 2m\n",
    );

    // 30 fast answers stored (15 s), then the change.
    wait_for(
        "15 s of fast probes in history",
        Duration::from_secs(60),
        || {
            let latency = stored(
                &analyzer,
                "pulse:probe_latency:seconds",
                "target",
                "changing",
            )?;
            let history = format!("/api/v1/series/{}/history", latency["id"].as_i64()?);
            let (_, body) = get_json(&analyzer.url(&history));
            (body["points"].as_array()?.len() >= 30).then_some(())
        },
    );
    delay_ms.store(200, Ordering::Relaxed);

    let regression = first_recommendation(
        &analyzer,
        "probe_latency_regression",
        Duration::from_secs(90),
    );
    assert_eq!(regression["subject"], "changing", "{regression:#}");
    let evidence = &regression["evidence"];
    let before = evidence["median_before_seconds"].as_f64().unwrap();
    let after = evidence["median_after_seconds"].as_f64().unwrap();
    assert!(before < 0.05, "fast before the change: {regression:#}");
    assert!(
        (0.2..0.3).contains(&after),
        "200 ms slower after it: {regression:#}"
    );
    let steady = stored(&analyzer, "pulse:probe_latency:seconds", "target", "steady");
    assert!(
        steady
            .as_ref()
            .and_then(|s| s["value"].as_f64())
            .is_some_and(|latency| latency < 0.05),
        "steady: {steady:?}"
    );
    let regressions = recommendations(&analyzer, "probe_latency_regression");
    assert!(
        regressions.iter().all(|r| r["subject"] != "steady"),
        "{regressions:#?}"
    );
    assert_exported(&analyzer, "probe_latency_regression", "changing");
}
