//! The optional YAML configuration file, for what flags express badly.
//!
//! Parsing is strict (`deny_unknown_fields`) and validating: regexes are compiled while the
//! file is read, so every mistake is reported with the file, line, column and field path
//! (`pulse.yml:4:3: filesystem.mount_points_exclude: invalid regular expression ...`).
//! Flags given on the command line override the file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Deserializer, de};

use crate::collectors;
use crate::collectors::processes::NameTemplate;
use crate::tls_client::TlsOptions;

/// A configuration file that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `file:line:column: field.path: message`, the shape editors and CI logs link to.
    #[error("{}:{line}:{column}: {field}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Collectors to switch on (`true`) or off (`false`) over the built-in defaults.
    /// `--collector.<name>` / `--no-collector.<name>` override this in turn.
    pub collectors: BTreeMap<CollectorName, bool>,
    /// Which mounts the filesystem collector reports.
    pub filesystem: FilesystemConfig,
    /// Which block devices the diskstats collector reports.
    pub diskstats: DeviceFilter,
    /// Which network interfaces the netdev collector reports.
    pub netdev: DeviceFilter,
    /// Which `/proc/net/{netstat,snmp,snmp6}` fields the netstat collector reports.
    pub netstat: NetstatConfig,
    /// Which `/proc/vmstat` fields the vmstat collector reports.
    pub vmstat: VmstatConfig,
    /// Which labels the ipvs collector's backend series keep.
    pub ipvs: IpvsConfig,
    /// How the rapl collector names its series.
    pub rapl: RaplConfig,
    /// Which power supplies the powersupplyclass collector leaves out.
    pub powersupplyclass: PowerSupplyConfig,
    /// How the processes collector groups processes.
    pub processes: ProcessesConfig,
    /// How much of the cgroup tree the cgroups collector walks.
    pub cgroups: CgroupsConfig,
    /// Redis servers the redis collector queries.
    pub redis: RedisConfig,
    /// Memcached servers the memcached collector queries.
    pub memcached: MemcachedConfig,
    /// Where the textfile collector finds `*.prom` files.
    pub textfile: TextfileConfig,
    /// HTTP probe modules and targets.
    pub probes: crate::probe::config::ProbeConfig,
}

impl Config {
    /// Reads and validates `path`. An empty file is the default configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &read_file(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        parse_yaml(path, text)
    }
}

/// Reads a config file, naming it in the error. Shared by both binaries' config loaders.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })
}

/// Deserializes YAML, turning a failure into a [`ConfigError::Invalid`] that names the
/// location and the field path. Shared by the exporter config and the web config.
pub fn parse_yaml<T: de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        let key = match error.path().iter().next_back() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let inner = error.into_inner();
        let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
        let (line, column) = match key {
            Some(key) => key_location(text, line, column, &key),
            None => (line, column),
        };
        let message = inner.to_string();
        let message = strip_path(strip_location(&message), &field).to_owned();
        ConfigError::Invalid {
            file: path.to_owned(),
            line,
            column,
            field,
            message,
        }
    })
}

/// Where `key` is written, given the location serde_yaml reported for an error about it.
///
/// serde_yaml places an error raised by a field's own `Deserialize` (a bad duration, regex or
/// collector name) at the start of the enclosing mapping, its first key, which is the wrong
/// line whenever the field is not that first key. This walks the block mapping down from
/// there to the line that holds `key` at the same indentation. Anything else (a value's own
/// location, flow mappings, quoted keys, a key not found) keeps the reported location.
fn key_location(text: &str, line: usize, column: usize, key: &str) -> (usize, usize) {
    let unchanged = (line, column);
    let lines: Vec<&str> = text.lines().collect();
    let (Some(row), Some(depth)) = (line.checked_sub(1), column.checked_sub(1)) else {
        return unchanged;
    };
    match lines.get(row).and_then(|l| l.get(depth..)).and_then(key_at) {
        Some(first_key) if first_key != key => {}
        _ => return unchanged,
    }
    find_key(&lines, row, depth, key).map_or(unchanged, |row| (row + 1, column))
}

