//! Roots of the filesystems we read, so tests (and containers) can point us elsewhere.
//!
//! Every collector resolves its files through [`Paths`], as node_exporter's `procFilePath`
//! does, which is what lets the golden test run the real binary against a fixture tree.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

impl Paths {
    /// A file under the procfs root, e.g. `proc("meminfo")`.
    pub fn proc(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.procfs.join(relative)
    }

    /// A file under the sysfs root, e.g. `sys("class/hwmon")`.
    pub fn sys(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.sysfs.join(relative)
    }

    /// Where a host mount point is visible to us (inside a container the host's `/` is
    /// usually mounted at `--path.rootfs`).
    pub fn rooted(&self, mount_point: &str) -> PathBuf {
        self.rootfs.join(mount_point.trim_start_matches('/'))
    }

    /// The host mount point as the host sees it, for labels: strips the rootfs prefix that
    /// `/proc/1/mountinfo` shows when we run in a container with the host root mounted.
    pub fn host_mount_point<'a>(&self, mount_point: &'a str) -> &'a str {
        let root = self.rootfs.to_str().unwrap_or("/").trim_end_matches('/');
        if root.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(root) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_roots() {
        let paths = Paths {
            procfs: "fixtures/proc".into(),
            sysfs: "fixtures/sys".into(),
            rootfs: "/rootfs".into(),
        };
        assert_eq!(
            paths.proc("meminfo"),
            PathBuf::from("fixtures/proc/meminfo")
        );
        assert_eq!(
            paths.sys("class/hwmon"),
            PathBuf::from("fixtures/sys/class/hwmon")
        );
        assert_eq!(paths.rooted("/var/lib"), PathBuf::from("/rootfs/var/lib"));
        assert_eq!(paths.host_mount_point("/rootfs/var"), "/var");
        assert_eq!(paths.host_mount_point("/rootfs"), "/");
        assert_eq!(paths.host_mount_point("/rootfsx"), "/rootfsx");
        assert_eq!(Paths::default().host_mount_point("/var"), "/var");
    }
}
