//! node_exporter's textfile collector: every `*.prom` file in `--collector.textfile.directory`
//! is parsed as Prometheus text format and served as is, next to
//! `node_textfile_mtime_seconds{file}` and `node_textfile_scrape_error`.
//!
//! Failure is data here: a malformed file is logged, skipped and turns
//! `node_textfile_scrape_error` to 1 while every other file is still served, and the collector
//! itself reports success, so the error can be alerted on. As in node_exporter, samples with
//! client-side timestamps are rejected (the scrape time is the only time), and a metric that
//! appears in several files must have the same type in each.
//!
//! The parser is our own, strict one: the crates that parse the text format either skip lines
//! they do not understand without saying so (`prometheus-parse`), which would hide exactly the
//! mistakes this collector must report, or are LGPL (`openmetrics-parser`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Family, Histogram, Kind, Labels, MetricSet, Value};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "textfile",
    default_enabled: false,
    help: "Metrics from *.prom files in --collector.textfile.directory (node_exporter semantics).",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let directory = ctx.config.textfile.directory.clone().ok_or_else(|| {
        CollectorError::Other(
            "needs --collector.textfile.directory (or textfile.directory in the config file)"
                .into(),
        )
    })?;
    Ok(Box::new(TextfileCollector { directory }))
}

struct TextfileCollector {
    directory: PathBuf,
}

