//! `node_vmstat_<field>` for the `/proc/vmstat` fields matching `vmstat.fields`
//! (`--collector.vmstat.fields`), by default node_exporter's page faults, paging, swapping
//! and OOM kills.
//!
//! Untyped, as in node_exporter: the file mixes counters (`pgfault`) with gauges
//! (`nr_free_pages`) and does not say which is which.

use std::path::PathBuf;

use procfs_core::VmStat;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_procfs};
use crate::config::Pattern;
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "vmstat",
    default_enabled: true,
    help: "Paging, swapping, page fault and OOM-kill counters from /proc/vmstat.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(VmstatCollector {
        path: ctx.paths.proc("vmstat"),
        fields: ctx.config.vmstat.fields.clone(),
    }))
}

struct VmstatCollector {
    path: PathBuf,
    fields: Pattern,
}

impl Collector for VmstatCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let VmStat(all) = read_procfs(&self.path)?;
        let mut wanted: Vec<_> = all
            .into_iter()
            .filter(|(name, _)| self.fields.is_match(name))
            .collect();
        wanted.sort_unstable();
        for (name, value) in wanted {
            let help = format!("/proc/vmstat information field {name}.");
            out.family(format!("node_vmstat_{name}"), help, Kind::Untyped)
                .sample(&[], value as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_VMSTAT_FIELDS;
    use procfs_core::FromRead;

    #[test]
    fn default_fields_are_node_exporters() {
        let text = b"nr_free_pages 5337356\npgpgin 1386040\npgpgout 4150052\npswpin 0\n\
                     pgfault 38563539\npgmajfault 2154\noom_kill 1\nnr_dirty 2\n";
        let VmStat(map) = VmStat::from_read(&text[..]).unwrap();
        let pattern = Pattern::new(DEFAULT_VMSTAT_FIELDS).unwrap();
        let mut names: Vec<_> = map.keys().filter(|k| pattern.is_match(k)).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "oom_kill",
                "pgfault",
                "pgmajfault",
                "pgpgin",
                "pgpgout",
                "pswpin"
            ]
        );
    }
}
