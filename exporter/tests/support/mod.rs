//! Starts the real `pulse-exporter` binary for black-box tests.
#![allow(dead_code)]

#[allow(unused_imports)] // Each test binary uses its own subset.
pub use pulse_testkit::{ChildGuard, free_port, memcached_server, redis_server, wait_for};

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Exporter {
    pub child: Child,
    pub addr: String,
}

impl Exporter {
    /// Starts the exporter on an ephemeral port and waits until it logs where it listens.
    pub fn start(args: &[&str]) -> Exporter {
        Self::start_with_env(args, &[])
    }

    /// Like [`Exporter::start`], with extra environment variables (secrets read from env).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pulse-exporter"))
            .args(["--web.listen-address", "127.0.0.1:0", "--log.level", "info"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pulse-exporter");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            assert!(Instant::now() < deadline, "exporter did not start");
            let line = lines
                .next()
                .expect("exporter exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Exporter { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb * 1024
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (for `--config.check` and flag errors).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pulse-exporter"))
        .args(args)
        .output()
        .expect("run pulse-exporter");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `promtool check metrics` on an exposition; any complaint fails the test.
pub fn promtool_check(text: &str) {
    let (clean, said) = pulse_testkit::promtool_check_metrics(text);
    assert!(clean, "promtool check metrics failed:\n{said}");
}