impl Collector for TextfileCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut error = false;
        let mut files = Vec::new();
        match std::fs::read_dir(&self.directory) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "prom") && path.is_file() {
                        files.push(path);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(collector = "textfile", directory = %self.directory.display(), error = %e, "cannot read textfile directory");
                error = true;
            }
        }
        files.sort();

        let mut merged: BTreeMap<String, Family> = BTreeMap::new();
        let mut mtimes = Vec::new();
        for path in &files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let result = std::fs::read_to_string(path)
                .and_then(|text| Ok((text, std::fs::metadata(path)?.modified()?)))
                .map_err(|e| e.to_string())
                .and_then(|(text, modified)| {
                    let families = parse(&text).map_err(|e| e.to_string())?;
                    merge(&mut merged, families)?;
                    Ok(modified)
                });
            match result {
                Ok(modified) => {
                    let seconds = modified
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    mtimes.push((name, seconds));
                }
                Err(message) => {
                    tracing::warn!(collector = "textfile", file = %path.display(), error = %message, "skipping malformed textfile");
                    error = true;
                }
            }
        }

        out.families.extend(merged.into_values());
        let family = out.family(
            "node_textfile_mtime_seconds",
            "Unix mtime of each *.prom file that was read successfully.",
            Kind::Gauge,
        );
        for (file, seconds) in &mtimes {
            family.sample(&[("file", file)], *seconds);
        }
        out.gauge(
            "node_textfile_scrape_error",
            "1 if the textfile directory or any *.prom file in it could not be read or parsed, else 0.",
            if error { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}

/// Adds one file's families to those of the files before it, or nothing at all if they
/// conflict: a name with another type, or a series another file already has.
fn merge(merged: &mut BTreeMap<String, Family>, families: Vec<Family>) -> Result<(), String> {
    for family in &families {
        if let Some(existing) = merged.get(family.name.as_ref()) {
            if existing.kind != family.kind {
                return Err(format!(
                    "metric {} has type {:?} here but {:?} in an earlier file",
                    family.name, family.kind, existing.kind
                ));
            }
            let seen: HashSet<&Labels> = existing.samples.iter().map(|s| &s.labels).collect();
            if let Some(dup) = family.samples.iter().find(|s| seen.contains(&s.labels)) {
                return Err(format!(
                    "series {}{:?} is already exported by an earlier file",
                    family.name, dup.labels
                ));
            }
        }
    }
    for family in families {
        match merged.get_mut(family.name.as_ref()) {
            // The first file's HELP wins, as it does in node_exporter.
            Some(existing) => existing.samples.extend(family.samples),
            None => {
                merged.insert(family.name.to_string(), family);
            }
        }
    }
    Ok(())
}

/// A text-format error and the 1-based line it is on.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A family while its lines are read; histograms are assembled at the end.
struct Pending {
    name: String,
    help: Option<String>,
    kind: Option<Kind>,
    /// (sample name suffix, labels, value)
    samples: Vec<(String, Labels, f64)>,
}

/// Parses Prometheus text format 0.0.4 strictly: a family's lines must be contiguous, every
/// sample must parse, timestamps and summaries are rejected.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut done: Vec<Family> = Vec::new();
    let mut seen_names: HashSet<String> = HashSet::new();
    let mut current: Option<Pending> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or_default();
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts
                .next()
                .filter(|n| valid_metric_name(n))
                .ok_or_else(|| err(format!("{keyword} line without a valid metric name")))?;
            let rest = parts.next().unwrap_or_default().trim();
            let pending =
                switch_family(&mut current, &mut done, &mut seen_names, name).map_err(err)?;
            if keyword == "HELP" {
                if pending.help.is_some() {
                    return Err(err(format!("second HELP line for {name}")));
                }
                pending.help = Some(unescape_help(rest));
            } else {
                if pending.kind.is_some() {
                    return Err(err(format!("second TYPE line for {name}")));
                }
                if !pending.samples.is_empty() {
                    return Err(err(format!("TYPE line for {name} after its samples")));
                }
                pending.kind = Some(match rest {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    "untyped" => Kind::Untyped,
                    "histogram" => Kind::Histogram,
                    "summary" => return Err(err(format!("{name}: summaries are not supported"))),
                    other => return Err(err(format!("unknown metric type {other:?}"))),
                });
            }
            continue;
        }
        let (sample_name, labels, value) = parse_sample(line).map_err(err)?;
        // A histogram's `_bucket`/`_sum`/`_count` lines belong to the open family.
        let (family_name, suffix) = match &current {
            Some(p) if p.kind == Some(Kind::Histogram) => {
                match ["_bucket", "_sum", "_count"]
                    .iter()
                    .find(|s| sample_name.strip_suffix(*s) == Some(p.name.as_str()))
                {
                    Some(suffix) => (p.name.clone(), (*suffix).to_owned()),
                    None => (sample_name.clone(), String::new()),
                }
            }
            _ => (sample_name.clone(), String::new()),
        };
        let pending =
            switch_family(&mut current, &mut done, &mut seen_names, &family_name).map_err(err)?;
        if pending.kind == Some(Kind::Histogram) && suffix.is_empty() {
            return Err(err(format!(
                "histogram {family_name} has a sample without _bucket, _sum or _count"
            )));
        }
        if pending
            .samples
            .iter()
            .any(|(s, l, _)| *s == suffix && *l == labels)
        {
            return Err(err(format!("duplicate series {sample_name}")));
        }
        pending.samples.push((suffix, labels, value));
    }
    if let Some(p) = current.take() {
        done.push(finish(p).map_err(|message| ParseError {
            line: text.lines().count(),
            message,
        })?);
    }
    done.retain(|f| !f.samples.is_empty());
    Ok(done)
}

/// Makes `name` the open family, closing the previous one. A name that was closed before
/// may not come back: the format requires a family's lines to be together.
fn switch_family<'a>(
    current: &'a mut Option<Pending>,
    done: &mut Vec<Family>,
    seen: &mut HashSet<String>,
    name: &str,
) -> Result<&'a mut Pending, String> {
    if current.as_ref().is_none_or(|p| p.name != name) {
        if let Some(previous) = current.take() {
            done.push(finish(previous)?);
        }
        if !seen.insert(name.to_owned()) {
            return Err(format!("lines of {name} are not together"));
        }
        *current = Some(Pending {
            name: name.to_owned(),
            help: None,
            kind: None,
            samples: Vec::new(),
        });
    }
    current
        .as_mut()
        .ok_or_else(|| "internal: no open family".to_owned())
}

