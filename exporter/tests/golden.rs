//! End-to-end output tests of the real binary, in the manner of node_exporter's
//! `end-to-end-test.sh` and `checkmetrics.sh`.
//!
//! * `golden_output_matches_fixtures`: runs `pulse-exporter` against the checked-in
//!   `tests/fixtures/{proc,sys}` tree with exactly the fixture-backed collectors, drops the
//!   series that depend on the machine or the moment ([`SKIP`]) and diffs `/metrics` against
//!   `tests/fixtures/e2e-output.txt`. After an intended change, regenerate the golden file
//!   with
//!
//!   ```text
//!   UPDATE_GOLDEN=1 cargo test -p pulse-exporter --test golden
//!   ```
//!
//!   and review the diff before committing it.
//! * `promtool_accepts_*`: `promtool check metrics` on the golden file and on live output
//!   (real `/proc`, default collectors). The only complaints allowed are about the camelCase
//!   and bits names node_exporter made part of its interface ([`CAMEL_CASE_INHERITED`],
//!   [`BITS_INHERITED`]).
//! * `same_series_and_values_as_node_exporter`: Debian's node_exporter on the same fixture
//!   tree must produce the same series with the same values, apart from a written list of
//!   differences (see `exporter/COLLECTORS.md`).

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pulse_exporter::config::DEFAULT_MOUNT_POINTS_EXCLUDE;
use support::Exporter;

/// Collectors whose sources are all in the fixture tree, one per line (sorted).
const FIXTURE_COLLECTORS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "tcpstat",
    "thermal_zone",
    "time",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
];

/// Collectors node_exporter 1.5 feeds from netlink rather than files, so on the fixture tree
/// it would report the live host: not started on its side of the comparison.
const NETLINK_IN_NODE_EXPORTER: &[&str] = &["tcpstat"];

/// Flags that make Debian's node_exporter 1.5 read what we read: `/proc/net/dev` instead of
/// rtnetlink, no device filter (Debian's build defaults to `^lo$`, upstream to none), and no
/// `speed_bytes` of -125000 for a link of unknown speed (its 2.x default).
const NODE_EXPORTER_ONLY_ARGS: &[&str] = &[
    "--no-collector.netdev.netlink",
    "--collector.netdev.device-exclude=^$",
    "--collector.netclass.ignore-invalid-speed",
];

/// Metric name prefixes whose value (or labels) depend on the machine or the moment, not on
/// the fixtures. Kept short on purpose: everything else must be reproducible.
const SKIP: &[&str] = &[
    // statfs of the filesystem the checkout is on; the labels, `readonly`, `device_error`
    // and `mount_info` series of the fixture mounts stay in the golden file.
    "node_filesystem_avail_bytes",
    "node_filesystem_files", // and node_filesystem_files_free
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
    "node_time_seconds",                // the clock
    "node_uname_info",                  // the running kernel; uname(2) has no file to fake
    "process_",                         // the exporter process itself
    "pulse_build_info",                 // the crate version
    "pulse_collector_duration_seconds", // timing
];

/// node_exporter's names in bits, which promtool would have in bytes; kept for the same reason.
const BITS_INHERITED: &[&str] = &["node_entropy_available_bits", "node_entropy_pool_size_bits"];

