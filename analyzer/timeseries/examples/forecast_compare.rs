//! Compares [`time_to_exhaustion`] with Prometheus' `predict_linear` on
//! generated "resource filling up" scenarios:
//!
//! ```sh
//! cargo run --release -p pulse-timeseries --example forecast_compare
//! ```
//!
//! Every scenario is sampled every 5 minutes with deterministic noise. The
//! question "how long until it reaches the limit?" is asked at 8 times of
//! day (every 3 hours) on the last day of the history. The truth is the
//! first time the noiseless signal reaches the limit; "±10 %" counts the
//! answers whose time-to-full is within 10 % of the true time-to-full (for
//! a resource that never fills, the answer must be "not within the 90-day
//! horizon"). `predict_linear` is fitted over the last 6 hours and the last
//! day, as alert rules usually do, and solved for the crossing. "covered"
//! counts the answers whose prediction interval contains the truth. "line
//! only" is our forecast with curvature off (`curve_max_sse_ratio = 0`),
//! i.e. the model before curved trends were added.
//!
//! The second table repeats the question for our forecast with 2, 4, 7 and
//! 14 days of history: how much history is "enough".

use pulse_timeseries::forecast::{ForecastConfig, predict_linear, time_to_exhaustion};

const DAY: i64 = 86_400;
const HORIZON: i64 = 90 * DAY;
const STEP: i64 = 300;
const ASKS: i64 = 8;

struct Scenario {
    name: &'static str,
    limit: f64,
    signal: fn(i64) -> f64,
    noise: f64,
}

fn days(t: i64) -> f64 {
    t as f64 / DAY as f64
}

fn daily(t: i64) -> f64 {
    ((t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU).sin()
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "linear fill + noise",
        limit: 80.0,
        signal: |t| 50.0 + days(t),
        noise: 0.5,
    },
    Scenario {
        name: "fill + daily cycle",
        limit: 80.0,
        signal: |t| 50.0 + days(t) + 3.0 * daily(t),
        noise: 0.2,
    },
    Scenario {
        name: "fill + daily cycle, noisy",
        limit: 80.0,
        signal: |t| 50.0 + days(t) + 3.0 * daily(t),
        noise: 3.0,
    },
    Scenario {
        name: "fill that stops (day 10)",
        limit: 80.0,
        signal: |t| 50.0 + days(t).min(10.0),
        noise: 0.5,
    },
    Scenario {
        name: "step +15 (day 10)",
        limit: 80.0,
        signal: |t| 40.0 + 0.5 * days(t) + if t >= 10 * DAY { 15.0 } else { 0.0 },
        noise: 0.5,
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
        signal: |t| 50.0 + 0.5 * days(t) + 0.03 * days(t).powi(2),
        noise: 0.2,
    },
    Scenario {
        name: "accelerating + daily cycle, noisy",
        limit: 80.0,
        signal: |t| 50.0 + 0.5 * days(t) + 0.03 * days(t).powi(2) + 3.0 * daily(t),
        noise: 3.0,
    },
    Scenario {
        name: "compounding (+10 %/day)",
        limit: 80.0,
        signal: |t| 45.0 + 5.0 * 1.1f64.powf(days(t)),
        noise: 0.2,
    },
    Scenario {
        name: "rate triples (day 10)",
        limit: 80.0,
        signal: |t| 50.0 + 0.5 * days(t) + (days(t) - 10.0).max(0.0),
        noise: 0.5,
    },
    Scenario {
        name: "decelerating (square root)",
        limit: 80.0,
        signal: |t| 40.0 + 10.0 * days(t).sqrt(),
        noise: 0.2,
    },
    Scenario {
        name: "levels off below the limit",
        limit: 80.0,
        signal: |t| 45.0 + 30.0 * (1.0 - (-days(t) / 8.0).exp()),
        noise: 0.2,
    },
];

/// Outcome of one method over the asks of one scenario.
#[derive(Default)]
struct Score {
    within: u32,
    errors: Vec<f64>,
    covered: u32,
}

impl Score {
    /// Records a predicted crossing (`None`: not within the horizon).
    fn add(&mut self, now: i64, predicted: Option<i64>, truth: Option<i64>) {
        match (predicted, truth) {
            (None, None) => {
                self.within += 1;
                self.errors.push(0.0);
            }
            (Some(p), Some(t)) => {
                let error = (p - t).abs() as f64 / (t - now) as f64;
                if error <= 0.10 {
                    self.within += 1;
                }
                self.errors.push(error);
            }
            _ => self.errors.push(f64::INFINITY),
        }
    }

