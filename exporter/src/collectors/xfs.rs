//! `node_xfs_*{device}` from sysfs `fs/xfs/<device>/stats/stats`, as node_exporter's `xfs`
//! collector: per XFS filesystem, extent and block allocation, B-tree work, directory and
//! inode-cache operations, read and write calls.
//!
//! Inode-cache misses against attempts and B-tree compares per lookup show a filesystem whose
//! metadata no longer fits in memory, which is where XFS on a busy file server slows down.
//! The top-level `fs/xfs/stats` (all filesystems together) is not reported, as in
//! node_exporter. No XFS mounted: no such directories, nothing to report.

use std::path::PathBuf;

use super::tagged_lines::TaggedLines;
use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file, sorted_entries};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "xfs",
    default_enabled: true,
    help: "Per-filesystem XFS allocation, B-tree, directory, inode-cache and I/O call counters from /sys/fs/xfs.",
    build,
};

/// Each series: the stats line's tag, the field's position on it, the metric name after
/// `node_xfs_`, and its help. All are counters.
const SERIES: [(&str, usize, &str, &str); 39] = [
    (
        "extent_alloc",
        0,
        "extent_allocation_extents_allocated_total",
        "Number of extents allocated for a filesystem.",
    ),
    (
        "extent_alloc",
        1,
        "extent_allocation_blocks_allocated_total",
        "Number of blocks allocated for a filesystem.",
    ),
    (
        "extent_alloc",
        2,
        "extent_allocation_extents_freed_total",
        "Number of extents freed for a filesystem.",
    ),
    (
        "extent_alloc",
        3,
        "extent_allocation_blocks_freed_total",
        "Number of blocks freed for a filesystem.",
    ),
    (
        "abt",
        0,
        "allocation_btree_lookups_total",
        "Number of allocation B-tree lookups for a filesystem.",
    ),
    (
        "abt",
        1,
        "allocation_btree_compares_total",
        "Number of allocation B-tree compares for a filesystem.",
    ),
    (
        "abt",
        2,
        "allocation_btree_records_inserted_total",
        "Number of allocation B-tree records inserted for a filesystem.",
    ),
    (
        "abt",
        3,
        "allocation_btree_records_deleted_total",
        "Number of allocation B-tree records deleted for a filesystem.",
    ),
    (
        "blk_map",
        0,
        "block_mapping_reads_total",
        "Number of block map for read operations for a filesystem.",
    ),
    (
        "blk_map",
        1,
        "block_mapping_writes_total",
        "Number of block map for write operations for a filesystem.",
    ),
    (
        "blk_map",
        2,
        "block_mapping_unmaps_total",
        "Number of block unmaps (deletes) for a filesystem.",
    ),
    (
        "blk_map",
        3,
        "block_mapping_extent_list_insertions_total",
        "Number of extent list insertions for a filesystem.",
    ),
    (
        "blk_map",
        4,
        "block_mapping_extent_list_deletions_total",
        "Number of extent list deletions for a filesystem.",
    ),
    (
        "blk_map",
        5,
        "block_mapping_extent_list_lookups_total",
        "Number of extent list lookups for a filesystem.",
    ),
    (
        "blk_map",
        6,
        "block_mapping_extent_list_compares_total",
        "Number of extent list compares for a filesystem.",
    ),
    (
        "bmbt",
        0,
        "block_map_btree_lookups_total",
        "Number of block map B-tree lookups for a filesystem.",
    ),
    (
        "bmbt",
        1,
        "block_map_btree_compares_total",
        "Number of block map B-tree compares for a filesystem.",
    ),
    (
        "bmbt",
        2,
        "block_map_btree_records_inserted_total",
        "Number of block map B-tree records inserted for a filesystem.",
    ),
    (
        "bmbt",
        3,
        "block_map_btree_records_deleted_total",
        "Number of block map B-tree records deleted for a filesystem.",
    ),
    (
        "dir",
        0,
        "directory_operation_lookup_total",
        "Number of file name directory lookups which miss the operating systems directory name lookup cache.",
    ),
    (
        "dir",
        1,
        "directory_operation_create_total",
        "Number of times a new directory entry was created for a filesystem.",
    ),
    (
        "dir",
        2,
        "directory_operation_remove_total",
        "Number of times an existing directory entry was created for a filesystem.",
    ),
    (
        "dir",
        3,
        "directory_operation_getdents_total",
        "Number of times the directory getdents operation was performed for a filesystem.",
    ),
    (
        "ig",
        0,
        "inode_operation_attempts_total",
        "Number of times the OS looked for an XFS inode in the inode cache.",
    ),
    (
        "ig",
        1,
        "inode_operation_found_total",
        "Number of times the OS looked for and found an XFS inode in the inode cache.",
    ),
    (
        "ig",
        2,
        "inode_operation_recycled_total",
        "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.",
    ),
    (
        "ig",
        3,
        "inode_operation_missed_total",
        "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
    ),
    (
        "ig",
        4,
        "inode_operation_duplicates_total",
        "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.",
    ),
    (
        "ig",
        5,
        "inode_operation_reclaims_total",
        "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.",
    ),
    (
        "ig",
        6,
        "inode_operation_attribute_changes_total",
        "Number of times the OS explicitly changed the attributes of an XFS inode.",
    ),
    // The kernel writes write calls before read calls.
    (
        "rw",
        0,
        "write_calls_total",
        "Number of write(2) system calls made to files in a filesystem.",
    ),
    (
        "rw",
        1,
        "read_calls_total",
        "Number of read(2) system calls made to files in a filesystem.",
    ),
    (
        "vnodes",
        0,
        "vnode_active_total",
        "Number of vnodes not on free lists for a filesystem.",
    ),
    (
        "vnodes",
        1,
        "vnode_allocate_total",
        "Number of times vn_alloc called for a filesystem.",
    ),
    (
        "vnodes",
        2,
        "vnode_get_total",
        "Number of times vn_get called for a filesystem.",
    ),
    (
        "vnodes",
        3,
        "vnode_hold_total",
        "Number of times vn_hold called for a filesystem.",
    ),
    (
        "vnodes",
        4,
        "vnode_release_total",
        "Number of times vn_rele called for a filesystem.",
    ),
    (
        "vnodes",
        5,
        "vnode_reclaim_total",
        "Number of times vn_reclaim called for a filesystem.",
    ),
    (
        "vnodes",
        6,
        "vnode_remove_total",
        "Number of times vn_remove called for a filesystem.",
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(XfsCollector {
        root: ctx.paths.sys("fs/xfs"),
    }))
}

