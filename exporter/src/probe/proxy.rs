//! An HTTP probe through an HTTP proxy, blackbox_exporter's `proxy_url`, as Go's transport
//! does it: a plain `http://` request goes to the proxy with the target's absolute URL
//! (written by the HTTP prober), an `https://` target gets a tunnel (`CONNECT`) through
//! which the TLS handshake runs end to end, so the certificate checked is the target's.

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::config::HttpProxy;
use super::connect::{Io, connect};
use super::http::AbortOnDrop;
use super::outcome::{Outcome, ProbeError};

impl HttpProxy {
    /// A connection to the proxy. The outcome's address stays the target's (where it was
    /// resolved), which is what blackbox_exporter reports: the proxy's says nothing about
    /// the target.
    pub async fn connect(&self, outcome: &mut Outcome) -> Result<TcpStream, ProbeError> {
        let addrs: Vec<_> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| ProbeError::Resolve {
                host: self.host.clone(),
                source,
            })?
            .collect();
        let target = outcome.ip;
        let stream = connect(&addrs, None, outcome).await;
        outcome.ip = target;
        stream
    }
}

/// A tunnel through the proxy on `stream` to `authority` (`host:port`), asked for with
/// `authorization` (`Proxy-Authorization`) where the proxy wants credentials.
pub async fn tunnel(
    stream: TcpStream,
    authority: &str,
    authorization: Option<&HeaderValue>,
) -> Result<Box<dyn Io>, ProbeError> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let _driver = AbortOnDrop(tokio::spawn(connection.with_upgrades()));
    let mut request = Request::connect(authority)
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Request(format!("CONNECT {authority}: {e}")))?;
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(hyper::header::PROXY_AUTHORIZATION, value.clone());
    }
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        return Err(ProbeError::Proxy(response.status().as_u16()));
    }
    let tunnel = hyper::upgrade::on(response).await?;
    Ok(Box::new(TokioIo::new(tunnel)))
}
