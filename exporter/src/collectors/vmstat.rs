//! `node_vmstat_<field>` for the `/proc/vmstat` fields matching `vmstat.fields`
//! (`--collector.vmstat.fields`), by default node_exporter's page faults, paging, swapping
//! and OOM kills.
//!
//! Untyped, as in node_exporter: the file mixes counters (`pgfault`) with gauges
//! (`nr_free_pages`) and does not say which is which.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
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
        let text = read_file(&self.path)?;
        let mut wanted = parse(&text, |name| self.fields.is_match(name))
            .map_err(|message| CollectorError::parse(&self.path, message))?;
        wanted.sort_unstable();
        for (name, value) in wanted {
            let help = format!("/proc/vmstat information field {name}.");
            out.family(format!("node_vmstat_{name}"), help, Kind::Untyped)
                .sample(&[], value as f64);
        }
        Ok(())
    }
}

/// `name value` lines; only the fields `keep` accepts are returned and their values checked
/// (the file has ~180 fields and the default keeps 6, so the rest are never allocated).
fn parse(text: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<(&str, i64)>, String> {
    let mut wanted = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if keep(name) {
            let value = value
                .parse()
                .map_err(|_| format!("line {}: {name}: bad value {value:?}", index + 1))?;
            wanted.push((name, value));
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_VMSTAT_FIELDS;

    #[test]
    fn default_fields_are_node_exporters() {
        let text = "nr_free_pages 5337356\npgpgin 1386040\npgpgout 4150052\npswpin 0\n\
                    pgfault 38563539\npgmajfault 2154\noom_kill 1\nnr_dirty 2\n";
        let pattern = Pattern::new(DEFAULT_VMSTAT_FIELDS).unwrap();
        let mut names: Vec<_> = parse(text, |k| pattern.is_match(k))
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
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

    #[test]
    fn bad_values_of_kept_fields_name_the_line_and_field() {
        let text = "nr_dirty x\npgfault 12z\n";
        let pattern = Pattern::new(DEFAULT_VMSTAT_FIELDS).unwrap();
        assert_eq!(
            parse(text, |k| pattern.is_match(k)).unwrap_err(),
            "line 2: pgfault: bad value \"12z\""
        );
        assert_eq!(parse(text, |_| false).unwrap(), []);
    }
}
