//! CSV form of a report: one `section,subject,metric,value` row per number, the same numbers
//! as the JSON form (values printed in Rust's shortest round-trip form), so a spreadsheet
//! and a script read identical figures.

use std::io::Write;

use super::Report;

/// RFC 4180 quoting for fields holding a comma, quote or newline.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub fn write(report: &Report, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    writeln!(out, "section,subject,metric,value")?;
    let mut row = |section: &str, subject: &str, metric: &str, value: f64| {
        writeln!(
            out,
            "{},{},{},{value}",
            field(section),
            field(subject),
            field(metric)
        )
    };
    row(
        "period",
        &report.period.label,
        "start_ms",
        report.period.start_ms as f64,
    )?;
    row(
        "period",
        &report.period.label,
        "end_ms",
        report.period.end_ms as f64,
    )?;
    for n in &report.summary {
        row("summary", "", n.name, n.value)?;
    }
    for p in &report.sli {
        row("sli", &p.probe, "samples", p.samples as f64)?;
        row("sli", &p.probe, "availability", p.availability)?;
        for (metric, value) in [
            ("latency_avg_seconds", p.latency_avg_seconds),
            ("latency_p95_seconds", p.latency_p95_seconds),
            ("latency_max_seconds", p.latency_max_seconds),
        ] {
            if let Some(value) = value {
                row("sli", &p.probe, metric, value)?;
            }
        }
    }
    for h in &report.capacity {
        let subject = format!("{} {}", h.resource, h.subject);
        row("capacity", &subject, "average", h.average)?;
        row("capacity", &subject, "peak", h.peak)?;
        row("capacity", &subject, "headroom", h.headroom)?;
    }
    for g in &report.process_groups {
        if let Some(v) = g.cpu_cores_avg {
            row("process_group", &g.groupname, "cpu_cores_avg", v)?;
        }
        if let Some(v) = g.rss_bytes_max {
            row("process_group", &g.groupname, "rss_bytes_max", v)?;
        }
    }
    for t in &report.trends {
        let subject = format!("{} {}", t.chart, t.series);
        for (metric, value) in [
            ("min", t.min),
            ("max", t.max),
            ("avg", t.avg),
            ("first", t.first),
            ("last", t.last),
        ] {
            row("trend", &subject, metric, value)?;
        }
    }
    Ok(())
}
