//! `node_rapl_<zone>_joules_total{index,path}` from the powercap tree (`class/powercap`), as
//! node_exporter's `rapl` collector: the energy counters Intel RAPL (and AMD's, through the same
//! driver) keep per package, core, uncore and DRAM. Their rate is the host's power draw in
//! watts, which is what a capacity or efficiency dashboard divides work by.
//!
//! A zone is every entry whose name has a `:` (`intel-rapl:0`, `intel-rapl:0:1`,
//! `intel-rapl-mmio:0`); the bare `intel-rapl` entry is the control type, not a zone. The
//! counter wraps at `max_energy_range_uj`, which `rate()` reads as a counter reset. Since
//! Linux 5.10 `energy_uj` is readable by root only: an exporter run as another user fails
//! here, with the permission error logged, rather than reporting a wrong 0.

use std::path::PathBuf;

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, metric_name_part, read_u64,
    sorted_entries,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "rapl",
    default_enabled: true,
    help: "Energy counters of the RAPL power zones (package, core, uncore, DRAM) from /sys/class/powercap.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(RaplCollector {
        class: ctx.paths.sys("class/powercap"),
        zone_label: ctx.config.rapl.enable_zone_label,
    }))
}

struct RaplCollector {
    class: PathBuf,
    /// `node_rapl_joules_total{rapl_zone}` instead of one family per zone.
    zone_label: bool,
}

/// One zone's reading.
struct Zone {
    /// The zone's kind (`package`, `core`, `dram`), as a metric-name part.
    kind: String,
    /// The number the zone's name carries (`package-1` → 1), else 0.
    index: String,
    path: PathBuf,
    joules: f64,
}

impl Collector for RaplCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let zone_dirs = sorted_entries(&self.class)?
            .into_iter()
            .filter(|(name, _)| name.contains(':'));
        let mut zones = Vec::new();
        for (_, path) in zone_dirs {
            let name = super::read_file(&path.join("name"))?;
            let (kind, index) = kind_and_index(name.trim());
            // Read although not exported, as node_exporter does: a zone without it is not
            // a working energy counter.
            read_u64(&path.join("max_energy_range_uj"))?;
            let microjoules = read_u64(&path.join("energy_uj"))?;
            zones.push(Zone {
                kind,
                index,
                path,
                joules: microjoules as f64 / 1e6,
            });
        }
        for zone in &zones {
            let path = zone.path.to_string_lossy();
            if self.zone_label {
                out.family(
                    "node_rapl_joules_total",
                    "Current RAPL value in joules",
                    Kind::Counter,
                )
                .sample(
                    &[
                        ("index", &zone.index),
                        ("path", &path),
                        ("rapl_zone", &zone.kind),
                    ],
                    zone.joules,
                );
            } else {
                out.family(
                    format!("node_rapl_{}_joules_total", zone.kind),
                    format!("Current RAPL {} value in joules", zone.kind),
                    Kind::Counter,
                )
                .sample(&[("index", &zone.index), ("path", &path)], zone.joules);
            }
        }
        Ok(())
    }
}

/// `package-1` → (`package`, `1`); any other name is the kind whole, with every character a
/// metric name cannot hold as `_`, and index 0 (`package-0-die-1` → `package_0_die_1`).
fn kind_and_index(name: &str) -> (String, String) {
    if let Some((kind, index)) = name.split_once('-')
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
    {
        return (metric_name_part(kind), index.to_owned());
    }
    (metric_name_part(name), "0".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_kind_and_index_as_node_exporter_does() {
        let cases = [
            ("package-0", ("package", "0")),
            ("package-12", ("package", "12")),
            ("core", ("core", "0")),
            ("package-0-die-1", ("package_0_die_1", "0")),
            ("weird name", ("weird_name", "0")),
            ("dram-", ("dram_", "0")),
        ];
        for (name, (kind, index)) in cases {
            assert_eq!(
                kind_and_index(name),
                (kind.to_owned(), index.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn zones_only_and_none_without_powercap() {
        let class = tempfile::tempdir().unwrap();
        let collector = RaplCollector {
            class: class.path().join("powercap"),
            zone_label: false,
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        let zone = class.path().join("powercap/intel-rapl:0");
        std::fs::create_dir_all(&zone).unwrap();
        // The control type has no energy counter and is not a zone.
        std::fs::create_dir_all(class.path().join("powercap/intel-rapl")).unwrap();
        std::fs::write(zone.join("name"), "package-0\n").unwrap();
        std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("energy_uj"), "{error}");

        std::fs::write(zone.join("energy_uj"), "1500000\n").unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(out.families.len(), 1);
        assert_eq!(out.families[0].name, "node_rapl_package_joules_total");

        let labelled = RaplCollector {
            class: collector.class.clone(),
            zone_label: true,
        };
        let mut out = MetricSet::default();
        labelled.collect(&mut out).unwrap();
        assert_eq!(out.families[0].name, "node_rapl_joules_total");
        assert_eq!(
            out.value_of(
                "node_rapl_joules_total",
                &[("rapl_zone", "package"), ("index", "0")]
            ),
            Some(1.5)
        );
        assert_eq!(
            out.families[0].samples[0].value,
            crate::exposition::Value::Number(1.5)
        );
    }
}
