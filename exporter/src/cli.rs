//! Command-line flags in node_exporter's style, merged with the optional config file.
//!
//! Two phases, as in ripgrep: clap parses raw flags ([`Flags`]), then [`resolve`] validates
//! them against the config file and produces the [`Settings`] the server runs with. Flags
//! win over the file; the file wins over built-in defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use crate::collectors;
use crate::config::{
    Config, ConfigDuration, ConfigError, DEFAULT_DISK_DEVICE_EXCLUDE, IpvsBackendLabel, Pattern,
};
use crate::paths::Paths;
use crate::web_config::WebConfig;

#[derive(Debug, Parser)]
#[command(
    name = "pulse-exporter",
    version,
    about = "Prometheus exporter for Linux hosts: system, process, cache and HTTP-probe metrics."
)]
pub struct Flags {
    /// Addresses to listen on (repeatable). `:9100` means every interface.
    #[arg(long = "web.listen-address", default_value = ":9100")]
    pub listen_addresses: Vec<String>,
    /// Path under which metrics are exposed.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// Path to a web config file (exporter-toolkit format) enabling TLS and/or basic auth.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Maximum number of parallel scrape requests; more get HTTP 503. 0 disables the limit.
    #[arg(long = "web.max-requests", default_value_t = 40)]
    pub max_requests: usize,
    /// Leave out the exporter's own process and build metrics.
    #[arg(long = "web.disable-exporter-metrics")]
    pub disable_exporter_metrics: bool,
    /// Turn off every collector that is on by default; enable the wanted ones explicitly.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,
    /// Upper bound on how long one scrape waits for collectors (e.g. `10s`). A shorter
    /// `X-Prometheus-Scrape-Timeout-Seconds` from the scraper (minus 0.5 s) takes precedence.
    #[arg(long = "collector.timeout", default_value = "10s", value_parser = parse_duration)]
    pub collector_timeout: Duration,
    /// Regex of mount points to ignore (overrides the config file).
    #[arg(long = "collector.filesystem.mount-points-exclude", value_parser = parse_pattern)]
    pub fs_mount_points_exclude: Option<Pattern>,
    /// Regex of filesystem types to ignore (overrides the config file).
    #[arg(long = "collector.filesystem.fs-types-exclude", value_parser = parse_pattern)]
    pub fs_types_exclude: Option<Pattern>,
    /// How long one mount's statfs may hang before the mount is reported with
    /// `node_filesystem_device_error 1` and skipped until the call returns (default 5s).
    #[arg(long = "collector.filesystem.mount-timeout", value_parser = parse_duration)]
    pub fs_mount_timeout: Option<Duration>,
    /// Regex of block devices to report (exclusive with the exclude flag).
    #[arg(long = "collector.diskstats.device-include", value_parser = parse_pattern, conflicts_with = "disk_exclude")]
    pub disk_include: Option<Pattern>,
    /// Regex of block devices to ignore.
    #[arg(long = "collector.diskstats.device-exclude", value_parser = parse_pattern)]
    pub disk_exclude: Option<Pattern>,
    /// Regex of network devices to report (exclusive with the exclude flag).
    #[arg(long = "collector.netdev.device-include", value_parser = parse_pattern, conflicts_with = "netdev_exclude")]
    pub netdev_include: Option<Pattern>,
    /// Regex of network devices to ignore.
    #[arg(long = "collector.netdev.device-exclude", value_parser = parse_pattern)]
    pub netdev_exclude: Option<Pattern>,
    /// Regex of netstat fields (`<Protocol>_<Field>`) to report (overrides the config file).
    #[arg(long = "collector.netstat.fields", value_parser = parse_pattern)]
    pub netstat_fields: Option<Pattern>,
    /// Comma-separated labels the ipvs backend series keep, of local_address, local_port,
    /// remote_address, remote_port, proto, local_mark (overrides the config file).
    #[arg(long = "collector.ipvs.backend-labels", value_parser = parse_ipvs_backend_labels)]
    pub ipvs_backend_labels: Option<IpvsBackendLabels>,
    /// Name RAPL series `node_rapl_joules_total{rapl_zone}` (overrides the config file).
    #[arg(long = "collector.rapl.enable-zone-label")]
    pub rapl_zone_label: bool,
    /// Regex of power supplies to leave out (overrides the config file).
    #[arg(long = "collector.powersupply.ignored-supplies", value_parser = parse_pattern)]
    pub ignored_supplies: Option<Pattern>,
    /// Regex of /proc/vmstat fields to report (overrides the config file).
    #[arg(long = "collector.vmstat.fields", value_parser = parse_pattern)]
    pub vmstat_fields: Option<Pattern>,
    /// Process groups reported by name; the rest are folded into groupname="other"
    /// (overrides `processes.max_groups` in the config file).
    #[arg(long = "collector.processes.max-groups", value_parser = parse_max_groups)]
    pub process_max_groups: Option<usize>,
    /// Directory of `*.prom` files for the textfile collector (overrides the config file).
    #[arg(long = "collector.textfile.directory")]
    pub textfile_directory: Option<PathBuf>,
    /// procfs mountpoint.
    #[arg(long = "path.procfs", default_value = "/proc")]
    pub procfs: PathBuf,
    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", default_value = "/sys")]
    pub sysfs: PathBuf,
    /// Root filesystem mountpoint (where the host's `/` is visible).
    #[arg(long = "path.rootfs", default_value = "/")]
    pub rootfs: PathBuf,
    /// Optional YAML config file.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Validate the config file (and web config file) and exit: 0 if valid, 1 if not.
    #[arg(long = "config.check")]
    pub config_check: bool,
    /// Log level.
    #[arg(long = "log.level", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn parse_max_groups(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    Pattern::new(text)
}

