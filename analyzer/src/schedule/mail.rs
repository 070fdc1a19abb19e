//! A report as it goes out: a subject, a short text summary (grade, reasons, headline
//! numbers) that every channel can show, and the rendered report as an attachment for
//! e-mail. Chat and webhook receivers get the summary only: a multi-megabyte PDF does not
//! belong in a chat message.

use std::path::Path;

use serde::Serialize;

use crate::cli::ReportFormat;
use crate::report::{Report, ReportError, render};
use crate::units::utc_minute;

#[derive(Debug, Clone, Serialize)]
pub struct ReportMail {
    /// The schedule's name, or `on-demand` for `report --send`.
    pub schedule: String,
    pub title: String,
    pub grade: String,
    pub reasons: Vec<String>,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    /// The plain-text summary: the e-mail body and the chat message.
    pub text: String,
    #[serde(skip)]
    pub attachment: Attachment,
}

#[derive(Debug, Clone, Default)]
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl ReportMail {
    /// Renders `report` in `format` and writes the summary around it.
    pub fn new(
        schedule: &str,
        report: &Report,
        format: ReportFormat,
        chromium: &Path,
    ) -> Result<Self, ReportError> {
        let mut bytes = Vec::new();
        render::write(report, format, chromium, &mut bytes)?;
        let (content_type, extension) = render::media_type(format);
        let period = &report.period;
        let title = format!(
            "Pulse report {schedule}: {} ({} to {})",
            report.grade.name(),
            utc_minute(period.start_ms),
            utc_minute(period.end_ms)
        );
        let mut text = format!("{title}\n\nGrade: {}\n", report.grade.name());
        if report.reasons.is_empty() {
            text.push_str("Nothing needs attention.\n");
        } else {
            text.push_str("Reasons:\n");
            for reason in &report.reasons {
                text.push_str(&format!("- {reason}\n"));
            }
        }
        if !report.summary.is_empty() {
            text.push('\n');
            for number in &report.summary {
                text.push_str(&format!("{}: {}\n", number.name, number.display));
            }
        }
        let day = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(period.end_ms.max(0) as u64),
        )
        .to_string();
        Ok(Self {
            schedule: schedule.to_owned(),
            title,
            grade: report.grade.name().to_owned(),
            reasons: report.reasons.clone(),
            period_start_ms: period.start_ms,
            period_end_ms: period.end_ms,
            text,
            attachment: Attachment {
                filename: format!("pulse-report-{schedule}-{}.{extension}", &day[..10]),
                content_type,
                bytes,
            },
        })
    }
}
