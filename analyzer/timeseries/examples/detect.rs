//! Offline scoring from this crate alone, for tuning: a release build of it
//! takes seconds where the analyzer's takes minutes, and `--config` takes a
//! JSON `DetectorConfig` to try parameters. `pulse-analyzer detect` runs the
//! same `csv` functions with the config file's `anomaly.detector` settings
//! (and `tests/nab/check.sh` evaluates that one in CI).
//!
//! ```sh
//! cargo run --release -p pulse-timeseries --example detect -- INPUT OUTPUT [--config FILE.json]
//! ```
//!
//! INPUT may be one CSV file (OUTPUT is then a file) or a directory tree
//! (OUTPUT mirrors it). `--config` takes a JSON `DetectorConfig`; omitted
//! fields keep their defaults.

use std::path::PathBuf;
use std::process::ExitCode;

use pulse_timeseries::anomaly::DetectorConfig;
use pulse_timeseries::csv::{detect_file, detect_tree};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("detect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let mut positional = Vec::new();
    let mut config = DetectorConfig::default();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            let path = PathBuf::from(args.next().ok_or("--config needs a file")?);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            config = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        } else {
            positional.push(PathBuf::from(arg));
        }
    }
    let [input, output] = <[PathBuf; 2]>::try_from(positional)
        .map_err(|_| "usage: detect INPUT OUTPUT [--config FILE.json]")?;
    if input.is_dir() {
        let n = detect_tree(&input, &output, &config)?;
        eprintln!("scored {n} files into {}", output.display());
    } else {
        let n = detect_file(&input, &output, &config)?;
        eprintln!("scored {n} rows into {}", output.display());
    }
    Ok(())
}
