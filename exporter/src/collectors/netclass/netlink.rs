//! The interface list and most netclass attributes from one rtnetlink `RTM_GETLINK` dump.
//!
//! Reading `/sys/class/net/<device>/<attribute>` costs an open, a read and a close per value,
//! ~22 files per interface per scrape; one dump returns the same kernel fields for every
//! interface in a few system calls. Only what rtnetlink reports with the *same* meaning is
//! taken from it (see [`Link::number`] and [`Link::info`]); the rest (`flags`, `speed`,
//! `duplex`, `dev_id`, `addr_assign_type`, `name_assign_type`) is still read from sysfs.
//!
//! The messages are taken apart with the netlink crates' buffer types, attribute by attribute,
//! rather than as whole `RouteNetlinkMessage`s: that would link in the parsers of every
//! rtnetlink message and link kind (~700 KB of code, +1.5 MiB resident), for 14 attributes.
//!
//! rtnetlink answers for this process's network namespace, which is the one `/sys` shows
//! when it is mounted in this namespace; so the collector uses the dump only for the default
//! sysfs root and reads files otherwise (fixture trees, a host `/sys` bind-mounted into a
//! container).

use std::fmt::Write;
use std::io;

use libc::{
    IFLA_ADDRESS, IFLA_BROADCAST, IFLA_CARRIER, IFLA_CARRIER_CHANGES, IFLA_CARRIER_DOWN_COUNT,
    IFLA_CARRIER_UP_COUNT, IFLA_EXT_MASK, IFLA_GROUP, IFLA_IFALIAS, IFLA_IFNAME, IFLA_LINK,
    IFLA_LINKMODE, IFLA_MTU, IFLA_OPERSTATE, IFLA_TXQLEN, RTM_GETLINK, RTM_NEWLINK,
};
use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NlasIterator, parse_string, parse_u8, parse_u32,
};
use netlink_packet_route::link::{LinkFlags, LinkHeader, State};
use netlink_sys::protocols::NETLINK_ROUTE;

use crate::collectors::netlink_dump::{KeptSocket, dump_request};

/// `RTEXT_FILTER_SKIP_STATS` from `linux/rtnetlink.h` (the `IFLA_EXT_MASK` bit).
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// What one `RTM_NEWLINK` message of the dump says about an interface.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Link {
    pub name: String,
    index: u32,
    link_type: u16,
    /// `IFF_UP`: the device is open (`netif_running`), without which sysfs refuses to
    /// answer `carrier` and `dormant`.
    running: bool,
    /// `IFF_DORMANT` as `dev_get_flags` reports it, set only while running.
    dormant: bool,
    address: String,
    broadcast: String,
    ifalias: String,
    operstate: &'static str,
    carrier: Option<u8>,
    carrier_changes: Option<u32>,
    carrier_up_count: Option<u32>,
    carrier_down_count: Option<u32>,
    /// `IFLA_LINK`, which the kernel leaves out when it equals the interface's own index.
    link: Option<u32>,
    link_mode: Option<u8>,
    mtu: Option<u32>,
    group: Option<u32>,
    tx_queue_len: Option<u32>,
}