/// Metric names promtool calls camelCase that node_exporter's dashboards and rules depend
/// on, so we keep them verbatim. Every other promtool complaint fails the test.
const CAMEL_CASE_INHERITED: &[&str] = &[
    "node_memory_AnonHugePages_bytes",
    "node_memory_AnonPages_bytes",
    "node_memory_CmaFree_bytes",
    "node_memory_CmaTotal_bytes",
    "node_memory_CommitLimit_bytes",
    "node_memory_DirectMap1G_bytes",
    "node_memory_DirectMap2M_bytes",
    "node_memory_DirectMap4M_bytes",
    "node_memory_DirectMap4k_bytes",
    "node_memory_EarlyMemtestBad_bytes",
    "node_memory_FileHugePages_bytes",
    "node_memory_FilePmdMapped_bytes",
    "node_memory_HardwareCorrupted_bytes",
    "node_memory_HugePages_Free",
    "node_memory_HugePages_Rsvd",
    "node_memory_HugePages_Surp",
    "node_memory_HugePages_Total",
    "node_memory_KernelStack_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_PageTables_bytes",
    "node_memory_SecPageTables_bytes",
    "node_memory_ShmemHugePages_bytes",
    "node_memory_ShmemPmdMapped_bytes",
    "node_memory_SwapCached_bytes",
    "node_memory_SwapFree_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocChunk_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_VmallocUsed_bytes",
    "node_memory_WritebackTmp_bytes",
    "node_netstat_Icmp6_InErrors",
    "node_netstat_Icmp6_InMsgs",
    "node_netstat_Icmp6_OutMsgs",
    "node_netstat_Icmp_InErrors",
    "node_netstat_Icmp_InMsgs",
    "node_netstat_Icmp_OutMsgs",
    "node_netstat_Ip6_InOctets",
    "node_netstat_Ip6_OutOctets",
    "node_netstat_IpExt_InOctets",
    "node_netstat_IpExt_OutOctets",
    "node_netstat_TcpExt_ListenDrops",
    "node_netstat_TcpExt_ListenOverflows",
    "node_netstat_TcpExt_SyncookiesFailed",
    "node_netstat_TcpExt_SyncookiesRecv",
    "node_netstat_TcpExt_SyncookiesSent",
    "node_netstat_TcpExt_TCPSynRetrans",
    "node_netstat_TcpExt_TCPTimeouts",
    "node_netstat_Tcp_ActiveOpens",
    "node_netstat_Tcp_CurrEstab",
    "node_netstat_Tcp_InErrs",
    "node_netstat_Tcp_InSegs",
    "node_netstat_Tcp_OutRsts",
    "node_netstat_Tcp_OutSegs",
    "node_netstat_Tcp_PassiveOpens",
    "node_netstat_Tcp_RetransSegs",
    "node_netstat_Udp6_InDatagrams",
    "node_netstat_Udp6_InErrors",
    "node_netstat_Udp6_NoPorts",
    "node_netstat_Udp6_OutDatagrams",
    "node_netstat_Udp6_RcvbufErrors",
    "node_netstat_Udp6_SndbufErrors",
    "node_netstat_UdpLite6_InErrors",
    "node_netstat_UdpLite_InErrors",
    "node_netstat_Udp_InDatagrams",
    "node_netstat_Udp_InErrors",
    "node_netstat_Udp_NoPorts",
    "node_netstat_Udp_OutDatagrams",
    "node_netstat_Udp_RcvbufErrors",
    "node_netstat_Udp_SndbufErrors",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_args() -> Vec<String> {
    let root = fixtures();
    let mut args = vec![
        "--path.procfs".to_owned(),
        root.join("proc").display().to_string(),
        "--path.sysfs".to_owned(),
        root.join("sys").display().to_string(),
        "--path.rootfs".to_owned(),
        root.display().to_string(),
        "--collector.disable-defaults".to_owned(),
    ];
    args.extend(
        FIXTURE_COLLECTORS
            .iter()
            .map(|c| format!("--collector.{c}")),
    );
    args
}

fn get(url: &str) -> String {
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.text().unwrap()
}

/// Starts pulse-exporter with `args` and returns one scrape.
fn scrape_ours(args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&args);
    get(&exporter.url("/metrics"))
}

fn scrape_fixtures() -> String {
    scrape_ours(&fixture_args())
}

/// The metric name a text-format line is about (`# HELP name ...`, `name{...} v`).
fn line_metric(line: &str) -> &str {
    let rest = line
        .strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))
        .unwrap_or(line);
    let end = rest.find(['{', ' ']).unwrap_or(rest.len());
    &rest[..end]
}

/// The output without the lines that change from run to run, and with the fixture tree's
/// absolute path (in labels such as rapl's `path`) as `FIXTURES`, so the golden file does
/// not depend on where the repository is checked out.
fn deterministic(text: &str) -> String {
    let root = fixtures().display().to_string();
    text.lines()
        .filter(|line| !SKIP.iter().any(|skip| line_metric(line).starts_with(skip)))
        .map(|line| format!("{}\n", line.replace(&root, "FIXTURES")))
        .collect()
}

