//! One DNS probe, blackbox_exporter's `dns` prober: one query to the target server over UDP
//! or TCP, the response code checked against `valid_rcodes` and each section's records
//! against the module's regexes. hickory-proto builds and parses the messages; the exchange
//! is done here so its phases (resolve, connect, request) can be timed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use super::Prepared;
use super::config::{DnsOptions, ProbeAddress, RrChecks};
use super::connect::{Io, connect, resolve_first, source_address, source_error, tls_handshake};
use super::outcome::{DnsOutcome, Outcome, ProbeError};

/// The phases of `probe_dns_duration_seconds`, in order.
pub const PHASES: [&str; 3] = ["resolve", "connect", "request"];

/// Enough for any UDP response a server sends without EDNS (512 bytes) and most with it.
const MAX_UDP_RESPONSE: usize = 4096;

/// The query of one probe of the DNS server at `address`, recorded into `outcome` (whose
/// DNS figures start at zero, so a probe that fails early still reports them all). The
/// caller bounds it by the timeout.
pub async fn run(
    prepared: &Prepared,
    address: &ProbeAddress,
    outcome: &mut Outcome,
) -> Result<(), ProbeError> {
    let options = &prepared.module.dns;
    let start = Instant::now();
    let server = resolve_first(&address.host, address.port, prepared.module.ip, outcome).await;
    dns_figures(outcome).phases[0] = start.elapsed().as_secs_f64();
    let server = server?;

    let query = query(options)?;
    let response = if options.tcp {
        // The connect phase holds the TLS handshake, as blackbox_exporter times it.
        let start = Instant::now();
        let stream = connect_tcp(prepared, &address.host, server, outcome).await;
        dns_figures(outcome).phases[1] = start.elapsed().as_secs_f64();
        let mut stream = stream?;
        let start = Instant::now();
        let response = exchange_tcp(stream.as_mut(), &query).await;
        dns_figures(outcome).phases[2] = start.elapsed().as_secs_f64();
        response?
    } else {
        let start = Instant::now();
        let socket = udp_socket(prepared.module.source_ip, server).await;
        dns_figures(outcome).phases[1] = start.elapsed().as_secs_f64();
        let socket = socket.map_err(ProbeError::Connect)?;
        let start = Instant::now();
        let response = exchange_udp(&socket, &query).await;
        dns_figures(outcome).phases[2] = start.elapsed().as_secs_f64();
        response?
    };
    let response = Message::from_vec(&response)
        .map_err(|e| ProbeError::Dns(format!("unreadable response: {e}")))?;

    let figures = dns_figures(outcome);
    figures.query_succeeded = true;
    figures.answer_rrs = response.answers().len();
    figures.authority_rrs = response.name_servers().len();
    figures.additional_rrs = response.additionals().len();
    figures.serial = response
        .answers()
        .iter()
        .find_map(|record| match record.data() {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        });
    let rcode = u16::from(response.response_code());
    if !options.valid_rcodes.contains(&rcode) {
        return Err(ProbeError::Rcode(rcode));
    }
    for (section, records, checks) in [
        ("answer", response.answers(), &options.validate_answer_rrs),
        (
            "authority",
            response.name_servers(),
            &options.validate_authority_rrs,
        ),
        (
            "additional",
            response.additionals(),
            &options.validate_additional_rrs,
        ),
    ] {
        if !records_pass(records, checks) {
            return Err(ProbeError::Records(section));
        }
    }
    Ok(())
}

fn query(options: &DnsOptions) -> Result<Vec<u8>, ProbeError> {
    let mut message = Message::new();
    message
        .set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(options.recursion_desired)
        .add_query({
            let mut query = Query::query(options.query_name.clone(), options.query_type);
            query.set_query_class(options.query_class);
            query
        });
    message
        .to_vec()
        .map_err(|e| ProbeError::Dns(format!("building the query: {e}")))
}

/// A query ID no two probes in a row share, so a late answer to one is not taken for the
/// next one's.
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u16
}

async fn exchange_udp(socket: &UdpSocket, query: &[u8]) -> Result<Vec<u8>, ProbeError> {
    socket.send(query).await.map_err(ProbeError::Exchange)?;
    let mut buffer = vec![0u8; MAX_UDP_RESPONSE];
    loop {
        let read = socket
            .recv(&mut buffer)
            .await
            .map_err(ProbeError::Exchange)?;
        // A stray datagram with another ID is not our answer: keep waiting for it.
        if read >= 2 && buffer[..2] == query[..2] {
            buffer.truncate(read);
            return Ok(buffer);
        }
    }
}

