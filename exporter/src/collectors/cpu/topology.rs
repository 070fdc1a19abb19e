//! Which `cpuN` directory holds each core's and each package's thermal-throttle counters.
//!
//! Finding out takes a directory listing and two `topology/` files per CPU, and the answer
//! only changes when CPUs go offline or come online (a CPU's core and package ids are fixed
//! while it is online). So it is worked out again only when the set of CPUs in `/proc/stat`
//! differs from the last scrape's; the counters themselves are read on every scrape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{cpu_dirs, read_u64};

/// The counter files to read, each core and package once, from the first CPU that belongs
/// to it. Sorted by (package, core) and package, the order the series are written in.
#[derive(Debug, Default, PartialEq)]
pub struct ThrottleFiles {
    pub cores: BTreeMap<(u64, u64), PathBuf>,
    pub packages: BTreeMap<u64, PathBuf>,
}

/// [`ThrottleFiles`] remembered for one set of online CPUs.
pub struct Topology {
    cpu_dir: PathBuf,
    last: Mutex<Option<(Vec<u32>, Arc<ThrottleFiles>)>>,
}

impl Topology {
    pub fn new(cpu_dir: PathBuf) -> Self {
        Self {
            cpu_dir,
            last: Mutex::new(None),
        }
    }

    /// The files for these online CPUs (as numbered in `/proc/stat`), from the cache when
    /// the set is the one seen last time.
    pub fn throttle_files(&self, online: &[u32]) -> Arc<ThrottleFiles> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.as_ref() {
            Some((cpus, files)) if cpus == online => Arc::clone(files),
            _ => {
                let files = Arc::new(discover(&self.cpu_dir));
                *last = Some((online.to_vec(), Arc::clone(&files)));
                files
            }
        }
    }
}

fn discover(cpu_dir: &Path) -> ThrottleFiles {
    let mut files = ThrottleFiles::default();
    for (_, dir) in cpu_dirs(cpu_dir) {
        let (Some(package), Some(core)) = (
            read_u64(&dir.join("topology/physical_package_id")),
            read_u64(&dir.join("topology/core_id")),
        ) else {
            continue;
        };
        files
            .cores
            .entry((package, core))
            .or_insert_with(|| dir.join("thermal_throttle/core_throttle_count"));
        files
            .packages
            .entry(package)
            .or_insert_with(|| dir.join("thermal_throttle/package_throttle_count"));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(root: &Path, n: u32, package: u64, core: u64) {
        let topology = root.join(format!("cpu{n}/topology"));
        std::fs::create_dir_all(&topology).unwrap();
        std::fs::write(topology.join("physical_package_id"), format!("{package}\n")).unwrap();
        std::fs::write(topology.join("core_id"), format!("{core}\n")).unwrap();
    }

    #[test]
    fn first_cpu_of_each_core_and_package_rediscovered_when_the_cpu_set_changes() {
        let root = tempfile::tempdir().unwrap();
        cpu(root.path(), 0, 0, 0);
        cpu(root.path(), 1, 0, 0); // hyperthread sibling of cpu0
        cpu(root.path(), 2, 0, 1);
        let topology = Topology::new(root.path().to_owned());
        let files = topology.throttle_files(&[0, 1, 2]);
        let counter =
            |n: u32, file: &str| root.path().join(format!("cpu{n}/thermal_throttle/{file}"));
        assert_eq!(
            files.cores.iter().collect::<Vec<_>>(),
            [
                (&(0, 0), &counter(0, "core_throttle_count")),
                (&(0, 1), &counter(2, "core_throttle_count"))
            ]
        );
        assert_eq!(
            files.packages.iter().collect::<Vec<_>>(),
            [(&0, &counter(0, "package_throttle_count"))]
        );

        // Same CPU set: the topology files are not read again.
        cpu(root.path(), 3, 1, 0);
        assert_eq!(topology.throttle_files(&[0, 1, 2]), files);
        // cpu3 came online: its package shows up.
        let files = topology.throttle_files(&[0, 1, 2, 3]);
        assert_eq!(
            files.packages.get(&1),
            Some(&counter(3, "package_throttle_count"))
        );
    }
}
