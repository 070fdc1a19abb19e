//! HTTP probes against local HTTP and HTTPS servers started here: success, 500, timeout,
//! connection refused, DNS failure, TLS expiry, redirects, body regexes, and `/probe`'s
//! refusal to reach targets that are not configured or allowed.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Exporter, promtool_check};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const BODY: &str = "status: healthy\n";
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
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, extra, body) = match path.as_str() {
        "/ok" => ("200 OK", "", BODY),
        "/error" => ("500 Internal Server Error", "", "boom\n"),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            ("200 OK", "", BODY)
        }
        "/redirect" => ("302 Found", "Location: /ok\r\n", ""),
        _ => ("404 Not Found", "", ""),
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

/// An HTTPS server whose certificate (for `localhost`) expires at [`CERT_EXPIRY`]; returns
/// the port and the CA certificate in PEM.
fn https_server() -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 1, 2);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let session = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(session, stream);
                respond(&mut tls);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, ca.pem())
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
    let config_file = dir.path().join("pulse.yml");
    std::fs::write(&config_file, config).unwrap();
    let exporter = Exporter::start(&[
        "--config.file",
        config_file.to_str().unwrap(),
        "--collector.disable-defaults",
        "--collector.probe",
    ]);

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
