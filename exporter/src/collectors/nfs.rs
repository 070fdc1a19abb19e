//! `node_nfs_*` from `/proc/net/rpc/nfs`, as node_exporter's `nfs` collector: this host's NFS
//! client, its RPC traffic and retransmissions and how many of each NFS procedure it called,
//! per protocol version.
//!
//! Retransmissions climbing while calls do not is the classic sign of a slow or unreachable
//! NFS server, seen here before processes hang in `D` state. Without the NFS client module the
//! file does not exist: nothing to report.

use std::path::PathBuf;

use super::tagged_lines::TaggedLines;
use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "nfs",
    default_enabled: true,
    help: "NFS client RPC traffic and calls per procedure from /proc/net/rpc/nfs.",
    build,
};

/// NFSv2 procedures in the kernel's order (`proc2`).
const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures in the kernel's order (`proc3`).
const V3: [&str; 22] = [
    "Null",
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

/// The NFSv4 client operations node_exporter 1.5 names, in the kernel's order (`proc4`);
/// newer kernels append more, which are left out, and older ones have fewer, read as 0.
const V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(NfsCollector {
        path: ctx.paths.proc("net/rpc/nfs"),
    }))
}

struct NfsCollector {
    path: PathBuf,
}

impl Collector for NfsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(text) = read_file_if_present(&self.path)? else {
            return Ok(());
        };
        let stats = TaggedLines::parse(&self.path, &text);
        let requests = [
            ("2", &V2[..], stats.procedures("proc2", V2.len(), V2.len())?),
            ("3", &V3[..], stats.procedures("proc3", V3.len(), V3.len())?),
            ("4", &V4[..], stats.procedures("proc4", V4.len(), 0)?),
        ];
        out.family(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            Kind::Counter,
        )
        .sample(&[("protocol", "udp")], stats.value("net", 1)? as f64)
        .sample(&[("protocol", "tcp")], stats.value("net", 2)? as f64);
        for (name, help, tag, index) in [
            (
                "node_nfs_connections_total",
                "Total number of NFSd TCP connections.",
                "net",
                3,
            ),
            (
                "node_nfs_rpcs_total",
                "Total number of RPCs performed.",
                "rpc",
                0,
            ),
            (
                "node_nfs_rpc_retransmissions_total",
                "Number of RPC transmissions performed.",
                "rpc",
                1,
            ),
            (
                "node_nfs_rpc_authentication_refreshes_total",
                "Number of RPC authentication refreshes performed.",
                "rpc",
                2,
            ),
        ] {
            out.family(name, help, Kind::Counter)
                .sample(&[], stats.value(tag, index)? as f64);
        }
        let family = out.family(
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
            Kind::Counter,
        );
        for (version, methods, counts) in &requests {
            for (method, count) in methods.iter().zip(counts) {
                family.sample(&[("method", method), ("proto", version)], *count as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: Option<&str>) -> Result<MetricSet, CollectorError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nfs");
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let mut out = MetricSet::default();
        NfsCollector { path }.collect(&mut out)?;
        Ok(out)
    }

    #[test]
    fn procedures_by_version_with_an_older_kernels_short_v4_line() {
        let out = collect(Some(
            "net 18628 0 18628 6\nrpc 4329785 7 4338291\n\
             proc3 22 1 4084749 29200 94754 32580 186 47747 7840 4 0 0 0 6 0 0 0 0 0 0 0 0 3\n\
             proc4 3 9 8 7\n",
        ))
        .unwrap();
        assert_eq!(
            out.value_of(
                "node_nfs_requests_total",
                &[("method", "Commit"), ("proto", "3")]
            ),
            Some(3.0)
        );
        assert_eq!(
            out.value_of(
                "node_nfs_requests_total",
                &[("method", "Write"), ("proto", "4")]
            ),
            Some(7.0)
        );
        // Procedures an older kernel does not count, and NFSv2 where it is off, read as 0.
        assert_eq!(
            out.value_of(
                "node_nfs_requests_total",
                &[("method", "Clone"), ("proto", "4")]
            ),
            Some(0.0)
        );
        assert_eq!(
            out.value_of(
                "node_nfs_requests_total",
                &[("method", "Root"), ("proto", "2")]
            ),
            Some(0.0)
        );
        assert_eq!(
            out.value_of("node_nfs_rpc_retransmissions_total", &[]),
            Some(7.0)
        );
        assert_eq!(
            out.value_of("node_nfs_packets_total", &[("protocol", "tcp")]),
            Some(18628.0)
        );
    }

    #[test]
    fn no_client_is_nothing_to_report_and_a_short_v3_line_is_an_error() {
        assert!(collect(None).unwrap().families.is_empty());
        let error = collect(Some("proc3 2 1 2\n")).unwrap_err().to_string();
        assert!(
            error.contains("line 1 (proc3): 2 procedures, expected at least 22"),
            "{error}"
        );
    }
}
