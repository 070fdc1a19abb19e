//! One ICMP probe, blackbox_exporter's `icmp` prober: resolve the host, open an ICMP
//! socket (unprivileged where `net.ipv4.ping_group_range` allows it, raw otherwise) and
//! time one echo request's reply. `surge-ping` builds and matches the packets.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence};

use super::Prepared;
use super::config::ProbeHost;
use super::connect::resolve_first;
use super::outcome::{IcmpOutcome, Outcome, ProbeError};

/// The phases of `probe_icmp_duration_seconds`, in order.
pub const PHASES: [&str; 3] = ["resolve", "setup", "rtt"];

/// Echo identifiers, one per probe: a raw socket sees every ICMP reply the host receives,
/// so two probes of one host in flight must not share one.
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(0);

/// The echo of one probe of `host`, recorded into `outcome` (whose ICMP figures start at
/// zero, so a probe that fails early still reports every phase). The caller bounds it by the
/// timeout.
pub async fn run(
    prepared: &Prepared,
    host: &ProbeHost,
    outcome: &mut Outcome,
) -> Result<(), ProbeError> {
    let start = Instant::now();
    let ip = resolve_first(&host.0, 0, prepared.module.ip, outcome).await;
    icmp_figures(outcome).phases[0] = start.elapsed().as_secs_f64();
    let ip = ip?.ip();

    let start = Instant::now();
    let kind = if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 };
    let client = Client::new(&Config::builder().kind(kind).build());
    icmp_figures(outcome).phases[1] = start.elapsed().as_secs_f64();
    let client = client.map_err(ProbeError::IcmpSocket)?;
    let identifier = PingIdentifier(NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed));
    let mut pinger = client.pinger(ip, identifier).await;
    pinger.timeout(prepared.module.timeout);

    let payload = vec![0u8; prepared.module.icmp.payload_size];
    let (reply, rtt) = pinger
        .ping(PingSequence(0), &payload)
        .await
        .map_err(ProbeError::Echo)?;
    let figures = icmp_figures(outcome);
    figures.phases[2] = rtt.as_secs_f64();
    figures.reply_hop_limit = match reply {
        IcmpPacket::V4(packet) => packet.get_ttl().map(f64::from),
        IcmpPacket::V6(_) => None,
    };
    Ok(())
}

fn icmp_figures(outcome: &mut Outcome) -> &mut IcmpOutcome {
    outcome.icmp.get_or_insert_with(IcmpOutcome::default)
}
