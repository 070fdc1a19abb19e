//! `node_ipvs_*` from `/proc/net/ip_vs_stats` and `/proc/net/ip_vs`, as node_exporter's `ipvs`
//! collector: the kernel load balancer's totals (connections, packets, bytes) and, per real
//! server behind each virtual service, its weight and active and inactive connections.
//!
//! IPVS is what kube-proxy's `ipvs` mode and keepalived program, and a backend whose weight
//! dropped to 0 or whose connections pile up is the first thing to look at when a service
//! behind it misbehaves. Backends that agree on every kept label
//! (`ipvs.backend_labels`) are summed, as node_exporter does, so an operator can trade detail
//! for series on a balancer with thousands of backends. Without the `ip_vs` module the files
//! do not exist: nothing to report.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::config::IpvsBackendLabel;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "ipvs",
    default_enabled: true,
    help: "IPVS load-balancer totals and per-backend weight and connections from /proc/net/ip_vs*.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(IpvsCollector {
        stats: ctx.paths.proc("net/ip_vs_stats"),
        services: ctx.paths.proc("net/ip_vs"),
        labels: ctx.config.ipvs.backend_labels.clone(),
    }))
}

struct IpvsCollector {
    stats: PathBuf,
    services: PathBuf,
    labels: Vec<IpvsBackendLabel>,
}

/// The five totals of `ip_vs_stats`, in its column order.
const TOTALS: [(&str, &str); 5] = [
    (
        "node_ipvs_connections_total",
        "The total number of connections made.",
    ),
    (
        "node_ipvs_incoming_packets_total",
        "The total number of incoming packets.",
    ),
    (
        "node_ipvs_outgoing_packets_total",
        "The total number of outgoing packets.",
    ),
    (
        "node_ipvs_incoming_bytes_total",
        "The total amount of incoming data.",
    ),
    (
        "node_ipvs_outgoing_bytes_total",
        "The total amount of outgoing data.",
    ),
];

/// One real server line of `ip_vs`, with its virtual service's fields.
#[derive(Debug, PartialEq)]
struct Backend {
    local_address: String,
    local_port: u16,
    local_mark: String,
    proto: String,
    remote_address: String,
    remote_port: u16,
    weight: u64,
    active: u64,
    inactive: u64,
}

impl Backend {
    fn label(&self, label: IpvsBackendLabel) -> String {
        match label {
            IpvsBackendLabel::LocalAddress => self.local_address.clone(),
            IpvsBackendLabel::LocalPort => self.local_port.to_string(),
            IpvsBackendLabel::RemoteAddress => self.remote_address.clone(),
            IpvsBackendLabel::RemotePort => self.remote_port.to_string(),
            IpvsBackendLabel::Proto => self.proto.clone(),
            IpvsBackendLabel::LocalMark => self.local_mark.clone(),
        }
    }
}

impl Collector for IpvsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(stats) = read_file_if_present(&self.stats)? else {
            return Ok(());
        };
        let totals = parse_totals(&self.stats, &stats)?;
        let services = read_file_if_present(&self.services)?.unwrap_or_default();
        let backends = parse_backends(&self.services, &services)?;

        for ((name, help), value) in TOTALS.iter().zip(totals) {
            out.family(*name, *help, Kind::Counter)
                .sample(&[], value as f64);
        }
        // Label names sorted, as the families' label order; values follow that order.
        let mut labels = self.labels.clone();
        labels.sort_by_key(|label| label.name());
        let mut summed: BTreeMap<Vec<String>, [u64; 3]> = BTreeMap::new();
        for backend in &backends {
            let key = labels.iter().map(|&label| backend.label(label)).collect();
            let sums = summed.entry(key).or_default();
            sums[0] += backend.active;
            sums[1] += backend.inactive;
            sums[2] += backend.weight;
        }
        for (column, name, help) in [
            (
                0,
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            ),
            (
                1,
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            ),
            (
                2,
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            ),
        ] {
            let family = out.family(name, help, Kind::Gauge);
            for (values, sums) in &summed {
                let pairs: Vec<(&'static str, &str)> = labels
                    .iter()
                    .zip(values)
                    .map(|(label, value)| (label.name(), value.as_str()))
                    .collect();
                family.sample(&pairs, sums[column] as f64);
            }
        }
        Ok(())
    }
}

