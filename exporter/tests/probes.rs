//! HTTP probes against local HTTP and HTTPS (HTTP/1.1 and HTTP/2) servers started here:
//! success, 500, timeout, connection refused, DNS failure, TLS expiry, redirects, body
//! regexes, through a real proxy (tinyproxy), with client certificates, and `/probe`'s
//! refusal to reach targets that are not configured or allowed.
//! TCP probes against a real
//! `redis-server` and real SMTP servers (STARTTLS and implicit TLS), compared series by
//! series with Debian's blackbox_exporter probing the same servers.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulse_testkit::pki::{Issued, TestCa};
use support::{ChildGuard, Exporter, free_port, promtool_check, redis_server, wait_for};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const BODY: &str = "status: healthy\n";
/// 176 bytes: over a `body_size_limit` of 100 bytes, under one of 1 KB.
const BIG_BODY: &str = concat!(
    "status: healthy, and then some padding to make it long enough for the size limit.......\n",
    "status: healthy, and then some padding to make it long enough for the size limit.......\n",
);
/// 2031-01-02T00:00:00Z, the test certificate's notAfter.
const CERT_EXPIRY: f64 = 1_925_078_400.0;

/// Answers one request per connection by path.
fn respond(stream: &mut (impl std::io::Read + Write)) {
    let mut reader = BufReader::new(&mut *stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut line = String::new();
    let mut authorization = String::new();
    let mut via_proxy = false;
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = value.trim().to_owned();
            }
            via_proxy |= name.eq_ignore_ascii_case("via");
        }
        line.clear();
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    // user:s3cret, a bearer token, and a request a proxy passed on (its `Via` header).
    let allowed = match path.as_str() {
        "/private" => authorization == "Basic dXNlcjpzM2NyZXQ=",
        "/bearer" => authorization == "Bearer t0ken",
        "/via-proxy" => via_proxy,
        _ => true,
    };
    if path == "/gzip" {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(BODY.as_bytes()).unwrap();
        let gzipped = encoder.finish().unwrap();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            gzipped.len()
        );
        let _ = stream.write_all(&gzipped);
        return;
    }
    if path == "/chunked" {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{BODY}\r\n0\r\n\r\n",
            BODY.len()
        );
        return;
    }
    let location = |to: &str| format!("Location: {to}\r\n");
    let (status, extra, body) = match path.as_str() {
        _ if !allowed => ("401 Unauthorized", String::new(), ""),
        "/private" | "/bearer" | "/via-proxy" | "/ok" => ("200 OK", String::new(), BODY),
        "/big" => ("200 OK", String::new(), BIG_BODY),
        "/headers" => (
            "200 OK",
            "X-Health: green\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n".to_owned(),
            BODY,
        ),
        "/error" => ("500 Internal Server Error", String::new(), "boom\n"),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            ("200 OK", String::new(), BODY)
        }
        "/redirect" => ("302 Found", location("/ok"), ""),
        "/to-private" => ("302 Found", location("/private"), ""),
        // The same path on the local server listening on that port: another host to HTTP.
        other if other.starts_with("/to-port/") => {
            let port = other.trim_start_matches("/to-port/");
            let to = format!("http://127.0.0.1:{port}/private");
            ("302 Found", location(&to), "")
        }
        _ => ("404 Not Found", String::new(), ""),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// A plain HTTP server on a free port, one thread per connection.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || respond(&mut stream));
        }
    });
    port
}

/// A server certificate for `localhost` and `127.0.0.1` that expires at [`CERT_EXPIRY`],
/// and the throwaway CA's certificate (PEM) that signed it.
struct TestCertificate {
    ca_pem: String,
    server: Issued,
}

fn test_certificate() -> TestCertificate {
    let ca = TestCa::new();
    TestCertificate {
        server: ca.server(&["localhost", "127.0.0.1"], Some((2031, 1, 2))),
        ca_pem: ca.cert_pem,
    }
}

/// A TLS server's configuration with `server`'s certificate, offering `alpn` (in order),
/// requiring a client certificate signed by `client_ca` where given.
fn server_tls(
    server: &Issued,
    client_ca: Option<&TestCa>,
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(ca.cert_der.clone()))
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(
            vec![CertificateDer::from(server.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_der.clone())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Arc::new(config)
}

/// A TLS server (certificate expiring at [`CERT_EXPIRY`]) that runs `handle` on each
/// connection, in a thread of its own, and then closes it; returns the port and the CA
/// certificate in PEM.
fn tls_server(
    handle: impl Fn(&mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>)
    + Send
    + Sync
    + 'static,
) -> (u16, String) {
    let certificate = test_certificate();
    let port = tls_server_with(server_tls(&certificate.server, None, &[]), handle);
    (port, certificate.ca_pem)
}

/// A TLS server with `config` that runs `handle` on each connection, in a thread of its
/// own, and then closes it; returns the port.
fn tls_server_with(
    config: Arc<rustls::ServerConfig>,
    handle: impl Fn(&mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>)
    + Send
    + Sync
    + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            let handle = handle.clone();
            std::thread::spawn(move || {
                let session = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(session, stream);
                handle(&mut tls);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// An HTTPS server whose certificate expires at [`CERT_EXPIRY`]; returns the port and the
/// CA certificate in PEM.
fn https_server() -> (u16, String) {
    tls_server(respond)
}

/// An HTTPS server that speaks HTTP/2 to a client that offers it (ALPN `h2`) and HTTP/1.1
/// to one that does not, answering [`BODY`] to every request; returns its port and the CA
/// certificate in PEM.
fn https_h2_server() -> (u16, String) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let certificate = test_certificate();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls(
        &certificate.server,
        None,
        &[b"h2", b"http/1.1"],
    ));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let service = hyper::service::service_fn(|_| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(BODY.as_bytes()),
                        )))
                    });
                    let io = TokioIo::new(tls);
                    if http2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
    });
    (port, certificate.ca_pem)
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn get(url: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

const TARGETS: [&str; 10] = [
    "ok",
    "error",
    "slow",
    "refused",
    "dns",
    "redirect",
    "redirect_off",
    "regex_pass",
    "regex_fail",
    "tls",
];

#[test]
fn background_probes_report_every_outcome_and_probe_endpoint_is_restricted() {
    let http = http_server();
    let (https, ca_pem) = https_server();
    let refused = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let base = format!("http://127.0.0.1:{http}");
    let config = format!(
        r#"probes:
  max_concurrency: 4
  allow: ['^http://127\.0\.0\.1:{http}/error$']
  modules:
    http_2xx: {{timeout: 1s}}
    no_redirects: {{timeout: 1s, follow_redirects: false, valid_status_codes: [302]}}
    must_be_healthy: {{timeout: 1s, fail_if_body_not_matches_regexp: ['status: healthy']}}
    must_not_be_healthy: {{timeout: 1s, fail_if_body_matches_regexp: ['healthy']}}
    tls: {{timeout: 2s, tls: {{ca_file: '{ca}'}}}}
  targets:
    - {{name: ok, url: '{base}/ok', module: http_2xx, interval: 1s}}
    - {{name: error, url: '{base}/error', module: http_2xx, interval: 1s}}
    - {{name: slow, url: '{base}/slow', module: http_2xx, interval: 1s}}
    - {{name: refused, url: 'http://127.0.0.1:{refused}/', module: http_2xx, interval: 1s}}
    - {{name: dns, url: 'http://no-such-host.invalid/', module: http_2xx, interval: 1s}}
    - {{name: redirect, url: '{base}/redirect', module: http_2xx, interval: 1s}}
    - {{name: redirect_off, url: '{base}/redirect', module: no_redirects, interval: 1s}}
    - {{name: regex_pass, url: '{base}/ok', module: must_be_healthy, interval: 1s}}
    - {{name: regex_fail, url: '{base}/ok', module: must_not_be_healthy, interval: 1s}}
    - {{name: tls, url: 'https://localhost:{https}/ok', module: tls, interval: 2s}}
"#,
        ca = ca_file.display()
    );
    let exporter = probing_exporter(dir.path(), &config);

    // Wait until every target has a result (first runs are jittered over one interval).
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (_, text) = get(&exporter.url("/metrics"));
        let done = TARGETS
            .iter()
            .all(|t| text.contains(&format!("probe_success{{target=\"{t}\",")));
        if done {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "not every target was probed:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    promtool_check(&text);

    let metric = |name: &str, target: &str| {
        let module = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("probe_success{{target=\"{target}\",module=\""))?
                    .split('"')
                    .next()
            })
            .unwrap();
        value(
            &text,
            &format!("{name}{{target=\"{target}\",module=\"{module}\"}}"),
        )
    };
    let success = |t: &str| metric("probe_success", t).unwrap();
    let status = |t: &str| metric("probe_http_status_code", t).unwrap();

    assert_eq!(success("ok"), 1.0, "{text}");
    assert_eq!(status("ok"), 200.0);
    assert_eq!(
        metric("probe_http_content_length", "ok"),
        Some(BODY.len() as f64)
    );
    assert_eq!(metric("probe_http_ssl", "ok"), Some(0.0));
    assert_eq!(metric("probe_ssl_earliest_cert_expiry", "ok"), None);

    assert_eq!(success("error"), 0.0);
    assert_eq!(status("error"), 500.0);

    assert_eq!(success("slow"), 0.0);
    assert_eq!(status("slow"), 0.0);
    let slow = metric("probe_duration_seconds", "slow").unwrap();
    assert!((0.9..2.9).contains(&slow), "timeout not enforced: {slow}");

    assert_eq!(success("refused"), 0.0);
    assert_eq!(status("refused"), 0.0);
    assert_eq!(success("dns"), 0.0);

    assert_eq!(success("redirect"), 1.0);
    assert_eq!(metric("probe_http_redirects", "redirect"), Some(1.0));
    assert_eq!(status("redirect"), 200.0);
    assert_eq!(success("redirect_off"), 1.0);
    assert_eq!(metric("probe_http_redirects", "redirect_off"), Some(0.0));
    assert_eq!(status("redirect_off"), 302.0);

    assert_eq!(success("regex_pass"), 1.0);
    assert_eq!(success("regex_fail"), 0.0);
    assert_eq!(metric("probe_failed_due_to_regex", "regex_fail"), Some(1.0));
    assert_eq!(metric("probe_failed_due_to_regex", "regex_pass"), Some(0.0));

    assert_eq!(success("tls"), 1.0, "{text}");
    assert_eq!(metric("probe_http_ssl", "tls"), Some(1.0));
    assert_eq!(
        metric("probe_ssl_earliest_cert_expiry", "tls"),
        Some(CERT_EXPIRY)
    );

    // Every phase exists for every target, failed or not.
    for target in TARGETS {
        for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!(
                    "probe_http_duration_seconds{{target=\"{target}\","
                )) && l.contains(&format!("phase=\"{phase}\""))),
                "{target}/{phase} missing"
            );
        }
    }
    assert!(
        value(
            &text,
            "pulse_probe_checks_total{target=\"ok\",module=\"http_2xx\",result=\"success\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        value(
            &text,
            "pulse_probe_checks_total{target=\"ok\",module=\"http_2xx\",result=\"failure\"}"
        ),
        Some(0.0)
    );
    assert!(
        value(
            &text,
            "pulse_probe_duration_seconds_count{target=\"error\",module=\"http_2xx\"}"
        )
        .unwrap()
            >= 1.0
    );

    // /probe: configured name or URL, allow-listed URL; everything else refused.
    let (code, body) = get(&exporter.url("/probe?target=ok"));
    assert_eq!(code, 200);
    assert!(
        body.contains("probe_success{target=\"ok\",module=\"http_2xx\"} 1\n"),
        "{body}"
    );
    promtool_check(&body);
    let (code, body) = get(&exporter.url(&format!(
        "/probe?target={base}/redirect&module=no_redirects"
    )));
    assert_eq!(code, 200);
    assert!(
        body.contains("probe_http_status_code{target=\"redirect\",module=\"no_redirects\"} 302\n"),
        "{body}"
    );
    let (code, body) = get(&exporter.url(&format!("/probe?target={base}/error&module=http_2xx")));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("probe_success{") && body.contains("} 0\n"),
        "{body}"
    );
    let (code, _) =
        get(&exporter.url("/probe?target=http://169.254.169.254/latest&module=http_2xx"));
    assert_eq!(code, 403);
    let (code, _) = get(&exporter
        .url(&format!("/probe?target={base}/ok&module=http_2xx"))
        .replace("/ok&", "/ok2&"));
    assert_eq!(code, 403);
    let (code, _) = get(&exporter.url("/probe?target=ok&module=nope"));
    assert_eq!(code, 400);
    let (code, _) = get(&exporter.url("/probe"));
    assert_eq!(code, 400);
}

