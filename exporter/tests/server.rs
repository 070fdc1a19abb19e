//! Black-box tests of the HTTP side: concurrency, content negotiation, gzip, TLS, basic auth,
//! graceful shutdown.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::time::{Duration, Instant};

use support::Exporter;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn landing_page_health_and_negotiation() {
    let exporter = Exporter::start(&[]);
    let c = client();
    let landing = c.get(exporter.url("/")).send().unwrap();
    assert_eq!(landing.status(), 200);
    let body = landing.text().unwrap();
    assert!(
        body.contains("Pulse Exporter") && body.contains("loadavg"),
        "{body}"
    );
    assert_eq!(
        c.get(exporter.url("/-/healthy"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "Healthy"
    );
    assert_eq!(c.get(exporter.url("/nope")).send().unwrap().status(), 404);

    let text = c.get(exporter.url("/metrics")).send().unwrap();
    assert_eq!(
        text.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = text.text().unwrap();
    assert!(
        text.contains("pulse_collector_success{collector=\"loadavg\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE pulse_exporter_scrapes_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"));

    let om = c
        .get(exporter.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.text().unwrap().ends_with("# EOF\n"));
}

#[test]
fn gzip_when_asked() {
    let exporter = Exporter::start(&[]);
    // reqwest's gzip feature is on for the workspace, so ask without auto-decompression.
    let raw = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .unwrap();
    let response = raw
        .get(exporter.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let bytes = response.bytes().unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    // XFL (RFC 1952) 4: compressed at the fastest level, which costs a sixth of the default's CPU.
    assert_eq!(bytes[8], 4, "gzip XFL flag");
}

#[test]
fn eight_concurrent_clients_never_fail_and_rss_stays_flat() {
    let exporter = Exporter::start(&[]);
    let url = exporter.url("/metrics");
    // A fixed amount of work per client, not a time box: how fast a debug build scrapes on a
    // loaded machine is not what this test is about (the benchmarks measure speed).
    let round = |per_client: usize| -> usize {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let c = client();
                    for _ in 0..per_client {
                        let r = c.get(&url).send().unwrap();
                        assert_eq!(r.status(), 200);
                        assert!(r.text().unwrap().contains("pulse_collector_success"));
                    }
                    per_client
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    };
    // Warm-up as long as the measured round: every blocking-pool thread the collectors use
    // gets its allocator arena here, so what grows afterwards is a leak, not start-up.
    round(20);
    let warm_rss = exporter.rss_bytes();
    let scrapes = round(20);
    let end_rss = exporter.rss_bytes();
    let growth = end_rss.saturating_sub(warm_rss);
    assert!(
        growth < 4 << 20,
        "RSS grew by {growth} bytes over {scrapes} scrapes ({warm_rss} -> {end_rss})"
    );
}

#[test]
fn max_requests_zero_means_unlimited_and_sigterm_exits_cleanly() {
    let mut exporter = Exporter::start(&["--web.max-requests", "0"]);
    assert_eq!(
        client()
            .get(exporter.url("/metrics"))
            .send()
            .unwrap()
            .status(),
        200
    );
    rustix_kill(exporter.child.id());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = exporter.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rustix_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

mod tls_and_auth {
    use super::*;
    use std::path::Path;

    struct Pki {
        dir: tempfile::TempDir,
        ca_pem: String,
    }

    /// A CA-signed server certificate for 127.0.0.1/localhost plus a web config with
    /// `users` and `tls_options` (lines of `tls_server_config`).
    fn pki(users: &[(&str, &str)], tls_options: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = pulse_testkit::pki::TestCa::new();
        let server = ca.server(&["localhost", "127.0.0.1"], None);
        std::fs::write(dir.path().join("server.crt"), &server.cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &server.key_pem).unwrap();
        let mut web = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls_options}"
        );
        if !users.is_empty() {
            web.push_str("basic_auth_users:\n");
            for (user, password) in users {
                let hash = bcrypt::hash(password, 4).unwrap();
                web.push_str(&format!("  {user}: '{hash}'\n"));
            }
        }
        std::fs::write(dir.path().join("web.yml"), web).unwrap();
        Pki {
            ca_pem: ca.cert_pem,
            dir,
        }
    }

    fn tls_client(ca_pem: &str) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    fn web_config(dir: &Path) -> String {
        dir.join("web.yml").display().to_string()
    }

    #[test]
    fn basic_auth_over_tls() {
        let pki = pki(&[("prometheus", "correct horse")], "");
        let exporter = Exporter::start(&["--web.config.file", &web_config(pki.dir.path())]);
        let port = exporter.addr.rsplit(':').next().unwrap().to_owned();
        let url = format!("https://localhost:{port}/metrics");
        let c = tls_client(&pki.ca_pem);

        let anonymous = c.get(&url).send().unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let wrong = c
            .get(&url)
            .basic_auth("prometheus", Some("battery staple"))
            .send()
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let unknown = c
            .get(&url)
            .basic_auth("mallory", Some("correct horse"))
            .send()
            .unwrap();
        assert_eq!(unknown.status(), 401);
        let right = c
            .get(&url)
            .basic_auth("prometheus", Some("correct horse"))
            .send()
            .unwrap();
        assert_eq!(right.status(), 200);
        assert!(right.text().unwrap().contains("pulse_collector_success"));
    }

    /// exporter-toolkit's `cipher_suites`, `curve_preferences` and `max_version`: a client
    /// that offers everything (rustls's defaults put AES-GCM and X25519 first) gets the one
    /// suite and group the web config names, over TLS 1.2, and its scrape is answered.
    #[test]
    fn the_web_config_chooses_the_cipher_suite_and_key_exchange() {
        use std::io::{Read, Write};
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject;

        let pki = pki(
            &[],
            "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]\n  curve_preferences: [CurveP384]\n",
        );
        let exporter = Exporter::start(&["--web.config.file", &web_config(pki.dir.path())]);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut connection = rustls::ClientConnection::new(
            std::sync::Arc::new(config),
            "localhost".try_into().unwrap(),
        )
        .unwrap();
        let mut tcp = std::net::TcpStream::connect(&exporter.addr).unwrap();
        let mut tls = rustls::Stream::new(&mut connection, &mut tcp);
        tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = tls.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(
            connection.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(
            connection
                .negotiated_cipher_suite()
                .map(|suite| suite.suite()),
            Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(
            connection
                .negotiated_key_exchange_group()
                .map(|group| group.name()),
            Some(rustls::NamedGroup::secp384r1)
        );
    }

    #[test]
    fn plain_http_to_tls_port_fails_cleanly_and_server_survives() {
        let pki = pki(&[], "");
        let exporter = Exporter::start(&["--web.config.file", &web_config(pki.dir.path())]);
        let plain = client().get(exporter.url("/metrics")).send();
        assert!(
            plain.is_err(),
            "plain HTTP must not get a response from the TLS port"
        );
        let port = exporter.addr.rsplit(':').next().unwrap().to_owned();
        let ok = tls_client(&pki.ca_pem)
            .get(format!("https://localhost:{port}/metrics"))
            .send()
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
}
