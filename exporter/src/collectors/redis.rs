//! `redis_*` from the `INFO` command of every Redis server in the config's `redis:` section.
//!
//! The client is a few dozen lines of RESP over a blocking socket rather than the `redis`
//! crate: we send two commands (`AUTH`, `INFO`) and read two replies, and the crate would
//! bring its own connection manager, URL parser and TLS stack for that. Metric names follow
//! redis_exporter's rename tables (`used_memory` → `redis_memory_used_bytes`, …), with one
//! difference: this exporter serves many targets from one `/metrics`, so every series carries
//! a `target` label (the configured address), the same label the memcached collector and the
//! HTTP probes use.
//!
//! Targets are queried in parallel, each bounded by its own `timeout`. A target that cannot
//! be reached or refuses `AUTH` is `redis_up{target} 0`; the collector itself still succeeds,
//! because one dead cache is data to alert on, not a broken exporter.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::config::RedisTarget;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "redis",
    default_enabled: false,
    help: "INFO metrics from the Redis servers listed under `redis.targets` in the config file.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let targets = ctx
        .config
        .redis
        .targets
        .iter()
        .map(|target| {
            let tls = match &target.tls {
                Some(options) => Some(options.client_config(&[]).map_err(|e| {
                    CollectorError::Other(format!("redis target {}: tls: {e}", target.address.0))
                })?),
                None => None,
            };
            Ok(Target {
                config: target.clone(),
                tls,
            })
        })
        .collect::<Result<_, CollectorError>>()?;
    Ok(Box::new(RedisCollector { targets }))
}

struct Target {
    config: RedisTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
}

struct RedisCollector {
    targets: Vec<Target>,
}

#[derive(Debug, thiserror::Error)]
enum RedisError {
    #[error("resolving address: {0}")]
    Resolve(io::Error),
    #[error("connecting: {0}")]
    Connect(io::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("password: {0}")]
    Password(String),
    #[error("server replied with an error to {command}: {message}")]
    Server {
        command: &'static str,
        message: String,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

impl Collector for RedisCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let results: Vec<(&str, Duration, Result<Info, RedisError>)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .targets
                .iter()
                .map(|target| {
                    s.spawn(move || {
                        let start = Instant::now();
                        let result = scrape(target);
                        (target.config.address.0.as_str(), start.elapsed(), result)
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(&self.targets)
                .map(|(handle, target)| {
                    handle.join().unwrap_or_else(|_| {
                        (
                            target.config.address.0.as_str(),
                            Duration::ZERO,
                            Err(RedisError::Protocol("query thread panicked".into())),
                        )
                    })
                })
                .collect()
        });
        for (target, _, result) in &results {
            if let Err(error) = result {
                // The error never contains the password: AUTH errors carry only the server's text.
                tracing::warn!(collector = "redis", target, %error, "redis target down");
            }
        }
        emit(&results, out);
        Ok(())
    }
}

/// Connects, authenticates and reads `INFO` within the target's timeout.
fn scrape(target: &Target) -> Result<Info, RedisError> {
    let deadline = Instant::now() + target.config.timeout;
    let mut conn = connect(target, deadline)?;
    let password = target
        .config
        .password
        .read()
        .map_err(RedisError::Password)?;
    if let Some(password) = password {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &target.config.username {
            args.push(user.as_bytes());
        }
        args.push(password.as_bytes());
        conn.call("AUTH", &args, deadline)?;
    }
    let reply = conn.call("INFO", &[b"INFO"], deadline)?;
    match reply {
        Reply::Bulk(bytes) => Ok(parse_info(&String::from_utf8_lossy(&bytes))),
        other => Err(RedisError::Protocol(format!(
            "INFO returned {other:?}, expected a bulk string"
        ))),
    }
}

/// Anything a RESP exchange can run over: a plain socket or a TLS stream.
trait Stream: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

fn connect(target: &Target, deadline: Instant) -> Result<Connection, RedisError> {
    let address = &target.config.address.0;
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(RedisError::Resolve)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or(RedisError::Connect(last))?;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match &target.tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = match target
                .config
                .tls
                .as_ref()
                .and_then(|tls| tls.server_name.clone())
            {
                Some(name) => name,
                None => {
                    let host = address
                        .rsplit_once(':')
                        .map_or(address.as_str(), |(host, _)| host)
                        .trim_matches(['[', ']']);
                    ServerName::try_from(host.to_owned())
                        .map_err(|e| RedisError::Tls(format!("server name {host:?}: {e}")))?
                }
            };
            let session = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| RedisError::Tls(e.to_string()))?;
            Box::new(rustls::StreamOwned::new(session, tcp))
        }
    };
    Ok(Connection {
        reader: BufReader::new(stream),
    })
}

