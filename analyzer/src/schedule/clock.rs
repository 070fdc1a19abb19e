//! When a schedule fires. All times are UTC milliseconds since the Unix epoch, so the fire
//! times of a schedule are simply `offset + k × length`: no calendar, no DST.

use serde::Deserialize;

pub const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Day,
    Week,
}

impl Every {
    pub fn length_ms(self) -> i64 {
        match self {
            Every::Day => DAY_MS,
            Every::Week => 7 * DAY_MS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Every::Day => "daily",
            Every::Week => "weekly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Days after Thursday, the weekday of 1970-01-01 (day 0 of the epoch).
    fn days_after_epoch_weekday(self) -> i64 {
        (self as i64 + 7 - Weekday::Thu as i64) % 7
    }
}

/// The fire times of one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub every: Every,
    /// Milliseconds after the start of the first fire day of the epoch.
    offset_ms: i64,
}

impl Clock {
    /// `at_secs`: seconds after UTC midnight; `weekday` only counts for weekly schedules.
    pub fn new(every: Every, at_secs: u32, weekday: Weekday) -> Self {
        let day = match every {
            Every::Day => 0,
            Every::Week => weekday.days_after_epoch_weekday(),
        };
        Self {
            every,
            offset_ms: day * DAY_MS + i64::from(at_secs) * 1000,
        }
    }

    /// The last fire time at or before `now_ms`.
    pub fn latest(&self, now_ms: i64) -> i64 {
        let length = self.every.length_ms();
        (now_ms - self.offset_ms).div_euclid(length) * length + self.offset_ms
    }

    /// The first fire time strictly after `now_ms`.
    pub fn next(&self, now_ms: i64) -> i64 {
        self.latest(now_ms) + self.every.length_ms()
    }
}

/// Parses `HH:MM` or `HH:MM:SS` (24-hour) into seconds after midnight.
pub fn parse_at(text: &str) -> Result<u32, String> {
    let bad = || format!("at: {text:?} is not a time of day like \"07:00\" or \"07:00:30\"");
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let numbers = parts
        .iter()
        .map(|p| p.parse::<u32>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    let (hours, minutes, seconds) = (numbers[0], numbers[1], numbers.get(2).copied().unwrap_or(0));
    if hours > 23 || minutes > 59 || seconds > 59 {
        return Err(bad());
    }
    Ok(hours * 3600 + minutes * 60 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of an RFC 3339 UTC time.
    fn ms(text: &str) -> i64 {
        humantime::parse_rfc3339(text)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    #[test]
    fn daily_fires_at_the_time_every_day() {
        let clock = Clock::new(Every::Day, parse_at("07:00").unwrap(), Weekday::Mon);
        assert_eq!(
            clock.latest(ms("2026-11-29T12:00:00Z")),
            ms("2026-11-29T07:00:00Z")
        );
        assert_eq!(
            clock.latest(ms("2026-11-29T06:59:59Z")),
            ms("2026-11-28T07:00:00Z")
        );
        assert_eq!(
            clock.latest(ms("2026-11-29T07:00:00Z")),
            ms("2026-11-29T07:00:00Z"),
            "a fire time is its own latest"
        );
        assert_eq!(
            clock.next(ms("2026-11-29T07:00:00Z")),
            ms("2026-11-30T07:00:00Z")
        );
        assert_eq!(
            clock.next(ms("2026-12-31T23:00:00Z")),
            ms("2027-01-01T07:00:00Z"),
            "across a year end"
        );
    }

    #[test]
    fn weekly_fires_on_the_weekday() {
        // 2026-11-30 is a Monday, 2026-11-26 a Thursday.
        let clock = Clock::new(Every::Week, parse_at("07:30").unwrap(), Weekday::Mon);
        assert_eq!(
            clock.next(ms("2026-11-29T12:00:00Z")),
            ms("2026-11-30T07:30:00Z")
        );
        assert_eq!(
            clock.latest(ms("2026-11-29T12:00:00Z")),
            ms("2026-11-23T07:30:00Z")
        );
        assert_eq!(
            clock.next(ms("2026-11-30T07:30:00Z")),
            ms("2026-12-07T07:30:00Z")
        );
        let thursday = Clock::new(Every::Week, 0, Weekday::Thu);
        assert_eq!(
            thursday.latest(ms("2026-11-26T00:00:00Z")),
            ms("2026-11-26T00:00:00Z")
        );
        let sunday = Clock::new(Every::Week, parse_at("23:59:59").unwrap(), Weekday::Sun);
        assert_eq!(
            sunday.next(ms("2026-11-26T00:00:00Z")),
            ms("2026-11-29T23:59:59Z")
        );
        assert_eq!(
            sunday.latest(ms("1970-01-01T00:00:00Z")),
            ms("1970-01-04T23:59:59Z") - 7 * DAY_MS,
            "before the epoch's first fire time"
        );
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(parse_at("00:00"), Ok(0));
        assert_eq!(parse_at("07:00:30"), Ok(7 * 3600 + 30));
        assert_eq!(parse_at("23:59:59"), Ok(86_399));
        for bad in ["24:00", "7:00", "07:60", "07", "07:00:00:00", "aa:bb", ""] {
            let err = parse_at(bad).unwrap_err();
            assert!(err.contains("is not a time of day"), "{bad}: {err}");
        }
    }
}
