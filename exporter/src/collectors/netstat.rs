//! `node_netstat_<Protocol>_<Field>` for the fields of `/proc/net/netstat`, `/proc/net/snmp`
//! and `/proc/net/snmp6` matching `netstat.fields` (`--collector.netstat.fields`), by default
//! node_exporter 1.5's set: TCP/UDP/ICMP/IP traffic, errors, listen-queue overflows and SYN
//! cookies.
//!
//! Parsed generically rather than with `procfs_core::Snmp`: that struct has no `TcpExt` or
//! `IpExt` and a fixed field list, while node_exporter exports whatever field the kernel
//! lists and the regex selects. Untyped, as in node_exporter: `Tcp_CurrEstab` is a gauge,
//! `Tcp_InSegs` a counter, and the file does not say which.

use std::path::PathBuf;

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file, read_file_if_present,
};
use crate::config::Pattern;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netstat",
    default_enabled: true,
    help: "TCP, UDP, ICMP and IP protocol counters from /proc/net/{netstat,snmp,snmp6}.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(NetstatCollector {
        netstat: ctx.paths.proc("net/netstat"),
        snmp: ctx.paths.proc("net/snmp"),
        snmp6: ctx.paths.proc("net/snmp6"),
        fields: ctx.config.netstat.fields.clone(),
    }))
}

struct NetstatCollector {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Pattern,
}

/// One field: `Protocol_Field` and its value.
type Stat = (String, f64);

impl Collector for NetstatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let keep = |key: &str| self.fields.is_match(key);
        let mut stats = Vec::new();
        for path in [&self.netstat, &self.snmp] {
            let text = read_file(path)?;
            let parsed = parse_paired(&text, keep).map_err(|m| CollectorError::parse(path, m))?;
            stats.extend(parsed);
        }
        // Absent when IPv6 is disabled.
        if let Some(text) = read_file_if_present(&self.snmp6)? {
            let parsed = parse_snmp6(&text, keep);
            stats.extend(parsed.map_err(|m| CollectorError::parse(&self.snmp6, m))?)
        }
        stats.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in stats {
            let help = format!("Statistic {}.", key.replacen('_', "", 1));
            out.family(format!("node_netstat_{key}"), help, Kind::Untyped)
                .sample(&[], value);
        }
        Ok(())
    }
}

