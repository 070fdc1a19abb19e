//! `node_zfs_*` from OpenZFS's kstats under `/proc/spl/kstat/zfs`, as node_exporter's `zfs`
//! collector: the ARC (size, target, hits and misses), prefetch, ZIL, DMU transactions and
//! the rest of the module-wide kstats, and per pool its state, I/O counters and per-dataset
//! operations.
//!
//! ZFS keeps its cache (the ARC) outside the page cache, so `node_memory_*` alone shows a
//! ZFS host as short of memory while the ARC would give it back; `node_zfs_arc_size` against
//! `node_zfs_arc_c_max` says how much. A pool that is not `online` is the alert.
//!
//! Every kstat is exported under its own name (`arcstats` `hits` → `node_zfs_arc_hits`),
//! untyped as in node_exporter, since the files mix counters and gauges and OpenZFS adds
//! kstats between releases. Only kstats of type 4 (`KSTAT_DATA_UINT64`) are numbers to it;
//! strings and signed kstats are left out, as node_exporter does. No ZFS module: no such directory, nothing to report.

use std::path::{Path, PathBuf};

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, metric_name_part, read_file_if_present,
    sorted_entries,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "zfs",
    default_enabled: true,
    help: "OpenZFS ARC, ZIL, prefetch and DMU kstats, and per-pool state, I/O and dataset counters from /proc/spl/kstat/zfs.",
    build,
};

/// The module-wide kstat files node_exporter 1.5 reads and the name part each gets.
const MODULE_KSTATS: [(&str, &str); 10] = [
    ("abdstats", "abd"),
    ("arcstats", "arc"),
    ("dmu_tx", "dmu_tx"),
    ("dnodestats", "dnode"),
    ("fm", "fm"),
    ("vdev_cache_stats", "vdev_cache"),
    ("vdev_mirror_stats", "vdev_mirror"),
    ("xuio_stats", "xuio"),
    ("zfetchstats", "zfetch"),
    ("zil", "zil"),
];

/// The states a pool's `state` file may hold, as node_exporter's labels. Any other state
/// (`SUSPENDED`) sets none of them.
const POOL_STATES: [&str; 6] = [
    "degraded", "faulted", "offline", "online", "removed", "unavail",
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(ZfsCollector {
        root: ctx.paths.proc("spl/kstat/zfs"),
    }))
}

struct ZfsCollector {
    root: PathBuf,
}

impl Collector for ZfsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let pools: Vec<(String, PathBuf)> = sorted_entries(&self.root)?
            .into_iter()
            .filter(|(_, path)| path.is_dir())
            .collect();

        for (file, subsystem) in MODULE_KSTATS {
            let path = self.root.join(file);
            let Some(text) = read_file_if_present(&path)? else {
                continue;
            };
            for (name, value) in unsigned(&named_kstats(&path, &text)?) {
                out.family(
                    format!("node_zfs_{subsystem}_{}", metric_name_part(name)),
                    format!("kstat.zfs.misc.{file}.{name}"),
                    Kind::Untyped,
                )
                .sample(&[], value as f64);
            }
        }
        for (pool, dir) in &pools {
            self.collect_pool(pool, dir, out)?;
        }
        Ok(())
    }
}

impl ZfsCollector {
    fn collect_pool(
        &self,
        pool: &str,
        dir: &Path,
        out: &mut MetricSet,
    ) -> Result<(), CollectorError> {
        if let Some(state) = read_file_if_present(&dir.join("state"))? {
            let state = state.trim().to_ascii_lowercase();
            let family = out.family("node_zfs_zpool_state", "kstat.zfs.misc.state", Kind::Gauge);
            for known in POOL_STATES {
                let value = if state == known { 1.0 } else { 0.0 };
                family.sample(&[("state", known), ("zpool", pool)], value);
            }
        }
        let io = dir.join("io");
        if let Some(text) = read_file_if_present(&io)? {
            for (name, value) in columns(&io, &text)? {
                out.family(
                    format!("node_zfs_zpool_{}", metric_name_part(name)),
                    format!("kstat.zfs.misc.io.{name}"),
                    Kind::Untyped,
                )
                .sample(&[("zpool", pool)], value as f64);
            }
        }
        let objsets = sorted_entries(dir)?
            .into_iter()
            .filter(|(name, _)| name.starts_with("objset-"));
        for (_, path) in objsets {
            let Some(text) = read_file_if_present(&path)? else {
                continue; // The dataset was unmounted since the directory was listed.
            };
            let kstats = named_kstats(&path, &text)?;
            let Some(dataset) = kstats.iter().find(|k| k.name == "dataset_name") else {
                return Err(CollectorError::parse(&path, "no dataset_name"));
            };
            for (name, value) in unsigned(&kstats) {
                out.family(
                    format!("node_zfs_zpool_dataset_{}", metric_name_part(name)),
                    format!("kstat.zfs.misc.objset.{name}"),
                    Kind::Untyped,
                )
                .sample(&[("dataset", dataset.data), ("zpool", pool)], value as f64);
            }
        }
        Ok(())
    }
}