/// pulse-exporter with only the `probe` collector and `config` as its config file.
fn probing_exporter(dir: &std::path::Path, config: &str) -> Exporter {
    let config_file = dir.join("pulse.yml");
    std::fs::write(&config_file, config).unwrap();
    Exporter::start(&[
        "--config.file",
        config_file.to_str().unwrap(),
        "--collector.disable-defaults",
        "--collector.probe",
    ])
}

/// The modules of the TCP test, in blackbox_exporter's syntax (`tls_config` under `tcp`)
/// or in Pulse's (`tls` options beside `prober`), so both exporters run the same exchanges.
fn tcp_modules(ca_file: &str, blackbox: bool) -> String {
    let tls = |implicit: bool| {
        let start = if implicit { "tls: true, " } else { "" };
        if blackbox {
            (
                format!("{start}tls_config: {{ca_file: '{ca_file}'}}, "),
                String::new(),
            )
        } else {
            (
                start.to_owned(),
                format!("\n      tls: {{ca_file: '{ca_file}'}}"),
            )
        }
    };
    let (starttls_tcp, starttls_module) = tls(false);
    let (smtps_tcp, smtps_module) = tls(true);
    format!(
        r#"    connect: {{prober: tcp, timeout: 3s}}
    redis_ping: {{prober: tcp, timeout: 3s, tcp: {{query_response: [{{send: PING}}, {{expect: '^\+PONG$'}}]}}}}
    redis_closed: {{prober: tcp, timeout: 3s, tcp: {{query_response: [{{send: PING}}, {{send: QUIT}}, {{expect: '^\+NOPE'}}]}}}}
    smtp_starttls:
      prober: tcp
      timeout: 3s
      tcp: {{{starttls_tcp}query_response: [{{expect: '^220 '}}, {{send: "EHLO prober\r"}}, {{expect: '^250[ -]STARTTLS'}}, {{send: "STARTTLS\r"}}, {{expect: '^220 '}}, {{starttls: true}}, {{send: "EHLO prober\r"}}, {{expect: '^250 '}}, {{send: "QUIT\r"}}]}}{starttls_module}
    smtps:
      prober: tcp
      timeout: 3s
      tcp: {{{smtps_tcp}query_response: [{{expect: '^220 '}}, {{send: "QUIT\r"}}]}}{smtps_module}
"#
    )
}

/// The series of a `/probe` answer without its timings, `target` and `module` labels, with
/// their values, sorted.
fn untimed_series(text: &str) -> Vec<(String, f64)> {
    let context = regex::Regex::new(r#"(target|module)="[^"]*",?"#).unwrap();
    let mut series: Vec<(String, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            !name.ends_with("duration_seconds") && name != "probe_dns_lookup_time_seconds"
        })
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            let name = context
                .replace_all(name, "")
                .replace(",}", "}")
                .replace("{}", "");
            (name, value.parse().unwrap())
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series
}

/// Debian's blackbox_exporter with `config`; returns its guard and `host:port`.
fn blackbox_exporter(dir: &std::path::Path, config: &str) -> (ChildGuard, String) {
    let binary = "/usr/bin/prometheus-blackbox-exporter";
    assert!(
        std::path::Path::new(binary).exists(),
        "needs Debian's prometheus-blackbox-exporter (tests/run.sh installs it)"
    );
    let config_file = dir.join("blackbox.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let guard = ChildGuard::spawn_listening(
        binary,
        &[
            "--config.file",
            config_file.to_str().unwrap(),
            "--web.listen-address",
            &listen,
        ],
        port,
    );
    (guard, listen)
}

/// Probes `target` with blackbox_exporter's `module` and checks that `ours`, Pulse's
/// `/probe` answer for the same, has the same series with the same values, timings aside.
fn assert_same_as_blackbox(blackbox: &str, target: &str, module: &str, ours: &str) {
    assert_same_as_blackbox_but(blackbox, target, module, ours, &[]);
}

/// [`assert_same_as_blackbox`], leaving out blackbox_exporter's series named in `theirs_only`.
fn assert_same_as_blackbox_but(
    blackbox: &str,
    target: &str,
    module: &str,
    ours: &str,
    theirs_only: &[&str],
) {
    let (code, theirs) = get(&format!(
        "http://{blackbox}/probe?target={target}&module={module}"
    ));
    assert_eq!(code, 200, "{theirs}");
    let theirs: Vec<(String, f64)> = untimed_series(&theirs)
        .into_iter()
        .filter(|(series, _)| !theirs_only.contains(&series.as_str()))
        .collect();
    assert_eq!(
        untimed_series(ours),
        theirs,
        "{target} with {module}: ours\n{ours}"
    );
}

