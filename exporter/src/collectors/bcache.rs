//! `node_bcache_*` from sysfs `fs/bcache/<set uuid>/`, as node_exporter's `bcache` collector:
//! per cache set its btree and journal, per backing device (`bdevN`) its hits, misses, bypassed
//! IO, dirty data and writeback controller, and per cache device (`cacheN`) bytes written and
//! IO errors.
//!
//! The hit ratio says whether the SSD cache earns its place; dirty data near the writeback
//! target with a low `cache_available_percent` says writes will soon go at the backing
//! disk's speed. Sizes come human-readable (`1.5M`, from the kernel's `bch_hprint`: one
//! decimal digit in tenths of the next-lower unit) and are read back as node_exporter does,
//! so the values are the same. No bcache: nothing to report.

use std::path::{Path, PathBuf};

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file, sorted_entries};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "bcache",
    default_enabled: true,
    help: "bcache cache sets, backing and cache devices from /sys/fs/bcache.",
    build,
};

/// How a file's value is read.
#[derive(Clone, Copy)]
enum Format {
    /// A plain number.
    Number,
    /// A `bch_hprint` size (`1.5M`, `12.3k`).
    Size,
    /// Microseconds, reported in seconds.
    Microseconds,
}

/// One series read from a file: the path under its directory, the metric name, help, type
/// and format.
type Spec = (&'static str, &'static str, &'static str, Kind, Format);

/// Per cache set, labelled `uuid`.
const SET: [Spec; 10] = [
    (
        "average_key_size",
        "node_bcache_average_key_size_sectors",
        "Average data per key in the btree (sectors).",
        Kind::Gauge,
        Format::Size,
    ),
    (
        "btree_cache_size",
        "node_bcache_btree_cache_size_bytes",
        "Amount of memory currently used by the btree cache.",
        Kind::Gauge,
        Format::Size,
    ),
    (
        "cache_available_percent",
        "node_bcache_cache_available_percent",
        "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "congested",
        "node_bcache_congested",
        "Congestion.",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "root_usage_percent",
        "node_bcache_root_usage_percent",
        "Percentage of the root btree node in use (tree depth increases if too high).",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "tree_depth",
        "node_bcache_tree_depth",
        "Depth of the btree.",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "internal/active_journal_entries",
        "node_bcache_active_journal_entries",
        "Number of journal entries that are newer than the index.",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "internal/btree_nodes",
        "node_bcache_btree_nodes",
        "Total nodes in the btree.",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "internal/btree_read_average_duration_us",
        "node_bcache_btree_read_average_duration_seconds",
        "Average btree read duration.",
        Kind::Gauge,
        Format::Microseconds,
    ),
    (
        "internal/cache_read_races",
        "node_bcache_cache_read_races_total",
        "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
        Kind::Counter,
        Format::Number,
    ),
];

/// Per backing device, labelled `backing_device` and `uuid`.
const BACKING: [Spec; 8] = [
    (
        "dirty_data",
        "node_bcache_dirty_data_bytes",
        "Amount of dirty data for this backing device in the cache.",
        Kind::Gauge,
        Format::Size,
    ),
    (
        "stats_total/bypassed",
        "node_bcache_bypassed_bytes_total",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
        Kind::Counter,
        Format::Size,
    ),
    (
        "stats_total/cache_bypass_hits",
        "node_bcache_cache_bypass_hits_total",
        "Hits for IO intended to skip the cache.",
        Kind::Counter,
        Format::Number,
    ),
    (
        "stats_total/cache_bypass_misses",
        "node_bcache_cache_bypass_misses_total",
        "Misses for IO intended to skip the cache.",
        Kind::Counter,
        Format::Number,
    ),
    (
        "stats_total/cache_hits",
        "node_bcache_cache_hits_total",
        "Hits counted per individual IO as bcache sees them.",
        Kind::Counter,
        Format::Number,
    ),
    (
        "stats_total/cache_miss_collisions",
        "node_bcache_cache_miss_collisions_total",
        "Instances where data insertion from cache miss raced with write (data already present).",
        Kind::Counter,
        Format::Number,
    ),
    (
        "stats_total/cache_misses",
        "node_bcache_cache_misses_total",
        "Misses counted per individual IO as bcache sees them.",
        Kind::Counter,
        Format::Number,
    ),
    (
        "stats_total/cache_readaheads",
        "node_bcache_cache_readaheads_total",
        "Count of times readahead occurred.",
        Kind::Counter,
        Format::Number,
    ),
];

/// The lines of a backing device's `writeback_rate_debug`, labelled like [`BACKING`].
const WRITEBACK: [(&str, &str, &str); 5] = [
    (
        "rate",
        "node_bcache_writeback_rate",
        "Current writeback rate for this backing device in bytes.",
    ),
    (
        "target",
        "node_bcache_dirty_target_bytes",
        "Current dirty data target threshold for this backing device in bytes.",
    ),
    (
        "proportional",
        "node_bcache_writeback_rate_proportional_term",
        "Current result of proportional controller, part of writeback rate",
    ),
    (
        "integral",
        "node_bcache_writeback_rate_integral_term",
        "Current result of integral controller, part of writeback rate",
    ),
    (
        "change",
        "node_bcache_writeback_change",
        "Last writeback rate change step for this backing device.",
    ),
];

/// Per cache device, labelled `cache_device` and `uuid`.
const CACHE: [Spec; 3] = [
    (
        "io_errors",
        "node_bcache_io_errors",
        "Number of errors that have occurred, decayed by io_error_halflife.",
        Kind::Gauge,
        Format::Number,
    ),
    (
        "metadata_written",
        "node_bcache_metadata_written_bytes_total",
        "Sum of all non data writes (btree writes and all other metadata).",
        Kind::Counter,
        Format::Size,
    ),
    (
        "written",
        "node_bcache_written_bytes_total",
        "Sum of all data that has been written to the cache.",
        Kind::Counter,
        Format::Size,
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(BcacheCollector {
        root: ctx.paths.sys("fs/bcache"),
    }))
}

struct BcacheCollector {
    root: PathBuf,
}

impl Collector for BcacheCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        // Cache sets are the directories; `register` and its siblings are files.
        for (uuid, set) in directories(&self.root, "")? {
            for (file, name, help, kind, format) in SET {
                let value = read_value(&set.join(file), format)?;
                out.family(name, help, kind)
                    .sample(&[("uuid", &uuid)], value);
            }
            for (device, dir) in directories(&set, "bdev")? {
                let labels = [("backing_device", device.as_str()), ("uuid", uuid.as_str())];
                for (file, name, help, kind, format) in BACKING {
                    let value = read_value(&dir.join(file), format)?;
                    out.family(name, help, kind).sample(&labels, value);
                }
                let path = dir.join("writeback_rate_debug");
                let debug = read_file(&path)?;
                for (key, name, help) in WRITEBACK {
                    let value = writeback_value(&path, &debug, key)?;
                    out.family(name, help, Kind::Gauge).sample(&labels, value);
                }
            }
            for (device, dir) in directories(&set, "cache")? {
                let labels = [("cache_device", device.as_str()), ("uuid", uuid.as_str())];
                for (file, name, help, kind, format) in CACHE {
                    let value = read_value(&dir.join(file), format)?;
                    out.family(name, help, kind).sample(&labels, value);
                }
            }
        }
        Ok(())
    }
}

