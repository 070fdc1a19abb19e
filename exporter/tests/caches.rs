//! The redis and memcached collectors against real `redis-server` and `memcached`
//! processes started here on free ports, driven with a known workload.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use pulse_testkit::pki::TestCa;
use support::{ChildGuard, Exporter, free_port, memcached_server, promtool_check, redis_server};

/// Sends one inline command and reads one reply line (plus a bulk body if any).
fn redis(stream: &mut BufReader<TcpStream>, command: &str) -> String {
    stream
        .get_mut()
        .write_all(format!("{command}\r\n").as_bytes())
        .unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len.trim().parse().unwrap();
        if len >= 0 {
            let mut body = vec![0; len as usize + 2];
            stream.read_exact(&mut body).unwrap();
        }
    }
    line
}

fn scrape(exporter: &Exporter) -> String {
    reqwest::blocking::get(exporter.url("/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

fn start_redis(password: &str, extra: &[&str]) -> (ChildGuard, u16) {
    let mut args = vec!["--requirepass", password, "--maxmemory", "64mb"];
    args.extend_from_slice(extra);
    redis_server(&args)
}

fn config(dir: &Path, text: &str) -> String {
    let path = dir.join("pulse.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn redis_and_memcached_counters_match_workload_and_dead_targets_are_isolated() {
    let (_redis, redis_port) = start_redis("s3cret", &[]);
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", redis_port)).unwrap());
    assert_eq!(redis(&mut conn, "AUTH s3cret"), "+OK\r\n");
    for i in 0..5 {
        redis(&mut conn, &format!("SET key{i} value{i}"));
    }
    redis(&mut conn, "SET session value EX 1000");
    for _ in 0..3 {
        assert!(redis(&mut conn, "GET key1").starts_with("$6"));
    }
    for _ in 0..2 {
        assert_eq!(redis(&mut conn, "GET missing"), "$-1\r\n");
    }
    redis(&mut conn, "SELECT 3");
    redis(&mut conn, "SET other x");

    let (_memcached, memcached_port) = memcached_server(64);
    let mut mc = BufReader::new(TcpStream::connect(("127.0.0.1", memcached_port)).unwrap());
    mc.get_mut().write_all(b"set k 0 0 5\r\nhello\r\n").unwrap();
    let mut line = String::new();
    mc.read_line(&mut line).unwrap();
    assert_eq!(line, "STORED\r\n");
    for (key, hits) in [("k", 2), ("nope", 3)] {
        for _ in 0..hits {
            mc.get_mut()
                .write_all(format!("get {key}\r\n").as_bytes())
                .unwrap();
            loop {
                line.clear();
                mc.read_line(&mut line).unwrap();
                if line == "END\r\n" {
                    break;
                }
            }
        }
    }

    let dead_redis = free_port();
    let dead_memcached = free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = config(
        dir.path(),
        &format!(
            "redis:\n  targets:\n    - address: 127.0.0.1:{redis_port}\n      password_env: PULSE_TEST_REDIS_PASSWORD\n    \
             - address: 127.0.0.1:{dead_redis}\n      timeout: 500ms\n\
             memcached:\n  targets:\n    - address: 127.0.0.1:{memcached_port}\n    - address: 127.0.0.1:{dead_memcached}\n"
        ),
    );
    let exporter = Exporter::start_with_env(
        &[
            "--config.file",
            &file,
            "--collector.disable-defaults",
            "--collector.redis",
            "--collector.memcached",
        ],
        &[("PULSE_TEST_REDIS_PASSWORD", "s3cret")],
    );
    let text = scrape(&exporter);
    let live = format!("target=\"127.0.0.1:{redis_port}\"");
    let r = |name: &str| value(&text, &format!("{name}{{{live}}}"));
    assert_eq!(r("redis_up"), 1.0);
    assert_eq!(
        value(
            &text,
            &format!("redis_up{{target=\"127.0.0.1:{dead_redis}\"}}")
        ),
        0.0
    );
    assert_eq!(r("redis_keyspace_hits_total"), 3.0);
    assert_eq!(r("redis_keyspace_misses_total"), 2.0);
    assert_eq!(r("redis_memory_max_bytes"), 64.0 * 1024.0 * 1024.0);
    assert!(r("redis_memory_used_bytes") > 0.0);
    assert_eq!(r("redis_evicted_keys_total"), 0.0);
    assert!(r("redis_commands_processed_total") >= 13.0);
    assert!(r("redis_connected_clients") >= 1.0);
    assert_eq!(
        value(&text, &format!("redis_db_keys{{{live},db=\"db0\"}}")),
        6.0
    );
    assert_eq!(
        value(
            &text,
            &format!("redis_db_keys_expiring{{{live},db=\"db0\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(&text, &format!("redis_db_keys{{{live},db=\"db3\"}}")),
        1.0
    );
    assert!(
        text.contains("role=\"master\"") && text.contains("redis_version=\"7."),
        "{text}"
    );
    assert!(!text.contains("s3cret"));
    assert!(!text.contains(&format!(
        "redis_memory_used_bytes{{target=\"127.0.0.1:{dead_redis}\"}}"
    )));

    let live = format!("target=\"127.0.0.1:{memcached_port}\"");
    let m = |name: &str| value(&text, &format!("{name}{{{live}}}"));
    assert_eq!(m("memcached_up"), 1.0);
    assert_eq!(
        value(
            &text,
            &format!("memcached_up{{target=\"127.0.0.1:{dead_memcached}\"}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            &format!("memcached_commands_total{{{live},command=\"get\",status=\"hit\"}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            &format!("memcached_commands_total{{{live},command=\"get\",status=\"miss\"}}")
        ),
        3.0
    );
    assert_eq!(m("memcached_limit_bytes"), 64.0 * 1024.0 * 1024.0);
    assert_eq!(m("memcached_current_items"), 1.0);
    assert!(m("memcached_current_bytes") > 0.0);
    assert_eq!(m("memcached_items_evicted_total"), 0.0);
    assert!(m("memcached_current_connections") >= 1.0);
    assert!(text.contains(&format!("memcached_version{{{live},version=\"1.")));
    // A dead target is data, not a collector failure.
    assert!(text.contains("pulse_collector_success{collector=\"redis\"} 1\n"));
    assert!(text.contains("pulse_collector_success{collector=\"memcached\"} 1\n"));
    promtool_check(&text);
}

#[test]
fn redis_wrong_password_and_password_file() {
    let (_redis, port) = start_redis("right", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good"), "right\n").unwrap();
    std::fs::write(dir.path().join("bad"), "wrong\n").unwrap();
    let file = config(
        dir.path(),
        &format!(
            "redis:\n  targets:\n    - address: 127.0.0.1:{port}\n      password_file: {d}/good\n    \
             - address: localhost:{port}\n      password_file: {d}/bad\n",
            d = dir.path().display()
        ),
    );
    let exporter = Exporter::start(&[
        "--config.file",
        &file,
        "--collector.disable-defaults",
        "--collector.redis",
    ]);
    let text = scrape(&exporter);
    assert_eq!(
        value(&text, &format!("redis_up{{target=\"127.0.0.1:{port}\"}}")),
        1.0
    );
    assert_eq!(
        value(&text, &format!("redis_up{{target=\"localhost:{port}\"}}")),
        0.0
    );
}

/// Redis over TLS with a private CA: one server that takes any client, one that requires a
/// client certificate (`tls-auth-clients yes`, Redis's default), reached at 127.0.0.1 with
/// `server_name: localhost` (the name its certificate has): up with the certificate, down
/// without it.
#[test]
fn redis_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let server = ca.server(&["localhost"], None);
    let client = ca.client();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("ca.crt"), &ca.cert_pem).unwrap();
    std::fs::write(path("server.crt"), &server.cert_pem).unwrap();
    std::fs::write(path("server.key"), &server.key_pem).unwrap();
    std::fs::write(path("client.crt"), &client.cert_pem).unwrap();
    std::fs::write(path("client.key"), &client.key_pem).unwrap();

    let (cert_file, key_file, ca_file) = (path("server.crt"), path("server.key"), path("ca.crt"));
    let tls_redis = |auth_clients: &str| {
        let tls_port = free_port();
        let tls_port_text = tls_port.to_string();
        let guard = ChildGuard::spawn_listening(
            "redis-server",
            &[
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-port",
                &tls_port_text,
                "--tls-cert-file",
                &cert_file,
                "--tls-key-file",
                &key_file,
                "--tls-ca-cert-file",
                &ca_file,
                "--tls-auth-clients",
                auth_clients,
                "--save",
                "",
            ],
            tls_port,
        );
        (guard, tls_port)
    };
    let (_open, open_port) = tls_redis("no");
    let (_mutual, mutual_port) = tls_redis("yes");
    let (client_cert, client_key) = (path("client.crt"), path("client.key"));
    let file = config(
        dir.path(),
        &format!(
            "redis:\n  targets:\n    - address: localhost:{open_port}\n      tls: {{ca_file: {ca_file}}}\n    - address: 127.0.0.1:{mutual_port}\n      tls: {{ca_file: {ca_file}, cert_file: {client_cert}, key_file: {client_key}, server_name: localhost}}\n    - address: localhost:{mutual_port}\n      tls: {{ca_file: {ca_file}}}\n"
        ),
    );
    let exporter = Exporter::start(&[
        "--config.file",
        &file,
        "--collector.disable-defaults",
        "--collector.redis",
    ]);
    let text = scrape(&exporter);
    for (target, up) in [
        (format!("localhost:{open_port}"), 1.0),
        (format!("127.0.0.1:{mutual_port}"), 1.0),
        (format!("localhost:{mutual_port}"), 0.0),
    ] {
        assert_eq!(
            value(&text, &format!("redis_up{{target=\"{target}\"}}")),
            up,
            "{target}: {text}"
        );
        assert_eq!(
            text.contains(&format!("redis_uptime_in_seconds{{target=\"{target}\"}}")),
            up == 1.0,
            "{target}: {text}"
        );
    }
}