#[test]
fn http_probes_match_blackbox_exporter() {
    let http = http_server();
    let (https, ca_pem) = https_server();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let ca = ca_file.display();
    let (https_h2, h2_ca_pem) = https_h2_server();
    let h2_ca_file = dir.path().join("h2-ca.pem");
    std::fs::write(&h2_ca_file, h2_ca_pem).unwrap();
    let h2_ca = h2_ca_file.display();
    let base = format!("http://127.0.0.1:{http}");
    let tls_url = format!("https://localhost:{https}/ok");
    let h2_url = format!("https://localhost:{https_h2}/ok");
    // name, URL, module, success
    let targets = [
        ("ok", format!("{base}/ok"), "http_2xx", 1.0),
        ("error", format!("{base}/error"), "http_2xx", 0.0),
        // A body without Content-Length (its length unknown, -1); no response at all.
        ("chunked", format!("{base}/chunked"), "http_2xx", 1.0),
        (
            "refused",
            format!("http://127.0.0.1:{}/ok", closed_port()),
            "http_2xx",
            0.0,
        ),
        (
            "no_such_host",
            "http://no-such-host.invalid/".to_owned(),
            "http_2xx",
            0.0,
        ),
        ("redirect", format!("{base}/redirect"), "http_2xx", 1.0),
        (
            "regex_fail",
            format!("{base}/ok"),
            "must_not_be_healthy",
            0.0,
        ),
        ("tls", tls_url.clone(), "tls", 1.0),
        (
            "plain_not_allowed",
            format!("{base}/ok"),
            "must_be_tls",
            0.0,
        ),
        ("tls_not_allowed", tls_url, "must_not_be_tls", 0.0),
        ("basic", format!("{base}/private"), "basic", 1.0),
        ("no_credentials", format!("{base}/private"), "http_2xx", 0.0),
        (
            "wrong_password",
            format!("{base}/private"),
            "wrong_password",
            0.0,
        ),
        ("bearer", format!("{base}/bearer"), "bearer", 1.0),
        ("green", format!("{base}/headers"), "must_be_green", 1.0),
        (
            "not_green",
            format!("{base}/headers"),
            "must_not_be_green",
            0.0,
        ),
        (
            "no_such_header",
            format!("{base}/headers"),
            "needs_header",
            0.0,
        ),
        (
            "missing_allowed",
            format!("{base}/headers"),
            "header_if_any",
            1.0,
        ),
        ("http2_only", format!("{base}/ok"), "http2_only", 0.0),
        ("http11", format!("{base}/ok"), "http11", 1.0),
        // A server that speaks HTTP/2 over TLS: spoken unless turned off.
        ("h2", h2_url.clone(), "h2_required", 1.0),
        ("h2_off", h2_url.clone(), "h2_off", 1.0),
        ("h2_off_required", h2_url, "h2_off_required", 0.0),
    ];
    // The header and version modules, the same text for both exporters but for the nesting.
    let header_modules = [
        (
            "must_be_green",
            "fail_if_header_not_matches: [{header: X-Health, regexp: '^green$'}]",
        ),
        (
            "must_not_be_green",
            "fail_if_header_matches: [{header: X-Health, regexp: 'green'}]",
        ),
        (
            "needs_header",
            "fail_if_header_not_matches: [{header: X-Missing, regexp: '.'}]",
        ),
        (
            "header_if_any",
            "fail_if_header_not_matches: [{header: X-Missing, regexp: '.', allow_missing: true}]",
        ),
        ("http2_only", "valid_http_versions: [HTTP/2.0]"),
        ("http11", "valid_http_versions: [HTTP/1.0, HTTP/1.1]"),
    ];
    // The HTTP/2 modules, whose TLS options blackbox_exporter calls `tls_config`.
    let h2_modules = [
        ("h2_required", "valid_http_versions: [HTTP/2.0]"),
        ("h2_off", "enable_http2: false"),
        (
            "h2_off_required",
            "enable_http2: false, valid_http_versions: [HTTP/2.0]",
        ),
    ];
    let ours_extra: String = header_modules
        .iter()
        .map(|(name, options)| format!("    {name}: {{timeout: 2s, {options}}}\n"))
        .chain(h2_modules.iter().map(|(name, options)| {
            format!("    {name}: {{timeout: 2s, {options}, tls: {{ca_file: '{h2_ca}'}}}}\n")
        }))
        .collect();
    let theirs_extra: String = header_modules
        .iter()
        .map(|(name, options)| {
            format!("  {name}: {{prober: http, timeout: 2s, http: {{{options}}}}}\n")
        })
        .chain(h2_modules.iter().map(|(name, options)| {
            format!(
                "  {name}: {{prober: http, timeout: 2s, http: {{{options}, tls_config: {{ca_file: '{h2_ca}'}}}}}}\n"
            )
        }))
        .collect();
    let secret = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let password = secret("password", "s3cret\n");
    let wrong = secret("wrong", "guess");
    let token = secret("token", "t0ken");
    let mut config = format!(
        "probes:\n  allow: ['^http://127\\.0\\.0\\.1:[0-9]+/to-']\n  modules:\n    http_2xx: {{timeout: 2s}}\n    must_not_be_healthy: {{timeout: 2s, fail_if_body_matches_regexp: ['healthy']}}\n    tls: {{timeout: 2s, tls: {{ca_file: '{ca}'}}}}\n    must_be_tls: {{timeout: 2s, fail_if_not_ssl: true}}\n    must_not_be_tls: {{timeout: 2s, fail_if_ssl: true, tls: {{ca_file: '{ca}'}}}}\n    basic: {{timeout: 2s, basic_auth: {{username: user, password_file: '{password}'}}}}\n    wrong_password: {{timeout: 2s, basic_auth: {{username: user, password_file: '{wrong}'}}}}\n    bearer: {{timeout: 2s, bearer_token_file: '{token}'}}\n{ours_extra}  targets:\n"
    );
    for (name, url, module, _) in &targets {
        config += &format!("    - {{name: {name}, url: '{url}', module: {module}}}\n");
    }
    let exporter = probing_exporter(dir.path(), &config);
    let (_blackbox, blackbox) = blackbox_exporter(
        dir.path(),
        &format!(
            "modules:\n  http_2xx: {{prober: http, timeout: 2s}}\n  must_not_be_healthy: {{prober: http, timeout: 2s, http: {{fail_if_body_matches_regexp: ['healthy']}}}}\n  tls: {{prober: http, timeout: 2s, http: {{tls_config: {{ca_file: '{ca}'}}}}}}\n  must_be_tls: {{prober: http, timeout: 2s, http: {{fail_if_not_ssl: true}}}}\n  must_not_be_tls: {{prober: http, timeout: 2s, http: {{fail_if_ssl: true, tls_config: {{ca_file: '{ca}'}}}}}}\n  basic: {{prober: http, timeout: 2s, http: {{basic_auth: {{username: user, password_file: '{password}'}}}}}}\n  wrong_password: {{prober: http, timeout: 2s, http: {{basic_auth: {{username: user, password_file: '{wrong}'}}}}}}\n  bearer: {{prober: http, timeout: 2s, http: {{bearer_token_file: '{token}'}}}}\n{theirs_extra}"
        ),
    );
    let (_, green) = get(&exporter.url("/probe?target=green"));
    assert_eq!(
        value(
            &green,
            "probe_http_last_modified_timestamp_seconds{target=\"green\",module=\"must_be_green\"}"
        ),
        Some(1_445_412_480.0),
        "{green}"
    );
    // Credentials follow a redirect on the same host, and not one to another host.
    let other = http_server();
    for (path, success) in [
        ("/to-private".to_owned(), 1.0),
        (format!("/to-port/{other}"), 0.0),
    ] {
        let (code, body) = get(&exporter.url(&format!("/probe?target={base}{path}&module=basic")));
        assert_eq!(code, 200, "{body}");
        assert!(
            body.contains(&format!(
                "probe_success{{target=\"{base}{path}\",module=\"basic\"}} {success}\n"
            )),
            "{path}: {body}"
        );
    }
    for (name, module, version) in [("h2", "h2_required", 2.0), ("h2_off", "h2_off", 1.1)] {
        let (_, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(
            value(
                &ours,
                &format!("probe_http_version{{target=\"{name}\",module=\"{module}\"}}")
            ),
            Some(version),
            "{ours}"
        );
    }
    for (name, url, module, success) in &targets {
        let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{ours}");
        assert_same_as_blackbox(&blackbox, url, module, &ours);
        assert_eq!(
            value(
                &ours,
                &format!("probe_success{{target=\"{name}\",module=\"{module}\"}}")
            ),
            Some(*success),
            "{ours}"
        );
    }
}

#[test]
fn tcp_probes_match_blackbox_exporter_on_real_redis_and_smtp_servers() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = test_certificate();
    let path = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca_file = path("ca.pem", &certificate.ca_pem);
    let cert_file = path("cert.pem", &certificate.server.cert_pem);
    let key_file = path("key.pem", &certificate.server.key_pem);

    let (_redis, redis) = redis_server(&[]);
    let smtp = |tls: [&str; 2]| {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let args = [
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            &listen,
            tls[0],
            &cert_file,
            tls[1],
            &key_file,
        ];
        (
            ChildGuard::spawn_listening("/usr/bin/python3", &args, port),
            port,
        )
    };
    let (_starttls_server, starttls) = smtp(["--tlscert", "--tlskey"]);
    let (_smtps_server, smtps) = smtp(["--smtpscert", "--smtpskey"]);
    let refused = closed_port();
    // Accepts (into its backlog) without being served: all the `connect` module needs.
    let ipv6_listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback");
    let ipv6 = ipv6_listener.local_addr().unwrap().port();
    // name, address, module
    let targets = [
        ("redis", format!("127.0.0.1:{redis}"), "redis_ping"),
        ("redis_closed", format!("127.0.0.1:{redis}"), "redis_closed"),
        ("refused", format!("127.0.0.1:{refused}"), "connect"),
        ("starttls", format!("127.0.0.1:{starttls}"), "smtp_starttls"),
        ("smtps", format!("127.0.0.1:{smtps}"), "smtps"),
        ("ipv6", format!("[::1]:{ipv6}"), "connect"),
    ];

    // Beyond the compared modules: an HTTP one, and an allow list for ad-hoc addresses.
    let mut config = format!(
        "probes:\n  allow: ['^127\\.0\\.0\\.1:[0-9]+$']\n  modules:\n{}    http_2xx: {{timeout: 1s}}\n  targets:\n",
        tcp_modules(&ca_file, false)
    );
    for (name, address, module) in &targets {
        config += &format!(
            "    - {{name: {name}, address: '{address}', module: {module}, interval: 5s}}\n"
        );
    }
    let exporter = probing_exporter(dir.path(), &config);
    let (_blackbox, blackbox) = blackbox_exporter(
        dir.path(),
        &format!("modules:\n{}", tcp_modules(&ca_file, true)),
    );

    let mut ours = std::collections::BTreeMap::new();
    for (name, address, module) in &targets {
        let (code, body) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{body}");
        promtool_check(&body);
        assert_same_as_blackbox(&blackbox, address, module, &body);
        ours.insert(*name, body);
    }
    let value_of = |name: &str, series: &str| value(&ours[name], series);
    let labels = |name: &str| {
        let module = targets.iter().find(|t| t.0 == name).unwrap().2;
        format!("{{target=\"{name}\",module=\"{module}\"}}")
    };
    let success = |name: &str| value_of(name, &format!("probe_success{}", labels(name)));
    let regex_failed =
        |name: &str| value_of(name, &format!("probe_failed_due_to_regex{}", labels(name)));
    assert_eq!(success("redis"), Some(1.0));
    assert_eq!(success("redis_closed"), Some(0.0));
    assert_eq!(regex_failed("redis_closed"), Some(1.0));
    assert_eq!(regex_failed("redis"), Some(0.0));
    assert_eq!(success("refused"), Some(0.0));
    assert_eq!(success("ipv6"), Some(1.0));
    assert_eq!(
        value_of("ipv6", &format!("probe_ip_protocol{}", labels("ipv6"))),
        Some(6.0)
    );
    for tls in ["starttls", "smtps"] {
        assert_eq!(success(tls), Some(1.0), "{}", ours[tls]);
        assert_eq!(
            value_of(
                tls,
                &format!("probe_ssl_earliest_cert_expiry{}", labels(tls))
            ),
            Some(CERT_EXPIRY)
        );
        assert!(
            ours[tls].contains("probe_tls_version_info{target=")
                && ours[tls].contains("version=\"TLS 1."),
            "{}",
            ours[tls]
        );
    }
    assert!(!ours["redis"].contains("probe_http_"), "{}", ours["redis"]);

    // `debug=true` says why a probe failed, before the metrics.
    let (code, body) = get(&exporter.url("/probe?target=redis_closed&debug=true"));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.starts_with("Probe failed: no line matched `^\\+NOPE` before the connection closed\n"),
        "{body}"
    );
    assert!(
        body.contains("probe_success{target=\"redis_closed\",module=\"redis_closed\"} 0\n"),
        "{body}"
    );
    let (_, body) = get(&exporter.url("/probe?target=redis&debug=true"));
    assert!(body.starts_with("Probe succeeded\n"), "{body}");
    // `/probe` takes an allow-listed address with a TCP module, refuses others, and refuses
    // a module of another prober than the target's.
    let adhoc_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let adhoc = adhoc_listener.local_addr().unwrap();
    let (code, body) = get(&exporter.url(&format!("/probe?target={adhoc}&module=connect")));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!(
            "probe_success{{target=\"{adhoc}\",module=\"connect\"}} 1\n"
        )),
        "{body}"
    );
    let (code, body) = get(&exporter.url("/probe?target=192.0.2.1:6379&module=redis_ping"));
    assert_eq!(code, 403, "{body}");
    let (code, body) = get(&exporter.url("/probe?target=redis&module=http_2xx"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("cannot probe target"), "{body}");

    // The background probes publish the same on /metrics.
    let text = wait_for("every TCP target probed", Duration::from_secs(20), || {
        let (_, text) = get(&exporter.url("/metrics"));
        targets
            .iter()
            .all(|(name, ..)| text.contains(&format!("probe_success{{target=\"{name}\",")))
            .then_some(text)
    });
    promtool_check(&text);
    assert_eq!(
        value(&text, &format!("probe_success{}", labels("starttls"))),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn icmp_probes_match_blackbox_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = probing_exporter(
        dir.path(),
        "probes:\n  modules:\n    icmp: {prober: icmp, timeout: 2s}\n    big: {prober: icmp, timeout: 2s, icmp: {payload_size: 1400}}\n    ip4: {prober: icmp, timeout: 2s, preferred_ip_protocol: ip4}\n    ip6only: {prober: icmp, timeout: 2s, preferred_ip_protocol: ip6, ip_protocol_fallback: false}\n  targets:\n    - {name: v4, host: 127.0.0.1, module: icmp}\n    - {name: v6, host: '::1', module: icmp}\n    - {name: big, host: 127.0.0.1, module: big}\n    - {name: dns, host: no-such-host.invalid, module: icmp}\n    - {name: v6-preferring-v4, host: '::1', module: ip4}\n    - {name: v4-as-v6-only, host: 127.0.0.1, module: ip6only}\n",
    );
    let (_blackbox, blackbox) = blackbox_exporter(
        dir.path(),
        "modules:\n  icmp: {prober: icmp, timeout: 2s}\n  ip4: {prober: icmp, timeout: 2s, icmp: {preferred_ip_protocol: ip4}}\n  ip6only: {prober: icmp, timeout: 2s, icmp: {preferred_ip_protocol: ip6, ip_protocol_fallback: false}}\n",
    );
    let probe = |name: &str| {
        let (code, body) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{body}");
        promtool_check(&body);
        body
    };
    // The reply's TTL from the socket's ancillary data, whichever kind of socket the host
    // gives (the unprivileged kind is probed in `icmp_dont_fragment_and_ttl_shape_the_packets_sent`).
    let v4 = probe("v4");
    assert_same_as_blackbox(&blackbox, "127.0.0.1", "icmp", &v4);
    assert_eq!(
        value(
            &v4,
            "probe_icmp_reply_hop_limit{target=\"v4\",module=\"icmp\"}"
        ),
        Some(64.0),
        "{v4}"
    );
    let v6 = probe("v6");
    assert_same_as_blackbox(&blackbox, "::1", "icmp", &v6);
    assert_eq!(
        value(
            &v6,
            "probe_icmp_reply_hop_limit{target=\"v6\",module=\"icmp\"}"
        ),
        Some(64.0),
        "{v6}"
    );
    assert_eq!(
        value(&v6, "probe_success{target=\"v6\",module=\"icmp\"}"),
        Some(1.0),
        "{v6}"
    );
    // An address of the other family than the preferred one: used when fallback is allowed,
    // as blackbox_exporter does; a failed probe before any packet without it.
    let fallback = probe("v6-preferring-v4");
    assert_same_as_blackbox(&blackbox, "::1", "ip4", &fallback);
    assert_eq!(
        value(
            &fallback,
            "probe_ip_protocol{target=\"v6-preferring-v4\",module=\"ip4\"}"
        ),
        Some(6.0),
        "{fallback}"
    );
    let no_fallback = probe("v4-as-v6-only");
    assert_same_as_blackbox(&blackbox, "127.0.0.1", "ip6only", &no_fallback);
    assert_eq!(
        value(
            &no_fallback,
            "probe_success{target=\"v4-as-v6-only\",module=\"ip6only\"}"
        ),
        Some(0.0),
        "{no_fallback}"
    );
    let big = probe("big");
    assert_eq!(
        value(&big, "probe_success{target=\"big\",module=\"big\"}"),
        Some(1.0),
        "{big}"
    );
    let dns = probe("dns");
    assert_same_as_blackbox(&blackbox, "no-such-host.invalid", "icmp", &dns);
    assert_eq!(
        value(&dns, "probe_success{target=\"dns\",module=\"icmp\"}"),
        Some(0.0),
        "{dns}"
    );
    for phase in ["resolve", "setup", "rtt"] {
        assert!(
            dns.contains(&format!(
                "probe_icmp_duration_seconds{{target=\"dns\",module=\"icmp\",phase=\"{phase}\"}}"
            )),
            "{dns}"
        );
    }
    assert!(!dns.contains("probe_failed_due_to_regex"), "{dns}");
}

/// One case of an HTTP-module test that both exporters run.
struct HttpCase {
    name: &'static str,
    /// The module's options in Pulse's syntax (HTTP options at the module's top level).
    ours: String,
    /// The same in blackbox_exporter's (under its `http:`; TLS options as `tls_config`).
    theirs: String,
    url: String,
    success: f64,
}

impl HttpCase {
    /// A case whose options read the same in both exporters.
    fn same(name: &'static str, options: String, url: String, success: f64) -> Self {
        Self {
            name,
            ours: options.clone(),
            theirs: options,
            url,
            success,
        }
    }

    /// A case of `tls` options only, which blackbox_exporter calls `tls_config`.
    fn tls(name: &'static str, tls: String, url: String, success: f64) -> Self {
        Self {
            name,
            ours: format!("tls: {tls}"),
            theirs: format!("tls_config: {tls}"),
            url,
            success,
        }
    }
}

/// Pulse's `/probe` answers to a set of [`HttpCase`]s, and blackbox_exporter's address for
/// comparing them; both exporters live as long as this does.
struct HttpRun {
    answers: Vec<String>,
    blackbox: String,
    _exporters: (Exporter, ChildGuard),
}

/// Both exporters with one module and one target per case, each case probed by Pulse: the
/// answer is 200, promtool-clean and has the case's `probe_success`.
fn run_http_cases(dir: &std::path::Path, cases: &[HttpCase]) -> HttpRun {
    let mut pulse = String::from("probes:\n  modules:\n");
    let mut blackbox = String::from("modules:\n");
    let mut targets = String::new();
    for case in cases {
        let (name, url) = (case.name, &case.url);
        pulse += &format!("    {name}: {{timeout: 3s, {}}}\n", case.ours);
        blackbox += &format!(
            "  {name}: {{prober: http, timeout: 3s, http: {{{}}}}}\n",
            case.theirs
        );
        targets += &format!("    - {{name: {name}, url: '{url}', module: {name}}}\n");
    }
    let exporter = probing_exporter(dir, &format!("{pulse}  targets:\n{targets}"));
    let (guard, blackbox) = blackbox_exporter(dir, &blackbox);
    let answers = cases
        .iter()
        .map(|case| {
            let name = case.name;
            let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
            assert_eq!(code, 200, "{ours}");
            promtool_check(&ours);
            assert_eq!(
                value(
                    &ours,
                    &format!("probe_success{{target=\"{name}\",module=\"{name}\"}}")
                ),
                Some(case.success),
                "{name}: {ours}"
            );
            ours
        })
        .collect();
    HttpRun {
        answers,
        blackbox,
        _exporters: (exporter, guard),
    }
}

/// Each case's answer equal to blackbox_exporter's, timings aside.
fn assert_cases_match_blackbox(cases: &[HttpCase], run: &HttpRun) {
    for (case, ours) in cases.iter().zip(&run.answers) {
        assert_same_as_blackbox(&run.blackbox, &case.url, case.name, ours);
    }
}

/// A module's `tls.min_version` / `max_version` against a server that speaks both TLS 1.2
/// and 1.3 and one that speaks only 1.2: the version offered decides the one spoken
/// (`probe_tls_version_info`), and a minimum above what the server speaks fails the probe,
/// with blackbox_exporter's series for the same `tls_config`.
#[test]
fn http_probes_offer_the_tls_versions_their_module_allows() {
    let dir = tempfile::tempdir().unwrap();
    let (both, ca_pem) = https_server();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let ca = ca_file.display();
    let old_certificate = test_certificate();
    let old_ca_file = dir.path().join("old-ca.pem");
    std::fs::write(&old_ca_file, &old_certificate.ca_pem).unwrap();
    let old_ca = old_ca_file.display();
    let tls12_only = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(
            old_certificate.server.cert_der.clone(),
        )],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            old_certificate.server.key_der.clone(),
        )),
    )
    .unwrap();
    let old = tls_server_with(Arc::new(tls12_only), respond);

    let cases = [
        HttpCase::tls(
            "newest",
            format!("{{ca_file: '{ca}'}}"),
            format!("https://localhost:{both}/ok"),
            1.0,
        ),
        HttpCase::tls(
            "at_most_12",
            format!("{{ca_file: '{ca}', max_version: TLS12}}"),
            format!("https://localhost:{both}/ok"),
            1.0,
        ),
        HttpCase::tls(
            "at_least_13",
            format!("{{ca_file: '{old_ca}', min_version: TLS13}}"),
            format!("https://localhost:{old}/ok"),
            0.0,
        ),
        HttpCase::tls(
            "old_server",
            format!("{{ca_file: '{old_ca}'}}"),
            format!("https://localhost:{old}/ok"),
            1.0,
        ),
    ];
    let run = run_http_cases(dir.path(), &cases);
    assert_cases_match_blackbox(&cases, &run);
    // The version spoken, where a handshake completed.
    let spoken = [Some("TLS 1.3"), Some("TLS 1.2"), None, Some("TLS 1.2")];
    for ((case, ours), version) in cases.iter().zip(&run.answers).zip(spoken) {
        let version_line = ours
            .lines()
            .find(|line| line.starts_with("probe_tls_version_info"))
            .and_then(|line| line.split("version=\"").nth(1))
            .and_then(|rest| rest.split('"').next());
        assert_eq!(version_line, version, "{}: {ours}", case.name);
    }
}

