//! Space and inode usage of mounted filesystems, as node_exporter's `filesystem` collector:
//! `node_filesystem_{size,free,avail}_bytes`, `node_filesystem_files{,_free}`,
//! `node_filesystem_readonly`, `node_filesystem_device_error` and
//! `node_filesystem_mount_info`, labelled `device`, `fstype`, `mountpoint`.
//!
//! Mounts come from `{procfs}/1/mountinfo` (init's mount namespace: the host's mounts even
//! when we run in a container with the host's `/proc`), falling back to
//! `{procfs}/self/mountinfo` where PID 1 is hidden (`hidepid`). Each mount is measured with
//! statfs under `--path.rootfs`, with a per-mount timeout (see [`statfs`]).

mod statfs;

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use procfs_core::process::MountInfo;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::config::Pattern;
use crate::exposition::{Kind, MetricSet};
use crate::paths::Paths;
use statfs::{Outcome, Statvfs, TimedStatFs};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "filesystem",
    default_enabled: true,
    help: "Filesystem space and inode usage from statfs of the mounts in /proc/1/mountinfo.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let config = &ctx.config.filesystem;
    Ok(Box::new(FilesystemCollector {
        mountinfo: [
            ctx.paths.proc("1/mountinfo"),
            ctx.paths.proc("self/mountinfo"),
        ],
        paths: ctx.paths.clone(),
        mount_points_exclude: config.mount_points_exclude.clone(),
        fs_types_exclude: config.fs_types_exclude.clone(),
        statfs: TimedStatFs::new(Statvfs, config.mount_timeout.0),
    }))
}

struct FilesystemCollector {
    /// Tried in order: init's mount table, then our own.
    mountinfo: [PathBuf; 2],
    paths: Paths,
    mount_points_exclude: Pattern,
    fs_types_exclude: Pattern,
    statfs: TimedStatFs<Statvfs>,
}

/// One mount as the metrics label it.
#[derive(Debug, PartialEq)]
struct Mount {
    device: String,
    fs_type: String,
    /// As the host sees it (the `--path.rootfs` prefix stripped), unescaped.
    mount_point: String,
    major: String,
    minor: String,
    read_only: bool,
}

/// Per-mount results, gathered before any family is started so each family is built once.
struct Row<'a> {
    mount: &'a Mount,
    outcome: Outcome,
}

/// Name, help and value of one statfs-derived family.
type UsageFamily = (&'static str, &'static str, fn(&statfs::Usage) -> f64);

const USAGE_FAMILIES: [UsageFamily; 5] = [
    (
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        |u| u.size,
    ),
    (
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
        |u| u.free,
    ),
    (
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        |u| u.avail,
    ),
    (
        "node_filesystem_files",
        "Filesystem total file nodes.",
        |u| u.files,
    ),
    (
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
        |u| u.files_free,
    ),
];

impl Collector for FilesystemCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let (path, text) = self.read_mountinfo()?;
        let mut mounts = parse_mountinfo(&text, path, &self.paths)?;
        mounts.retain(|m| {
            !self.mount_points_exclude.is_match(&m.mount_point)
                && !self.fs_types_exclude.is_match(&m.fs_type)
        });
        // A filesystem mounted twice on one point (or listed twice) is one series.
        let mut seen = HashSet::with_capacity(mounts.len());
        let unique: Vec<&Mount> = mounts
            .iter()
            .filter(|m| {
                seen.insert((
                    m.device.as_str(),
                    m.mount_point.as_str(),
                    m.fs_type.as_str(),
                ))
            })
            .collect();
        let targets: Vec<_> = unique
            .iter()
            .map(|m| self.paths.rooted(&m.mount_point))
            .collect();
        let outcomes = self.statfs.usage_all(&targets);
        let mut rows = Vec::with_capacity(unique.len());
        for ((mount, target), outcome) in unique.into_iter().zip(&targets).zip(outcomes) {
            match &outcome {
                Outcome::Usage(_) => {}
                Outcome::Failed(e) => tracing::debug!(
                    mountpoint = mount.mount_point,
                    path = %target.display(),
                    error = %e,
                    "statfs failed"
                ),
                Outcome::TimedOut => tracing::warn!(
                    mountpoint = mount.mount_point,
                    "statfs timed out; skipping the mount until the call returns"
                ),
                Outcome::Stuck => tracing::debug!(
                    mountpoint = mount.mount_point,
                    "skipped: an earlier statfs is still blocked"
                ),
            }
            rows.push(Row { mount, outcome });
        }
        write_rows(&rows, out);
        Ok(())
    }
}

