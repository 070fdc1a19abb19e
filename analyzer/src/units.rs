//! How the analysis commands show a number to a human (`87.0%`, `0.120s`, `1.5 MiB`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ratio,
    Seconds,
    Bytes,
    BytesPerSecond,
    Cores,
    Count,
    Plain,
}

impl Unit {
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Ratio => format!("{:.1}%", v * 100.0),
            Unit::Seconds => format!("{v:.3}s"),
            Unit::Bytes => format!("{:.1} MiB", v / 1_048_576.0),
            Unit::BytesPerSecond => format!("{:.1} MiB/s", v / 1_048_576.0),
            Unit::Cores => format!("{v:.2} cores"),
            Unit::Count => format!("{v:.0}"),
            Unit::Plain => format!("{v:.2}"),
        }
    }
}

/// A UTC time to the minute as people read it (`2026-11-29 07:00 UTC`).
pub fn utc_minute(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows() {
        assert_eq!(Unit::Ratio.show(0.876), "87.6%");
        assert_eq!(Unit::Bytes.show(3_145_728.0), "3.0 MiB");
        assert_eq!(Unit::Seconds.show(0.12), "0.120s");
        assert_eq!(utc_minute(86_400_000 + 61_000), "1970-01-02 00:01 UTC");
    }
}