/// `(name, path)` of the subdirectories of `dir` whose names start with `prefix`, sorted;
/// none when `dir` does not exist.
fn directories(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|(name, path)| name.starts_with(prefix) && path.is_dir())
        .collect())
}

fn read_value(path: &Path, format: Format) -> Result<f64, CollectorError> {
    let text = read_file(path)?;
    let text = text.trim();
    let value = match format {
        Format::Number => text.parse::<f64>().ok(),
        Format::Size => size(text),
        Format::Microseconds => text.parse::<f64>().ok().map(|us| us * 1e-6),
    };
    value.ok_or_else(|| CollectorError::parse(path, format!("not a number: {text:?}")))
}

/// The value after `key:` in `writeback_rate_debug` (`rate:\t\t1.1M/sec`).
fn writeback_value(path: &Path, text: &str, key: &str) -> Result<f64, CollectorError> {
    let field = text
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .ok_or_else(|| CollectorError::parse(path, format!("no '{key}:' line")))?
        .trim();
    size(field.trim_end_matches("/sec"))
        .ok_or_else(|| CollectorError::parse(path, format!("{key}: not a size: {field:?}")))
}

/// A `bch_hprint` size: `1.5M` → 1 MiB + 5 × 100 KiB, as node_exporter reads it (the kernel
/// prints tenths of 1024 of the next-lower unit; 100 of them is what node_exporter counts).
fn size(text: &str) -> Option<f64> {
    const UNITS: &str = "kMGTPEZY";
    let (number, power) = match text.chars().last() {
        Some(unit) if UNITS.contains(unit) => (
            &text[..text.len() - unit.len_utf8()],
            UNITS.find(unit)? as i32 + 1,
        ),
        _ => return text.parse().ok(),
    };
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (whole, tenths) = number.split_once('.').unwrap_or((number, "0"));
    let whole: f64 = whole.parse().ok()?;
    let tenths: f64 = tenths.parse().ok()?;
    let value = whole * 1024f64.powi(power) + tenths * 100.0 * 1024f64.powi(power - 1);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_readable_sizes_as_node_exporter_reads_them() {
        assert_eq!(size("512"), Some(512.0));
        assert_eq!(size("1.5M"), Some(1_560_576.0));
        assert_eq!(size("12.3k"), Some(12_588.0));
        assert_eq!(size("-1.4k"), Some(-1_424.0));
        assert_eq!(size("1.5G"), Some(1_598_029_824.0));
        assert_eq!(size("3k"), Some(3_072.0));
        assert_eq!(size("x.5M"), None);
    }

    #[test]
    fn writeback_lines_and_a_missing_one_is_named() {
        let text = "rate:\t\t1.1M/sec\ndirty:\t\t29.7M\ntarget:\t\t1.5G\nproportional:\t-1.4k\n\
                    integral:\t12.3k\nchange:\t\t-1.5k/sec\nnext io:\t23ms\n";
        let path = Path::new("writeback_rate_debug");
        assert_eq!(writeback_value(path, text, "rate").unwrap(), 1_150_976.0);
        assert_eq!(writeback_value(path, text, "change").unwrap(), -1_524.0);
        let error = writeback_value(path, "rate:\t1k/sec\n", "target").unwrap_err();
        assert!(error.to_string().contains("no 'target:' line"), "{error}");
    }

    #[test]
    fn no_bcache_is_nothing_to_report() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bcache")).unwrap();
        // The module's control files are files, not cache sets.
        std::fs::write(root.path().join("bcache/register"), "").unwrap();
        let mut out = MetricSet::default();
        BcacheCollector {
            root: root.path().join("bcache"),
        }
        .collect(&mut out)
        .unwrap();
        assert!(out.families.is_empty());
    }
}
