//! Black-box tests of `check`, `suggest-rules` and `report` against a history filled by a
//! real pulse-exporter run, with the numbers checked against SQL over the same database.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::{promtool_check_rules, real_history, run};

fn sql_f64(db: &Path, sql: &str) -> f64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn check_on_a_real_exporter_history_matches_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let db_arg = db.to_str().unwrap();
    let (code, stdout, stderr) = run(&["check", "--format", "json", "--storage.path", db_arg]);
    // The build machine may be busy, so the grade is not fixed; the numbers are.
    assert!((0..=2).contains(&code), "{code} {stdout} {stderr}");
    let health: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(health["exit_code"], code);
    let finding = |check: &str| {
        health["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check} finding in {stdout}"))
            .clone()
    };
    let scrape = finding("scrape");
    assert_eq!(scrape["level"], "ok");
    assert_eq!(scrape["subject"], "local");
    let cpu = finding("cpu")["value"].as_f64().unwrap();
    let sql_cpu = sql_f64(
        &db,
        "SELECT avg(x.value) FROM samples x JOIN series s ON s.id = x.series_id
         WHERE s.name = 'pulse:cpu_utilisation:ratio'",
    );
    assert!((cpu - sql_cpu).abs() < 1e-9, "{cpu} vs {sql_cpu}");
    let memory = finding("memory")["value"].as_f64().unwrap();
    let sql_memory = sql_f64(
        &db,
        "SELECT x.value FROM samples x JOIN series s ON s.id = x.series_id
         WHERE s.name = 'pulse:memory_available:ratio' ORDER BY x.ts DESC LIMIT 1",
    );
    // serde_json parses floats to within one ulp, not exactly.
    assert!(
        (memory - sql_memory).abs() < 1e-12,
        "{memory} vs {sql_memory}"
    );

    let (code, text, _) = run(&["check", "--storage.path", db_arg]);
    assert!(text.starts_with("PULSE "), "{text}");
    assert!(text.contains("Findings over the last 300s"), "{text}");
    assert!((0..=2).contains(&code));

    // A window that ends before the data starts is no data: UNKNOWN.
    std::thread::sleep(Duration::from_millis(2100));
    let (code, text, _) = run(&["check", "--window", "1s", "--storage.path", db_arg]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.starts_with("PULSE UNKNOWN - grade UNKNOWN: no samples in the last 1s"),
        "{text}"
    );

    let missing = dir.path().join("missing.db");
    let (code, text, _) = run(&["check", "--storage.path", missing.to_str().unwrap()]);
    assert_eq!(code, 3, "{text}");
}

/// A week of history at 5-minute steps ending now, through the storage API: CPU cycling
/// 0..0.99, available memory 0.30..0.69, `/` and `/data` filling up, a probe and a process
/// group. Returns the database path.
fn generated_week(dir: &Path) -> std::path::PathBuf {
    use pulse_analyzer::storage::{Point, Policy, Store, TargetStatus, now_ms};
    let db = dir.join("week.db");
    let policy = Policy {
        raw: Duration::from_secs(30 * 86_400),
        rollups: Duration::from_secs(90 * 86_400),
        rollup_step: Duration::from_secs(300),
        grace: Duration::from_secs(30),
    };
    let mut store = Store::open(&db, policy).unwrap();
    let now = now_ms();
    let steps = 7 * 24 * 12;
    let label = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let none = label(&[]);
    let root = label(&[("device", "sda1"), ("fstype", "ext4"), ("mountpoint", "/")]);
    let data = label(&[
        ("device", "sdb1"),
        ("fstype", "xfs"),
        ("mountpoint", "/data"),
    ]);
    let probe = label(&[("module", "http"), ("target", "https://shop.example")]);
    let group = label(&[("groupname", "postgres")]);
    let idle0 = label(&[("cpu", "0"), ("mode", "idle")]);
    let eth0 = label(&[("device", "eth0")]);
    let sda = label(&[("device", "sda")]);
    for i in 0..steps {
        let ts = now - (steps - 1 - i) * 300_000;
        let f = i as f64;
        let points = vec![
            Point {
                name: "pulse:cpu_utilisation:ratio",
                labels: &none,
                value: (i % 100) as f64 / 100.0,
                ts_ms: ts,
            },
            Point {
                name: "pulse:memory_available:ratio",
                labels: &none,
                value: 0.30 + (i % 40) as f64 / 100.0,
                ts_ms: ts,
            },
            Point {
                name: "node_load1",
                labels: &none,
                value: 0.5 + (i % 10) as f64 / 10.0,
                ts_ms: ts,
            },
            Point {
                name: "node_cpu_seconds_total",
                labels: &idle0,
                value: f * 150.0,
                ts_ms: ts,
            },
            Point {
                name: "pulse:filesystem_used:ratio",
                labels: &root,
                value: 0.40 + f / steps as f64 * 0.1,
                ts_ms: ts,
            },
            Point {
                name: "pulse:filesystem_used:ratio",
                labels: &data,
                value: 0.70 + f / steps as f64 * 0.2,
                ts_ms: ts,
            },
            Point {
                name: "probe_success",
                labels: &probe,
                value: if i % 50 == 0 { 0.0 } else { 1.0 },
                ts_ms: ts,
            },
            Point {
                name: "pulse:probe_latency:seconds",
                labels: &probe,
                value: 0.1 + (i % 20) as f64 / 100.0,
                ts_ms: ts,
            },
            Point {
                name: "pulse:process_rss:bytes",
                labels: &group,
                value: 1e9 + (i % 30) as f64 * 1e7,
                ts_ms: ts,
            },
            Point {
                name: "pulse:process_cpu:rate",
                labels: &group,
                value: 0.2 + (i % 5) as f64 / 10.0,
                ts_ms: ts,
            },
            Point {
                name: "pulse:network_receive_bytes:rate",
                labels: &eth0,
                value: 1e6 + (i % 12) as f64 * 1e5,
                ts_ms: ts,
            },
            Point {
                name: "pulse:disk_read_bytes:rate",
                labels: &sda,
                value: 2e6,
                ts_ms: ts,
            },
        ];
        let status = TargetStatus {
            target: "web1".into(),
            last_scrape_ms: ts,
            success: true,
            duration_seconds: 0.02,
            samples: points.len() as u64,
            error: None,
        };
        store.ingest("web1", points, &status).unwrap();
    }
    db
}

