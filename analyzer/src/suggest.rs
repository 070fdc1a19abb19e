//! `suggest-rules`: alert thresholds learned from history, written as a Prometheus rule file.
//!
//! A fixed "CPU > 90 %" fires all day on a batch host and never on an idle one. Here each
//! threshold is a high percentile of what the series actually did over the period, times a
//! margin (or a low percentile divided by it where low values are bad), so an alert means
//! "outside this host's normal". The expressions use the exporter's raw metrics, so the file
//! works in any Prometheus scraping pulse-exporter; every rule carries a comment saying how
//! its threshold was derived. Series from several analyzer targets are pooled per label set,
//! because the analyzer's target names are not Prometheus labels.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::storage::{Reader, StoreError};
use crate::units::Unit;
use crate::window;

/// Learning settings.
#[derive(Debug, Clone, Copy)]
pub struct Learn {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Percentile of the observed values (e.g. 99).
    pub percentile: f64,
    /// Headroom multiplier over the percentile (e.g. 1.2).
    pub margin: f64,
    /// Series with fewer points are skipped: a percentile of a handful of samples is noise.
    pub min_samples: usize,
}

/// One learnable series kind and how it becomes PromQL.
struct Kind {
    /// Series in the history.
    name: &'static str,
    alert: &'static str,
    what: &'static str,
    /// Labels that tell the series apart (and appear in the alert's selector).
    keys: &'static [&'static str],
    /// PromQL of the same quantity; `{sel}` is replaced by the label matchers.
    expr: &'static str,
    higher_is_worse: bool,
    /// Thresholds are kept inside this range (ratios cannot exceed 1).
    cap: Option<f64>,
    unit: Unit,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "pulse:cpu_utilisation:ratio",
        alert: "PulseCpuUtilisationHigh",
        what: "CPU utilisation",
        keys: &[],
        expr: "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))",
        higher_is_worse: true,
        cap: Some(0.99),
        unit: Unit::Ratio,
    },
    Kind {
        name: "pulse:memory_available:ratio",
        alert: "PulseMemoryAvailableLow",
        what: "available memory",
        keys: &[],
        expr: "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        higher_is_worse: false,
        cap: None,
        unit: Unit::Ratio,
    },
    Kind {
        name: "node_load1",
        alert: "PulseLoadHigh",
        what: "1-minute load average",
        keys: &[],
        expr: "node_load1",
        higher_is_worse: true,
        cap: None,
        unit: Unit::Plain,
    },
    Kind {
        name: "pulse:filesystem_used:ratio",
        alert: "PulseFilesystemFillHigh",
        what: "filesystem fill",
        keys: &["mountpoint"],
        expr: "1 - node_filesystem_avail_bytes{sel} / node_filesystem_size_bytes{sel}",
        higher_is_worse: true,
        cap: Some(0.99),
        unit: Unit::Ratio,
    },
    Kind {
        name: "pulse:probe_latency:seconds",
        alert: "PulseProbeSlow",
        what: "probe duration",
        keys: &["target", "module"],
        expr: "probe_duration_seconds{sel}",
        higher_is_worse: true,
        cap: None,
        unit: Unit::Seconds,
    },
    Kind {
        name: "pulse:process_rss:bytes",
        alert: "PulseProcessMemoryHigh",
        what: "resident memory of the process group",
        keys: &["groupname"],
        expr: "namedprocess_namegroup_memory_bytes{memtype=\"resident\",sel}",
        higher_is_worse: true,
        cap: None,
        unit: Unit::Bytes,
    },
];

/// Nearest-rank percentile (the smallest value with at least `p` % of values at or below
/// it): always an observed value, which keeps the comments checkable against the data.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The lowest and highest hour-of-day percentile, `(hour, value)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Daily {
    pub low: (i64, f64),
    pub high: (i64, f64),
}

