//! `node_infiniband_*{device,port}` from sysfs `class/infiniband/<device>/ports/<port>/`, as
//! node_exporter's `infiniband` collector: each InfiniBand (or RoCE) port's state, link rate
//! and traffic and error counters, and each adapter's board, firmware and HCA type.
//!
//! On an HPC or storage fabric, symbol errors and link recoveries climbing on one port are a
//! cable or transceiver going bad before the link drops; `port_transmit_wait` is congestion.
//! A counter the driver does not have is left out, and so is one it reports as `N/A` (which
//! node_exporter 1.5 fails the whole collector on). No InfiniBand: nothing to report.

use std::path::{Path, PathBuf};

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file, read_file_if_present,
    sorted_entries,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "infiniband",
    default_enabled: true,
    help: "InfiniBand port state, rate, traffic and error counters from /sys/class/infiniband.",
    build,
};

/// Port counters: the file in `counters/`, the metric name after `node_infiniband_`, its
/// help, and the bytes per unit (the data counters count 4-byte words).
const COUNTERS: [(&str, &str, &str, f64); 22] = [
    (
        "excessive_buffer_overrun_errors",
        "excessive_buffer_overrun_errors_total",
        "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.",
        1.0,
    ),
    (
        "link_downed",
        "link_downed_total",
        "Number of times the link failed to recover from an error state and went down",
        1.0,
    ),
    (
        "link_error_recovery",
        "link_error_recovery_total",
        "Number of times the link successfully recovered from an error state",
        1.0,
    ),
    (
        "local_link_integrity_errors",
        "local_link_integrity_errors_total",
        "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.",
        1.0,
    ),
    (
        "multicast_rcv_packets",
        "multicast_packets_received_total",
        "Number of multicast packets received (including errors)",
        1.0,
    ),
    (
        "multicast_xmit_packets",
        "multicast_packets_transmitted_total",
        "Number of multicast packets transmitted (including errors)",
        1.0,
    ),
    (
        "port_rcv_constraint_errors",
        "port_constraint_errors_received_total",
        "Number of packets received on the switch physical port that are discarded",
        1.0,
    ),
    (
        "port_xmit_constraint_errors",
        "port_constraint_errors_transmitted_total",
        "Number of packets not transmitted from the switch physical port",
        1.0,
    ),
    (
        "port_rcv_data",
        "port_data_received_bytes_total",
        "Number of data octets received on all links",
        4.0,
    ),
    (
        "port_xmit_data",
        "port_data_transmitted_bytes_total",
        "Number of data octets transmitted on all links",
        4.0,
    ),
    (
        "port_rcv_discards",
        "port_discards_received_total",
        "Number of inbound packets discarded by the port because the port is down or congested",
        1.0,
    ),
    (
        "port_xmit_discards",
        "port_discards_transmitted_total",
        "Number of outbound packets discarded by the port because the port is down or congested",
        1.0,
    ),
    (
        "port_rcv_errors",
        "port_errors_received_total",
        "Number of packets containing an error that were received on this port",
        1.0,
    ),
    (
        "port_rcv_packets",
        "port_packets_received_total",
        "Number of packets received on all VLs by this port (including errors)",
        1.0,
    ),
    (
        "port_xmit_packets",
        "port_packets_transmitted_total",
        "Number of packets transmitted on all VLs from this port (including errors)",
        1.0,
    ),
    (
        "port_rcv_remote_physical_errors",
        "port_receive_remote_physical_errors_total",
        "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.",
        1.0,
    ),
    (
        "port_rcv_switch_relay_errors",
        "port_receive_switch_relay_errors_total",
        "Number of packets that could not be forwarded by the switch.",
        1.0,
    ),
    (
        "port_xmit_wait",
        "port_transmit_wait_total",
        "Number of ticks during which the port had data to transmit but no data was sent during the entire tick",
        1.0,
    ),
    (
        "symbol_error",
        "symbol_error_total",
        "Number of minor link errors detected on one or more physical lanes.",
        1.0,
    ),
    (
        "unicast_rcv_packets",
        "unicast_packets_received_total",
        "Number of unicast packets received (including errors)",
        1.0,
    ),
    (
        "unicast_xmit_packets",
        "unicast_packets_transmitted_total",
        "Number of unicast packets transmitted (including errors)",
        1.0,
    ),
    (
        "VL15_dropped",
        "vl15_dropped_total",
        "Number of incoming VL15 packets dropped due to resource limitations.",
        1.0,
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(InfinibandCollector {
        class: ctx.paths.sys("class/infiniband"),
    }))
}

struct InfinibandCollector {
    class: PathBuf,
}

/// One port's reading.
struct Port {
    device: String,
    port: String,
    state: u64,
    physical_state: u64,
    rate_bytes: f64,
    /// Per entry of [`COUNTERS`], `None` where the driver has no such counter.
    counters: Vec<Option<f64>>,
}