fn remaining(deadline: Instant) -> Result<Duration, RedisError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(RedisError::Timeout)
}

/// One RESP2 reply; arrays never occur for the commands we send.
#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
}

/// Replies larger than this are not INFO output; refusing them bounds memory.
const MAX_BULK: usize = 16 << 20;

struct Connection {
    reader: BufReader<Box<dyn Stream>>,
}

impl Connection {
    fn call(
        &mut self,
        command: &'static str,
        args: &[&[u8]],
        deadline: Instant,
    ) -> Result<Reply, RedisError> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        let timeout = remaining(deadline)?;
        let tcp = self.reader.get_ref().tcp();
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let stream = self.reader.get_mut();
        stream.write_all(&request).map_err(timeout_error)?;
        stream.flush().map_err(timeout_error)?;
        match read_reply(&mut self.reader).map_err(|e| match e {
            RedisError::Io(io) => timeout_error(io),
            other => other,
        })? {
            Ok(reply) => Ok(reply),
            Err(message) => Err(RedisError::Server { command, message }),
        }
    }
}

fn timeout_error(error: io::Error) -> RedisError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RedisError::Timeout,
        _ => RedisError::Io(error),
    }
}

/// Reads one reply; the inner `Err` is a RESP error reply (`-ERR …`).
fn read_reply(reader: &mut impl BufRead) -> Result<Result<Reply, String>, RedisError> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err(RedisError::Protocol("connection closed mid-reply".into()));
    };
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| RedisError::Protocol("empty reply line".into()))?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    let number = |text: &str| {
        text.parse::<i64>()
            .map_err(|_| RedisError::Protocol(format!("bad length or integer {text:?}")))
    };
    Ok(match kind {
        b'+' => Ok(Reply::Status(rest)),
        b'-' => Err(rest),
        b':' => Ok(Reply::Integer(number(&rest)?)),
        b'$' => {
            let len = number(&rest)?;
            if len < 0 {
                return Ok(Ok(Reply::Nil));
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > MAX_BULK {
                return Err(RedisError::Protocol(format!("bulk reply of {len} bytes")));
            }
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(Reply::Bulk(body))
        }
        other => {
            return Err(RedisError::Protocol(format!(
                "unexpected reply type {:?}",
                char::from(*other)
            )));
        }
    })
}

/// The parts of an `INFO` reply we export.
#[derive(Debug, Default, PartialEq)]
struct Info {
    fields: HashMap<String, String>,
    keyspace: Vec<DbStats>,
}

#[derive(Debug, PartialEq)]
struct DbStats {
    db: String,
    keys: f64,
    expires: f64,
    avg_ttl_seconds: f64,
}

/// Parses `INFO` text: `# Section` headers, `field:value` lines, and the Keyspace section's
/// `db0:keys=1,expires=0,avg_ttl=0` lines.
fn parse_info(text: &str) -> Info {
    let mut info = Info::default();
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("# ") {
            section = name;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if section == "Keyspace" {
            if let Some(db) = parse_db(key, value) {
                info.keyspace.push(db);
            }
        } else {
            info.fields.insert(key.to_owned(), value.to_owned());
        }
    }
    info
}

fn parse_db(db: &str, value: &str) -> Option<DbStats> {
    let mut keys = None;
    let mut expires = 0.0;
    let mut avg_ttl_ms = 0.0;
    for pair in value.split(',') {
        let (k, v) = pair.split_once('=')?;
        let v: f64 = v.parse().ok()?;
        match k {
            "keys" => keys = Some(v),
            "expires" => expires = v,
            "avg_ttl" => avg_ttl_ms = v,
            _ => {}
        }
    }
    Some(DbStats {
        db: db.to_owned(),
        keys: keys?,
        expires,
        avg_ttl_seconds: avg_ttl_ms / 1000.0,
    })
}

