//! Opt-in apply mode: carry out the changes Pulse can make safely itself. Today that is one:
//! Redis `CONFIG SET maxmemory`, only on servers listed in the config, only within their
//! configured bounds, at most once per cooldown per server, and only when
//! `apply.enabled` is set; otherwise every change is logged as a dry run. Every action, done
//! or not, is logged (tracing) and kept in [`Applier::log`] for the API.
//!
//! The Redis client is a few lines of RESP over a blocking socket, for the reason the
//! exporter's Redis collector gives: three commands (`AUTH`, `CONFIG SET`, `CONFIG GET`) do
//! not justify the `redis` crate's connection manager and TLS stack.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

use super::{ApplyConfig, Change, Recommendation, RedisBounds};

/// Most records the log keeps.
const LOG_SIZE: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(3);

/// One action taken (or, in dry-run, not taken).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    /// Unix seconds.
    pub at: i64,
    pub recommendation: String,
    pub address: String,
    pub setting: &'static str,
    pub from: u64,
    pub to: u64,
    pub dry_run: bool,
    /// `applied`, `dry_run`, or `failed: <reason>`.
    pub outcome: String,
}

/// Carries out changes and remembers what it did.
#[derive(Debug)]
pub struct Applier {
    config: ApplyConfig,
    /// Last action per server, dry runs included: passes act at most once per cooldown.
    last_change: HashMap<String, i64>,
    /// Last real attempt per server: an operator's request waits out only these, since a
    /// dry run changed nothing.
    last_real: HashMap<String, i64>,
    pub log: VecDeque<ActionRecord>,
    /// Actions since start (the log keeps only the last `LOG_SIZE`).
    pub total: u64,
}

/// Why an operator's request to apply a recommendation did nothing.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the recommendation carries no change Pulse can make")]
    NoChange,
    #[error("{0} is not listed under analysis.recommendations.apply.redis")]
    NotOptedIn(String),
    #[error("{address} was changed {ago} s ago, within the cooldown of {cooldown} s")]
    Cooldown {
        address: String,
        ago: i64,
        cooldown: i64,
    },
    #[error("maxmemory of {address} is {from} bytes, already at or above its bound")]
    AtBound { address: String, from: u64 },
}

impl ApplyConfig {
    /// The bounds of the server `change` touches, when apply mode covers it: the change is
    /// "opt-in applicable" (the console offers Apply only then).
    pub fn bounds_for(&self, change: Option<&Change>) -> Option<&RedisBounds> {
        let Some(Change::RedisMaxmemory { address, .. }) = change else {
            return None;
        };
        self.redis.iter().find(|b| &b.address == address)
    }
}

impl Applier {
    pub fn new(config: ApplyConfig) -> Self {
        Self {
            config,
            last_change: HashMap::new(),
            last_real: HashMap::new(),
            log: VecDeque::new(),
            total: 0,
        }
    }

    /// Acts on the recommendations that carry a change; returns the new records.
    pub fn run(&mut self, recommendations: &[Recommendation], now_s: i64) -> Vec<ActionRecord> {
        let dry_run = !self.config.enabled;
        recommendations
            .iter()
            .filter_map(|rec| self.act(rec, now_s, dry_run, false).ok())
            .collect()
    }

    /// An operator's confirmed request (the console's Apply button, with the write token):
    /// the change is made for real even when `enabled` is off, since `enabled` governs what
    /// passes do unattended, but only on listed servers, within their bounds, and not within
    /// the cooldown of the last real attempt.
    pub fn apply(&mut self, rec: &Recommendation, now_s: i64) -> Result<ActionRecord, Refusal> {
        self.act(rec, now_s, false, true)
    }

