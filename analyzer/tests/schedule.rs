//! Scheduled reports through the real binary against a real SMTP server (Debian's
//! `python3-aiosmtpd`) and a history filled by a real pulse-exporter: the schedule fires once
//! at its time with the report attached, a restart in the same period sends nothing, a
//! restart after a missed fire time sends the missed one; `report --send` uses the same
//! delivery.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::mail::{python_with_aiosmtpd, smtp};
use support::{Process, analyzer, exporter_bin, run, wait_for};

/// Every mail in the Maildir, parsed by Python's `email` package: subject, recipients and
/// each leaf MIME part (type, filename, decoded text).
fn mails(maildir: &Path) -> Vec<Value> {
    const PARSE: &str = r#"
import email, glob, json, sys
from email import policy
out = []
for path in sorted(glob.glob(sys.argv[1] + "/new/*")):
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=policy.default)
    parts = [{"type": p.get_content_type(), "filename": p.get_filename(),
              "text": p.get_payload(decode=True).decode("utf-8", "replace")}
             for p in m.walk() if not p.is_multipart()]
    out.append({"subject": str(m["subject"]), "to": str(m["to"]),
                "type": m.get_content_type(), "parts": parts})
print(json.dumps(out))
"#;
    let out = Command::new(python_with_aiosmtpd())
        .args(["-c", PARSE])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An HTTP receiver answering 200 to `n` POSTs and handing back (path, JSON body) of each.
fn receiver(n: usize) -> (u16, std::thread::JoinHandle<Vec<(String, Value)>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut got = Vec::new();
        for stream in listener.incoming().take(n) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split(' ').nth(1).unwrap().to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            got.push((path, serde_json::from_slice(&body).unwrap()));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        got
    });
    (port, handle)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(dir: &Path, exporter: &str, smtp_port: u16, at: &str) -> std::path::PathBuf {
    let path = dir.join("analyzer.yml");
    std::fs::write(
        &path,
        format!(
            "targets:\n  - {{url: '{exporter}', name: local, interval: 300ms, timeout: 300ms}}\n\
             alerting:\n  default_rules: false\n  channels:\n    mail:\n      email:\n        \
             host: 127.0.0.1\n        port: {smtp_port}\n        security: none\n        \
             from: 'Pulse <pulse@example.org>'\n        to: [boss@example.org]\n\
             reports:\n  schedules:\n    - name: daily\n      period: day\n      at: '{at}'\n      \
             timezone: UTC\n      format: json\n      channels: [mail]\n"
        ),
    )
    .unwrap();
    path
}

fn delivered(db: &Path) -> (i64, Option<String>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT fire_ms, error FROM report_deliveries WHERE schedule = 'daily' AND channel = 'mail'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn daily_schedule_mails_once_per_period_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(dir.path());
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    // Due a few seconds after start; a daily schedule, so crossing midnight is fine.
    let fire_at = now_secs() + 10;
    let secs = fire_at % 86_400;
    let at = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let config = config(dir.path(), &exporter.url("/metrics"), server.port, &at);
    let db = dir.path().join("h.db");

    let mut first = analyzer(&config, &db, &[]);
    assert!(
        now_secs() < fire_at,
        "the analyzer took longer to start than the schedule's lead time"
    );
    let got = wait_for("the scheduled mail", Duration::from_secs(40), || {
        let got = mails(&server.maildir);
        (!got.is_empty()).then_some(got)
    });
    assert!(
        now_secs() >= fire_at,
        "sent at or after the schedule's time, not at start-up"
    );
    assert_eq!(got.len(), 1, "{got:#?}");
    let mail = &got[0];
    assert_eq!(mail["type"], "multipart/mixed");
    assert_eq!(mail["to"], "boss@example.org");
    let parts = mail["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{mail:#}");
    assert_eq!(parts[0]["type"], "text/plain");
    assert_eq!(parts[1]["type"], "application/json");
    let filename = parts[1]["filename"].as_str().unwrap();
    assert!(
        filename.starts_with("pulse-report-daily-") && filename.ends_with(".json"),
        "{filename}"
    );
    let report: Value = serde_json::from_str(parts[1]["text"].as_str().unwrap()).unwrap();
    let grade = report["grade"].as_str().unwrap();
    assert_ne!(
        grade, "UNKNOWN",
        "the exporter's history is in the report: {report:#}"
    );
    let body = parts[0]["text"].as_str().unwrap();
    assert!(body.contains(&format!("Grade: {grade}")), "{body}");
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("Pulse report daily: {grade} (")),
        "{subject}"
    );
    // The report covers the day that ends at the fire time.
    let due_ms = fire_at as i64 * 1000;
    assert_eq!(report["period"]["end_ms"], due_ms);
    assert_eq!(report["period"]["start_ms"], due_ms - 86_400_000);
    assert!(
        report["summary"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "cpu_average"),
        "{report:#}"
    );
    wait_for("the delivery record", Duration::from_secs(5), || {
        (delivered(&db) == (due_ms, None)).then_some(())
    });
    first.terminate();

    // Restarted in the same period: nothing is sent again.
    let mut second = analyzer(&config, &db, &[]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        mails(&server.maildir).len(),
        1,
        "no second mail for the same period"
    );
    second.terminate();

    // Down across a fire time (the record says yesterday's was the last one sent): the
    // missed period is sent once on restart.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE report_deliveries SET fire_ms = fire_ms - 86400000",
            [],
        )
        .unwrap();
    let _third = analyzer(&config, &db, &[]);
    let got = wait_for("the missed period's mail", Duration::from_secs(30), || {
        let got = mails(&server.maildir);
        (got.len() >= 2).then_some(got)
    });
    assert_eq!(got.len(), 2);
    let again: Value = serde_json::from_str(got[1]["parts"][1]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        again["period"]["end_ms"], due_ms,
        "the missed period, not a new one"
    );
    wait_for("the delivery record", Duration::from_secs(5), || {
        (delivered(&db) == (due_ms, None)).then_some(())
    });
}

