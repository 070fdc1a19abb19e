//! `node_nfsd_*` from `/proc/net/rpc/nfsd`, as node_exporter's `nfsd` collector: this host's
//! NFS server, its threads, reply cache, bytes read and written for clients, RPC errors and
//! calls per NFS procedure and version.
//!
//! RPC errors (`auth`, bad format) point at a misconfigured client; stale file handles at
//! clients holding files an export no longer has. Without the NFS server module the file does
//! not exist: nothing to report.

use std::path::PathBuf;

use super::tagged_lines::TaggedLines;
use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nfsd",
    default_enabled: true,
    help: "NFS server threads, caches, I/O, RPC errors and calls per procedure from /proc/net/rpc/nfsd.",
    build,
};

/// NFSv2 procedures after `Null` (which node_exporter leaves out for the server), in order.
const V2: [&str; 17] = [
    "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write", "Create",
    "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures after `Null`, in order.
const V3: [&str; 21] = [
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// The NFSv4 operations node_exporter 1.5 reports from `proc4ops`, by their position on that
/// line; its names are its own (positions 23 and 24, `PUTPUBFH` and `PUTROOTFH`, are not
/// reported, and the names after them are shifted from the operations' RFC numbers, which
/// is kept so that existing queries see the same series).
const V4_OPS: [(usize, &str); 33] = [
    (3, "Access"),
    (4, "Close"),
    (5, "Commit"),
    (6, "Create"),
    (7, "DelegPurge"),
    (8, "DelegReturn"),
    (9, "GetAttr"),
    (10, "GetFH"),
    (11, "Link"),
    (12, "Lock"),
    (13, "Lockt"),
    (14, "Locku"),
    (15, "Lookup"),
    (16, "LookupRoot"),
    (17, "Nverify"),
    (18, "Open"),
    (19, "OpenAttr"),
    (20, "OpenConfirm"),
    (21, "OpenDgrd"),
    (22, "PutFH"),
    (25, "Read"),
    (26, "ReadDir"),
    (27, "ReadLink"),
    (28, "Remove"),
    (29, "Rename"),
    (30, "Renew"),
    (31, "RestoreFH"),
    (32, "SaveFH"),
    (33, "SecInfo"),
    (34, "SetAttr"),
    (35, "Verify"),
    (36, "Write"),
    (37, "RelLockOwner"),
];

/// Operations every kernel's `proc4ops` line has (NFSv4.0's, 0–39).
const V4_OPS_REQUIRED: usize = 40;

/// Single-value series: name, help, kind, line tag, field index.
const SCALARS: [(&str, &str, Kind, &str, usize); 11] = [
    (
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        Kind::Counter,
        "rc",
        0,
    ),
    (
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        Kind::Counter,
        "rc",
        1,
    ),
    (
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        Kind::Counter,
        "rc",
        2,
    ),
    (
        "node_nfsd_file_handles_stale_total",
        "Total number of NFSd stale file handles",
        Kind::Counter,
        "fh",
        0,
    ),
    (
        "node_nfsd_disk_bytes_read_total",
        "Total NFSd bytes read.",
        Kind::Counter,
        "io",
        0,
    ),
    (
        "node_nfsd_disk_bytes_written_total",
        "Total NFSd bytes written.",
        Kind::Counter,
        "io",
        1,
    ),
    (
        "node_nfsd_server_threads",
        "Total number of NFSd kernel threads that are running.",
        Kind::Gauge,
        "th",
        0,
    ),
    (
        "node_nfsd_read_ahead_cache_size_blocks",
        "How large the read ahead cache is in blocks.",
        Kind::Gauge,
        "ra",
        0,
    ),
    (
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
        Kind::Counter,
        "ra",
        11,
    ),
    (
        "node_nfsd_connections_total",
        "Total number of NFSd TCP connections.",
        Kind::Counter,
        "net",
        3,
    ),
    (
        "node_nfsd_server_rpcs_total",
        "Total number of NFSd RPCs.",
        Kind::Counter,
        "rpc",
        0,
    ),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(NfsdCollector {
        path: ctx.paths.proc("net/rpc/nfsd"),
    }))
}

struct NfsdCollector {
    path: PathBuf,
}

impl Collector for NfsdCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(text) = read_file_if_present(&self.path)? else {
            return Ok(());
        };
        let stats = TaggedLines::parse(&self.path, &text);
        // Null is counted first on both lines and not reported.
        let v2 = stats.procedures("proc2", V2.len() + 1, V2.len() + 1)?;
        let v3 = stats.procedures("proc3", V3.len() + 1, V3.len() + 1)?;
        let v4 = stats.procedures("proc4ops", V4_OPS_REQUIRED, V4_OPS_REQUIRED)?;

        for (name, help, kind, tag, index) in SCALARS {
            out.family(name, help, kind)
                .sample(&[], stats.value(tag, index)? as f64);
        }
        out.family(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            Kind::Counter,
        )
        .sample(&[("proto", "udp")], stats.value("net", 1)? as f64)
        .sample(&[("proto", "tcp")], stats.value("net", 2)? as f64);
        let family = out.family(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            Kind::Counter,
        );
        for (error, index) in [("fmt", 2), ("auth", 3), ("cInt", 4)] {
            family.sample(&[("error", error)], stats.value("rpc", index)? as f64);
        }
        let family = out.family(
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
            Kind::Counter,
        );
        for (method, count) in V2.iter().zip(&v2[1..]) {
            family.sample(&[("method", method), ("proto", "2")], *count as f64);
        }
        for (method, count) in V3.iter().zip(&v3[1..]) {
            family.sample(&[("method", method), ("proto", "3")], *count as f64);
        }
        for (position, method) in V4_OPS {
            family.sample(&[("method", method), ("proto", "4")], v4[position] as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: Option<&str>) -> Result<MetricSet, CollectorError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nfsd");
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let mut out = MetricSet::default();
        NfsdCollector { path }.collect(&mut out)?;
        Ok(out)
    }

    fn ops_line(count: usize) -> String {
        let values: Vec<String> = (0..count).map(|i| (100 + i).to_string()).collect();
        format!("proc4ops {count} {}\n", values.join(" "))
    }

    #[test]
    fn a_current_kernels_file_without_v2_and_read_ahead_lines() {
        let text = format!(
            "rc 0 6 18622\nfh 3 0 0 0 0\nio 157286400 0\nth 8 0 0.000 0.000\n\
             net 18628 0 18628 6\nrpc 18628 1 2 3 4\n\
             proc3 22 2 112 0 2719 111 0 0 0 0 0 0 0 0 0 0 0 27 216 0 2 1 9\nproc4 2 2 10853\n{}",
            ops_line(72)
        );
        let out = collect(Some(&text)).unwrap();
        assert_eq!(out.value_of("node_nfsd_server_threads", &[]), Some(8.0));
        assert_eq!(
            out.value_of("node_nfsd_file_handles_stale_total", &[]),
            Some(3.0)
        );
        assert_eq!(
            out.value_of("node_nfsd_rpc_errors_total", &[("error", "cInt")]),
            Some(4.0)
        );
        assert_eq!(
            out.value_of(
                "node_nfsd_requests_total",
                &[("method", "Commit"), ("proto", "3")]
            ),
            Some(9.0)
        );
        assert_eq!(
            out.value_of(
                "node_nfsd_requests_total",
                &[("method", "Read"), ("proto", "4")]
            ),
            Some(125.0)
        );
        assert_eq!(
            out.value_of(
                "node_nfsd_requests_total",
                &[("method", "Root"), ("proto", "2")]
            ),
            Some(0.0)
        );
        assert_eq!(
            out.value_of("node_nfsd_read_ahead_cache_size_blocks", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn no_server_is_nothing_to_report_and_a_short_ops_line_is_an_error() {
        assert!(collect(None).unwrap().families.is_empty());
        let error = collect(Some(&ops_line(30))).unwrap_err().to_string();
        assert!(
            error.contains("(proc4ops): 30 procedures, expected at least 40"),
            "{error}"
        );
    }
}