/// The labels of `--collector.ipvs.backend-labels` (a newtype: clap reads a bare `Vec` as a
/// repeated flag, and this is one comma-separated value).
#[derive(Debug, Clone)]
pub struct IpvsBackendLabels(Vec<IpvsBackendLabel>);

fn parse_ipvs_backend_labels(text: &str) -> Result<IpvsBackendLabels, String> {
    let mut labels = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let label = IpvsBackendLabel::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = IpvsBackendLabel::ALL.iter().map(|l| l.name()).collect();
            format!("unknown label '{name}' (known: {})", known.join(", "))
        })?;
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    Ok(IpvsBackendLabels(labels))
}

/// Everything the server needs, validated.
pub struct Settings {
    pub listen_addresses: Vec<String>,
    pub telemetry_path: String,
    pub web_config: WebConfig,
    pub max_requests: usize,
    pub exporter_metrics: bool,
    pub collectors: Vec<&'static str>,
    pub collector_timeout: Duration,
    pub paths: Paths,
    pub config: Config,
    pub config_check: bool,
    pub log_level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Flags(String),
}

/// The clap command with one `--collector.<name>` / `--no-collector.<name>` pair per collector.
pub fn command() -> clap::Command {
    let mut cmd = Flags::command();
    for spec in collectors::ALL {
        let state = if spec.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(format!("collector.{}", spec.name))
                    .long(format!("collector.{}", spec.name))
                    .action(ArgAction::SetTrue)
                    .help(format!(
                        "Enable the {} collector (default: {state}). {}",
                        spec.name, spec.help
                    ))
                    .help_heading("Collectors"),
            )
            .arg(
                Arg::new(format!("no-collector.{}", spec.name))
                    .long(format!("no-collector.{}", spec.name))
                    .action(ArgAction::SetTrue)
                    .conflicts_with(format!("collector.{}", spec.name))
                    .hide(true),
            );
    }
    cmd
}

/// Parses the command line; clap prints usage errors and exits with status 2 itself.
pub fn parse() -> ArgMatches {
    command().get_matches()
}

