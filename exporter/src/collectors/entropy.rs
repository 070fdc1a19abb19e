//! `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `/proc/sys/kernel/random`, as node_exporter's `entropy` collector.
//!
//! Since Linux 5.18 the kernel's pool is a fixed 256 bits and always full once seeded; the
//! series still tell an older kernel that starves `/dev/random` readers apart.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_u64};
use crate::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "entropy",
    default_enabled: true,
    help: "Available entropy and pool size from /proc/sys/kernel/random.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(EntropyCollector {
        available: ctx.paths.proc("sys/kernel/random/entropy_avail"),
        pool_size: ctx.paths.proc("sys/kernel/random/poolsize"),
    }))
}

struct EntropyCollector {
    available: PathBuf,
    pool_size: PathBuf,
}

impl Collector for EntropyCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let available = read_u64(&self.available)?;
        let pool_size = read_u64(&self.pool_size)?;
        out.gauge(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            available as f64,
        );
        out.gauge(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            pool_size as f64,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    fn collector(dir: &std::path::Path) -> EntropyCollector {
        EntropyCollector {
            available: dir.join("entropy_avail"),
            pool_size: dir.join("poolsize"),
        }
    }

    #[test]
    fn reads_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("entropy_avail"), "3211\n").unwrap();
        std::fs::write(dir.path().join("poolsize"), "4096\n").unwrap();
        let mut out = MetricSet::default();
        collector(dir.path()).collect(&mut out).unwrap();
        let values: Vec<_> = out
            .families
            .iter()
            .map(|f| (f.name.as_ref(), f.samples[0].value.clone()))
            .collect();
        assert_eq!(
            values,
            [
                ("node_entropy_available_bits", Value::Number(3211.0)),
                ("node_entropy_pool_size_bits", Value::Number(4096.0)),
            ]
        );
    }

    #[test]
    fn a_value_that_is_not_a_number_is_a_parse_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("entropy_avail"), "lots\n").unwrap();
        std::fs::write(dir.path().join("poolsize"), "4096\n").unwrap();
        let error = collector(dir.path())
            .collect(&mut MetricSet::default())
            .unwrap_err();
        assert!(matches!(error, CollectorError::Parse { .. }), "{error:?}");
        assert!(error.to_string().contains("entropy_avail"), "{error}");
    }
}
