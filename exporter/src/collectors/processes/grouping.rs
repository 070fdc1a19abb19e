//! Naming processes into groups, with process-exporter's rule semantics.
//!
//! Rules are tried in order and the first match wins; within a rule every given matcher
//! (`comm`, `exe`, `cmdline`) must match. A process no rule matches is not reported. With no
//! rules every process is grouped by its `comm`. Kernel threads whose names carry a CPU,
//! device or work-queue suffix (`kworker/0:1H-events`, `ksoftirqd/3`, `kswapd0`) are named
//! by their stem, so per-CPU and short-lived worker threads do not each make a group and
//! groups do not churn as workers come and go.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use crate::config::ProcessRule;

/// One piece of a name template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Comm,
    ExeBase,
    ExeFull,
    Match(String),
}

/// A compiled process-exporter name template such as `{{.Comm}}` or `app:{{.Matches.name}}`.
///
/// Only the fields that keep cardinality bounded are accepted: `.PID` and `.StartTime` would
/// make a group per process, so they are rejected when the config is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    segments: Vec<Segment>,
}

impl Default for NameTemplate {
    /// process-exporter's default name: the base name of `argv[0]`.
    fn default() -> Self {
        Self {
            segments: vec![Segment::ExeBase],
        }
    }
}

impl NameTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unterminated `{{{{` in name template {text:?}"))?;
            let field = after[..end].trim();
            segments.push(match field {
                ".Comm" => Segment::Comm,
                ".ExeBase" => Segment::ExeBase,
                ".ExeFull" => Segment::ExeFull,
                _ => match field.strip_prefix(".Matches.") {
                    Some(group) if !group.is_empty() => Segment::Match(group.to_owned()),
                    _ => {
                        return Err(format!(
                            "unsupported name template field `{field}` in {text:?}, expected .Comm, .ExeBase, .ExeFull or .Matches.<group>"
                        ));
                    }
                },
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Self { segments })
    }

    /// Capture-group names the template refers to.
    pub fn match_groups(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Match(name) => Some(name.as_str()),
            _ => None,
        })
    }

    fn needs_cmdline(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::ExeBase | Segment::ExeFull | Segment::Match(_)))
    }

    fn expand(&self, process: &Attributes, captures: &HashMap<String, String>) -> String {
        let mut name = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => name.push_str(text),
                Segment::Comm => name.push_str(&process.comm_name()),
                Segment::ExeBase => name.push_str(&process.exe_base()),
                Segment::ExeFull => match process.cmdline.first() {
                    Some(argv0) => name.push_str(argv0),
                    None => name.push_str(&process.comm_name()),
                },
                Segment::Match(group) => {
                    name.push_str(captures.get(group).map_or("", String::as_str));
                }
            }
        }
        name
    }
}

/// What a rule can look at.
#[derive(Debug)]
pub struct Attributes<'a> {
    pub comm: &'a str,
    pub kernel_thread: bool,
    /// Empty for kernel threads and zombies, or when no rule needs it.
    pub cmdline: &'a [String],
}

impl Attributes<'_> {
    /// `comm`, with kernel-thread suffixes removed.
    fn comm_name(&self) -> Cow<'_, str> {
        if self.kernel_thread {
            Cow::Borrowed(kernel_thread_stem(self.comm))
        } else {
            Cow::Borrowed(self.comm)
        }
    }

    /// process-exporter's `ExeBase`: the base name of `argv[0]`, else `comm`.
    fn exe_base(&self) -> Cow<'_, str> {
        match self.cmdline.first() {
            Some(argv0) => Cow::Borrowed(
                Path::new(argv0)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(argv0),
            ),
            None => self.comm_name(),
        }
    }
}

/// The stable part of a kernel thread's name: what precedes the first `/` (`kworker/u8:2-flush`
/// → `kworker`, `jbd2/vda1-8` → `jbd2`), or, without a `/`, the name without trailing digits
/// and separators (`kswapd0` → `kswapd`, `scsi_eh_1` → `scsi_eh`).
pub fn kernel_thread_stem(comm: &str) -> &str {
    let stem = match comm.split_once('/') {
        Some((head, _)) => head,
        None => comm
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches(['_', '-', ':']),
    };
    if stem.is_empty() { comm } else { stem }
}

