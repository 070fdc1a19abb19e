//! What the black-box tests of both binaries need from the machine: free ports, real server
//! processes that die with the test, polling with a deadline, Debian's `promtool`, and a
//! throwaway certificate authority for their TLS tests.
//!
//! It lives in its own crate so the exporter's and the analyzer's integration tests share one
//! copy; each crate's `tests/support` keeps only what is about its own binary.

pub mod pki;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now (bind to port 0, keep the number, let it go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A child process killed and reaped when dropped, so a failing assertion leaves nothing running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Spawns `program` with its output discarded; panics naming the Debian package source.
    pub fn spawn(program: &str, args: &[&str]) -> ChildGuard {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} must be installed (tests/run.sh): {e}"));
        ChildGuard(child)
    }

    /// Spawns a server and waits (10 s at most) until it accepts connections on `port`.
    pub fn spawn_listening(program: &str, args: &[&str], port: u16) -> ChildGuard {
        let server = Self::spawn(program, args);
        wait_for(
            &format!("{program} to listen on {port}"),
            Duration::from_secs(10),
            || TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        server
    }
}

/// A throwaway `redis-server` on a free loopback port, without persistence; `extra` adds or
/// overrides options (`--requirepass`, `--maxmemory`, …). Returns the guard and the port.
pub fn redis_server(extra: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    let port_text = port.to_string();
    let mut args = vec![
        "--port",
        &port_text,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    args.extend_from_slice(extra);
    (
        ChildGuard::spawn_listening("redis-server", &args, port),
        port,
    )
}

/// A throwaway `memcached` on a free loopback port (TCP only) with `memory_mib` MiB for
/// items, run as `nobody` so it starts as root too. Returns the guard and the port.
pub fn memcached_server(memory_mib: u32) -> (ChildGuard, u16) {
    let port = free_port();
    let (port_text, memory) = (port.to_string(), memory_mib.to_string());
    let args = [
        "-p",
        &port_text,
        "-l",
        "127.0.0.1",
        "-U",
        "0",
        "-m",
        &memory,
        "-u",
        "nobody",
    ];
    (ChildGuard::spawn_listening("memcached", &args, port), port)
}

/// Polls `check` every 100 ms until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `promtool check metrics` on an exposition: whether it is clean, and what promtool said.
pub fn promtool_check_metrics(exposition: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool on PATH (Debian package prometheus)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    verdict(child.wait_with_output().expect("promtool runs"))
}

/// `promtool check rules FILE`: whether it passed, and what promtool said.
pub fn promtool_check_rules(path: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(path)
        .output()
        .expect("promtool on PATH (Debian package prometheus)");
    verdict(output)
}

fn verdict(output: Output) -> (bool, String) {
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}