fn finish(p: Pending) -> Result<Family, String> {
    let kind = p.kind.unwrap_or(Kind::Untyped);
    let help = p
        .help
        .unwrap_or_else(|| format!("Metric read from a textfile: {}", p.name));
    let mut family = Family {
        name: Cow::Owned(p.name),
        help: Cow::Owned(help),
        kind,
        samples: Vec::new(),
    };
    if kind != Kind::Histogram {
        for (_, labels, value) in p.samples {
            family.sample_owned(labels, Value::Number(value));
        }
        return Ok(family);
    }
    // Group bucket/sum/count lines by their labels (without `le`).
    let mut series: Vec<(Labels, Histogram, Option<u64>)> = Vec::new();
    for (suffix, mut labels, value) in p.samples {
        let le = labels
            .iter()
            .position(|(k, _)| k == "le")
            .map(|i| labels.remove(i).1);
        let index = match series.iter().position(|(l, _, _)| *l == labels) {
            Some(i) => i,
            None => {
                series.push((
                    labels,
                    Histogram {
                        sum: 0.0,
                        count: 0,
                        buckets: Vec::new(),
                    },
                    None,
                ));
                series.len() - 1
            }
        };
        let (_, histogram, inf) = &mut series[index];
        let as_count = |v: f64| {
            (v >= 0.0 && v.fract() == 0.0)
                .then_some(v as u64)
                .ok_or_else(|| format!("{}{suffix}: count {v} is not a whole number", family.name))
        };
        match suffix.as_str() {
            "_sum" => histogram.sum = value,
            "_count" => histogram.count = as_count(value)?,
            _ => {
                let le = le.ok_or_else(|| format!("{}_bucket without le", family.name))?;
                let bound: f64 = parse_float(&le)
                    .ok_or_else(|| format!("{}_bucket: bad le {le:?}", family.name))?;
                if bound == f64::INFINITY {
                    *inf = Some(as_count(value)?);
                } else {
                    histogram.buckets.push((bound, as_count(value)?));
                }
            }
        }
    }
    for (labels, mut histogram, inf) in series {
        histogram
            .buckets
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(inf) = inf {
            if histogram.count != 0 && histogram.count != inf {
                return Err(format!(
                    "{}: _count differs from the +Inf bucket",
                    family.name
                ));
            }
            histogram.count = inf;
        }
        family.sample_owned(labels, Value::Histogram(histogram));
    }
    Ok(family)
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// `name{label="value",...} value` — anything after the value is a timestamp, which
/// textfiles may not carry.
fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remainder) = parse_labels(after)?;
        labels = parsed;
        rest = remainder;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields
        .next()
        .ok_or_else(|| format!("{name}: missing value"))?;
    let value =
        parse_float(value_text).ok_or_else(|| format!("{name}: bad value {value_text:?}"))?;
    if fields.next().is_some() {
        return Err(format!(
            "{name}: client-side timestamps are not supported in textfiles"
        ));
    }
    Ok((name.to_owned(), labels, value))
}