/// Validates flags against the config file and web config file.
pub fn resolve(matches: &ArgMatches) -> Result<Settings, StartupError> {
    let flags = Flags::from_arg_matches(matches).map_err(|e| StartupError::Flags(e.to_string()))?;
    let mut config = match &flags.config_file {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let web_config = match &flags.web_config_file {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };

    if let Some(p) = flags.fs_mount_points_exclude {
        config.filesystem.mount_points_exclude = p;
    }
    if let Some(directory) = flags.textfile_directory {
        config.textfile.directory = Some(directory);
    }
    if let Some(p) = flags.fs_types_exclude {
        config.filesystem.fs_types_exclude = p;
    }
    if let Some(p) = flags.netstat_fields {
        config.netstat.fields = p;
    }
    if let Some(d) = flags.fs_mount_timeout {
        config.filesystem.mount_timeout = ConfigDuration(d);
    }
    if let Some(IpvsBackendLabels(labels)) = flags.ipvs_backend_labels {
        config.ipvs.backend_labels = labels;
    }
    if flags.rapl_zone_label {
        config.rapl.enable_zone_label = true;
    }
    if let Some(p) = flags.ignored_supplies {
        config.powersupplyclass.ignored_supplies = p;
    }
    if let Some(p) = flags.vmstat_fields {
        config.vmstat.fields = p;
    }
    if let Some(n) = flags.process_max_groups {
        config.processes.max_groups = n;
    }
    if flags.disk_include.is_some() || flags.disk_exclude.is_some() {
        config.diskstats.device_include = flags.disk_include;
        config.diskstats.device_exclude = flags.disk_exclude;
    }
    config.diskstats =
        std::mem::take(&mut config.diskstats).with_default_exclude(DEFAULT_DISK_DEVICE_EXCLUDE);
    if flags.netdev_include.is_some() || flags.netdev_exclude.is_some() {
        config.netdev.device_include = flags.netdev_include;
        config.netdev.device_exclude = flags.netdev_exclude;
    }
    // Both include and exclude cannot reach here: clap rejects the flag pair and the config
    // parser the file pair, each with its location.

    let collectors = enabled_collectors(matches, flags.disable_defaults, &config);
    Ok(Settings {
        listen_addresses: flags.listen_addresses,
        telemetry_path: flags.telemetry_path,
        web_config,
        max_requests: flags.max_requests,
        exporter_metrics: !flags.disable_exporter_metrics,
        collectors,
        collector_timeout: flags.collector_timeout,
        paths: Paths {
            procfs: flags.procfs,
            sysfs: flags.sysfs,
            rootfs: flags.rootfs,
        },
        config,
        config_check: flags.config_check,
        log_level: flags.log_level,
    })
}

/// Whether the config names something for this collector to watch. Configuring Redis targets
/// and then also having to pass `--collector.redis` is a trap, so configured targets turn the
/// collector on (an explicit `false` or `--no-collector.*` still wins).
fn configured(config: &Config, name: &str) -> bool {
    match name {
        "redis" => !config.redis.targets.is_empty(),
        "memcached" => !config.memcached.targets.is_empty(),
        "probe" => !config.probes.targets.is_empty(),
        "textfile" => config.textfile.directory.is_some(),
        _ => false,
    }
}

/// Defaults (plus what the config gives targets to), then the config file's `collectors:` map,
/// then explicit flags.
fn enabled_collectors(
    matches: &ArgMatches,
    disable_defaults: bool,
    config: &Config,
) -> Vec<&'static str> {
    collectors::ALL
        .iter()
        .filter(|spec| {
            let mut enabled =
                (spec.default_enabled && !disable_defaults) || configured(config, spec.name);
            if let Some(on) = config
                .collectors
                .iter()
                .find(|(k, _)| k.0 == spec.name)
                .map(|(_, v)| *v)
            {
                enabled = on;
            }
            if matches.get_flag(&format!("collector.{}", spec.name)) {
                enabled = true;
            }
            if matches.get_flag(&format!("no-collector.{}", spec.name)) {
                enabled = false;
            }
            enabled
        })
        .map(|spec| spec.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let matches = command()
            .try_get_matches_from(std::iter::once("pulse-exporter").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        resolve(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_enable_default_collectors() {
        let s = settings(&[]).unwrap();
        assert!(s.collectors.contains(&"loadavg"));
        assert_eq!(s.listen_addresses, [":9100"]);
        assert_eq!(s.telemetry_path, "/metrics");
    }

    #[test]
    fn disable_defaults_then_enable_one() {
        let s = settings(&["--collector.disable-defaults"]).unwrap();
        assert!(s.collectors.is_empty());
        let s = settings(&["--collector.disable-defaults", "--collector.loadavg"]).unwrap();
        assert_eq!(s.collectors, ["loadavg"]);
        let s = settings(&["--no-collector.loadavg"]).unwrap();
        assert!(!s.collectors.contains(&"loadavg"));
    }

    #[test]
    fn configured_sources_enable_their_collector() {
        assert!(!settings(&[]).unwrap().collectors.contains(&"textfile"));
        let on = settings(&["--collector.textfile.directory", "/tmp"]).unwrap();
        assert!(on.collectors.contains(&"textfile"));
        let off = settings(&[
            "--collector.textfile.directory",
            "/tmp",
            "--no-collector.textfile",
        ])
        .unwrap();
        assert!(!off.collectors.contains(&"textfile"));
    }

    #[test]
    fn max_groups_flag_overrides_config() {
        assert_eq!(settings(&[]).unwrap().config.processes.max_groups, 100);
        let s = settings(&["--collector.processes.max-groups", "7"]).unwrap();
        assert_eq!(s.config.processes.max_groups, 7);
    }

    #[test]
    fn mount_timeout_flag_overrides_config() {
        let default = settings(&[]).unwrap().config.filesystem.mount_timeout.0;
        assert_eq!(default, Duration::from_secs(5));
        let s = settings(&["--collector.filesystem.mount-timeout", "250ms"]).unwrap();
        assert_eq!(
            s.config.filesystem.mount_timeout.0,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn netstat_fields_flag_overrides_config() {
        let s = settings(&[]).unwrap();
        assert!(s.config.netstat.fields.is_match("TcpExt_ListenDrops"));
        assert!(!s.config.netstat.fields.is_match("Tcp_RtoMin"));
        let s = settings(&["--collector.netstat.fields", "^Tcp_RtoMin$"]).unwrap();
        assert!(s.config.netstat.fields.is_match("Tcp_RtoMin"));
        assert!(!s.config.netstat.fields.is_match("TcpExt_ListenDrops"));
        let err = settings(&["--collector.netstat.fields", "("])
            .err()
            .unwrap();
        assert!(err.contains("--collector.netstat.fields"), "{err}");
    }

    #[test]
    fn ipvs_backend_labels_flag_overrides_config_and_names_a_bad_label() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.config.ipvs.backend_labels, IpvsBackendLabel::ALL);
        let s = settings(&["--collector.ipvs.backend-labels", "proto, local_port,proto"]).unwrap();
        assert_eq!(
            s.config.ipvs.backend_labels,
            [IpvsBackendLabel::Proto, IpvsBackendLabel::LocalPort]
        );
        let err = settings(&["--collector.ipvs.backend-labels", "proto,port"])
            .err()
            .unwrap();
        assert!(err.contains("--collector.ipvs.backend-labels"), "{err}");
        assert!(err.contains("unknown label 'port'"), "{err}");
    }

    #[test]
    fn rapl_and_power_supply_flags_override_config() {
        let s = settings(&[]).unwrap();
        assert!(!s.config.rapl.enable_zone_label);
        assert!(!s.config.powersupplyclass.ignored_supplies.is_match("BAT0"));
        let s = settings(&[
            "--collector.rapl.enable-zone-label",
            "--collector.powersupply.ignored-supplies",
            "^hidpp_",
        ])
        .unwrap();
        assert!(s.config.rapl.enable_zone_label);
        assert!(
            s.config
                .powersupplyclass
                .ignored_supplies
                .is_match("hidpp_battery_0")
        );
        assert!(!s.config.powersupplyclass.ignored_supplies.is_match("BAT0"));
    }

    #[test]
    fn bad_flag_values_are_named() {
        let err = settings(&["--collector.netdev.device-include", "(["])
            .err()
            .unwrap();
        assert!(err.contains("--collector.netdev.device-include"), "{err}");
        assert!(err.contains("invalid regular expression"), "{err}");
        let err = settings(&["--collector.processes.max-groups", "0"])
            .err()
            .unwrap();
        assert!(err.contains("must be at least 1"), "{err}");
        let err = settings(&["--collector.timeout", "0s"]).err().unwrap();
        assert!(err.contains("must be greater than zero"), "{err}");
    }
}
