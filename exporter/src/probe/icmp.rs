//! One ICMP probe, blackbox_exporter's `icmp` prober: resolve the host, open an ICMP
//! socket (unprivileged where `net.ipv4.ping_group_range` allows it, raw otherwise) and
//! time one echo request's reply. `surge-ping` builds and matches the packets.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use rustix::net::sockopt;
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence};

use super::Prepared;
use super::config::{Module, ProbeHost};
use super::connect::{resolve_first, source_address, source_error};
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
    let client = open_socket(&prepared.module, ip);
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

/// The ICMP socket of one probe from `module`'s source address to `ip`, with its TTL and
/// fragmentation set as the module says.
fn open_socket(module: &Module, ip: IpAddr) -> std::io::Result<Client> {
    let options = &module.icmp;
    let mut config = Config::builder().kind(if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 });
    if let Some(source) = module.source_ip {
        config = config.bind(source_address(source, ip)?);
    }
    if let Some(ttl) = options.ttl {
        config = config.ttl(u32::from(ttl.get()));
    }
    let client = Client::new(&config.build()).map_err(|e| match module.source_ip {
        Some(source) if e.kind() == std::io::ErrorKind::AddrNotAvailable => source_error(source, e),
        _ => e,
    })?;
    if options.dont_fragment {
        forbid_fragments(&client, ip)?;
    }
    Ok(client)
}

/// Path MTU discovery's "do" mode: the kernel neither fragments a request larger than
/// the path's MTU (the send fails, as blackbox_exporter's raw `dont_fragment` send does)
/// nor lets a router do it (the DF bit; IPv6 routers never fragment).
#[allow(unsafe_code)]
fn forbid_fragments(client: &Client, ip: IpAddr) -> std::io::Result<()> {
    let socket = client.get_socket();
    // SAFETY: the descriptor is the open socket `socket` owns a reference to, and the
    // borrow ends before `socket` is dropped.
    let fd = unsafe { BorrowedFd::borrow_raw(socket.get_native_sock()) };
    if ip.is_ipv4() {
        sockopt::set_ip_mtu_discover(fd, sockopt::Ipv4PathMtuDiscovery::DO)?;
    } else {
        sockopt::set_ipv6_mtu_discover(fd, sockopt::Ipv6PathMtuDiscovery::DO)?;
    }
    Ok(())
}

fn icmp_figures(outcome: &mut Outcome) -> &mut IcmpOutcome {
    outcome.icmp.get_or_insert_with(IcmpOutcome::default)
}
