//! Alert delivery against real receivers started here: HTTP receivers (Slack, webhook) in
//! this process, a real SMTP server (Debian's `python3-aiosmtpd`), a real Alertmanager
//! (Debian's `prometheus-alertmanager`), and one end-to-end run of the analyzer binary.
//! Fault cases: receiver down then back, slow receiver, restart after a notification.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulse_analyzer::alerting::config::AlertingConfig;
use pulse_analyzer::alerting::service::Alerting;
use pulse_analyzer::alerting::{Severity, Signal, SignalStatus};
use pulse_analyzer::storage::{Policy, Store, now_ms};
use serde_json::Value;
use support::mail::{Smtp, python_with_aiosmtpd, smtp};
use support::{ChildGuard, analyzer, free_port, get_json, wait_for};

/// An HTTP server that records every JSON body POSTed to it, answering after `delay`.
struct Receiver {
    addr: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(delay: Duration) -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), delay)
    }

    fn on(listener: TcpListener, delay: Duration) -> Receiver {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
                    let seen = seen.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        seen.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        "ok"
                    }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Receiver { addr, bodies }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    fn wait(&self, n: usize, timeout: Duration) -> Vec<Value> {
        wait_for(&format!("{n} message(s) at {}", self.addr), timeout, || {
            let bodies = self.bodies.lock().unwrap();
            (bodies.len() >= n).then(|| bodies.clone())
        })
    }
}

fn critical(name: &str, instance: &str) -> Signal {
    Signal {
        source: "rule".into(),
        name: name.into(),
        labels: [("instance".to_owned(), instance.to_owned())].into(),
        severity: Severity::Critical,
        summary: format!("CPU utilisation 97.0% on {instance}"),
        value: Some(0.97),
        status: SignalStatus::Firing,
    }
}

/// The alerting service on a fresh database, with `alerting:` given as YAML.
struct Harness {
    _dir: tempfile::TempDir,
    service: Arc<Alerting>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn harness(yaml: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let policy = Policy {
        raw: Duration::from_secs(3600),
        rollups: Duration::from_secs(7200),
        rollup_step: Duration::from_secs(60),
        grace: Duration::ZERO,
    };
    drop(Store::open(&db, policy).unwrap());
    let config: AlertingConfig = serde_yaml::from_str(yaml).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (service, _workers) = Alerting::start(
        &config,
        &db,
        Duration::from_secs(90 * 86400),
        "http://pulse:9190/api/v1/alerts".into(),
        stop_rx,
    )
    .unwrap();
    Harness {
        _dir: dir,
        service,
        _stop: stop,
    }
}

impl Harness {
    /// One evaluation round, then the timers 1 ms later (past the 1 ms group wait).
    fn fire(&self, signals: Vec<Signal>) {
        self.service.observe(signals);
        let now = now_ms();
        tokio::task::block_in_place(|| {
            self.service.evaluate(now);
            self.service.tick(now + 1);
        });
    }

    fn counts(&self, channel: &str) -> (u64, u64) {
        self.service
            .metrics
            .snapshot()
            .into_iter()
            .find(|(c, _, _)| c == channel)
            .map(|(_, sent, failed)| (sent, failed))
            .unwrap()
    }