/// `/proc/net/{netstat,snmp}`: pairs of lines, a header `Proto: Name1 Name2 ...` followed by
/// `Proto: value1 value2 ...`. Errors name the line and the field.
/// Only fields whose `Protocol_Field` name passes `keep` are returned (the names of the
/// hundreds of dropped ones are never allocated); every value is still checked.
fn parse_paired(text: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<Stat>, String> {
    let mut key = String::new();
    let mut stats = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    while let Some((header_index, header)) = lines.next() {
        let line_no = header_index + 1;
        let (protocol, names) = split_protocol(header)
            .ok_or_else(|| format!("line {line_no}: expected `Protocol: names...`"))?;
        let (value_index, values_line) = lines
            .next()
            .ok_or_else(|| format!("line {line_no}: {protocol} header without a value line"))?;
        let value_no = value_index + 1;
        let (value_protocol, values) = split_protocol(values_line)
            .ok_or_else(|| format!("line {value_no}: expected `{protocol}: values...`"))?;
        if value_protocol != protocol {
            return Err(format!(
                "line {value_no}: values for {value_protocol} follow the {protocol} header"
            ));
        }
        let names: Vec<&str> = names.split_ascii_whitespace().collect();
        let values: Vec<&str> = values.split_ascii_whitespace().collect();
        if names.len() != values.len() {
            return Err(format!(
                "line {value_no}: {protocol} has {} names but {} values",
                names.len(),
                values.len()
            ));
        }
        for (name, value) in names.into_iter().zip(values) {
            let value: f64 = value
                .parse()
                .map_err(|_| format!("line {value_no}: {protocol} {name}: bad value {value:?}"))?;
            push_kept(&mut stats, &mut key, protocol, name, value, &keep);
        }
    }
    Ok(stats)
}

/// Adds `protocol_field` when the field filter keeps it. The name is built in the caller's
/// scratch `key` and copied only when kept: most fields are dropped, so most need no allocation.
fn push_kept(
    stats: &mut Vec<Stat>,
    key: &mut String,
    protocol: &str,
    field: &str,
    value: f64,
    keep: impl Fn(&str) -> bool,
) {
    key.clear();
    key.push_str(protocol);
    key.push('_');
    key.push_str(field);
    if keep(key) {
        stats.push((key.clone(), value));
    }
}

fn split_protocol(line: &str) -> Option<(&str, &str)> {
    let (protocol, rest) = line.split_once(':')?;
    (!protocol.is_empty() && !protocol.contains(' ')).then_some((protocol, rest))
}

/// `/proc/net/snmp6`: one `Ip6InReceives  123` per line; the protocol is the name up to and
/// including its first `6` (`Icmp6InMsgs` → `Icmp6_InMsgs`). Lines without a `6` are skipped,
/// as node_exporter does.
fn parse_snmp6(text: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<Stat>, String> {
    let mut stats = Vec::new();
    let mut key = String::new();
    for (index, line) in text.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = name.find('6') else {
            continue;
        };
        let value: f64 = value
            .parse()
            .map_err(|_| format!("line {}: {name}: bad value {value:?}", index + 1))?;
        let (protocol, field) = name.split_at(six + 1);
        push_kept(&mut stats, &mut key, protocol, field, value, &keep);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_NETSTAT_FIELDS;

    fn keys(stats: &[Stat]) -> Vec<&str> {
        stats.iter().map(|(k, _)| k.as_str()).collect()
    }

    const SNMP: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 8454
Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab InErrs
Tcp: 1 -1 233 3 0
Udp: InDatagrams NoPorts InErrors
Udp: 41 0 7
";

    #[test]
    fn pairs_header_and_value_lines() {
        let stats = parse_paired(SNMP, |_| true).unwrap();
        assert_eq!(
            keys(&stats),
            [
                "Ip_Forwarding",
                "Ip_DefaultTTL",
                "Ip_InReceives",
                "Tcp_RtoAlgorithm",
                "Tcp_MaxConn",
                "Tcp_ActiveOpens",
                "Tcp_CurrEstab",
                "Tcp_InErrs",
                "Udp_InDatagrams",
                "Udp_NoPorts",
                "Udp_InErrors",
            ]
        );
        assert_eq!(stats[4].1, -1.0);
        assert_eq!(stats[10].1, 7.0);
    }

    #[test]
    fn snmp6_splits_after_the_six() {
        let text = "Ip6InReceives                   \t1\nIcmp6OutMsgs 9\nUdpLite6InErrors 0\n\
                    Weird 4\n\n";
        let stats = parse_snmp6(text, |_| true).unwrap();
        assert_eq!(
            keys(&stats),
            ["Ip6_InReceives", "Icmp6_OutMsgs", "UdpLite6_InErrors"]
        );
        assert!(parse_snmp6("Ip6InReceives x\n", |_| true).is_err());
    }

    #[test]
    fn malformed_input_names_line_and_field() {
        let short = "Tcp: ActiveOpens CurrEstab\nTcp: 1\n";
        assert_eq!(
            parse_paired(short, |_| true).unwrap_err(),
            "line 2: Tcp has 2 names but 1 values"
        );
        let bad = "Tcp: ActiveOpens CurrEstab\nTcp: 1 x\n";
        assert_eq!(
            parse_paired(bad, |_| true).unwrap_err(),
            "line 2: Tcp CurrEstab: bad value \"x\""
        );
        let mismatched = "Tcp: ActiveOpens\nUdp: 1\n";
        assert!(
            parse_paired(mismatched, |_| true)
                .unwrap_err()
                .starts_with("line 2:")
        );
        assert!(parse_paired("Tcp: ActiveOpens\n", |_| true).is_err());
        assert!(parse_paired("no colon here\n", |_| true).is_err());
    }

    #[test]
    fn default_fields_are_node_exporters() {
        let pattern = Pattern::new(DEFAULT_NETSTAT_FIELDS).unwrap();
        let stats = parse_paired(SNMP, |_| true).unwrap();
        let wanted: Vec<_> = keys(&stats)
            .into_iter()
            .filter(|k| pattern.is_match(k))
            .collect();
        assert_eq!(
            wanted,
            [
                "Ip_Forwarding",
                "Tcp_ActiveOpens",
                "Tcp_CurrEstab",
                "Tcp_InErrs",
                "Udp_InDatagrams",
                "Udp_NoPorts",
                "Udp_InErrors",
            ]
        );
    }

    #[test]
    fn missing_snmp6_is_fine_but_missing_snmp_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let collector = NetstatCollector {
            netstat: dir.path().join("netstat"),
            snmp: dir.path().join("snmp"),
            snmp6: dir.path().join("snmp6"),
            fields: Pattern::new(DEFAULT_NETSTAT_FIELDS).unwrap(),
        };
        std::fs::write(
            dir.path().join("netstat"),
            "TcpExt: ListenDrops\nTcpExt: 4\n",
        )
        .unwrap();
        let mut out = MetricSet::default();
        assert!(matches!(
            collector.collect(&mut out),
            Err(CollectorError::Io { .. })
        ));
        std::fs::write(dir.path().join("snmp"), SNMP).unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let names: Vec<_> = out.families.iter().map(|f| f.name.as_ref()).collect();
        assert!(
            names.contains(&"node_netstat_TcpExt_ListenDrops"),
            "{names:?}"
        );
        assert!(names.contains(&"node_netstat_Tcp_CurrEstab"), "{names:?}");
        assert!(!names.contains(&"node_netstat_Ip_DefaultTTL"), "{names:?}");
        assert_eq!(out.families[0].help, "Statistic IpForwarding.");
    }
}
