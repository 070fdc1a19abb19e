//! `node_arp_entries{device}` from `/proc/net/arp`: neighbour-table entries per interface, as
//! node_exporter 1.5's `arp` collector. A table near `net.ipv4.neigh.default.gc_thresh3`
//! drops neighbours ("neighbour table overflow"), which looks like random packet loss.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "arp",
    default_enabled: true,
    help: "ARP (IPv4 neighbour) table entries per interface from /proc/net/arp.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(ArpCollector {
        path: ctx.paths.proc("net/arp"),
    }))
}

struct ArpCollector {
    path: PathBuf,
}

impl Collector for ArpCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let entries = count(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        let family = out.family("node_arp_entries", "ARP entries by device", Kind::Gauge);
        for (device, n) in entries {
            family.sample(&[("device", device)], n as f64);
        }
        Ok(())
    }
}

/// Entries per device (the last of six columns), after the header line.
fn count(text: &str) -> Result<BTreeMap<&str, u64>, String> {
    let mut entries = BTreeMap::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        let [_, _, _, _, _, device] = columns[..] else {
            return Err(format!(
                "line {}: {} columns, expected 6",
                index + 1,
                columns.len()
            ));
        };
        *entries.entry(device).or_insert(0) += 1;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_entries_per_device() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         cc:aa:dd:ee:ff:01     *        eth0
192.168.1.7      0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.2         0x1         0x2         02:42:0a:00:00:02     *        docker0
";
        let entries = count(text).unwrap();
        assert_eq!(
            entries.into_iter().collect::<Vec<_>>(),
            [("docker0", 1), ("eth0", 2)]
        );
        assert_eq!(
            count("IP address HW type\n10.0.0.2 0x1 0x2\n").unwrap_err(),
            "line 2: 3 columns, expected 6"
        );
    }
}