/// Parses `a="x",b="y"}` and returns the labels and what follows the `}`.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = text
            .find('=')
            .ok_or_else(|| "label without '='".to_owned())?;
        let key = text[..eq].trim();
        if !valid_label_name(key) {
            return Err(format!("invalid label name {key:?}"));
        }
        if labels.iter().any(|(k, _)| k == key) {
            return Err(format!("duplicate label {key:?}"));
        }
        let after = text[eq + 1..].trim_start();
        let mut chars = after
            .strip_prefix('"')
            .ok_or_else(|| format!("label {key}: value must be quoted"))?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err(format!("label {key}: bad escape")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label {key}: unterminated value")),
            }
        };
        labels.push((Cow::Owned(key.to_owned()), value));
        // Skip the closing quote, then a comma or the closing brace.
        text = after[1 + end + 1..].trim_start();
        if let Some(rest) = text.strip_prefix(',') {
            text = rest;
        } else if !text.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_typed_families_labels_and_escapes() {
        let families = parse(
            "# HELP jobs_total Jobs run.\\nSecond line.\n# TYPE jobs_total counter\n\
             jobs_total{queue=\"a\\\"b\",status=\"ok\",} 3\njobs_total{queue=\"c\"} 1e3\n\
             # a comment\n\nlast_run +Inf\n",
        )
        .unwrap();
        assert_eq!(families.len(), 2);
        assert_eq!(families[0].name, "jobs_total");
        assert_eq!(families[0].kind, Kind::Counter);
        assert_eq!(families[0].help, "Jobs run.\nSecond line.");
        assert_eq!(families[0].samples[0].labels[0].1, "a\"b");
        assert_eq!(families[0].samples[1].value, Value::Number(1000.0));
        assert_eq!(families[1].kind, Kind::Untyped);
        assert_eq!(families[1].samples[0].value, Value::Number(f64::INFINITY));
    }

    #[test]
    fn assembles_histograms() {
        let families = parse(
            "# TYPE lat histogram\nlat_bucket{le=\"0.5\",op=\"r\"} 2\nlat_bucket{op=\"r\",le=\"0.1\"} 1\n\
             lat_bucket{op=\"r\",le=\"+Inf\"} 3\nlat_sum{op=\"r\"} 0.9\nlat_count{op=\"r\"} 3\n",
        )
        .unwrap();
        assert_eq!(
            families[0].samples[0].value,
            Value::Histogram(Histogram {
                sum: 0.9,
                count: 3,
                buckets: vec![(0.1, 1), (0.5, 2)]
            })
        );
        assert_eq!(families[0].samples[0].labels.len(), 1);
    }

    #[test]
    fn rejects_malformed_input_with_line_numbers() {
        assert_eq!(
            err("ok 1\nbad{x=\"1\" 2\n"),
            "line 2: expected ',' or '}' after label x"
        );
        assert_eq!(
            err("a 1 1700000000000\n"),
            "line 1: a: client-side timestamps are not supported in textfiles"
        );
        assert_eq!(err("a one\n"), "line 1: a: bad value \"one\"");
        assert_eq!(err("1a 1\n"), "line 1: invalid metric name \"1a\"");
        assert_eq!(
            err("a 1\nb 1\na 2\n"),
            "line 3: lines of a are not together"
        );
        assert_eq!(err("a 1\na 2\n"), "line 2: duplicate series a");
        assert_eq!(
            err("# TYPE a gauge\n# TYPE a counter\n"),
            "line 2: second TYPE line for a"
        );
        assert_eq!(
            err("# TYPE s summary\n"),
            "line 1: s: summaries are not supported"
        );
        assert_eq!(
            err("a{x=\"1\",x=\"2\"} 1\n"),
            "line 1: duplicate label \"x\""
        );
        assert_eq!(err("a{x=1} 1\n"), "line 1: label x: value must be quoted");
        assert_eq!(
            err("# TYPE h histogram\nh_bucket 1\n"),
            "line 2: h_bucket without le"
        );
    }

    #[test]
    fn merge_rejects_type_conflicts_and_duplicate_series() {
        let mut merged = BTreeMap::new();
        merge(
            &mut merged,
            parse("# TYPE a gauge\na{f=\"1\"} 1\n").unwrap(),
        )
        .unwrap();
        merge(
            &mut merged,
            parse("# TYPE a gauge\na{f=\"2\"} 1\n").unwrap(),
        )
        .unwrap();
        assert_eq!(merged["a"].samples.len(), 2);
        assert!(merge(&mut merged, parse("# TYPE a counter\na 1\n").unwrap()).is_err());
        assert!(merge(&mut merged, parse("b 1\na{f=\"1\"} 5\n").unwrap()).is_err());
        // Nothing of a rejected file is kept.
        assert!(!merged.contains_key("b"));
    }
}
