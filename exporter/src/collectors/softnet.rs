//! `node_softnet_{processed,dropped,times_squeezed}_total{cpu}` from `/proc/net/softnet_stat`,
//! as node_exporter 1.5's `softnet` collector.
//!
//! `dropped` counts packets lost because a CPU's input backlog was full
//! (`net.core.netdev_max_backlog`), and `times_squeezed` the times packet processing ran out
//! of its budget with work left (`net.core.netdev_budget`): the two tuning knobs of receive-side
//! packet processing, which nothing else in `/proc` shows.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::{Kind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "softnet",
    default_enabled: true,
    help: "Per-CPU packet processing, backlog drops and budget squeezes from /proc/net/softnet_stat.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(SoftnetCollector {
        path: ctx.paths.proc("net/softnet_stat"),
    }))
}

struct SoftnetCollector {
    path: PathBuf,
}

/// The first three columns of the file, in order, as node_exporter 1.5 names them.
const FAMILIES: [(&str, &str); 3] = [
    (
        "node_softnet_processed_total",
        "Number of processed packets",
    ),
    ("node_softnet_dropped_total", "Number of dropped packets"),
    (
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
    ),
];

/// One line of the file: the CPU and its [`FAMILIES`] counters.
#[derive(Debug, PartialEq)]
struct CpuStats {
    cpu: u64,
    counters: [u64; 3],
}

impl Collector for SoftnetCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let cpus = parse(&text).map_err(|m| CollectorError::parse(&self.path, m))?;
        for (index, (name, help)) in FAMILIES.into_iter().enumerate() {
            let family = out.family(name, help, Kind::Counter);
            for stats in &cpus {
                let cpu = stats.cpu.to_string();
                family.sample(&[("cpu", &cpu)], stats.counters[index] as f64);
            }
        }
        Ok(())
    }
}

/// One line of hex counters per online CPU. Since Linux 5.10 column 13 is the CPU's number;
/// before, lines are in CPU order and the line's index is used, as node_exporter 1.5 does
/// (which misnames CPUs after an offline one on those kernels).
fn parse(text: &str) -> Result<Vec<CpuStats>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            let line_no = index + 1;
            let columns = line
                .split_ascii_whitespace()
                .map(|v| u64::from_str_radix(v, 16))
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| format!("line {line_no}: not a hex number"))?;
            match columns.as_slice() {
                [processed, dropped, times_squeezed, rest @ ..] => Ok(CpuStats {
                    cpu: rest.get(9).copied().unwrap_or(index as u64),
                    counters: [*processed, *dropped, *times_squeezed],
                }),
                _ => Err(format!(
                    "line {line_no}: {} columns, expected at least 3",
                    columns.len()
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_cpu_number_from_its_column_where_the_kernel_writes_it() {
        // Linux 6.x: 15 columns, the 13th is the CPU; CPU 1 is offline.
        let text = "0025721c 00000000 00000012 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0024cada 00000003 00000015 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000
";
        assert_eq!(
            parse(text).unwrap(),
            [
                CpuStats {
                    cpu: 0,
                    counters: [0x25721c, 0, 0x12],
                },
                CpuStats {
                    cpu: 2,
                    counters: [0x24cada, 3, 0x15],
                },
            ]
        );
    }

    #[test]
    fn older_kernels_are_numbered_by_line() {
        // Linux 4.x: 11 columns, no CPU number.
        let text = "00000010 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00000020 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
";
        let cpus = parse(text).unwrap();
        assert_eq!(cpus.iter().map(|c| c.cpu).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(cpus[1].counters, [0x20, 0, 0]);
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        assert_eq!(
            parse("00000010 00000001 00000002\nzz 1 2\n").unwrap_err(),
            "line 2: not a hex number"
        );
        assert_eq!(
            parse("00000010 00000001\n").unwrap_err(),
            "line 1: 2 columns, expected at least 3"
        );
    }
}