/// A UDP socket sending to `server` only, from `source` where the module sets one.
async fn udp_socket(source: Option<IpAddr>, server: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = match source {
        Some(source) => UdpSocket::bind(source_address(source, server.ip())?)
            .await
            .map_err(|e| source_error(source, e))?,
        None if server.is_ipv4() => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?,
        None => UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).await?,
    };
    socket.connect(server).await?;
    Ok(socket)
}

/// A TCP connection to `server`, with TLS over it for DNS over TLS.
async fn connect_tcp(
    prepared: &Prepared,
    host: &str,
    server: SocketAddr,
    outcome: &mut Outcome,
) -> Result<Box<dyn Io>, ProbeError> {
    let stream = connect(&[server], prepared.module.source_ip, outcome).await?;
    Ok(if prepared.module.dns.over_tls {
        Box::new(tls_handshake(&prepared.tls, host, stream, outcome).await?)
    } else {
        Box::new(stream)
    })
}

/// DNS over TCP (or TLS): each message prefixed with its length (RFC 1035 4.2.2).
async fn exchange_tcp(stream: &mut dyn Io, query: &[u8]) -> Result<Vec<u8>, ProbeError> {
    let length =
        u16::try_from(query.len()).map_err(|_| ProbeError::Dns("query too long for TCP".into()))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(ProbeError::Exchange)?;
    let length = stream.read_u16().await.map_err(ProbeError::Exchange)?;
    let mut response = vec![0u8; usize::from(length)];
    stream
        .read_exact(&mut response)
        .await
        .map_err(ProbeError::Exchange)?;
    Ok(response)
}

/// Whether a section's records pass its checks, each record read as the zone-file line
/// blackbox_exporter matches (fields separated by tabs).
fn records_pass(records: &[Record], checks: &RrChecks) -> bool {
    let lines: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                r.name(),
                r.ttl(),
                r.dns_class(),
                r.record_type(),
                record_data(r.data())
            )
        })
        .collect();
    let any = |regex: &regex::Regex| lines.iter().any(|line| regex.is_match(line));
    let all = |regex: &regex::Regex| lines.iter().all(|line| regex.is_match(line));
    !checks.fail_if_matches_regexp.iter().any(any)
        && !checks
            .fail_if_all_match_regexp
            .iter()
            .any(|regex| !lines.is_empty() && all(regex))
        && checks.fail_if_not_matches_regexp.iter().all(all)
        && checks.fail_if_none_matches_regexp.iter().all(any)
}

/// A record's data as blackbox_exporter's DNS library prints it: as hickory does, but a
/// TXT record's strings each quoted, as in a zone file (hickory runs them together), so a
/// regex written for blackbox matches here too.
fn record_data(data: &RData) -> String {
    let RData::TXT(txt) = data else {
        return data.to_string();
    };
    let quoted: Vec<String> = txt
        .txt_data()
        .iter()
        .map(|string| {
            let mut text = String::from("\"");
            for &byte in string.iter() {
                match byte {
                    b'"' | b'\\' => {
                        text.push('\\');
                        text.push(char::from(byte));
                    }
                    b' '..=b'~' => text.push(char::from(byte)),
                    _ => text.push_str(&format!("\\{byte:03}")),
                }
            }
            text.push('"');
            text
        })
        .collect();
    quoted.join(" ")
}

fn dns_figures(outcome: &mut Outcome) -> &mut DnsOutcome {
    outcome.dns.get_or_insert_with(DnsOutcome::default)
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::{A, TXT};

    use super::*;

    #[test]
    fn txt_strings_are_quoted_and_escaped_as_in_a_zone_file() {
        let txt = TXT::from_bytes(vec![b"v=spf1 -all", b"a\"b\\c\x01"]);
        assert_eq!(
            record_data(&RData::TXT(txt)),
            r#""v=spf1 -all" "a\"b\\c\001""#
        );
        let a = RData::A(A::new(192, 0, 2, 10));
        assert_eq!(record_data(&a), "192.0.2.10");
    }
}