/// `compression` and `body_size_limit`: a gzipped body is asked for, decompressed and its
/// text checked (`probe_http_uncompressed_body_length` the decompressed size, the content
/// length the compressed one); a body that is not gzipped fails a gzip module; a body over
/// the limit fails, one under it passes. Every series is blackbox_exporter's.
#[test]
fn http_probes_decompress_and_limit_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", http_server());
    let case = |name, options: &str, path: &str, success| {
        HttpCase::same(name, options.to_owned(), format!("{base}{path}"), success)
    };
    let cases = [
        case(
            "gzip",
            "compression: gzip, fail_if_body_not_matches_regexp: ['healthy']",
            "/gzip",
            1.0,
        ),
        case("not_gzip", "compression: gzip", "/ok", 0.0),
        case("over_limit", "body_size_limit: 100B", "/big", 0.0),
        case("under_limit", "body_size_limit: 1KB", "/big", 1.0),
    ];
    let run = run_http_cases(dir.path(), &cases);
    assert_cases_match_blackbox(&cases, &run);
    assert_eq!(
        value(
            &run.answers[0],
            "probe_http_uncompressed_body_length{target=\"gzip\",module=\"gzip\"}"
        ),
        Some(BODY.len() as f64),
        "{}",
        run.answers[0]
    );
}