    fn act(
        &mut self,
        rec: &Recommendation,
        now_s: i64,
        dry_run: bool,
        operator: bool,
    ) -> Result<ActionRecord, Refusal> {
        let Some(Change::RedisMaxmemory { address, from, to }) = &rec.change else {
            return Err(Refusal::NoChange);
        };
        let bounds = self
            .config
            .bounds_for(rec.change.as_ref())
            .ok_or_else(|| Refusal::NotOptedIn(address.clone()))?;
        let cooldown = self.config.cooldown.as_secs() as i64;
        let last = if operator {
            &self.last_real
        } else {
            &self.last_change
        };
        if let Some(&t) = last.get(address)
            && now_s - t < cooldown
        {
            return Err(Refusal::Cooldown {
                address: address.clone(),
                ago: now_s - t,
                cooldown,
            });
        }
        let target = (*to).clamp(bounds.min_maxmemory_bytes, bounds.max_maxmemory_bytes);
        if target <= *from {
            // Already at (or above) the highest value we may set: nothing safe to do.
            return Err(Refusal::AtBound {
                address: address.clone(),
                from: *from,
            });
        }
        let outcome = if dry_run {
            "dry_run".to_owned()
        } else {
            match set_maxmemory(bounds, target) {
                Ok(()) => "applied".to_owned(),
                Err(e) => format!("failed: {e}"),
            }
        };
        if outcome.starts_with("failed") {
            tracing::warn!(recommendation = %rec.id, address = %address, from, to = target, %outcome, "redis maxmemory change failed");
        } else {
            tracing::info!(recommendation = %rec.id, address = %address, from, to = target, dry_run, "redis maxmemory change");
        }
        self.last_change.insert(address.clone(), now_s);
        if !dry_run {
            self.last_real.insert(address.clone(), now_s);
        }
        let record = ActionRecord {
            at: now_s,
            recommendation: rec.id.clone(),
            address: address.clone(),
            setting: "maxmemory",
            from: *from,
            to: target,
            dry_run,
            outcome,
        };
        self.total += 1;
        self.log.push_back(record.clone());
        while self.log.len() > LOG_SIZE {
            self.log.pop_front();
        }
        Ok(record)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("password file {path}: {source}")]
    Password { path: String, source: io::Error },
    #[error("server replied to {command}: {message}")]
    Server {
        command: &'static str,
        message: String,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("maxmemory reads back as {0}, not the value set")]
    NotApplied(String),
}

