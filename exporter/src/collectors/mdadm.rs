//! `node_md_*` from `/proc/mdstat`: the state, disks and sync progress of Linux software RAID
//! arrays, as node_exporter 1.5's `mdadm` collector (which parses with prometheus/procfs).
//!
//! node-mixin's `NodeRAIDDegraded` (fewer active disks than `node_md_disks_required`) and
//! `NodeRAIDDiskFailure` (any `node_md_disks{state="failed"}`) read these. A host without md
//! arrays has no `/proc/mdstat` (the `md` driver is not loaded): nothing to report, and not a
//! failure.

use std::path::PathBuf;

use regex::Regex;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "mdadm",
    default_enabled: true,
    help: "Software RAID (md) array state, disks and sync progress from /proc/mdstat.",
    build,
};

/// The `node_md_state` values, and the activity each stands for.
const STATES: [(&str, Activity); 5] = [
    ("active", Activity::Active),
    ("inactive", Activity::Inactive),
    ("recovering", Activity::Recovering),
    ("resync", Activity::Resyncing),
    ("check", Activity::Checking),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(MdadmCollector {
        path: ctx.paths.proc("mdstat"),
        parser: Parser::new().map_err(|e| CollectorError::Other(e.to_string()))?,
    }))
}

struct MdadmCollector {
    path: PathBuf,
    parser: Parser,
}

/// The two line shapes that need more than splitting on whitespace.
struct Parser {
    /// `<blocks> blocks ... [<required>/<active>] [UU_U]` of a redundant array.
    status: Regex,
    /// `(<synced>/<total>)` of a recovery, resync or check line.
    synced: Regex,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activity {
    Active,
    Inactive,
    Recovering,
    Resyncing,
    Checking,
}

/// One array.
#[derive(Debug, PartialEq)]
struct Array {
    name: String,
    activity: Activity,
    disks_required: u64,
    disks_active: u64,
    disks_failed: u64,
    disks_spare: u64,
    blocks: u64,
    blocks_synced: u64,
}

impl Collector for MdadmCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(text) = read_file_if_present(&self.path)? else {
            return Ok(());
        };
        let mut arrays = self
            .parser
            .parse(&text)
            .map_err(|m| CollectorError::parse(&self.path, m))?;
        arrays.sort_by(|a, b| a.name.cmp(&b.name));
        emit(&arrays, out);
        Ok(())
    }
}

/// Reads one number of an array.
type Field = fn(&Array) -> u64;

fn emit(arrays: &[Array], out: &mut MetricSet) {
    let per_array: [(&str, &str, Field); 3] = [
        ("node_md_blocks", "Total number of blocks on device.", |a| {
            a.blocks
        }),
        (
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
            |a| a.blocks_synced,
        ),
        (
            "node_md_disks_required",
            "Total number of disks of device.",
            |a| a.disks_required,
        ),
    ];
    for (name, help, value) in per_array {
        let family = out.family(name, help, Kind::Gauge);
        for array in arrays {
            family.sample(&[("device", &array.name)], value(array) as f64);
        }
    }
    let family = out.family(
        "node_md_disks",
        "Number of active/failed/spare disks of device.",
        Kind::Gauge,
    );
    for array in arrays {
        for (state, count) in [
            ("active", array.disks_active),
            ("failed", array.disks_failed),
            ("spare", array.disks_spare),
        ] {
            family.sample(&[("device", &array.name), ("state", state)], count as f64);
        }
    }
    let family = out.family(
        "node_md_state",
        "Indicates the state of md-device.",
        Kind::Gauge,
    );
    for array in arrays {
        for (state, activity) in STATES {
            let value = if array.activity == activity { 1.0 } else { 0.0 };
            family.sample(&[("device", &array.name), ("state", state)], value);
        }
    }
}

impl Parser {
    fn new() -> Result<Self, regex::Error> {
        Ok(Parser {
            status: Regex::new(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]")?,
            synced: Regex::new(r"\((\d+)/\d+\)")?,
        })
    }