#[test]
fn golden_output_matches_fixtures() {
    let actual = deterministic(&scrape_fixtures());
    let golden = fixtures().join("e2e-output.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
        eprintln!("golden: rewrote {}", golden.display());
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    if actual != expected {
        let missing: Vec<_> = expected.lines().filter(|l| !actual.contains(l)).collect();
        let extra: Vec<_> = actual.lines().filter(|l| !expected.contains(l)).collect();
        panic!(
            "/metrics differs from {}\n--- only in golden file:\n{}\n+++ only in output:\n{}\n\
             (lines in a different order show up in neither list)\n\
             If the change is intended: UPDATE_GOLDEN=1 cargo test -p pulse-exporter --test golden",
            golden.display(),
            missing.join("\n"),
            extra.join("\n"),
        );
    }
    // Every fixture-backed collector must have succeeded, or the golden file proves little.
    for collector in FIXTURE_COLLECTORS {
        let line = format!("pulse_collector_success{{collector=\"{collector}\"}} 1");
        assert!(expected.contains(&line), "missing `{line}` in golden file");
    }
}

/// Finds `name` on PATH, or says loudly why the test is skipped.
fn on_path(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "\n!!! SKIPPED: `{name}` not found on PATH. Install Debian's `{package}` package \
             (tests/run.sh does) to run this test. !!!\n"
        );
    }
    found
}

/// Runs `promtool check metrics` and returns its complaints, minus the allowed ones.
fn promtool_complaints(promtool: &Path, exposition: &str) -> Vec<String> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let complaints: Vec<String> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter(|line| {
            let (name, message) = line.split_once(' ').unwrap_or((line, ""));
            !(message.contains("'camelCase'") && CAMEL_CASE_INHERITED.contains(&name)
                || message.contains(r#"instead of "bits""#) && BITS_INHERITED.contains(&name))
        })
        .map(str::to_owned)
        .collect();
    // promtool exits non-zero for lint problems too; then there must be something to show.
    assert!(
        output.status.success() || !text.trim().is_empty(),
        "promtool failed silently: {:?}",
        output.status
    );
    complaints
}

#[test]
fn promtool_accepts_golden_output() {
    let Some(promtool) = on_path("promtool", "prometheus") else {
        return;
    };
    let golden = std::fs::read_to_string(fixtures().join("e2e-output.txt")).unwrap();
    let complaints = promtool_complaints(&promtool, &golden);
    assert!(complaints.is_empty(), "promtool: {complaints:#?}");
}

#[test]
fn promtool_accepts_live_output() {
    let Some(promtool) = on_path("promtool", "prometheus") else {
        return;
    };
    let exporter = Exporter::start(&[]);
    let live = get(&exporter.url("/metrics"));
    assert!(live.contains("node_cpu_seconds_total{"), "{live}");
    let complaints = promtool_complaints(&promtool, &live);
    assert!(complaints.is_empty(), "promtool: {complaints:#?}");
}

/// Series (name plus sorted labels) and their values from text-format output.
fn series(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let key = match key.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<_> = labels
                        .trim_end_matches('}')
                        .split("\",")
                        .map(|l| l.trim_end_matches('"'))
                        .collect();
                    labels.sort_unstable();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => key.to_owned(),
            };
            (key, value.parse().unwrap())
        })
        .collect()
}

