//! The binary's answers to bad input: one test per configuration or flag rule, each asserting
//! the exact message (which names the file, line and field, or the flag), and the exit codes
//! of `--config.check`: 0 for a valid file, 1 for an invalid one. clap's own usage errors
//! exit 2, as for any CLI built on it.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod support;

use std::path::PathBuf;

use support::run;

/// Writes `text` to a config file in a fresh directory; returns the directory guard and path.
fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.yml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `--config.check` on `text`: asserts exit 1 and returns stderr.
fn check_invalid(text: &str) -> (String, String) {
    let (_dir, path) = config(text);
    let path = path.display().to_string();
    let (code, stdout, stderr) = run(&["--config.file", &path, "--config.check"]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    (path, stderr)
}

/// A usage error: exit 2 and the first line of clap's message.
fn usage_error(args: &[&str]) -> String {
    let (code, _, stderr) = run(args);
    assert_eq!(code, 2, "{stderr}");
    stderr.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn config_check_accepts_a_valid_file() {
    let (_dir, path) = config(
        "collectors:\n  cpu: false\n  vmstat: true\nvmstat:\n  fields: \"^pg\"\n\
         netdev:\n  device_exclude: \"^lo$\"\n",
    );
    let (code, stdout, stderr) = run(&["--config.file", path.to_str().unwrap(), "--config.check"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "pulse-exporter: configuration is valid\n");
    assert_eq!(stderr, "");
}

#[test]
fn config_check_accepts_an_empty_file() {
    let (_dir, path) = config("");
    let (code, _, stderr) = run(&["--config.file", path.to_str().unwrap(), "--config.check"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn unknown_top_level_key() {
    let (path, stderr) = check_invalid("collectors:\n  loadavg: true\nfilesytem: {}\n");
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:3:1: filesytem: unknown field `filesytem`, expected one of \
             `collectors`, `filesystem`, `diskstats`, `netdev`, `netstat`, `vmstat`, `ipvs`, \
             `rapl`, `powersupplyclass`, `processes`, `cgroups`, `redis`, `memcached`, \
             `textfile`, `probes`\n"
        )
    );
}

#[test]
fn unknown_nested_key() {
    let (path, stderr) = check_invalid("diskstats:\n  device_includes: sd\n");
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:2:3: diskstats.device_includes: unknown field \
             `device_includes`, expected `device_include` or `device_exclude`\n"
        )
    );
}

#[test]
fn bad_regex() {
    let (path, stderr) = check_invalid("vmstat:\n  fields: \"^(pg\"\n");
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:2:3: vmstat.fields: invalid regular expression \"^(pg\": \
             regex parse error:\n    ^(pg\n     ^\nerror: unclosed group\n"
        )
    );
}

#[test]
fn unknown_collector_name() {
    let (path, stderr) = check_invalid("collectors:\n  cpu: true\n  cpux: false\n");
    let known: Vec<_> = pulse_exporter::collectors::ALL
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:3:3: collectors.cpux: unknown collector `cpux`, expected \
             one of: {}\n",
            known.join(", ")
        )
    );
}

#[test]
fn wrong_type() {
    let (path, stderr) = check_invalid("collectors:\n  loadavg: maybe\n");
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:2:12: collectors.loadavg: invalid type: string \"maybe\", \
             expected a boolean\n"
        )
    );
}

#[test]
fn wrong_section_type() {
    let (path, stderr) = check_invalid("filesystem: [a, b]\n");
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:1:13: filesystem: invalid type: sequence, expected struct \
             FilesystemConfig\n"
        )
    );
}

#[test]
fn include_and_exclude_together() {
    let (path, stderr) = check_invalid(
        "collectors:\n  cpu: true\nnetdev:\n  device_include: \"^eth\"\n  device_exclude: \"^lo\"\n",
    );
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:4:3: netdev: device_include and device_exclude are \
             mutually exclusive\n"
        )
    );
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.yml");
    let path = path.to_str().unwrap();
    let (code, _, stderr) = run(&["--config.file", path, "--config.check"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!("pulse-exporter: {path}: No such file or directory (os error 2)\n")
    );
}

#[test]
fn busy_listen_address_is_said_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let (code, _, stderr) = run(&["--web.listen-address", &address]);
    assert_eq!(code, 1);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "pulse-exporter: listening on {address}: {}",
            std::io::Error::from_raw_os_error(libc::EADDRINUSE)
        )
    );
}

#[test]
fn invalid_web_config_names_file_line_and_field() {
    let (_dir, path) = config("tls_server_config:\n  cert_fil: a.pem\n");
    let path = path.to_str().unwrap();
    let (code, _, stderr) = run(&["--web.config.file", path, "--config.check"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "pulse-exporter: {path}:2:3: tls_server_config.cert_fil: unknown field `cert_fil`, \
             expected one of `cert_file`, `key_file`, `client_auth_type`, `client_ca_file`, \
             `min_version`, `max_version`, `cipher_suites`, `curve_preferences`, \
             `prefer_server_cipher_suites`\n"
        )
    );
}

#[test]
fn bad_duration_flag() {
    assert_eq!(
        usage_error(&["--collector.timeout", "5x"]),
        "error: invalid value '5x' for '--collector.timeout <COLLECTOR_TIMEOUT>': unknown time \
         unit \"x\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, \
         years (and few variations)"
    );
}

#[test]
fn zero_duration_flag() {
    assert_eq!(
        usage_error(&["--collector.timeout", "0s"]),
        "error: invalid value '0s' for '--collector.timeout <COLLECTOR_TIMEOUT>': must be \
         greater than zero"
    );
}

#[test]
fn bad_regex_flag() {
    assert_eq!(
        usage_error(&["--collector.vmstat.fields", "(", "--config.check"]),
        "error: invalid value '(' for '--collector.vmstat.fields <VMSTAT_FIELDS>': invalid \
         regular expression \"(\": regex parse error:"
    );
}

#[test]
fn unknown_collector_flag() {
    assert_eq!(
        usage_error(&["--collector.cpux"]),
        "error: unexpected argument '--collector.cpux' found"
    );
}

#[test]
fn unknown_flag() {
    assert_eq!(
        usage_error(&["--web.listen-adress", ":9100"]),
        "error: unexpected argument '--web.listen-adress' found"
    );
}

#[test]
fn bad_log_level() {
    assert_eq!(
        usage_error(&["--log.level", "loud"]),
        "error: invalid value 'loud' for '--log.level <LOG_LEVEL>'"
    );
}

#[test]
fn include_and_exclude_flags_together() {
    assert_eq!(
        usage_error(&[
            "--collector.netdev.device-include",
            "^eth",
            "--collector.netdev.device-exclude",
            "^lo"
        ]),
        "error: the argument '--collector.netdev.device-include <NETDEV_INCLUDE>' cannot be \
         used with '--collector.netdev.device-exclude <NETDEV_EXCLUDE>'"
    );
}

#[test]
fn enable_and_disable_the_same_collector() {
    assert_eq!(
        usage_error(&["--no-collector.cpu", "--collector.cpu"]),
        "error: the argument '--no-collector.cpu' cannot be used with '--collector.cpu'"
    );
}

#[test]
fn bad_listen_address() {
    let (code, _, stderr) = run(&["--web.listen-address", ":x"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.ends_with(
            "pulse-exporter: invalid listen address \":x\" (expected host:port or :port)\n"
        ),
        "{stderr}"
    );
}