    fn median(&self) -> String {
        let mut e = self.errors.clone();
        e.sort_by(f64::total_cmp);
        match e.get(e.len() / 2) {
            Some(v) if v.is_finite() => format!("{:.1} %", v * 100.0),
            _ => "miss".to_owned(),
        }
    }
}

fn history(s: &Scenario, now: i64) -> Vec<(i64, f64)> {
    (0..=now / STEP)
        .map(|i| {
            let t = i * STEP;
            (t, (s.signal)(t) + s.noise * noise(i as usize))
        })
        .collect()
}

fn truth(s: &Scenario, now: i64) -> Option<i64> {
    (now / 60..(now + HORIZON) / 60)
        .map(|i| i * 60)
        .find(|&t| (s.signal)(t) >= s.limit)
}

/// Our forecast with `days_of_history` days ending at each ask.
fn ours(s: &Scenario, days_of_history: i64) -> Score {
    ours_with(s, days_of_history, &ForecastConfig::default())
}

/// Our forecast with `config`.
fn ours_with(s: &Scenario, days_of_history: i64, config: &ForecastConfig) -> Score {
    let mut score = Score::default();
    for k in 0..ASKS {
        let now = 13 * DAY + k * 3 * 3600;
        let truth = truth(s, now);
        let history: Vec<_> = history(s, now)
            .into_iter()
            .filter(|p| p.0 > now - days_of_history * DAY)
            .collect();
        match time_to_exhaustion(&history, s.limit, config) {
            Ok(eta) => {
                score.add(now, eta.expected, truth);
                let t = truth.unwrap_or(i64::MAX);
                if eta.earliest.is_none_or(|e| e <= t) && eta.latest.is_none_or(|l| l >= t) {
                    score.covered += 1;
                }
            }
            Err(e) => eprintln!("{}: {e}", s.name),
        }
    }
    score
}

fn linear(s: &Scenario, range: i64) -> Score {
    let mut score = Score::default();
    for k in 0..ASKS {
        let now = 13 * DAY + k * 3 * 3600;
        score.add(
            now,
            linear_eta(&history(s, now), now, range, s.limit),
            truth(s, now),
        );
    }
    score
}

fn main() {
    println!(
        "| scenario | ours ±10 % | ours median error | covered | line only ±10 % | median | covered | predict_linear[6h] ±10 % | median | predict_linear[1d] ±10 % | median |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let line_only = ForecastConfig {
        curve_max_sse_ratio: 0.0,
        ..ForecastConfig::default()
    };
    for s in SCENARIOS {
        let (o, l) = (ours(s, 14), ours_with(s, 14, &line_only));
        let (p6, p24) = (linear(s, 6 * 3600), linear(s, DAY));
        println!(
            "| {} | {}/{ASKS} | {} | {}/{ASKS} | {}/{ASKS} | {} | {}/{ASKS} | {}/{ASKS} | {} | {}/{ASKS} | {} |",
            s.name,
            o.within,
            o.median(),
            o.covered,
            l.within,
            l.median(),
            l.covered,
            p6.within,
            p6.median(),
            p24.within,
            p24.median()
        );
    }
    println!();
    println!("| scenario | 2 days | 4 days | 7 days | 14 days |");
    println!("|---|---|---|---|---|");
    for s in SCENARIOS {
        let cells: Vec<String> = [2, 4, 7, 14]
            .iter()
            .map(|&d| {
                let o = ours(s, d);
                format!("{}/{ASKS} ({})", o.within, o.median())
            })
            .collect();
        println!("| {} | {} |", s.name, cells.join(" | "));
    }
}

/// The crossing implied by `predict_linear(v[range], …)` at `now`, `None`
/// when the line does not reach the limit within the horizon.
fn linear_eta(history: &[(i64, f64)], now: i64, range: i64, limit: f64) -> Option<i64> {
    let window: Vec<_> = history
        .iter()
        .copied()
        .filter(|p| p.0 > now - range)
        .collect();
    let at_now = predict_linear(&window, now, 0)?;
    let in_a_day = predict_linear(&window, now, DAY)?;
    let slope = (in_a_day - at_now) / DAY as f64;
    if at_now >= limit {
        return Some(now);
    }
    if slope <= 0.0 {
        return None;
    }
    let secs = (limit - at_now) / slope;
    (secs <= HORIZON as f64).then(|| now + secs as i64)
}

/// Deterministic noise in [-0.5, 0.5) without an RNG dependency.
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
}
