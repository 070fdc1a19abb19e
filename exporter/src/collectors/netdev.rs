//! `node_network_{receive,transmit}_<field>_total{device}` from `/proc/net/dev`, as
//! node_exporter's netdev collector with `--no-collector.netdev.netlink`, filtered by
//! `netdev.device_include`/`device_exclude` (`--collector.netdev.device-include/exclude`).
//!
//! The file, not rtnetlink: it is the same counters, it works under `--path.procfs` (a
//! container reading the host's `/proc`, or the fixture tree), and its column names are the
//! metric names dashboards already use (`receive_errs`, `transmit_colls`).

use std::path::PathBuf;

use procfs_core::net::{DeviceStatus, InterfaceDeviceStatus};

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_procfs};
use crate::config::DeviceFilter;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netdev",
    default_enabled: true,
    help: "Network interface byte, packet, error and drop counters from /proc/net/dev.",
    build,
};

/// A metric name infix and how to get its value.
type Field = (&'static str, fn(&DeviceStatus) -> u64);

/// `/proc/net/dev` columns in file order, by their node_exporter names.
const FIELDS: [Field; 16] = [
    ("receive_bytes", |d| d.recv_bytes),
    ("receive_packets", |d| d.recv_packets),
    ("receive_errs", |d| d.recv_errs),
    ("receive_drop", |d| d.recv_drop),
    ("receive_fifo", |d| d.recv_fifo),
    ("receive_frame", |d| d.recv_frame),
    ("receive_compressed", |d| d.recv_compressed),
    ("receive_multicast", |d| d.recv_multicast),
    ("transmit_bytes", |d| d.sent_bytes),
    ("transmit_packets", |d| d.sent_packets),
    ("transmit_errs", |d| d.sent_errs),
    ("transmit_drop", |d| d.sent_drop),
    ("transmit_fifo", |d| d.sent_fifo),
    ("transmit_colls", |d| d.sent_colls),
    ("transmit_carrier", |d| d.sent_carrier),
    ("transmit_compressed", |d| d.sent_compressed),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let filter = &ctx.config.netdev;
    Ok(Box::new(NetdevCollector {
        path: ctx.paths.proc("net/dev"),
        filter: DeviceFilter {
            device_include: filter.device_include.clone(),
            device_exclude: filter.device_exclude.clone(),
        },
    }))
}

struct NetdevCollector {
    path: PathBuf,
    filter: DeviceFilter,
}

impl Collector for NetdevCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        // procfs-core's errors do not say which file; ours must.
        let InterfaceDeviceStatus(all) = read_procfs(&self.path)
            .map_err(|e| CollectorError::parse(&self.path, e.to_string()))?;
        let devices = selected(all.into_values(), &self.filter);
        for (field, value) in FIELDS {
            let family = out.family(
                format!("node_network_{field}_total"),
                format!("Network device statistic {field}."),
                Kind::Counter,
            );
            for device in &devices {
                family.sample(&[("device", &device.name)], value(device) as f64);
            }
        }
        Ok(())
    }
}

/// The devices that pass the filter, by name, so the output order is stable.
fn selected(
    devices: impl Iterator<Item = DeviceStatus>,
    filter: &DeviceFilter,
) -> Vec<DeviceStatus> {
    let mut devices: Vec<_> = devices.filter(|d| filter.accepts(&d.name)).collect();
    devices.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    devices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;
    use crate::exposition::Value;

    const DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 8750611    4618    0    0    0     0          0         0  8750611    4618    0    0    0     0       0          0
  eth0: 93482137612 71634812 3 118 0 2 0 402231 12879304457 38126604 0 0 0 0 1 0
wlp2s0: 482919331  612044   12   57    1     9          0      8713 60219844   301877    4    0    0    17      0          0
";

    fn collect(text: &str, filter: DeviceFilter) -> Result<MetricSet, CollectorError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev");
        std::fs::write(&path, text).unwrap();
        let mut out = MetricSet::default();
        NetdevCollector { path, filter }.collect(&mut out)?;
        Ok(out)
    }

    fn value(set: &MetricSet, name: &str, device: &str) -> Option<f64> {
        let family = set.families.iter().find(|f| f.name == name)?;
        let sample = family.samples.iter().find(|s| s.labels[0].1 == device)?;
        match sample.value {
            Value::Number(v) => Some(v),
            Value::Histogram(_) => None,
        }
    }

    #[test]
    fn columns_map_to_node_exporter_names() {
        let set = collect(DEV, DeviceFilter::default()).unwrap();
        assert_eq!(set.families.len(), 16);
        assert_eq!(
            value(&set, "node_network_receive_bytes_total", "eth0"),
            Some(93482137612.0)
        );
        assert_eq!(
            value(&set, "node_network_receive_drop_total", "eth0"),
            Some(118.0)
        );
        assert_eq!(
            value(&set, "node_network_receive_multicast_total", "wlp2s0"),
            Some(8713.0)
        );
        assert_eq!(
            value(&set, "node_network_transmit_colls_total", "wlp2s0"),
            Some(17.0)
        );
        assert_eq!(
            value(&set, "node_network_transmit_carrier_total", "eth0"),
            Some(1.0)
        );
        let devices: Vec<_> = set.families[0]
            .samples
            .iter()
            .map(|s| s.labels[0].1.as_str())
            .collect();
        assert_eq!(devices, ["eth0", "lo", "wlp2s0"]);
    }

    #[test]
    fn include_and_exclude_filter_devices() {
        let exclude = DeviceFilter {
            device_include: None,
            device_exclude: Some(Pattern::new("^lo$").unwrap()),
        };
        let set = collect(DEV, exclude).unwrap();
        assert_eq!(value(&set, "node_network_receive_bytes_total", "lo"), None);
        assert!(value(&set, "node_network_receive_bytes_total", "eth0").is_some());

        let include = DeviceFilter {
            device_include: Some(Pattern::new("^wl").unwrap()),
            device_exclude: None,
        };
        let set = collect(DEV, include).unwrap();
        assert_eq!(set.families[0].samples.len(), 1);
        assert!(value(&set, "node_network_receive_bytes_total", "wlp2s0").is_some());
    }

    #[test]
    fn malformed_file_is_an_error() {
        let truncated = format!("{DEV}  eth1: 1 2 3\n");
        assert!(collect(&truncated, DeviceFilter::default()).is_err());
        let garbage = DEV.replace("8750611", "lots");
        let error = collect(&garbage, DeviceFilter::default()).unwrap_err();
        assert!(error.to_string().contains("/dev: "), "{error}");
    }
}
