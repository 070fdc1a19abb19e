//! Parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Written here rather than taken from a crate because the candidates either reject a whole
//! document on the first bad line (`openmetrics-parser`, a pest grammar) or do not know
//! OpenMetrics and label escapes (`prometheus-parse`). A sidecar scraping exporters it does
//! not control must keep every good line of a partly broken scrape, so this parser works
//! line by line: a malformed line becomes a [`LineError`] (counted in
//! `pulse_analyzer_parse_errors_total`) and the rest of the scrape is kept. It never panics:
//! it only slices at ASCII delimiters and is fuzzed (`analyzer/fuzz`).

use std::collections::{HashMap, HashSet};

/// Which grammar the body follows, from the response's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

/// The declared type of a metric family (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "untyped" | "unknown" => Self::Unknown,
            _ => return None,
        })
    }
}

/// Label pairs, sorted by name once a line is fully parsed.
pub type Labels = Vec<(String, String)>;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Sorted by label name, so equal series compare equal.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the exposition gives one.
    pub timestamp_ms: Option<i64>,
}

/// A rejected line (1-based line number) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub samples: Vec<Sample>,
    /// Family name to declared type.
    pub types: HashMap<String, MetricType>,
    pub errors: Vec<LineError>,
}

impl Parsed {
    /// The declared type of the family a sample belongs to (`foo_bucket` belongs to `foo`).
    pub fn type_of(&self, sample_name: &str) -> MetricType {
        family_candidates(sample_name)
            .find_map(|family| self.types.get(family).copied())
            .unwrap_or(MetricType::Unknown)
    }
}

/// Longer label values are rejected: they are a bug or an attack, and every stored sample
/// would carry them.
pub const MAX_LABEL_VALUE_BYTES: usize = 4096;
/// Series with more labels than this are rejected for the same reason.
pub const MAX_LABELS: usize = 64;

const SUFFIXES: &[&str] = &[
    "_bucket", "_count", "_sum", "_total", "_created", "_info", "_gcount", "_gsum",
];

fn family_candidates(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(SUFFIXES.iter().filter_map(move |s| name.strip_suffix(s)))
}

/// Parses a whole scrape body; never fails as a whole.
pub fn parse(body: &str, format: Format) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    let mut eof_at = None;
    let mut lines = body.split('\n').enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let number = index + 1;
        // The final newline leaves one empty piece after it; that is not a line.
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        if let Some(eof) = eof_at {
            parsed.errors.push(LineError {
                line: number,
                message: format!("content after # EOF (line {eof})"),
            });
            break;
        }
        let line = match format {
            Format::Text => raw.strip_suffix('\r').unwrap_or(raw),
            Format::OpenMetrics => raw,
        };
        let result = if let Some(comment) = line.strip_prefix('#') {
            if format == Format::OpenMetrics && comment == " EOF" {
                eof_at = Some(number);
                Ok(None)
            } else {
                parse_comment(comment, format, &mut parsed.types).map(|()| None)
            }
        } else if line.trim().is_empty() {
            match format {
                Format::Text => Ok(None),
                Format::OpenMetrics => Err("empty line".to_owned()),
            }
        } else {
            parse_sample(line, format).map(Some)
        };
        match result {
            Ok(None) => {}
            Ok(Some(sample)) => {
                if let Err(message) = check_sample(&sample, &parsed.types) {
                    parsed.errors.push(LineError {
                        line: number,
                        message,
                    });
                } else if seen.insert((sample.name.clone(), sample.labels.clone())) {
                    parsed.samples.push(sample);
                } else {
                    parsed.errors.push(LineError {
                        line: number,
                        message: format!("duplicate series {}", sample.name),
                    });
                }
            }
            Err(message) => parsed.errors.push(LineError {
                line: number,
                message,
            }),
        }
    }
    if format == Format::OpenMetrics && eof_at.is_none() {
        parsed.errors.push(LineError {
            line: body.lines().count().max(1),
            message: "missing # EOF (truncated body?)".to_owned(),
        });
    }
    parsed
}