/// A real HTTP proxy (Debian's tinyproxy) listening on a free port, with `extra` lines of
/// configuration, logging requests to `dir/NAME.log`; returns it, its port and its log path.
fn tinyproxy(
    dir: &std::path::Path,
    name: &str,
    extra: &str,
) -> (ChildGuard, u16, std::path::PathBuf) {
    let binary = "/usr/bin/tinyproxy";
    assert!(
        std::path::Path::new(binary).exists(),
        "needs Debian's tinyproxy-bin (tests/run.sh installs it)"
    );
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let config = dir.join(format!("{name}.conf"));
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 20\nLogLevel Info\nLogFile \"{}\"\n{extra}",
            log.display()
        ),
    )
    .unwrap();
    let guard = ChildGuard::spawn_listening(binary, &["-d", "-c", config.to_str().unwrap()], port);
    (guard, port, log)
}

/// `proxy_url` through a real proxy (tinyproxy): a plain request reaches a path that answers
/// only what a proxy passed on (its `Via` header), an HTTPS target is reached through a
/// tunnel (the proxy logs the `CONNECT`) with the target's certificate checked end to end,
/// a proxy that asks for credentials gets them from `proxy_basic_auth` (and refuses a module
/// without), and `skip_resolve_phase_with_proxy` leaves the name to the proxy. Every series
/// is blackbox_exporter's for the same modules.
#[test]
fn http_probes_go_through_a_real_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let http = http_server();
    let (https, ca_pem) = https_server();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let ca = ca_file.display();
    let (_open, open, open_log) = tinyproxy(dir.path(), "open", "");
    let (_guarded, guarded, _) = tinyproxy(dir.path(), "guarded", "BasicAuth pulse s3cret\n");
    let password = dir.path().join("proxy-password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let password = password.display();

    let via = format!("http://127.0.0.1:{http}/via-proxy");
    let open_proxy = format!("proxy_url: 'http://127.0.0.1:{open}'");
    let guarded_proxy = format!("proxy_url: 'http://127.0.0.1:{guarded}'");
    let cases = [
        HttpCase::same("direct", String::new(), via.clone(), 0.0),
        HttpCase::same("proxied", open_proxy.clone(), via.clone(), 1.0),
        HttpCase {
            name: "tunnel",
            ours: format!("{open_proxy}, tls: {{ca_file: '{ca}'}}"),
            theirs: format!("{open_proxy}, tls_config: {{ca_file: '{ca}'}}"),
            url: format!("https://localhost:{https}/ok"),
            success: 1.0,
        },
        HttpCase {
            name: "credentials",
            ours: format!(
                "{guarded_proxy}, proxy_basic_auth: {{username: pulse, password_file: '{password}'}}"
            ),
            theirs: format!("proxy_url: 'http://pulse:s3cret@127.0.0.1:{guarded}'"),
            url: via.clone(),
            success: 1.0,
        },
        HttpCase::same("no_credentials", guarded_proxy, via, 0.0),
        HttpCase::same(
            "unresolved",
            format!("{open_proxy}, skip_resolve_phase_with_proxy: true"),
            format!("http://localhost:{http}/via-proxy"),
            1.0,
        ),
    ];
    let run = run_http_cases(dir.path(), &cases);
    assert_cases_match_blackbox(&cases, &run);
    let log = std::fs::read_to_string(&open_log).unwrap();
    assert!(
        log.contains(&format!("CONNECT localhost:{https}")),
        "no tunnel in the proxy's log:\n{log}"
    );
}

