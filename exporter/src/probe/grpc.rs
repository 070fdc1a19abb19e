//! One gRPC probe, blackbox_exporter's `grpc` prober: a call of the standard health service
//! (`grpc.health.v1.Health/Check`), which gRPC servers in every language ship, asking about
//! the server or one of its services.
//!
//! A unary gRPC call is one HTTP/2 POST: the request message in a 5-byte length-prefixed
//! frame, the answer the same way, and the call's status in the trailers (or, for an
//! immediate error, in the response headers). So the call runs on the HTTP prober's HTTP/2
//! client over the shared connection routine, which gives the same resolve, address and TLS
//! series as every other prober, and prost encodes the two messages. The phases are
//! blackbox_exporter's: `resolve`, then `check` from connecting to the answer.

use std::time::Instant;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use prost::Message;

use super::Prepared;
use super::config::ProbeAddress;
use super::connect::{Io, connect, resolve, tls_handshake};
use super::http::Sender;
use super::outcome::{GrpcOutcome, Outcome, ProbeError};

/// The phases of `probe_grpc_duration_seconds`, in order.
pub const PHASES: [&str; 2] = ["resolve", "check"];

/// `HealthCheckResponse.ServingStatus` by number, as `probe_grpc_healthcheck_response`
/// names them.
pub const SERVING_STATUSES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// The gRPC status of a call that reached no server.
pub const UNAVAILABLE: u8 = 14;
/// The gRPC status of a call cut off by the probe's timeout.
pub const DEADLINE_EXCEEDED: u8 = 4;

/// gRPC's default limit on a received message; a health answer is 2 bytes.
const MAX_RESPONSE: usize = 4 << 20;

const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`; its enum travels as a varint, as an `int32` does.
#[derive(Clone, PartialEq, Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// The health check of one probe of `address`, recorded into `outcome`. The caller bounds
/// it by the timeout.
pub async fn run(
    prepared: &Prepared,
    address: &ProbeAddress,
    outcome: &mut Outcome,
) -> Result<(), ProbeError> {
    let t = Instant::now();
    let addrs = resolve(&address.host, address.port, prepared.module.ip, outcome).await?;
    grpc_figures(outcome).phases[0] = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let result = check(prepared, address, &addrs, outcome).await;
    grpc_figures(outcome).phases[1] = t.elapsed().as_secs_f64();
    let status = result?;
    grpc_figures(outcome).serving_status = Some(status);
    if SERVING_STATUSES[status] == "SERVING" {
        Ok(())
    } else {
        Err(ProbeError::NotServing(SERVING_STATUSES[status]))
    }
}

/// Connects and calls `Check`; the serving status it answered.
async fn check(
    prepared: &Prepared,
    address: &ProbeAddress,
    addrs: &[std::net::SocketAddr],
    outcome: &mut Outcome,
) -> Result<usize, ProbeError> {
    let options = &prepared.module.grpc;
    let tcp = connect(addrs, prepared.module.source_ip, outcome).await?;
    let io: Box<dyn Io> = if options.tls {
        let stream = tls_handshake(&prepared.tls, &address.host, tcp, outcome).await?;
        grpc_figures(outcome).ssl = true;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut sender, driver) = Sender::handshake(io, true).await?;
    let scheme = if options.tls { "https" } else { "http" };
    let request = Request::post(format!("{scheme}://{address}{HEALTH_CHECK_PATH}"))
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .header(hyper::header::TE, "trailers")
        .header(
            hyper::header::USER_AGENT,
            concat!("pulse-exporter/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(frame(&HealthCheckRequest {
            service: options.service.clone(),
        })))
        .map_err(|e| ProbeError::Request(e.to_string()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    // A call that failed at once answers with the status in its headers.
    let immediate = grpc_status(response.headers());
    let collected = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| ProbeError::Body(e.to_string()))?;
    drop(driver);
    let trailed = collected.trailers().and_then(grpc_status);
    let (code, message) = match trailed.or(immediate) {
        Some(found) => found,
        None if status != StatusCode::OK => (code_of_http_status(status), status.to_string()),
        None => (2, "no grpc-status in the answer".into()),
    };
    grpc_figures(outcome).status_code = code;
    if code != 0 {
        return Err(ProbeError::Grpc { code, message });
    }
    let answer = unframe(&collected.to_bytes())
        .and_then(|message| HealthCheckResponse::decode(message).map_err(|e| e.to_string()))
        .map_err(|e| ProbeError::Body(format!("health check answer: {e}")))?;
    // A status this prober does not know counts as UNKNOWN, as in Go's enum lookup.
    Ok(usize::try_from(answer.status)
        .ok()
        .filter(|s| *s < SERVING_STATUSES.len())
        .unwrap_or(0))
}

/// A message as gRPC sends it: not compressed (0), its length (big-endian), its bytes.
fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// The one message of a unary answer.
fn unframe(data: &[u8]) -> Result<&[u8], String> {
    let (header, rest) = data
        .split_at_checked(5)
        .ok_or("shorter than a message header")?;
    if header[0] != 0 {
        return Err("compressed, though no compression was offered".into());
    }
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    rest.get(..length)
        .ok_or_else(|| format!("{} bytes of a {length}-byte message", rest.len()))
}

/// `grpc-status` and `grpc-message` of a header or trailer block.
fn grpc_status(headers: &hyper::HeaderMap) -> Option<(u8, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        .unwrap_or_default();
    Some((code, message))
}

/// The gRPC status a client reports for an HTTP answer without one (gRPC's "HTTP to gRPC
/// status code mapping").
fn code_of_http_status(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => UNAVAILABLE,
        _ => 2,
    }
}

/// The gRPC figures of `outcome`, written in place so a probe cut off by its timeout keeps
/// the phases it finished.
fn grpc_figures(outcome: &mut Outcome) -> &mut GrpcOutcome {
    outcome.grpc.get_or_insert_with(GrpcOutcome::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_framed_as_grpc_sends_them() {
        let request = HealthCheckRequest {
            service: "db".into(),
        };
        // Field 1, length-delimited, 2 bytes: "db".
        assert_eq!(&frame(&request)[..], b"\0\0\0\0\x04\x0a\x02db");
        assert_eq!(&frame(&HealthCheckRequest::default())[..], b"\0\0\0\0\0");
        let answer = unframe(b"\0\0\0\0\x02\x08\x01").unwrap();
        assert_eq!(HealthCheckResponse::decode(answer).unwrap().status, 1);
        assert!(unframe(b"\x01\0\0\0\x02\x08\x01").is_err());
        assert!(unframe(b"\0\0\0\0\x09\x08\x01").is_err());
        assert!(unframe(b"\0\0").is_err());
    }

    #[test]
    fn http_answers_without_a_grpc_status_map_to_grpc_codes() {
        assert_eq!(code_of_http_status(StatusCode::NOT_FOUND), 12);
        assert_eq!(code_of_http_status(StatusCode::SERVICE_UNAVAILABLE), 14);
        assert_eq!(code_of_http_status(StatusCode::INTERNAL_SERVER_ERROR), 2);
    }
}
