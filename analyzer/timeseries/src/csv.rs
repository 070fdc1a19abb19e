//! Offline scoring of `timestamp,value` CSV files.
//!
//! Offline mode exists to evaluate and replay the detector, so it runs the
//! exact streaming [`Detector`] one row at a time: what a file scores here is
//! what the sidecar would have alerted on live. Output has one row per input
//! row, in order, with the timestamp text copied verbatim (duplicates and
//! out-of-order stamps included), so it lines up with the input by position.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::anomaly::{Detector, DetectorConfig};

/// Why a file could not be scored. Every variant names the file; row
/// problems also name the 1-based line number.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:1: {message}", path.display())]
    Header { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Scores one CSV file with a fresh detector and writes the scores.
/// Returns the number of data rows scored.
pub fn detect_file(
    input: &Path,
    output: &Path,
    config: &DetectorConfig,
) -> Result<usize, CsvError> {
    let text = fs::read_to_string(input).map_err(|source| CsvError::Io {
        path: input.to_path_buf(),
        source,
    })?;
    let (out, rows) = score_text(&text, input, config)?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| CsvError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    fs::write(output, out).map_err(|source| CsvError::Io {
        path: output.to_path_buf(),
        source,
    })?;
    Ok(rows)
}

/// Scores every `*.csv` under `input_dir` (recursively) into the same
/// relative path under `output_dir`, in sorted path order so runs are
/// reproducible. Returns the number of files scored.
pub fn detect_tree(
    input_dir: &Path,
    output_dir: &Path,
    config: &DetectorConfig,
) -> Result<usize, CsvError> {
    let mut files = Vec::new();
    collect_csv(input_dir, &mut files)?;
    files.sort();
    for file in &files {
        let relative = file.strip_prefix(input_dir).unwrap_or(file);
        detect_file(file, &output_dir.join(relative), config)?;
    }
    Ok(files.len())
}

fn collect_csv(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), CsvError> {
    let io_err = |source| CsvError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.is_dir() {
            collect_csv(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Scores CSV text; `path` is only used in error messages.
pub fn score_text(
    text: &str,
    path: &Path,
    config: &DetectorConfig,
) -> Result<(String, usize), CsvError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    let columns: Vec<&str> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    let find = |name: &str| {
        columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| CsvError::Header {
                path: path.to_path_buf(),
                message: format!("no `{name}` column in header {header:?}"),
            })
    };
    let ts_col = find("timestamp")?;
    let value_col = find("value")?;

    let mut detector = Detector::new(config.clone());
    let mut out = String::with_capacity(text.len());
    out.push_str("timestamp,anomaly_score\n");
    let mut rows = 0;
    for (index, line) in lines {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let row_err = |message: String| CsvError::Row {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let fields: Vec<&str> = line.split(',').collect();
        let raw_ts = fields
            .get(ts_col)
            .ok_or_else(|| row_err("missing timestamp field".into()))?;
        let raw_value = fields
            .get(value_col)
            .ok_or_else(|| row_err("missing value field".into()))?;
        let ts = parse_timestamp(raw_ts.trim().trim_matches('"'))
            .ok_or_else(|| row_err(format!("cannot parse timestamp {raw_ts:?}")))?;
        let value = parse_value(raw_value.trim().trim_matches('"'))
            .ok_or_else(|| row_err(format!("cannot parse value {raw_value:?}")))?;
        let score = detector.update(ts, value);
        // `{}` prints the shortest representation that round-trips, so no
        // resolution between close scores is lost.
        let _ = writeln!(out, "{raw_ts},{score}");
        rows += 1;
    }
    Ok((out, rows))
}

/// Empty and NaN cells are missing samples (scored 0, not learned), not
/// errors: exporters do emit them.
fn parse_value(s: &str) -> Option<f64> {
    if s.is_empty() || s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (also with `T` and a trailing `Z`,
/// always read as UTC) or unix seconds (integer or decimal) into unix
/// seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs);
    }
    if !s.contains('-') || s.len() < 10 {
        let secs: f64 = s.parse().ok()?;
        return secs.is_finite().then_some(secs.floor() as i64);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00:00"),
    };
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next().unwrap_or("0").parse().ok()?;
    let second: i64 = t.next().unwrap_or("0").parse().ok()?;
    if t.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so we need no date-time dependency for one conversion.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nab_and_unix_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2014-04-01 00:00:00"), Some(1_396_310_400));
        assert_eq!(parse_timestamp("2014-04-01T00:05:00Z"), Some(1_396_310_700));
        assert_eq!(
            parse_timestamp("2014-11-03 22:30:00.000000"),
            Some(1_415_053_800)
        );
        assert_eq!(parse_timestamp("2000-02-29 12:00:00"), Some(951_825_600));
        assert_eq!(parse_timestamp("1396310400"), Some(1_396_310_400));
        assert_eq!(parse_timestamp("1396310400.75"), Some(1_396_310_400));
        assert_eq!(parse_timestamp("2014-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn one_output_row_per_input_row_with_verbatim_timestamps() {
        let input = "timestamp,value\n\
                     2014-04-01 00:00:00,1\n\
                     2014-04-01 00:05:00,2\n\
                     2014-04-01 00:05:00,2\n\
                     2014-04-01 00:00:00,3\n\
                     2014-04-01 00:10:00,\n";
        let (out, rows) =
            score_text(input, Path::new("x.csv"), &DetectorConfig::default()).expect("valid");
        assert_eq!(rows, 5);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "timestamp,anomaly_score");
        assert_eq!(lines.len(), 6);
        assert!(lines[3].starts_with("2014-04-01 00:05:00,"));
        assert!(lines[4].starts_with("2014-04-01 00:00:00,"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let input = "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n";
        let err = score_text(input, Path::new("dir/m.csv"), &DetectorConfig::default())
            .expect_err("bad value");
        assert_eq!(err.to_string(), "dir/m.csv:3: cannot parse value \"abc\"");
        let err = score_text("time,v\n", Path::new("h.csv"), &DetectorConfig::default())
            .expect_err("bad header");
        assert!(
            err.to_string()
                .starts_with("h.csv:1: no `timestamp` column")
        );
    }

    #[test]
    fn detect_tree_mirrors_the_directory_layout() {
        let input = tempfile::tempdir().expect("tempdir");
        let output = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(input.path().join("cat")).expect("mkdir");
        let body: String = std::iter::once("timestamp,value\n".to_string())
            .chain((0..50).map(|i| format!("{},{}\n", 1_000_000 + i * 60, i % 7)))
            .collect();
        fs::write(input.path().join("cat/a.csv"), &body).expect("write");
        fs::write(input.path().join("b.csv"), &body).expect("write");
        fs::write(input.path().join("notes.txt"), "ignored").expect("write");
        let n =
            detect_tree(input.path(), output.path(), &DetectorConfig::default()).expect("scored");
        assert_eq!(n, 2);
        let scored = fs::read_to_string(output.path().join("cat/a.csv")).expect("output");
        assert_eq!(scored.lines().count(), 51);
        assert!(output.path().join("b.csv").exists());
    }
}
