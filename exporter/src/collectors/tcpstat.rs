//! `node_tcp_connection_states{state}` from `/proc/net/tcp` and `/proc/net/tcp6`: the number
//! of sockets in each TCP state, plus the bytes queued in all send (`tx_queued_bytes`) and
//! receive (`rx_queued_bytes`) queues, as node_exporter's tcpstat collector.
//!
//! Off by default, as in node_exporter: a host with 100k connections has 100k sockets to
//! count per scrape. For this process's own procfs the counts come from one `sock_diag` dump
//! per address family ([`sock_diag`]), a third of the kernel time of the text files; for any
//! other `--path.procfs` (fixture trees, a host `/proc` in a container), or when the dump
//! fails, the files are streamed and two columns of each line are parsed.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};
use crate::paths::Paths;

mod sock_diag;

use sock_diag::SockDiag;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "tcpstat",
    default_enabled: false,
    help: "TCP connection counts by state from /proc/net/tcp{,6} (one line per socket).",
    build,
};

/// Kernel TCP state numbers (`include/net/tcp_states.h`), 1-based, by node_exporter's label.
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(TcpstatCollector {
        tcp: ctx.paths.proc("net/tcp"),
        tcp6: ctx.paths.proc("net/tcp6"),
        sock_diag: (ctx.paths.procfs == Paths::default().procfs).then(SockDiag::default),
        sock_diag_warned: AtomicBool::new(false),
    }))
}

struct TcpstatCollector {
    tcp: PathBuf,
    tcp6: PathBuf,
    /// Set when the files are this namespace's `/proc/net`, which `sock_diag` describes too.
    sock_diag: Option<SockDiag>,
    /// A failed dump (e.g. netlink denied by a seccomp profile) is logged once, then every
    /// scrape quietly reads the files.
    sock_diag_warned: AtomicBool,
}

/// Socket counts per state (index = state - 1) and summed queue sizes.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Counts {
    states: [u64; STATES.len()],
    pub(super) tx_queued: u64,
    pub(super) rx_queued: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        for (sum, count) in self.states.iter_mut().zip(other.states) {
            *sum += count;
        }
        self.tx_queued += other.tx_queued;
        self.rx_queued += other.rx_queued;
    }
}

impl Collector for TcpstatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let counts = match self.sock_diag.as_ref().map(SockDiag::count) {
            Some(Ok(counts)) => counts,
            Some(Err(e)) => {
                if !self.sock_diag_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "tcpstat: sock_diag dump failed, reading /proc/net/tcp instead");
                }
                self.count_files()?
            }
            None => self.count_files()?,
        };
        let family = out.family(
            "node_tcp_connection_states",
            "Number of connection states.",
            Kind::Gauge,
        );
        for (state, count) in STATES.iter().zip(counts.states) {
            family.sample(&[("state", state)], count as f64);
        }
        family.sample(&[("state", "rx_queued_bytes")], counts.rx_queued as f64);
        family.sample(&[("state", "tx_queued_bytes")], counts.tx_queued as f64);
        Ok(())
    }
}

