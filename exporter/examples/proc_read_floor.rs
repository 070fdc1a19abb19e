//! The read floor for the processes collector benchmark: list `/proc` and read
//! `/proc/PID/stat` and `/proc/PID/status` for every pid, nothing else, `N` times, then print
//! the CPU milliseconds (utime + stime of this process) per pass.
//!
//! Usage: `proc_read_floor [N]` (default 20). Used by `exporter/bench/process.sh`.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("own stat is readable");
    let after = &stat[stat.rfind(')').expect("stat has a comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // proc(5) fields 14 and 15; `fields[0]` is field 3.
    let tick = |i: usize| fields[i].parse::<u64>().expect("numeric tick field");
    tick(11) + tick(12)
}

fn main() {
    let passes: u32 = std::env::args()
        .nth(1)
        .map_or(20, |n| n.parse().expect("N is a number"));
    let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
    let mut buf = Vec::with_capacity(4096);
    let mut bytes = 0usize;
    let mut pids = 0usize;
    let start = cpu_ticks();
    for _ in 0..passes {
        pids = 0;
        for entry in std::fs::read_dir("/proc")
            .expect("/proc is readable")
            .flatten()
        {
            let name = entry.file_name();
            if name.to_str().is_none_or(|n| n.parse::<u32>().is_err()) {
                continue;
            }
            pids += 1;
            let mut path = PathBuf::from("/proc");
            path.push(&name);
            for file in ["stat", "status"] {
                path.push(file);
                buf.clear();
                if let Ok(mut f) = File::open(&path) {
                    let _ = f.read_to_end(&mut buf);
                    bytes += buf.len();
                }
                path.pop();
            }
        }
    }
    let used = (cpu_ticks() - start) as f64 / ticks_per_second;
    println!(
        "pids={pids} passes={passes} cpu_ms_per_pass={:.2} bytes={bytes}",
        used * 1000.0 / f64::from(passes)
    );
}
