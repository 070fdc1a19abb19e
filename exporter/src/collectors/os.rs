//! `node_os_info` and `node_os_version` from os-release(5) (`/etc/os-release`, else
//! `/usr/lib/os-release`, under `--path.rootfs`), as node_exporter 1.5's `os` collector, so a
//! fleet can be grouped and searched by distribution and release.
//!
//! The file is a list of shell-style assignments. The crates that parse it each have had a
//! single release, so the few lines of os-release(5)'s quoting rules are here.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file_if_present};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "os",
    default_enabled: true,
    help: "Distribution name and version from /etc/os-release.",
    build,
};

/// `node_os_info`'s labels, in node_exporter's order, and the os-release key behind each.
const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(OsCollector {
        candidates: [
            ctx.paths.rooted("etc/os-release"),
            ctx.paths.rooted("usr/lib/os-release"),
        ],
    }))
}

struct OsCollector {
    /// The first that exists is read (os-release(5): `/etc` overrides `/usr/lib`).
    candidates: [PathBuf; 2],
}

impl Collector for OsCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let mut found = None;
        for path in &self.candidates {
            if let Some(text) = read_file_if_present(path)? {
                found = Some((path, text));
                break;
            }
        }
        let Some((path, text)) = found else {
            return Err(CollectorError::NoData("no os-release file".into()));
        };
        let release = parse(&text).map_err(|m| CollectorError::parse(path, m))?;
        let value = |key: &str| release.get(key).map(String::as_str).unwrap_or("");
        let labels: Vec<(&'static str, &str)> = INFO_LABELS
            .iter()
            .map(|(label, key)| (*label, value(key)))
            .collect();
        out.family(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, \
             image_version, name, pretty_name, variant, variant_id, version, version_codename, \
             version_id.",
            Kind::Gauge,
        )
        .sample(&labels, 1.0);
        if let Some(version) = major_minor(value("VERSION_ID")) {
            out.family(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                Kind::Gauge,
            )
            .sample(
                &[
                    ("id", value("ID")),
                    ("id_like", value("ID_LIKE")),
                    ("name", value("NAME")),
                ],
                version,
            );
        }
        Ok(())
    }
}

/// `KEY=value` lines; values may be double-quoted (backslash escapes `\"`, `\\`, `\$`, `` \` ``),
/// single-quoted (literal) or bare. `#` starts a comment line. Errors name the line.
fn parse(text: &str) -> Result<HashMap<&str, String>, String> {
    let mut release = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=value", index + 1))?;
        let value = if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            let inner = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw);
            unescape(inner)
        };
        release.insert(key, value);
    }
    Ok(release)
}

/// Drops the backslash of each shell escape.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// The leading `major[.minor]` of `VERSION_ID` as a number (`22.04.3` → 22.04), as
/// node_exporter's `^[0-9]+\.?[0-9]*`; none when it does not start with a digit or is 0.
fn major_minor(version_id: &str) -> Option<f64> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let major = digits(version_id);
    if major == 0 {
        return None;
    }
    let mut end = major;
    if version_id[major..].starts_with('.') {
        end = major + 1 + digits(&version_id[major + 1..]);
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .ok()
        .filter(|v: &f64| *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_escaped_and_bare_values() {
        let release = parse(
            "# comment\n\nNAME=\"Ubuntu\"\nVERSION_ID=22.04\nPRETTY_NAME=\"Say \\\"hi\\\" \\$5\"\nVARIANT='a \\b'\nID=ubuntu\n",
        )
        .unwrap();
        assert_eq!(release["NAME"], "Ubuntu");
        assert_eq!(release["VERSION_ID"], "22.04");
        assert_eq!(release["PRETTY_NAME"], "Say \"hi\" $5");
        assert_eq!(release["VARIANT"], "a \\b");
        assert_eq!(release["ID"], "ubuntu");
        assert_eq!(parse("junk\n").unwrap_err(), "line 1: expected KEY=value");
    }

    #[test]
    fn version_is_the_leading_major_minor() {
        assert_eq!(major_minor("22.04.3"), Some(22.04));
        assert_eq!(major_minor("12"), Some(12.0));
        assert_eq!(major_minor("9."), Some(9.0));
        assert_eq!(major_minor("rolling"), None);
        assert_eq!(major_minor(""), None);
    }

    #[test]
    fn etc_overrides_usr_lib_and_neither_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let collector = OsCollector {
            candidates: [
                root.path().join("etc/os-release"),
                root.path().join("usr/lib/os-release"),
            ],
        };
        let result = collector.collect(&mut MetricSet::default());
        assert!(
            matches!(result, Err(CollectorError::NoData(_))),
            "{result:?}"
        );

        std::fs::create_dir_all(root.path().join("usr/lib")).unwrap();
        std::fs::write(root.path().join("usr/lib/os-release"), "ID=vendor\n").unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/os-release"),
            "ID=admin\nVERSION_ID=3.1\n",
        )
        .unwrap();
        let mut out = MetricSet::default();
        collector.collect(&mut out).unwrap();
        let info = &out.families[0].samples[0];
        assert!(info.labels.iter().any(|(k, v)| k == "id" && v == "admin"));
        assert_eq!(
            out.families[1].samples[0].value,
            crate::exposition::Value::Number(3.1)
        );
    }
}