struct XfsCollector {
    root: PathBuf,
}

impl Collector for XfsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        // Devices are the directories with a `stats/stats` file; the top-level `stats`
        // directory holds the file itself, not another level.
        let devices: Vec<(String, PathBuf)> = sorted_entries(&self.root)?
            .into_iter()
            .map(|(device, dir)| (device, dir.join("stats/stats")))
            .filter(|(_, stats)| stats.is_file())
            .collect();
        let mut readings = Vec::with_capacity(devices.len());
        for (device, path) in &devices {
            let text = read_file(path)?;
            let lines = TaggedLines::parse(path, &text);
            let values = SERIES
                .iter()
                .map(|(tag, index, _, _)| lines.value(tag, *index))
                .collect::<Result<Vec<u64>, _>>()?;
            readings.push((device, values));
        }
        if readings.is_empty() {
            return Ok(());
        }
        for (column, (_, _, name, help)) in SERIES.iter().enumerate() {
            let family = out.family(format!("node_xfs_{name}"), *help, Kind::Counter);
            for (device, values) in &readings {
                family.sample(&[("device", device)], values[column] as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    #[test]
    fn per_device_counters_with_absent_lines_as_zero_and_the_total_left_out() {
        let root = tempfile::tempdir().unwrap();
        let collector = XfsCollector {
            root: root.path().join("xfs"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        for (dir, text) in [
            ("xfs/sda1/stats", "extent_alloc 1 2 3 4\nrw 107739 94045\n"),
            ("xfs/stats", "extent_alloc 9 9 9 9\n"),
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
            std::fs::write(root.path().join(dir).join("stats"), text).unwrap();
        }
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let value = |name: &str| {
            let family = out.families.iter().find(|f| f.name == name).unwrap();
            assert_eq!(family.samples.len(), 1, "{name}");
            assert_eq!(family.samples[0].label_pairs(), [("device", "sda1")]);
            family.samples[0].value.clone()
        };
        assert_eq!(
            value("node_xfs_extent_allocation_blocks_freed_total"),
            Value::Number(4.0)
        );
        assert_eq!(value("node_xfs_write_calls_total"), Value::Number(107739.0));
        assert_eq!(value("node_xfs_read_calls_total"), Value::Number(94045.0));
        assert_eq!(value("node_xfs_vnode_remove_total"), Value::Number(0.0));
    }
}