/// `CONFIG SET maxmemory <bytes>` and read it back.
fn set_maxmemory(bounds: &RedisBounds, bytes: u64) -> Result<(), RedisError> {
    let addr =
        bounds.address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "address resolves to nothing")
        })?;
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut conn = Resp {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
    };
    if let Some(path) = &bounds.password_file {
        let password = std::fs::read_to_string(path).map_err(|source| RedisError::Password {
            path: path.display().to_string(),
            source,
        })?;
        conn.call("AUTH", &["AUTH", password.trim_end_matches(['\r', '\n'])])?;
    }
    let value = bytes.to_string();
    conn.call("CONFIG SET", &["CONFIG", "SET", "maxmemory", &value])?;
    match conn.call("CONFIG GET", &["CONFIG", "GET", "maxmemory"])? {
        Reply::Array(items) if items.get(1) == Some(&Reply::Bulk(value.clone())) => Ok(()),
        other => Err(RedisError::NotApplied(format!("{other:?}"))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Integer(i64),
    Bulk(String),
    Nil,
    Array(Vec<Reply>),
}

struct Resp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Resp {
    fn call(&mut self, command: &'static str, args: &[&str]) -> Result<Reply, RedisError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        self.read(command)
    }

    fn line(&mut self) -> Result<String, RedisError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(RedisError::Protocol("connection closed".into()));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn read(&mut self, command: &'static str) -> Result<Reply, RedisError> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| RedisError::Protocol(format!("bad length {s:?}")))
        };
        match kind {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Err(RedisError::Server {
                command,
                message: rest.to_owned(),
            }),
            ":" => Ok(Reply::Integer(number(rest)?)),
            "$" => {
                let len = number(rest)?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                let mut buf = vec![0u8; len as usize + 2];
                io::Read::read_exact(&mut self.reader, &mut buf)?;
                buf.truncate(len as usize);
                Ok(Reply::Bulk(String::from_utf8_lossy(&buf).into_owned()))
            }
            "*" => {
                let len = number(rest)?;
                (0..len.max(0))
                    .map(|_| self.read(command))
                    .collect::<Result<_, _>>()
                    .map(Reply::Array)
            }
            _ => Err(RedisError::Protocol(format!("unexpected reply {line:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(address: &str, from: u64, to: u64) -> Recommendation {
        Recommendation {
            id: format!("cache_evictions:local:{address}"),
            rule: "cache_evictions",
            severity: super::super::Severity::Warning,
            confidence: 0.9,
            instance: "local".into(),
            subject: format!("redis {address}"),
            summary: String::new(),
            action: String::new(),
            evidence: Default::default(),
            change: Some(Change::RedisMaxmemory {
                address: address.into(),
                from,
                to,
            }),
        }
    }

    fn config(enabled: bool) -> ApplyConfig {
        ApplyConfig {
            enabled,
            cooldown: Duration::from_secs(600),
            redis: vec![RedisBounds {
                address: "127.0.0.1:1".into(),
                password_file: None,
                min_maxmemory_bytes: 1 << 20,
                max_maxmemory_bytes: 8 << 20,
            }],
        }
    }

    #[test]
    fn dry_run_clamps_logs_and_cools_down() {
        let mut applier = Applier::new(config(false));
        let records = applier.run(&[rec("127.0.0.1:1", 4 << 20, 64 << 20)], 1000);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].to, 8 << 20, "clamped to the upper bound");
        assert!(records[0].dry_run);
        assert_eq!(records[0].outcome, "dry_run");
        // Within the cooldown: nothing; unlisted servers: never.
        assert!(
            applier
                .run(&[rec("127.0.0.1:1", 4 << 20, 6 << 20)], 1500)
                .is_empty()
        );
        assert!(
            applier
                .run(&[rec("10.0.0.1:6379", 1, 2 << 20)], 5000)
                .is_empty()
        );
        // At the bound already: nothing safe to do.
        assert!(
            applier
                .run(&[rec("127.0.0.1:1", 8 << 20, 16 << 20)], 5000)
                .is_empty()
        );
        assert_eq!(applier.log.len(), 1);
        assert_eq!(applier.total, 1);
    }

    /// An operator's request acts for real although passes only dry-run, is not held up by
    /// their dry runs, but waits out its own (real) attempt and names why it refuses.
    #[test]
    fn operator_apply_is_real_and_cools_down_on_real_attempts_only() {
        let mut applier = Applier::new(config(false));
        assert_eq!(
            applier
                .run(&[rec("127.0.0.1:1", 4 << 20, 6 << 20)], 1000)
                .len(),
            1
        );
        let record = applier
            .apply(&rec("127.0.0.1:1", 4 << 20, 6 << 20), 1001)
            .unwrap();
        assert!(!record.dry_run);
        assert!(record.outcome.starts_with("failed: "), "{record:?}");
        assert_eq!(applier.log.len(), 2);
        assert!(matches!(
            applier.apply(&rec("127.0.0.1:1", 4 << 20, 6 << 20), 1200),
            Err(Refusal::Cooldown {
                ago: 199,
                cooldown: 600,
                ..
            })
        ));
        assert_eq!(
            applier.apply(&rec("10.0.0.1:6379", 1, 2 << 20), 5000),
            Err(Refusal::NotOptedIn("10.0.0.1:6379".into()))
        );
        assert!(matches!(
            applier.apply(&rec("127.0.0.1:1", 8 << 20, 16 << 20), 5000),
            Err(Refusal::AtBound { .. })
        ));
        let mut plain = rec("127.0.0.1:1", 1, 2);
        plain.change = None;
        assert_eq!(applier.apply(&plain, 5000), Err(Refusal::NoChange));
        assert!(
            config(false)
                .bounds_for(rec("127.0.0.1:1", 1, 2).change.as_ref())
                .is_some()
        );
    }

    #[test]
    fn unreachable_server_is_a_logged_failure() {
        let mut applier = Applier::new(config(true));
        let records = applier.run(&[rec("127.0.0.1:1", 4 << 20, 6 << 20)], 1000);
        assert_eq!(records.len(), 1);
        assert!(!records[0].dry_run);
        assert!(
            records[0].outcome.starts_with("failed: "),
            "{:?}",
            records[0]
        );
    }
}