fn parse_comment(
    comment: &str,
    format: Format,
    types: &mut HashMap<String, MetricType>,
) -> Result<(), String> {
    let Some(rest) = comment.strip_prefix(' ') else {
        return match format {
            Format::Text => Ok(()),
            Format::OpenMetrics => Err("comment must start with \"# \"".to_owned()),
        };
    };
    let mut parts = rest.splitn(3, ' ');
    let keyword = parts.next().unwrap_or("");
    match keyword {
        "TYPE" => {
            let name = parts.next().unwrap_or("");
            let kind = parts.next().unwrap_or("").trim();
            if !valid_metric_name(name) {
                return Err(format!("invalid metric name {name:?} in # TYPE"));
            }
            let kind = MetricType::parse(kind).ok_or_else(|| format!("unknown type {kind:?}"))?;
            if types.insert(name.to_owned(), kind).is_some() {
                return Err(format!("second # TYPE for {name}"));
            }
            Ok(())
        }
        "HELP" | "UNIT" => {
            let name = parts.next().unwrap_or("");
            if valid_metric_name(name) {
                Ok(())
            } else {
                Err(format!("invalid metric name {name:?} in # {keyword}"))
            }
        }
        _ => match format {
            Format::Text => Ok(()),
            Format::OpenMetrics => Err(format!("unknown comment keyword {keyword:?}")),
        },
    }
}

/// Type-dependent checks: buckets need a numeric `le`, counters cannot go negative.
fn check_sample(sample: &Sample, types: &HashMap<String, MetricType>) -> Result<(), String> {
    let label = |name: &str| {
        sample
            .labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(family) = sample.name.strip_suffix("_bucket")
        && matches!(
            types.get(family),
            Some(MetricType::Histogram | MetricType::GaugeHistogram)
        )
    {
        match label("le") {
            Some(le) if parse_float(le).is_some() => {}
            Some(le) => return Err(format!("bucket of {family} has invalid le={le:?}")),
            None => return Err(format!("bucket of {family} has no le label")),
        }
    }
    if let Some(quantile) = label("quantile")
        && matches!(types.get(&sample.name), Some(MetricType::Summary))
        && parse_float(quantile).is_none()
    {
        return Err(format!("invalid quantile={quantile:?}"));
    }
    Ok(())
}

fn parse_sample(line: &str, format: Format) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' ', '\t'])
        .ok_or_else(|| "sample line has no value".to_owned())?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {:?}", truncate(name)));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let (parsed, after) = parse_labels(&rest[1..])?;
        labels = parsed;
        rest = after;
    }
    // Text format allows tabs and runs of blanks; OpenMetrics exactly one space.
    let rest = match format {
        Format::Text if rest.starts_with([' ', '\t']) => rest.trim_start_matches([' ', '\t']),
        Format::Text => return Err("expected whitespace before the value".to_owned()),
        Format::OpenMetrics => rest
            .strip_prefix(' ')
            .ok_or_else(|| "expected one space before the value".to_owned())?,
    };
    // An OpenMetrics exemplar follows ` # `; it is not stored.
    let rest = match format {
        Format::OpenMetrics => rest.split_once(" # ").map_or(rest, |(value, _)| value),
        Format::Text => rest,
    };
    let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
    let value_text = fields.next().ok_or_else(|| "missing value".to_owned())?;
    let value = parse_float(value_text)
        .ok_or_else(|| format!("invalid value {:?}", truncate(value_text)))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(ts) => Some(parse_timestamp(ts, format)?),
    };
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".to_owned());
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses `a="x",b="y"}` (the opening brace already consumed); returns the labels and the
/// text after the closing brace.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        text = text.trim_start_matches([' ', '\t']);
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = text
            .find('=')
            .ok_or_else(|| "label without '=' (truncated line?)".to_owned())?;
        let name = text[..eq].trim_end();
        if !valid_label_name(name) {
            return Err(format!("invalid label name {:?}", truncate(name)));
        }
        let after_eq = text[eq + 1..].trim_start();
        let quoted = after_eq
            .strip_prefix('"')
            .ok_or_else(|| format!("value of label {name} is not quoted"))?;
        let (value, after) = unescape_label_value(quoted)?;
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return Err(format!(
                "value of label {name} is {} bytes (limit {MAX_LABEL_VALUE_BYTES})",
                value.len()
            ));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("duplicate label {name}"));
        }
        if labels.len() == MAX_LABELS {
            return Err(format!("more than {MAX_LABELS} labels"));
        }
        labels.push((name.to_owned(), value));
        let after = after.trim_start_matches([' ', '\t']);
        if let Some(next) = after.strip_prefix(',') {
            text = next;
        } else if after.starts_with('}') {
            text = after;
        } else {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

/// Reads up to the closing quote, resolving `\\`, `\"` and `\n`.
fn unescape_label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => return Err(format!("invalid escape \\{other} in label value")),
                None => break,
            },
            '\n' => return Err("newline in label value".to_owned()),
            c => value.push(c),
        }
    }
    Err("unterminated label value (truncated line?)".to_owned())
}