/// A module's `tls` block with a client certificate (`cert_file`, `key_file`) and a
/// `server_name`, against an HTTPS server that requires a certificate from its clients and
/// whose own certificate names only `pulse.test`, probed at 127.0.0.1: the probe passes with
/// both, fails without the client certificate (the server ends the handshake) and fails
/// without the server name (the certificate is not 127.0.0.1's), with blackbox_exporter's
/// series for the same `tls_config`.
#[test]
fn http_probes_present_a_client_certificate_and_check_the_server_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let server = ca.server(&["pulse.test"], Some((2031, 1, 2)));
    let client = ca.client();
    let path = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let ca_file = path("ca.pem", &ca.cert_pem);
    let cert_file = path("client.pem", &client.cert_pem);
    let key_file = path("client.key", &client.key_pem);
    let port = tls_server_with(server_tls(&server, Some(&ca), &[]), respond);

    let url = format!("https://127.0.0.1:{port}/ok");
    let client = format!("cert_file: '{cert_file}', key_file: '{key_file}'");
    let cases = [
        HttpCase::tls(
            "mtls",
            format!("{{ca_file: '{ca_file}', {client}, server_name: pulse.test}}"),
            url.clone(),
            1.0,
        ),
        HttpCase::tls(
            "no_client_certificate",
            format!("{{ca_file: '{ca_file}', server_name: pulse.test}}"),
            url.clone(),
            0.0,
        ),
        HttpCase::tls(
            "no_server_name",
            format!("{{ca_file: '{ca_file}', {client}}}"),
            url,
            0.0,
        ),
    ];
    let run = run_http_cases(dir.path(), &cases);
    for (case, ours) in cases.iter().zip(&run.answers) {
        // A handshake the client completed before the server refused it (TLS 1.3 sends the
        // refusal after): Pulse reports the server's certificate as seen, blackbox reports
        // no certificate without a response.
        let compared: String = ours
            .lines()
            .filter(|line| {
                case.success == 1.0 || !(line.contains("probe_ssl_") || line.contains("probe_tls_"))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        assert_same_as_blackbox(&run.blackbox, &case.url, case.name, &compared);
    }
}

/// `source_ip_address`, in the `tcp`, `icmp` and `dns` blocks where blackbox_exporter reads
/// it: the server sees the probe come from that address; an address this host does not
/// have, or one of the other family than the target's, fails the probe before anything is
/// sent. The series are blackbox_exporter's for the same modules.
#[test]
fn probes_send_from_the_source_address_their_module_names() {
    let dir = tempfile::tempdir().unwrap();
    // A TCP server recording where each connection came from, and a DNS "server" recording
    // where each query came from without answering (so the DNS probes time out).
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_address = tcp.local_addr().unwrap();
    let tcp_peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let peers = tcp_peers.clone();
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            peers.lock().unwrap().push(stream.peer_addr().unwrap().ip());
        }
    });
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_address = udp.local_addr().unwrap();
    let udp_peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let peers = udp_peers.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        while let Ok((_, peer)) = udp.recv_from(&mut buffer) {
            peers.lock().unwrap().push(peer.ip());
        }
    });

    let modules = "tcp_from: {prober: tcp, timeout: 2s, tcp: {source_ip_address: 127.0.0.2}}\n\
                   tcp_foreign: {prober: tcp, timeout: 2s, tcp: {source_ip_address: 192.0.2.1}}\n\
                   tcp_v6: {prober: tcp, timeout: 2s, tcp: {source_ip_address: '::1'}}\n\
                   icmp_from: {prober: icmp, timeout: 2s, icmp: {source_ip_address: 127.0.0.2}}\n\
                   icmp_foreign: {prober: icmp, timeout: 2s, icmp: {source_ip_address: 192.0.2.1}}\n\
                   dns_from: {prober: dns, timeout: 1s, dns: {query_name: pulse.test, source_ip_address: 127.0.0.2}}\n";
    // name, module, target, success
    let probes = [
        ("tcp_from", "tcp_from", tcp_address.to_string(), 1.0),
        ("tcp_foreign", "tcp_foreign", tcp_address.to_string(), 0.0),
        ("tcp_v6", "tcp_v6", tcp_address.to_string(), 0.0),
        ("icmp_from", "icmp_from", "127.0.0.1".to_owned(), 1.0),
        ("icmp_foreign", "icmp_foreign", "127.0.0.1".to_owned(), 0.0),
        ("dns_from", "dns_from", udp_address.to_string(), 0.0),
    ];
    let targets: String = probes
        .iter()
        .map(|(name, module, target, _)| {
            let field = if module.starts_with("icmp") {
                "host"
            } else {
                "address"
            };
            format!("    - {{name: {name}, {field}: '{target}', module: {module}}}\n")
        })
        .collect();
    let exporter = probing_exporter(
        dir.path(),
        &format!(
            "probes:\n  modules:\n{}  targets:\n{targets}",
            indented(modules, 4)
        ),
    );
    let (_blackbox, blackbox) =
        blackbox_exporter(dir.path(), &format!("modules:\n{}", indented(modules, 2)));
    for (name, module, target, success) in &probes {
        let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{ours}");
        promtool_check(&ours);
        assert_eq!(
            value(
                &ours,
                &format!("probe_success{{target=\"{name}\",module=\"{module}\"}}")
            ),
            Some(*success),
            "{name}: {ours}"
        );
        // blackbox_exporter 0.23 reads no reply TTL when it sends from a source address.
        assert_same_as_blackbox_but(
            &blackbox,
            target,
            module,
            &without_hop_limit(&ours),
            &["probe_icmp_reply_hop_limit"],
        );
    }
    // A connection and a query from each exporter (and from Pulse's background probes of
    // its targets), all from the source address.
    let local: std::net::IpAddr = [127, 0, 0, 2].into();
    for (what, peers) in [("TCP", tcp_peers), ("DNS", udp_peers)] {
        let peers = wait_for(what, Duration::from_secs(5), || {
            let peers = peers.lock().unwrap();
            (peers.len() >= 2).then(|| peers.clone())
        });
        assert!(peers.iter().all(|peer| *peer == local), "{what}: {peers:?}");
    }
}

/// `dont_fragment` and `ttl` for real, in a network namespace of the test's own whose
/// loopback carries at most 1,300 bytes a packet: a 1,400-byte echo goes out in fragments
/// and is answered, but fails with `dont_fragment`, over IPv4 as blackbox_exporter's does and
/// over IPv6 too (blackbox_exporter sets it for IPv4 only); a request sent with `ttl: 3`
/// leaves with a TTL of 3, as a raw socket listening on the loopback sees it.
#[test]
fn icmp_dont_fragment_and_ttl_shape_the_packets_sent() {
    std::thread::spawn(|| {
        enter_new_network_namespace();
        let status = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up", "mtu", "1300"])
            .status()
            .expect("ip (iproute2; tests/run.sh installs it)");
        assert!(status.success());
        icmp_in_a_small_mtu_namespace();
    })
    .join()
    .unwrap();
}

