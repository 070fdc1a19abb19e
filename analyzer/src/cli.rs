//! Command line: `run` (default), `status`, `export`, `check`, `report`, `suggest-rules`,
//! and `--config.check`.
//!
//! Flags win over the config file, the file over built-in defaults (as in the exporter).

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use pulse_exporter::config::ConfigError;
use pulse_exporter::web_config::WebConfig;

use crate::anomaly::offline::Job;
use crate::config::{Config, DEFAULT_LISTEN_ADDRESS, DEFAULT_STORAGE_PATH};

#[derive(Debug, Parser)]
#[command(
    name = "pulse-analyzer",
    version,
    about = "Pulse sidecar: scrapes pulse-exporter into a local history and serves it."
)]
pub struct Cli {
    /// YAML configuration file.
    #[arg(long = "config.file", global = true)]
    pub config_file: Option<PathBuf>,
    /// Validate the config file (and web config file) and exit: 0 if valid, 1 if not.
    #[arg(long = "config.check", global = true)]
    pub config_check: bool,
    /// Address of the analyzer's HTTP server (API and /metrics).
    #[arg(long = "web.listen-address", global = true)]
    pub listen_address: Option<String>,
    /// exporter-toolkit web config file (TLS, basic auth) for the analyzer's server.
    #[arg(long = "web.config.file", global = true)]
    pub web_config_file: Option<PathBuf>,
    /// SQLite history database.
    #[arg(long = "storage.path", global = true)]
    pub storage_path: Option<PathBuf>,
    /// Log level.
    #[arg(long = "log.level", default_value = "info", global = true,
          value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scrape, store and serve (the default).
    Run(RunArgs),
    /// Print the history database's state: series, samples, size, last scrape per target.
    Status,
    /// Write raw history as CSV or JSON to stdout.
    Export(ExportArgs),
    /// Score `timestamp,value` CSV files with the live anomaly detector
    /// (settings: `anomaly.detector` in the config file).
    Detect(DetectArgs),
    /// Emergency health check over the last minutes; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check(CheckArgs),
    /// Learn alert thresholds from history and write a Prometheus rule file.
    SuggestRules(SuggestArgs),
    /// Report over a day, a week or a custom period as HTML, CSV or JSON.
    Report(ReportArgs),
    /// List alerts from the history, or acknowledge / resolve one through the running analyzer.
    Alerts(AlertsArgs),
    /// Live terminal view of key metrics, active alerts and top process groups (q to quit);
    /// prints one plain-text snapshot when stdout is not a terminal.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// How often the view refreshes (e.g. `2s`).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportPeriod {
    Day,
    Week,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Html,
    Pdf,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// `day` and `week` end now; `custom` needs `--since` (and optionally `--until`).
    #[arg(long, value_enum, default_value = "day")]
    pub period: ReportPeriod,
    /// Start of a custom period: an RFC 3339 time or a duration ago (`36h`).
    #[arg(long)]
    pub since: Option<String>,
    /// End of a custom period (default: now), in the same forms.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// File to write (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Chromium binary that prints the HTML report to PDF (`--format pdf`).
    #[arg(long, default_value = "chromium")]
    pub chromium: PathBuf,
    /// Send the report through this alerting channel instead of writing it (repeatable).
    #[arg(long, conflicts_with = "output")]
    pub send: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// How much history to learn from (e.g. `7d`).
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Percentile of the observed values the threshold starts from (50 to 100).
    #[arg(long, default_value_t = 99.0)]
    pub percentile: f64,
    /// Headroom multiplier over the percentile (at least 1).
    #[arg(long, default_value_t = 1.2)]
    pub margin: f64,
    /// Series with fewer samples in the period are skipped.
    #[arg(long = "min-samples", default_value_t = 30)]
    pub min_samples: usize,
    /// Rule file to write (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Only these states (comma-separated: firing, acknowledged, resolved).
    #[arg(long)]
    pub state: Option<String>,
    /// Only these severities (comma-separated: critical, warning, advisory, info, or P1-P4).
    #[arg(long)]
    pub severity: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// The running analyzer for `ack` / `resolve` (default: http://<web.listen-address>).
    #[arg(long)]
    pub url: Option<String>,
    /// Who acknowledges or resolves, recorded in the alert's history.
    #[arg(long, default_value = "cli")]
    pub by: String,
    #[command(subcommand)]
    pub action: Option<AlertAction>,
}

