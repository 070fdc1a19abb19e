//! Opening a probe's connection the way blackbox_exporter reports it: the name resolved
//! (`probe_dns_lookup_time_seconds`), the first address that accepts a TCP connection
//! (`probe_ip_protocol`, `probe_ip_addr_hash`) and, where asked, a TLS handshake whose
//! version and certificates are reported (`probe_tls_version_info`,
//! `probe_ssl_earliest_cert_expiry`). The HTTP and TCP probers share it, so both report
//! those series alike.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use super::certificate::{self, TrustedRoots};
use super::config::IpPreference;
use super::outcome::{Outcome, ProbeError, TlsFacts};

/// A probe's byte stream, plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Resolves `host` to the addresses of the family `preference` allows, adding the time
/// taken to the outcome's DNS lookup time.
pub async fn resolve(
    host: &str,
    port: u16,
    preference: IpPreference,
    outcome: &mut Outcome,
) -> Result<Vec<SocketAddr>, ProbeError> {
    let start = Instant::now();
    let result = tokio::net::lookup_host((host, port)).await;
    outcome.dns_lookup_seconds += start.elapsed().as_secs_f64();
    let resolve_error = |source| ProbeError::Resolve {
        host: host.to_owned(),
        source,
    };
    let addrs = result.map(Iterator::collect).map_err(resolve_error)?;
    preference.choose(addrs).map_err(|missing| {
        resolve_error(std::io::Error::new(std::io::ErrorKind::NotFound, missing))
    })
}

/// Resolves `host` to its first address `preference` allows, which becomes the outcome's
/// address: for the probers that send to one address rather than trying each (ICMP, DNS).
pub async fn resolve_first(
    host: &str,
    port: u16,
    preference: IpPreference,
    outcome: &mut Outcome,
) -> Result<SocketAddr, ProbeError> {
    let first = resolve(host, port, preference, outcome)
        .await?
        .first()
        .copied()
        .ok_or_else(|| ProbeError::Resolve {
            host: host.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })?;
    outcome.ip = Some(first.ip());
    Ok(first)
}

/// Connects to the first of `addrs` that accepts, from `source` where the module sets one;
/// the outcome's address is the one tried last, as blackbox_exporter reports the address
/// it dialled. Nagle's algorithm is off, as in Go's dialer: an HTTP/2 request's headers and
/// body go out as separate writes, and with it on the body waits for the server's delayed
/// ACK (40 ms on Linux).
pub async fn connect(
    addrs: &[SocketAddr],
    source: Option<IpAddr>,
    outcome: &mut Outcome,
) -> Result<TcpStream, ProbeError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        outcome.ip = Some(addr.ip());
        match connect_from(source, *addr).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(ProbeError::Connect)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(ProbeError::Connect(last))
}

async fn connect_from(source: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let local = source_address(source, addr.ip())?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(local).map_err(|e| source_error(source, e))?;
    socket.connect(addr).await
}

/// The local address to bind to send from `source` to `destination` (any port), or why
/// that cannot be: a source of the other family than the destination's.
pub fn source_address(source: IpAddr, destination: IpAddr) -> std::io::Result<SocketAddr> {
    if source.is_ipv4() != destination.is_ipv4() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "source_ip_address {source} is of another family than the target's address {destination}"
            ),
        ));
    }
    Ok(SocketAddr::new(source, 0))
}

/// A failure to use `source`, naming it: the kernel's own words (`Cannot assign requested
/// address`) do not say which address was asked for.
pub fn source_error(source: IpAddr, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("source_ip_address {source}: {error}"))
}

/// A module's TLS client: its rustls config and the roots that config trusts, from which
/// the verified chain is retraced (see the `certificate` module).
pub struct ProbeTls {
    pub config: Arc<rustls::ClientConfig>,
    pub roots: TrustedRoots,
    /// The module's `tls.server_name`, which stands for the target's host in the handshake.
    pub server_name: Option<ServerName<'static>>,
}

/// Runs a TLS handshake for `host` (or the module's `server_name`) over `stream` and
/// records what it showed.
pub async fn tls_handshake<S>(
    tls: &ProbeTls,
    host: &str,
    stream: S,
    outcome: &mut Outcome,
) -> Result<TlsStream<S>, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = match &tls.server_name {
        Some(name) => name.clone(),
        None => ServerName::try_from(host.to_owned())
            .map_err(|e| ProbeError::Request(format!("server name {host:?}: {e}")))?,
    };
    let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
        .connect(name, stream)
        .await
        .map_err(ProbeError::Tls)?;
    let session = stream.get_ref().1;
    outcome.tls = Some(TlsFacts {
        version: version_name(session.protocol_version()),
        certificates: certificate::read(
            session.peer_certificates().unwrap_or_default(),
            &tls.roots,
        ),
    });
    Ok(stream)
}

fn version_name(version: Option<rustls::ProtocolVersion>) -> &'static str {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "unknown",
    }
}

/// blackbox_exporter's `probe_ip_addr_hash`: 32-bit FNV-1a of the address's bytes (4 for
/// IPv4, 16 for IPv6), so a changed address shows as a changed value without putting the
/// address in a label.
pub fn ip_addr_hash(ip: IpAddr) -> f64 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let fnv = |bytes: &[u8]| {
        bytes.iter().fold(OFFSET, |hash, byte| {
            (hash ^ u32::from(*byte)).wrapping_mul(PRIME)
        })
    };
    let hash = match ip {
        IpAddr::V4(v4) => fnv(&v4.octets()),
        IpAddr::V6(v6) => fnv(&v6.octets()),
    };
    f64::from(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addr_hash_is_blackbox_exporters() {
        // What Debian's blackbox_exporter 0.23 reported for a probe of 127.0.0.1.
        assert_eq!(ip_addr_hash("127.0.0.1".parse().unwrap()), 3_668_918_509.0);
    }
}
