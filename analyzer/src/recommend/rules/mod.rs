//! The rules, by what they look at: caches, the host (memory, CPU), and trends (forecast
//! exhaustion, leaks, latency regressions). Each reads what it needs and pushes one
//! recommendation per affected subject.

mod cache;
mod host;
mod trends;

pub use cache::{cache_evictions, cache_near_limit};
pub use host::{conntrack_near_limit, cpu_saturation, memory_pressure};
pub use trends::{exhaustion, probe_latency_regression, rss_leak};

use super::window::label;
use crate::storage::LatestSample;

const MIB: f64 = 1024.0 * 1024.0;

fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / MIB)
}

fn duration(secs: f64) -> String {
    if secs >= 86_400.0 {
        format!("{:.1} days", secs / 86_400.0)
    } else if secs >= 3600.0 {
        format!("{:.1} hours", secs / 3600.0)
    } else {
        format!("{:.0} minutes", secs / 60.0)
    }
}

/// The sample among `rows` from the same scrape target whose label `key` equals `value`.
fn same<'a>(
    rows: &'a [LatestSample],
    instance: &str,
    key: &str,
    value: &str,
) -> impl Iterator<Item = &'a LatestSample> {
    let (instance, key, value) = (instance.to_owned(), key.to_owned(), value.to_owned());
    rows.iter()
        .filter(move |r| r.series.target == instance && label(r, &key) == Some(value.as_str()))
}
