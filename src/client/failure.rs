//! What went wrong with a request, as a classified failure with its
//! message and hint: HTTP statuses, connection errors, read errors.

use crate::chunk::error_body_message;
use crate::config::Net;
use crate::exit::{Failure, Kind};
use crate::signal;
use crate::text::one_line;
use crate::url::host_of;
use std::io::Read;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// How much of an error body is read.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// `401 Unauthorized`, or just the number for unknown statuses.
pub fn status_line(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// The failure for a non-2xx response, with the message from its body.
pub fn http_failure(resp: Response<Body>) -> Failure {
    let status = resp.status().as_u16();
    let kind = Kind::from_status(status);
    let head = status_line(status);
    if (300..400).contains(&status) {
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)")
            .to_string();
        return Failure::new(kind, format!("{head}: redirect to {location} not followed"))
            .with_hint("use the final URL as --base-url (a POST body is never re-sent silently)");
    }
    let mut body = Vec::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    let message = error_body_message(&text);
    let line = if message.is_empty() {
        head
    } else {
        format!("{head}: {message}")
    };
    let failure = Failure::new(kind, line);
    match status {
        401 => failure.with_hint("check OPENROUTER_API_KEY (or --api-key-file); keys are at https://openrouter.ai/keys"),
        402 => failure.with_hint("add credits at https://openrouter.ai/settings/credits, or ask for fewer tokens with --max-tokens"),
        429 => failure.with_hint("wait and try again, raise --retries, or choose another model with -m"),
        _ => failure,
    }
}

/// The failure for an error before any response, and whether to retry it:
/// refused, reset or closed before a status line, and connect timeouts are.
pub fn connect_failure(e: ureq::Error, net: &Net) -> (Failure, bool) {
    use std::io::ErrorKind as K;
    use ureq::Error as E;
    let network = |m: String| Failure::new(Kind::Network, m);
    match e {
        E::Timeout(ureq::Timeout::Connect) | E::Timeout(ureq::Timeout::Resolve) => (
            network(format!(
                "could not connect within {} s (--connect-timeout)",
                secs(net.connect_timeout)
            )),
            true,
        ),
        E::Timeout(ureq::Timeout::PerWrite) => (
            network(format!(
                "the server took no data for {} s (--idle-timeout)",
                secs(net.idle_timeout)
            )),
            false,
        ),
        E::Timeout(_) => (
            network(format!(
                "no data from the server for {} s (--idle-timeout)",
                secs(net.idle_timeout)
            )),
            false,
        ),
        E::HostNotFound => (
            network(format!(
                "could not resolve host '{}'",
                host_of(&net.shown_base())
            )),
            false,
        ),
        E::Io(io) => {
            let retry = matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::UnexpectedEof
                    | K::BrokenPipe
                    | K::NotConnected
            );
            if io.kind() == K::InvalidData {
                // rustls reports handshake failures as InvalidData.
                let f = network(format!("TLS error: {io} ({})", net.shown_base())).with_hint(
                    "behind a proxy that re-signs traffic? point SSL_CERT_FILE at its CA bundle",
                );
                return (f, false);
            }
            let what = match io.kind() {
                K::ConnectionRefused => "connection refused".to_string(),
                K::ConnectionReset | K::ConnectionAborted => {
                    "connection reset by the server".to_string()
                }
                K::UnexpectedEof => {
                    "the server closed the connection before responding".to_string()
                }
                _ => format!("connection failed: {io}"),
            };
            (network(format!("{what} ({})", net.shown_base())), retry)
        }
        E::LargeResponseHeader(..) => (
            Failure::new(
                Kind::Server,
                "invalid HTTP response from the server: its header block is larger than 32 KiB",
            ),
            false,
        ),
        E::Protocol(p) => (
            Failure::new(
                Kind::Server,
                format!("invalid HTTP response from the server: {p}"),
            ),
            false,
        ),
        E::Tls(m) => (network(format!("TLS error: {m}")), false),
        E::Rustls(r) => (network(format!("TLS error: {r}")), false),
        E::Pem(p) => (network(format!("TLS error: {p}")), false),
        E::ConnectionFailed => (
            network(format!("connection failed ({})", net.shown_base())),
            true,
        ),
        E::InvalidProxyUrl => (Failure::usage("invalid proxy URL"), false),
        E::BadUri(u) => (Failure::usage(format!("invalid URL: {u}")), false),
        E::Http(h) => (Failure::usage(format!("invalid request: {h}")), false),
        other => (network(one_line(&other.to_string(), 300)), false),
    }
}

/// What a read error in the middle of an event stream means: a timeout is
/// reported; anything else (reset, cut chunked body) only ends the stream,
/// which is then judged like EOF. (The stream asks for a stop first.)
pub fn stream_read_error(e: std::io::Error, net: &Net) -> Option<Failure> {
    match ureq::Error::from(e) {
        ureq::Error::Timeout(_) => Some(idle_timeout(net)),
        _ => None,
    }
}

/// The failure for an error while reading a whole body (JSON, error, models).
pub fn read_failure(e: std::io::Error, net: &Net) -> Failure {
    if let Some(stop) = signal::stop_reason() {
        return stop.failure();
    }
    match ureq::Error::from(e) {
        ureq::Error::Timeout(_) => idle_timeout(net),
        ureq::Error::Io(io) => Failure::new(Kind::Network, format!("connection lost: {io}")),
        other => Failure::new(Kind::Network, format!("connection lost: {other}")),
    }
}

fn idle_timeout(net: &Net) -> Failure {
    Failure::new(
        Kind::Network,
        format!(
            "no data from the server for {} s (--idle-timeout)",
            secs(net.idle_timeout)
        ),
    )
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_line(401), "401 Unauthorized");
        assert_eq!(status_line(429), "429 Too Many Requests");
        assert_eq!(status_line(599), "599");
    }
}
