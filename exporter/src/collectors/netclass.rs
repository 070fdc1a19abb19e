//! Per-interface link state from `/sys/class/net/<device>/`, as node_exporter's netclass
//! collector: `node_network_up`, `node_network_info{address,broadcast,device,duplex,ifalias,
//! operstate}`, `node_network_mtu_bytes`, `node_network_speed_bytes`, carrier counters and
//! the other numeric attributes.
//!
//! Devices are filtered by the netdev device filter, so the two collectors describe the same
//! interfaces. Only the attribute files that become metrics are read (node_exporter reads
//! every file in the directory). A file the kernel refuses to read is normal: `carrier` and
//! `speed` answer EINVAL while the link is down, `phys_port_name` EOPNOTSUPP on most drivers;
//! such a metric is left out for that device.
//!
//! With the default sysfs root, the interface list and most attributes come from one
//! rtnetlink dump ([`netlink`]) and only the rest from files; the series and values are the
//! same either way (a test compares the two on the live interfaces).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

mod netlink;

use std::sync::atomic::{AtomicBool, Ordering};

use super::kernel_files::AttrDir;
use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::config::DeviceFilter;
use crate::exposition::{Kind, MetricSet};
use crate::paths::Paths;
use netlink::{Link, Links};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netclass",
    default_enabled: true,
    help: "Network interface link state, MTU and speed from /sys/class/net.",
    build,
};

/// Numeric attribute file, metric suffix (`node_network_<suffix>`), type.
const NUMERIC: [(&str, &str, Kind); 16] = [
    ("addr_assign_type", "address_assign_type", Kind::Gauge),
    ("carrier", "carrier", Kind::Gauge),
    ("carrier_changes", "carrier_changes_total", Kind::Counter),
    (
        "carrier_up_count",
        "carrier_up_changes_total",
        Kind::Counter,
    ),
    (
        "carrier_down_count",
        "carrier_down_changes_total",
        Kind::Counter,
    ),
    ("dev_id", "device_id", Kind::Gauge),
    ("dormant", "dormant", Kind::Gauge),
    ("flags", "flags", Kind::Gauge),
    ("ifindex", "iface_id", Kind::Gauge),
    ("iflink", "iface_link", Kind::Gauge),
    ("link_mode", "iface_link_mode", Kind::Gauge),
    ("mtu", "mtu_bytes", Kind::Gauge),
    ("name_assign_type", "name_assign_type", Kind::Gauge),
    ("netdev_group", "net_dev_group", Kind::Gauge),
    ("tx_queue_len", "transmit_queue_length", Kind::Gauge),
    ("type", "protocol_type", Kind::Gauge),
];

/// The `node_network_info` labels besides `device`, each read from the file of that name.
const INFO: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    let filter = &ctx.config.netdev;
    Ok(Box::new(NetclassCollector {
        class: ctx.paths.sys("class/net"),
        filter: DeviceFilter {
            device_include: filter.device_include.clone(),
            device_exclude: filter.device_exclude.clone(),
        },
        netlink: (ctx.paths.sysfs == Paths::default().sysfs).then(Links::default),
        netlink_warned: AtomicBool::new(false),
    }))
}

struct NetclassCollector {
    class: PathBuf,
    filter: DeviceFilter,
    /// Set when `class` is this namespace's `/sys/class/net`, which rtnetlink describes too.
    netlink: Option<Links>,
    /// A failed dump (e.g. netlink sockets denied by a seccomp profile) is logged once, then
    /// every scrape quietly reads the files.
    netlink_warned: AtomicBool,
}

/// What one interface directory yielded.
struct Device {
    name: String,
    /// [`INFO`] values, `""` when the file is absent or unreadable.
    info: [String; INFO.len()],
    /// [`NUMERIC`] values, `None` when absent, unreadable or not a number.
    numbers: [Option<i64>; NUMERIC.len()],
    /// Mbit/s; `None` also for the `-1` of a link without a known speed.
    speed_mbps: Option<i64>,
}