/// The configured rules, ready to apply.
#[derive(Debug, Default)]
pub struct Grouper {
    rules: Vec<ProcessRule>,
}

impl Grouper {
    pub fn new(rules: Vec<ProcessRule>) -> Self {
        Self { rules }
    }

    /// Whether naming needs `/proc/PID/cmdline` (read once per new process).
    pub fn needs_cmdline(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !r.exe.is_empty() || !r.cmdline.is_empty() || r.name.needs_cmdline())
    }

    /// The group of a process, or `None` if no rule matches it.
    pub fn group(&self, process: &Attributes) -> Option<String> {
        if self.rules.is_empty() {
            return Some(process.comm_name().into_owned());
        }
        self.rules.iter().find_map(|rule| apply(rule, process))
    }
}

fn apply(rule: &ProcessRule, process: &Attributes) -> Option<String> {
    if !rule.comm.is_empty() && !rule.comm.iter().any(|c| c == process.comm) {
        return None;
    }
    if !rule.exe.is_empty() && !exe_matches(&rule.exe, process.cmdline) {
        return None;
    }
    let mut captures = HashMap::new();
    if !rule.cmdline.is_empty() {
        let joined = process.cmdline.join(" ");
        for pattern in &rule.cmdline {
            let found = pattern.regex().captures(&joined)?;
            for name in pattern.regex().capture_names().flatten() {
                let value = found.name(name).map_or("", |m| m.as_str());
                captures.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    Some(rule.name.expand(process, &captures))
}

/// process-exporter's `exe` matcher: an entry with a `/` must equal `argv[0]`, one without
/// must equal its base name.
fn exe_matches(exes: &[String], cmdline: &[String]) -> bool {
    let Some(argv0) = cmdline.first() else {
        return false;
    };
    let base = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(argv0);
    exes.iter().any(|exe| {
        if exe.contains('/') {
            exe == argv0
        } else {
            exe == base
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn rule(name: Option<&str>, comm: &[&str], exe: &[&str], cmdline: &[&str]) -> ProcessRule {
        ProcessRule {
            name: name.map_or_else(NameTemplate::default, |n| NameTemplate::parse(n).unwrap()),
            comm: comm.iter().map(|s| s.to_string()).collect(),
            exe: exe.iter().map(|s| s.to_string()).collect(),
            cmdline: cmdline.iter().map(|s| Pattern::new(s).unwrap()).collect(),
        }
    }

    fn user<'a>(comm: &'a str, cmdline: &'a [String]) -> Attributes<'a> {
        Attributes {
            comm,
            kernel_thread: false,
            cmdline,
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kernel_thread_names_are_normalised() {
        for (comm, stem) in [
            ("kworker/0:1H-events", "kworker"),
            ("kworker/u8:2-flush-259:0", "kworker"),
            ("ksoftirqd/3", "ksoftirqd"),
            ("migration/0", "migration"),
            ("kswapd0", "kswapd"),
            ("scsi_eh_1", "scsi_eh"),
            ("jbd2/vda1-8", "jbd2"),
            ("irq/122-aerdrv", "irq"),
            ("rcu_preempt", "rcu_preempt"),
            ("kthreadd", "kthreadd"),
            ("0", "0"),
        ] {
            assert_eq!(kernel_thread_stem(comm), stem, "{comm}");
        }
    }

    #[test]
    fn default_groups_by_comm_and_normalises_only_kernel_threads() {
        let g = Grouper::default();
        assert!(!g.needs_cmdline());
        let kworker = Attributes {
            comm: "kworker/1:0-mm_percpu_wq",
            kernel_thread: true,
            cmdline: &[],
        };
        assert_eq!(g.group(&kworker).as_deref(), Some("kworker"));
        assert_eq!(
            g.group(&user("python3.11", &[])).as_deref(),
            Some("python3.11")
        );
        // A user process may legitimately end in digits or contain a slash.
        assert_eq!(g.group(&user("worker/2", &[])).as_deref(), Some("worker/2"));
    }

    #[test]
    fn first_matching_rule_wins() {
        let g = Grouper::new(vec![
            rule(Some("web"), &["nginx"], &[], &[]),
            rule(Some("{{.Comm}}"), &[], &[], &[".+"]),
        ]);
        assert!(g.needs_cmdline());
        let nginx = args(&["nginx: worker process"]);
        assert_eq!(g.group(&user("nginx", &nginx)).as_deref(), Some("web"));
        let bash = args(&["-bash"]);
        assert_eq!(g.group(&user("bash", &bash)).as_deref(), Some("bash"));
        // `.+` needs a non-empty command line: kernel threads are not matched.
        assert_eq!(g.group(&user("kthreadd", &[])), None);
    }

    #[test]
    fn all_matchers_of_a_rule_must_match() {
        let g = Grouper::new(vec![rule(None, &["python3"], &[], &["app\\.py"])]);
        let app = args(&["/usr/bin/python3", "app.py"]);
        let other = args(&["/usr/bin/python3", "other.py"]);
        assert_eq!(g.group(&user("python3", &app)).as_deref(), Some("python3"));
        assert_eq!(g.group(&user("python3", &other)), None);
    }

    #[test]
    fn exe_matches_base_name_or_full_path() {
        let by_base = Grouper::new(vec![rule(None, &[], &["postgres"], &[])]);
        let by_path = Grouper::new(vec![rule(
            Some("{{.ExeFull}}"),
            &[],
            &["/usr/lib/postgresql/15/bin/postgres"],
            &[],
        )]);
        let pg = args(&["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/pg"]);
        let other = args(&["/opt/postgres", "-D"]);
        assert_eq!(
            by_base.group(&user("postgres", &pg)).as_deref(),
            Some("postgres")
        );
        assert_eq!(
            by_base.group(&user("postgres", &other)).as_deref(),
            Some("postgres")
        );
        assert_eq!(
            by_path.group(&user("postgres", &pg)).as_deref(),
            Some("/usr/lib/postgresql/15/bin/postgres")
        );
        assert_eq!(by_path.group(&user("postgres", &other)), None);
        assert_eq!(by_base.group(&user("postgres", &[])), None);
    }

    #[test]
    fn matches_template_uses_named_captures() {
        let g = Grouper::new(vec![rule(
            Some("app:{{.Matches.cfg}}"),
            &[],
            &[],
            &["--config\\s+/etc/(?P<cfg>[^/ ]+)\\.yml"],
        )]);
        let app = args(&["/usr/bin/python3", "app.py", "--config", "/etc/billing.yml"]);
        assert_eq!(
            g.group(&user("python3", &app)).as_deref(),
            Some("app:billing")
        );
    }

    #[test]
    fn template_parsing() {
        assert_eq!(
            NameTemplate::parse("{{ .Comm }}-x").unwrap().segments,
            [Segment::Comm, Segment::Literal("-x".into())]
        );
        assert_eq!(
            NameTemplate::parse("{{.PID}}").unwrap_err(),
            "unsupported name template field `.PID` in \"{{.PID}}\", expected .Comm, .ExeBase, .ExeFull or .Matches.<group>"
        );
        assert_eq!(
            NameTemplate::parse("{{.Comm").unwrap_err(),
            "unterminated `{{` in name template \"{{.Comm\""
        );
        let exe_base = NameTemplate::default();
        let cmd = args(&["/usr/sbin/sshd", "-D"]);
        assert_eq!(
            exe_base.expand(&user("sshd", &cmd), &HashMap::new()),
            "sshd"
        );
        assert_eq!(exe_base.expand(&user("sshd", &[]), &HashMap::new()), "sshd");
    }
}