/// A [`ConfigError::Invalid`] for a rule checked after deserializing (a cross-field rule, a
/// file a field names), placed at the line of `at` (a field path such as `a.b[2].c`) or, when
/// the file does not write it, of its nearest ancestor that it does.
pub fn invalid_at(file: &Path, text: &str, at: &str, field: &str, message: &str) -> ConfigError {
    let mut path = at;
    let (line, column) = loop {
        if let Some(location) = locate(text, path) {
            break location;
        }
        match path.rfind(['.', '[']) {
            Some(end) => path = &path[..end],
            None => break (1, 1),
        }
    };
    ConfigError::Invalid {
        file: file.to_owned(),
        line,
        column,
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Line and column (1-based) of the key a field path (`a.b[2].c`) names in block-style YAML,
/// for errors found after deserializing (cross-field rules, a file a field names): serde
/// has no location for those. `None` when the path leaves block style (flow mappings,
/// quoted keys) or is not there.
pub fn locate(text: &str, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // Where the entries of the current mapping or sequence start: a row and their indentation.
    let mut row = lines.iter().position(|l| content(l).is_some())?;
    let mut depth = content(lines[row])?.0;
    let mut found = None;
    for part in field.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            let at = find_key(&lines, row, depth, key)?;
            found = Some((at, depth));
            // The value's entries: the next line's, deeper, or a sequence at the same depth.
            let next = (at + 1..lines.len()).find(|&r| content(lines[r]).is_some());
            match next.and_then(|r| Some((r, content(lines[r])?))) {
                Some((r, (d, body))) if d > depth || (d == depth && body.starts_with("- ")) => {
                    (row, depth) = (r, d);
                }
                _ => row = lines.len(),
            }
        }
        for index in indices.split_terminator(']') {
            let index: usize = index.strip_prefix('[')?.parse().ok()?;
            let item = (row..lines.len())
                .filter_map(|r| Some((r, content(lines[r])?)))
                .take_while(|&(_, (d, body))| d > depth || body.starts_with("- "))
                .filter(|&(_, (d, body))| d == depth && body.starts_with("- "))
                .nth(index)?
                .0;
            found = Some((item, depth));
            // An item's mapping starts on the item's own line, after `- `.
            (row, depth) = (item, depth + 2);
        }
    }
    found.map(|(row, depth)| (row + 1, depth + 1))
}

/// The row of `key` in the block mapping whose entries start at `row`, indented by `depth`
/// (on `row` itself the entry may follow a sequence item's `- `).
fn find_key(lines: &[&str], row: usize, depth: usize, key: &str) -> Option<usize> {
    for (r, line) in lines.iter().enumerate().skip(row) {
        let entry = if r == row {
            line.get(depth..)
        } else {
            match content(line) {
                None => continue,
                Some((d, _)) if d < depth => return None,
                Some((d, body)) => (d == depth).then_some(body),
            }
        };
        if entry.and_then(key_at) == Some(key) {
            return Some(r);
        }
    }
    None
}

/// A line's indentation and text, unless it is blank or only a comment.
fn content(line: &str) -> Option<(usize, &str)> {
    let body = line.trim_start_matches(' ');
    (!body.is_empty() && !body.starts_with('#')).then(|| (line.len() - body.len(), body))
}

/// The plain key a block-mapping line starts with (`key: ...`), if it starts with one.
fn key_at(text: &str) -> Option<&str> {
    let name_end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(text.len());
    let rest = text[name_end..].trim_start_matches(' ');
    (name_end > 0 && rest.starts_with(':')).then(|| &text[..name_end])
}

/// serde_yaml appends " at line N column M" to its messages; we print the location once,
/// up front, instead.
fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// serde_yaml prefixes some messages with its own, coarser field path; ours is printed
/// separately, so drop theirs when it is a prefix of ours.
fn strip_path<'a>(message: &'a str, field: &str) -> &'a str {
    match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && field.starts_with(prefix) => rest,
        _ => message,
    }
}

/// A regular expression compiled while the config (or a flag) is read.
///
/// Decisions are remembered per text: collectors test the same few hundred names (netstat
/// and vmstat fields, mount points, devices) on every scrape, and a hash lookup is cheaper
/// than a regex search. Clones share the memory.
#[derive(Clone)]
pub struct Pattern {
    regex: Regex,
    decisions: Arc<Mutex<HashMap<String, bool>>>,
}

/// Past this many distinct texts (mount points of short-lived containers) the memory starts
/// over rather than growing without bound.
const MAX_DECISIONS: usize = 4096;