/// A daily pattern, if the history shows one: the percentile per UTC hour of day, reported
/// when at least 12 hours have 5 or more points and the busiest hour's percentile is at least
/// 1.5 times the quietest's. Cheap seasonality: it explains the threshold, it does not
/// change it (a per-hour threshold would need a rule per hour).
pub fn daily_pattern(points: &[(i64, f64)], p: f64) -> Option<Daily> {
    let mut hours: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (ts, v) in points {
        hours
            .entry(ts.div_euclid(3_600_000) % 24)
            .or_default()
            .push(*v);
    }
    let mut by_hour = Vec::new();
    for (hour, mut values) in hours {
        if values.len() >= 5 {
            values.sort_by(f64::total_cmp);
            by_hour.extend(percentile(&values, p).map(|v| (hour, v)));
        }
    }
    if by_hour.len() < 12 {
        return None;
    }
    let low = by_hour.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))?;
    // `max_by` keeps the last of equal maxima; reversed, that is the earliest hour.
    let high = by_hour
        .iter()
        .rev()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (low.1 > 0.0 && high.1 >= 1.5 * low.1).then_some(Daily { low, high })
}

/// One learned threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub alert: &'static str,
    pub labels: BTreeMap<String, String>,
    pub expr: String,
    pub threshold: f64,
    pub comment: String,
}

/// The values of one kind and label set, from every target that has it.
#[derive(Default)]
struct Pool {
    values: Vec<(i64, f64)>,
    targets: Vec<String>,
}

