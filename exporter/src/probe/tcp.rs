//! One TCP probe, blackbox_exporter's `tcp` prober: connect (TLS from the first byte if
//! asked), then run the module's exchange: `expect` reads lines until one matches, `send`
//! writes a line, `starttls` upgrades the connection. Enough to check that an SMTP server
//! greets, that Redis answers `PING`, that a STARTTLS certificate is not about to expire.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::Prepared;
use super::config::{ProbeAddress, QueryStep};
use super::connect::{Io, connect, resolve, tls_handshake};
use super::outcome::{Outcome, ProbeError};

/// Longest line `expect` reads (blackbox_exporter's line scanner stops at 64 KiB too).
const MAX_LINE: u64 = 64 * 1024;

/// The TCP exchange of one probe of `address`, recorded into `outcome`. The caller bounds
/// it by the timeout.
pub async fn run(
    prepared: &Prepared,
    address: &ProbeAddress,
    outcome: &mut Outcome,
) -> Result<(), ProbeError> {
    let options = &prepared.module.tcp;
    let addrs = resolve(&address.host, address.port, prepared.module.ip, outcome).await?;
    let tcp = connect(&addrs, prepared.module.source_ip, outcome).await?;
    let stream: Box<dyn Io> = if options.tls {
        Box::new(tls_handshake(&prepared.tls, &address.host, tcp, outcome).await?)
    } else {
        Box::new(tcp)
    };
    let mut stream = BufReader::new(stream);
    for step in &options.query_response {
        match step {
            QueryStep::Expect(regex) => expect(&mut stream, regex, outcome).await?,
            QueryStep::Send(text) => {
                let line = format!("{text}\n");
                let writer = stream.get_mut();
                writer
                    .write_all(line.as_bytes())
                    .await
                    .map_err(ProbeError::Exchange)?;
                writer.flush().await.map_err(ProbeError::Exchange)?;
            }
            QueryStep::StartTls => {
                // The server waits for our handshake after its go-ahead, so nothing it sent
                // is left in the buffer to lose.
                let plain = stream.into_inner();
                let tls = tls_handshake(&prepared.tls, &address.host, plain, outcome).await?;
                stream = BufReader::new(Box::new(tls));
            }
        }
    }
    Ok(())
}

/// Reads lines until one matches `regex`; the connection closing first is a regex failure,
/// as in blackbox_exporter (a timeout is not: the answer may just be slow). A line longer
/// than [`MAX_LINE`] fails the probe rather than filling memory until the timeout.
async fn expect(
    stream: &mut BufReader<Box<dyn Io>>,
    regex: &regex::Regex,
    outcome: &mut Outcome,
) -> Result<(), ProbeError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut *stream)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(ProbeError::Exchange)?;
        if read == 0 {
            outcome.failed_due_to_regex = Some(true);
            return Err(ProbeError::Expect(regex.as_str().to_owned()));
        }
        if !line.ends_with(b"\n") && read as u64 == MAX_LINE {
            return Err(ProbeError::Exchange(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE} bytes"),
            )));
        }
        let text = String::from_utf8_lossy(&line);
        if regex.is_match(text.trim_end_matches(['\r', '\n'])) {
            return Ok(());
        }
    }
}
