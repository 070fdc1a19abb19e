//! The scrape snapshot and its two wire encodings.
//!
//! Collectors never touch an encoder: they fill a [`MetricSet`] with plain values, which keeps
//! the blocking `/proc` reads apart from the synchronous encode step (prometheus-client's
//! `Collector::encode` can only fail with `fmt::Error`, so failures must be data, not errors).
//! The set is then encoded once, either as OpenMetrics 1.0 through `prometheus-client` or as
//! the Prometheus text format 0.0.4, which `prometheus-client` does not write and which older
//! scrapers (and `promtool check metrics`) still expect.

use std::borrow::Cow;
use std::fmt::{self, Write};

use prometheus_client::collector::Collector as ClientCollector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The metric type as declared on the `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Monotonic counter. The family name must end in `_total`.
    Counter,
    /// A value whose type the source does not tell (node_exporter's vmstat/netstat fields).
    Untyped,
    Histogram,
}

/// Cumulative histogram buckets (`le` upper bound, count), as Prometheus exposes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Histogram(Histogram),
}

pub type Labels = Vec<(Cow<'static, str>, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: Value,
}

impl Sample {
    /// The labels as borrowed `(name, value)` pairs, the shape encoders and tests compare.
    pub fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_str()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    /// Adds one sample; label keys are usually literals, values come from the data source.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        let labels = labels
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
            .collect();
        self.samples.push(Sample {
            labels,
            value: Value::Number(value),
        });
        self
    }

    /// Adds one sample whose label names are only known at run time (textfile collector).
    pub fn sample_owned(&mut self, labels: Labels, value: Value) -> &mut Self {
        self.samples.push(Sample { labels, value });
        self
    }
}

/// Everything one scrape (or one collector's part of it) produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricSet {
    pub families: Vec<Family>,
}

impl MetricSet {
    /// Starts a new family; samples are added through the returned handle.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> &mut Family {
        self.families.push(Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        });
        let last = self.families.len() - 1;
        &mut self.families[last]
    }

    /// Shorthand for a family with one unlabelled gauge sample.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: f64) {
        self.family(name, help, Kind::Gauge).sample(&[], value);
    }

    /// Shorthand for a family with one unlabelled counter sample.
    pub fn counter(&mut self, name: &'static str, help: &'static str, value: f64) {
        self.family(name, help, Kind::Counter).sample(&[], value);
    }

    pub fn extend(&mut self, other: MetricSet) {
        self.families.extend(other.families);
    }

    /// Sorts families by name and merges families that share a name, so the output has one
    /// HELP/TYPE per name (a duplicate is invalid exposition) and is stable for golden tests.
    /// Of two same-named families with different types, the first one wins and the later
    /// one's samples are dropped: mixing types under one name is not representable.
    pub fn normalize(&mut self) {
        self.families.sort_by(|a, b| a.name.cmp(&b.name));
        let mut merged: Vec<Family> = Vec::with_capacity(self.families.len());
        for family in self.families.drain(..) {
            match merged.last_mut() {
                Some(last) if last.name == family.name => {
                    if last.kind == family.kind {
                        last.samples.extend(family.samples);
                    }
                }
                _ => merged.push(family),
            }
        }
        merged.retain(|f| !f.samples.is_empty());
        self.families = merged;
    }

    /// The number of the first sample of `name` whose labels include all of `labels`: what
    /// collector tests assert on.
    #[cfg(test)]
    pub fn value_of(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.families.iter().find(|f| f.name == name)?;
        let sample = family.samples.iter().find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })?;
        match sample.value {
            Value::Number(v) => Some(v),
            Value::Histogram(_) => None,
        }
    }

    /// Every sample of `name` as owned `(label, value)` pairs and its value; none when the
    /// family is absent. For collector tests that compare whole label sets.
    #[cfg(test)]
    pub fn samples_of(&self, name: &str) -> Vec<(Vec<(String, String)>, Value)> {
        let Some(family) = self.families.iter().find(|f| f.name == name) else {
            return Vec::new();
        };
        family
            .samples
            .iter()
            .map(|s| {
                let labels = s
                    .label_pairs()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (labels, s.value.clone())
            })
            .collect()
    }

    pub fn len_samples(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Encodes as the Prometheus text exposition format 0.0.4.
    pub fn encode_text(&self) -> String {
        let mut out = String::with_capacity(self.len_samples() * 64);
        for family in &self.families {
            // Writing into a String cannot fail.
            let _ = write_text_family(&mut out, family);
        }
        out
    }

    /// Encodes as OpenMetrics 1.0 through prometheus-client, ending in `# EOF`.
    pub fn encode_openmetrics(self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector(self)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

fn write_text_family(out: &mut String, family: &Family) -> fmt::Result {
    let kind = match family.kind {
        Kind::Gauge => "gauge",
        Kind::Counter => "counter",
        Kind::Untyped => "untyped",
        Kind::Histogram => "histogram",
    };
    out.push_str("# HELP ");
    out.push_str(&family.name);
    out.push(' ');
    escape_help(out, &family.help);
    writeln!(out, "\n# TYPE {} {kind}", family.name)?;
    for sample in &family.samples {
        match &sample.value {
            Value::Number(v) => write_text_sample(out, &family.name, "", &sample.labels, None, *v),
            Value::Histogram(h) => {
                let bucket = format!("{}_bucket", family.name);
                for (le, count) in &h.buckets {
                    let le = format_value(*le);
                    write_text_sample(out, &bucket, "", &sample.labels, Some(&le), *count as f64);
                }
                write_text_sample(
                    out,
                    &bucket,
                    "",
                    &sample.labels,
                    Some("+Inf"),
                    h.count as f64,
                );
                write_text_sample(out, &family.name, "_sum", &sample.labels, None, h.sum);
                write_text_sample(
                    out,
                    &family.name,
                    "_count",
                    &sample.labels,
                    None,
                    h.count as f64,
                );
            }
        }
    }
    Ok(())
}

fn write_text_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &Labels,
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let extra = le.map(|le| (Cow::Borrowed("le"), le.to_owned()));
        for (key, val) in labels.iter().chain(extra.iter()) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(key);
            out.push_str("=\"");
            escape_label_value(out, val);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value the way Prometheus parses it: `+Inf`, `-Inf`, `NaN`, and the
/// shortest representation that round-trips otherwise.
pub fn format_value(v: f64) -> String {
    let mut text = String::new();
    write_value(&mut text, v);
    text
}

/// [`format_value`] appended to `out`, without a `String` per sample in the common cases
/// (integers, and values whose plain form is short).
fn write_value(out: &mut String, v: f64) {
    // Writing into a String cannot fail.
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let start = out.len();
        let _ = write!(out, "{v}");
        // `{:e}` needs at least 4 characters ("1e-7") and is only ever shorter for very
        // large or very small magnitudes, whose plain form is long.
        if out.len() - start > 4 {
            let scientific = format!("{v:e}");
            if scientific.len() < out.len() - start {
                out.truncate(start);
                out.push_str(&scientific);
            }
        }
    }
}

