//! `node_selinux_*` as node_exporter's `selinux` collector: whether SELinux is on, and if so
//! the mode it was configured to boot in and the mode it enforces now.
//!
//! A host left in permissive mode after a troubleshooting session (`setenforce 0`) enforces
//! nothing while its configuration says enforcing; `node_selinux_current_mode` against
//! `node_selinux_config_mode` finds it. SELinux is on when its filesystem (`/sys/fs/selinux`,
//! under `--path.sysfs`) answers `enforce`; the configured mode comes from
//! `etc/selinux/config` under `--path.rootfs`. Without SELinux only `node_selinux_enabled 0`.

use std::path::{Path, PathBuf};

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "selinux",
    default_enabled: true,
    help: "Whether SELinux is enabled, and its configured and current enforcement modes.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(SelinuxCollector {
        enforce: ctx.paths.sys("fs/selinux/enforce"),
        config: ctx.paths.rooted("etc/selinux/config"),
    }))
}

struct SelinuxCollector {
    enforce: PathBuf,
    config: PathBuf,
}

impl Collector for SelinuxCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(enforce) = read_file_if_present(&self.enforce)? else {
            out.gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                0.0,
            );
            return Ok(());
        };
        let current = match enforce.trim() {
            "1" => 1.0,
            "0" => 0.0,
            other => {
                return Err(CollectorError::parse(
                    &self.enforce,
                    format!("expected 0 or 1, found {other:?}"),
                ));
            }
        };
        let configured = match read_file_if_present(&self.config)? {
            Some(text) => config_mode(&self.config, &text)?,
            None => {
                return Err(CollectorError::NoData(format!(
                    "SELinux is on but {} is missing",
                    self.config.display()
                )));
            }
        };
        out.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            1.0,
        );
        out.gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            configured,
        );
        out.gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            current,
        );
        Ok(())
    }
}

/// `SELINUX=enforcing` → 1, `permissive` → 0, `disabled` → −1, as node_exporter reports it.
fn config_mode(path: &Path, text: &str) -> Result<f64, CollectorError> {
    let value = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix("SELINUX="))
        .ok_or_else(|| CollectorError::parse(path, "no SELINUX= line"))?;
    match value.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "enforcing" => Ok(1.0),
        "permissive" => Ok(0.0),
        "disabled" => Ok(-1.0),
        other => Err(CollectorError::parse(
            path,
            format!("SELINUX={other}: expected enforcing, permissive or disabled"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    fn collect(enforce: Option<&str>, config: Option<&str>) -> Result<MetricSet, CollectorError> {
        let dir = tempfile::tempdir().unwrap();
        let collector = SelinuxCollector {
            enforce: dir.path().join("enforce"),
            config: dir.path().join("config"),
        };
        if let Some(text) = enforce {
            std::fs::write(&collector.enforce, text).unwrap();
        }
        if let Some(text) = config {
            std::fs::write(&collector.config, text).unwrap();
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out)?;
        Ok(out)
    }

    fn values(out: &MetricSet) -> Vec<(String, Value)> {
        out.families
            .iter()
            .map(|f| (f.name.to_string(), f.samples[0].value.clone()))
            .collect()
    }

    #[test]
    fn off_on_and_left_permissive() {
        let off = collect(None, None).unwrap();
        assert_eq!(
            values(&off),
            [("node_selinux_enabled".into(), Value::Number(0.0))]
        );

        let config =
            "# This file controls the state of SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";
        let permissive_now = collect(Some("0\n"), Some(config)).unwrap();
        assert_eq!(
            values(&permissive_now),
            [
                ("node_selinux_enabled".into(), Value::Number(1.0)),
                ("node_selinux_config_mode".into(), Value::Number(1.0)),
                ("node_selinux_current_mode".into(), Value::Number(0.0)),
            ]
        );
        assert_eq!(
            config_mode(Path::new("c"), "SELINUX=disabled\n").unwrap(),
            -1.0
        );
        let error = collect(Some("1\n"), Some("SELINUX=sometimes\n")).unwrap_err();
        assert!(error.to_string().contains("SELINUX=sometimes"), "{error}");
    }
}