impl Link {
    /// The value of the numeric sysfs attribute `file` as sysfs would show it: `Some(None)`
    /// where sysfs refuses to answer (`carrier`, `dormant`, `speed` of a device that is down)
    /// or the kernel sent nothing, `None` when the file must be read.
    ///
    /// `flags` is deliberately not taken from the message: its `ifi_flags` are
    /// `dev_get_flags()` (with `IFF_RUNNING`/`IFF_LOWER_UP` computed, promiscuity as the user
    /// asked), while the sysfs file shows `dev->flags`.
    pub fn number(&self, file: &str) -> Option<Option<i64>> {
        let value = match file {
            "carrier" => self.carrier.filter(|_| self.running).map(i64::from),
            "carrier_changes" => self.carrier_changes.map(i64::from),
            "carrier_up_count" => self.carrier_up_count.map(i64::from),
            "carrier_down_count" => self.carrier_down_count.map(i64::from),
            "dormant" => self.running.then_some(i64::from(self.dormant)),
            "ifindex" => Some(i64::from(self.index)),
            "iflink" => Some(i64::from(self.link.unwrap_or(self.index))),
            "link_mode" => self.link_mode.map(i64::from),
            "mtu" => self.mtu.map(i64::from),
            "netdev_group" => self.group.map(i64::from),
            "tx_queue_len" => self.tx_queue_len.map(i64::from),
            "type" => Some(i64::from(self.link_type)),
            // Not in the message, but sysfs answers EINVAL for a device that is down, so
            // there is no file to read then.
            "speed" if !self.running => None,
            _ => return None,
        };
        Some(value)
    }

    /// The text of the `node_network_info` attribute `file` as sysfs would show it (`""` for
    /// an absent value), `None` when the file must be read (`duplex` of a running device).
    pub fn info(&self, file: &str) -> Option<&str> {
        match file {
            "address" => Some(&self.address),
            "broadcast" => Some(&self.broadcast),
            "ifalias" => Some(&self.ifalias),
            "operstate" => Some(self.operstate),
            // As `speed`: EINVAL while down, read from the file only while up.
            "duplex" if !self.running => Some(""),
            _ => None,
        }
    }
}

/// Dumps every interface of this network namespace over one kept rtnetlink socket.
pub struct Links {
    socket: KeptSocket,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            socket: KeptSocket::new(NETLINK_ROUTE, "rtnetlink"),
        }
    }
}

impl Links {
    pub fn dump(&self) -> io::Result<Vec<Link>> {
        self.socket
            .dump(&request(), |links: &mut Vec<Link>, kind, payload| {
                if kind == RTM_NEWLINK {
                    links.push(parse_link(payload)?);
                }
                Ok(())
            })
    }
}

/// `RTM_GETLINK` dump request for every interface, without the statistics blocks (netdev
/// reads `/proc/net/dev`; kernels before 5.11 ignore the bit and send them anyway).
fn request() -> Vec<u8> {
    let link = LinkHeader::default();
    let ext_mask = [DefaultNla::new(
        IFLA_EXT_MASK,
        RTEXT_FILTER_SKIP_STATS.to_ne_bytes().to_vec(),
    )];
    dump_request(
        RTM_GETLINK,
        link.buffer_len() + ext_mask.as_slice().buffer_len(),
        |body| {
            let (link_bytes, nla_bytes) = body.split_at_mut(link.buffer_len());
            link.emit(link_bytes);
            ext_mask.as_slice().emit(nla_bytes);
        },
    )
}

/// An `RTM_NEWLINK` payload: the `ifinfomsg` header, then the attributes.
fn parse_link(payload: &[u8]) -> Result<Link, DecodeError> {
    let header = LinkHeader::parse(payload)?;
    let mut link = Link {
        index: header.index,
        link_type: header.link_layer_type.into(),
        running: header.flags.contains(LinkFlags::Up),
        dormant: header.flags.contains(LinkFlags::Dormant),
        ..Link::default()
    };
    let attributes = payload.get(header.buffer_len()..).unwrap_or_default();
    for attribute in NlasIterator::new(attributes) {
        let attribute = attribute?;
        let value = attribute.value();
        match attribute.kind() {
            IFLA_IFNAME => link.name = parse_string(value)?,
            IFLA_ADDRESS => link.address = hardware_address(value),
            IFLA_BROADCAST => link.broadcast = hardware_address(value),
            IFLA_IFALIAS => link.ifalias = parse_string(value)?,
            IFLA_OPERSTATE => link.operstate = operstate(State::from(parse_u8(value)?)),
            IFLA_CARRIER => link.carrier = Some(parse_u8(value)?),
            IFLA_CARRIER_CHANGES => link.carrier_changes = Some(parse_u32(value)?),
            IFLA_CARRIER_UP_COUNT => link.carrier_up_count = Some(parse_u32(value)?),
            IFLA_CARRIER_DOWN_COUNT => link.carrier_down_count = Some(parse_u32(value)?),
            IFLA_LINK => link.link = Some(parse_u32(value)?),
            IFLA_LINKMODE => link.link_mode = Some(parse_u8(value)?),
            IFLA_MTU => link.mtu = Some(parse_u32(value)?),
            IFLA_GROUP => link.group = Some(parse_u32(value)?),
            IFLA_TXQLEN => link.tx_queue_len = Some(parse_u32(value)?),
            _ => {}
        }
    }
    Ok(link)
}

