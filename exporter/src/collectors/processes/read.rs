//! Parsers for the few `/proc/PID` files the processes collector reads.
//!
//! These work on raw bytes read into one reused buffer: `comm` may hold any bytes, and the
//! procfs crate's parsers build a struct with every field (and a `String` per line of
//! `status`) where we need a dozen numbers. Each parser is a pure function tested on
//! literal file contents.

/// The fields of `/proc/PID/stat` we use (proc(5) numbering in comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat<'a> {
    /// (2) `comm`, between the first `(` and the last `)`.
    pub comm: &'a [u8],
    /// (3) one-letter state.
    pub state: u8,
    /// (9) `PF_*` flags; `PF_KTHREAD` marks kernel threads.
    pub flags: u64,
    /// (10) minor faults.
    pub minflt: u64,
    /// (12) major faults.
    pub majflt: u64,
    /// (14) user time in clock ticks.
    pub utime: u64,
    /// (15) system time in clock ticks.
    pub stime: u64,
    /// (20) threads.
    pub num_threads: u64,
    /// (22) start time in clock ticks after boot.
    pub starttime: u64,
    /// (23) virtual memory size in bytes.
    pub vsize: u64,
    /// (24) resident set size in pages.
    pub rss_pages: u64,
}

/// `PF_KTHREAD` from include/linux/sched.h.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Stat<'_> {
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses `/proc/PID/stat`. `comm` may contain spaces and parentheses, so the fixed fields
/// are counted from the *last* `)`.
pub fn parse_stat(text: &[u8]) -> Option<Stat<'_>> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let comm = text.get(open + 1..close)?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // `fields` starts at field 3; nth(k) skips k fields and consumes one.
    let state = *fields.next()?.as_bytes().first()?;
    let mut num = |skip: usize| -> Option<u64> { fields.nth(skip)?.parse().ok() };
    let flags = num(5)?; // 4..8 skipped, 9
    let minflt = num(0)?; // 10
    let majflt = num(1)?; // 12
    let utime = num(1)?; // 14
    let stime = num(0)?; // 15
    let num_threads = num(4)?; // 20
    let starttime = num(1)?; // 22
    let vsize = num(0)?; // 23
    let rss_pages = num(0)?; // 24
    Some(Stat {
        comm,
        state,
        flags,
        minflt,
        majflt,
        utime,
        stime,
        num_threads,
        starttime,
        vsize,
        rss_pages,
    })
}

/// The fields of `/proc/PID/status` that `stat` lacks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `VmSwap`, in bytes (absent for kernel threads: 0).
    pub swap_bytes: u64,
    pub voluntary_ctxt_switches: u64,
    pub nonvoluntary_ctxt_switches: u64,
}

/// Parses `/proc/PID/status`, ignoring every line but the three we need.
pub fn parse_status(text: &[u8]) -> Status {
    let mut status = Status::default();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = line.split_at(colon);
        let field = match key {
            b"VmSwap" => &mut status.swap_bytes,
            b"voluntary_ctxt_switches" => &mut status.voluntary_ctxt_switches,
            b"nonvoluntary_ctxt_switches" => &mut status.nonvoluntary_ctxt_switches,
            _ => continue,
        };
        let number = first_number(&value[1..]).unwrap_or(0);
        *field = if key == b"VmSwap" {
            number * 1024
        } else {
            number
        };
    }
    status
}

fn first_number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft `Max open files` limit from `/proc/PID/limits`; `Some(None)` is unlimited.
pub fn parse_nofile_limit(text: &[u8]) -> Option<Option<u64>> {
    let text = std::str::from_utf8(text).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(None);
    }
    soft.parse().ok().map(Some)
}

/// `read_bytes` and `write_bytes` (storage I/O, as process-exporter reports) from
/// `/proc/PID/io`.
pub fn parse_io(text: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut read = None;
    let mut write = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("read_bytes:") {
            read = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("write_bytes:") {
            write = v.trim().parse().ok();
        }
    }
    Some((read?, write?))
}

/// `/proc/PID/cmdline` as arguments (NUL-separated, possibly NUL-terminated).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// `btime` (boot time, seconds since the epoch) from `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &[u8] = b"1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 2500 0 12 0 150 75 0 0 20 0 3 0 8000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.comm, b"my (odd) proc");
        assert_eq!(s.state, b'S');
        assert_eq!(s.flags, 4_194_560);
        assert_eq!((s.minflt, s.majflt), (2500, 12));
        assert_eq!((s.utime, s.stime), (150, 75));
        assert_eq!(s.num_threads, 3);
        assert_eq!(s.starttime, 8000);
        assert_eq!(s.vsize, 104_857_600);
        assert_eq!(s.rss_pages, 2560);
        assert!(!s.is_kernel_thread());
    }

    #[test]
    fn kernel_thread_flag() {
        let s = parse_stat(b"21 (kworker/0:1H-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 3 0 0 0 -20 1 0 40 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0\n").unwrap();
        assert!(s.is_kernel_thread());
        assert_eq!(s.comm, b"kworker/0:1H-events");
    }

    #[test]
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat(b"1 (init) S 0 1 1 0 -1 4194560 10"), None);
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn status_picks_swap_and_context_switches() {
        let s = parse_status(b"Name:\tnginx\nVmRSS:\t  10240 kB\nVmSwap:\t     8 kB\nThreads:\t1\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n");
        assert_eq!(
            s,
            Status {
                swap_bytes: 8192,
                voluntary_ctxt_switches: 120,
                nonvoluntary_ctxt_switches: 7
            }
        );
        assert_eq!(parse_status(b"Name:\tkthreadd\n"), Status::default());
    }

    #[test]
    fn nofile_limit_soft_value() {
        let limits = b"Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 524288               files     \n";
        assert_eq!(parse_nofile_limit(limits), Some(Some(1024)));
        assert_eq!(
            parse_nofile_limit(
                b"Max open files            unlimited            unlimited            files\n"
            ),
            Some(None)
        );
        assert_eq!(parse_nofile_limit(b"Max cpu time unlimited\n"), None);
    }

    #[test]
    fn io_bytes() {
        let io = b"rchar: 100\nwchar: 200\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io), Some((4096, 8192)));
        assert_eq!(parse_io(b"rchar: 1\n"), None);
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            parse_cmdline(b"/usr/bin/python3\0app.py\0--config\0/etc/app.yml\0"),
            ["/usr/bin/python3", "app.py", "--config", "/etc/app.yml"]
        );
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn btime_line() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1418183276\nprocesses 26442\n"),
            Some(1_418_183_276.0)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
    }
}