    /// Each array is a device line (`md0 : active raid1 sda1[0] sdb1[1](F)`), a status line,
    /// an optional `bitmap:` line and an optional progress line; see the kernel's
    /// `md_seq_show`. Errors name the line.
    fn parse(&self, text: &str) -> Result<Vec<Array>, String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut arrays = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty()
                || line.starts_with([' ', '\t'])
                || line.starts_with("Personalities")
                || line.starts_with("unused")
            {
                continue;
            }
            let line_no = i + 1;
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let [name, _, state, ..] = fields[..] else {
                return Err(format!("line {line_no}: expected `mdN : state ...`"));
            };
            let (Some(status), Some(next)) = (lines.get(i + 1), lines.get(i + 2)) else {
                return Err(format!("line {line_no}: {name} has no status line"));
            };
            let blocks = status
                .split_ascii_whitespace()
                .next()
                .and_then(|b| b.parse().ok())
                .ok_or_else(|| format!("line {}: {name}: no block count", line_no + 1))?;
            let (disks_active, disks_required) =
                if line.contains("raid0") || line.contains("linear") {
                    // Striped and linear arrays have no redundancy line: every listed disk is
                    // active and required.
                    let disks = line.matches('[').count() as u64;
                    (disks, disks)
                } else if line.contains("inactive") {
                    (0, 0)
                } else {
                    let captures = self.status.captures(status).ok_or_else(|| {
                        format!("line {}: {name}: no [required/active] disks", line_no + 1)
                    })?;
                    let number = |k: usize| {
                        captures[k]
                            .parse::<u64>()
                            .map_err(|e| format!("line {}: {name}: disk count: {e}", line_no + 1))
                    };
                    (number(3)?, number(2)?)
                };
            let (progress_no, progress) = if next.contains("bitmap") {
                (line_no + 3, lines.get(i + 3).copied().unwrap_or_default())
            } else {
                (line_no + 2, *next)
            };
            let activity = if progress.contains("recovery") {
                Activity::Recovering
            } else if progress.contains("check") {
                Activity::Checking
            } else if progress.contains("resync") {
                Activity::Resyncing
            } else if state == "active" {
                Activity::Active
            } else {
                Activity::Inactive
            };
            let blocks_synced = match activity {
                Activity::Active | Activity::Inactive => blocks,
                // Queued behind another array's sync: nothing done yet.
                _ if progress.contains("PENDING") || progress.contains("DELAYED") => 0,
                _ => self
                    .synced
                    .captures(progress)
                    .and_then(|c| c[1].parse().ok())
                    .ok_or_else(|| {
                        format!("line {progress_no}: {name}: no (synced/total) blocks")
                    })?,
            };
            arrays.push(Array {
                name: name.to_owned(),
                activity,
                disks_required,
                disks_active,
                disks_failed: line.matches("(F)").count() as u64,
                disks_spare: line.matches("(S)").count() as u64,
                blocks,
                blocks_synced,
            });
        }
        Ok(arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> Parser {
        Parser::new().unwrap()
    }

    const MDSTAT: &str = "Personalities : [raid1] [raid6] [raid5] [raid4] [raid0]
md6 : active raid1 sdb2[2](F) sdc[1](S) sda2[0]
      195310144 blocks [2/1] [U_]
      [=>...................]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec

md7 : active raid6 sdb1[0] sde1[3] sdd1[2] sdc1[1](F)
      7813735424 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/3] [U_UU]
      bitmap: 0/30 pages [0KB], 65536KB chunk

md9 : active raid1 sdc2[2] sdd2[3]
      523968 blocks super 1.2 [2/2] [UU]
      resync=DELAYED

md10 : active raid0 sda1[0] sdb1[1]
      314159265 blocks 64k chunks

md4 : inactive raid1 sda3[0](F) sdb3[1](S)
      4883648 blocks [2/2] [UU]

unused devices: <none>
";

    #[test]
    fn parses_degraded_syncing_striped_and_inactive_arrays() {
        let arrays = parser().parse(MDSTAT).unwrap();
        let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["md6", "md7", "md9", "md10", "md4"]);
        assert_eq!(
            arrays[0],
            Array {
                name: "md6".into(),
                activity: Activity::Recovering,
                disks_required: 2,
                disks_active: 1,
                disks_failed: 1,
                disks_spare: 1,
                blocks: 195310144,
                blocks_synced: 16775552,
            }
        );
        // The bitmap line is not a progress line: degraded, but not syncing.
        assert_eq!(arrays[1].activity, Activity::Active);
        assert_eq!((arrays[1].disks_required, arrays[1].disks_active), (4, 3));
        assert_eq!(arrays[1].blocks_synced, arrays[1].blocks);
        // Waiting for another array's resync: nothing synced yet.
        assert_eq!(arrays[2].activity, Activity::Resyncing);
        assert_eq!(arrays[2].blocks_synced, 0);
        // raid0: every listed disk is active and required.
        assert_eq!((arrays[3].disks_required, arrays[3].disks_active), (2, 2));
        assert_eq!(arrays[4].activity, Activity::Inactive);
        assert_eq!((arrays[4].disks_required, arrays[4].disks_active), (0, 0));
    }

    #[test]
    fn malformed_arrays_are_errors_naming_the_line() {
        let no_status = "md0 : active raid1 sda1[0]\n";
        assert_eq!(
            parser().parse(no_status).unwrap_err(),
            "line 1: md0 has no status line"
        );
        let no_disks = "md0 : active raid1 sda1[0]\n      1024 blocks\n\n";
        assert_eq!(
            parser().parse(no_disks).unwrap_err(),
            "line 2: md0: no [required/active] disks"
        );
        assert_eq!(
            parser().parse("md0\n").unwrap_err(),
            "line 1: expected `mdN : state ...`"
        );
        let no_progress = "md0 : active raid1 sda1[0] sdb1[1]\n      1024 blocks [2/1] [U_]\n      bitmap: 0/1 pages\n      [>....]  recovery =  0.1% finish=9.0min\n";
        assert_eq!(
            parser().parse(no_progress).unwrap_err(),
            "line 4: md0: no (synced/total) blocks"
        );
    }

    #[test]
    fn no_mdstat_is_nothing_to_report() {
        let dir = tempfile::tempdir().unwrap();
        let collector = MdadmCollector {
            path: dir.path().join("mdstat"),
            parser: parser(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());
    }

    #[test]
    fn every_array_has_every_state_with_one_set() {
        let mut out = MetricSet::default();
        emit(&parser().parse(MDSTAT).unwrap(), &mut out);
        let state = out
            .families
            .iter()
            .find(|f| f.name == "node_md_state")
            .unwrap();
        assert_eq!(state.samples.len(), 5 * STATES.len());
        let set: Vec<_> = state
            .samples
            .iter()
            .filter(|s| s.value == crate::exposition::Value::Number(1.0))
            .map(|s| (s.labels[0].1.as_str(), s.labels[1].1.as_str()))
            .collect();
        assert_eq!(
            set,
            [
                ("md6", "recovering"),
                ("md7", "active"),
                ("md9", "resync"),
                ("md10", "active"),
                ("md4", "inactive"),
            ]
        );
    }
}