/// Adapter that lets prometheus-client encode a finished snapshot.
#[derive(Debug)]
struct SnapshotCollector(MetricSet);

impl ClientCollector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for family in &self.0.families {
            // prometheus-client appends `_total` to counters itself.
            let (name, metric_type) = match family.kind {
                Kind::Gauge => (family.name.as_ref(), MetricType::Gauge),
                Kind::Counter => (
                    family.name.strip_suffix("_total").unwrap_or(&family.name),
                    MetricType::Counter,
                ),
                Kind::Untyped => (family.name.as_ref(), MetricType::Unknown),
                Kind::Histogram => (family.name.as_ref(), MetricType::Histogram),
            };
            let mut metric_encoder =
                encoder.encode_descriptor(name, &family.help, None, metric_type)?;
            for sample in &family.samples {
                let labels = sample.label_pairs();
                let sample_encoder = metric_encoder.encode_family(&labels)?;
                match (&sample.value, family.kind) {
                    (Value::Number(v), Kind::Counter) => {
                        ConstCounter::new(*v).encode(sample_encoder)?;
                    }
                    (Value::Number(v), _) => ConstGauge::new(*v).encode(sample_encoder)?,
                    (Value::Histogram(h), _) => {
                        let mut sample_encoder = sample_encoder;
                        sample_encoder
                            .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_set() -> MetricSet {
        let mut set = MetricSet::default();
        set.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            Kind::Counter,
        )
        .sample(&[("cpu", "0"), ("mode", "idle")], 12.5);
        set.family(
            "node_uname_info",
            "Labeled system information.",
            Kind::Gauge,
        )
        .sample(&[("release", "a\"b\\c\nd")], 1.0);
        set.gauge("node_load1", "1m load average.", f64::NAN);
        set
    }

    #[test]
    fn text_format_escapes_and_types() {
        let text = sample_set().encode_text();
        assert!(text.contains("# TYPE node_cpu_seconds_total counter\n"));
        assert!(text.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"));
        assert!(text.contains("node_uname_info{release=\"a\\\"b\\\\c\\nd\"} 1\n"));
        assert!(text.contains("node_load1 NaN\n"));
    }

    #[test]
    fn openmetrics_strips_total_from_counter_family_and_ends_with_eof() {
        let text = sample_set().encode_openmetrics().unwrap();
        assert!(text.contains("# TYPE node_cpu_seconds counter\n"), "{text}");
        assert!(
            text.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn normalize_merges_same_name_and_sorts() {
        let mut set = MetricSet::default();
        set.gauge("b", "b", 1.0);
        set.gauge("a", "a", 1.0);
        set.family("b", "b", Kind::Gauge).sample(&[("x", "y")], 2.0);
        set.counter("b", "b", 3.0);
        set.normalize();
        let names: Vec<_> = set.families.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(set.families[1].samples.len(), 2);
    }

    #[test]
    fn histogram_text_has_cumulative_buckets_and_inf() {
        let mut set = MetricSet::default();
        set.family(
            "pulse_probe_duration_seconds",
            "Probe latency.",
            Kind::Histogram,
        )
        .sample_owned(
            vec![(Cow::Borrowed("target"), "web".into())],
            Value::Histogram(Histogram {
                sum: 0.3,
                count: 3,
                buckets: vec![(0.1, 1), (0.5, 3)],
            }),
        );
        let text = set.encode_text();
        assert!(
            text.contains("pulse_probe_duration_seconds_bucket{target=\"web\",le=\"0.1\"} 1\n")
        );
        assert!(
            text.contains("pulse_probe_duration_seconds_bucket{target=\"web\",le=\"+Inf\"} 3\n")
        );
        assert!(text.contains("pulse_probe_duration_seconds_count{target=\"web\"} 3\n"));
    }

    #[test]
    fn values_format_like_prometheus() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1.5e300), "1.5e300");
        assert_eq!(format_value(1e-7), "1e-7");
        assert_eq!(format_value(0.0001), "1e-4");
        assert_eq!(format_value(123.456), "123.456");
        assert_eq!(format_value(-2.5), "-2.5");
        assert_eq!(format_value(1e15), "1e15");
    }
}