impl Pattern {
    pub fn new(pattern: &str) -> Result<Self, String> {
        Regex::new(pattern)
            .map(Self::from_regex)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
    }

    /// For patterns that are literals in this source file.
    fn constant(pattern: &str) -> Self {
        Self::from_regex(Regex::new(pattern).expect("built-in pattern is valid"))
    }

    fn from_regex(regex: Regex) -> Self {
        Self {
            regex,
            decisions: Arc::default(),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        let mut decisions = self
            .decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&decision) = decisions.get(text) {
            return decision;
        }
        if decisions.len() >= MAX_DECISIONS {
            decisions.clear();
        }
        let decision = self.regex.is_match(text);
        decisions.insert(text.to_owned(), decision);
        decision
    }

    /// The compiled regex itself, for callers that need captures (not remembered).
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pattern::new(&text).map_err(de::Error::custom)
    }
}

/// A collector name that exists in this binary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CollectorName(pub &'static str);

impl<'de> Deserialize<'de> for CollectorName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match collectors::spec(&text) {
            Some(spec) => Ok(CollectorName(spec.name)),
            None => {
                let known: Vec<_> = collectors::ALL.iter().map(|s| s.name).collect();
                Err(de::Error::custom(format!(
                    "unknown collector `{text}`, expected one of: {}",
                    known.join(", ")
                )))
            }
        }
    }
}

/// node_exporter's defaults: pseudo and container-internal mounts say nothing about disk space.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
/// Partitions and virtual devices double-count the I/O of their parent disk.
pub const DEFAULT_DISK_DEVICE_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Mount points to skip (regex, unanchored like node_exporter's).
    pub mount_points_exclude: Pattern,
    /// Filesystem types to skip (regex).
    pub fs_types_exclude: Pattern,
    /// How long one mount's statfs may take before the mount is reported as failed and
    /// skipped until the call returns (a dead NFS server hangs it indefinitely).
    pub mount_timeout: ConfigDuration,
}

/// node_exporter's `--collector.filesystem.mount-timeout` default.
pub const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for FilesystemConfig {
    fn default() -> Self {
        Self {
            mount_points_exclude: Pattern::constant(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types_exclude: Pattern::constant(DEFAULT_FS_TYPES_EXCLUDE),
            mount_timeout: ConfigDuration(DEFAULT_MOUNT_TIMEOUT),
        }
    }
}

/// node_exporter's default: page faults, paging, swapping and OOM kills.
pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmstatConfig {
    /// `/proc/vmstat` field names to export (regex).
    pub fields: Pattern,
}

impl Default for VmstatConfig {
    fn default() -> Self {
        Self {
            fields: Pattern::constant(DEFAULT_VMSTAT_FIELDS),
        }
    }
}

/// node_exporter 1.5's default: errors, forwarding, octets, ICMP messages, listen-queue and
/// SYN-cookie trouble, and the TCP/UDP counters its dashboards chart.
pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetstatConfig {
    /// `<Protocol>_<Field>` names to export (regex), e.g. `TcpExt_ListenDrops`.
    pub fields: Pattern,
}

impl Default for NetstatConfig {
    fn default() -> Self {
        Self {
            fields: Pattern::constant(DEFAULT_NETSTAT_FIELDS),
        }
    }
}

/// One label of the ipvs collector's backend series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpvsBackendLabel {
    LocalAddress,
    LocalPort,
    RemoteAddress,
    RemotePort,
    Proto,
    LocalMark,
}

