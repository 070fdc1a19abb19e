//! `node_uname_info`, the `uname(2)` strings as labels, as node_exporter's `uname` collector.
//!
//! Always the running kernel's, whatever `--path.procfs` says: there is no file to point
//! elsewhere, which is why the golden test leaves this series out.

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "uname",
    default_enabled: true,
    help: "Kernel name, release, version, machine and host name from uname(2).",
    build,
};

fn build(_: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(UnameCollector))
}

struct UnameCollector;

impl Collector for UnameCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let uname = rustix::system::uname();
        let text = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        out.family(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            Kind::Gauge,
        )
        .sample(
            &[
                ("domainname", &text(uname.domainname())),
                ("machine", &text(uname.machine())),
                ("nodename", &text(uname.nodename())),
                ("release", &text(uname.release())),
                ("sysname", &text(uname.sysname())),
                ("version", &text(uname.version())),
            ],
            1.0,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_linux() {
        let mut out = MetricSet::default();
        UnameCollector.collect(&mut out).unwrap();
        let sample = &out.families[0].samples[0];
        assert!(
            sample
                .labels
                .iter()
                .any(|(k, v)| k == "sysname" && v == "Linux")
        );
        assert_eq!(sample.labels.len(), 6);
    }
}