impl FilesystemCollector {
    fn read_mountinfo(&self) -> Result<(&Path, String), CollectorError> {
        let [init, own] = &self.mountinfo;
        match read_file(init) {
            Ok(text) => Ok((init, text)),
            // hidepid hides PID 1 (NotFound); some sandboxes deny it.
            Err(CollectorError::Io { source, .. })
                if matches!(
                    source.kind(),
                    ErrorKind::NotFound | ErrorKind::PermissionDenied
                ) =>
            {
                tracing::debug!(error = %source, "reading init's mountinfo failed; using our own");
                Ok((own, read_file(own)?))
            }
            Err(other) => Err(other),
        }
    }
}

fn labels(mount: &Mount) -> [(&'static str, &str); 3] {
    [
        ("device", &mount.device),
        ("fstype", &mount.fs_type),
        ("mountpoint", &mount.mount_point),
    ]
}

fn write_rows(rows: &[Row<'_>], out: &mut MetricSet) {
    for (name, help, value) in USAGE_FAMILIES {
        let family = out.family(name, help, Kind::Gauge);
        for row in rows {
            if let Outcome::Usage(usage) = &row.outcome {
                family.sample(&labels(row.mount), value(usage));
            }
        }
    }
    let readonly = out.family(
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        Kind::Gauge,
    );
    for row in rows {
        let value = if row.mount.read_only { 1.0 } else { 0.0 };
        readonly.sample(&labels(row.mount), value);
    }
    let error = out.family(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
        Kind::Gauge,
    );
    for row in rows {
        let failed = !matches!(row.outcome, Outcome::Usage(_));
        error.sample(&labels(row.mount), if failed { 1.0 } else { 0.0 });
    }
    let info = out.family(
        "node_filesystem_mount_info",
        "Filesystem mount information.",
        Kind::Gauge,
    );
    for row in rows {
        let m = &row.mount;
        info.sample(
            &[
                ("device", &m.device),
                ("major", &m.major),
                ("minor", &m.minor),
                ("mountpoint", &m.mount_point),
            ],
            1.0,
        );
    }
}

/// Every mount of a mountinfo file, in file order. A malformed line is logged (file, line,
/// what is wrong) and skipped; a file with no valid line at all is an error.
fn parse_mountinfo(text: &str, path: &Path, paths: &Paths) -> Result<Vec<Mount>, CollectorError> {
    let mut mounts = Vec::new();
    let mut bad = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match MountInfo::from_line(line) {
            Ok(info) => mounts.push(mount(info, paths)),
            Err(_) => {
                bad += 1;
                tracing::warn!(
                    "{}:{}: skipped: {}",
                    path.display(),
                    index + 1,
                    describe_bad_line(line)
                );
            }
        }
    }
    if mounts.is_empty() && bad > 0 {
        return Err(CollectorError::parse(path, "no valid line"));
    }
    Ok(mounts)
}

fn mount(info: MountInfo, paths: &Paths) -> Mount {
    let (major, minor) = match info.majmin.split_once(':') {
        Some((major, minor)) => (major.to_owned(), minor.to_owned()),
        None => (info.majmin.clone(), String::new()),
    };
    let mount_point = info.mount_point.to_string_lossy();
    let mount_point = unescape(&mount_point);
    Mount {
        // procfs-core turns the source "none" into None; node_exporter keeps "none".
        device: info
            .mount_source
            .as_deref()
            .map_or_else(|| "none".to_owned(), |s| unescape(s).into_owned()),
        fs_type: info.fs_type,
        mount_point: paths.host_mount_point(&mount_point).to_owned(),
        major,
        minor,
        // Read-only if the mount is (a read-only bind of a writable filesystem) or the
        // superblock is (ext4 after `errors=remount-ro` struck): what `/proc/mounts` shows.
        read_only: info.mount_options.contains_key("ro") || info.super_options.contains_key("ro"),
    }
}

/// The kernel writes space, tab, newline and backslash in mountinfo paths as three-digit
/// octal escapes (`/mnt/my\040disk`).
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| (d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What is wrong with a line procfs-core rejected, in mountinfo's own field names
/// (proc_pid_mountinfo(5)).
fn describe_bad_line(line: &str) -> String {
    let fields: Vec<&str> = line.split(' ').collect();
    let Some(separator) = fields.iter().position(|f| *f == "-") else {
        return "no \" - \" separator before the filesystem type".to_owned();
    };
    if separator < 6 {
        return format!("expected 6 fields before \" - \", found {separator}");
    }
    if fields.len() < separator + 4 {
        return "expected filesystem type, source and super options after \" - \"".to_owned();
    }
    for (field, name) in [(0, "mount ID"), (1, "parent ID")] {
        if fields[field].parse::<i32>().is_err() {
            return format!("{name}: invalid number {:?}", fields[field]);
        }
    }
    if !fields[2].contains(':') {
        return format!("major:minor: invalid value {:?}", fields[2]);
    }
    "unparsable line".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE};
    use statfs::StatFs;
    use std::time::Duration;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 0:25 / /mnt/my\\040disk ro,nosuid - vfat /dev/sdb1 rw
29 27 0:26 / /srv/data rw - nfs4 server:/export rw,vers=4.2
30 27 0:27 / /run/user/1000 rw,nosuid - tmpfs none rw,size=100k
31 27 8:3 / /var rw,relatime - ext4 /dev/sda3 ro,errors=remount-ro
";

    fn paths(rootfs: &str) -> Paths {
        Paths {
            rootfs: rootfs.into(),
            ..Paths::default()
        }
    }

    #[test]
    fn parses_labels_like_node_exporter() {
        let mounts = parse_mountinfo(MOUNTINFO, Path::new("mountinfo"), &paths("/")).unwrap();
        assert_eq!(mounts.len(), 7);
        assert_eq!(
            mounts[3],
            Mount {
                device: "/dev/sdb1".into(),
                fs_type: "vfat".into(),
                mount_point: "/mnt/my disk".into(),
                major: "0".into(),
                minor: "25".into(),
                read_only: true,
            }
        );
        assert_eq!(mounts[5].device, "none");
        assert!(!mounts[2].read_only);
        // Remounted read-only by the filesystem itself: only the superblock says so.
        assert!(mounts[6].read_only);
    }

    #[test]
    fn strips_the_rootfs_prefix_from_mount_points() {
        let text = "27 1 254:0 / /host rw - ext4 /dev/vda rw\n\
                    28 27 254:1 / /host/var rw - ext4 /dev/vdb rw\n";
        let mounts = parse_mountinfo(text, Path::new("mountinfo"), &paths("/host")).unwrap();
        let points: Vec<_> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, ["/", "/var"]);
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn malformed_lines_are_skipped_and_described() {
        let text = format!("{MOUNTINFO}garbage line\n31 27 0:28 / /x rw shared:1\n");
        let mounts = parse_mountinfo(&text, Path::new("mountinfo"), &paths("/")).unwrap();
        assert_eq!(mounts.len(), 7);
        assert_eq!(
            describe_bad_line("garbage line"),
            "no \" - \" separator before the filesystem type"
        );
        assert_eq!(
            describe_bad_line("x 27 0:28 / /x rw - ext4 /dev/x rw"),
            "mount ID: invalid number \"x\""
        );
        assert_eq!(
            describe_bad_line("31 27 0:28 / /x - ext4 /dev/x rw"),
            "expected 6 fields before \" - \", found 5"
        );
        let err = parse_mountinfo("garbage\n", Path::new("/p/1/mountinfo"), &paths("/"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "parsing /p/1/mountinfo: no valid line");
    }

    fn collector(procfs: &Path, rootfs: &Path) -> FilesystemCollector {
        FilesystemCollector {
            mountinfo: [procfs.join("1/mountinfo"), procfs.join("self/mountinfo")],
            paths: Paths {
                procfs: procfs.to_owned(),
                sysfs: "/sys".into(),
                rootfs: rootfs.to_owned(),
            },
            mount_points_exclude: Pattern::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap(),
            fs_types_exclude: Pattern::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap(),
            statfs: TimedStatFs::new(Statvfs, Duration::from_secs(5)),
        }
    }

    fn sample_lines(set: &MetricSet) -> Vec<String> {
        let mut set = set.clone();
        set.normalize();
        set.encode_text()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// Real statfs on real directories: a temp dir stands in for the host root, and the
    /// mountinfo fixture names mounts under it.
    #[test]
    fn measures_mounts_under_rootfs_and_reports_failures() {
        let procfs = tempfile::tempdir().unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs.path().join("data")).unwrap();
        std::fs::create_dir_all(procfs.path().join("self")).unwrap();
        // No `1/` directory: PID 1 hidden, so the collector falls back to `self`.
        std::fs::write(
            procfs.path().join("self/mountinfo"),
            "22 27 0:21 / /proc rw - proc proc rw\n\
             27 1 254:0 / /data rw - ext4 /dev/vda rw\n\
             27 1 254:0 / /data rw - ext4 /dev/vda rw\n\
             28 27 0:25 / /missing ro - ext4 /dev/vdb rw\n",
        )
        .unwrap();
        let c = collector(procfs.path(), rootfs.path());
        let mut out = MetricSet::default();
        c.collect(&mut out).unwrap();
        let lines = sample_lines(&out);
        let labels = "{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/data\"}";
        let missing = "{device=\"/dev/vdb\",fstype=\"ext4\",mountpoint=\"/missing\"}";
        let expected = Statvfs.usage(&rootfs.path().join("data")).unwrap();
        assert!(lines.contains(&format!(
            "node_filesystem_size_bytes{labels} {}",
            crate::exposition::format_value(expected.size)
        )));
        assert!(lines.contains(&format!(
            "node_filesystem_files{labels} {}",
            crate::exposition::format_value(expected.files)
        )));
        assert!(lines.contains(&format!("node_filesystem_device_error{labels} 0")));
        assert!(lines.contains(&format!("node_filesystem_device_error{missing} 1")));
        assert!(lines.contains(&format!("node_filesystem_readonly{missing} 1")));
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with(&format!("node_filesystem_size_bytes{missing}")))
        );
        assert!(lines.contains(
            &"node_filesystem_mount_info{device=\"/dev/vda\",major=\"254\",minor=\"0\",mountpoint=\"/data\"} 1"
                .to_owned()
        ));
        // /proc is excluded by type and mount point; the duplicate /data line is one series.
        assert!(!lines.iter().any(|l| l.contains("mountpoint=\"/proc\"")));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("node_filesystem_avail_bytes"))
                .count(),
            1
        );
    }

    #[test]
    fn missing_mountinfo_names_the_file() {
        let procfs = tempfile::tempdir().unwrap();
        let c = collector(procfs.path(), Path::new("/"));
        let err = c
            .collect(&mut MetricSet::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("self/mountinfo"), "{err}");
    }
}
