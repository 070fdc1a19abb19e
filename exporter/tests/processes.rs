//! Black-box tests of the processes and cgroups collectors: side by side with Debian's
//! `prometheus-process-exporter` on live processes this test starts, and `promtool check
//! metrics` on the output for the fixture trees.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{ChildGuard, Exporter, free_port};

const PROCESS_EXPORTER: &str = "/usr/bin/prometheus-process-exporter";

fn get(url: &str) -> String {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(url).send().and_then(|r| r.error_for_status()) {
            Ok(response) => return response.text().unwrap(),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("GET {url}: {e}"),
        }
    }
}

/// The value of the sample whose name and labels (in any order) are as given.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| label_text.split(',').any(|l| l == format!("{k}=\"{v}\"")));
        let count = if label_text.is_empty() {
            0
        } else {
            label_text.split(',').count()
        };
        (all && count == labels.len()).then(|| value.trim().parse().unwrap())
    })
}

fn family_names(text: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[test]
fn agrees_with_process_exporter_on_live_processes() {
    let dir = tempfile::tempdir().unwrap();
    // A private name, so no other process on the machine joins the group. A symlink, not a
    // copy: the kernel takes comm from the exec'd path's last component, and a freshly written
    // copy can fail to exec with ETXTBSY while a parallel test's fork still holds it open.
    let sleeper = dir.path().join("pulsesleeper");
    std::os::unix::fs::symlink("/bin/sleep", &sleeper).unwrap();
    let _sleepers: Vec<ChildGuard> = (0..3)
        .map(|_| ChildGuard(Command::new(&sleeper).arg("600").spawn().unwrap()))
        .collect();

    let pe_config = dir.path().join("pe.yml");
    std::fs::write(
        &pe_config,
        "process_names:\n  - name: \"{{.Comm}}\"\n    comm: [pulsesleeper]\n",
    )
    .unwrap();
    let pe_port = free_port();
    let _pe = ChildGuard(
        Command::new(PROCESS_EXPORTER)
            .args([
                "-config.path",
                pe_config.to_str().unwrap(),
                "-web.listen-address",
                &format!("127.0.0.1:{pe_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-process-exporter is installed (tests/run.sh)"),
    );
    let config = dir.path().join("pulse.yml");
    std::fs::write(
        &config,
        "processes:\n  io: true\n  process_names:\n    - name: \"{{.Comm}}\"\n      comm: [pulsesleeper]\n",
    )
    .unwrap();
    let pulse = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.processes",
        "--config.file",
        config.to_str().unwrap(),
    ]);

    let theirs = get(&format!("http://127.0.0.1:{pe_port}/metrics"));
    let ours = get(&pulse.url("/metrics"));
    let group = [("groupname", "pulsesleeper")];
    let both = |name: &str, labels: &[(&str, &str)]| {
        let mut l = group.to_vec();
        l.extend_from_slice(labels);
        (
            sample(&ours, name, &l).unwrap_or_else(|| panic!("ours lacks {name} {l:?}:\n{ours}")),
            sample(&theirs, name, &l).unwrap_or_else(|| panic!("theirs lacks {name} {l:?}")),
        )
    };
    assert_eq!(both("namedprocess_namegroup_num_procs", &[]), (3.0, 3.0));
    for (name, labels) in [
        ("namedprocess_namegroup_num_threads", &[][..]),
        ("namedprocess_namegroup_open_filedesc", &[]),
        ("namedprocess_namegroup_worst_fd_ratio", &[]),
        (
            "namedprocess_namegroup_memory_bytes",
            &[("memtype", "virtual")],
        ),
        (
            "namedprocess_namegroup_memory_bytes",
            &[("memtype", "swapped")],
        ),
        ("namedprocess_namegroup_states", &[("state", "Sleeping")]),
        ("namedprocess_namegroup_states", &[("state", "Zombie")]),
    ] {
        let (a, b) = both(name, labels);
        assert_eq!(a, b, "{name} {labels:?}");
    }
    let (a, b) = both("namedprocess_namegroup_oldest_start_time_seconds", &[]);
    assert!((a - b).abs() < 1.0, "start time {a} vs {b}");

    // Every per-group family we export has process-exporter's name, type included.
    let theirs_names = family_names(&theirs, "namedprocess_namegroup_");
    for name in family_names(&ours, "namedprocess_namegroup_") {
        assert!(
            theirs_names.contains(&name),
            "{name} is not a process-exporter name"
        );
        let ty = |text: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("# TYPE {name} ")))
                .map(str::to_owned)
        };
        assert_eq!(ty(&ours), ty(&theirs));
    }
}

#[test]
fn fixture_output_is_promtool_clean() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let exporter = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.processes",
        "--collector.cgroups",
        "--path.procfs",
        fixtures.join("proc").to_str().unwrap(),
        "--path.sysfs",
        fixtures.join("sys").to_str().unwrap(),
    ]);
    let body = get(&exporter.url("/metrics"));
    assert_eq!(
        sample(
            &body,
            "namedprocess_namegroup_num_procs",
            &[("groupname", "nginx")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &body,
            "container_memory_working_set_bytes",
            &[("id", "/system.slice/nginx.service")]
        ),
        Some(41_943_040.0)
    );
    for collector in ["processes", "cgroups"] {
        assert_eq!(
            sample(
                &body,
                "pulse_collector_success",
                &[("collector", collector)]
            ),
            Some(1.0),
            "{collector}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.prom");
    std::fs::write(&file, &body).unwrap();
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool is installed (tests/run.sh)");
    assert!(
        check.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
