//! Measures the detector's CPU cost per point, the number the issue budgets
//! (≤ 5 µs per point per series):
//!
//! ```sh
//! cargo run --release -p pulse-timeseries --example cost [-- POINTS]
//! ```
//!
//! Scores a synthetic 5-minute series (daily wave, noise, a few spikes and a
//! level shift, so every member and the calibration do real work) through
//! one detector and reports the process CPU time (user + system from
//! `/proc/self/stat`) divided by the number of points: wall time would
//! count the time other processes held the core.
//! Generating the input is done up front and not counted.

use std::process::ExitCode;
use std::time::Instant;

use pulse_timeseries::anomaly::{Detector, DetectorConfig};

fn main() -> ExitCode {
    let points: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("cost: POINTS: {e}");
            return ExitCode::FAILURE;
        }
    };
    let series: Vec<(i64, f64)> = (0..points)
        .map(|i| {
            let t = i as i64 * 300;
            let phase = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            let mut v = 50.0 + 20.0 * phase.sin() + 3.0 * noise(i);
            if i % 5_000 == 4_321 {
                v += 60.0;
            }
            if (i / 20_000) % 2 == 1 {
                v += 15.0;
            }
            (t, v)
        })
        .collect();
    let mut detector = Detector::new(DetectorConfig::default());
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    let mut checksum = 0.0;
    for &(t, v) in &series {
        checksum += detector.update(t, v);
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        // Without /proc the single-threaded wall time is the best proxy.
        _ => wall,
    };
    println!(
        "points={points} cpu_s={cpu:.3} wall_s={wall:.3} us_per_point={:.3} (score checksum {checksum:.3})",
        cpu * 1e6 / points as f64
    );
    ExitCode::SUCCESS
}

/// User + system CPU time of this process from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, i.e. the 12th and 13th after it.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every supported platform.
    Some((utime + stime) / 100.0)
}

/// Deterministic noise in [-0.5, 0.5) without an RNG dependency.
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}
