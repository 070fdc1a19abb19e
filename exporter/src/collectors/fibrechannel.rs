//! `node_fibrechannel_*{fc_host}` from sysfs `class/fc_host/<host>/`, as node_exporter's
//! `fibrechannel` collector: each Fibre Channel HBA port's identity, state and speed, and its
//! link error and traffic counters.
//!
//! On a SAN-attached host, CRC errors, loss of sync and link failures rising on one port are
//! a dirty optic or a bad cable, seen before multipath fails over. The kernel writes the
//! counters in hexadecimal; one it does not support reads as all ones and is left out, as
//! node_exporter does, and one it does not have at all reads as 0, as there. No FC HBA:
//! nothing to report.

use std::path::{Path, PathBuf};

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present, sorted_entries,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "fibrechannel",
    default_enabled: true,
    help: "Fibre Channel HBA port state, speed, traffic and link error counters from /sys/class/fc_host.",
    build,
};

/// `statistics/` files, the metric name after `node_fibrechannel_`, and its help.
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
];

/// Files of the host directory reported as `node_fibrechannel_info` labels (sorted, after
/// `fc_host`), the hexadecimal names without their `0x`.
const INFO: [&str; 10] = [
    "dev_loss_tmo",
    "fabric_name",
    "port_id",
    "port_name",
    "port_state",
    "port_type",
    "speed",
    "supported_classes",
    "supported_speeds",
    "symbolic_name",
];

/// What a counter the hardware does not support reads as.
const NOT_SUPPORTED: u64 = u64::MAX;

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(FibreChannelCollector {
        class: ctx.paths.sys("class/fc_host"),
    }))
}

struct FibreChannelCollector {
    class: PathBuf,
}

impl Collector for FibreChannelCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let hosts = sorted_entries(&self.class)?;
        let mut readings = Vec::with_capacity(hosts.len());
        for (host, dir) in &hosts {
            let mut info = Vec::with_capacity(INFO.len());
            for file in INFO {
                let text = read_file_if_present(&dir.join(file))?.unwrap_or_default();
                let text = text.trim();
                info.push(text.strip_prefix("0x").unwrap_or(text).to_owned());
            }
            let mut counters = Vec::with_capacity(COUNTERS.len());
            for (file, _, _) in COUNTERS {
                let path = dir.join("statistics").join(file);
                counters.push(match read_file_if_present(&path)? {
                    Some(text) => parse_hex(&path, &text)?,
                    None => Some(0),
                });
            }
            readings.push((host, info, counters));
        }
        if readings.is_empty() {
            return Ok(());
        }
        let family = out.family(
            "node_fibrechannel_info",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
            Kind::Gauge,
        );
        for (host, info, _) in &readings {
            let mut labels: Vec<(&'static str, &str)> = vec![("fc_host", host.as_str())];
            labels.extend(INFO.iter().zip(info).map(|(l, v)| (*l, v.as_str())));
            labels.sort_unstable();
            family.sample(&labels, 1.0);
        }
        for (column, (_, name, help)) in COUNTERS.iter().enumerate() {
            let family = out.family(format!("node_fibrechannel_{name}"), *help, Kind::Counter);
            for (host, _, counters) in &readings {
                if let Some(value) = counters[column] {
                    family.sample(&[("fc_host", host)], value as f64);
                }
            }
        }
        Ok(())
    }
}

/// `0x1a` → 26; all ones (not supported) → `None`.
fn parse_hex(path: &Path, text: &str) -> Result<Option<u64>, CollectorError> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let value = u64::from_str_radix(digits, 16)
        .map_err(|_| CollectorError::parse(path, format!("not hexadecimal: {text:?}")))?;
    Ok((value != NOT_SUPPORTED).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    #[test]
    fn hexadecimal_counters_with_unsupported_ones_left_out() {
        let path = Path::new("x");
        assert_eq!(parse_hex(path, "0x1a\n").unwrap(), Some(26));
        assert_eq!(parse_hex(path, "0xffffffffffffffff\n").unwrap(), None);
        assert!(parse_hex(path, "twelve\n").is_err());
    }

    #[test]
    fn info_without_0x_and_a_missing_counter_as_zero() {
        let class = tempfile::tempdir().unwrap();
        let collector = FibreChannelCollector {
            class: class.path().join("fc_host"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let host = class.path().join("fc_host/host3");
        std::fs::create_dir_all(host.join("statistics")).unwrap();
        for (file, text) in [
            ("port_name", "0x1000e0071bce95f2"),
            ("port_state", "Online"),
            ("statistics/invalid_crc_count", "0x2"),
            ("statistics/rx_words", "0xffffffffffffffff"),
        ] {
            std::fs::write(host.join(file), format!("{text}\n")).unwrap();
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let family = |name: &str| out.families.iter().find(|f| f.name == name).unwrap();
        let info = family("node_fibrechannel_info").samples[0].label_pairs();
        assert!(
            info.contains(&("port_name", "1000e0071bce95f2")),
            "{info:?}"
        );
        assert!(info.contains(&("fc_host", "host3")), "{info:?}");
        let value = |name: &str| family(name).samples.first().map(|s| s.value.clone());
        assert_eq!(
            value("node_fibrechannel_invalid_crc_total"),
            Some(Value::Number(2.0))
        );
        assert_eq!(
            value("node_fibrechannel_nos_total"),
            Some(Value::Number(0.0))
        );
        assert_eq!(value("node_fibrechannel_rx_words_total"), None);
    }
}
