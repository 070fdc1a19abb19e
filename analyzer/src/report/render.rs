//! Writes a built [`Report`] in one of its formats; shared by `report`, `report --send` and
//! the scheduled reports so they all produce the same file.

use std::io::Write;
use std::path::Path;

use super::{Report, ReportError, csv, html, pdf};
use crate::cli::ReportFormat;

pub fn write(
    report: &Report,
    format: ReportFormat,
    chromium: &Path,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        ReportFormat::Html => html::write(report, out)?,
        ReportFormat::Pdf => pdf::write(report, chromium, out)?,
        ReportFormat::Csv => csv::write(report, out)?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// MIME type and file extension of a format, for attachments.
pub fn media_type(format: ReportFormat) -> (&'static str, &'static str) {
    match format {
        ReportFormat::Html => ("text/html; charset=utf-8", "html"),
        ReportFormat::Pdf => ("application/pdf", "pdf"),
        ReportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ReportFormat::Json => ("application/json", "json"),
    }
}
