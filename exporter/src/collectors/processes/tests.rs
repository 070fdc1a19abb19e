//! The collector against fixture `/proc` trees copied into a temporary directory, so that
//! scrapes can be repeated after changing, adding and removing processes.

use super::*;
use crate::config::{Pattern, ProcessRule};

const FIXTURE_PIDS: &[&str] = &[
    "2", "21", "22", "23", "1200", "1201", "1300", "1400", "1500",
];
const BOOT: f64 = 1_700_000_000.0;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A private copy of this collector's fixture pids (other collectors' fixtures may share
/// `tests/fixtures/proc`) plus a `stat` with `btime`.
fn fixture_root() -> tempfile::TempDir {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc");
    let dir = tempfile::tempdir().unwrap();
    for pid in FIXTURE_PIDS {
        copy_tree(&fixtures.join(pid), &dir.path().join(pid));
    }
    std::fs::write(
        dir.path().join("stat"),
        format!("cpu  1 2 3\nbtime {BOOT}\n"),
    )
    .unwrap();
    dir
}

fn collector(root: &Path, rules: Vec<ProcessRule>, max_groups: usize) -> ProcessesCollector {
    ProcessesCollector::new(
        root.to_owned(),
        ProcfsKind::of(root),
        Grouper::new(rules),
        max_groups,
        true,
    )
}

fn scrape(c: &ProcessesCollector) -> MetricSet {
    let mut out = MetricSet::default();
    c.collect(&mut out).unwrap();
    out
}

fn group_names(set: &MetricSet) -> Vec<String> {
    let family = set
        .families
        .iter()
        .find(|f| f.name == "namedprocess_namegroup_num_procs")
        .unwrap();
    family
        .samples
        .iter()
        .map(|s| s.labels[0].1.clone())
        .collect()
}

fn g(group: &str) -> [(&str, &str); 1] {
    [("groupname", group)]
}