/// As sysfs prints `address` and `broadcast` (`%*phC`): lowercase hex bytes joined by `:`.
fn hardware_address(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        // Writing into a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The kernel's `operstates[]` names, which sysfs prints; a state it does not name makes
/// sysfs fail the read, which the file path shows as an empty label too.
fn operstate(state: State) -> &'static str {
    match state {
        State::Unknown => "unknown",
        State::NotPresent => "notpresent",
        State::Down => "down",
        State::LowerLayerDown => "lowerlayerdown",
        State::Testing => "testing",
        State::Dormant => "dormant",
        State::Up => "up",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer};

    use super::*;

    #[test]
    fn formats_addresses_as_sysfs() {
        assert_eq!(
            hardware_address(&[0x02, 0xfc, 0, 0x0a, 0xff, 1]),
            "02:fc:00:0a:ff:01"
        );
        assert_eq!(hardware_address(&[]), "");
    }

    #[test]
    fn leaves_carrier_and_dormant_out_while_down_as_sysfs_does() {
        let down = Link {
            carrier: Some(0),
            index: 7,
            ..Link::default()
        };
        assert_eq!(down.number("carrier"), Some(None));
        assert_eq!(down.number("dormant"), Some(None));
        assert_eq!(down.number("iflink"), Some(Some(7)));
        assert_eq!(down.number("flags"), None);
        assert_eq!(down.number("speed"), Some(None));
        assert_eq!(down.info("duplex"), Some(""));
        let up = Link {
            running: true,
            carrier: Some(1),
            link: Some(2),
            ..down
        };
        assert_eq!(up.number("carrier"), Some(Some(1)));
        assert_eq!(up.number("dormant"), Some(Some(0)));
        assert_eq!(up.number("iflink"), Some(Some(2)));
        assert_eq!(up.number("speed"), None);
        assert_eq!(up.info("duplex"), None);
    }

    #[test]
    fn request_is_a_link_dump() {
        let bytes = request();
        let message = NetlinkBuffer::new_checked(&bytes[..]).unwrap();
        assert_eq!(message.message_type(), RTM_GETLINK);
        assert_eq!(message.flags(), NLM_F_DUMP | NLM_F_REQUEST);
        assert_eq!(message.length() as usize, bytes.len());
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(parse_link(&[0u8; 4]).is_err());
        // A valid header followed by an attribute claiming more bytes than there are.
        let mut payload = vec![0u8; 16];
        payload.extend_from_slice(&[64, 0, 3, 0, b'l', b'o', 0, 0]);
        assert!(parse_link(&payload).is_err());
    }

    #[test]
    fn dumps_the_loopback_interface() {
        let dumper = Links::default();
        let links = dumper.dump().unwrap();
        // The kept socket serves the next scrape too.
        assert_eq!(dumper.dump().unwrap(), links);
        let lo = links.iter().find(|l| l.name == "lo").unwrap();
        assert_eq!(lo.number("type"), Some(Some(772))); // ARPHRD_LOOPBACK
        assert_eq!(lo.info("address"), Some("00:00:00:00:00:00"));
        assert!(lo.number("mtu").flatten().unwrap() > 0);
    }
}
