//! TCP socket counts from `sock_diag` (`NETLINK_SOCK_DIAG`), the interface `ss` and
//! node_exporter use.
//!
//! `/proc/net/tcp` has the kernel format one text line per socket, and on a busy host that
//! formatting is most of the collector's cost. The same sockets as binary `inet_diag_msg`
//! records cost about a third of the kernel time (18,000 loopback sockets: 22 ms against
//! 64 ms per read of both families), and we read two fields of each at fixed offsets.
//!
//! The `netlink-packet-sock-diag` crate is not used: its latest release (0.4) is built on
//! netlink-packet-core 0.7 while rtnetlink here uses 0.9, so it would link a second netlink
//! stack, and it decodes socket ids and attributes of which this collector needs none.
//!
//! `sock_diag` answers for this process's network namespace, which is the one `/proc/net`
//! shows to this process; so the collector uses it only for the default procfs root.

use std::io;

use netlink_packet_core::{DecodeError, parse_u32};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use super::{Counts, STATES};
use crate::collectors::netlink_dump::{KeptSocket, dump_request};

/// `SOCK_DIAG_BY_FAMILY` from `linux/sock_diag.h`: the request and reply message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// `sizeof(struct inet_diag_req_v2)` from `linux/inet_diag.h`: family, protocol, extensions
/// and padding (a byte each), the state mask (u32), and a 48-byte socket id left zero.
const REQUEST_LEN: usize = 56;

/// Offsets in `struct inet_diag_msg` (`linux/inet_diag.h`): `idiag_state` (u8) after the
/// family byte, `idiag_rqueue` and `idiag_wqueue` (u32, host order) after the 48-byte socket
/// id and `idiag_expires`. The struct is 72 bytes; attributes may follow.
const STATE_AT: usize = 1;
const RQUEUE_AT: usize = 56;
const WQUEUE_AT: usize = 60;
const MESSAGE_LEN: usize = 72;

/// `TCP_LISTEN`: for a listening socket the kernel reports the accept-queue limit as the
/// "write queue", which `/proc/net/tcp` does not (it shows 0 queued to send).
const TCP_LISTEN: u8 = 10;

/// A bit per state `/proc/net/tcp` lists (1 = established … 11 = closing). Later kernels
/// know more states that the file never shows (bound but inactive sockets, 6.5+).
const STATE_MASK: u32 = ((1 << (STATES.len() + 1)) - 1) & !1;

/// TCP sockets of both address families over one kept `sock_diag` socket.
pub struct SockDiag {
    socket: KeptSocket,
}

impl Default for SockDiag {
    fn default() -> Self {
        SockDiag {
            socket: KeptSocket::new(NETLINK_SOCK_DIAG, "sock_diag"),
        }
    }
}

impl SockDiag {
    /// The counts `/proc/net/tcp` and `/proc/net/tcp6` would give.
    pub fn count(&self) -> io::Result<Counts> {
        let mut counts = self.dump(libc::AF_INET)?;
        // The kernel has no IPv6 handler when IPv6 is not built in, as it has no tcp6 file.
        match self.dump(libc::AF_INET6) {
            Ok(v6) => counts.add(&v6),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(counts)
    }

    fn dump(&self, family: libc::c_int) -> io::Result<Counts> {
        self.socket.dump(
            &request(family as u8),
            |counts: &mut Counts, kind, payload| {
                if kind == SOCK_DIAG_BY_FAMILY {
                    count_message(counts, payload)?;
                }
                Ok(())
            },
        )
    }
}

/// A dump request for every TCP socket of `family` in the states of [`STATE_MASK`].
fn request(family: u8) -> Vec<u8> {
    dump_request(SOCK_DIAG_BY_FAMILY, REQUEST_LEN, |body| {
        body[0] = family;
        body[1] = libc::IPPROTO_TCP as u8;
        body[4..8].copy_from_slice(&STATE_MASK.to_ne_bytes());
    })
}

/// Adds one `inet_diag_msg` to `counts`.
fn count_message(counts: &mut Counts, message: &[u8]) -> Result<(), DecodeError> {
    if message.len() < MESSAGE_LEN {
        return Err(DecodeError::from(format!(
            "inet_diag_msg of {} bytes, expected at least {MESSAGE_LEN}",
            message.len()
        )));
    }
    let u32_at = |at: usize| parse_u32(&message[at..at + 4]);
    let state = message[STATE_AT];
    let slot = usize::from(state)
        .checked_sub(1)
        .and_then(|i| counts.states.get_mut(i))
        .ok_or_else(|| DecodeError::from(format!("unknown TCP state {state}")))?;
    *slot += 1;
    counts.rx_queued += u64::from(u32_at(RQUEUE_AT)?);
    if state != TCP_LISTEN {
        counts.tx_queued += u64::from(u32_at(WQUEUE_AT)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer};

    use super::*;

    fn message(state: u8, rqueue: u32, wqueue: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; MESSAGE_LEN];
        bytes[0] = libc::AF_INET as u8;
        bytes[STATE_AT] = state;
        bytes[RQUEUE_AT..RQUEUE_AT + 4].copy_from_slice(&rqueue.to_ne_bytes());
        bytes[WQUEUE_AT..WQUEUE_AT + 4].copy_from_slice(&wqueue.to_ne_bytes());
        bytes
    }

    #[test]
    fn counts_states_and_queues_as_the_file_does() {
        let mut counts = Counts::default();
        count_message(&mut counts, &message(1, 0x52C, 0x1A4)).unwrap();
        count_message(&mut counts, &message(1, 0, 0)).unwrap();
        // A listener's "write queue" is its backlog limit, not bytes to send.
        count_message(&mut counts, &message(TCP_LISTEN, 3, 4096)).unwrap();
        let mut states = [0; 11];
        states[0] = 2;
        states[9] = 1;
        assert_eq!(
            counts,
            Counts {
                states,
                tx_queued: 0x1A4,
                rx_queued: 0x52C + 3,
            }
        );
    }

    #[test]
    fn short_messages_and_unknown_states_are_errors() {
        let mut counts = Counts::default();
        assert!(count_message(&mut counts, &[1; 16]).is_err());
        assert!(count_message(&mut counts, &message(13, 0, 0)).is_err());
        assert!(count_message(&mut counts, &message(0, 0, 0)).is_err());
        assert_eq!(counts, Counts::default());
    }

    #[test]
    fn request_asks_for_the_eleven_states_of_the_file() {
        assert_eq!(STATE_MASK, 0b1111_1111_1110);
        let bytes = request(libc::AF_INET6 as u8);
        let message = NetlinkBuffer::new_checked(&bytes[..]).unwrap();
        assert_eq!(message.message_type(), SOCK_DIAG_BY_FAMILY);
        assert_eq!(message.flags(), NLM_F_DUMP | NLM_F_REQUEST);
        assert_eq!(message.length() as usize, bytes.len());
        let body = message.payload();
        assert_eq!(body.len(), REQUEST_LEN);
        assert_eq!(body[0], libc::AF_INET6 as u8);
        assert_eq!(body[1], libc::IPPROTO_TCP as u8);
    }
}