/// One row of a named kstat (`hits  4  8772612`).
struct Kstat<'a> {
    name: &'a str,
    /// The kstat data type: 4 is `KSTAT_DATA_UINT64`, 3 signed, 7 a string.
    kind: &'a str,
    data: &'a str,
}

/// The rows of a named kstat: a header line, a `name type data` line, then one row per kstat.
fn named_kstats<'a>(path: &Path, text: &'a str) -> Result<Vec<Kstat<'a>>, CollectorError> {
    let mut lines = text.lines().enumerate().skip(1);
    match lines.next() {
        Some((_, header)) if header.split_whitespace().eq(["name", "type", "data"]) => {}
        _ => {
            return Err(CollectorError::parse(
                path,
                "line 2: expected 'name type data'",
            ));
        }
    }
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next(), fields.next()) {
                (Some(name), Some(kind), Some(data)) => Ok(Kstat { name, kind, data }),
                _ => Err(CollectorError::parse(
                    path,
                    format!(
                        "line {}: expected name, type and data: {line:?}",
                        number + 1
                    ),
                )),
            }
        })
        .collect()
}

/// The unsigned 64-bit kstats, the only ones node_exporter reports.
fn unsigned<'a>(kstats: &[Kstat<'a>]) -> Vec<(&'a str, u64)> {
    kstats
        .iter()
        .filter(|k| k.kind == "4")
        .filter_map(|k| Some((k.name, k.data.parse().ok()?)))
        .collect()
}

/// The columns of an I/O kstat: a header line, a line of names, a line of values.
fn columns<'a>(path: &Path, text: &'a str) -> Result<Vec<(&'a str, u64)>, CollectorError> {
    let mut lines = text.lines().skip(1);
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Err(CollectorError::parse(
            path,
            "expected a line of names and one of values",
        ));
    };
    let names: Vec<&str> = names.split_whitespace().collect();
    let values: Vec<&str> = values.split_whitespace().collect();
    if names.len() != values.len() {
        return Err(CollectorError::parse(
            path,
            format!("{} names but {} values", names.len(), values.len()),
        ));
    }
    names
        .into_iter()
        .zip(values)
        .map(|(name, value)| {
            value.parse().map(|value| (name, value)).map_err(|_| {
                CollectorError::parse(path, format!("line 3: {name}: not a count: {value:?}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_and_pool_kstats_with_unsigned_values_only() {
        let root = tempfile::tempdir().unwrap();
        let collector = ZfsCollector {
            root: root.path().join("zfs"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let zfs = root.path().join("zfs");
        std::fs::create_dir_all(zfs.join("tank")).unwrap();
        let write = |name: &str, text: &str| std::fs::write(zfs.join(name), text).unwrap();
        write(
            "arcstats",
            "6 1 0x01 91 4368 5266997922 97951858082072\nname type data\n\
             hits 4 8772612\nc_max 4 4294967296\narc_need_free 3 0\n",
        );
        write("tank/state", "DEGRADED\n");
        write(
            "tank/io",
            "12 3 0x00 1 80 2225326830828 32953476980628\nnread nwritten reads\n1884160 3206144 22\n",
        );
        write(
            "tank/objset-0x36",
            "49 1 0x01 7 2160 221578688875 6665999035587\nname type data\n\
             dataset_name 7 tank/home\nwrites 4 5\n",
        );
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.value_of("node_zfs_arc_hits", &[]), Some(8772612.0));
        assert_eq!(out.value_of("node_zfs_arc_arc_need_free", &[]), None);
        let state = |s| out.value_of("node_zfs_zpool_state", &[("state", s), ("zpool", "tank")]);
        assert_eq!(state("degraded"), Some(1.0));
        assert_eq!(state("online"), Some(0.0));
        assert_eq!(
            out.value_of("node_zfs_zpool_nwritten", &[("zpool", "tank")]),
            Some(3206144.0)
        );
        assert_eq!(
            out.value_of(
                "node_zfs_zpool_dataset_writes",
                &[("dataset", "tank/home"), ("zpool", "tank")]
            ),
            Some(5.0)
        );

        write("tank/io", "h\nnread nwritten\n1\n");
        let error = collector
            .collect(&mut MetricSet::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("2 names but 1 values"), "{error}");
        write("tank/io", "h\nnread\n1\n");
        write("arcstats", "h\nname data\nhits 4 1\n");
        let error = collector
            .collect(&mut MetricSet::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("arcstats") && error.contains("line 2"),
            "{error}"
        );
    }
}
