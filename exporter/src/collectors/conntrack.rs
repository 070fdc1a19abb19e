//! `node_nf_conntrack_*`: the size and limit of netfilter's connection-tracking table, and its
//! event counters, as node_exporter's `conntrack` collector.
//!
//! A full table drops new connections ("nf_conntrack: table full, dropping packet"), which is
//! why node-mixin alerts on `node_nf_conntrack_entries / node_nf_conntrack_entries_limit`.
//!
//! Without the `nf_conntrack` module (no stateful firewall, NAT or container networking) there
//! is no table and no file: nothing to report, and not a failure. node_exporter reports that
//! case as a failed scrape of the collector, which would page through `PulseCollectorFailing`
//! on every such host.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present, read_u64,
};
use crate::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "conntrack",
    default_enabled: true,
    help: "Connection-tracking table size, limit and events from /proc/sys/net/netfilter and /proc/net/stat/nf_conntrack.",
    build,
};

/// The `/proc/net/stat/nf_conntrack` columns node_exporter exports, with its help texts.
const STATS: [(&str, &str, &str); 8] = [
    (
        "found",
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        "invalid",
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        "insert",
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        "drop",
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(ConntrackCollector {
        count: ctx.paths.proc("sys/net/netfilter/nf_conntrack_count"),
        max: ctx.paths.proc("sys/net/netfilter/nf_conntrack_max"),
        stat: ctx.paths.proc("net/stat/nf_conntrack"),
    }))
}

struct ConntrackCollector {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

impl Collector for ConntrackCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        // The statistics file comes and goes with the module.
        let Some(text) = read_file_if_present(&self.stat)? else {
            return Ok(());
        };
        let entries = read_u64(&self.count)?;
        let limit = read_u64(&self.max)?;
        let totals = sum_per_cpu(&text).map_err(|m| CollectorError::parse(&self.stat, m))?;
        out.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            entries as f64,
        );
        out.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            limit as f64,
        );
        // Gauges, as node_exporter types them, although they only grow. A column an older
        // kernel does not have is left out rather than reported as 0.
        for (column, name, help) in STATS {
            if let Some(value) = totals.get(column) {
                out.gauge(name, help, *value as f64);
            }
        }
        Ok(())
    }
}

/// `/proc/net/stat/nf_conntrack`: a header naming the columns, then one line of hex counters
/// per CPU. Columns are found by name (their set differs between kernels) and summed.
fn sum_per_cpu(text: &str) -> Result<HashMap<&str, u64>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty file")?
        .split_ascii_whitespace()
        .collect();
    let mut totals: HashMap<&str, u64> = header.iter().map(|name| (*name, 0)).collect();
    for (index, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = index + 2;
        let values: Vec<&str> = line.split_ascii_whitespace().collect();
        if values.len() != header.len() {
            return Err(format!(
                "line {line_no}: {} values for {} columns",
                values.len(),
                header.len()
            ));
        }
        for (name, value) in header.iter().zip(values) {
            let value = u64::from_str_radix(value, 16)
                .map_err(|_| format!("line {line_no}: {name}: not a hex number: {value:?}"))?;
            if let Some(total) = totals.get_mut(name) {
                *total = total.wrapping_add(value);
            }
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000021  00000000 00000002 00000000 00000010 00000100 00000000 00000000 00000003 00000001 00000004 00000005 00000000  00000000 00000000 00000000 00000007
00000021  00000000 00000001 00000000 00000001 00000001 00000000 00000000 00000001 00000000 00000001 00000000 00000000  00000000 00000000 00000000 0000000a
";

    #[test]
    fn sums_columns_over_cpus_by_name() {
        let totals = sum_per_cpu(STAT).unwrap();
        assert_eq!(totals["found"], 3);
        assert_eq!(totals["invalid"], 0x11);
        assert_eq!(totals["ignore"], 0x101);
        assert_eq!(totals["insert"], 4);
        assert_eq!(totals["insert_failed"], 1);
        assert_eq!(totals["drop"], 5);
        assert_eq!(totals["early_drop"], 5);
        assert_eq!(totals["search_restart"], 0x11);
    }

    #[test]
    fn malformed_stat_lines_are_errors_with_line_numbers() {
        let header = STAT.lines().next().unwrap();
        let short = format!("{header}\n00000001 00000002\n");
        assert_eq!(
            sum_per_cpu(&short).unwrap_err(),
            "line 2: 2 values for 17 columns"
        );
        let bad = format!("{header}\n{}\n", "zz ".repeat(17));
        assert_eq!(
            sum_per_cpu(&bad).unwrap_err(),
            "line 2: entries: not a hex number: \"zz\""
        );
        assert!(sum_per_cpu("").is_err());
    }

    fn collector(dir: &std::path::Path) -> ConntrackCollector {
        ConntrackCollector {
            count: dir.join("nf_conntrack_count"),
            max: dir.join("nf_conntrack_max"),
            stat: dir.join("nf_conntrack"),
        }
    }

    #[test]
    fn without_the_module_there_is_nothing_to_report() {
        let dir = tempfile::tempdir().unwrap();
        let collector = collector(dir.path());
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());
    }

    #[test]
    fn exports_entries_limit_and_summed_stats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nf_conntrack_count"), "123\n").unwrap();
        std::fs::write(dir.path().join("nf_conntrack_max"), "262144\n").unwrap();
        std::fs::write(dir.path().join("nf_conntrack"), STAT).unwrap();
        let collector = collector(dir.path());
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let value = |name: &str| {
            let family = out.families.iter().find(|f| f.name == name).unwrap();
            family.samples[0].value.clone()
        };
        assert_eq!(value("node_nf_conntrack_entries"), Value::Number(123.0));
        assert_eq!(
            value("node_nf_conntrack_entries_limit"),
            Value::Number(262144.0)
        );
        assert_eq!(
            value("node_nf_conntrack_stat_search_restart"),
            Value::Number(17.0)
        );
        assert_eq!(out.families.len(), 10);

        // An older kernel's file without `search_restart`: that series is left out.
        let old_kernel: String = STAT
            .lines()
            .map(|line| {
                let mut words: Vec<&str> = line.split_ascii_whitespace().collect();
                words.pop();
                words.join(" ") + "\n"
            })
            .collect();
        std::fs::write(dir.path().join("nf_conntrack"), old_kernel).unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.families.len(), 9);
        assert!(
            out.families
                .iter()
                .all(|f| f.name != "node_nf_conntrack_stat_search_restart")
        );
    }
}
