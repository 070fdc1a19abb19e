//! A root-cause hint from real parts: the real exporter's `cpu` and `processes` collectors,
//! scraped by the real analyzer while one process group really burns the CPU. The host's CPU
//! utilisation must become an anomaly event whose hints name that group. It has a test binary
//! of its own because it reads the machine's whole CPU: tests running beside it would be
//! anomalies too.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{analyzer, exporter_with, get_json, niced_python_per_core, wait_for};

/// Idles until the file named by its first argument exists, then busy-loops for 4 s, then
/// idles again: a process group whose CPU is 0, then all it can get, then 0.
const BURST: &str = "\
import os, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
end = time.monotonic() + 4
while time.monotonic() < end:
    pass
time.sleep(600)
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_real_cpu_burst_is_an_event_whose_hint_names_the_busy_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("go");
    let flag_arg = flag.to_str().unwrap();
    let _burners = niced_python_per_core(2, BURST, &[flag_arg, "pulse-scenario-burst"]);
    let exporter = exporter_with(
        dir.path(),
        &["cpu", "processes"],
        "processes:\n  process_names:\n    - name: burst\n      cmdline: [pulse-scenario-burst]\n",
    );
    // Starting the burners and the exporter takes CPU too: learnt as this host's normal,
    // it would make the burst itself look ordinary.
    std::thread::sleep(Duration::from_secs(2));
    // Windows short enough to learn from 100 ms scrapes within seconds. A detector only 40 s
    // old peaked at 0.30-0.40 on this burst, so the event threshold is the 0.25 NAB's
    // profiles pick rather than the stricter default 0.3.
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets: [{{url: '{}', name: host, interval: 100ms, timeout: 100ms}}]\n\
             anomaly:\n\
             \x20 series: ['pulse:cpu_utilisation:ratio']\n\
             \x20 quiet: 1s\n\
             \x20 threshold: 0.25\n\
             \x20 detector: {{warmup_points: 60, likelihood_min_history: 40, likelihood_early_history: 40, baseline_window: 120}}\n",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);

    // 40 s of the idle group stored, so the calibration is past its young discount, then the burst.
    wait_for("40 s of history", Duration::from_secs(60), || {
        let (_, body) = get_json(&analyzer.url("/api/v1/snapshot?metric=pulse:process_cpu:rate"));
        let id = body["samples"].get(0)?["id"].as_i64()?;
        let (_, history) = get_json(&analyzer.url(&format!("/api/v1/series/{id}/history")));
        (history["points"].as_array()?.len() >= 400).then_some(())
    });
    let burst_ms = now_ms();
    std::fs::write(&flag, "").unwrap();

    // The detector stamps whole seconds, so the event may start up to 1 s before the flag.
    let event = wait_for(
        "the burst as a finished event",
        Duration::from_secs(60),
        || {
            let (_, body) = get_json(&analyzer.url("/api/v1/anomalies?since=-1h"));
            body["events"]
                .as_array()?
                .iter()
                .find(|e| e["end_ms"].is_i64() && e["start_ms"].as_i64() >= Some(burst_ms - 1_000))
                .cloned()
        },
    );
    assert_eq!(event["metric"], "pulse:cpu_utilisation:ratio", "{event:#}");
    assert!(
        event["start_ms"].as_i64().unwrap() <= burst_ms + 4_000,
        "found while the burst lasted: {event:#}"
    );
    // Every hint is about the busy group: nothing else on the host moved with the burst.
    let hints = event["correlations"].as_array().unwrap();
    assert!(
        hints.iter().all(|c| c["labels"]["groupname"] == "burst"),
        "{event:#}"
    );
    let hint = hints
        .iter()
        .find(|c| c["metric"] == "pulse:process_cpu:rate")
        .unwrap_or_else(|| panic!("the group's CPU is not among the hints: {event:#}"));
    assert!(hint["r"].as_f64().unwrap() > 0.6, "{event:#}");
    assert!(
        hint["hint"].as_str().unwrap().starts_with(
            "pulse:cpu_utilisation:ratio on host correlates with pulse:process_cpu:rate{groupname=\"burst\"} on host, r="
        ),
        "{event:#}"
    );
}
