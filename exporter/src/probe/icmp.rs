//! One ICMP probe, blackbox_exporter's `icmp` prober: resolve the host, open an ICMP
//! socket (unprivileged where `net.ipv4.ping_group_range` allows it, raw otherwise), send
//! one echo request and time its reply.
//!
//! The reply's TTL (IPv4) or hop limit (IPv6) comes from the socket's ancillary data
//! (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`), as blackbox_exporter reads it: an unprivileged
//! socket and an IPv6 one hand over no IP header to read it from. So the socket is read
//! with `recvmsg` (nix) on tokio's readiness, and pnet_packet builds and reads the packets.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use nix::sys::socket::{
    self, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage, sockopt as nix_sockopt,
};
use pnet_packet::Packet;
use pnet_packet::icmp::{self, IcmpTypes};
use pnet_packet::icmpv6::{self, Icmpv6Types};
use pnet_packet::ipv4::Ipv4Packet;
use rustix::net::sockopt;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::Prepared;
use super::config::{Module, ProbeHost};
use super::connect::{resolve_first, source_address, source_error};
use super::outcome::{IcmpOutcome, Outcome, ProbeError};

/// The phases of `probe_icmp_duration_seconds`, in order.
pub const PHASES: [&str; 3] = ["resolve", "setup", "rtt"];

/// Echo identifiers, one per probe: a raw socket sees every ICMP reply the host receives,
/// so two probes of one host in flight must not share one.
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(0);

/// The only request of a probe.
const SEQUENCE: u16 = 1;

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
    let socket = EchoSocket::open(&prepared.module, ip);
    icmp_figures(outcome).phases[1] = start.elapsed().as_secs_f64();
    let socket = socket.map_err(ProbeError::IcmpSocket)?;
    let identifier = NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed);
    let request = socket.request(identifier, &vec![0u8; prepared.module.icmp.payload_size]);

    let start = Instant::now();
    socket.send(&request, ip).await.map_err(ProbeError::Echo)?;
    let hop_limit = socket
        .reply(ip, identifier)
        .await
        .map_err(ProbeError::Echo)?;
    let figures = icmp_figures(outcome);
    figures.phases[2] = start.elapsed().as_secs_f64();
    figures.reply_hop_limit = hop_limit.map(f64::from);
    Ok(())
}

/// An ICMP socket for one probe, on tokio's reactor as a datagram socket (which is what
/// the kernel makes of it) so that its reads and writes wait for readiness.
struct EchoSocket {
    socket: UdpSocket,
    /// A raw socket (rather than an unprivileged "ping" one): it sees the IPv4 header, and
    /// every echo reply to the host, so the identifier must be checked.
    raw: bool,
    ipv4: bool,
}

impl EchoSocket {
    /// An ICMP socket towards `ip` from the module's source address, with its TTL and
    /// fragmentation set as the module says, asking for the reply's TTL.
    fn open(module: &Module, ip: IpAddr) -> io::Result<Self> {
        let ipv4 = ip.is_ipv4();
        let (family, protocol) = if ipv4 {
            (AddressFamily::Inet, SockProtocol::Icmp)
        } else {
            (AddressFamily::Inet6, SockProtocol::IcmpV6)
        };
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let (fd, raw) = match socket::socket(family, SockType::Datagram, flags, protocol) {
            Ok(fd) => (fd, false),
            Err(_) => (
                socket::socket(family, SockType::Raw, flags, protocol)?,
                true,
            ),
        };
        if ipv4 {
            socket::setsockopt(&fd, nix_sockopt::Ipv4RecvTtl, &true)?;
        } else {
            socket::setsockopt(&fd, nix_sockopt::Ipv6RecvHopLimit, &true)?;
        }
        if let Some(source) = module.source_ip {
            let local = SockaddrStorage::from(source_address(source, ip)?);
            socket::bind(fd.as_raw_fd(), &local).map_err(|e| source_error(source, e.into()))?;
        }
        let options = &module.icmp;
        if let Some(ttl) = options.ttl {
            if ipv4 {
                sockopt::set_ip_ttl(&fd, u32::from(ttl.get()))?;
            } else {
                sockopt::set_ipv6_unicast_hops(&fd, Some(ttl.get()))?;
            }
        }
        // Path MTU discovery's "do" mode: the kernel neither fragments a request larger
        // than the path's MTU (the send fails, as blackbox_exporter's raw `dont_fragment`
        // send does) nor lets a router do it (the DF bit; IPv6 routers never fragment).
        if options.dont_fragment {
            if ipv4 {
                sockopt::set_ip_mtu_discover(&fd, sockopt::Ipv4PathMtuDiscovery::DO)?;
            } else {
                sockopt::set_ipv6_mtu_discover(&fd, sockopt::Ipv6PathMtuDiscovery::DO)?;
            }
        }
        Ok(Self {
            socket: UdpSocket::from_std(std::net::UdpSocket::from(fd))?,
            raw,
            ipv4,
        })
    }