/// Runs Debian's node_exporter with `args` on a free port and returns one scrape.
fn scrape_node_exporter(node_exporter: &Path, args: &[String]) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(node_exporter)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut text = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::blocking::get(&url) {
            text = Some(r.text().unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    text.expect("node_exporter did not answer")
}

/// The filesystem collector cannot run on the fixture tree (statfs needs real mounts), so it
/// is compared with node_exporter on this machine's own mounts, with the same exclusions
/// (node_exporter 1.5's default also drops `/run`, `/mnt` and `/media`). Free space and free
/// inodes move between the two scrapes, so only their presence is compared; sizes, inode
/// totals and errors must be equal.
#[test]
fn filesystem_matches_node_exporter_on_this_host() {
    let _mounts = MOUNT_TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(node_exporter) = on_path("prometheus-node-exporter", "prometheus-node-exporter")
    else {
        return;
    };
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.filesystem".to_owned(),
        format!("--collector.filesystem.mount-points-exclude={DEFAULT_MOUNT_POINTS_EXCLUDE}"),
    ];
    let theirs = series(&scrape_node_exporter(&node_exporter, &args));
    let ours = series(&scrape_ours(&args));
    let compared = |key: &str| {
        key.starts_with("node_filesystem_") && !key.starts_with("node_filesystem_mount_info") // newer than node_exporter 1.5
    };
    // node_exporter 1.5 has `readonly` for measured mounts only; ours has it for all.
    let optional = |key: &str| key.starts_with("node_filesystem_readonly");
    let exact = |key: &str| {
        ["size_bytes", "files{", "device_error", "readonly"]
            .iter()
            .any(|part| key.contains(part))
    };
    let mut problems = Vec::new();
    for (key, value) in ours.iter().filter(|(k, _)| compared(k)) {
        match theirs.get(key) {
            Some(v) if v == value || !exact(key) => {}
            Some(v) => problems.push(format!("{key}: ours {value}, node_exporter {v}")),
            None if optional(key) => {}
            None => problems.push(format!("{key}: only ours")),
        }
    }
    for key in theirs.keys().filter(|k| compared(k)) {
        if !ours.contains_key(key) {
            problems.push(format!("{key}: only node_exporter's"));
        }
    }
    assert!(
        ours.keys()
            .any(|k| k.starts_with("node_filesystem_size_bytes")),
        "no filesystem measured: {ours:#?}"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `timex` reads the live kernel (adjtimex), so it cannot be in the fixture comparison:
/// both exporters read this host's clock instead. The fields that only move when the clock
/// discipline changes state must agree exactly; the error bounds and offset move by the
/// microsecond, so for them both sides must merely have the series.
#[test]
fn timex_matches_node_exporter_on_this_host() {
    let Some(node_exporter) = on_path("prometheus-node-exporter", "prometheus-node-exporter")
    else {
        return;
    };
    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.timex".to_owned(),
    ];
    let theirs = series(&scrape_node_exporter(&node_exporter, &args));
    let ours = series(&scrape_ours(&args));
    let timex = |map: &BTreeMap<String, f64>| -> Vec<String> {
        map.keys()
            .filter(|k| k.starts_with("node_timex_"))
            .cloned()
            .collect()
    };
    assert_eq!(timex(&ours), timex(&theirs));
    assert_eq!(timex(&ours).len(), 17);
    for exact in [
        "node_timex_sync_status",
        "node_timex_status",
        "node_timex_tick_seconds",
        "node_timex_tai_offset_seconds",
        "node_timex_pps_calibration_total",
        "node_timex_pps_error_total",
    ] {
        assert_eq!(ours[exact], theirs[exact], "{exact}");
    }
}

#[test]
fn same_series_and_values_as_node_exporter() {
    let Some(node_exporter) = on_path("prometheus-node-exporter", "prometheus-node-exporter")
    else {
        return;
    };
    let mut args: Vec<String> = fixture_args()
        .into_iter()
        .filter(|arg| {
            !NETLINK_IN_NODE_EXPORTER
                .iter()
                .any(|c| *arg == format!("--collector.{c}"))
        })
        .collect();
    args.extend(NODE_EXPORTER_ONLY_ARGS.iter().map(|a| a.to_string()));
    // Ours finds udev's database under --path.rootfs; node_exporter has its own flag.
    args.push(format!(
        "--path.udev.data={}",
        fixtures().join("run/udev/data").display()
    ));
    let theirs = series(&scrape_node_exporter(&node_exporter, &args));
    let ours = series(&scrape_fixtures());

    // Each exporter's own metrics are not part of the comparison.
    let own = |key: &str| {
        [
            "pulse_",
            "process_",
            "go_",
            "promhttp_",
            "node_scrape_",
            "node_exporter_build_info",
        ]
        .iter()
        .any(|p| key.starts_with(p))
    };
    // Series only one side has, on purpose or by version (see COLLECTORS.md).
    let ours_only = |key: &str| {
        // node_exporter >= 1.6 / 1.8 have these too; Debian 12 ships 1.5.
        key.starts_with("node_cpu_scaling_governor")
            || key.starts_with("node_pressure_cpu_stalled_seconds_total")
            || key.starts_with("node_pressure_irq_stalled_seconds_total")
            // node_exporter 1.5 reads `1/mounts`, not `mountinfo`, so it finds no mounts in
            // the fixture tree; filesystem_matches_node_exporter_on_this_host compares them.
            || key.starts_with("node_filesystem_")
            // Read over netlink by node_exporter (see NETLINK_IN_NODE_EXPORTER).
            || key.starts_with("node_tcp_connection_states")
            // node_exporter reads these with ioctls on the mounted filesystem, which the
            // fixture tree has none of; ours come from sysfs (see COLLECTORS.md).
            || key.starts_with("node_btrfs_device_errors_total")
    };
    // node_exporter 1.5 divides bcache's microseconds by 1e9 (see COLLECTORS.md).
    let fixed_here = |key: &str| key.starts_with("node_bcache_btree_read_average_duration_seconds");
    // A property of the exporter's TZ, not of the host: not exported by us.
    let theirs_only = |key: &str| key.starts_with("node_time_zone_offset_seconds");
    let mut problems = Vec::new();
    for (key, value) in ours.iter().filter(|(k, _)| !own(k)) {
        match theirs.get(key) {
            Some(v) if key == "node_time_seconds" || v == value || fixed_here(key) => {}
            Some(v) => problems.push(format!("{key}: ours {value}, node_exporter {v}")),
            None if ours_only(key) => {}
            None => problems.push(format!("{key}: only ours")),
        }
    }
    for key in theirs.keys().filter(|k| !own(k)) {
        if !ours.contains_key(key) && !theirs_only(key) {
            problems.push(format!("{key}: only node_exporter's"));
        }
    }
    assert!(ours.len() > 100, "suspiciously few series: {}", ours.len());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Held by the tests that read the host's mount table and the one that changes it, which
/// would otherwise run at once (test threads) and see a mount come and go between scrapes.
static MOUNT_TABLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A loop-mounted filesystem made for one test, unmounted (and its loop device freed) on drop.
struct LoopMount {
    dir: tempfile::TempDir,
}

impl LoopMount {
    /// Makes a `size`-byte image with `mkfs`, mounts it, writes a file on it; `None` (the test
    /// is skipped, saying why) where this host cannot, e.g. without root or loop devices.
    fn new(mkfs: &[&str], size: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(size)
            .unwrap();
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point).unwrap();
        let made = Command::new(mkfs[0]).args(&mkfs[1..]).arg(&image).output();
        if !made.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("\n!!! SKIPPED: {} failed: {made:?} !!!\n", mkfs[0]);
            return None;
        }
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mount_point)
            .output();
        if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("\n!!! SKIPPED: cannot loop-mount here (needs root): {mounted:?} !!!\n");
            return None;
        }
        let mount = Self { dir };
        std::fs::write(mount.mount_point().join("data"), vec![7u8; 1 << 20]).unwrap();
        Command::new("sync").status().unwrap();
        Some(mount)
    }

    fn mount_point(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// The loop device's name (`loop3`), from this process's mount table.
    fn device(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let mount_point = self.mount_point().display().to_string();
        let source = mounts
            .lines()
            .find(|line| line.split(' ').nth(1) == Some(mount_point.as_str()))
            .and_then(|line| line.split(' ').next())
            .unwrap();
        source.trim_start_matches("/dev/").to_owned()
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mount_point()).status();
    }
}

