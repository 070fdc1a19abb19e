//! `node_network_{receive,transmit}_<field>_total{device}` from `/proc/net/dev`, as
//! node_exporter's netdev collector with `--no-collector.netdev.netlink`, filtered by
//! `netdev.device_include`/`device_exclude` (`--collector.netdev.device-include/exclude`).
//!
//! The file, not rtnetlink: it is the same counters, it works under `--path.procfs` (a
//! container reading the host's `/proc`, or the fixture tree), and its column names are the
//! metric names dashboards already use (`receive_errs`, `transmit_colls`). Parsed here rather
//! than with `procfs_core::net::InterfaceDeviceStatus`, which reports a malformed line as an
//! internal procfs bug with no line number or field.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::config::DeviceFilter;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netdev",
    default_enabled: true,
    help: "Network interface byte, packet, error and drop counters from /proc/net/dev.",
    build,
};

/// `/proc/net/dev` columns in file order, by their node_exporter names.
const FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
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

/// One interface line: its name and the [`FIELDS`] values.
type Device = (String, [u64; FIELDS.len()]);

impl Collector for NetdevCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let mut devices = parse(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        devices.retain(|(name, _)| self.filter.accepts(name));
        devices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (index, field) in FIELDS.iter().enumerate() {
            let family = out.family(
                format!("node_network_{field}_total"),
                format!("Network device statistic {field}."),
                Kind::Counter,
            );
            for (name, values) in &devices {
                family.sample(&[("device", name)], values[index] as f64);
            }
        }
        Ok(())
    }
}

/// Two header lines, then `  name: v1 v2 ... v16` per interface. Errors name the line, the
/// device and the field.
fn parse(text: &str) -> Result<Vec<Device>, String> {
    let mut devices = Vec::new();
    for (index, line) in text.lines().enumerate().skip(2) {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {line_no}: expected `device: counters...`"))?;
        let name = name.trim();
        let columns: Vec<&str> = rest.split_ascii_whitespace().collect();
        if columns.len() != FIELDS.len() {
            return Err(format!(
                "line {line_no}: device {name}: expected {} counters, found {}",
                FIELDS.len(),
                columns.len()
            ));
        }
        let mut values = [0; FIELDS.len()];
        for ((value, column), field) in values.iter_mut().zip(columns).zip(FIELDS) {
            *value = column.parse().map_err(|_| {
                format!("line {line_no}: device {name}: {field}: bad value {column:?}")
            })?;
        }
        devices.push((name.to_owned(), values));
    }
    Ok(devices)
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
    fn malformed_lines_name_line_device_and_field() {
        let truncated = format!("{DEV}  eth1: 1 2 3\n");
        assert_eq!(
            parse(&truncated).unwrap_err(),
            "line 6: device eth1: expected 16 counters, found 3"
        );
        let garbage = DEV.replacen("4618", "lots", 1);
        assert_eq!(
            parse(&garbage).unwrap_err(),
            "line 3: device lo: receive_packets: bad value \"lots\""
        );
        assert!(parse(&format!("{DEV}eth1 1 2\n")).is_err());
        let error = collect(&truncated, DeviceFilter::default()).unwrap_err();
        assert!(error.to_string().contains("/dev: line 6"), "{error}");
    }

    #[test]
    fn name_glued_to_the_first_counter_is_fine() {
        // Kernels before 3.x printed `%6s:%8lu`, so a long byte count touches the colon.
        let text = "h1\nh2\n  eth0:93482137612 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";
        assert_eq!(parse(text).unwrap()[0].1[0], 93482137612);
    }
}
