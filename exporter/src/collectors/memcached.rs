//! `memcached_*` from the `stats` command of every memcached server in the config's
//! `memcached:` section, with memcached_exporter's names plus a `target` label (the
//! configured address; one exporter serves many servers).
//!
//! The text protocol is one request line and `STAT name value` lines up to `END`, so no
//! client crate is needed. Targets are queried in parallel, each bounded by its `timeout`;
//! an unreachable one is `memcached_up{target} 0` and the collector still succeeds.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::config::MemcachedTarget;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "memcached",
    default_enabled: false,
    help: "`stats` metrics from the memcached servers listed under `memcached.targets` in the config file.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(MemcachedCollector {
        targets: ctx.config.memcached.targets.clone(),
    }))
}

struct MemcachedCollector {
    targets: Vec<MemcachedTarget>,
}

#[derive(Debug, thiserror::Error)]
enum StatsError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

type Stats = HashMap<String, String>;

impl Collector for MemcachedCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let results: Vec<(&str, Result<Stats, StatsError>)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .targets
                .iter()
                .map(|t| s.spawn(move || query(&t.address.0, t.timeout.0)))
                .collect();
            handles
                .into_iter()
                .zip(&self.targets)
                .map(|(handle, target)| {
                    let result = handle.join().unwrap_or_else(|_| {
                        Err(StatsError::Protocol("query thread panicked".into()))
                    });
                    (target.address.0.as_str(), result)
                })
                .collect()
        });
        for (target, result) in &results {
            if let Err(error) = result {
                tracing::warn!(collector = "memcached", target, %error, "memcached target down");
            }
        }
        emit(&results, out);
        Ok(())
    }
}

fn query(address: &str, timeout: Duration) -> Result<Stats, StatsError> {
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(StatsError::Timeout)
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolved to nothing");
    let mut stream = None;
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, remaining()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(last)?;
    stream.set_write_timeout(Some(remaining()?))?;
    stream.set_read_timeout(Some(remaining()?))?;
    stream.write_all(b"stats\r\n").map_err(timeout_error)?;
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(timeout_error)? == 0 {
            return Err(StatsError::Protocol("connection closed before END".into()));
        }
        if line.trim_end() == "END" {
            break;
        }
        text.push_str(&line);
        if text.len() > 1 << 20 {
            return Err(StatsError::Protocol("stats reply over 1 MiB".into()));
        }
    }
    parse_stats(&text)
}

fn timeout_error(error: io::Error) -> StatsError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => StatsError::Timeout,
        _ => StatsError::Io(error),
    }
}

/// Parses the `STAT name value` lines of a `stats` reply (without the final `END`).
fn parse_stats(text: &str) -> Result<Stats, StatsError> {
    let mut stats = Stats::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("STAT"), Some(name), Some(value)) => {
                stats.insert(name.to_owned(), value.trim().to_owned());
            }
            _ => return Err(StatsError::Protocol(format!("unexpected line {line:?}"))),
        }
    }
    Ok(stats)
}

/// `stats` field → (metric, kind, help), as memcached_exporter names them.
#[rustfmt::skip]
const FIELDS: &[(&str, &str, Kind, &str)] = &[
    ("uptime", "memcached_uptime_seconds", Kind::Gauge, "Seconds since the memcached server started."),
    ("bytes", "memcached_current_bytes", Kind::Gauge, "Bytes used to store items."),
    ("limit_maxbytes", "memcached_limit_bytes", Kind::Gauge, "Bytes the server may use for items."),
    ("curr_items", "memcached_current_items", Kind::Gauge, "Items currently stored."),
    ("total_items", "memcached_items_total", Kind::Counter, "Items stored since the server started."),
    ("evictions", "memcached_items_evicted_total", Kind::Counter, "Valid items removed to free memory for new ones."),
    ("reclaimed", "memcached_items_reclaimed_total", Kind::Counter, "Times an expired item's memory was reused."),
    ("curr_connections", "memcached_current_connections", Kind::Gauge, "Open client connections."),
    ("total_connections", "memcached_connections_total", Kind::Counter, "Connections opened since the server started."),
    ("rejected_connections", "memcached_connections_rejected_total", Kind::Counter, "Connections rejected because of the connection limit."),
    ("max_connections", "memcached_max_connections", Kind::Gauge, "The connection limit."),
    ("bytes_read", "memcached_read_bytes_total", Kind::Counter, "Bytes read from the network."),
    ("bytes_written", "memcached_written_bytes_total", Kind::Counter, "Bytes written to the network."),
    ("rusage_user", "memcached_process_user_cpu_seconds_total", Kind::Counter, "User CPU seconds used by the server."),
    ("rusage_system", "memcached_process_system_cpu_seconds_total", Kind::Counter, "System CPU seconds used by the server."),
];