#[test]
fn report_send_uses_the_same_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(dir.path());
    let db = support::real_history(dir.path());
    // A schedule far away: only the one-shot command sends.
    let config = config(
        dir.path(),
        "http://127.0.0.1:1/metrics",
        server.port,
        "03:00",
    );
    let config = config.to_str().unwrap();
    let db = db.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "--config.file",
        config,
        "--storage.path",
        db,
        "report",
        "--format",
        "csv",
        "--send",
        "mail",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "report sent to mail (1 attempts)\n");
    let got = mails(&server.maildir);
    assert_eq!(got.len(), 1);
    let parts = got[0]["parts"].as_array().unwrap();
    assert_eq!(parts[1]["type"], "text/csv");
    let csv = parts[1]["text"].as_str().unwrap();
    assert!(csv.starts_with("section,subject,metric,value"), "{csv}");
    assert!(parts[0]["text"].as_str().unwrap().contains("Grade: "));

    let (code, _, stderr) = run(&[
        "--config.file",
        config,
        "--storage.path",
        db,
        "report",
        "--send",
        "pager",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--send: no channel named \"pager\" in alerting.channels"),
        "{stderr}"
    );
    assert_eq!(mails(&server.maildir).len(), 1);
}

#[test]
fn report_send_to_webhook_and_slack_carries_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = support::real_history(dir.path());
    let (port, received) = receiver(2);
    let slack_url = dir.path().join("slack-url");
    std::fs::write(&slack_url, format!("http://127.0.0.1:{port}/slack\n")).unwrap();
    let config = dir.path().join("hooks.yml");
    std::fs::write(
        &config,
        format!(
            "alerting:\n  channels:\n    hook:\n      webhook: {{url: 'http://127.0.0.1:{port}/hook'}}\n    \
             chat:\n      slack: {{url: {{file: '{}'}}}}\n",
            slack_url.display()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&[
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        db.to_str().unwrap(),
        "report",
        "--format",
        "json",
        "--send",
        "hook",
        "--send",
        "chat",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "report sent to chat (1 attempts)\nreport sent to hook (1 attempts)\n"
    );
    let got = received.join().unwrap();
    let (path, hook) = &got[0];
    assert_eq!(path, "/hook");
    assert_eq!(hook["kind"], "report");
    assert_eq!(hook["schedule"], "on-demand");
    let grade = hook["grade"].as_str().unwrap();
    assert_ne!(grade, "UNKNOWN", "{hook:#}");
    assert!(
        hook["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Grade: {grade}")),
        "{hook:#}"
    );
    assert!(
        hook["period_end_ms"].as_i64().unwrap() - hook["period_start_ms"].as_i64().unwrap()
            == 86_400_000
    );
    let (path, slack) = &got[1];
    assert_eq!(path, "/slack");
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("*Pulse report on-demand: {grade} (")),
        "{text}"
    );
    assert!(text.contains(&format!("Grade: {grade}")), "{text}");
}