/// btrfs and xfs read sysfs trees that only a mounted filesystem has, so besides the
/// fixture comparison both exporters read real ones: a btrfs and an xfs image made and
/// loop-mounted here (root, `btrfs-progs` and `xfsprogs`; tests/run.sh installs them).
#[test]
fn btrfs_and_xfs_match_node_exporter_on_real_filesystems() {
    let _mounts = MOUNT_TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(node_exporter) = on_path("prometheus-node-exporter", "prometheus-node-exporter")
    else {
        return;
    };
    if on_path("mkfs.btrfs", "btrfs-progs").is_none() || on_path("mkfs.xfs", "xfsprogs").is_none() {
        return;
    }
    let Some(btrfs) = LoopMount::new(&["mkfs.btrfs", "-q", "-L", "pulse-golden"], 300 << 20) else {
        return;
    };
    let Some(xfs) = LoopMount::new(&["mkfs.xfs", "-q"], 300 << 20) else {
        return;
    };
    let uuid = std::fs::read_dir("/sys/fs/btrfs")
        .unwrap()
        .filter_map(Result::ok)
        .find(|entry| {
            std::fs::read_to_string(entry.path().join("label"))
                .is_ok_and(|label| label.trim() == "pulse-golden")
        })
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let xfs_device = xfs.device();

    let args = [
        "--collector.disable-defaults".to_owned(),
        "--collector.btrfs".to_owned(),
        "--collector.xfs".to_owned(),
    ];
    let theirs = series(&scrape_node_exporter(&node_exporter, &args));
    let ours = series(&scrape_ours(&args));
    let of = |map: &BTreeMap<String, f64>, prefix: &str, label: &str| -> BTreeMap<String, f64> {
        map.iter()
            .filter(|(k, _)| k.starts_with(prefix) && k.contains(label))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let mut problems = Vec::new();

    // Space per block-group type and profile: the same series with the same values.
    let uuid_label = format!("uuid=\"{uuid}");
    for prefix in [
        "node_btrfs_info",
        "node_btrfs_global_rsv_size_bytes",
        "node_btrfs_reserved_bytes",
        "node_btrfs_size_bytes",
        "node_btrfs_used_bytes",
        "node_btrfs_allocation_ratio",
    ] {
        let (o, t) = (
            of(&ours, prefix, &uuid_label),
            of(&theirs, prefix, &uuid_label),
        );
        if o.is_empty() || o != t {
            problems.push(format!("{prefix}: ours {o:?}, node_exporter {t:?}"));
        }
    }
    // node_exporter labels the device series from its ioctls (`btrfs_dev_uuid`, and
    // `device` on the errors), so these are compared by value.
    let values = |map: BTreeMap<String, f64>| map.into_values().collect::<Vec<f64>>();
    let size = |map| values(of(map, "node_btrfs_device_size_bytes", &uuid_label));
    if size(&ours).is_empty() || size(&ours) != size(&theirs) {
        problems.push(format!(
            "device size: ours {:?}, node_exporter {:?}",
            size(&ours),
            size(&theirs)
        ));
    }
    for error_type in ["corruption", "flush", "generation", "read", "write"] {
        let type_label = format!("type=\"{error_type}");
        let counts = |map| -> Vec<f64> {
            of(map, "node_btrfs_device_errors_total", &uuid_label)
                .into_iter()
                .filter(|(k, _)| k.contains(&type_label))
                .map(|(_, v)| v)
                .collect()
        };
        if counts(&ours).is_empty() || counts(&ours) != counts(&theirs) {
            problems.push(format!(
                "{error_type} errors: ours {:?}, node_exporter {:?}",
                counts(&ours),
                counts(&theirs)
            ));
        }
    }

    // XFS counters move with the filesystem's own background work, and ours is read after
    // theirs: the same series, none lower.
    let device_label = format!("device=\"{xfs_device}");
    let (o, t) = (
        of(&ours, "node_xfs_", &device_label),
        of(&theirs, "node_xfs_", &device_label),
    );
    if o.len() != 39 || !o.keys().eq(t.keys()) {
        problems.push(format!(
            "xfs series: ours {:?}, node_exporter {:?}",
            o.keys(),
            t.keys()
        ));
    }
    for (key, value) in &t {
        if o.get(key).is_some_and(|v| v < value) {
            problems.push(format!(
                "{key}: ours {:?} below node_exporter's {value}",
                o.get(key)
            ));
        }
    }
    assert!(
        o.values().any(|v| *v > 0.0),
        "the xfs counters of a written filesystem are all 0: {o:?}"
    );
    drop((btrfs, xfs));
    assert!(problems.is_empty(), "{problems:#?}");
}

/// node_exporter's other naming of the RAPL series (`--collector.rapl.enable-zone-label`),
/// compared on the fixture tree like the default one.
#[test]
fn rapl_zone_label_matches_node_exporter() {
    let Some(node_exporter) = on_path("prometheus-node-exporter", "prometheus-node-exporter")
    else {
        return;
    };
    let root = fixtures();
    let args = [
        "--path.sysfs".to_owned(),
        root.join("sys").display().to_string(),
        "--path.procfs".to_owned(),
        root.join("proc").display().to_string(),
        "--collector.disable-defaults".to_owned(),
        "--collector.rapl".to_owned(),
        "--collector.rapl.enable-zone-label".to_owned(),
    ];
    let rapl = |text: &str| -> BTreeMap<String, f64> {
        series(text)
            .into_iter()
            .filter(|(k, _)| k.starts_with("node_rapl_"))
            .collect()
    };
    let theirs = rapl(&scrape_node_exporter(&node_exporter, &args));
    let ours = rapl(&scrape_ours(&args));
    assert_eq!(ours.len(), 4, "{ours:#?}");
    assert!(
        ours.keys()
            .all(|k| k.starts_with("node_rapl_joules_total{"))
    );
    assert_eq!(ours, theirs);
}