/// INFO field → (metric, kind, help), after redis_exporter's `metricMapGauges` /
/// `metricMapCounters`. An allowlist: fields added by a Redis upgrade never become
/// surprise series.
#[rustfmt::skip]
const FIELDS: &[(&str, &str, Kind, &str)] = &[
    // Server
    ("uptime_in_seconds", "redis_uptime_in_seconds", Kind::Gauge, "Seconds since the Redis server started."),
    // Clients
    ("connected_clients", "redis_connected_clients", Kind::Gauge, "Client connections (excluding replicas)."),
    ("blocked_clients", "redis_blocked_clients", Kind::Gauge, "Clients blocked in BLPOP, WAIT and similar calls."),
    // Memory
    ("used_memory", "redis_memory_used_bytes", Kind::Gauge, "Bytes allocated by Redis's allocator."),
    ("used_memory_rss", "redis_memory_used_rss_bytes", Kind::Gauge, "Resident set size of the Redis process in bytes."),
    ("used_memory_peak", "redis_memory_used_peak_bytes", Kind::Gauge, "Peak of redis_memory_used_bytes."),
    ("maxmemory", "redis_memory_max_bytes", Kind::Gauge, "The maxmemory setting in bytes (0 = no limit)."),
    ("mem_fragmentation_ratio", "redis_mem_fragmentation_ratio", Kind::Gauge, "RSS divided by used memory."),
    // Persistence
    ("rdb_changes_since_last_save", "redis_rdb_changes_since_last_save", Kind::Gauge, "Writes since the last RDB save."),
    ("rdb_last_save_time", "redis_rdb_last_save_timestamp_seconds", Kind::Gauge, "Unix time of the last successful RDB save."),
    // Stats
    ("total_connections_received", "redis_connections_received_total", Kind::Counter, "Connections accepted by the server."),
    ("rejected_connections", "redis_rejected_connections_total", Kind::Counter, "Connections rejected because of maxclients."),
    ("total_commands_processed", "redis_commands_processed_total", Kind::Counter, "Commands processed by the server."),
    ("total_net_input_bytes", "redis_net_input_bytes_total", Kind::Counter, "Bytes read from the network."),
    ("total_net_output_bytes", "redis_net_output_bytes_total", Kind::Counter, "Bytes written to the network."),
    ("expired_keys", "redis_expired_keys_total", Kind::Counter, "Keys removed because their TTL expired."),
    ("evicted_keys", "redis_evicted_keys_total", Kind::Counter, "Keys evicted because of the maxmemory limit."),
    ("keyspace_hits", "redis_keyspace_hits_total", Kind::Counter, "Successful key lookups."),
    ("keyspace_misses", "redis_keyspace_misses_total", Kind::Counter, "Failed key lookups."),
    // Replication
    ("connected_slaves", "redis_connected_slaves", Kind::Gauge, "Connected replicas."),
    // CPU
    ("used_cpu_sys", "redis_cpu_sys_seconds_total", Kind::Counter, "System CPU seconds used by the Redis server."),
    ("used_cpu_user", "redis_cpu_user_seconds_total", Kind::Counter, "User CPU seconds used by the Redis server."),
];

/// String facts exported as labels of `redis_instance_info`.
const INFO_LABELS: &[&str] = &[
    "redis_version",
    "redis_mode",
    "role",
    "os",
    "maxmemory_policy",
    "tcp_port",
    "run_id",
];

type DbValue = fn(&DbStats) -> f64;

const KEYSPACE: &[(&str, &str, DbValue)] = &[
    ("redis_db_keys", "Keys in the database.", |d| d.keys),
    (
        "redis_db_keys_expiring",
        "Keys with a TTL in the database.",
        |d| d.expires,
    ),
    (
        "redis_db_avg_ttl_seconds",
        "Average TTL of the database's expiring keys in seconds (sampled by Redis).",
        |d| d.avg_ttl_seconds,
    ),
];