impl Collector for NetclassCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut devices = match self.netlink.as_ref().map(Links::dump) {
            Some(Ok(links)) => links
                .into_iter()
                .filter(|link| self.filter.accepts(&link.name))
                .map(|link| {
                    read_device(&self.class.join(&link.name), link.name.clone(), Some(&link))
                })
                .collect(),
            Some(Err(e)) => {
                if !self.netlink_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "netclass: rtnetlink dump failed, reading sysfs instead");
                }
                self.read_sysfs()?
            }
            None => self.read_sysfs()?,
        };
        devices.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        emit(&devices, out);
        Ok(())
    }
}

impl NetclassCollector {
    /// Every interface directory under `class`, all attributes from files.
    fn read_sysfs(&self) -> Result<Vec<Device>, CollectorError> {
        let entries = match std::fs::read_dir(&self.class) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(CollectorError::NoData(format!(
                    "{} does not exist",
                    self.class.display()
                )));
            }
            Err(source) => {
                return Err(CollectorError::Io {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        Ok(entries
            .filter_map(Result::ok)
            // `bonding_masters` is a plain file; interfaces are links to directories.
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| self.filter.accepts(name))
            .map(|name| read_device(&self.class.join(&name), name, None))
            .collect())
    }
}

/// One interface: each attribute from `link` where rtnetlink carries it, else from its file.
fn read_device(dir: &Path, name: String, link: Option<&Link>) -> Device {
    let mut attrs = AttrDir::open(dir).ok();
    let mut read = |file: &str| attrs.as_mut()?.read(file).ok().map(str::to_owned);
    let info = INFO.map(|file| match link.and_then(|l| l.info(file)) {
        Some(text) => text.to_owned(),
        None => read(file).unwrap_or_default(),
    });
    let mut numeric = |file: &str| match link.and_then(|l| l.number(file)) {
        Some(value) => value,
        None => number(dir, file, read(file)),
    };
    let numbers = NUMERIC.map(|(file, _, _)| numeric(file));
    let speed_mbps = numeric("speed").filter(|s| *s >= 0);
    Device {
        name,
        info,
        numbers,
        speed_mbps,
    }
}

fn emit(devices: &[Device], out: &mut MetricSet) {
    let up = out.family(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        Kind::Gauge,
    );
    for d in devices {
        let operstate = &d.info[4];
        up.sample(
            &[("device", &d.name)],
            if operstate == "up" { 1.0 } else { 0.0 },
        );
    }
    let info = out.family(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        Kind::Gauge,
    );
    for d in devices {
        let [address, broadcast, duplex, ifalias, operstate] = &d.info;
        info.sample(
            &[
                ("address", address),
                ("broadcast", broadcast),
                ("device", &d.name),
                ("duplex", duplex),
                ("ifalias", ifalias),
                ("operstate", operstate),
            ],
            1.0,
        );
    }
    for (index, (_, suffix, kind)) in NUMERIC.iter().enumerate() {
        let family = out.family(
            format!("node_network_{suffix}"),
            format!("Network device property: {suffix}"),
            *kind,
        );
        for d in devices {
            if let Some(value) = d.numbers[index] {
                family.sample(&[("device", &d.name)], value as f64);
            }
        }
    }
    let speed = out.family(
        "node_network_speed_bytes",
        "Network device property: speed_bytes",
        Kind::Gauge,
    );
    for d in devices {
        if let Some(mbps) = d.speed_mbps {
            speed.sample(&[("device", &d.name)], (mbps * 1000 * 1000 / 8) as f64);
        }
    }
}

/// A decimal or `0x` hexadecimal (`flags`, `dev_id`) attribute. Garbage is logged and left
/// out rather than failing every other interface.
fn number(dir: &Path, file: &str, text: Option<String>) -> Option<i64> {
    let text = text?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(value) => Some(value),
        Err(_) => {
            let path = dir.join(file);
            tracing::warn!(path = %path.display(), value = text, "netclass: not an integer");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;
    use crate::exposition::Value;

    fn device(root: &Path, name: &str, files: &[(&str, &str)]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
    }

    fn samples(set: &MetricSet, name: &str) -> Vec<(String, f64)> {
        let family = set.families.iter().find(|f| f.name == name).unwrap();
        family
            .samples
            .iter()
            .map(|s| {
                let device = s.labels.iter().find(|(k, _)| k == "device").unwrap();
                let Value::Number(v) = s.value else {
                    unreachable!()
                };
                (device.1.clone(), v)
            })
            .collect()
    }

    fn collect(root: &Path, filter: DeviceFilter) -> MetricSet {
        let mut out = MetricSet::default();
        NetclassCollector {
            class: root.to_owned(),
            filter,
            netlink: None,
            netlink_warned: AtomicBool::new(false),
        }
        .collect(&mut out)
        .unwrap();
        out
    }

    #[test]
    fn reads_state_numbers_and_speed() {
        let root = tempfile::tempdir().unwrap();
        device(
            root.path(),
            "eth0",
            &[
                ("operstate", "up"),
                ("address", "02:fc:00:00:00:01"),
                ("flags", "0x1003"),
                ("mtu", "1400"),
                ("speed", "-1"),
                ("carrier_changes", "2"),
            ],
        );
        device(
            root.path(),
            "veth0",
            &[("operstate", "down"), ("speed", "10000"), ("mtu", "many")],
        );
        std::fs::write(root.path().join("bonding_masters"), "\n").unwrap();

        let out = collect(root.path(), DeviceFilter::default());
        assert_eq!(
            samples(&out, "node_network_up"),
            [("eth0".into(), 1.0), ("veth0".into(), 0.0)]
        );
        assert_eq!(
            samples(&out, "node_network_flags"),
            [("eth0".into(), 4099.0)]
        );
        assert_eq!(
            samples(&out, "node_network_mtu_bytes"),
            [("eth0".into(), 1400.0)]
        );
        // -1 (unknown speed) is left out; 10 Gbit/s is 1.25 GB/s.
        assert_eq!(
            samples(&out, "node_network_speed_bytes"),
            [("veth0".into(), 1.25e9)]
        );
        let info = out
            .families
            .iter()
            .find(|f| f.name == "node_network_info")
            .unwrap();
        let labels: Vec<_> = info.samples[1]
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            labels,
            [
                "address=",
                "broadcast=",
                "device=veth0",
                "duplex=",
                "ifalias=",
                "operstate=down"
            ]
        );
        let changes = out
            .families
            .iter()
            .find(|f| f.name == "node_network_carrier_changes_total")
            .unwrap();
        assert_eq!(changes.kind, Kind::Counter);
    }

    #[test]
    fn follows_the_netdev_filter() {
        let root = tempfile::tempdir().unwrap();
        device(root.path(), "lo", &[("operstate", "unknown")]);
        device(root.path(), "eth0", &[("operstate", "up")]);
        let filter = DeviceFilter {
            device_include: None,
            device_exclude: Some(Pattern::new("^lo$").unwrap()),
        };
        let out = collect(root.path(), filter);
        assert_eq!(samples(&out, "node_network_up"), [("eth0".into(), 1.0)]);
    }

    /// The rtnetlink path must give the very series and values the files give, on this
    /// host's real interfaces (lo, and whatever else the machine has).
    #[test]
    fn netlink_matches_sysfs_on_live_interfaces() {
        let live = |netlink| {
            let mut out = MetricSet::default();
            NetclassCollector {
                class: Paths::default().sys("class/net"),
                filter: DeviceFilter::default(),
                netlink,
                netlink_warned: AtomicBool::new(false),
            }
            .collect(&mut out)
            .unwrap();
            out
        };
        // The two reads are moments apart: an interface of a busy machine may change (a carrier
        // flap, a container's veth coming or going) in between, so take the pair again then.
        let (mut from_files, mut from_netlink) = (live(None), live(Some(Links::default())));
        for _ in 0..2 {
            if from_files == from_netlink {
                break;
            }
            (from_files, from_netlink) = (live(None), live(Some(Links::default())));
        }
        assert!(!from_files.families.is_empty());
        assert!(
            samples(&from_files, "node_network_up")
                .iter()
                .any(|(device, _)| device == "lo")
        );
        for (files, netlink) in from_files.families.iter().zip(&from_netlink.families) {
            assert_eq!(files, netlink, "{} differs", files.name);
        }
        assert_eq!(from_files, from_netlink);
    }

    #[test]
    fn missing_class_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let result = NetclassCollector {
            class: root.path().join("net"),
            filter: DeviceFilter::default(),
            netlink: None,
            netlink_warned: AtomicBool::new(false),
        }
        .collect(&mut MetricSet::default());
        assert!(matches!(result, Err(CollectorError::NoData(_))));
    }
}