impl IpvsBackendLabel {
    /// Every label, in node_exporter's default order.
    pub const ALL: [Self; 6] = [
        Self::LocalAddress,
        Self::LocalPort,
        Self::RemoteAddress,
        Self::RemotePort,
        Self::Proto,
        Self::LocalMark,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::LocalAddress => "local_address",
            Self::LocalPort => "local_port",
            Self::RemoteAddress => "remote_address",
            Self::RemotePort => "remote_port",
            Self::Proto => "proto",
            Self::LocalMark => "local_mark",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|label| label.name() == name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpvsConfig {
    /// Labels the backend series keep; backends that agree on all of them are summed, which
    /// bounds the series count where a load balancer has thousands of backends.
    pub backend_labels: Vec<IpvsBackendLabel>,
}

impl Default for IpvsConfig {
    fn default() -> Self {
        Self {
            backend_labels: IpvsBackendLabel::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaplConfig {
    /// One `node_rapl_joules_total{rapl_zone}` instead of a `node_rapl_<zone>_joules_total`
    /// per zone (node_exporter's `--collector.rapl.enable-zone-label`).
    pub enable_zone_label: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerSupplyConfig {
    /// Supplies (`BAT0`, `AC`, `hidpp_battery_0`) not to report (regex; default: none).
    pub ignored_supplies: Pattern,
}

impl Default for PowerSupplyConfig {
    fn default() -> Self {
        Self {
            ignored_supplies: Pattern::constant("^$"),
        }
    }
}

/// Include/exclude regexes over device names. Giving both is an error, as in node_exporter;
/// it is caught while the file is read, so the message points at the second key's line.
#[derive(Debug, Default)]
pub struct DeviceFilter {
    pub device_include: Option<Pattern>,
    pub device_exclude: Option<Pattern>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DeviceFilterField {
    DeviceInclude,
    DeviceExclude,
}

impl<'de> Deserialize<'de> for DeviceFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FIELDS: &[&str] = &["device_include", "device_exclude"];
        deserializer.deserialize_struct("DeviceFilter", FIELDS, DeviceFilterVisitor)
    }
}

/// Checks exclusivity key by key (a `TryFrom` check after the map would have no location).
struct DeviceFilterVisitor;

impl<'de> de::Visitor<'de> for DeviceFilterVisitor {
    type Value = DeviceFilter;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map with device_include or device_exclude")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<DeviceFilter, A::Error> {
        let mut filter = DeviceFilter::default();
        while let Some(field) = map.next_key()? {
            let slot = match field {
                DeviceFilterField::DeviceInclude => &mut filter.device_include,
                DeviceFilterField::DeviceExclude => &mut filter.device_exclude,
            };
            *slot = map.next_value()?;
            if filter.device_include.is_some() && filter.device_exclude.is_some() {
                return Err(de::Error::custom(
                    "device_include and device_exclude are mutually exclusive",
                ));
            }
        }
        Ok(filter)
    }
}

impl DeviceFilter {
    /// Whether a device passes the filter.
    pub fn accepts(&self, device: &str) -> bool {
        if let Some(include) = &self.device_include {
            return include.is_match(device);
        }
        self.device_exclude
            .as_ref()
            .is_none_or(|exclude| !exclude.is_match(device))
    }

    /// The diskstats default when neither include nor exclude is configured.
    pub fn with_default_exclude(mut self, pattern: &str) -> Self {
        if self.device_include.is_none() && self.device_exclude.is_none() {
            self.device_exclude = Some(Pattern::constant(pattern));
        }
        self
    }
}

/// Default for `processes.max_groups` and `--collector.processes.max-groups`: enough for
/// every service of a typical host, few enough that a fork bomb of uniquely named
/// processes cannot flood the TSDB (about 20 series per group).
pub const DEFAULT_PROCESS_MAX_GROUPS: usize = 100;

/// The processes collector's settings (process-exporter's `process_names` rules).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessesConfig {
    /// Groups reported by name; processes of further groups are folded into the group
    /// `other` and the number folded is exported as `pulse_process_groups_overflowed`.
    #[serde(deserialize_with = "at_least_one")]
    pub max_groups: usize,
    /// Also read `/proc/PID/io` for `read_bytes_total`/`write_bytes_total`. Off by default:
    /// it is a third file per process and only readable for our own processes unless root.
    pub io: bool,
    /// Grouping rules, first match wins; processes no rule matches are not reported. Empty
    /// (the default) groups every process by `comm`.
    pub process_names: Vec<ProcessRule>,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        Self {
            max_groups: DEFAULT_PROCESS_MAX_GROUPS,
            io: false,
            process_names: Vec::new(),
        }
    }
}

fn at_least_one<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(deserializer)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

/// Bounds on the cgroup walk: about 20 series per cgroup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupsConfig {
    /// Levels below the root to report: 3 reaches `/user.slice/user-1000.slice/session-2.scope`
    /// and `/system.slice/docker-<id>.scope`, which is where services and containers live.
    pub max_depth: usize,
    /// Cgroups reported at most (breadth-first, in name order); the rest are counted in
    /// `pulse_cgroups_overflowed`.
    #[serde(deserialize_with = "at_least_one")]
    pub max_cgroups: usize,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        Self {
            max_depth: 3,
            max_cgroups: 500,
        }
    }
}

