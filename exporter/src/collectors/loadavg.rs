//! `node_load1`, `node_load5`, `node_load15` from `/proc/loadavg`.

use super::{BuildContext, Collector, CollectorError, CollectorSpec, read_file};
use crate::exposition::MetricSet;
use std::path::PathBuf;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "loadavg",
    default_enabled: true,
    help: "Load averages from /proc/loadavg.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(LoadavgCollector {
        path: ctx.paths.proc("loadavg"),
    }))
}

struct LoadavgCollector {
    path: PathBuf,
}

impl Collector for LoadavgCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        let text = read_file(&self.path)?;
        let [one, five, fifteen] = parse_loadavg(&text)
            .ok_or_else(|| CollectorError::parse(&self.path, "expected three load averages"))?;
        out.gauge("node_load1", "1m load average.", one);
        out.gauge("node_load5", "5m load average.", five);
        out.gauge("node_load15", "15m load average.", fifteen);
        Ok(())
    }
}

/// Parses the first three fields of `/proc/loadavg`.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_averages() {
        assert_eq!(
            parse_loadavg("0.21 0.37 0.39 1/719 19737\n"),
            Some([0.21, 0.37, 0.39])
        );
    }

    #[test]
    fn rejects_truncated_input() {
        assert_eq!(parse_loadavg("0.21 0.37"), None);
        assert_eq!(parse_loadavg("x y z"), None);
    }
}