#[derive(Debug, Subcommand)]
pub enum AlertAction {
    /// Acknowledge alert ID: no repeats, no escalation.
    Ack { id: i64 },
    /// Resolve alert ID.
    Resolve { id: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// How far back to look (e.g. `5m`); a target not scraped within it is CRITICAL.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub window: std::time::Duration,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Also start the pulse-exporter binary found next to this one, listening where the
    /// first target points, and restart it if it dies.
    #[arg(long = "spawn-exporter")]
    pub spawn_exporter: bool,
    /// The exporter binary to spawn (default: `pulse-exporter` beside this binary, else PATH).
    #[arg(long = "exporter.path")]
    pub exporter_path: Option<PathBuf>,
    /// Extra argument for the spawned exporter (repeatable).
    #[arg(long = "exporter.arg", allow_hyphen_values = true)]
    pub exporter_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// How far back to export (e.g. `24h`, `30m`).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Only these metric names (repeatable).
    #[arg(long)]
    pub metric: Vec<String>,
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
}

/// `detect`: one file (`--input/--output`) or a tree (`--input-dir/--output-dir`), whose
/// output mirrors the input's layout.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "input_dir"])))]
pub struct DetectArgs {
    /// CSV file with `timestamp` and `value` columns.
    #[arg(long, requires = "output")]
    pub input: Option<PathBuf>,
    /// Where to write `timestamp,anomaly_score` (one row per input row).
    #[arg(long, requires = "input")]
    pub output: Option<PathBuf>,
    /// Score every `*.csv` under this directory.
    #[arg(long = "input-dir", requires = "output_dir")]
    pub input_dir: Option<PathBuf>,
    /// Scores go to the same relative paths under this directory.
    #[arg(long = "output-dir", requires = "input_dir")]
    pub output_dir: Option<PathBuf>,
}

impl DetectArgs {
    pub fn job(&self) -> Option<Job> {
        match (&self.input, &self.output, &self.input_dir, &self.output_dir) {
            (Some(input), Some(output), None, None) => Some(Job::File {
                input: input.clone(),
                output: output.clone(),
            }),
            (None, None, Some(input), Some(output)) => Some(Job::Tree {
                input: input.clone(),
                output: output.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: web.write_token_file: {source}", path.display())]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: web.write_token_file: the file is empty", path.display())]
    EmptyToken { path: PathBuf },
}

/// The resolved configuration the commands run with.
#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    pub listen_address: String,
    pub web_config: WebConfig,
    pub storage_path: PathBuf,
    pub write_token: Option<String>,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Result<Self, SettingsError> {
        let config = match &cli.config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let web_config_file = cli
            .web_config_file
            .clone()
            .or_else(|| config.web.config_file.clone());
        let web_config = match &web_config_file {
            Some(path) => WebConfig::load(path)?,
            None => WebConfig::default(),
        };
        let write_token = match &config.web.write_token_file {
            None => None,
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SettingsError::Token {
                        path: path.clone(),
                        source,
                    })?;
                let token = text.trim().to_owned();
                if token.is_empty() {
                    return Err(SettingsError::EmptyToken { path: path.clone() });
                }
                Some(token)
            }
        };
        Ok(Self {
            listen_address: cli
                .listen_address
                .clone()
                .or_else(|| config.web.listen_address.clone())
                .unwrap_or_else(|| DEFAULT_LISTEN_ADDRESS.to_owned()),
            storage_path: cli
                .storage_path
                .clone()
                .or_else(|| config.storage.path.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH)),
            config,
            web_config,
            write_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags_win() {
        let cli = Cli::parse_from(["pulse-analyzer"]);
        assert!(cli.command.is_none());
        let settings = Settings::resolve(&cli).unwrap();
        assert_eq!(settings.listen_address, "127.0.0.1:9190");
        assert_eq!(settings.storage_path, PathBuf::from("./pulse-history.db"));

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("a.yml");
        std::fs::write(
            &config,
            "storage: {path: from-file.db}\nweb: {listen_address: '0.0.0.0:1'}\n",
        )
        .unwrap();
        let config = config.to_str().unwrap();
        let cli = Cli::parse_from([
            "pulse-analyzer",
            "run",
            "--spawn-exporter",
            "--config.file",
            config,
            "--storage.path",
            "flag.db",
        ]);
        let settings = Settings::resolve(&cli).unwrap();
        assert_eq!(settings.storage_path, PathBuf::from("flag.db"));
        assert_eq!(settings.listen_address, "0.0.0.0:1");
        assert!(matches!(
            cli.command,
            Some(Command::Run(RunArgs {
                spawn_exporter: true,
                ..
            }))
        ));
    }

    #[test]
    fn check_report_and_suggest_flags() {
        let cli = Cli::parse_from([
            "pulse-analyzer",
            "check",
            "--format",
            "json",
            "--window",
            "2m",
        ]);
        let Some(Command::Check(args)) = cli.command else {
            panic!("not check")
        };
        assert_eq!(
            (args.format, args.window.as_secs()),
            (CheckFormat::Json, 120)
        );
        let cli = Cli::parse_from([
            "pulse-analyzer",
            "report",
            "--period",
            "custom",
            "--since",
            "36h",
            "--format",
            "pdf",
        ]);
        let Some(Command::Report(args)) = cli.command else {
            panic!("not report")
        };
        assert_eq!(args.period, ReportPeriod::Custom);
        assert_eq!(args.since.as_deref(), Some("36h"));
        assert_eq!(args.format, ReportFormat::Pdf);
        let cli = Cli::parse_from(["pulse-analyzer", "suggest-rules", "--margin", "1.5"]);
        let Some(Command::SuggestRules(args)) = cli.command else {
            panic!("not suggest-rules")
        };
        assert_eq!((args.margin, args.percentile), (1.5, 99.0));
        assert_eq!(args.since.as_secs(), 7 * 86_400);
    }

    #[test]
    fn export_flags() {
        let cli = Cli::parse_from([
            "pulse-analyzer",
            "export",
            "--format",
            "json",
            "--since",
            "2h",
            "--metric",
            "up",
            "--metric",
            "node_load1",
        ]);
        let Some(Command::Export(args)) = cli.command else {
            panic!("not export")
        };
        assert_eq!(args.format, ExportFormat::Json);
        assert_eq!(args.since.as_secs(), 7200);
        assert_eq!(args.metric, ["up", "node_load1"]);
    }
}
