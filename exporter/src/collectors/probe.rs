//! `probe_*` and `pulse_probe_*`: the latest results of the background probes (HTTP, TCP,
//! ICMP, DNS, gRPC; see [`crate::probe`]). Reading them takes microseconds; the probes themselves run on
//! their own schedule, started by the server.

use std::sync::Arc;

use super::{BuildContext, Collector, CollectorError, CollectorSpec};
use crate::exposition::MetricSet;
use crate::probe::Probes;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "probe",
    default_enabled: false,
    help: "Latest results of the HTTP, TCP, ICMP, DNS and gRPC probes listed under `probes.targets` in the config file.",
    build,
};

fn build(ctx: &BuildContext) -> Result<Box<dyn Collector>, CollectorError> {
    Ok(Box::new(ProbeCollector {
        probes: ctx.probes.clone(),
    }))
}

struct ProbeCollector {
    probes: Arc<Probes>,
}

impl Collector for ProbeCollector {
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectorError> {
        self.probes.collect(out);
        Ok(())
    }
}
