//! `node_filefd_allocated` and `node_filefd_maximum` from `/proc/sys/fs/file-nr`, as
//! node_exporter's `filefd` collector.

use std::path::PathBuf;

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "filefd",
    default_enabled: true,
    help: "Allocated and maximum file handles from /proc/sys/fs/file-nr.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(FilefdCollector {
        path: ctx.paths.proc("sys/fs/file-nr"),
    }))
}

struct FilefdCollector {
    path: PathBuf,
}

impl Collector for FilefdCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let (allocated, maximum) = parse_file_nr(&text).ok_or_else(|| {
            CollectorError::parse(
                &self.path,
                "expected three numbers: allocated, free, maximum",
            )
        })?;
        out.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            allocated,
        );
        out.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            maximum,
        );
        Ok(())
    }
}

/// `file-nr` holds allocated, free (always 0 since Linux 2.6) and maximum handles.
fn parse_file_nr(text: &str) -> Option<(f64, f64)> {
    let numbers: Vec<u64> = text
        .split_ascii_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match numbers.as_slice() {
        [allocated, _free, maximum] => Some((*allocated as f64, *maximum as f64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_allocated_and_maximum() {
        assert_eq!(parse_file_nr("743\t0\t2466193\n"), Some((743.0, 2466193.0)));
        assert_eq!(
            parse_file_nr("1024 0 9223372036854775807\n"),
            Some((1024.0, 9223372036854775807.0))
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse_file_nr("743 0\n"), None);
        assert_eq!(parse_file_nr("a b c\n"), None);
    }
}
