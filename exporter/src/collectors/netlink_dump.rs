//! A netlink socket kept open between scrapes, and the dump loop its collectors share.
//!
//! `netclass` (rtnetlink `RTM_GETLINK`) and `tcpstat` (`sock_diag`) each ask the kernel for a
//! dump and walk the messages of the reply; only the request and what a message means differ.
//! Opening a socket takes four system calls, so it is kept, and a socket that saw an error is
//! dropped, so no half-read dump is left in it: the next scrape opens a new one.

use std::io;
use std::sync::{Mutex, PoisonError};

use netlink_packet_core::{
    DecodeError, Emitable, ErrorBuffer, ErrorMessage, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, Parseable,
};
use netlink_sys::{Socket, SocketAddr};

/// Large enough for one kernel dump batch: the kernel sizes each batch to the reader's buffer
/// (up to 32 KiB), and a batch that did not fit would be cut off (`MSG_TRUNC`).
const RECV_BUFFER: usize = 32 * 1024;

/// A dump the kernel marks as interrupted (e.g. an interface came or went meanwhile) is taken
/// again, this many times at most; the last one is used as it is.
const DUMP_TRIES: usize = 3;

/// One netlink protocol's socket, opened on first use.
pub struct KeptSocket {
    protocol: isize,
    /// Names the protocol in errors (`rtnetlink`, `sock_diag`).
    name: &'static str,
    socket: Mutex<Option<Socket>>,
}

impl KeptSocket {
    pub fn new(protocol: isize, name: &'static str) -> Self {
        KeptSocket {
            protocol,
            name,
            socket: Mutex::new(None),
        }
    }

    /// Sends `request` and hands the type and payload of every message of the reply to
    /// `on_message`, which folds it into a fresh `T`. An `NLMSG_ERROR` reply is the kernel's
    /// error; a message `on_message` cannot decode fails the dump.
    pub fn dump<T: Default>(
        &self,
        request: &[u8],
        mut on_message: impl FnMut(&mut T, u16, &[u8]) -> Result<(), DecodeError>,
    ) -> io::Result<T> {
        let mut slot = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        let socket = match slot.take() {
            Some(socket) => socket,
            None => connect(self.protocol)?,
        };
        let mut buffer = vec![0u8; RECV_BUFFER];
        let mut result = T::default();
        for _ in 0..DUMP_TRIES {
            result = T::default();
            if !self.dump_once(&socket, request, &mut buffer, &mut result, &mut on_message)? {
                break;
            }
        }
        *slot = Some(socket);
        Ok(result)
    }

    /// One dump into `result`; true when the kernel flagged it as interrupted.
    fn dump_once<T>(
        &self,
        socket: &Socket,
        request: &[u8],
        buffer: &mut [u8],
        result: &mut T,
        on_message: &mut impl FnMut(&mut T, u16, &[u8]) -> Result<(), DecodeError>,
    ) -> io::Result<bool> {
        let invalid = |e: DecodeError| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.name))
        };
        socket.send(request, 0)?;
        let mut interrupted = false;
        loop {
            let size = socket.recv(&mut &mut buffer[..], 0)?;
            if size > buffer.len() {
                return Err(io::Error::other(format!(
                    "{} dump batch of {size} bytes exceeds the {RECV_BUFFER}-byte buffer",
                    self.name
                )));
            }
            let mut batch = &buffer[..size];
            while !batch.is_empty() {
                let message = NetlinkBuffer::new_checked(batch).map_err(invalid)?;
                interrupted |= message.flags() & NLM_F_DUMP_INTR != 0;
                match message.message_type() {
                    NLMSG_DONE => return Ok(interrupted),
                    NLMSG_ERROR => {
                        let payload = message.payload();
                        let error = ErrorBuffer::new_checked(&payload)
                            .and_then(|buffer| ErrorMessage::parse(&buffer))
                            .map_err(invalid)?;
                        return Err(error.to_io());
                    }
                    kind => on_message(result, kind, message.payload()).map_err(invalid)?,
                }
                // Messages are padded to 4 bytes within a batch.
                let next = (message.length() as usize).next_multiple_of(4);
                batch = batch.get(next..).unwrap_or_default();
            }
        }
    }
}

/// A dump request of `message_type` with a body of `body_len` bytes, which `fill` writes
/// (it gets them zeroed).
pub fn dump_request(message_type: u16, body_len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    let header_len = header.buffer_len();
    header.length = (header_len + body_len) as u32;
    header.message_type = message_type;
    header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut bytes = vec![0u8; header_len + body_len];
    header.emit(&mut bytes[..header_len]);
    fill(&mut bytes[header_len..]);
    bytes
}

fn connect(protocol: isize) -> io::Result<Socket> {
    let mut socket = Socket::new(protocol)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}
