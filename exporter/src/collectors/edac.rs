//! `node_edac_*` from the kernel's EDAC sysfs tree (`devices/system/edac/mc/mc*`): memory
//! errors the memory controllers corrected and those they could not, per controller and per
//! chip-select row, as node_exporter's `edac` collector.
//!
//! A DIMM that starts to report corrected errors is a DIMM to replace before it reports an
//! uncorrected one, which crashes the machine or corrupts data. Machines without EDAC
//! (most VMs) have no such directory: nothing to report.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, numbered_entries, read_u64};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "edac",
    default_enabled: true,
    help: "Corrected and uncorrected memory errors from the EDAC memory controllers in sysfs.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(EdacCollector {
        root: ctx.paths.sys("devices/system/edac/mc"),
    }))
}

struct EdacCollector {
    root: PathBuf,
}

/// Counts of one controller: its totals, the errors it could not place on a row (`noinfo`,
/// exported as `csrow="unknown"`), and each row's.
struct Controller {
    number: String,
    corrected: u64,
    uncorrected: u64,
    rows: Vec<(String, u64, u64)>,
}

impl Collector for EdacCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut controllers = Vec::new();
        for (number, dir) in numbered_entries(&self.root, "mc")? {
            let mut rows = vec![(
                "unknown".to_owned(),
                read_u64(&dir.join("ce_noinfo_count"))?,
                read_u64(&dir.join("ue_noinfo_count"))?,
            )];
            for (row, row_dir) in numbered_entries(&dir, "csrow")? {
                rows.push((
                    row,
                    read_u64(&row_dir.join("ce_count"))?,
                    read_u64(&row_dir.join("ue_count"))?,
                ));
            }
            controllers.push(Controller {
                corrected: read_u64(&dir.join("ce_count"))?,
                uncorrected: read_u64(&dir.join("ue_count"))?,
                number,
                rows,
            });
        }
        if !controllers.is_empty() {
            emit(&controllers, out);
        }
        Ok(())
    }
}

fn emit(controllers: &[Controller], out: &mut MetricSet) {
    for (name, help, corrected) in [
        (
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
            true,
        ),
        (
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
            false,
        ),
    ] {
        let family = out.family(name, help, Kind::Counter);
        for c in controllers {
            let value = if corrected {
                c.corrected
            } else {
                c.uncorrected
            };
            family.sample(&[("controller", &c.number)], value as f64);
        }
    }
    for (name, help, corrected) in [
        (
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
            true,
        ),
        (
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
            false,
        ),
    ] {
        let family = out.family(name, help, Kind::Counter);
        for c in controllers {
            for (row, ce, ue) in &c.rows {
                let value = if corrected { *ce } else { *ue };
                family.sample(&[("controller", &c.number), ("csrow", row)], value as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::exposition::Value;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn counts_per_controller_and_row_with_unplaced_errors_as_unknown() {
        let root = tempfile::tempdir().unwrap();
        let mc = root.path().join("mc0");
        write(
            &mc,
            &[
                ("ce_count", "5\n"),
                ("ue_count", "1\n"),
                ("ce_noinfo_count", "2\n"),
                ("ue_noinfo_count", "0\n"),
            ],
        );
        write(
            &mc.join("csrow10"),
            &[("ce_count", "1\n"), ("ue_count", "1\n")],
        );
        write(
            &mc.join("csrow2"),
            &[("ce_count", "2\n"), ("ue_count", "0\n")],
        );
        // Not a controller: the tree also holds `power` and other files.
        std::fs::create_dir_all(root.path().join("power")).unwrap();
        let mut out = MetricSet::default();
        EdacCollector {
            root: root.path().to_owned(),
        }
        .collect(&mut out)
        .unwrap();
        let rows: Vec<(String, Value)> = out
            .families
            .iter()
            .find(|f| f.name == "node_edac_csrow_correctable_errors_total")
            .unwrap()
            .samples
            .iter()
            .map(|s| (s.labels[1].1.clone(), s.value.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                ("unknown".to_owned(), Value::Number(2.0)),
                ("2".to_owned(), Value::Number(2.0)),
                ("10".to_owned(), Value::Number(1.0)),
            ]
        );
        let total = &out.families[1].samples[0];
        assert_eq!(out.families[1].name, "node_edac_uncorrectable_errors_total");
        assert_eq!(total.value, Value::Number(1.0));
    }

    #[test]
    fn no_edac_is_nothing_to_report_and_a_missing_count_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let collector = EdacCollector {
            root: root.path().join("mc"),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert_eq!(
            out.families.iter().map(|f| f.samples.len()).sum::<usize>(),
            0
        );

        write(&root.path().join("mc/mc0"), &[("ce_count", "1\n")]);
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("noinfo"), "{error}");
    }
}