impl TcpstatCollector {
    fn count_files(&self) -> Result<Counts, CollectorError> {
        let mut counts = Counts::default();
        count_file(&self.tcp, &mut counts)?;
        // Absent when IPv6 is disabled.
        match count_file(&self.tcp6, &mut counts) {
            Err(CollectorError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => other?,
        }
        Ok(counts)
    }
}

/// Adds one socket table (`/proc/net/{tcp,tcp6,udp,udp6}` share the layout) to `counts`.
pub(super) fn count_file(path: &Path, counts: &mut Counts) -> Result<(), CollectorError> {
    let io_error = |source| CollectorError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    // Large reads: the kernel produces this file a read() at a time, and a busy host has
    // megabytes of it.
    count(BufReader::with_capacity(1 << 16, file), counts).map_err(|e| match e {
        LineError::Io(source) => io_error(source),
        LineError::Parse(message) => CollectorError::parse(path, message),
    })
}

enum LineError {
    Io(std::io::Error),
    Parse(String),
}

/// Adds one `/proc/net/tcp`-format file to `counts`, reading a line at a time into one
/// buffer. Only column 4 (`st`) and column 5 (`tx_queue:rx_queue`) are parsed.
fn count(mut reader: impl BufRead, counts: &mut Counts) -> Result<(), LineError> {
    let mut line = String::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(LineError::Io)? == 0 {
            return Ok(());
        }
        line_no += 1;
        if line_no == 1 || line.trim().is_empty() {
            continue; // the header
        }
        let bad = |what: &str| LineError::Parse(format!("line {line_no}: {what}"));
        let mut columns = line.split_ascii_whitespace().skip(3);
        let state = columns.next().ok_or_else(|| bad("no st column"))?;
        let queues = columns
            .next()
            .ok_or_else(|| bad("no tx_queue:rx_queue column"))?;
        let state = u8::from_str_radix(state, 16).map_err(|_| bad("st: not a hex number"))?;
        let slot = usize::from(state)
            .checked_sub(1)
            .and_then(|i| counts.states.get_mut(i))
            .ok_or_else(|| bad(&format!("st: unknown TCP state {state}")))?;
        *slot += 1;
        let (tx, rx) = queues
            .split_once(':')
            .ok_or_else(|| bad("tx_queue:rx_queue: missing ':'"))?;
        let hex = |v| u64::from_str_radix(v, 16).map_err(|_| bad("tx_queue:rx_queue: not hex"));
        counts.tx_queued += hex(tx)?;
        counts.rx_queued += hex(rx)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1151 1 000000000349cf21 100 0 0 10 0
   1: 020200C0:C79A 507100CB:01BB 01 000001A4:00000000 01:00000014 00000000  1000        0 30914 1 0000000084e8faa0 20 4 1 25 -1
   2: 020200C0:D222 507100CB:01BB 01 00000000:0000052C 00:00000000 00000000  1000        0 29899 1 000000000d7a9bb2 20 4 1 40 146
   3: 0100007F:8611 0100007F:B07C 06 00000000:00000000 03:000001A8 00000000     0        0 0 3 00000000d3138944
";

    fn counted(text: &str) -> Result<Counts, String> {
        let mut counts = Counts::default();
        count(text.as_bytes(), &mut counts).map_err(|e| match e {
            LineError::Io(e) => e.to_string(),
            LineError::Parse(m) => m,
        })?;
        Ok(counts)
    }

    #[test]
    fn counts_states_and_queues() {
        let counts = counted(TCP).unwrap();
        let mut states = [0; 11];
        states[0] = 2; // established
        states[5] = 1; // time_wait
        states[9] = 1; // listen
        assert_eq!(
            counts,
            Counts {
                states,
                tx_queued: 0x1A4,
                rx_queued: 0x52C,
            }
        );
    }

    #[test]
    fn header_only_is_empty() {
        assert_eq!(
            counted(TCP.lines().next().unwrap()).unwrap(),
            Counts::default()
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let header = TCP.lines().next().unwrap();
        let bad_state = format!("{header}\n   0: 00000000:07E8 00000000:0000 ZZ 0:0\n");
        assert_eq!(
            counted(&bad_state).unwrap_err(),
            "line 2: st: not a hex number"
        );
        let unknown = format!("{header}\n   0: 00000000:07E8 00000000:0000 0C 0:0\n");
        assert_eq!(
            counted(&unknown).unwrap_err(),
            "line 2: st: unknown TCP state 12"
        );
        let short = format!("{header}\n   0: 00000000:07E8 00000000:0000 01\n");
        assert_eq!(
            counted(&short).unwrap_err(),
            "line 2: no tx_queue:rx_queue column"
        );
    }

    #[test]
    fn missing_tcp6_is_fine_and_every_state_is_exported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tcp"), TCP).unwrap();
        let collector = TcpstatCollector {
            tcp: dir.path().join("tcp"),
            tcp6: dir.path().join("tcp6"),
            sock_diag: None,
            sock_diag_warned: AtomicBool::new(false),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.families[0].samples.len(), 13);
    }

    /// The `sock_diag` path must count what the files count, on this host's live sockets,
    /// including some this test sets up: a listener with a connection waiting to be
    /// accepted, and an accepted connection holding unread bytes.
    #[test]
    fn sock_diag_matches_the_files_on_live_sockets() {
        use std::io::Write;
        use std::net::{TcpListener, TcpStream};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut sender = TcpStream::connect(address).unwrap();
        let (_receiver, _) = listener.accept().unwrap();
        let _waiting = TcpStream::connect(address).unwrap();
        sender.write_all(&[7; 1000]).unwrap();

        let files = || {
            let paths = Paths::default();
            TcpstatCollector {
                tcp: paths.proc("net/tcp"),
                tcp6: paths.proc("net/tcp6"),
                sock_diag: None,
                sock_diag_warned: AtomicBool::new(false),
            }
            .count_files()
            .unwrap()
        };
        let sock_diag = SockDiag::default();
        // Other tests open and close sockets meanwhile; the two reads must agree once.
        let (mut from_files, mut from_netlink) = (files(), sock_diag.count().unwrap());
        for _ in 0..5 {
            if from_files == from_netlink {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            (from_files, from_netlink) = (files(), sock_diag.count().unwrap());
        }
        assert_eq!(from_files, from_netlink);
        assert!(from_netlink.states[0] >= 3, "{from_netlink:?}"); // established
        assert!(from_netlink.states[9] >= 1, "{from_netlink:?}"); // listen
        assert!(from_netlink.rx_queued > 1000, "{from_netlink:?}");
    }
}