    /// The echo request: its checksum is the kernel's to fill in but on a raw IPv4 socket
    /// (an unprivileged socket also sets its own identifier).
    fn request(&self, identifier: u16, payload: &[u8]) -> Vec<u8> {
        let mut buffer = vec![0u8; 8 + payload.len()];
        if self.ipv4 {
            let mut packet = icmp::echo_request::MutableEchoRequestPacket::new(&mut buffer)
                .expect("the buffer holds the header");
            packet.set_icmp_type(IcmpTypes::EchoRequest);
            packet.set_identifier(identifier);
            packet.set_sequence_number(SEQUENCE);
            packet.set_payload(payload);
            let checksum = icmp::checksum(&icmp::IcmpPacket::new(packet.packet()).expect("whole"));
            packet.set_checksum(checksum);
        } else {
            let mut packet = icmpv6::echo_request::MutableEchoRequestPacket::new(&mut buffer)
                .expect("the buffer holds the header");
            packet.set_icmpv6_type(Icmpv6Types::EchoRequest);
            packet.set_identifier(identifier);
            packet.set_sequence_number(SEQUENCE);
            packet.set_payload(payload);
        }
        buffer
    }

    async fn send(&self, request: &[u8], ip: IpAddr) -> io::Result<()> {
        let to = SockaddrStorage::from(SocketAddr::new(ip, 0));
        self.socket
            .async_io(Interest::WRITABLE, || {
                socket::sendto(self.socket.as_raw_fd(), request, &to, MsgFlags::empty())
                    .map_err(io::Error::from)
            })
            .await
            .map(drop)
    }

    /// Waits for the echo reply from `ip` to this probe's request; returns its TTL (hop
    /// limit) where the kernel handed it over. Anything else the socket receives (other
    /// hosts' replies, other probes' on a raw socket, the host's own requests on a
    /// loopback) is passed over.
    async fn reply(&self, ip: IpAddr, identifier: u16) -> io::Result<Option<u8>> {
        let mut buffer = vec![0u8; 65_536];
        loop {
            let (length, from, ancillary_ttl) = self
                .socket
                .async_io(Interest::READABLE, || self.receive(&mut buffer))
                .await?;
            if from != Some(ip) {
                continue;
            }
            if let Some(header_ttl) = self.matching_reply(&buffer[..length], identifier) {
                return Ok(ancillary_ttl.or(header_ttl));
            }
        }
    }

    /// One datagram into `buffer`: its length, sender and the TTL the kernel reported.
    fn receive(&self, buffer: &mut [u8]) -> io::Result<(usize, Option<IpAddr>, Option<u8>)> {
        let mut ancillary = nix::cmsg_space!(libc::c_int);
        let mut slices = [io::IoSliceMut::new(buffer)];
        let message = socket::recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut slices,
            Some(&mut ancillary),
            MsgFlags::empty(),
        )?;
        let ttl = message.cmsgs()?.find_map(|cmsg| match cmsg {
            ControlMessageOwned::Ipv4Ttl(ttl) | ControlMessageOwned::Ipv6HopLimit(ttl) => {
                u8::try_from(ttl).ok()
            }
            _ => None,
        });
        let from = message.address.and_then(|address| {
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        });
        Ok((message.bytes, from, ttl))
    }

    /// Whether `datagram` is the echo reply to this probe's request: `Some` with the TTL of
    /// its IPv4 header where the socket sees one.
    fn matching_reply(&self, datagram: &[u8], identifier: u16) -> Option<Option<u8>> {
        // A raw IPv4 socket reads the IP header too; the other kinds the ICMP message only.
        let (message, header_ttl) = if self.ipv4 && self.raw {
            let header = Ipv4Packet::new(datagram)?;
            let offset = usize::from(header.get_header_length()) * 4;
            (datagram.get(offset..)?, Some(header.get_ttl()))
        } else {
            (datagram, None)
        };
        let (reply_identifier, sequence) = if self.ipv4 {
            let reply = icmp::echo_reply::EchoReplyPacket::new(message)?;
            if reply.get_icmp_type() != IcmpTypes::EchoReply {
                return None;
            }
            (reply.get_identifier(), reply.get_sequence_number())
        } else {
            let reply = icmpv6::echo_reply::EchoReplyPacket::new(message)?;
            if reply.get_icmpv6_type() != Icmpv6Types::EchoReply {
                return None;
            }
            (reply.get_identifier(), reply.get_sequence_number())
        };
        // An unprivileged socket gets only its own replies, with the identifier the kernel
        // chose for it.
        let ours = sequence == SEQUENCE && (!self.raw || reply_identifier == identifier);
        ours.then_some(header_ttl)
    }
}

fn icmp_figures(outcome: &mut Outcome) -> &mut IcmpOutcome {
    outcome.icmp.get_or_insert_with(IcmpOutcome::default)
}