/// `stats` field → (command, status) of `memcached_commands_total`.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("get_hits", "get", "hit"),
    ("get_misses", "get", "miss"),
    ("get_expired", "get", "expired"),
    ("get_flushed", "get", "flushed"),
    ("cmd_set", "set", "hit"),
    ("delete_hits", "delete", "hit"),
    ("delete_misses", "delete", "miss"),
    ("incr_hits", "incr", "hit"),
    ("incr_misses", "incr", "miss"),
    ("decr_hits", "decr", "hit"),
    ("decr_misses", "decr", "miss"),
    ("cas_hits", "cas", "hit"),
    ("cas_misses", "cas", "miss"),
    ("cas_badval", "cas", "badval"),
    ("touch_hits", "touch", "hit"),
    ("touch_misses", "touch", "miss"),
    ("cmd_flush", "flush", "hit"),
];

fn emit(results: &[(&str, Result<Stats, StatsError>)], out: &mut MetricSet) {
    let up = out.family(
        "memcached_up",
        "Whether the last query of the memcached target succeeded (1) or not (0).",
        Kind::Gauge,
    );
    for (target, result) in results {
        up.sample(
            &[("target", target)],
            if result.is_ok() { 1.0 } else { 0.0 },
        );
    }
    let ok: Vec<(&str, &Stats)> = results
        .iter()
        .filter_map(|(t, r)| r.as_ref().ok().map(|s| (*t, s)))
        .collect();
    let number = |stats: &Stats, field: &str| stats.get(field).and_then(|v| v.parse::<f64>().ok());

    for (field, name, kind, help) in FIELDS {
        let family = out.family(*name, *help, *kind);
        for (target, stats) in &ok {
            if let Some(v) = number(stats, field) {
                family.sample(&[("target", target)], v);
            }
        }
    }
    let commands = out.family(
        "memcached_commands_total",
        "Commands served, by command and outcome (hit, miss, …).",
        Kind::Counter,
    );
    for (target, stats) in &ok {
        for (field, command, status) in COMMANDS {
            if let Some(v) = number(stats, field) {
                commands.sample(
                    &[("target", target), ("command", command), ("status", status)],
                    v,
                );
            }
        }
    }
    let version = out.family(
        "memcached_version",
        "The memcached server's version as a label; always 1.",
        Kind::Gauge,
    );
    for (target, stats) in &ok {
        if let Some(v) = stats.get("version") {
            version.sample(&[("target", target), ("version", v)], 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "STAT pid 1\r\nSTAT uptime 12\r\nSTAT version 1.6.18\r\nSTAT rusage_user 0.012000\r\n\
        STAT get_hits 2\r\nSTAT get_misses 3\r\nSTAT cmd_set 1\r\nSTAT limit_maxbytes 67108864\r\n\
        STAT curr_items 1\r\nSTAT evictions 0\r\n";

    #[test]
    fn parses_stats_lines() {
        let stats = parse_stats(STATS).unwrap();
        assert_eq!(stats["version"], "1.6.18");
        assert_eq!(stats["rusage_user"], "0.012000");
        assert!(parse_stats("STAT only\r\n").is_err());
        assert!(parse_stats("ERROR\r\n").is_err());
    }

    #[test]
    fn dead_target_is_up_zero_and_others_intact() {
        let results = vec![
            ("a:1", parse_stats(STATS)),
            ("b:2", Err(StatsError::Timeout)),
        ];
        let mut set = MetricSet::default();
        emit(&results, &mut set);
        set.normalize();
        let text = set.encode_text();
        assert!(text.contains("memcached_up{target=\"a:1\"} 1\n"), "{text}");
        assert!(text.contains("memcached_up{target=\"b:2\"} 0\n"), "{text}");
        assert!(text.contains(
            "memcached_commands_total{target=\"a:1\",command=\"get\",status=\"miss\"} 3\n"
        ));
        assert!(text.contains("memcached_limit_bytes{target=\"a:1\"} 67108864\n"));
        assert!(text.contains("memcached_version{target=\"a:1\",version=\"1.6.18\"} 1\n"));
        assert!(text.contains("memcached_process_user_cpu_seconds_total{target=\"a:1\"} 0.012\n"));
        assert_eq!(text.matches("target=\"b:2\"").count(), 1);
    }
}
