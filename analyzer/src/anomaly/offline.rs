//! `pulse-analyzer detect`: scores `timestamp,value` CSV files with the live detector.
//!
//! The detector parameters come from the `anomaly.detector` section of the same config file
//! the live analyzer reads, so an offline replay and the sidecar never disagree about
//! settings.

use std::io::Write;
use std::path::PathBuf;

use pulse_timeseries::anomaly::DetectorConfig;
use pulse_timeseries::csv::{self, CsvError};

/// What to score: one file, or every `*.csv` under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    File { input: PathBuf, output: PathBuf },
    Tree { input: PathBuf, output: PathBuf },
}

/// Runs `job` and reports what was written on `log` (stderr for the binary).
pub fn run(job: &Job, config: &DetectorConfig, log: &mut impl Write) -> Result<(), CsvError> {
    match job {
        Job::File { input, output } => {
            let rows = csv::detect_file(input, output, config)?;
            let _ = writeln!(log, "scored {rows} rows into {}", output.display());
        }
        Job::Tree { input, output } => {
            let files = csv::detect_tree(input, output, config)?;
            let _ = writeln!(log, "scored {files} files into {}", output.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_timeseries::anomaly::Detector;

    /// The offline path must give the scores a live detector gives for the same points.
    #[test]
    fn file_scores_match_a_live_detector() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        let output = dir.path().join("out/scores.csv");
        let points: Vec<(i64, f64)> = (0..1200)
            .map(|i| {
                let spike = if i == 1100 { 40.0 } else { 0.0 };
                (1_400_000_000 + i * 300, (i % 17) as f64 + spike)
            })
            .collect();
        let mut text = String::from("timestamp,value\n");
        for (ts, v) in &points {
            text.push_str(&format!("{ts},{v}\n"));
        }
        std::fs::write(&input, text).unwrap();
        let config = DetectorConfig::default();
        let mut log = Vec::new();
        run(
            &Job::File {
                input,
                output: output.clone(),
            },
            &config,
            &mut log,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(log).unwrap().trim(),
            format!("scored 1200 rows into {}", output.display())
        );

        let mut live = Detector::new(config);
        let expected: Vec<f64> = points.iter().map(|&(t, v)| live.update(t, v)).collect();
        let scored: Vec<f64> = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(scored, expected);
        // Reported once confirmed, `confirmation_samples` after the spike.
        let at = 1100 + config_delay();
        assert!(scored[at] > 0.3, "the spike scores {}", scored[at]);
    }

    fn config_delay() -> usize {
        DetectorConfig::default().confirmation_samples
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::Tree {
            input: dir.path().join("missing"),
            output: dir.path().join("out"),
        };
        let err = run(&job, &DetectorConfig::default(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
