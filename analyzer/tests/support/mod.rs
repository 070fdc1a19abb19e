//! Real processes for black-box tests: the analyzer binary, the exporter binary and a
//! synthetic exporter (an in-test HTTP server serving thousands of series).
#![allow(dead_code)]

#[allow(unused_imports)] // Each test binary uses its own subset.
pub use pulse_testkit::{
    ChildGuard, free_port, memcached_server, promtool_check_metrics as promtool_check,
    promtool_check_rules, redis_server, wait_for,
};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod browser;
pub mod mail;

/// An HTTP server answering every request with a generated exposition: by default `series`
/// counters that grow on each scrape plus the inputs of a few derived series
/// ([`SyntheticExporter::start`]), or any body per request number ([`SyntheticExporter::serve`]).
pub struct SyntheticExporter {
    pub addr: String,
    pub scrapes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

pub fn synthetic_body(series: usize, scrape: u64) -> String {
    let mut body = String::with_capacity(series * 64);
    body.push_str("# HELP synthetic_requests_total Synthetic counter.\n");
    body.push_str("# TYPE synthetic_requests_total counter\n");
    for i in 0..series {
        body.push_str(&format!(
            "synthetic_requests_total{{instance=\"host{}\",path=\"/api/{}\"}} {}\n",
            i % 50,
            i,
            scrape * (i as u64 % 7 + 1)
        ));
    }
    body.push_str(
        "# TYPE node_memory_MemAvailable_bytes gauge\nnode_memory_MemAvailable_bytes 2.5e+08\n",
    );
    body.push_str("# TYPE node_memory_MemTotal_bytes gauge\nnode_memory_MemTotal_bytes 1e+09\n");
    body.push_str("# TYPE node_cpu_seconds_total counter\n");
    body.push_str(&format!(
        "node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {}\n",
        scrape * 3
    ));
    body.push_str(&format!(
        "node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {}\n",
        scrape
    ));
    body.push_str("malformed_line{oops=\"unterminated 1\n");
    body
}

impl SyntheticExporter {
    pub fn start(series: usize) -> SyntheticExporter {
        Self::serve(move |n| synthetic_body(series, n + 1))
    }

    /// Serves `body(n)` for the n-th request (counting from 0).
    pub fn serve(body: impl Fn(u64) -> String + Send + 'static) -> SyntheticExporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let (thread_stop, thread_scrapes) = (stop.clone(), scrapes.clone());
        std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                read_request_head(&mut stream);
                let body = body(thread_scrapes.fetch_add(1, Ordering::Relaxed));
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        SyntheticExporter {
            addr,
            scrapes,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

impl Drop for SyntheticExporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A running binary that logs `listening address=...` on stderr.
pub struct Process {
    pub child: Child,
    pub addr: String,
}

impl Process {
    pub fn start(binary: &Path, args: &[&str]) -> Process {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            assert!(
                Instant::now() < deadline,
                "{} did not start",
                binary.display()
            );
            let line = lines
                .next()
                .expect("process exited before listening")
                .expect("read stderr");
            // The analyzer's banner; a spawned exporter shares its stderr, so the analyzer is
            // recognised by that line rather than by the generic `listening` log.
            if let Some(rest) = line.strip_prefix("pulse: analyzer http://") {
                break rest.split('/').next().expect("address").to_owned();
            }
            if let Some(rest) = line.split("address=").nth(1)
                && line.contains("listening")
                && binary.ends_with("pulse-exporter")
            {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Process { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads an HTTP request up to the blank line that ends its head (or until the client stops
/// sending) and returns what was read: the in-test servers need at most its request line.
pub fn read_request_head(stream: &mut impl Read) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    request
}

pub fn analyzer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pulse-analyzer"))
}

/// Starts the analyzer on an ephemeral port with `config` and `db`.
pub fn analyzer(config: &Path, db: &Path, extra: &[&str]) -> Process {
    let mut args = vec![
        "--web.listen-address",
        "127.0.0.1:0",
        "--config.file",
        config.to_str().expect("utf-8 path"),
        "--storage.path",
        db.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    Process::start(&analyzer_bin(), &args)
}

/// The sibling pulse-exporter binary, built on demand when only this package's tests ran.
pub fn exporter_bin() -> PathBuf {
    let dir = analyzer_bin().parent().expect("target dir").to_owned();
    let path = dir.join("pulse-exporter");
    if !path.is_file() {
        // `cargo test -p pulse-analyzer` alone does not build the exporter binary. The outer
        // cargo holds the lock of this target dir, so build into a nested one.
        let nested = dir.join("nested-exporter");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "pulse-exporter",
                "--bin",
                "pulse-exporter",
                "--target-dir",
            ])
            .arg(&nested)
            .status()
            .expect("cargo build");
        assert!(status.success(), "building pulse-exporter failed");
        return nested.join("debug").join("pulse-exporter");
    }
    path
}

/// The real exporter on an ephemeral port with only `collectors` on and `config` (YAML) as
/// its config file, written into `dir`.
pub fn exporter_with(dir: &Path, collectors: &[&str], config: &str) -> Process {
    let path = dir.join("exporter.yml");
    std::fs::write(&path, config).expect("write the exporter's config");
    let mut args = vec![
        "--web.listen-address".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--config.file".to_owned(),
        path.to_str().expect("utf-8 path").to_owned(),
        "--collector.disable-defaults".to_owned(),
    ];
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Process::start(&exporter_bin(), &args)
}

/// `per_core` copies per CPU core of `python3 -c script args…` at the lowest priority
/// (`nice 19`), so that they burn only CPU nothing else asks for.
pub fn niced_python_per_core(per_core: usize, script: &str, args: &[&str]) -> Vec<ChildGuard> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut argv = vec!["-n", "19", "python3", "-c", script];
    argv.extend_from_slice(args);
    (0..per_core * cores)
        .map(|_| ChildGuard::spawn("nice", &argv))
        .collect()
}

/// Runs the analyzer to completion.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(analyzer_bin())
        .args(args)
        .output()
        .expect("run pulse-analyzer");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// GET returning (status, JSON body); status 0 when the server is not reachable (yet).
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    let Ok(response) = reqwest::blocking::get(url) else {
        return (0, serde_json::Value::Null);
    };
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(serde_json::Value::Null))
}

/// Runs the real exporter and the analyzer scraping it until the derived CPU series has a
/// few points, then stops the analyzer so the database holds still for the comparisons.
pub fn real_history(dir: &Path) -> PathBuf {
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let db = dir.join("h.db");
    let config = dir.join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - url: {}\n    name: local\n    interval: 300ms\n    timeout: 300ms\n",
            exporter.url("/metrics")
        ),
    )
    .unwrap();
    let mut analyzer = analyzer(&config, &db, &[]);
    wait_for("derived CPU samples", Duration::from_secs(30), || {
        let conn = rusqlite::Connection::open(&db).ok()?;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id
                 WHERE s.name = 'pulse:cpu_utilisation:ratio'",
                [],
                |r| r.get(0),
            )
            .ok()?;
        (n >= 3).then_some(())
    });
    analyzer.terminate();
    db
}