fn emit(results: &[(&str, Duration, Result<Info, RedisError>)], out: &mut MetricSet) {
    let up = out.family(
        "redis_up",
        "Whether the last query of the Redis target succeeded (1) or not (0).",
        Kind::Gauge,
    );
    for (target, _, result) in results {
        up.sample(
            &[("target", target)],
            if result.is_ok() { 1.0 } else { 0.0 },
        );
    }
    let duration = out.family(
        "redis_exporter_last_scrape_duration_seconds",
        "Seconds the last query of the Redis target took.",
        Kind::Gauge,
    );
    for (target, elapsed, _) in results {
        duration.sample(&[("target", target)], elapsed.as_secs_f64());
    }
    let ok: Vec<(&str, &Info)> = results
        .iter()
        .filter_map(|(t, _, r)| r.as_ref().ok().map(|i| (*t, i)))
        .collect();

    for (field, name, kind, help) in FIELDS {
        let family = out.family(*name, *help, *kind);
        for (target, info) in &ok {
            if let Some(v) = info.fields.get(*field).and_then(|v| v.parse::<f64>().ok()) {
                family.sample(&[("target", target)], v);
            }
        }
    }

    let family = out.family(
        "redis_instance_info",
        "Facts about the Redis server as labels; always 1.",
        Kind::Gauge,
    );
    for (target, info) in &ok {
        let mut labels = vec![("target".into(), (*target).to_owned())];
        for key in INFO_LABELS {
            let value = info.fields.get(*key).cloned().unwrap_or_default();
            labels.push(((*key).into(), value));
        }
        family.sample_owned(labels, crate::exposition::Value::Number(1.0));
    }

    for (name, help, value) in KEYSPACE {
        let family = out.family(*name, *help, Kind::Gauge);
        for (target, info) in &ok {
            for db in &info.keyspace {
                family.sample(&[("target", target), ("db", &db.db)], value(db));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nos:Linux 6.1.0 x86_64\r\n\
        tcp_port:6379\r\nrun_id:abc\r\nuptime_in_seconds:42\r\n\r\n# Clients\r\nconnected_clients:3\r\n\
        blocked_clients:0\r\n\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:67108864\r\n\
        maxmemory_policy:allkeys-lru\r\n\r\n# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:4\r\n\
        evicted_keys:0\r\n\r\n# Replication\r\nrole:master\r\n\r\n# Keyspace\r\n\
        db0:keys=5,expires=2,avg_ttl=12000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n";

    #[test]
    fn parses_fields_and_keyspace() {
        let info = parse_info(INFO);
        assert_eq!(info.fields["redis_version"], "7.0.15");
        assert_eq!(info.fields["keyspace_hits"], "10");
        assert_eq!(info.fields["role"], "master");
        assert_eq!(
            info.keyspace,
            [
                DbStats {
                    db: "db0".into(),
                    keys: 5.0,
                    expires: 2.0,
                    avg_ttl_seconds: 12.0
                },
                DbStats {
                    db: "db3".into(),
                    keys: 1.0,
                    expires: 0.0,
                    avg_ttl_seconds: 0.0
                },
            ]
        );
    }

    #[test]
    fn malformed_keyspace_lines_are_skipped() {
        let info = parse_info("# Keyspace\ndb0:keys=x\ndb1:garbage\ndb2:keys=3\n");
        assert_eq!(info.keyspace.len(), 1);
        assert_eq!(info.keyspace[0].db, "db2");
    }

    #[test]
    fn reads_resp_replies() {
        let mut input: &[u8] = b"+OK\r\n-WRONGPASS invalid\r\n:7\r\n$5\r\nhello\r\n$-1\r\n";
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Ok(Reply::Status("OK".into()))
        );
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Err("WRONGPASS invalid".into())
        );
        assert_eq!(read_reply(&mut input).unwrap(), Ok(Reply::Integer(7)));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Ok(Reply::Bulk(b"hello".to_vec()))
        );
        assert_eq!(read_reply(&mut input).unwrap(), Ok(Reply::Nil));
        assert!(matches!(
            read_reply(&mut &b"$3\r\nab"[..]),
            Err(RedisError::Io(_))
        ));
        assert!(matches!(
            read_reply(&mut &b"*1\r\n"[..]),
            Err(RedisError::Protocol(_))
        ));
    }

    #[test]
    fn dead_target_is_up_zero_and_others_intact() {
        let results = vec![
            ("a:1", Duration::ZERO, Ok(parse_info(INFO))),
            ("b:2", Duration::ZERO, Err(RedisError::Timeout)),
        ];
        let mut set = MetricSet::default();
        emit(&results, &mut set);
        set.normalize();
        let text = set.encode_text();
        assert!(text.contains("redis_up{target=\"a:1\"} 1\n"), "{text}");
        assert!(text.contains("redis_up{target=\"b:2\"} 0\n"), "{text}");
        assert!(text.contains("redis_keyspace_hits_total{target=\"a:1\"} 10\n"));
        assert!(text.contains("redis_db_keys{target=\"a:1\",db=\"db0\"} 5\n"));
        assert!(text.contains("redis_db_avg_ttl_seconds{target=\"a:1\",db=\"db0\"} 12\n"));
        assert!(text.contains("redis_memory_max_bytes{target=\"a:1\"} 67108864\n"));
        assert!(text.contains("role=\"master\""));
        assert!(!text.contains("target=\"b:2\",") && !text.contains("hits_total{target=\"b:2\"}"));
    }
}
