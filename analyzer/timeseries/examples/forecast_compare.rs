//! Compares [`time_to_exhaustion`] with Prometheus-style `predict_linear`
//! on generated "disk filling up" scenarios:
//!
//! ```sh
//! cargo run --release -p pulse-timeseries --example forecast_compare
//! ```
//!
//! Each scenario has 14 days of 5-minute history; the question "when does
//! it reach the limit?" is asked at 8 hours of the last day. The error is
//! the distance in hours from the first time the noiseless signal reaches
//! the limit. `predict_linear` is fitted over the last 6 hours and the last
//! day, as alert rules usually do; a flat or falling fit counts as "never"
//! and is scored at the 90-day horizon. "covered" is how often the truth
//! lies within the reported interval.

use pulse_timeseries::forecast::{ForecastConfig, predict_linear, time_to_exhaustion};

const DAY: i64 = 86_400;
const HORIZON: i64 = 90 * DAY;

struct Scenario {
    name: &'static str,
    limit: f64,
    signal: fn(i64) -> f64,
    noise: f64,
}

fn daily(t: i64) -> f64 {
    ((t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU).sin()
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "linear",
        limit: 80.0,
        signal: |t| 50.0 + t as f64 / DAY as f64,
        noise: 0.5,
    },
    Scenario {
        name: "linear + daily swing",
        limit: 80.0,
        signal: |t| 50.0 + t as f64 / DAY as f64 + 3.0 * daily(t),
        noise: 0.2,
    },
    Scenario {
        name: "daily swing, noisy",
        limit: 80.0,
        signal: |t| 50.0 + t as f64 / DAY as f64 + 3.0 * daily(t),
        noise: 3.0,
    },
    Scenario {
        name: "sawtooth (nightly cleanup)",
        limit: 80.0,
        // +3/day written during the day, 2 cleaned up at midnight.
        signal: |t| 50.0 + (t / DAY) as f64 + 3.0 * (t % DAY) as f64 / DAY as f64,
        noise: 0.2,
    },
    Scenario {
        name: "accelerating",
        limit: 80.0,
        signal: |t| {
            let d = t as f64 / DAY as f64;
            50.0 + 0.5 * d + 0.03 * d * d
        },
        noise: 0.2,
    },
];

fn main() {
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8}",
        "scenario", "ours h", "pl[6h] h", "pl[1d] h", "covered"
    );
    for s in SCENARIOS {
        let truth = (0..)
            .map(|i| i * 60)
            .find(|&t| (s.signal)(t) >= s.limit || t > HORIZON * 2)
            .unwrap_or(HORIZON);
        let (mut ours, mut pl6, mut pl24, mut covered) = (0.0, 0.0, 0.0, 0);
        let asks = 8;
        for k in 0..asks {
            let now = 13 * DAY + k * 3 * 3600;
            let history: Vec<(i64, f64)> = (0..=now / 300)
                .map(|i| {
                    let t = i * 300;
                    (t, (s.signal)(t) + s.noise * noise(i as usize))
                })
                .collect();
            match time_to_exhaustion(&history, s.limit, &ForecastConfig::default()) {
                Ok(eta) => {
                    ours += hours(eta.expected.unwrap_or(now + HORIZON) - truth);
                    if eta.earliest.is_some_and(|e| e <= truth)
                        && eta.latest.is_none_or(|l| l >= truth)
                    {
                        covered += 1;
                    }
                }
                Err(e) => eprintln!("{}: {e}", s.name),
            }
            pl6 += hours(linear_eta(&history, now, 6 * 3600, s.limit) - truth);
            pl24 += hours(linear_eta(&history, now, DAY, s.limit) - truth);
        }
        let n = asks as f64;
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>10.1} {:>5}/{asks}",
            s.name,
            ours / n,
            pl6 / n,
            pl24 / n,
            covered
        );
    }
    println!("(mean absolute error of the predicted crossing, hours)");
}

/// The crossing time implied by `predict_linear(v[range], …)` at `now`.
fn linear_eta(history: &[(i64, f64)], now: i64, range: i64, limit: f64) -> i64 {
    let window: Vec<_> = history
        .iter()
        .copied()
        .filter(|p| p.0 > now - range)
        .collect();
    let (Some(at_now), Some(in_a_day)) = (
        predict_linear(&window, now, 0),
        predict_linear(&window, now, DAY),
    ) else {
        return now + HORIZON;
    };
    let slope = (in_a_day - at_now) / DAY as f64;
    if slope <= 0.0 {
        return now + HORIZON;
    }
    now + (((limit - at_now) / slope) as i64).clamp(0, HORIZON)
}

fn hours(secs: i64) -> f64 {
    secs.abs() as f64 / 3600.0
}

/// Deterministic noise in [-0.5, 0.5) without an RNG dependency.
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}
