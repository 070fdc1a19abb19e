//! `node_memory_<Field>_bytes` for every line of `/proc/meminfo`, named as node_exporter
//! names them.
//!
//! Parsed generically rather than with `procfs_core::Meminfo`: node_exporter exports
//! whatever fields the kernel lists (new kernels add `Zswap`, `SecPageTables`, ...), and a
//! fixed struct would silently drop those.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "meminfo",
    default_enabled: true,
    help: "Memory statistics from /proc/meminfo.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(MeminfoCollector {
        path: ctx.paths.proc("meminfo"),
    }))
}

struct MeminfoCollector {
    path: PathBuf,
}

impl Collector for MeminfoCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let fields = parse_meminfo(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        if fields.is_empty() {
            return Err(CollectorError::parse(&self.path, "no fields"));
        }
        for (key, value) in fields {
            let help = format!("Memory information field {key}.");
            out.family(format!("node_memory_{key}"), help, Kind::Gauge)
                .sample(&[], value);
        }
        Ok(())
    }
}

/// `/proc/meminfo` as (metric suffix, value) pairs, by node_exporter's rules:
/// `Active(anon)` becomes `Active_anon`; a value in kB is multiplied by 1024 and the name
/// gets `_bytes`; a value without unit (`HugePages_Total`, a page count) is kept as is.
fn parse_meminfo(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (key, value, unit) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (None, ..) => continue,
            (Some(key), Some(value), unit, None) => (key, value, unit),
            _ => return Err(format!("unexpected line {line:?}")),
        };
        let key = key
            .strip_suffix(':')
            .ok_or_else(|| format!("missing ':' in line {line:?}"))?;
        let value: f64 = value
            .parse()
            .map_err(|_| format!("bad value {value:?} for {key}"))?;
        fields.push(match unit {
            None => (rename(key, ""), value),
            Some("kB") => (rename(key, "_bytes"), value * 1024.0),
            Some(other) => return Err(format!("unknown unit {other:?} for {key}")),
        });
    }
    Ok(fields)
}

/// `Active(anon)` → `Active_anon` (then `suffix`): the parenthesised part (first `(` to last
/// `)`) becomes a `_`-prefixed suffix, as node_exporter's `\((.*)\)` → `_$1`. One `String`
/// per field: a scrape names ~55 of them.
fn rename(key: &str, suffix: &str) -> String {
    let mut name = String::with_capacity(key.len() + suffix.len() + 1);
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            name.push_str(&key[..open]);
            name.push('_');
            name.push_str(&key[open + 1..close]);
            name.push_str(&key[close + 1..]);
        }
        _ => name.push_str(key),
    }
    name.push_str(suffix);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_and_scales_like_node_exporter() {
        let text = "MemTotal:       24684096 kB\nActive(anon):       1604 kB\n\
                    HugePages_Total:       3\nNFS_Unstable:          0 kB\n\n";
        assert_eq!(
            parse_meminfo(text).unwrap(),
            [
                ("MemTotal_bytes".to_owned(), 24684096.0 * 1024.0),
                ("Active_anon_bytes".to_owned(), 1604.0 * 1024.0),
                ("HugePages_Total".to_owned(), 3.0),
                ("NFS_Unstable_bytes".to_owned(), 0.0),
            ]
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse_meminfo("MemTotal 5 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\n").is_err());
        assert!(parse_meminfo("MemTotal: 5 MB\n").is_err());
        assert!(parse_meminfo("MemTotal: 5 kB extra\n").is_err());
    }
}