#[test]
fn groups_by_comm_with_fixture_values() {
    let root = fixture_root();
    let c = collector(root.path(), Vec::new(), 100);
    let set = scrape(&c);
    assert_eq!(
        group_names(&set),
        ["ksoftirqd", "kthreadd", "kworker", "nginx", "python3", "sh"]
    );
    let n = |name: &str, group: &str| set.value_of(name, &g(group)).unwrap();
    assert_eq!(n("namedprocess_namegroup_num_procs", "nginx"), 2.0);
    assert_eq!(n("namedprocess_namegroup_num_procs", "kworker"), 2.0);
    assert_eq!(n("namedprocess_namegroup_num_threads", "python3"), 4.0);
    let page = rustix::param::page_size() as f64;
    let mem = |group, memtype| {
        set.value_of(
            "namedprocess_namegroup_memory_bytes",
            &[("groupname", group), ("memtype", memtype)],
        )
        .unwrap()
    };
    assert_eq!(mem("nginx", "resident"), (2560.0 + 1280.0) * page);
    assert_eq!(mem("nginx", "virtual"), 2.0 * 104_857_600.0);
    assert_eq!(mem("nginx", "swapped"), 8192.0);
    assert_eq!(n("namedprocess_namegroup_open_filedesc", "nginx"), 14.0);
    assert_eq!(n("namedprocess_namegroup_open_filedesc", "kworker"), 0.0);
    // 1201 has 8 fds under a soft limit of 16.
    assert_eq!(n("namedprocess_namegroup_worst_fd_ratio", "nginx"), 0.5);
    assert_eq!(
        n("namedprocess_namegroup_worst_fd_ratio", "python3"),
        5.0 / 65536.0
    );
    let state = |group, state| {
        set.value_of(
            "namedprocess_namegroup_states",
            &[("groupname", group), ("state", state)],
        )
        .unwrap()
    };
    assert_eq!(state("nginx", "Running"), 1.0);
    assert_eq!(state("nginx", "Sleeping"), 1.0);
    assert_eq!(state("sh", "Zombie"), 1.0);
    assert_eq!(state("kworker", "Other"), 2.0);
    assert_eq!(
        n("namedprocess_namegroup_oldest_start_time_seconds", "nginx"),
        BOOT + 80.0
    );
    // Counters start at zero for processes already running at the first scrape.
    assert_eq!(
        set.value_of(
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", "nginx"), ("mode", "user")]
        ),
        Some(0.0)
    );
    assert_eq!(n("namedprocess_namegroup_read_bytes_total", "nginx"), 0.0);
    // 1500's stat is corrupt; the zombie has no fd directory.
    assert_eq!(
        set.value_of("namedprocess_scrape_procread_errors_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        set.value_of("namedprocess_scrape_partial_errors_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        set.value_of("pulse_process_groups_overflowed", &[]),
        Some(0.0)
    );
}

fn rewrite_stat(root: &Path, pid: &str, utime: u64, stime: u64) {
    let path = root.join(pid).join("stat");
    let text = std::fs::read_to_string(&path).unwrap();
    let close = text.rfind(')').unwrap();
    let mut fields: Vec<String> = text[close + 2..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // fields[0] is proc(5) field 3; utime is 14, stime 15.
    fields[11] = utime.to_string();
    fields[12] = stime.to_string();
    std::fs::write(&path, format!("{} {}\n", &text[..=close], fields.join(" "))).unwrap();
}

#[test]
fn counters_survive_exits_and_count_new_processes_in_full() {
    let root = fixture_root();
    let c = collector(root.path(), Vec::new(), 100);
    scrape(&c);
    let cpu = |set: &MetricSet, group, mode| {
        set.value_of(
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", group), ("mode", mode)],
        )
    };

    // 1201 uses 0.5 s more user time; a new worker 1202 started with 0.2 s user time.
    rewrite_stat(root.path(), "1201", 350, 100);
    copy_tree(&root.path().join("1201"), &root.path().join("1202"));
    rewrite_stat(root.path(), "1202", 20, 10);
    let set = scrape(&c);
    assert_eq!(cpu(&set, "nginx", "user"), Some(0.7));
    assert_eq!(cpu(&set, "nginx", "system"), Some(0.1));

    // 1202 exits: its contribution stays.
    std::fs::remove_dir_all(root.path().join("1202")).unwrap();
    rewrite_stat(root.path(), "1201", 360, 100);
    let set = scrape(&c);
    assert_eq!(cpu(&set, "nginx", "user"), Some(0.8));
    assert_eq!(
        set.value_of("namedprocess_namegroup_num_procs", &g("nginx")),
        Some(2.0)
    );

    // The only python3 process exits: the group disappears.
    std::fs::remove_dir_all(root.path().join("1400")).unwrap();
    let set = scrape(&c);
    assert!(!group_names(&set).contains(&"python3".to_owned()));
}

#[test]
fn pid_reuse_is_a_new_process() {
    let root = fixture_root();
    let c = collector(root.path(), Vec::new(), 100);
    scrape(&c);
    // Same pid, later start time, lower counters: counted in full, not as a negative delta.
    let path = root.path().join("1201/stat");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(" 1 0 8100 ", " 1 0 9999 ")).unwrap();
    rewrite_stat(root.path(), "1201", 30, 0);
    let set = scrape(&c);
    assert_eq!(
        set.value_of(
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", "nginx"), ("mode", "user")]
        ),
        Some(0.3)
    );
}

#[test]
fn overflow_folds_extra_groups_into_other_and_is_sticky() {
    let root = fixture_root();
    let c = collector(root.path(), Vec::new(), 3);
    let set = scrape(&c);
    // First scrape: admitted in name order.
    assert_eq!(
        group_names(&set),
        ["ksoftirqd", "kthreadd", "kworker", "other"]
    );
    assert_eq!(
        set.value_of("pulse_process_groups_overflowed", &[]),
        Some(3.0)
    );
    // nginx (2) + python3 (1) + sh (1).
    assert_eq!(
        set.value_of("namedprocess_namegroup_num_procs", &g("other")),
        Some(4.0)
    );
    // A new group that sorts first does not evict a group already reported.
    copy_tree(&root.path().join("1400"), &root.path().join("1401"));
    let stat = std::fs::read_to_string(root.path().join("1401/stat")).unwrap();
    std::fs::write(
        root.path().join("1401/stat"),
        stat.replace("(python3)", "(atd)"),
    )
    .unwrap();
    let set = scrape(&c);
    assert_eq!(
        group_names(&set),
        ["ksoftirqd", "kthreadd", "kworker", "other"]
    );
    assert_eq!(
        set.value_of("pulse_process_groups_overflowed", &[]),
        Some(4.0)
    );
}

#[test]
fn rules_select_and_name_groups() {
    let root = fixture_root();
    let rules = vec![
        ProcessRule {
            name: NameTemplate::parse("web").unwrap(),
            comm: vec!["nginx".into()],
            exe: Vec::new(),
            cmdline: Vec::new(),
        },
        ProcessRule {
            name: NameTemplate::parse("app:{{.Matches.cfg}}").unwrap(),
            comm: Vec::new(),
            exe: vec!["python3".into()],
            cmdline: vec![Pattern::new(r"--config /etc/(?P<cfg>\w+)\.yml").unwrap()],
        },
    ];
    let c = collector(root.path(), rules, 100);
    let set = scrape(&c);
    // Kernel threads and the zombie match no rule and are not reported.
    assert_eq!(group_names(&set), ["app:billing", "web"]);
    assert_eq!(
        set.value_of("namedprocess_namegroup_num_procs", &g("web")),
        Some(2.0)
    );
}

#[test]
fn live_proc_reads_this_process() {
    assert_eq!(ProcfsKind::of(Path::new("/proc")), ProcfsKind::Own);
    let c = ProcessesCollector::new(
        PathBuf::from("/proc"),
        ProcfsKind::Own,
        Grouper::default(),
        10_000,
        true,
    );
    let set = scrape(&c);
    let me = std::fs::read_to_string("/proc/self/stat").unwrap();
    let comm = &me[me.find('(').unwrap() + 1..me.rfind(')').unwrap()];
    assert!(
        set.value_of("namedprocess_namegroup_num_procs", &g(comm))
            .unwrap()
            >= 1.0
    );
    // The fast fd count (size of /proc/PID/fd) agrees with listing the directory. A child
    // whose descriptors nothing else touches keeps the count still: this test binary's own
    // fd table changes under it as sibling tests open files in parallel.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let fd_dir = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let fast = c.open_fds(&fd_dir);
    let listed = std::fs::read_dir(&fd_dir).map(|d| d.count() as u64);
    child.kill().unwrap();
    child.wait().unwrap();
    let (fast, listed) = (fast.unwrap(), listed.unwrap());
    assert_eq!(fast, listed);
}

#[test]
fn fd_limit_from_prlimit_matches_the_limits_file() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 123 && exec sleep 30"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Until the shell has exec'd, the limit may still be the inherited one.
    let limits = PathBuf::from(format!("/proc/{pid}/limits"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while read::parse_nofile_limit(&std::fs::read(&limits).unwrap()) != Some(Some(123)) {
        assert!(std::time::Instant::now() < deadline, "ulimit never applied");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let limit = |kind| {
        let c =
            ProcessesCollector::new(PathBuf::from("/proc"), kind, Grouper::default(), 10, false);
        let mut path = PathBuf::from(format!("/proc/{pid}"));
        let limit = c.nofile_limit(pid, &mut path, &mut Vec::new());
        assert_eq!(path, PathBuf::from(format!("/proc/{pid}")), "path restored");
        limit
    };
    let (asked, read) = (limit(ProcfsKind::Own), limit(ProcfsKind::Mounted));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(asked, Some(Some(123)));
    assert_eq!(read, Some(Some(123)));
    // A process that has exited: neither source answers.
    assert_eq!(limit(ProcfsKind::Own), None);
    let fixtures = fixture_root();
    assert_eq!(ProcfsKind::of(fixtures.path()), ProcfsKind::Files);
}

#[test]
fn fold_overflow_keeps_everything_under_the_cap() {
    let groups: HashMap<Arc<str>, GroupSnapshot> = ["b", "a"]
        .into_iter()
        .map(|n| (Arc::from(n), GroupSnapshot::default()))
        .collect();
    let (kept, folded) = fold_overflow(groups, &HashSet::new(), 2);
    assert_eq!(folded, 0);
    assert_eq!(
        kept.iter().map(|(n, _)| n.as_ref()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}
