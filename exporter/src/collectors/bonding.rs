//! `node_bonding_slaves{master}` and `node_bonding_active{master}` from the bonding driver's
//! sysfs files, as node_exporter's `bonding` collector: how many links a bonded interface has
//! and how many of them are up (MII status), so a bond that silently lost its redundancy is
//! seen (node-mixin's `NodeBondingDegraded`).
//!
//! Without the bonding module there is no `class/net/bonding_masters`: nothing to report.

use std::path::{Path, PathBuf};

use super::{
    BuildContext, Collector, CollectorError, CollectorSpec, read_file, read_file_if_present,
};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "bonding",
    default_enabled: true,
    help: "Configured and active links of bonded network interfaces from /sys/class/net.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(BondingCollector {
        class: ctx.paths.sys("class/net"),
    }))
}

struct BondingCollector {
    class: PathBuf,
}

impl Collector for BondingCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let Some(masters) = read_file_if_present(&self.class.join("bonding_masters"))? else {
            return Ok(());
        };
        let mut bonds = Vec::new();
        for master in masters.split_ascii_whitespace() {
            bonds.push((master, self.links(master)?));
        }
        bonds.sort_unstable();
        let families = [
            (
                "node_bonding_slaves",
                "Number of configured slaves per bonding interface.",
            ),
            (
                "node_bonding_active",
                "Number of active slaves per bonding interface.",
            ),
        ];
        for (index, (name, help)) in families.into_iter().enumerate() {
            let family = out.family(name, help, Kind::Gauge);
            for (master, (slaves, active)) in &bonds {
                let value = if index == 0 { slaves } else { active };
                family.sample(&[("master", master)], *value as f64);
            }
        }
        Ok(())
    }
}

impl BondingCollector {
    /// The links of `master` and how many of them have MII status `up`.
    fn links(&self, master: &str) -> Result<(u64, u64), CollectorError> {
        let bond = self.class.join(master);
        let slaves = read_file(&bond.join("bonding/slaves"))?;
        let (mut configured, mut up) = (0, 0);
        for slave in slaves.split_ascii_whitespace() {
            configured += 1;
            if mii_status(&bond, slave)?.trim() == "up" {
                up += 1;
            }
        }
        Ok((configured, up))
    }
}

/// A link's MII status, under `lower_<link>` (Linux 4.13+) or `slave_<link>` before.
fn mii_status(bond: &Path, slave: &str) -> Result<String, CollectorError> {
    let status = |prefix: &str| bond.join(format!("{prefix}{slave}/bonding_slave/mii_status"));
    match read_file_if_present(&status("lower_"))? {
        Some(text) => Ok(text),
        None => read_file(&status("slave_")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Value;

    fn link(class: &Path, bond: &str, dir: &str, status: &str) {
        let path = class.join(bond).join(dir).join("bonding_slave");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("mii_status"), status).unwrap();
    }

    #[test]
    fn counts_links_and_those_up_under_either_prefix() {
        let class = tempfile::tempdir().unwrap();
        let root = class.path();
        std::fs::write(root.join("bonding_masters"), "bond1 bond0\n").unwrap();
        for (bond, slaves) in [("bond0", "eth0 eth1\n"), ("bond1", "eth2 eth3 eth4\n")] {
            std::fs::create_dir_all(root.join(bond).join("bonding")).unwrap();
            std::fs::write(root.join(bond).join("bonding/slaves"), slaves).unwrap();
        }
        link(root, "bond0", "lower_eth0", "up\n");
        link(root, "bond0", "lower_eth1", "up\n");
        // An older kernel's naming.
        link(root, "bond1", "slave_eth2", "up\n");
        link(root, "bond1", "slave_eth3", "down\n");
        link(root, "bond1", "slave_eth4", "going back\n");
        let mut out = MetricSet::default();
        BondingCollector {
            class: root.to_owned(),
        }
        .collect(&mut out)
        .unwrap();
        let values = |name: &str| -> Vec<(String, Value)> {
            let family = out.families.iter().find(|f| f.name == name).unwrap();
            family
                .samples
                .iter()
                .map(|s| (s.labels[0].1.clone(), s.value.clone()))
                .collect()
        };
        assert_eq!(
            values("node_bonding_slaves"),
            [
                ("bond0".to_owned(), Value::Number(2.0)),
                ("bond1".to_owned(), Value::Number(3.0)),
            ]
        );
        assert_eq!(
            values("node_bonding_active"),
            [
                ("bond0".to_owned(), Value::Number(2.0)),
                ("bond1".to_owned(), Value::Number(1.0)),
            ]
        );
    }

    #[test]
    fn no_bonding_module_is_nothing_to_report_and_a_missing_link_is_an_error() {
        let class = tempfile::tempdir().unwrap();
        let collector = BondingCollector {
            class: class.path().to_owned(),
        };
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        assert!(out.families.is_empty());

        std::fs::write(class.path().join("bonding_masters"), "bond0\n").unwrap();
        std::fs::create_dir_all(class.path().join("bond0/bonding")).unwrap();
        std::fs::write(class.path().join("bond0/bonding/slaves"), "eth9\n").unwrap();
        let error = collector.collect(&mut MetricSet::default()).unwrap_err();
        assert!(error.to_string().contains("slave_eth9"), "{error}");
    }
}