/// Connections, packets in and out, bytes in and out: the hexadecimal row under the two
/// header lines of `ip_vs_stats` (the per-second rates below it are not exported).
fn parse_totals(path: &Path, text: &str) -> Result<[u64; 5], CollectorError> {
    let row = text
        .lines()
        .nth(2)
        .ok_or_else(|| CollectorError::parse(path, "no totals row (line 3)"))?;
    let fields: Vec<&str> = row.split_whitespace().collect();
    let mut totals = [0; 5];
    if fields.len() != totals.len() {
        return Err(CollectorError::parse(
            path,
            format!(
                "line 3: expected 5 columns, found {}: {row:?}",
                fields.len()
            ),
        ));
    }
    for (total, field) in totals.iter_mut().zip(fields) {
        *total = u64::from_str_radix(field, 16).map_err(|_| {
            CollectorError::parse(path, format!("line 3: not hexadecimal: {field:?}"))
        })?;
    }
    Ok(totals)
}

/// The real servers of every virtual service in `ip_vs` (three header lines, then a service
/// line `TCP  C0A80016:0CEA wlc …` or `FWM  10001000 wlc`, each followed by its
/// `  -> C0A85216:0CEA Tunnel 100 248 2` lines).
fn parse_backends(path: &Path, text: &str) -> Result<Vec<Backend>, CollectorError> {
    let error = |number: usize, message: String| {
        CollectorError::parse(path, format!("line {}: {message}", number + 1))
    };
    let mut backends = Vec::new();
    // (proto, local address, local port, mark) of the service the lines below belong to.
    let mut service: Option<(String, String, u16, String)> = None;
    for (number, line) in text.lines().enumerate().skip(3) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let Some((proto, local_address, local_port, local_mark)) = &service else {
                    return Err(error(number, "a real server before any service".into()));
                };
                let (remote_address, remote_port) = address_and_port(remote)
                    .ok_or_else(|| error(number, format!("bad address {remote:?}")))?;
                let count = |field: &str| {
                    field
                        .parse::<u64>()
                        .map_err(|_| error(number, format!("not a count: {field:?}")))
                };
                backends.push(Backend {
                    local_address: local_address.clone(),
                    local_port: *local_port,
                    local_mark: local_mark.clone(),
                    proto: proto.clone(),
                    remote_address,
                    remote_port,
                    weight: count(weight)?,
                    active: count(active)?,
                    inactive: count(inactive)?,
                });
            }
            ["FWM", mark, ..] => {
                service = Some(("FWM".into(), String::new(), 0, (*mark).to_owned()));
            }
            [proto, local, ..] if *proto != "->" => {
                let (address, port) = address_and_port(local)
                    .ok_or_else(|| error(number, format!("bad address {local:?}")))?;
                service = Some(((*proto).to_owned(), address, port, String::new()));
            }
            _ => return Err(error(number, format!("unexpected line {line:?}"))),
        }
    }
    Ok(backends)
}