impl Collector for InfinibandCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let devices = sorted_entries(&self.class)?;
        if devices.is_empty() {
            return Ok(());
        }
        let mut ports = Vec::new();
        let info = out.family(
            "node_infiniband_info",
            "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            Kind::Gauge,
        );
        for (device, dir) in &devices {
            let text = |file: &str| -> Result<String, CollectorError> {
                Ok(read_file_if_present(&dir.join(file))?
                    .unwrap_or_default()
                    .trim()
                    .to_owned())
            };
            info.sample(
                &[
                    ("board_id", &text("board_id")?),
                    ("device", device),
                    ("firmware_version", &text("fw_ver")?),
                    ("hca_type", &text("hca_type")?),
                ],
                1.0,
            );
            for (port, port_dir) in sorted_entries(&dir.join("ports"))? {
                ports.push(read_port(device, port, &port_dir)?);
            }
        }
        for (name, help, value) in [
            (
                "node_infiniband_state_id",
                "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                (|p: &Port| p.state as f64) as fn(&Port) -> f64,
            ),
            (
                "node_infiniband_physical_state_id",
                "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                |p: &Port| p.physical_state as f64,
            ),
            (
                "node_infiniband_rate_bytes_per_second",
                "Maximum signal transfer rate",
                |p: &Port| p.rate_bytes,
            ),
        ] {
            let family = out.family(name, help, Kind::Gauge);
            for port in &ports {
                family.sample(
                    &[("device", &port.device), ("port", &port.port)],
                    value(port),
                );
            }
        }
        for (column, (_, name, help, _)) in COUNTERS.iter().enumerate() {
            let family = out.family(format!("node_infiniband_{name}"), *help, Kind::Counter);
            for port in &ports {
                if let Some(value) = port.counters[column] {
                    family.sample(&[("device", &port.device), ("port", &port.port)], value);
                }
            }
        }
        Ok(())
    }
}

fn read_port(device: &str, port: String, dir: &Path) -> Result<Port, CollectorError> {
    let state_path = dir.join("state");
    let physical_path = dir.join("phys_state");
    let rate_path = dir.join("rate");
    let mut counters = Vec::with_capacity(COUNTERS.len());
    for (file, _, _, bytes_per_unit) in COUNTERS {
        let path = dir.join("counters").join(file);
        counters.push(match read_file_if_present(&path)? {
            Some(text) if text.trim() == "N/A" => None,
            Some(text) => Some(parse_count(&path, &text)? as f64 * bytes_per_unit),
            None => None,
        });
    }
    Ok(Port {
        device: device.to_owned(),
        state: state_id(&state_path, &read_file(&state_path)?)?,
        physical_state: state_id(&physical_path, &read_file(&physical_path)?)?,
        rate_bytes: rate_bytes(&rate_path, &read_file(&rate_path)?)?,
        port,
        counters,
    })
}

fn parse_count(path: &Path, text: &str) -> Result<u64, CollectorError> {
    text.trim()
        .parse()
        .map_err(|_| CollectorError::parse(path, format!("not a count: {:?}", text.trim())))
}

/// `4: ACTIVE` → 4.
fn state_id(path: &Path, text: &str) -> Result<u64, CollectorError> {
    let (id, _) = text.split_once(':').unwrap_or((text, ""));
    parse_count(path, id)
}

/// `40 Gb/sec (4X QDR)` → 5e9 bytes per second.
fn rate_bytes(path: &Path, text: &str) -> Result<f64, CollectorError> {
    text.split_whitespace()
        .next()
        .zip(text.split_whitespace().nth(1))
        .filter(|(_, unit)| *unit == "Gb/sec")
        .and_then(|(number, _)| number.parse::<f64>().ok())
        .map(|gigabits| gigabits * 1e9 / 8.0)
        .ok_or_else(|| {
            CollectorError::parse(path, format!("not a rate in Gb/sec: {:?}", text.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_rates() {
        let path = Path::new("x");
        assert_eq!(state_id(path, "4: ACTIVE\n").unwrap(), 4);
        assert_eq!(state_id(path, "5: LinkUp\n").unwrap(), 5);
        assert_eq!(rate_bytes(path, "40 Gb/sec (4X QDR)\n").unwrap(), 5e9);
        assert_eq!(rate_bytes(path, "2.5 Gb/sec (1X SDR)\n").unwrap(), 3.125e8);
        assert!(rate_bytes(path, "fast\n").is_err());
        assert!(state_id(path, "ACTIVE\n").is_err());
    }

    #[test]
    fn counters_in_bytes_and_absent_or_na_ones_left_out() {
        let class = tempfile::tempdir().unwrap();
        let collector = InfinibandCollector {
            class: class.path().join("infiniband"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let port = class.path().join("infiniband/mlx5_0/ports/1");
        std::fs::create_dir_all(port.join("counters")).unwrap();
        for (file, text) in [
            ("state", "4: ACTIVE"),
            ("phys_state", "5: LinkUp"),
            ("rate", "100 Gb/sec (4X EDR)"),
            ("counters/port_rcv_data", "1000"),
            ("counters/symbol_error", "N/A"),
        ] {
            std::fs::write(port.join(file), format!("{text}\n")).unwrap();
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        out.normalize();
        let family = |name: &str| out.families.iter().find(|f| f.name == name);
        let received = family("node_infiniband_port_data_received_bytes_total").unwrap();
        assert_eq!(
            received.samples[0].label_pairs(),
            [("device", "mlx5_0"), ("port", "1")]
        );
        assert_eq!(
            received.samples[0].value,
            crate::exposition::Value::Number(4000.0)
        );
        assert!(family("node_infiniband_symbol_error_total").is_none());
        assert!(family("node_infiniband_link_downed_total").is_none());
    }
}
