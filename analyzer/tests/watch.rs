//! `pulse-analyzer watch` through the binary against a history filled by a real
//! pulse-exporter: one plain-text snapshot when piped, and the live view under a real
//! pseudo-terminal (util-linux `script`) that quits on `q` and gives the terminal back.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{analyzer_bin, real_history, run, wait_for};

/// The latest CPU utilisation of target `local`, as `watch` shows it.
fn latest_cpu(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let v: f64 = conn
        .query_row(
            "SELECT x.value FROM samples x JOIN series s ON s.id = x.series_id
             WHERE s.name = 'pulse:cpu_utilisation:ratio' AND s.target = 'local'
             ORDER BY x.ts DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    format!("{:.1}%", v * 100.0)
}

#[test]
fn piped_watch_prints_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let (code, stdout, stderr) = run(&["--storage.path", db.to_str().unwrap(), "watch"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "nothing but the snapshot, no escape codes");
    assert!(!stdout.contains('\x1b'), "{stdout}");
    for heading in [
        "Targets\nTARGET",
        "Active alerts\nSEVERITY",
        "Top process groups\nTARGET",
    ] {
        assert!(stdout.contains(heading), "{heading}: {stdout}");
    }
    let header = stdout.lines().find(|l| l.starts_with("TARGET  ")).unwrap();
    for column in [
        "CPU",
        "MEM USED",
        "LOAD1",
        "DISK FULLEST",
        "DISK IO",
        "NET RX",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = stdout.lines().find(|l| l.starts_with("local ")).unwrap();
    assert!(row.contains(" up "), "{row}");
    assert!(
        row.contains(&latest_cpu(&db)),
        "{row} vs SQL {}",
        latest_cpu(&db)
    );
    assert!(row.contains("MiB/s"), "{row}");

    let (code, _, stderr) = run(&["--storage.path", "/nonexistent/h.db", "watch"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no history database at /nonexistent/h.db"),
        "{stderr}"
    );
}

/// Runs the live view under a pty, presses `key` once the table is drawn, and checks the
/// view quit with 0 and gave the terminal back.
fn quits_on(db: &Path, key: &[u8]) {
    // `script` gives the command a real pty; stty sets its size (a fresh pty is 0×0), and
    // the second stty shows whether raw mode was left.
    let shell = format!(
        "stty rows 40 cols 160; '{}' --storage.path '{}' watch --interval 500ms; \
         echo \"watch-exit=$?\"; stty -a",
        analyzer_bin().display(),
        db.display()
    );
    let mut child = Command::new("script")
        .args(["-qfc", &shell, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script from util-linux (bsdutils)");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    wait_for("the table on screen", Duration::from_secs(20), || {
        let t = text();
        // Cells are drawn as runs between cursor moves, so look for single words.
        (t.contains("TARGET") && t.contains("GROUP") && t.contains("local")).then_some(())
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(key).unwrap();
    stdin.flush().unwrap();
    wait_for("watch to exit", Duration::from_secs(10), || {
        text().contains("watch-exit=").then_some(())
    });
    drop(stdin);
    wait_for("script to end", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    });
    reader.join().unwrap();
    let t = text();
    assert!(t.contains("watch-exit=0"), "{key:?}: {t}");
    let entered = t.find("\x1b[?1049h").expect("entered the alternate screen");
    let left = t.rfind("\x1b[?1049l").expect("left the alternate screen");
    assert!(entered < left);
    let screen = &t[entered..left];
    for column in [
        "TARGET", "CPU", "USED", "LOAD1", "FULLEST", "SEVERITY", "GROUP", "RSS",
    ] {
        assert!(screen.contains(column), "{column}");
    }
    assert!(screen.contains("local"), "the target's row");
    assert!(
        screen
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '%'))
            .any(|w| w.ends_with('%') && w.len() > 2 && w.contains('.')),
        "a percentage on screen"
    );
    let settings = &t[left..];
    assert!(
        settings.contains(" icanon"),
        "canonical mode is back: {settings}"
    );
    assert!(settings.contains(" echo "), "echo is back: {settings}");
}

#[test]
fn live_view_quits_on_q_esc_and_ctrl_c_and_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    for key in [&b"q"[..], b"\x1b", b"\x03"] {
        quits_on(&db, key);
    }
}

#[test]
fn live_view_ends_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let shell = format!(
        "stty rows 40 cols 160; '{}' --storage.path '{}' watch --interval 500ms & pid=$!; \
         sleep 3; kill -TERM $pid; wait $pid; echo \"watch-exit=$?\"; stty -a",
        analyzer_bin().display(),
        db.display()
    );
    let out = Command::new("script")
        .args(["-qfc", &shell, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script from util-linux (bsdutils)");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("watch-exit=0"), "{t}");
    let entered = t.find("\x1b[?1049h").expect("entered the alternate screen");
    let left = t.rfind("\x1b[?1049l").expect("left the alternate screen");
    assert!(entered < left);
    assert!(t[entered..left].contains("TARGET"), "{t}");
    let settings = &t[left..];
    assert!(
        settings.contains(" icanon"),
        "canonical mode is back: {settings}"
    );
}
