//! `node_sockstat_*` from `/proc/net/sockstat` and `/proc/net/sockstat6`, as node_exporter:
//! `node_sockstat_sockets_used`, `node_sockstat_<PROTO>_{inuse,orphan,tw,alloc,mem,memory}`
//! and `node_sockstat_<PROTO>_mem_bytes` (`mem` is in pages).
//!
//! Either file may be absent (a kernel without IPv4 or IPv6); only both missing is "no data".

use std::io::ErrorKind;
use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "sockstat",
    default_enabled: true,
    help: "Socket counts and socket buffer memory per protocol from /proc/net/sockstat{,6}.",
    build,
};

/// The per-protocol keys node_exporter exports; the kernel may add others, which it ignores.
const KEYS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(SockstatCollector {
        files: [
            ctx.paths.proc("net/sockstat"),
            ctx.paths.proc("net/sockstat6"),
        ],
        page_size: rustix::param::page_size() as f64,
    }))
}

struct SockstatCollector {
    files: [PathBuf; 2],
    page_size: f64,
}

impl Collector for SockstatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut found = false;
        for path in &self.files {
            let text = match read_file(path) {
                Ok(text) => text,
                Err(CollectorError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                    continue;
                }
                Err(other) => return Err(other),
            };
            found = true;
            let stats = parse(&text).map_err(|m| CollectorError::parse(path, m))?;
            self.emit(stats, out);
        }
        if !found {
            return Err(CollectorError::NoData(format!(
                "neither {} nor {} exists",
                self.files[0].display(),
                self.files[1].display()
            )));
        }
        Ok(())
    }
}

impl SockstatCollector {
    fn emit(&self, stats: Vec<Stat>, out: &mut MetricSet) {
        for stat in stats {
            match stat {
                Stat::Used(used) => out.gauge(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                    used,
                ),
                Stat::Protocol {
                    protocol,
                    key,
                    value,
                } => {
                    let help = format!("Number of {protocol} sockets in state {key}.");
                    out.family(format!("node_sockstat_{protocol}_{key}"), help, Kind::Gauge)
                        .sample(&[], value);
                    if key == "mem" {
                        let help = format!("Number of {protocol} sockets in state mem_bytes.");
                        out.family(
                            format!("node_sockstat_{protocol}_mem_bytes"),
                            help,
                            Kind::Gauge,
                        )
                        .sample(&[], value * self.page_size);
                    }
                }
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Stat {
    /// `sockets: used N`
    Used(f64),
    /// `TCP: inuse 37 ...` → one per known key.
    Protocol {
        protocol: String,
        key: &'static str,
        value: f64,
    },
}

/// Lines of `PROTO: key value key value ...`. Errors name the line and the key.
fn parse(text: &str) -> Result<Vec<Stat>, String> {
    let mut stats = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (protocol, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {line_no}: expected `PROTO: key value ...`"))?;
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        if !fields.len().is_multiple_of(2) {
            return Err(format!(
                "line {line_no}: {protocol}: odd number of fields, expected key/value pairs"
            ));
        }
        for pair in fields.chunks_exact(2) {
            let (key, value) = (pair[0], pair[1]);
            let value: f64 = value
                .parse::<i64>()
                .map_err(|_| format!("line {line_no}: {protocol} {key}: bad value {value:?}"))?
                as f64;
            if protocol == "sockets" {
                if key == "used" {
                    stats.push(Stat::Used(value));
                }
            } else if let Some(known) = KEYS.iter().find(|k| **k == key) {
                stats.push(Stat::Protocol {
                    protocol: protocol.to_owned(),
                    key: known,
                    value,
                });
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(protocol: &str, key: &'static str, value: f64) -> Stat {
        Stat::Protocol {
            protocol: protocol.to_owned(),
            key,
            value,
        }
    }

    #[test]
    fn parses_used_and_protocol_pairs() {
        let text = "sockets: used 1214\nTCP: inuse 37 orphan 2 tw 196 alloc 64 mem 51\n\
                    FRAG: inuse 0 memory 0\nNEW: inuse 1 shiny 3\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                Stat::Used(1214.0),
                proto("TCP", "inuse", 37.0),
                proto("TCP", "orphan", 2.0),
                proto("TCP", "tw", 196.0),
                proto("TCP", "alloc", 64.0),
                proto("TCP", "mem", 51.0),
                proto("FRAG", "inuse", 0.0),
                proto("FRAG", "memory", 0.0),
                proto("NEW", "inuse", 1.0),
            ]
        );
    }

    #[test]
    fn malformed_lines_name_line_and_key() {
        assert_eq!(
            parse("sockets: used 1\nTCP: inuse 3 orphan\n").unwrap_err(),
            "line 2: TCP: odd number of fields, expected key/value pairs"
        );
        assert_eq!(
            parse("TCP: inuse many\n").unwrap_err(),
            "line 1: TCP inuse: bad value \"many\""
        );
        assert!(parse("TCP inuse 3\n").is_err());
    }

    #[test]
    fn mem_is_also_exported_in_bytes_and_ipv6_alone_is_enough() {
        let dir = tempfile::tempdir().unwrap();
        let collector = SockstatCollector {
            files: [dir.path().join("sockstat"), dir.path().join("sockstat6")],
            page_size: 4096.0,
        };
        let mut out = MetricSet::default();
        assert!(matches!(
            collector.collect(&mut out),
            Err(CollectorError::NoData(_))
        ));
        std::fs::write(dir.path().join("sockstat6"), "TCP6: inuse 11\n").unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.families.len(), 1);
        std::fs::write(dir.path().join("sockstat"), "UDP: inuse 9 mem 12\n").unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let bytes = out
            .families
            .iter()
            .find(|f| f.name == "node_sockstat_UDP_mem_bytes")
            .unwrap();
        assert_eq!(
            bytes.samples[0].value,
            crate::exposition::Value::Number(12.0 * 4096.0)
        );
    }
}