/// Learns one threshold per kind and label set; returns them and the skipped series.
pub fn learn(reader: &Reader, learn: &Learn) -> Result<(Vec<Suggestion>, Vec<String>), StoreError> {
    let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    let summaries = window::summarise(reader, &names, learn.start_ms, learn.end_ms)?;
    let mut pooled: BTreeMap<(usize, BTreeMap<String, String>), Pool> = BTreeMap::new();
    for s in &summaries {
        let Some(index) = KINDS.iter().position(|k| k.name == s.series.name) else {
            continue;
        };
        let labels: BTreeMap<String, String> = KINDS[index]
            .keys
            .iter()
            .filter_map(|k| {
                s.series
                    .labels
                    .get(*k)
                    .map(|v| ((*k).to_owned(), v.clone()))
            })
            .collect();
        let entry = pooled.entry((index, labels)).or_default();
        entry.values.extend(window::values(
            reader,
            s.series.id,
            learn.start_ms,
            learn.end_ms,
        )?);
        entry.targets.push(s.series.target.clone());
    }
    let mut suggestions = Vec::new();
    let mut skipped = Vec::new();
    for ((index, labels), Pool { values, targets }) in pooled {
        let kind = &KINDS[index];
        if values.len() < learn.min_samples {
            skipped.push(format!(
                "{} {labels:?}: only {} samples (need {})",
                kind.name,
                values.len(),
                learn.min_samples
            ));
            continue;
        }
        let p = if kind.higher_is_worse {
            learn.percentile
        } else {
            100.0 - learn.percentile
        };
        let daily = daily_pattern(&values, p);
        let mut values: Vec<f64> = values.into_iter().map(|(_, v)| v).collect();
        values.sort_by(f64::total_cmp);
        let observed = percentile(&values, p);
        let Some(observed) = observed else { continue };
        let raw = if kind.higher_is_worse {
            observed * learn.margin
        } else {
            observed / learn.margin
        };
        let threshold = kind.cap.map_or(raw, |cap| raw.min(cap));
        let op = if kind.higher_is_worse { "×" } else { "÷" };
        let mut comment = format!(
            "{} {}: p{p} of {} samples ({}) = {}; threshold {} = p{p} {op} {}",
            kind.what,
            labels_text(&labels),
            values.len(),
            targets.join(", "),
            kind.unit.show(observed),
            kind.unit.show(threshold),
            learn.margin,
        );
        if threshold < raw {
            comment.push_str(&format!(
                " (capped from {}: the ratio cannot go higher)",
                kind.unit.show(raw)
            ));
        }
        if let Some(d) = daily {
            comment.push_str(&format!(
                "; daily pattern: p{p} by hour of day (UTC) runs from {} at {:02}:00 to {} at \
                 {:02}:00, so one threshold is loose in the quiet hours",
                kind.unit.show(d.low.1),
                d.low.0,
                kind.unit.show(d.high.1),
                d.high.0
            ));
        }
        let sel = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", promql_string(v)))
            .collect::<Vec<_>>()
            .join(",");
        let expr = if kind.expr.contains(",sel}") {
            let sel = if sel.is_empty() {
                String::new()
            } else {
                format!(",{sel}")
            };
            kind.expr.replace(",sel}", &format!("{sel}}}"))
        } else if sel.is_empty() {
            kind.expr.replace("{sel}", "")
        } else {
            kind.expr.replace("{sel}", &format!("{{{sel}}}"))
        };
        let cmp = if kind.higher_is_worse { ">" } else { "<" };
        suggestions.push(Suggestion {
            alert: kind.alert,
            labels,
            expr: format!("{expr} {cmp} {threshold}"),
            threshold,
            comment,
        });
    }
    Ok((suggestions, skipped))
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(whole host)".to_owned();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// A PromQL (and YAML) double-quoted string: JSON escaping is valid in both.
fn promql_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Writes the rule file. YAML is written by hand because the derivation comments are the
/// point of the file and YAML serialisers drop comments; every scalar is JSON-quoted.
pub fn write_rules(
    suggestions: &[Suggestion],
    skipped: &[String],
    learn: &Learn,
    source: &Path,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let time = |ms: i64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
        )
    };
    writeln!(
        out,
        "# Generated by pulse-analyzer suggest-rules from {}.",
        source.display()
    )?;
    writeln!(
        out,
        "# History {} .. {}.\n\
         # Higher-is-worse series: threshold = p{} x {}; lower-is-worse series: threshold = p{} / {}.\n\
         # Percentiles are nearest-rank over raw samples (rollup maxima where raw samples have\n\
         # aged out). Check with `promtool check rules`.",
        time(learn.start_ms),
        time(learn.end_ms),
        learn.percentile,
        learn.margin,
        100.0 - learn.percentile,
        learn.margin
    )?;
    for line in skipped {
        writeln!(out, "# skipped {line}")?;
    }
    writeln!(out, "groups:\n  - name: pulse-learned\n    rules:")?;
    if suggestions.is_empty() {
        writeln!(out, "      []")?;
    }
    for s in suggestions {
        writeln!(out, "      # {}", s.comment)?;
        writeln!(out, "      - alert: {}", s.alert)?;
        writeln!(out, "        expr: {}", promql_string(&s.expr))?;
        writeln!(out, "        for: 10m")?;
        writeln!(out, "        labels:\n          severity: warning")?;
        for (k, v) in &s.labels {
            writeln!(out, "          {k}: {}", promql_string(v))?;
        }
        writeln!(out, "        annotations:")?;
        writeln!(
            out,
            "          summary: {}",
            promql_string(&format!("{} outside its learned normal", s.alert))
        )?;
        writeln!(out, "          description: {}", promql_string(&s.comment))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&values, 1.0), Some(1.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&[5.0], 50.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn daily_pattern_needs_a_real_swing() {
        // Two days at 5-minute steps: busy (0.8) from 09:00 to 17:00 UTC, quiet (0.2) otherwise.
        let busy: Vec<(i64, f64)> = (0..576)
            .map(|i| {
                let ts = i * 300_000;
                let hour = (ts / 3_600_000) % 24;
                (ts, if (9..17).contains(&hour) { 0.8 } else { 0.2 })
            })
            .collect();
        let daily = daily_pattern(&busy, 99.0).unwrap();
        assert_eq!(daily.low, (0, 0.2));
        assert_eq!(daily.high, (9, 0.8));
        let flat: Vec<(i64, f64)> = busy.iter().map(|(ts, _)| (*ts, 0.5)).collect();
        assert_eq!(daily_pattern(&flat, 99.0), None);
        assert_eq!(daily_pattern(&busy[..100], 99.0), None, "under 12 hours");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(promql_string("a\"b"), "\"a\\\"b\"");
    }
}
