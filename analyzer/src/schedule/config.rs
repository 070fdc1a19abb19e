//! The `reports:` section: which reports are mailed when, and through which alerting
//! channels. Each schedule validates itself while it is deserialized, so a mistake is
//! reported with file, line and field like the rest of the config; channel names are
//! checked against `alerting.channels` in [`crate::config::Config::parse`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::clock::{Clock, Every, Weekday, parse_at};
use crate::alerting::config::{ChannelConfig, ChannelKind};
use crate::cli::ReportFormat;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    pub schedules: Vec<Schedule>,
    /// Chromium binary for `format: pdf`.
    pub chromium: PathBuf,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            schedules: Vec::new(),
            chromium: PathBuf::from("chromium"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawSchedule")]
pub struct Schedule {
    pub name: String,
    pub clock: Clock,
    pub format: ReportFormat,
    pub channels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: String,
    period: Every,
    /// Time of day, `HH:MM` or `HH:MM:SS`.
    at: String,
    /// Required for weekly schedules.
    #[serde(default)]
    weekday: Option<Weekday>,
    /// Only `UTC` is supported: fire times then never shift or repeat with DST.
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default = "default_format")]
    format: ReportFormat,
    channels: Vec<String>,
}

fn default_format() -> ReportFormat {
    ReportFormat::Html
}

impl TryFrom<RawSchedule> for Schedule {
    type Error = String;

    fn try_from(raw: RawSchedule) -> Result<Self, String> {
        if raw.name.is_empty() {
            return Err("name must not be empty".into());
        }
        let at = parse_at(&raw.at)?;
        if let Some(zone) = &raw.timezone
            && !zone.eq_ignore_ascii_case("utc")
        {
            return Err(format!("timezone: {zone:?} is not supported (only UTC)"));
        }
        let weekday = match (raw.period, raw.weekday) {
            (Every::Week, None) => return Err("weekday is required for period week".into()),
            (Every::Day, Some(_)) => return Err("weekday is only for period week".into()),
            (_, weekday) => weekday.unwrap_or(Weekday::Mon),
        };
        if raw.channels.is_empty() {
            return Err("channels: at least one channel".into());
        }
        Ok(Self {
            name: raw.name,
            clock: Clock::new(raw.period, at, weekday),
            format: raw.format,
            channels: raw.channels,
        })
    }
}

/// Cross-checks that need the whole config: unique names, channels that exist and can carry
/// a report. Returns the index of the bad schedule and what is wrong.
pub fn check_channels(
    schedules: &[Schedule],
    channels: &BTreeMap<String, ChannelConfig>,
) -> Option<(usize, String)> {
    for (i, schedule) in schedules.iter().enumerate() {
        if schedules[..i].iter().any(|s| s.name == schedule.name) {
            return Some((i, format!("name: {:?} is used twice", schedule.name)));
        }
        for name in &schedule.channels {
            match channels.get(name).map(|c| &c.kind) {
                None => {
                    return Some((
                        i,
                        format!("channels: no channel named {name:?} in alerting.channels"),
                    ));
                }
                Some(ChannelKind::Alertmanager(_)) => {
                    return Some((
                        i,
                        format!(
                            "channels: {name:?} is an Alertmanager channel, which takes alerts, not reports"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const CHANNELS: &str = "alerting:\n  channels:\n    mail:\n      email: {host: h, from: a@b.c, to: [d@e.f]}\n    \
                            am:\n      alertmanager: {url: 'http://am:9093'}\n";

    fn parse(reports: &str) -> Result<Config, String> {
        Config::parse(Path::new("analyzer.yml"), &format!("{CHANNELS}{reports}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn schedules_parse() {
        let config = parse(
            "reports:\n  chromium: /usr/bin/chromium\n  schedules:\n    \
             - {name: daily, period: day, at: '07:00', channels: [mail]}\n    \
             - {name: weekly, period: week, at: '06:30', weekday: mon, timezone: UTC, format: pdf, channels: [mail]}\n",
        )
        .unwrap();
        let schedules = &config.reports.schedules;
        assert_eq!(schedules.len(), 2);
        assert_eq!(schedules[0].format, ReportFormat::Html, "html by default");
        assert_eq!(schedules[1].format, ReportFormat::Pdf);
        assert_eq!(schedules[1].clock.every, Every::Week);
        assert_eq!(config.reports.chromium, PathBuf::from("/usr/bin/chromium"));
    }

    #[test]
    fn mistakes_name_file_line_and_field() {
        let cases = [
            (
                "    - {name: d, period: day, at: '7am', channels: [mail]}\n",
                "analyzer.yml:9:5: reports.schedules[0]: at: \"7am\" is not a time of day",
            ),
            (
                "    - {name: w, period: week, at: '07:00', channels: [mail]}\n",
                "analyzer.yml:9:5: reports.schedules[0]: weekday is required for period week",
            ),
            (
                "    - {name: d, period: day, at: '07:00', timezone: Europe/Paris, channels: [mail]}\n",
                "analyzer.yml:9:5: reports.schedules[0]: timezone: \"Europe/Paris\" is not supported (only UTC)",
            ),
            (
                "    - {name: d, period: month, at: '07:00', channels: [mail]}\n",
                "analyzer.yml:9:25: reports.schedules[0].period: unknown variant `month`",
            ),
            (
                "    - {name: d, period: day, at: '07:00', format: docx, channels: [mail]}\n",
                "analyzer.yml:9:51: reports.schedules[0].format: unknown variant `docx`",
            ),
            (
                "    - {name: d, period: day, at: '07:00', channels: [pager]}\n",
                "analyzer.yml:9:5: reports.schedules[0]: channels: no channel named \"pager\" in alerting.channels",
            ),
            (
                "    - {name: d, period: day, at: '07:00', channels: [am]}\n",
                "analyzer.yml:9:5: reports.schedules[0]: channels: \"am\" is an Alertmanager channel",
            ),
            (
                "    - {name: d, period: day, at: '07:00', channels: [mail]}\n    \
                 - {name: d, period: day, at: '08:00', channels: [mail]}\n",
                "analyzer.yml:10:5: reports.schedules[1]: name: \"d\" is used twice",
            ),
        ];
        for (schedule, want) in cases {
            let err = parse(&format!("reports:\n  schedules:\n{schedule}")).unwrap_err();
            assert!(err.starts_with(want), "{schedule}: {err}");
        }
    }
}
