//! The HTTP side: the ureq agent, sending with retries, HTTP errors.
//!
//! The agent never lets library defaults decide: statuses are not errors (the
//! JSON error body is read), redirects are not followed, there is a connect
//! timeout and a per-read (idle) timeout but no total one, the proxy and TLS
//! roots come from `Config`. Retries happen only here, before any output.

use crate::body::Body as RequestBody;
use crate::cancel;
use crate::chunk::{error_body_message, one_line};
use crate::config::{is_secret_header, redact_userinfo, Config};
use crate::exit::{status_is_retryable, Failure, Kind};
use crate::output::say;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use ureq::http::Response;
use ureq::{Body, SendBody};

/// Longest wait between two tries, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Bodies larger than this ask for `100 Continue` before they are sent.
const EXPECT_CONTINUE_FROM: u64 = 1024 * 1024;
/// How much of an error body is read.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

pub fn agent(config: &Config) -> Result<ureq::Agent, Failure> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &config.ca_file {
        tls = tls.root_certs(load_roots(path)?);
    }
    let proxy = match &config.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
            Failure::usage(format!("invalid proxy URL '{}'", redact_userinfo(url)))
        })?),
        None => None,
    };
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.idle_timeout))
        // The same idle rule while the body goes out: a server that takes no
        // byte of a large upload for that long is gone, not slow.
        .timeout_per_write(Some(config.idle_timeout))
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        // 32 KiB each instead of 128: one event stream needs no more, and the
        // untouched rest would only count against peak memory.
        .input_buffer_size(32 * 1024)
        .output_buffer_size(32 * 1024)
        .proxy(proxy)
        .tls_config(tls.build())
        .build()
        .new_agent();
    cancel::register(&agent);
    Ok(agent)
}