/// `C0A80016:0CEA` → (`192.168.0.22`, 3306); `[2620:0000:…:0001]:0050` → (`2620::1`, 80).
fn address_and_port(text: &str) -> Option<(String, u16)> {
    let (address, port) = text.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match address.strip_prefix('[') {
        Some(v6) => {
            let v6 = v6.strip_suffix(']')?;
            let mut groups = [0u16; 8];
            let mut parts = v6.split(':');
            for group in &mut groups {
                *group = u16::from_str_radix(parts.next()?, 16).ok()?;
            }
            if parts.next().is_some() {
                return None;
            }
            Ipv6Addr::from(groups).to_string()
        }
        None if address.len() == 8 => {
            Ipv4Addr::from(u32::from_str_radix(address, 16).ok()?).to_string()
        }
        None => return None,
    };
    Some((address, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    #[test]
    fn addresses_are_hexadecimal_in_network_order() {
        assert_eq!(
            address_and_port("C0A80016:0CEA"),
            Some(("192.168.0.22".into(), 3306))
        );
        assert_eq!(
            address_and_port("[2620:0000:0000:0000:0000:0000:0000:0001]:0050"),
            Some(("2620::1".into(), 80))
        );
        for bad in [
            "C0A8016:0CEA",
            "C0A80016",
            "[2620:0000:0001]:0050",
            "C0A80016:XYZ",
        ] {
            assert_eq!(address_and_port(bad), None, "{bad}");
        }
    }

    const SERVICES: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80016:0CEA wlc
  -> C0A85216:0CEA      Tunnel  100    248        2
FWM  10001000 wlc
  -> C0A8321A:0CEA      Route   0      0          1
  -> C0A8321A:0CEA      Route   3      1          1
UDP  C0A80016:0035 rr persistent 360
  -> C0A85216:0035      Masq    1      0          12
";

    fn collect(labels: &[IpvsBackendLabel]) -> MetricSet {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("ip_vs_stats");
        std::fs::write(
            &stats,
            "   Total Incoming Outgoing         Incoming         Outgoing\n\
             \x20  Conns  Packets  Packets            Bytes            Bytes\n\
             \x20     10       1F        0              FF                0\n",
        )
        .unwrap();
        let services = dir.path().join("ip_vs");
        std::fs::write(&services, SERVICES).unwrap();
        let mut out = MetricSet::default();
        IpvsCollector {
            stats,
            services,
            labels: labels.to_vec(),
        }
        .collect(&mut out)
        .unwrap();
        out
    }

    #[test]
    fn totals_and_backends_with_duplicates_summed() {
        let out = collect(&IpvsBackendLabel::ALL);
        assert_eq!(
            out.samples_of("node_ipvs_connections_total")[0].1,
            Value::Number(16.0)
        );
        assert_eq!(
            out.samples_of("node_ipvs_incoming_bytes_total")[0].1,
            Value::Number(255.0)
        );
        let weights = out.samples_of("node_ipvs_backend_weight");
        assert_eq!(weights.len(), 3, "{weights:?}");
        let fwm = weights
            .iter()
            .find(|(labels, _)| labels.contains(&("proto".into(), "FWM".into())))
            .unwrap();
        assert_eq!(fwm.1, Value::Number(3.0));
        assert!(fwm.0.contains(&("local_mark".into(), "10001000".into())));
        assert!(fwm.0.contains(&("local_port".into(), "0".into())));
    }

    #[test]
    fn fewer_labels_sum_more_backends() {
        let out = collect(&[IpvsBackendLabel::RemotePort, IpvsBackendLabel::Proto]);
        let inactive = out.samples_of("node_ipvs_backend_connections_inactive");
        let pairs = |proto: &str, port: &str| {
            vec![
                ("proto".to_owned(), proto.to_owned()),
                ("remote_port".to_owned(), port.to_owned()),
            ]
        };
        assert_eq!(
            inactive,
            [
                (pairs("FWM", "3306"), Value::Number(2.0)),
                (pairs("TCP", "3306"), Value::Number(2.0)),
                (pairs("UDP", "53"), Value::Number(12.0)),
            ]
        );
    }

    #[test]
    fn no_ipvs_is_nothing_to_report_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let collector = IpvsCollector {
            stats: dir.path().join("ip_vs_stats"),
            services: dir.path().join("ip_vs"),
            labels: IpvsBackendLabel::ALL.to_vec(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let text = "h\nh\nh\n  -> C0A85216:0CEA Tunnel 100 248 2\n";
        let error = parse_backends(Path::new("ip_vs"), text).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("line 4: a real server before any service"),
            "{error}"
        );
        let text = "h\nh\nh\nTCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA Tunnel x 248 2\n";
        let error = parse_backends(Path::new("ip_vs"), text).unwrap_err();
        assert!(
            error.to_string().contains("line 5: not a count: \"x\""),
            "{error}"
        );
        let error = parse_totals(Path::new("ip_vs_stats"), "a\nb\n 1 2 3\n").unwrap_err();
        assert!(error.to_string().contains("expected 5 columns"), "{error}");
    }
}