/// Nearest-rank percentile in SQL, independent of the Rust implementation.
fn sql_percentile(db: &Path, name: &str, extra: &str, p: f64) -> f64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let n: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.name = ?1 {extra}"),
            [name],
            |r| r.get(0),
        )
        .unwrap();
    let offset = ((p / 100.0) * n as f64).ceil() as i64 - 1;
    conn.query_row(
        &format!(
            "SELECT x.value FROM samples x JOIN series s ON s.id = x.series_id WHERE s.name = ?1 {extra}
             ORDER BY x.value LIMIT 1 OFFSET {}",
            offset.max(0)
        ),
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

/// The threshold at the end of the `expr:` line following the comment that contains `what`.
fn threshold_after(rules: &str, what: &str) -> f64 {
    let mut lines = rules
        .lines()
        .skip_while(|l| !(l.trim_start().starts_with('#') && l.contains(what)));
    let expr = lines
        .find(|l| l.trim_start().starts_with("expr:"))
        .unwrap_or_else(|| panic!("no rule for {what} in\n{rules}"));
    expr.trim()
        .trim_end_matches('"')
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn suggested_rules_follow_sql_percentiles_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let db = generated_week(dir.path());
    let rules_path = dir.path().join("rules.yml");
    let (code, _, stderr) = run(&[
        "suggest-rules",
        "--storage.path",
        db.to_str().unwrap(),
        "--output",
        rules_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rules = std::fs::read_to_string(&rules_path).unwrap();
    let (ok, out) = promtool_check_rules(&rules_path);
    assert!(ok, "{out}\n{rules}");
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}\n{rules}");

    let cpu = threshold_after(&rules, "CPU utilisation");
    let p99 = sql_percentile(&db, "pulse:cpu_utilisation:ratio", "", 99.0);
    assert!(
        (cpu - (p99 * 1.2).min(0.99)).abs() < 1e-12,
        "{cpu} vs p99 {p99}"
    );
    assert!(
        rules.contains("(capped from"),
        "0.98 x 1.2 exceeds the cap:\n{rules}"
    );
    let memory = threshold_after(&rules, "available memory");
    let p1 = sql_percentile(&db, "pulse:memory_available:ratio", "", 1.0);
    assert!((memory - p1 / 1.2).abs() < 1e-12, "{memory} vs p1 {p1}");
    let data = threshold_after(&rules, "mountpoint=/data");
    let p99 = sql_percentile(
        &db,
        "pulse:filesystem_used:ratio",
        "AND s.labels LIKE '%\"/data\"%'",
        99.0,
    );
    assert!(
        (data - (p99 * 1.2).min(0.99)).abs() < 1e-12,
        "{data} vs {p99}"
    );
    assert!(rules.contains("p99 of 2016 samples (web1)"), "{rules}");
    assert!(rules.contains(
        "node_filesystem_avail_bytes{mountpoint=\\\"/data\\\"} / node_filesystem_size_bytes{mountpoint=\\\"/data\\\"}"
    ), "{rules}");
}

#[test]
fn suggested_rules_from_a_real_exporter_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let (code, rules, stderr) = run(&[
        "suggest-rules",
        "--min-samples",
        "2",
        "--storage.path",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, &rules).unwrap();
    let (ok, out) = promtool_check_rules(&path);
    assert!(ok, "{out}\n{rules}");
    assert!(
        rules.contains("- alert: PulseCpuUtilisationHigh"),
        "{rules}"
    );
    assert!(
        rules.contains("- alert: PulseMemoryAvailableLow"),
        "{rules}"
    );
}

fn sql_one(db: &Path, sql: &str) -> f64 {
    sql_f64(db, sql)
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: report {a} vs SQL {b}");
}

#[test]
fn week_report_numbers_match_sql_in_json_csv_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let db = generated_week(dir.path());
    let db_arg = db.to_str().unwrap();
    let json_path = dir.path().join("week.json");
    let (code, _, stderr) = run(&[
        "report",
        "--period",
        "week",
        "--format",
        "json",
        "--storage.path",
        db_arg,
        "--output",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.is_empty(),
        "no progress output when not on a terminal: {stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let of = |name: &str| {
        format!(
            "SELECT {{}}(x.value) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.name = '{name}'"
        )
    };
    let capacity = |resource: &str, subject: &str| {
        report["capacity"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["resource"] == resource && c["subject"] == subject)
            .unwrap_or_else(|| panic!("no {resource} {subject}: {report}"))
            .clone()
    };
    let cpu = capacity("cpu", "web1");
    let cpu_sql = of("pulse:cpu_utilisation:ratio");
    close(
        cpu["average"].as_f64().unwrap(),
        sql_one(&db, &cpu_sql.replace("{}", "avg")),
        "cpu avg",
    );
    close(
        cpu["peak"].as_f64().unwrap(),
        sql_one(&db, &cpu_sql.replace("{}", "max")),
        "cpu peak",
    );
    let memory = capacity("memory", "web1");
    close(
        memory["headroom"].as_f64().unwrap(),
        sql_one(
            &db,
            &of("pulse:memory_available:ratio").replace("{}", "min"),
        ),
        "memory min",
    );
    let data = capacity("filesystem", "web1 /data");
    let data_max = sql_one(
        &db,
        &format!(
            "{} AND s.labels LIKE '%\"/data\"%'",
            of("pulse:filesystem_used:ratio").replace("{}", "max")
        ),
    );
    close(data["peak"].as_f64().unwrap(), data_max, "/data peak");
    close(
        data["headroom"].as_f64().unwrap(),
        1.0 - data_max,
        "/data headroom",
    );

    let sli = &report["sli"][0];
    assert_eq!(sli["probe"], "web1 https://shop.example http");
    close(
        sli["availability"].as_f64().unwrap(),
        sql_one(&db, &of("probe_success").replace("{}", "avg")),
        "availability",
    );
    assert_eq!(sli["samples"], 2016);
    close(
        sli["latency_p95_seconds"].as_f64().unwrap(),
        sql_percentile(&db, "pulse:probe_latency:seconds", "", 95.0),
        "latency p95",
    );
    close(
        sli["latency_avg_seconds"].as_f64().unwrap(),
        sql_one(&db, &of("pulse:probe_latency:seconds").replace("{}", "avg")),
        "latency avg",
    );
    close(
        report["process_groups"][0]["cpu_cores_avg"]
            .as_f64()
            .unwrap(),
        sql_one(&db, &of("pulse:process_cpu:rate").replace("{}", "avg")),
        "process cpu",
    );
    // /data peaks at 90 % (warning) and a probe fails 2 % of the time (warning): POOR.
    assert_eq!(report["grade"], "POOR", "{}", report["reasons"]);
    assert_eq!(
        report["reasons"].as_array().unwrap().len(),
        2,
        "{}",
        report["reasons"]
    );
    let cpu_trend = report["trends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["chart"] == "cpu")
        .unwrap();
    let points = cpu_trend["points"].as_array().unwrap().len();
    assert!((160..=170).contains(&points), "{points} chart points");

    // CSV: the same numbers.
    let (code, csv, stderr) = run(&[
        "report",
        "--period",
        "week",
        "--format",
        "csv",
        "--storage.path",
        db_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(csv.starts_with("section,subject,metric,value\n"));
    let row = |prefix: &str| -> f64 {
        csv.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{csv}"))
            .parse()
            .unwrap()
    };
    close(
        row("capacity,cpu web1,average,"),
        cpu["average"].as_f64().unwrap(),
        "csv cpu avg",
    );
    close(
        row("capacity,filesystem web1 /data,peak,"),
        data_max,
        "csv /data peak",
    );
    close(
        row("sli,web1 https://shop.example http,availability,"),
        sli["availability"].as_f64().unwrap(),
        "csv availability",
    );
    assert_eq!(row("sli,web1 https://shop.example http,samples,"), 2016.0);

    // HTML: one self-contained file with the charts inline.
    let html_path = dir.path().join("week.html");
    let (code, _, stderr) = run(&[
        "report",
        "--period",
        "week",
        "--storage.path",
        db_arg,
        "--output",
        html_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("Grade: POOR"));
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "cpu, memory, disk, disk io, network, processes"
    );
    for chart in [
        "CPU utilisation",
        "Memory available",
        "Filesystem fill",
        "Network throughput",
        "Top process groups",
    ] {
        assert!(html.contains(chart), "{chart}");
    }
    assert!(!html.contains("<script") && !html.contains(" src=") && !html.contains("<link"));
    assert!(html.contains("postgres"));
}

#[test]
fn report_on_a_real_exporter_history_and_bad_periods() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let db_arg = db.to_str().unwrap();
    let (code, html, stderr) = run(&[
        "report",
        "--period",
        "custom",
        "--since",
        "10m",
        "--storage.path",
        db_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        html.contains("<svg") && html.contains("CPU utilisation"),
        "{html}"
    );
    let (code, json, _) = run(&["report", "--format", "json", "--storage.path", db_arg]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cpu = report["capacity"][0]["average"].as_f64().unwrap();
    let sql = sql_f64(
        &db,
        "SELECT avg(x.value) FROM samples x JOIN series s ON s.id = x.series_id
         WHERE s.name = 'pulse:cpu_utilisation:ratio'",
    );
    close(cpu, sql, "cpu avg");

    let (code, _, stderr) = run(&[
        "report",
        "--period",
        "custom",
        "--since",
        "yesterday-ish",
        "--storage.path",
        db_arg,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--since: `yesterday-ish` is neither an RFC 3339 time"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["report", "--period", "custom", "--storage.path", db_arg]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--period custom needs --since"), "{stderr}");
    let missing = db.with_file_name("missing.db");
    for command in ["report", "suggest-rules"] {
        let (code, _, stderr) = run(&[command, "--storage.path", missing.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(
            stderr.contains("no history database at"),
            "{command}: {stderr}"
        );
    }
}

/// Share of pixels that are not white in a binary PGM (`P5`) as pdftoppm -gray writes it.
fn ink(pgm: &[u8]) -> f64 {
    // Header: "P5\n<w> <h>\n255\n", then one byte per pixel.
    let mut fields = 0;
    let mut offset = 0;
    let mut in_field = false;
    for (i, b) in pgm.iter().enumerate() {
        if b.is_ascii_whitespace() {
            if in_field {
                fields += 1;
                in_field = false;
                if fields == 4 {
                    offset = i + 1;
                    break;
                }
            }
        } else {
            in_field = true;
        }
    }
    let pixels = &pgm[offset..];
    pixels.iter().filter(|p| **p < 200).count() as f64 / pixels.len() as f64
}

#[test]
fn pdf_report_has_pages_that_are_not_blank() {
    let dir = tempfile::tempdir().unwrap();
    let db = generated_week(dir.path());
    let pdf = dir.path().join("week.pdf");
    let (code, _, stderr) = run(&[
        "report",
        "--period",
        "week",
        "--format",
        "pdf",
        "--storage.path",
        db.to_str().unwrap(),
        "--output",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let pages = dir.path().join("page");
    let status = std::process::Command::new("pdftoppm")
        .args(["-r", "40", "-gray"])
        .arg(&pdf)
        .arg(&pages)
        .status()
        .expect("pdftoppm on PATH (Debian package poppler-utils)");
    assert!(status.success());
    let mut rendered: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    rendered.sort();
    assert!(
        rendered.len() >= 2,
        "six charts and four tables span pages: {rendered:?}"
    );
    for page in &rendered {
        let share = ink(&std::fs::read(page).unwrap());
        assert!(share > 0.005, "{} is blank ({share})", page.display());
    }

    let (code, _, stderr) = run(&[
        "report",
        "--format",
        "pdf",
        "--chromium",
        "/nonexistent/chromium",
        "--storage.path",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("PDF: starting /nonexistent/chromium"),
        "{stderr}"
    );
}