/// One process-exporter matcher group: every matcher given must match.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawProcessRule")]
pub struct ProcessRule {
    /// Group name template; process-exporter's default is `{{.ExeBase}}`.
    pub name: NameTemplate,
    /// Exact `comm` values (the 15-character name in `/proc/PID/stat`).
    pub comm: Vec<String>,
    /// `argv[0]`: an entry with a `/` must equal it, one without must equal its base name.
    pub exe: Vec<String>,
    /// Regexes that must all match the space-joined command line; named groups feed
    /// `{{.Matches.<group>}}`.
    pub cmdline: Vec<Pattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcessRule {
    #[serde(default)]
    name: Option<NameTemplate>,
    #[serde(default)]
    comm: Vec<String>,
    #[serde(default)]
    exe: Vec<String>,
    #[serde(default)]
    cmdline: Vec<Pattern>,
}

impl TryFrom<RawProcessRule> for ProcessRule {
    type Error = String;

    fn try_from(raw: RawProcessRule) -> Result<Self, String> {
        if raw.comm.is_empty() && raw.exe.is_empty() && raw.cmdline.is_empty() {
            return Err("a rule needs at least one of `comm`, `exe` or `cmdline`".into());
        }
        let name = raw.name.unwrap_or_default();
        for group in name.match_groups() {
            let defined = raw
                .cmdline
                .iter()
                .any(|p| p.regex().capture_names().flatten().any(|n| n == group));
            if !defined {
                return Err(format!(
                    "name uses `{{{{.Matches.{group}}}}}` but no `cmdline` regex has a group named `{group}`"
                ));
            }
        }
        Ok(Self {
            name,
            comm: raw.comm,
            exe: raw.exe,
            cmdline: raw.cmdline,
        })
    }
}

impl<'de> Deserialize<'de> for NameTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NameTemplate::parse(&text).map_err(de::Error::custom)
    }
}

/// A duration written like `5s` or `250ms`; zero is rejected because a zero timeout or
/// interval can only be a mistake. The analyzer's config uses it too (as `Dur`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let duration = humantime::parse_duration(&text)
            .map_err(|e| de::Error::custom(format!("invalid duration {text:?}: {e}")))?;
        if duration.is_zero() {
            return Err(de::Error::custom("duration must be greater than zero"));
        }
        Ok(Self(duration))
    }
}

/// How long a cache target may take to answer, unless its `timeout` says otherwise. Well
/// under the default scrape timeout, so one dead target cannot fail the whole collector.
pub const DEFAULT_CACHE_TIMEOUT: Duration = Duration::from_secs(3);

/// `host:port`, checked when the config is read so a typo is not a scrape-time mystery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(pub String);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let valid = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if valid {
            Ok(Self(text))
        } else {
            Err(de::Error::custom(format!(
                "expected host:port, got {text:?}"
            )))
        }
    }
}

/// The `redis:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    pub targets: Vec<RedisTarget>,
}

/// Where a Redis password comes from. Never inline in the config file, so the file can be
/// world-readable and committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    /// Name of an environment variable, read at start-up.
    Env(String),
    /// A file read on every scrape, so a rotated secret is picked up without a restart.
    File(PathBuf),
}

impl PasswordSource {
    /// The secret now (`None` for [`PasswordSource::None`]); the error names the variable or
    /// file, never the secret. A file's trailing line end is not part of it.
    pub fn read(&self) -> Result<Option<String>, String> {
        match self {
            Self::None => Ok(None),
            Self::Env(var) => std::env::var(var)
                .map(Some)
                .map_err(|_| format!("environment variable {var} is not set")),
            Self::File(path) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| format!("{}: {e}", path.display())),
        }
    }
}

/// One Redis server.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRedisTarget")]
pub struct RedisTarget {
    pub address: Address,
    /// ACL user (Redis 6+); without it `AUTH` uses the default user.
    pub username: Option<String>,
    pub password: PasswordSource,
    /// Connect with TLS when present.
    pub tls: Option<TlsOptions>,
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisTarget {
    address: Address,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<TlsOptions>,
    timeout: Option<ConfigDuration>,
}

impl TryFrom<RawRedisTarget> for RedisTarget {
    type Error = String;