    fn outbox(&self) -> Vec<pulse_analyzer::alerting::store::Notification> {
        self.service
            .engine
            .lock()
            .unwrap()
            .store()
            .notifications(100)
            .unwrap()
    }
}

const FAST: &str = "grouping: {group_wait: 1ms, group_interval: 1ms}\ndefault_rules: false\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_back_gets_the_message_once() {
    let port = free_port();
    let h = harness(&format!(
        "{FAST}channels:\n  hook:\n    webhook: {{url: 'http://127.0.0.1:{port}/hook'}}\n    \
         retry: {{attempts: 30, min_delay: 100ms, max_delay: 200ms, timeout: 1s}}\n"
    ));
    h.fire(vec![critical("CpuHigh", "db1")]);
    tokio::task::block_in_place(|| {
        wait_for(
            "failed attempts to be counted",
            Duration::from_secs(10),
            || (h.counts("hook").1 >= 2).then_some(()),
        )
    });
    assert_eq!(h.counts("hook").0, 0);
    // The receiver comes up on the port the channel points at.
    let receiver = Receiver::on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Duration::ZERO,
    );
    let bodies = tokio::task::block_in_place(|| receiver.wait(1, Duration::from_secs(10)));
    assert_eq!(bodies[0]["alerts"][0]["name"], "CpuHigh");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.count(), 1, "delivered exactly once");
    assert_eq!(h.counts("hook").0, 1);
    let row = &h.outbox()[0];
    assert_eq!(row.status, "sent");
    assert!(row.attempts >= 3, "{row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_receiver_does_not_hold_up_other_channels() {
    // Bounds are loose (the test machine is shared); the point is the order of events.
    let slow = Receiver::start(Duration::from_secs(6));
    let fast = Receiver::start(Duration::ZERO);
    let h = harness(&format!(
        "{FAST}channels:\n  slow:\n    webhook: {{url: '{}'}}\n    retry: {{timeout: 20s}}\n  \
         fast:\n    webhook: {{url: '{}'}}\n",
        slow.url(),
        fast.url()
    ));
    let started = Instant::now();
    h.fire(vec![critical("CpuHigh", "db1")]);
    // Detection is not held up either: a second round is evaluated at once.
    h.fire(vec![critical("CpuHigh", "db2")]);
    assert!(started.elapsed() < Duration::from_secs(4));
    tokio::task::block_in_place(|| fast.wait(2, Duration::from_secs(5)));
    assert_eq!(slow.count(), 0, "fast channel waited for the slow one");
    tokio::task::block_in_place(|| slow.wait(2, Duration::from_secs(30)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_message_is_readable_and_webhook_template_applies() {
    let slack = Receiver::start(Duration::ZERO);
    let hook = Receiver::start(Duration::ZERO);
    // The Slack URL is a credential: it only comes from a file (or the environment).
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("slack-url");
    std::fs::write(&secret, format!("{}\n", slack.url())).unwrap();
    let h = harness(&format!(
        "{FAST}channels:\n  slack:\n    slack: {{url: {{file: '{}'}}}}\n  \
         sms:\n    webhook:\n      url: '{}'\n      body: {{to: '+100', text: '{{{{priority}}}} {{{{title}}}}', n: '{{{{count}}}}'}}\n",
        secret.display(),
        hook.url()
    ));
    h.fire(vec![critical("CpuHigh", "db1")]);
    let slack = tokio::task::block_in_place(|| slack.wait(1, Duration::from_secs(5)));
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("*[P1 CRITICAL] 1 firing: CpuHigh (instance=db1)*"),
        "{text}"
    );
    assert!(
        text.contains(
            "FIRING P1 critical CpuHigh: CPU utilisation 97.0% on db1 (instance=db1, value 0.97"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("<http://pulse:9190/api/v1/alerts|Open in Pulse>"),
        "{text}"
    );
    let sms = tokio::task::block_in_place(|| hook.wait(1, Duration::from_secs(5)));
    assert_eq!(
        sms[0],
        serde_json::json!({"to": "+100", "text": "P1 [P1 CRITICAL] 1 firing: CpuHigh (instance=db1)", "n": "1"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(dir.path());
    let h = harness(&format!(
        "{FAST}channels:\n  mail:\n    email:\n      host: 127.0.0.1\n      port: {}\n      \
         security: none\n      from: 'Pulse <pulse@example.org>'\n      \
         to: [oncall@example.org, boss@example.org]\n",
        server.port
    ));
    h.fire(vec![critical("CpuHigh", "db1")]);
    let new = server.maildir.join("new");
    let mail = wait_for("a mail in the Maildir", Duration::from_secs(10), || {
        let entry = std::fs::read_dir(&new).ok()?.next()?.ok()?;
        std::fs::read_to_string(entry.path()).ok()
    });
    assert!(
        mail.contains("X-RcptTo: oncall@example.org, boss@example.org"),
        "{mail}"
    );
    assert!(mail.contains("From: Pulse <pulse@example.org>"), "{mail}");
    assert!(
        mail.contains("Subject: [P1 CRITICAL] 1 firing: CpuHigh (instance=db1)"),
        "{mail}"
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "{mail}");
    assert!(mail.contains("CPU utilisation 97.0% on db1"), "{mail}");
    assert_eq!(h.counts("mail"), (1, 0));
}

/// aiosmtpd with TLS (STARTTLS or implicit) and a LOGIN/PLAIN authenticator that accepts
/// only `pulse` / `pw-secret`; mails go to a Maildir.
const SECURE_SMTP: &str = r#"
import asyncio, ssl, sys
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
port, maildir, cert, key, mode = sys.argv[1:6]
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"pulse" and data.password == b"pw-secret"
    return AuthResult(success=ok, handled=False)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
handler = Mailbox(maildir)
loop = asyncio.new_event_loop()
if mode == "starttls":
    factory = lambda: SMTP(handler, tls_context=ctx, require_starttls=True, authenticator=auth, auth_require_tls=True)
    wrap = None
else:
    factory = lambda: SMTP(handler, authenticator=auth, auth_require_tls=False)
    wrap = ctx
loop.run_until_complete(loop.create_server(factory, "127.0.0.1", int(port), ssl=wrap))
loop.run_forever()
"#;

fn secure_smtp(dir: &Path, mode: &str) -> (Smtp, PathBuf) {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&key_file, key.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let maildir = dir.join(format!("mail-{mode}"));
    let child = Command::new(python_with_aiosmtpd())
        .args(["-c", SECURE_SMTP, &port.to_string()])
        .arg(&maildir)
        .args([&cert, &key_file])
        .arg(mode)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the TLS SMTP server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (
        Smtp {
            _child: ChildGuard(child),
            port,
            maildir,
        },
        cert,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_and_tls_with_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "pw-secret\n").unwrap();
    for mode in ["starttls", "tls"] {
        let (server, ca) = secure_smtp(dir.path(), mode);
        let channel = |user: &str| {
            format!(
                "    email:\n      host: 127.0.0.1\n      port: {}\n      security: {mode}\n      \
                 ca_file: '{}'\n      username: {user}\n      password: {{file: '{}'}}\n      \
                 from: pulse@example.org\n      to: [oncall@example.org]\n    \
                 retry: {{attempts: 1}}\n",
                server.port,
                ca.display(),
                password.display()
            )
        };
        let h = harness(&format!(
            "{FAST}channels:\n  good:\n{}  bad:\n{}",
            channel("pulse"),
            channel("mallory")
        ));
        h.fire(vec![critical("CpuHigh", "db1")]);
        let new = server.maildir.join("new");
        let mail = wait_for(
            &format!("a mail over {mode}"),
            Duration::from_secs(10),
            || {
                let entry = std::fs::read_dir(&new).ok()?.next()?.ok()?;
                std::fs::read_to_string(entry.path()).ok()
            },
        );
        assert!(
            mail.contains("Subject: [P1 CRITICAL] 1 firing: CpuHigh"),
            "{mail}"
        );
        // Wrong credentials: refused for good (a permanent SMTP error is not retried).
        let failed = wait_for("the refused login", Duration::from_secs(10), || {
            let outbox = h.outbox();
            let bad = outbox.iter().find(|n| n.channel == "bad")?;
            (bad.status == "failed").then(|| bad.clone())
        });
        assert_eq!(failed.attempts, 1);
        let error = failed.error.unwrap();
        assert!(error.contains("535"), "{error}");
        assert!(!error.contains("pw-secret"), "{error}");
        assert_eq!(std::fs::read_dir(&new).unwrap().count(), 1);
        assert_eq!(h.counts("good"), (1, 0));
        assert_eq!(h.counts("bad"), (0, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_lists_the_pushed_alert_and_drops_it_when_resolved() {
    let binary = "/usr/bin/prometheus-alertmanager";
    assert!(
        Path::new(binary).exists(),
        "needs Debian's prometheus-alertmanager (tests/run.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(
        &config,
        "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n",
    )
    .unwrap();
    let port = free_port();
    let _am = ChildGuard(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    tokio::task::block_in_place(|| {
        wait_for("Alertmanager ready", Duration::from_secs(20), || {
            reqwest::blocking::get(format!("{base}/-/ready"))
                .ok()
                .filter(|r| r.status().is_success())
        })
    });
    let h = harness(&format!(
        "{FAST}channels:\n  am:\n    alertmanager: {{url: '{base}'}}\n"
    ));
    h.fire(vec![critical("CpuHigh", "db1")]);
    let alerts = tokio::task::block_in_place(|| {
        wait_for("the alert in Alertmanager", Duration::from_secs(10), || {
            let (_, list) = get_json(&format!("{base}/api/v2/alerts"));
            (list.as_array()?.len() == 1).then_some(list)
        })
    });
    assert_eq!(alerts[0]["labels"]["alertname"], "CpuHigh");
    assert_eq!(alerts[0]["labels"]["severity"], "critical");
    assert_eq!(alerts[0]["labels"]["instance"], "db1");
    assert_eq!(alerts[0]["annotations"]["value"], "0.97");
    assert_eq!(alerts[0]["status"]["state"], "active");

    let mut resolved = critical("CpuHigh", "db1");
    resolved.status = SignalStatus::Resolved;
    h.fire(vec![resolved]);
    tokio::task::block_in_place(|| {
        wait_for(
            "the alert to end in Alertmanager",
            Duration::from_secs(10),
            || {
                let (_, list) = get_json(&format!("{base}/api/v2/alerts"));
                list.as_array()?.is_empty().then_some(())
            },
        )
    });
    assert_eq!(h.counts("am"), (2, 0));
}

/// The real binary: a dead scrape target trips a rule; killed inside the group wait and
/// restarted, the webhook still gets exactly one message, and another restart sends nothing
/// again; the API lists and acknowledges the alert (token required), SSE streams the change.
#[test]
fn analyzer_binary_alerts_end_to_end() {
    let receiver = Receiver::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{url: 'http://127.0.0.1:{}/metrics', name: dead, interval: 300ms, timeout: 200ms}}\n\
             web: {{write_token_file: '{}'}}\n\
             alerting:\n  default_rules: false\n  rules:\n    - name: TargetDown\n      metric: up\n      \
             op: below\n      levels: [{{severity: critical, fire: 1}}]\n      consecutive: 2\n      \
             summary: 'Scrape of {{{{instance}}}} fails'\n  grouping: {{group_wait: 3s, group_interval: 1s}}\n  \
             channels:\n    hook:\n      webhook: {{url: '{}', body: {{text: '{{{{title}}}}', alerts: '{{{{alerts}}}}'}}}}\n",
            free_port(),
            dir.path().join("token").display(),
            receiver.url()
        ),
    )
    .unwrap();
    // Killed (SIGKILL) inside the group wait: the alert is open, nothing is sent yet.
    let mut first = analyzer(&config, &db, &[]);
    let id = wait_for("the alert to open", Duration::from_secs(20), || {
        let (_, list) = get_json(&first.url("/api/v1/alerts?state=firing"));
        list["alerts"][0]["id"].as_i64()
    });
    assert_eq!(receiver.count(), 0, "the group wait has not passed");
    first.kill_9();

    // Restarted mid-group: the stored group timer fires once.
    let mut first = analyzer(&config, &db, &[]);
    let bodies = receiver.wait(1, Duration::from_secs(20));
    assert_eq!(
        bodies[0]["text"],
        "[P1 CRITICAL] 1 firing: TargetDown (instance=dead)"
    );
    assert_eq!(bodies[0]["alerts"][0]["summary"], "Scrape of dead fails");
    let metrics = reqwest::blocking::get(first.url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("pulse_analyzer_notifications_sent_total{channel=\"hook\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pulse_analyzer_notifications_failed_total{channel=\"hook\"} 0"));
    assert!(
        metrics.contains("pulse_analyzer_alerts{severity=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pulse_analyzer_alerts{severity=\"warning\"} 0"),
        "{metrics}"
    );
    first.terminate();

    // Restarted: the alert is the same one and nothing is sent again.
    let second = analyzer(&config, &db, &[]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.count(), 1, "no duplicate after the restart");
    let (status, list) = get_json(&second.url("/api/v1/alerts?state=firing&severity=P1"));
    assert_eq!(status, 200, "{list}");
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{list}");
    assert_eq!(alerts[0]["id"], id, "the same alert across both restarts");
    let (status, list) = get_json(&second.url("/api/v1/alerts?state=bogus"));
    assert_eq!(status, 400);
    assert_eq!(list["error"], "state: unknown value \"bogus\"");

    // The live stream, then an acknowledgement (refused without the token).
    let events_url = second.url("/api/v1/events");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let response = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap()
            .get(events_url)
            .send()
            .unwrap();
        for line in std::io::BufReader::new(response).lines() {
            let line = line.unwrap();
            if let Some(data) = line.strip_prefix("data:") {
                let _ = tx.send(serde_json::from_str::<Value>(data.trim()).unwrap());
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let client = reqwest::blocking::Client::new();
    let ack = second.url(&format!("/api/v1/alerts/{id}/acknowledge"));
    assert_eq!(client.post(&ack).send().unwrap().status(), 403);
    let response = client
        .post(&ack)
        .bearer_auth("s3cret")
        .json(&serde_json::json!({"by": "alice"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let event = loop {
        let event = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        if event["change"] == "acknowledged" {
            break event;
        }
    };
    assert_eq!(event["alert"]["id"], id);
    assert_eq!(event["alert"]["acknowledged_by"], "alice");

    // A silence through the API, listed as active.
    let response = client
        .post(second.url("/api/v1/silences"))
        .bearer_auth("s3cret")
        .json(&serde_json::json!({"matchers": {"instance": "dead"}, "duration": "1h", "comment": "known"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, silences) = get_json(&second.url("/api/v1/silences"));
    assert_eq!(silences["silences"][0]["active"], true);
    assert_eq!(
        silences["silences"][0]["matchers"],
        serde_json::json!({"instance": "dead"})
    );
    let (_, log) = get_json(&second.url("/api/v1/notifications"));
    assert_eq!(log["notifications"][0]["status"], "sent");
    assert_eq!(log["notifications"].as_array().unwrap().len(), 1);

    // The CLI: listing reads the database; resolving goes through the running analyzer.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pulse-analyzer"))
            .arg("--config.file")
            .arg(&config)
            .arg("--storage.path")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let (code, listed, err) = cli(&["alerts", "--state", "acknowledged"]);
    assert_eq!(code, Some(0), "{err}");
    let row = listed
        .lines()
        .find(|l| l.contains("TargetDown"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        row.contains("acknowledged") && row.contains("critical"),
        "{row}"
    );
    let (code, _, err) = cli(&["alerts", "--state", "loud"]);
    assert_eq!(
        (code, err.trim()),
        (Some(1), "pulse-analyzer: --state: unknown value \"loud\"")
    );
    let id_text = id.to_string();
    let base = second.url("");
    let (code, said, err) = cli(&["alerts", "--url", &base, "resolve", &id_text]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(said, format!("alert {id}: resolved\n"));
}

#[test]
fn reads_can_require_the_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{url: 'http://127.0.0.1:{}/metrics', interval: 1s}}\n\
             web: {{write_token_file: '{}'}}\nalerting: {{read_requires_token: true}}\n",
            free_port(),
            dir.path().join("token").display()
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let client = reqwest::blocking::Client::new();
    for path in [
        "/api/v1/alerts",
        "/api/v1/silences",
        "/api/v1/notifications",
        "/api/v1/events",
    ] {
        let url = analyzer.url(path);
        assert_eq!(client.get(&url).send().unwrap().status(), 403, "{path}");
        let open = client.get(&url).bearer_auth("s3cret").send().unwrap();
        assert_eq!(open.status(), 200, "{path}");
    }
    // The history API stays as it was.
    assert_eq!(get_json(&analyzer.url("/api/v1/series")).0, 200);
}

#[test]
fn config_check_reads_channel_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("analyzer.yml");
    let secret = dir.path().join("slack-url");
    std::fs::write(
        &config,
        format!(
            "alerting:\n  channels:\n    ops: {{slack: {{url: {{file: '{}'}}}}}}\n",
            secret.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, _, stderr) = support::run(&["--config.check", "--config.file", config]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        format!(
            "pulse-analyzer: alerting.channels.ops.slack.url: reading {}: No such file or directory (os error 2)",
            secret.display()
        )
    );
    std::fs::write(&secret, "https://hooks.slack.example/T000/B000/XXXX\n").unwrap();
    let (code, stdout, stderr) = support::run(&["--config.check", "--config.file", config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("configuration is valid"));
    assert!(
        !stderr.contains("XXXX") && !stdout.contains("XXXX"),
        "the secret is never printed"
    );
}
