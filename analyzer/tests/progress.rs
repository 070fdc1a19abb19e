//! Long operations show progress on a terminal and stay quiet when piped: `export` through
//! the binary, once under a real pty (util-linux `script`) and once with stderr piped.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use support::{analyzer_bin, real_history, run};

#[test]
fn export_counts_samples_on_a_terminal_and_is_silent_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_history(dir.path());
    let csv = dir.path().join("out.csv");
    // stderr is the pty, stdout a file: the count shows, the data stays clean.
    let shell = format!(
        "'{}' --storage.path '{}' export --since 1h > '{}'",
        analyzer_bin().display(),
        db.display(),
        csv.display()
    );
    let out = Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .output()
        .expect("script from util-linux (bsdutils)");
    assert!(out.status.success());
    let terminal = String::from_utf8_lossy(&out.stdout);
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert!(rows > 0);
    assert!(
        terminal.contains(&format!("exported {rows} samples")),
        "{terminal:?}"
    );

    let (code, stdout, stderr) = run(&[
        "--storage.path",
        db.to_str().unwrap(),
        "export",
        "--since",
        "1h",
    ]);
    assert_eq!(code, 0);
    assert_eq!(stderr, "", "nothing on a piped stderr");
    assert_eq!(stdout.lines().count() - 1, rows);
}