    fn try_from(raw: RawRedisTarget) -> Result<Self, String> {
        let password = match (raw.password_env, raw.password_file) {
            (Some(_), Some(_)) => {
                return Err("password_env and password_file are mutually exclusive".into());
            }
            (Some(var), None) => PasswordSource::Env(var),
            (None, Some(path)) => PasswordSource::File(path),
            (None, None) => PasswordSource::None,
        };
        if raw.username.is_some() && password == PasswordSource::None {
            return Err("username needs password_env or password_file".into());
        }
        Ok(Self {
            address: raw.address,
            username: raw.username,
            password,
            tls: raw.tls,
            timeout: raw.timeout.map_or(DEFAULT_CACHE_TIMEOUT, |t| t.0),
        })
    }
}

/// The `textfile:` section; `--collector.textfile.directory` overrides it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextfileConfig {
    /// Directory of `*.prom` files written by other programs (atomically: write, then rename).
    pub directory: Option<PathBuf>,
}

/// The `memcached:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemcachedConfig {
    pub targets: Vec<MemcachedTarget>,
}

/// One memcached server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemcachedTarget {
    pub address: Address,
    #[serde(default = "default_cache_timeout")]
    pub timeout: ConfigDuration,
}

fn default_cache_timeout() -> ConfigDuration {
    ConfigDuration(DEFAULT_CACHE_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("pulse.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_default() {
        let config = parse("").unwrap();
        assert!(config.collectors.is_empty());
        assert!(!config.filesystem.fs_types_exclude.is_match("tmpfs"));
        assert!(config.filesystem.fs_types_exclude.is_match("proc"));
    }

    #[test]
    fn unknown_top_level_key_names_line_and_field() {
        let err = parse("collectors:\n  loadavg: true\nfilesytem: {}\n").unwrap_err();
        assert!(err.starts_with("pulse.yml:3:1: "), "{err}");
        assert!(err.contains("unknown field `filesytem`"), "{err}");
    }

    #[test]
    fn bad_regex_names_line_and_field_path() {
        let err = parse("filesystem:\n  mount_points_exclude: \"([\"\n").unwrap_err();
        assert!(
            err.starts_with(
                "pulse.yml:2:3: filesystem.mount_points_exclude: invalid regular expression \"([\""
            ),
            "{err}"
        );
    }

    #[test]
    fn mount_timeout_is_a_positive_duration() {
        let ok = parse("filesystem:\n  mount_timeout: 2s\n").unwrap();
        assert_eq!(ok.filesystem.mount_timeout.0, Duration::from_secs(2));
        let err = parse("filesystem:\n  mount_timeout: 0s\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:2:3: filesystem.mount_timeout: duration must be greater than zero"
        );
    }

    #[test]
    fn errors_of_later_fields_name_their_own_line() {
        let err = parse(
            "redis:\n  targets:\n    - address: 127.0.0.1:6379\n      # a comment\n\n      timeout: banana\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("pulse.yml:6:7: redis.targets[0].timeout: invalid duration"),
            "{err}"
        );
        let err = parse(
            "filesystem:\n  mount_points_exclude: \"^/x\"\n  fs_types_exclude: \"(\"\n  mount_timeout: 2s\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("pulse.yml:3:3: filesystem.fs_types_exclude: invalid regular"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_ipvs_backend_label_names_its_line() {
        let err = parse("ipvs:\n  backend_labels:\n    - proto\n    - port\n").unwrap_err();
        assert!(
            err.starts_with("pulse.yml:4:7: ipvs.backend_labels[1]: unknown variant `port`"),
            "{err}"
        );
        assert!(err.contains("local_mark"), "{err}");
    }

    #[test]
    fn locate_follows_keys_and_sequence_items() {
        let text = "# web\ntls:\n  cert_file: a.crt\n\n  key_file: a.key\nusers:\n  alice: x\n\
                    routes:\n- channels: [a]\n  escalate_to: [b]\n- channels: [c]\n  escalate_to: [d]\n\
                    redis:\n  - address: a:1\n    max: 1\n  - {address: b:2}\n  - address: c:3\n    max: 2\n";
        assert_eq!(locate(text, "tls.key_file"), Some((5, 3)));
        assert_eq!(locate(text, "users.alice"), Some((7, 3)));
        assert_eq!(locate(text, "routes[1].escalate_to"), Some((12, 3)));
        assert_eq!(locate(text, "routes[0]"), Some((9, 1)));
        assert_eq!(locate(text, "redis[2].max"), Some((18, 5)));
        assert_eq!(locate(text, "redis[0].max"), Some((15, 5)));
        // A sibling key ends a same-depth sequence; flow items are not walked into.
        assert_eq!(locate(text, "routes[2]"), None);
        assert_eq!(locate(text, "redis[1].address"), None);
        assert_eq!(locate(text, "tls.ca_file"), None);
        assert_eq!(locate("", "a"), None);
    }

    #[test]
    fn invalid_at_falls_back_to_the_nearest_written_ancestor() {
        let text = "x: 1\ntls:\n  cert_file: a.crt\n";
        let at = |path: &str| invalid_at(Path::new("w.yml"), text, path, "f", "m").to_string();
        assert_eq!(at("tls.cert_file"), "w.yml:3:3: f: m");
        assert_eq!(at("tls.client_ca_file"), "w.yml:2:1: f: m");
        assert_eq!(at("users[3].name"), "w.yml:1:1: f: m");
    }

    #[test]
    fn key_location_walks_only_the_reported_mapping() {
        // A same-named key deeper down is not the field; the sibling below it is.
        assert_eq!(key_location("a: 1\nx:\n  b: 2\nb: 3\n", 1, 1, "b"), (4, 1));
        // The next list item ends the mapping: the key is not there, keep what was reported.
        let items = "- a: 1\n  c: 2\n- a: 3\n  b: 4\n";
        assert_eq!(key_location(items, 1, 3, "b"), (1, 3));
        assert_eq!(key_location(items, 3, 3, "b"), (4, 3));
        // A value's own location (type errors) is kept.
        assert_eq!(key_location("a: 1\nb: x\n", 2, 4, "b"), (2, 4));
        // Flow mappings and unknown locations are kept.
        assert_eq!(key_location("t: {a: 1, b: x}\n", 1, 4, "b"), (1, 4));
        assert_eq!(key_location("a: 1\n", 0, 0, "b"), (0, 0));
    }

    #[test]
    fn unknown_collector_is_rejected() {
        let err = parse("collectors:\n  loadavg: true\n  cpux: false\n").unwrap_err();
        assert!(
            err.starts_with(
                "pulse.yml:3:3: collectors.cpux: unknown collector `cpux`, expected one of: "
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_field() {
        let err = parse("collectors:\n  loadavg: maybe\n").unwrap_err();
        assert!(err.starts_with("pulse.yml:2:12: collectors.loadavg: invalid type: string \"maybe\", expected a boolean"), "{err}");
    }

    #[test]
    fn include_and_exclude_together_is_rejected_with_location() {
        let err = parse("netdev:\n  device_include: a\n  device_exclude: b\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:2:3: netdev: device_include and device_exclude are mutually exclusive"
        );
        let ok = parse("diskstats:\n  device_exclude: loop\n").unwrap();
        assert!(!ok.diskstats.accepts("loop0"));
        assert!(parse("vmstat:\n  fields: \"(\"\n").is_err());
        assert!(
            parse("netstat:\n  fields: \"(\"\n")
                .unwrap_err()
                .starts_with("pulse.yml:2:3: netstat.fields: invalid regular expression")
        );
    }

    #[test]
    fn processes_section_parses_rules() {
        let config = parse(concat!(
            "processes:\n",
            "  max_groups: 20\n",
            "  io: true\n",
            "  process_names:\n",
            "    - name: \"{{.Comm}}\"\n",
            "      comm: [nginx]\n",
            "    - name: \"app:{{.Matches.cfg}}\"\n",
            "      cmdline: ['--config /etc/(?P<cfg>\\w+)']\n",
            "    - exe: [/usr/sbin/sshd]\n",
        ))
        .unwrap();
        let p = &config.processes;
        assert_eq!((p.max_groups, p.io, p.process_names.len()), (20, true, 3));
        assert_eq!(p.process_names[2].exe, ["/usr/sbin/sshd"]);
        assert_eq!(p.process_names[2].name, NameTemplate::default());
        assert_eq!(ProcessesConfig::default().max_groups, 100);
    }

    #[test]
    fn process_rule_errors_are_exact() {
        let cases = [
            (
                "cgroups:\n  max_cgroups: 0\n",
                "pulse.yml:2:3: cgroups.max_cgroups: must be at least 1",
            ),
            (
                "cgroups:\n  depth: 2\n",
                "pulse.yml:2:3: cgroups.depth: unknown field `depth`, expected `max_depth` or `max_cgroups`",
            ),
            (
                "processes:\n  max_groups: 0\n",
                "pulse.yml:2:3: processes.max_groups: must be at least 1",
            ),
            (
                "processes:\n  process_names:\n    - name: x\n",
                "pulse.yml:3:5: processes.process_names[0]: a rule needs at least one of `comm`, `exe` or `cmdline`",
            ),
            (
                "processes:\n  process_names:\n    - name: \"{{.PID}}\"\n      comm: [a]\n",
                "pulse.yml:3:7: processes.process_names[0].name: unsupported name template field `.PID` in \"{{.PID}}\", expected .Comm, .ExeBase, .ExeFull or .Matches.<group>",
            ),
            (
                "processes:\n  process_names:\n    - name: \"{{.Matches.x}}\"\n      cmdline: ['(?P<y>.+)']\n",
                "pulse.yml:3:5: processes.process_names[0]: name uses `{{.Matches.x}}` but no `cmdline` regex has a group named `x`",
            ),
            (
                "processes:\n  process_names:\n    - comm: [a]\n      cmdline: ['(']\n",
                "pulse.yml:4:16: processes.process_names[0].cmdline[0]: invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
            ),
            (
                "processes:\n  process_names:\n    - comm: [a]\n      cmdlines: ['x']\n",
                "pulse.yml:4:7: processes.process_names[0].cmdlines: unknown field `cmdlines`, expected one of `name`, `comm`, `exe`, `cmdline`",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn redis_targets_parse_with_defaults() {
        let config = parse(
            "redis:\n  targets:\n    - address: 127.0.0.1:6379\n    - address: cache:6380\n      username: ops\n      password_file: /run/secrets/redis\n      timeout: 500ms\n      tls: {insecure_skip_verify: true}\n",
        )
        .unwrap();
        let [a, b] = &config.redis.targets[..] else {
            panic!("two targets expected")
        };
        assert_eq!(a.password, PasswordSource::None);
        assert_eq!(a.timeout, DEFAULT_CACHE_TIMEOUT);
        assert!(a.tls.is_none());
        assert_eq!(
            b.password,
            PasswordSource::File("/run/secrets/redis".into())
        );
        assert_eq!(b.timeout, Duration::from_millis(500));
        assert!(b.tls.as_ref().unwrap().insecure_skip_verify);
    }

    #[test]
    fn redis_password_sources_are_exclusive() {
        let err = parse(
            "redis:\n  targets:\n    - address: a:1\n      password_env: P\n      password_file: /p\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: redis.targets[0]: password_env and password_file are mutually exclusive"
        );
    }

    #[test]
    fn redis_username_needs_password() {
        let err = parse("redis:\n  targets:\n    - {address: a:1, username: u}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:5: redis.targets[0]: username needs password_env or password_file"
        );
    }

    #[test]
    fn cache_address_and_timeout_are_checked() {
        let err = parse("redis:\n  targets:\n    - address: localhost\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:7: redis.targets[0].address: expected host:port, got \"localhost\""
        );
        let err =
            parse("memcached:\n  targets:\n    - {address: a:11211, timeout: 0s}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:7: memcached.targets[0].timeout: duration must be greater than zero"
        );
        let err = parse("memcached:\n  targets:\n    - {address: a:1, password: x}\n").unwrap_err();
        assert_eq!(
            err,
            "pulse.yml:3:22: memcached.targets[0].password: unknown field `password`, expected `address` or `timeout`"
        );
    }

    #[test]
    fn device_filter_include_wins() {
        let filter = DeviceFilter {
            device_include: Some(Pattern::new("^eth").unwrap()),
            device_exclude: None,
        };
        assert!(filter.accepts("eth0"));
        assert!(!filter.accepts("lo"));
        let default = DeviceFilter::default().with_default_exclude(DEFAULT_DISK_DEVICE_EXCLUDE);
        assert!(default.accepts("sda"));
        assert!(!default.accepts("sda1"));
        assert!(!default.accepts("loop0"));
        assert!(default.accepts("nvme0n1"));
        assert!(!default.accepts("nvme0n1p1"));
    }
}