/// A `/probe` answer without `probe_icmp_reply_hop_limit`, for comparing with a
/// blackbox_exporter that did not read the reply's TTL.
fn without_hop_limit(text: &str) -> String {
    text.lines()
        .filter(|line| !line.contains("probe_icmp_reply_hop_limit"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Moves the calling thread (and the threads and processes it starts from then on) into a
/// network namespace of its own, with only a loopback, down.
#[allow(unsafe_code)]
fn enter_new_network_namespace() {
    // SAFETY: unshare(2) with CLONE_NEWNET takes no pointers and changes only which network
    // namespace this thread is in.
    let result = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        result,
        0,
        "unshare(CLONE_NEWNET): {} (the test needs root)",
        std::io::Error::last_os_error()
    );
}

fn icmp_in_a_small_mtu_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let modules = "fragmented: {prober: icmp, timeout: 2s, icmp: {payload_size: 1400}}\n\
                   whole: {prober: icmp, timeout: 2s, icmp: {payload_size: 1400, dont_fragment: true}}\n\
                   fits: {prober: icmp, timeout: 2s, icmp: {payload_size: 1200, dont_fragment: true}}\n\
                   plain: {prober: icmp, timeout: 2s}\n";
    // Not for blackbox_exporter 0.23, which has no `ttl` and fragments over IPv6 regardless.
    let pulse_only = "ttl: {prober: icmp, timeout: 2s, icmp: {payload_size: 333, ttl: 3}}\n\
                      ip6_fragmented: {prober: icmp, timeout: 2s, icmp: {payload_size: 1400}}\n\
                      ip6_whole: {prober: icmp, timeout: 2s, icmp: {payload_size: 1400, dont_fragment: true}}\n";
    // name, module, host, success
    let probes = [
        ("fragmented", "fragmented", "127.0.0.1", 1.0),
        ("whole", "whole", "127.0.0.1", 0.0),
        ("fits", "fits", "127.0.0.1", 1.0),
        ("ttl", "ttl", "127.0.0.1", 1.0),
        ("ip6_fragmented", "ip6_fragmented", "::1", 1.0),
        ("ip6_whole", "ip6_whole", "::1", 0.0),
    ];
    // Probed last, over unprivileged sockets.
    let unprivileged = [("unprivileged", "127.0.0.1"), ("unprivileged6", "::1")];
    let targets: String = probes
        .iter()
        .map(|&(name, module, host, _)| (name, module, host))
        .chain(
            unprivileged
                .iter()
                .map(|&(name, host)| (name, "plain", host)),
        )
        .map(|(name, module, host)| {
            format!("    - {{name: {name}, host: '{host}', module: {module}}}\n")
        })
        .collect();
    let exporter = probing_exporter(
        dir.path(),
        &format!(
            "probes:\n  modules:\n{}{}  targets:\n{targets}",
            indented(modules, 4),
            indented(pulse_only, 4)
        ),
    );
    let (_blackbox, blackbox) =
        blackbox_exporter(dir.path(), &format!("modules:\n{}", indented(modules, 2)));
    // Every ICMP packet the loopback carries, with its IPv4 header.
    let sniffer = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::RAW,
        Some(rustix::net::ipproto::ICMP),
    )
    .expect("a raw ICMP socket (the test needs root)");
    rustix::net::sockopt::set_socket_timeout(
        &sniffer,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(5)),
    )
    .unwrap();

    for (name, module, host, success) in probes {
        let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{ours}");
        assert_eq!(
            value(
                &ours,
                &format!("probe_success{{target=\"{name}\",module=\"{module}\"}}")
            ),
            Some(success),
            "{name}: {ours}"
        );
        if !pulse_only.contains(&format!("{module}:")) {
            // blackbox_exporter 0.23 reads no reply TTL on its `dont_fragment` socket.
            assert_same_as_blackbox_but(
                &blackbox,
                host,
                module,
                &without_hop_limit(&ours),
                &["probe_icmp_reply_hop_limit"],
            );
        }
    }

    // The `ttl` probe's 333-byte echo request left with a TTL of 3 (64 otherwise).
    let request_length = 20 + 8 + 333;
    let mut buffer = [0u8; 2048];
    let ttl = loop {
        let (read, _) = rustix::net::recv(&sniffer, &mut buffer, rustix::net::RecvFlags::empty())
            .expect("the ttl probe's echo request on the loopback");
        let packet = &buffer[..read];
        let header = usize::from(packet[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        // An echo request (type 8) of the ttl probe's size.
        if total == request_length && packet[header] == 8 {
            break packet[8];
        }
    };
    assert_eq!(ttl, 3);

    // Unprivileged ICMP sockets, as a container often gets them: the namespace lets every
    // group open one (a sysctl of its own), so both exporters use them instead of raw ones.
    // The reply's TTL comes as ancillary data there too, over IPv4 and IPv6.
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647").unwrap();
    for (name, host) in unprivileged {
        let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{ours}");
        let labels = format!("target=\"{name}\",module=\"plain\"");
        assert_eq!(
            value(&ours, &format!("probe_success{{{labels}}}")),
            Some(1.0),
            "{ours}"
        );
        assert_eq!(
            value(&ours, &format!("probe_icmp_reply_hop_limit{{{labels}}}")),
            Some(64.0),
            "{ours}"
        );
        assert_same_as_blackbox(&blackbox, host, "plain", &ours);
    }
}

/// `text` with every line indented by `spaces`.
fn indented(text: &str, spaces: usize) -> String {
    text.lines()
        .map(|line| format!("{:spaces$}{line}\n", ""))
        .collect()
}

/// DNS modules of the DNS test, the same text for both exporters (blackbox_exporter's
/// syntax is Pulse's here).
const DNS_MODULES: &str = r#"a: {prober: dns, timeout: 2s, dns: {query_name: ok.pulse.test, query_type: A, validate_answer_rrs: {fail_if_not_matches_regexp: ['^ok\.pulse\.test\.\t\d+\tIN\tA\t192\.0\.2\.10$']}}}
a_tcp: {prober: dns, timeout: 2s, dns: {transport_protocol: tcp, query_name: ok.pulse.test, query_type: A}}
soa: {prober: dns, timeout: 2s, dns: {query_name: pulse.test, query_type: SOA}}
nxdomain: {prober: dns, timeout: 2s, dns: {query_name: nope.pulse.test, query_type: A}}
nxdomain_expected: {prober: dns, timeout: 2s, dns: {query_name: nope.pulse.test, query_type: A, valid_rcodes: [NXDOMAIN]}}
wrong_answer: {prober: dns, timeout: 2s, dns: {query_name: ok.pulse.test, query_type: A, validate_answer_rrs: {fail_if_matches_regexp: ['192\.0\.2\.10']}}}
txt: {prober: dns, timeout: 2s, dns: {query_name: txt.pulse.test, query_type: TXT, validate_answer_rrs: {fail_if_not_matches_regexp: ['^txt\.pulse\.test\.\t\d+\tIN\tTXT\t"v=spf1 -all" "second"$']}}}
mx: {prober: dns, timeout: 2s, dns: {query_name: pulse.test, query_type: MX, validate_answer_rrs: {fail_if_not_matches_regexp: ['^pulse\.test\.\t\d+\tIN\tMX\t10 mail\.pulse\.test\.$']}}}
srv: {prober: dns, timeout: 2s, dns: {query_name: _ldap._tcp.pulse.test, query_type: SRV, validate_answer_rrs: {fail_if_not_matches_regexp: ['^_ldap\._tcp\.pulse\.test\.\t\d+\tIN\tSRV\t1 2 389 ldap\.pulse\.test\.$']}}}
version: {prober: dns, timeout: 2s, dns: {query_name: version.bind, query_type: TXT, query_class: CH, validate_answer_rrs: {fail_if_not_matches_regexp: ['^version\.bind\.\t\d+\tCH\tTXT\t"dnsmasq-']}}}
"#;

/// A DNS-over-TLS front for the DNS server on `upstream`'s TCP port: one query per
/// connection, passed on as it came. Returns its port and the CA certificate in PEM.
fn dns_over_tls_proxy(upstream: u16) -> (u16, String) {
    tls_server(move |tls| {
        let message = |from: &mut dyn std::io::Read| {
            let mut length = [0u8; 2];
            from.read_exact(&mut length)?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
            from.read_exact(&mut body)?;
            Ok::<_, std::io::Error>([length.to_vec(), body].concat())
        };
        let Ok(query) = message(tls) else {
            return;
        };
        let mut dns = std::net::TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        dns.write_all(&query).unwrap();
        let response = message(&mut dns).unwrap();
        tls.write_all(&response).unwrap();
    })
}

#[test]
fn dns_probes_match_blackbox_exporter_on_a_real_dnsmasq() {
    let dnsmasq = "/usr/sbin/dnsmasq";
    assert!(
        std::path::Path::new(dnsmasq).exists(),
        "needs Debian's dnsmasq-base (tests/run.sh installs it)"
    );
    let port = free_port();
    let port_arg = format!("--port={port}");
    // An authoritative zone with one host, and a silent port beside it.
    let _dnsmasq = ChildGuard::spawn_listening(
        dnsmasq,
        &[
            "--no-daemon",
            &port_arg,
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--auth-zone=pulse.test",
            "--auth-server=ns.pulse.test",
            "--auth-soa=2026113001,hostmaster.pulse.test",
            "--host-record=ok.pulse.test,192.0.2.10",
            "--host-record=ns.pulse.test,127.0.0.1",
            "--txt-record=txt.pulse.test,v=spf1 -all,second",
            "--mx-host=pulse.test,mail.pulse.test,10",
            "--srv-host=_ldap._tcp.pulse.test,ldap.pulse.test,389,1,2",
        ],
        port,
    );
    let silent = free_port();
    let server = format!("127.0.0.1:{port}");
    let targets = [
        ("a", server.clone(), "a", 1.0),
        ("a_tcp", server.clone(), "a_tcp", 1.0),
        ("soa", server.clone(), "soa", 1.0),
        ("nxdomain", server.clone(), "nxdomain", 0.0),
        (
            "nxdomain_expected",
            server.clone(),
            "nxdomain_expected",
            1.0,
        ),
        ("wrong_answer", server.clone(), "wrong_answer", 0.0),
        // Record lines of other types, written as blackbox_exporter prints them.
        ("txt", server.clone(), "txt", 1.0),
        ("mx", server.clone(), "mx", 1.0),
        ("srv", server.clone(), "srv", 1.0),
        // The CHAOS class: the server's own version, as dnsmasq answers it.
        ("version", server.clone(), "version", 1.0),
        ("silent", format!("127.0.0.1:{silent}"), "a", 0.0),
    ];
    let dir = tempfile::tempdir().unwrap();
    // DNS over TLS: dnsmasq behind a TLS terminator, checked against its CA.
    let (dot_port, dot_ca_pem) = dns_over_tls_proxy(port);
    let dot_ca = dir.path().join("dot-ca.pem");
    std::fs::write(&dot_ca, dot_ca_pem).unwrap();
    let dot_ca = dot_ca.display();
    // blackbox_exporter needs the transport said; Pulse takes tcp as given.
    let dot = "{prober: dns, timeout: 2s, dns: {query_name: ok.pulse.test, query_type: A, dns_over_tls: true, transport_protocol: tcp";
    let targets: Vec<_> = targets
        .into_iter()
        .chain([("dot", format!("localhost:{dot_port}"), "dot", 1.0)])
        .collect();
    let mut config = format!(
        "probes:\n  modules:\n{}    dot: {dot}}}, tls: {{ca_file: '{dot_ca}'}}}}\n  targets:\n",
        indented(DNS_MODULES, 4)
    );
    for (name, address, module, _) in &targets {
        config += &format!("    - {{name: {name}, address: '{address}', module: {module}}}\n");
    }
    let exporter = probing_exporter(dir.path(), &config);
    let (_blackbox, blackbox) = blackbox_exporter(
        dir.path(),
        &format!(
            "modules:\n{}  dot: {dot}, tls_config: {{ca_file: '{dot_ca}'}}}}}}\n",
            indented(DNS_MODULES, 2)
        ),
    );
    for (name, address, module, success) in &targets {
        let (code, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(code, 200, "{ours}");
        promtool_check(&ours);
        // Over TLS Pulse also reports the server's certificates and TLS version, as for a
        // TLS probe of any other prober; blackbox_exporter 0.23 does not for DNS.
        let tls_series = [
            "probe_ssl_earliest_cert_expiry",
            "probe_ssl_last_chain_",
            "probe_tls_version_info",
        ];
        let compared: String = ours
            .lines()
            .filter(|line| !tls_series.iter().any(|series| line.starts_with(series)))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_same_as_blackbox(&blackbox, address, module, &compared);
        assert_eq!(
            value(
                &ours,
                &format!("probe_success{{target=\"{name}\",module=\"{module}\"}}")
            ),
            Some(*success),
            "{ours}"
        );
        let expiry = value(
            &ours,
            &format!("probe_ssl_earliest_cert_expiry{{target=\"{name}\",module=\"{module}\"}}"),
        );
        assert_eq!(expiry, (*name == "dot").then_some(CERT_EXPIRY), "{ours}");
    }
    let (_, soa) = get(&exporter.url("/probe?target=soa"));
    assert_eq!(
        value(&soa, "probe_dns_serial{target=\"soa\",module=\"soa\"}"),
        Some(2_026_113_001.0),
        "{soa}"
    );
}

#[test]
fn an_endless_tcp_answer_without_line_ends_fails_the_probe_before_its_timeout() {
    // Sends 10 MiB without a newline, then holds the connection open.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let chunk = [b'x'; 64 * 1024];
                for _ in 0..160 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(10));
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let exporter = probing_exporter(
        dir.path(),
        &format!(
            "probes:\n  modules:\n    banner: {{prober: tcp, timeout: 5s, tcp: {{query_response: [{{expect: '^220'}}]}}}}\n  targets:\n    - {{name: noisy, address: '{address}', module: banner}}\n"
        ),
    );
    let (code, body) = get(&exporter.url("/probe?target=noisy"));
    assert_eq!(code, 200, "{body}");
    let labels = "{target=\"noisy\",module=\"banner\"}";
    assert_eq!(
        value(&body, &format!("probe_success{labels}")),
        Some(0.0),
        "{body}"
    );
    let duration = value(&body, &format!("probe_duration_seconds{labels}")).unwrap();
    assert!(duration < 4.0, "waited for the timeout: {body}");
}

/// A real gRPC server (Debian's python3-grpcio) offering the standard health service on a
/// free port, over TLS with `certificate` if given (see `fixtures/grpc/health_server.py`).
fn grpc_health_server(
    dir: &std::path::Path,
    certificate: Option<&TestCertificate>,
) -> (ChildGuard, u16) {
    let python = "/usr/bin/python3";
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grpc/health_server.py"
    );
    let port = free_port();
    let mut args = vec![script.to_owned(), port.to_string()];
    if let Some(certificate) = certificate {
        let (cert, key) = (dir.join("grpc-cert.pem"), dir.join("grpc-key.pem"));
        std::fs::write(&cert, &certificate.server.cert_pem).unwrap();
        std::fs::write(&key, &certificate.server.key_pem).unwrap();
        args.extend([cert.display().to_string(), key.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (ChildGuard::spawn_listening(python, &args, port), port)
}

#[test]
fn grpc_probes_match_blackbox_exporter_on_a_real_grpc_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_plain, plain) = grpc_health_server(dir.path(), None);
    let certificate = test_certificate();
    let (_tls, tls) = grpc_health_server(dir.path(), Some(&certificate));
    let ca = dir.path().join("grpc-ca.pem");
    std::fs::write(&ca, &certificate.ca_pem).unwrap();
    let ca = ca.display();
    let closed = closed_port();
    // (target, address, module, success, gRPC status code, serving status answered)
    let targets = [
        ("server", plain, "grpc", 1.0, 0.0, Some("SERVING")),
        ("cache", plain, "grpc_cache", 1.0, 0.0, Some("SERVING")),
        ("db", plain, "grpc_db", 0.0, 0.0, Some("NOT_SERVING")),
        ("unknown", plain, "grpc_unknown", 0.0, 5.0, None),
        ("tls", tls, "grpc_tls", 1.0, 0.0, Some("SERVING")),
        ("refused", closed, "grpc", 0.0, 14.0, None),
    ];
    let modules = [
        ("grpc", ""),
        ("grpc_cache", "service: cache"),
        ("grpc_db", "service: db"),
        ("grpc_unknown", "service: nope"),
    ];
    let mut config = String::from("probes:\n  modules:\n");
    // blackbox_exporter only applies its address-family defaults when `grpc:` is given.
    let mut blackbox_config = String::from("modules:\n");
    for (module, options) in modules {
        config += &format!("    {module}: {{prober: grpc, timeout: 3s, grpc: {{{options}}}}}\n");
        blackbox_config += &format!(
            "  {module}: {{prober: grpc, timeout: 3s, grpc: {{preferred_ip_protocol: ip4, {options}}}}}\n"
        );
    }
    config += &format!(
        "    grpc_tls: {{prober: grpc, timeout: 3s, grpc: {{tls: true}}, tls: {{ca_file: '{ca}'}}}}\n\
         \x20   grpc_slow: {{prober: grpc, timeout: 1s, grpc: {{service: slow}}}}\n  targets:\n"
    );
    blackbox_config += &format!(
        "  grpc_tls: {{prober: grpc, timeout: 3s, grpc: {{preferred_ip_protocol: ip4, tls: true, tls_config: {{ca_file: '{ca}'}}}}}}\n"
    );
    for (name, port, module, ..) in &targets {
        config +=
            &format!("    - {{name: {name}, address: '127.0.0.1:{port}', module: {module}}}\n");
    }
    config += &format!("    - {{name: slow, address: '127.0.0.1:{plain}', module: grpc_slow}}\n");
    let exporter = probing_exporter(dir.path(), &config);
    let (_blackbox, blackbox) = blackbox_exporter(dir.path(), &blackbox_config);

    for (name, port, module, success, code, serving) in &targets {
        let (status, ours) = get(&exporter.url(&format!("/probe?target={name}")));
        assert_eq!(status, 200, "{ours}");
        promtool_check(&ours);
        let labels = format!("{{target=\"{name}\",module=\"{module}\"}}");
        assert_eq!(
            value(&ours, &format!("probe_success{labels}")),
            Some(*success),
            "{ours}"
        );
        assert_eq!(
            value(&ours, &format!("probe_grpc_status_code{labels}")),
            Some(*code),
            "{ours}"
        );
        for status in ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] {
            let answered = f64::from(u8::from(*serving == Some(status)));
            assert_eq!(
                value(
                    &ours,
                    &format!(
                        "probe_grpc_healthcheck_response{{target=\"{name}\",module=\"{module}\",serving_status=\"{status}\"}}"
                    )
                ),
                Some(answered),
                "{ours}"
            );
        }
        // blackbox_exporter reports a certificate expiry of 0 without TLS, and no chain
        // expiry for gRPC; Pulse leaves the first out and reports the second.
        let compared: String = ours
            .lines()
            .filter(|line| !line.starts_with("probe_ssl_last_chain_expiry_timestamp_seconds"))
            .map(|line| format!("{line}\n"))
            .collect();
        let theirs_only: &[&str] = if *name == "tls" {
            &[]
        } else {
            &["probe_ssl_earliest_cert_expiry"]
        };
        assert_same_as_blackbox_but(
            &blackbox,
            &format!("127.0.0.1:{port}"),
            module,
            &compared,
            theirs_only,
        );
    }
    let (_, ours) = get(&exporter.url("/probe?target=tls"));
    let labels = "{target=\"tls\",module=\"grpc_tls\"}";
    assert_eq!(
        value(&ours, &format!("probe_grpc_ssl{labels}")),
        Some(1.0),
        "{ours}"
    );
    assert_eq!(
        value(&ours, &format!("probe_ssl_earliest_cert_expiry{labels}")),
        Some(CERT_EXPIRY),
        "{ours}"
    );

    // An answer slower than the module's timeout: DEADLINE_EXCEEDED, the check phase
    // lasting until the timeout. (blackbox_exporter 0.23 waits for the answer instead.)
    let (_, ours) = get(&exporter.url("/probe?target=slow"));
    let labels = "{target=\"slow\",module=\"grpc_slow\"}";
    assert_eq!(
        value(&ours, &format!("probe_success{labels}")),
        Some(0.0),
        "{ours}"
    );
    assert_eq!(
        value(&ours, &format!("probe_grpc_status_code{labels}")),
        Some(4.0),
        "{ours}"
    );
    let check = value(
        &ours,
        "probe_grpc_duration_seconds{target=\"slow\",module=\"grpc_slow\",phase=\"check\"}",
    )
    .unwrap();
    assert!((0.9..2.0).contains(&check), "{ours}");
}
