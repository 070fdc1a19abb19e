//! The web console in a real browser: Debian's headless `chromium` loads `/` from the real
//! analyzer binary scraping a real pulse-exporter (plus a dead target that trips an alert
//! rule), runs the page's JavaScript, and the dumped DOM must hold the rendered figures and
//! the alert row. A screenshot is kept under `target/tmp/console/` for a human to look at.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Process, analyzer, exporter_bin, get_json, wait_for};

/// CI installs `chromium` (tests/run.sh); a missing browser is a failure, not a skip.
fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.is_file(),
        "chromium not found at /usr/bin/chromium: install the Debian package `chromium` \
         (tests/run.sh does) to run the console browser tests"
    );
    path
}

/// Runs headless chromium with `args` then `url`, killed after 60 s; returns stdout.
fn browse(profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            // Less than the page's STREAM_DELAY_MS: virtual time stops while any request is
            // pending, so it would never run out once the event stream is open.
            "--virtual-time-budget=1500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromium");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// The text of the element whose opening tag contains `id="<id>"`.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let tag = format!("id=\"{id}\"");
    let at = dom
        .find(&tag)
        .unwrap_or_else(|| panic!("no element {tag} in the DOM:\n{dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    &rest[start..end]
}

/// "12.3 %" → 12.3
fn percent(text: &str) -> f64 {
    text.strip_suffix(" %")
        .unwrap_or_else(|| panic!("{text:?} is not a percentage"))
        .parse()
        .unwrap()
}

#[test]
fn console_renders_live_figures_and_alerts_in_chromium() {
    chromium();
    let exporter = Process::start(&exporter_bin(), &["--web.listen-address", "127.0.0.1:0"]);
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let config = dir.path().join("analyzer.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{url: '{}', name: local, interval: 300ms, timeout: 300ms}}\n  \
             - {{url: 'http://127.0.0.1:{dead_port}/metrics', name: dead, interval: 300ms, timeout: 200ms}}\n\
             web: {{write_token_file: '{}'}}\n\
             alerting:\n  default_rules: false\n  rules:\n    - name: TargetDown\n      metric: up\n      \
             op: below\n      levels: [{{severity: critical, fire: 1}}]\n      consecutive: 2\n      \
             summary: 'Scrape of {{{{instance}}}} fails'\n",
            exporter.url("/metrics"),
            dir.path().join("token").display(),
        ),
    )
    .unwrap();
    let analyzer = analyzer(&config, &dir.path().join("h.db"), &[]);
    let alert_id = wait_for("the TargetDown alert", Duration::from_secs(30), || {
        let (_, list) = get_json(&analyzer.url("/api/v1/alerts?state=firing"));
        list["alerts"][0]["id"].as_i64()
    });
    let cpu_url = analyzer.url("/api/v1/snapshot?metric=pulse:cpu_utilisation:ratio&target=local");
    wait_for("a derived CPU sample", Duration::from_secs(30), || {
        let (_, snapshot) = get_json(&cpu_url);
        snapshot["samples"][0]["value"].as_f64()
    });

    let profile = tempfile::tempdir().unwrap();
    let dom = browse(profile.path(), &["--dump-dom"], &analyzer.url("/"));

    // Overview: the CPU figure of the real exporter's host, as a percentage.
    let cpu = percent(text_of(&dom, "cpu-local"));
    assert!((0.0..=100.0).contains(&cpu), "CPU {cpu}");
    let memory = percent(text_of(&dom, "memory-local"));
    assert!(memory > 0.0 && memory < 100.0, "memory used {memory}");
    assert_eq!(
        text_of(&dom, "health-status"),
        "degraded",
        "one target is dead"
    );
    assert_eq!(text_of(&dom, "open-alerts"), "1");
    assert_eq!(text_of(&dom, "open-critical"), "critical 1");
    assert_eq!(text_of(&dom, "open-warning"), "warning 0");

    // Alerts: the firing alert's row with its summary and an acknowledge button.
    let row_at = dom
        .find(&format!("id=\"alert-{alert_id}\""))
        .unwrap_or_else(|| panic!("no row for alert {alert_id}:\n{dom}"));
    let row = &dom[row_at..row_at + dom[row_at..].find("</tr>").unwrap()];
    assert!(row.contains("TargetDown"), "{row}");
    assert!(row.contains("Scrape of dead fails"), "{row}");
    assert!(row.contains(">Acknowledge</button>"), "{row}");

    // The analysis sections rendered (rows or their empty-state line), none failed to load.
    for table in ["anomalies-table", "forecasts-table"] {
        let at = dom.find(&format!("id=\"{table}\"")).unwrap();
        let body = &dom[at..at + dom[at..].find("</table>").unwrap()];
        assert!(
            body.contains("<td"),
            "{table} has no rendered rows:\n{body}"
        );
    }
    assert!(
        text_of(&dom, "status").starts_with("Updated"),
        "a section failed to load: {}",
        text_of(&dom, "status")
    );

    // Screenshots to look at: desktop, phone width, dark theme.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&out).unwrap();
    for (name, size, theme) in [
        ("overview.png", "1280,900", "--no-first-run"),
        ("phone.png", "390,844", "--no-first-run"),
        ("dark.png", "1280,900", "--force-dark-mode"),
    ] {
        let file = out.join(name);
        let _ = std::fs::remove_file(&file);
        let profile = tempfile::tempdir().unwrap();
        browse(
            profile.path(),
            &[
                &format!("--screenshot={}", file.display()),
                &format!("--window-size={size}"),
                "--hide-scrollbars",
                theme,
            ],
            &analyzer.url("/"),
        );
        let png = std::fs::read(&file).unwrap();
        assert!(
            png.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            file.display()
        );
        assert!(png.len() > 10_000, "{} looks blank", file.display());
    }
}
