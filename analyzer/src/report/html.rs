//! HTML form of a report: one self-contained file (inline CSS, inline SVG charts, no scripts
//! or external references) so it can be mailed, archived or printed to PDF as is.

use std::fmt::Write as _;
use std::io::Write;

use super::{Report, ReportError, Trend, charts};
use crate::health::Level;
use crate::units::Unit;

/// Text into HTML: the five characters that can break out of text or attribute content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(ms: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
    )
    .to_string()
}

fn level_class(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Notice => "notice",
        Level::Warning => "warning",
        Level::Critical => "critical",
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\
td:first-child,th:first-child{text-align:left}\
.grade{font-size:2em;font-weight:bold}\
.ok{color:#1a7f37}.notice{color:#9a6700}.warning{color:#bc4c00}.critical{color:#cf222e}\
.chart{page-break-inside:avoid;margin-bottom:1em}h2{page-break-after:avoid}";

/// Chart titles in report order.
const CHART_TITLES: &[(&str, &str)] = &[
    ("cpu", "CPU utilisation"),
    ("memory", "Memory available"),
    ("disk", "Filesystem fill"),
    ("disk_io", "Disk throughput"),
    ("network", "Network throughput"),
    ("processes", "Top process groups: CPU cores"),
];

pub fn write(report: &Report, out: &mut (impl Write + ?Sized)) -> Result<(), ReportError> {
    let mut h = String::new();
    let period = &report.period;
    // `write!` to a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Pulse report: {label}</title><style>{STYLE}</style></head><body>\n\
         <h1>Pulse report: {label}</h1>\n<p>{} to {} (generated {})</p>\n\
         <p class=\"grade\">Grade: {}</p>\n",
        time(period.start_ms),
        time(period.end_ms),
        time(report.generated_at_ms),
        report.grade.name(),
        label = escape(&period.label),
    );
    if !report.reasons.is_empty() {
        h.push_str("<ul>");
        for reason in &report.reasons {
            let _ = write!(h, "<li>{}</li>", escape(reason));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Summary</h2>\n<table><tr><th>Number</th><th>Value</th></tr>");
    for n in &report.summary {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&n.name.replace('_', " ")),
            escape(&n.display)
        );
    }
    h.push_str("</table>\n<h2>SLI compliance</h2>\n");
    if report.sli.is_empty() {
        h.push_str("<p>No probes in this period.</p>\n");
    } else {
        h.push_str(
            "<table><tr><th>Probe</th><th>Probes</th><th>Availability</th>\
             <th>Latency avg</th><th>p95</th><th>max</th></tr>",
        );
        let secs = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| Unit::Seconds.show(v));
        for p in &report.sli {
            let _ = write!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                level_class(p.level),
                escape(&p.probe),
                p.samples,
                Unit::Ratio.show(p.availability),
                secs(p.latency_avg_seconds),
                secs(p.latency_p95_seconds),
                secs(p.latency_max_seconds)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<h2>Capacity headroom</h2>\n<table><tr><th>Resource</th><th>Average use</th>\
         <th>Peak use</th><th>Headroom</th></tr>",
    );
    for c in &report.capacity {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            level_class(c.level),
            c.resource,
            escape(&c.subject),
            Unit::Ratio.show(c.average),
            Unit::Ratio.show(c.peak),
            Unit::Ratio.show(c.headroom)
        );
    }
    h.push_str("</table>\n<h2>Resource trends</h2>\n");
    for (chart, title) in CHART_TITLES {
        let lines: Vec<&Trend> = report.trends.iter().filter(|t| t.chart == *chart).collect();
        if lines.is_empty() {
            continue;
        }
        let svg = charts::line_chart(title, &lines, period.start_ms, period.end_ms)?;
        let _ = writeln!(h, "<div class=\"chart\">{svg}</div>");
    }
    if !report.process_groups.is_empty() {
        h.push_str(
            "<h2>Top process groups</h2>\n<table><tr><th>Group</th><th>CPU (avg)</th>\
             <th>Resident memory (max)</th></tr>",
        );
        for g in &report.process_groups {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.groupname),
                g.cpu_cores_avg
                    .map_or_else(|| "-".into(), |v| Unit::Cores.show(v)),
                g.rss_bytes_max
                    .map_or_else(|| "-".into(), |v| Unit::Bytes.show(v))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    out.write_all(h.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