/// Go's `ParseFloat` spellings that exporters use, including `NaN`, `+Inf` and `-Inf`.
pub fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => text.parse().ok(),
    }
}

fn parse_timestamp(text: &str, format: Format) -> Result<i64, String> {
    let invalid = || format!("invalid timestamp {:?}", truncate(text));
    match format {
        Format::Text => text.parse::<i64>().map_err(|_| invalid()),
        Format::OpenMetrics => {
            let seconds = parse_float(text)
                .filter(|s| s.is_finite())
                .ok_or_else(invalid)?;
            let ms = (seconds * 1000.0).round();
            if ms.abs() > 9.0e15 {
                return Err(invalid());
            }
            Ok(ms as i64)
        }
    }
}

pub fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Error messages quote offending text, but never a whole huge line.
fn truncate(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn text_format_with_types_escapes_and_timestamps() {
        let body = "# HELP node_cpu_seconds_total Seconds.\n\
            # TYPE node_cpu_seconds_total counter\n\
            node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 123.5\n\
            node_cpu_seconds_total{mode=\"user\",cpu=\"0\",} 7 1700000000000\n\
            weird{path=\"C:\\\\dir\\\"x\\\"\\nnext\"}\t+Inf\n\
            nan_metric NaN\n\
            neg -Inf\n\
            \n\
            # a free comment\n\
            exp 1.5e3\r\n";
        let parsed = parse(body, Format::Text);
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.samples.len(), 6);
        assert_eq!(
            parsed.samples[0].labels,
            labels(&[("cpu", "0"), ("mode", "idle")])
        );
        assert_eq!(parsed.samples[1].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(
            parsed.samples[1].labels,
            labels(&[("cpu", "0"), ("mode", "user")])
        );
        assert_eq!(
            parsed.samples[2].labels,
            labels(&[("path", "C:\\dir\"x\"\nnext")])
        );
        assert_eq!(parsed.samples[2].value, f64::INFINITY);
        assert!(parsed.samples[3].value.is_nan());
        assert_eq!(parsed.samples[4].value, f64::NEG_INFINITY);
        assert_eq!(parsed.samples[5].value, 1500.0);
        assert_eq!(
            parsed.type_of("node_cpu_seconds_total"),
            MetricType::Counter
        );
    }

    #[test]
    fn openmetrics_histogram_summary_exemplar_and_eof() {
        let body = "# TYPE req_seconds histogram\n\
            # UNIT req_seconds seconds\n\
            req_seconds_bucket{le=\"0.1\"} 3 # {trace_id=\"abc\"} 0.05 1700000000.5\n\
            req_seconds_bucket{le=\"+Inf\"} 5\n\
            req_seconds_sum 1.25\n\
            req_seconds_count 5\n\
            req_seconds_created 1700000000.000\n\
            # TYPE rpc summary\n\
            rpc{quantile=\"0.5\"} 0.2 1700000000.250\n\
            rpc_sum 10\n\
            rpc_count 50\n\
            # TYPE jobs counter\n\
            jobs_total 4\n\
            # EOF\n";
        let parsed = parse(body, Format::OpenMetrics);
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.samples.len(), 9);
        assert_eq!(parsed.samples[0].value, 3.0);
        assert_eq!(parsed.samples[5].timestamp_ms, Some(1_700_000_000_250));
        assert_eq!(parsed.type_of("req_seconds_bucket"), MetricType::Histogram);
        assert_eq!(parsed.type_of("jobs_total"), MetricType::Counter);
        assert_eq!(parsed.type_of("rpc_count"), MetricType::Summary);
    }

    #[test]
    fn openmetrics_requires_eof_and_nothing_after_it() {
        let truncated = parse("a 1\nb 2\n", Format::OpenMetrics);
        assert_eq!(truncated.samples.len(), 2);
        assert_eq!(truncated.errors.len(), 1);
        assert!(truncated.errors[0].message.contains("missing # EOF"));
        let trailing = parse("a 1\n# EOF\nb 2\n", Format::OpenMetrics);
        assert_eq!(trailing.samples.len(), 1);
        assert_eq!(trailing.errors[0].line, 3);
    }

    /// Every bad line is rejected on its own with its line number; good lines survive.
    #[test]
    fn malformed_corpus_is_rejected_line_by_line() {
        let huge = "x".repeat(MAX_LABEL_VALUE_BYTES + 1);
        let corpus = [
            ("good 1", None),
            ("truncated{a=\"b", Some("unterminated label value")),
            ("truncated{a=", Some("not quoted")),
            ("truncated{a", Some("without '='")),
            ("no_value", Some("has no value")),
            ("no_value{a=\"b\"}", Some("expected whitespace")),
            ("bad_escape{a=\"\\t\"} 1", Some("invalid escape \\t")),
            ("bad_value 1.2.3", Some("invalid value")),
            ("bad_value2 0x1p3", Some("invalid value")),
            ("bad_ts 1 12.5", Some("invalid timestamp")),
            ("1bad_name 1", Some("invalid metric name")),
            ("bad_label{1a=\"x\"} 1", Some("invalid label name")),
            ("dup_label{a=\"x\",a=\"y\"} 1", Some("duplicate label a")),
            ("good 2", Some("duplicate series good")),
            ("good{b=\"1\",a=\"2\"} 1", None),
            ("good{a=\"2\",b=\"1\"} 1", Some("duplicate series good")),
            (&format!("huge{{a=\"{huge}\"}} 1"), Some("limit 4096")),
            ("trailing 1 2 3", Some("after the timestamp")),
            ("# TYPE h histogram", None),
            ("h_bucket{le=\"abc\"} 1", Some("invalid le")),
            ("h_bucket 1", Some("no le label")),
            ("# TYPE h gauge", Some("second # TYPE")),
            ("# TYPE x flux", Some("unknown type")),
            ("unicode{a=\"żółw 🐢\"} 3", None),
            ("last 9", None),
        ];
        let body: String = corpus.iter().map(|(l, _)| format!("{l}\n")).collect();
        let parsed = parse(&body, Format::Text);
        let expected_errors: Vec<(usize, &str)> = corpus
            .iter()
            .enumerate()
            .filter_map(|(i, (_, e))| e.map(|e| (i + 1, e)))
            .collect();
        assert_eq!(
            parsed.errors.len(),
            expected_errors.len(),
            "{:?}",
            parsed.errors
        );
        for (error, (line, needle)) in parsed.errors.iter().zip(&expected_errors) {
            assert_eq!(error.line, *line, "{error:?}");
            assert!(error.message.contains(needle), "{error:?} lacks {needle}");
        }
        let names: Vec<_> = parsed.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["good", "good", "unicode", "last"]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds = [
            "a{",
            "a{b",
            "a{b=\"",
            "a{b=\"\\",
            "{}",
            "a{}",
            "a{} ",
            "a{,} 1",
            "\u{feff}a 1",
            "a{b=\"ü\"",
            "# TYPE",
            "# TYPE a",
            "#",
            "# EOF",
            "a 1 # {",
            "é 1",
        ];
        for seed in seeds {
            for cut in 0..=seed.len() {
                if let Some(prefix) = seed.get(..cut) {
                    let _ = parse(prefix, Format::Text);
                    let _ = parse(prefix, Format::OpenMetrics);
                }
            }
        }
    }

    #[test]
    fn content_type_selects_format() {
        assert_eq!(
            Format::from_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain; version=0.0.4")),
            Format::Text
        );
        assert_eq!(Format::from_content_type(None), Format::Text);
    }
}