/// `SSL_CERT_FILE`: a PEM bundle that replaces the built-in roots.
fn load_roots(path: &std::path::Path) -> Result<ureq::tls::RootCerts, Failure> {
    let bad = |why: String| Failure::usage(format!("SSL_CERT_FILE {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(crate::input::io_reason(&e)))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => {
                // Checked now: rustls would only find a broken root when a
                // handshake fails, as an unknown issuer (exit 7, not 2).
                let der = rustls_pki_types::CertificateDer::from(c.der());
                if let Err(e) = webpki::anchor_from_trusted_cert(&der) {
                    let n = certs.len() + 1;
                    return Err(bad(format!("certificate {n} is invalid ({e})")));
                }
                certs.push(c)
            }
            Ok(_) => {}
            Err(e) => return Err(bad(format!("invalid PEM bundle ({e})"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificates in the PEM bundle".into()));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// One request to send (retried as a whole).
pub enum Call<'a> {
    /// A sized, streamed body: files are read (again, on a retry) as it is sent.
    Post(&'a RequestBody),
    Get,
}

/// Sends the request, retrying as SPEC §5 says, and returns a 2xx response.
pub fn send(
    agent: &ureq::Agent,
    config: &Config,
    url: &str,
    call: Call<'_>,
) -> anyhow::Result<Response<Body>> {
    let verbose = config.output.verbose;
    let mut rng = Jitter::seeded();
    let mut attempt: u32 = 0;
    loop {
        if verbose {
            let method = if matches!(call, Call::Post(_)) {
                "POST"
            } else {
                "GET"
            };
            say(&format!("> {method} {url}"));
            for (name, value) in &config.headers {
                let shown = if is_secret_header(name) {
                    "[redacted]"
                } else {
                    value
                };
                say(&format!("> {name}: {shown}"));
            }
            if let Call::Post(body) = call {
                say(&format!("> Content-Length: {}", body.len()));
                if expects_continue(body, config) {
                    say("> Expect: 100-continue");
                }
            }
        }
        let started = std::time::Instant::now();
        let result = match call {
            Call::Post(body) => {
                let mut req = agent.post(url);
                for (name, value) in &config.headers {
                    req = req.header(name.as_str(), value.as_str());
                }
                // An exact length, not a chunked upload: some servers refuse
                // chunked request bodies.
                req = req.header("Content-Length", body.len().to_string());
                if expects_continue(body, config) {
                    // As curl does: a server that refuses a large body (413,
                    // 401…) says so before it is sent, instead of resetting
                    // the connection under a half-sent upload.
                    req = req.header("Expect", "100-continue");
                }
                req.send(SendBody::from_owned_reader(body.reader()))
            }
            Call::Get => {
                let mut req = agent.get(url);
                for (name, value) in &config.headers {
                    req = req.header(name.as_str(), value.as_str());
                }
                req.call()
            }
        };
        if cancel::cancelled() {
            return Err(Failure::interrupted().into());
        }
        if cancel::stdout_closed() {
            return Err(stdout_gone().into());
        }
        let last_try = attempt >= config.retries;
        let wait = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if verbose {
                    say(&format!(
                        "< {} ({} ms)",
                        status_line(status),
                        started.elapsed().as_millis()
                    ));
                }
                if resp.status().is_success() {
                    return Ok(resp);
                }
                if last_try || !status_is_retryable(status) {
                    let failure = http_failure(resp);
                    if cancel::cancelled() {
                        return Err(Failure::interrupted().into());
                    }
                    if cancel::stdout_closed() {
                        return Err(stdout_gone().into());
                    }
                    return Err(failure.into());
                }
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                let why = status_line(status);
                drop(resp);
                (after.unwrap_or_else(|| rng.backoff(attempt)), why)
            }
            Err(e) => {
                if let Call::Post(body) = call {
                    // A file that changed while it was sent: ours, not the
                    // network's, and a retry would not help.
                    if let Some(failure) = body.failure() {
                        return Err(failure.into());
                    }
                }
                let (failure, retryable) = connect_failure(e, config);
                if last_try || !retryable {
                    return Err(failure.into());
                }
                (rng.backoff(attempt), failure.message)
            }
        };
        let (delay, why) = wait;
        let delay = delay.min(MAX_WAIT);
        if verbose {
            say(&format!(
                "* retry {}/{} in {:.2} s after: {why}",
                attempt + 1,
                config.retries,
                delay.as_secs_f64()
            ));
        }
        if !cancel::sleep(delay) {
            if cancel::stdout_closed() {
                return Err(stdout_gone().into());
            }
            return Err(Failure::interrupted().into());
        }
        attempt += 1;
    }
}

/// Whether a body is large enough to ask for `100 Continue` first (unless
/// the user set an `Expect` header of their own).
fn expects_continue(body: &RequestBody, config: &Config) -> bool {
    body.len() > EXPECT_CONTINUE_FROM && config.header("expect").is_none()
}

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
fn http_failure(resp: Response<Body>) -> Failure {
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
fn connect_failure(e: ureq::Error, config: &Config) -> (Failure, bool) {
    use std::io::ErrorKind as K;
    use ureq::Error as E;
    let net = |m: String| Failure::new(Kind::Network, m);
    match e {
        E::Timeout(ureq::Timeout::Connect) | E::Timeout(ureq::Timeout::Resolve) => (
            net(format!(
                "could not connect within {} s (--connect-timeout)",
                secs(config.connect_timeout)
            )),
            true,
        ),
        E::Timeout(ureq::Timeout::PerWrite) => (
            net(format!(
                "the server took no data for {} s (--idle-timeout)",
                secs(config.idle_timeout)
            )),
            false,
        ),
        E::Timeout(_) => (
            net(format!(
                "no data from the server for {} s (--idle-timeout)",
                secs(config.idle_timeout)
            )),
            false,
        ),
        E::HostNotFound => (
            net(format!(
                "could not resolve host '{}'",
                crate::config::host_of(&config.base_url)
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
                let f = net(format!("TLS error: {io} ({})", config.base_url)).with_hint(
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
            (net(format!("{what} ({})", config.base_url)), retry)
        }
        E::Protocol(p) => (
            Failure::new(
                Kind::Server,
                format!("invalid HTTP response from the server: {p}"),
            ),
            false,
        ),
        E::Tls(m) => (net(format!("TLS error: {m}")), false),
        E::Rustls(r) => (net(format!("TLS error: {r}")), false),
        E::Pem(p) => (net(format!("TLS error: {p}")), false),
        E::ConnectionFailed => (
            net(format!("connection failed ({})", config.base_url)),
            true,
        ),
        E::InvalidProxyUrl => (Failure::usage("invalid proxy URL"), false),
        E::BadUri(u) => (Failure::usage(format!("invalid URL: {u}")), false),
        E::Http(h) => (Failure::usage(format!("invalid request: {h}")), false),
        other => (net(one_line(&other.to_string(), 300)), false),
    }
}

/// What a read error in the middle of an event stream means: a timeout or an
/// interrupt is reported; anything else (reset, cut chunked body) only ends
/// the stream, which is then judged like EOF.
pub fn stream_read_error(e: std::io::Error, config: &Config) -> Option<Failure> {
    if cancel::cancelled() {
        return Some(Failure::interrupted());
    }
    match ureq::Error::from(e) {
        ureq::Error::Timeout(_) => Some(idle_timeout(config)),
        _ => None,
    }
}

/// The reader of stdout left (the watcher shut the socket): exit 141, quiet.
fn stdout_gone() -> Failure {
    Failure::new(Kind::BrokenPipe, "stdout closed")
}

/// The failure for an error while reading a whole body (JSON, error, models).
pub fn read_failure(e: std::io::Error, config: &Config) -> Failure {
    if cancel::cancelled() {
        return Failure::interrupted();
    }
    if cancel::stdout_closed() {
        return stdout_gone();
    }
    match ureq::Error::from(e) {
        ureq::Error::Timeout(_) => idle_timeout(config),
        ureq::Error::Io(io) => Failure::new(Kind::Network, format!("connection lost: {io}")),
        other => Failure::new(Kind::Network, format!("connection lost: {other}")),
    }
}

fn idle_timeout(config: &Config) -> Failure {
    Failure::new(
        Kind::Network,
        format!(
            "no data from the server for {} s (--idle-timeout)",
            secs(config.idle_timeout)
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

/// `Retry-After`: delta-seconds or an HTTP date; capped at 60 s.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)).min(MAX_WAIT))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers send, as
/// seconds since the epoch.
fn parse_http_date(s: &str) -> Option<u64> {
    let (_, rest) = s.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || !(1970..=9999).contains(&year) || *h > 23 || *m > 59 || *sec > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Exponential backoff with ±25 % jitter, from a small xorshift generator:
/// no crate needed for a few random numbers a run.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 0.5 s before the first retry, doubling, each varied by up to ±25 %.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let base = 0.5 * f64::from(2u32.saturating_pow(attempt.min(16)));
        let factor = 0.75 + 0.5 * self.next_unit();
        Duration::from_secs_f64(base * factor).min(MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 120 ", now), Some(MAX_WAIT));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now),
            Some(MAX_WAIT)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Mon, 23 Nov 2026 18:00:00 GMT"),
            Some(1_795_456_800)
        );
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 99999999999999 08:49:37 GMT"),
            None
        );
    }

    #[test]
    fn backoff_doubles_within_jitter() {
        let mut j = Jitter(0x1234_5678_9abc_def1);
        for attempt in 0..5 {
            let base = 0.5 * f64::from(1u32 << attempt);
            for _ in 0..100 {
                let d = j.backoff(attempt).as_secs_f64();
                assert!(
                    d >= base * 0.75 - 1e-9 && d <= base * 1.25 + 1e-9,
                    "attempt {attempt}: {d}"
                );
            }
        }
        assert_eq!(j.backoff(30), MAX_WAIT);
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(401), "401 Unauthorized");
        assert_eq!(status_line(429), "429 Too Many Requests");
        assert_eq!(status_line(599), "599");
    }
}
