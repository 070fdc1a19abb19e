//! `node_udp_queues{ip,queue}`: bytes the kernel holds in the receive and send queues of all UDP
//! sockets, per address family, from `/proc/net/udp{,6}`, as node_exporter's `udp_queues`
//! collector. A receive queue that stays full is a DNS, syslog or statsd server falling behind;
//! `node_netstat_Udp_RcvbufErrors` counts what it then drops.
//!
//! The files share `/proc/net/tcp`'s layout, so tcpstat's reader sums them. Without IPv6 there
//! is no `udp6` and only `ip="v4"` is exported.

use std::path::PathBuf;

use super::tcpstat::{Counts, count_file};
use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "udp_queues",
    default_enabled: true,
    help: "Bytes queued in UDP sockets' receive and send queues from /proc/net/udp{,6}.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(UdpQueuesCollector {
        families: [
            ("v4", ctx.paths.proc("net/udp")),
            ("v6", ctx.paths.proc("net/udp6")),
        ],
    }))
}

struct UdpQueuesCollector {
    /// The `ip` label and the socket table of each address family.
    families: [(&'static str, PathBuf); 2],
}

impl Collector for UdpQueuesCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut queued = Vec::new();
        for (ip, path) in &self.families {
            let mut counts = Counts::default();
            match count_file(path, &mut counts) {
                Ok(()) => queued.push((*ip, counts)),
                Err(CollectorError::Io { source, .. })
                    if *ip == "v6" && source.kind() == std::io::ErrorKind::NotFound => {}
                Err(other) => return Err(other),
            }
        }
        let family = out.family(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            Kind::Gauge,
        );
        for (ip, counts) in &queued {
            family.sample(&[("ip", ip), ("queue", "rx")], counts.rx_queued as f64);
            family.sample(&[("ip", ip), ("queue", "tx")], counts.tx_queued as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  117: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 22071 2 0000000000000000 0
  250: 00000000:14BA 00000000:0000 07 00000010:00000A00 00:00000000 00000000     0        0 34018 2 0000000000000000 12
  339: 0F02000A:0044 0202000A:0043 01 00000000:00000100 00:00000000 00000000     0        0 19262 2 0000000000000000 0
";

    fn collected(dir: &std::path::Path) -> Result<Vec<(String, String, Value)>, CollectorError> {
        let mut out = MetricSet::default();
        UdpQueuesCollector {
            families: [("v4", dir.join("udp")), ("v6", dir.join("udp6"))],
        }
        .collect(&mut out)?;
        Ok(out.families[0]
            .samples
            .iter()
            .map(|s| {
                (
                    s.labels[0].1.clone(),
                    s.labels[1].1.clone(),
                    s.value.clone(),
                )
            })
            .collect())
    }

    #[test]
    fn sums_queues_per_family_and_ipv6_may_be_absent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("udp"), UDP).unwrap();
        let pair =
            |ip: &str, queue: &str, v: f64| (ip.to_owned(), queue.to_owned(), Value::Number(v));
        assert_eq!(
            collected(dir.path()).unwrap(),
            [pair("v4", "rx", 2816.0), pair("v4", "tx", 16.0)]
        );
        std::fs::write(dir.path().join("udp6"), UDP.lines().next().unwrap()).unwrap();
        assert_eq!(
            collected(dir.path()).unwrap(),
            [
                pair("v4", "rx", 2816.0),
                pair("v4", "tx", 16.0),
                pair("v6", "rx", 0.0),
                pair("v6", "tx", 0.0),
            ]
        );
        std::fs::remove_file(dir.path().join("udp")).unwrap();
        assert!(collected(dir.path()).is_err());
    }
}
