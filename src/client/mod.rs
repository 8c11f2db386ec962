//! The HTTP side: the ureq agent, sending with retries, HTTP errors.
//!
//! The agent never lets library defaults decide: statuses are not errors (the
//! JSON error body is read), redirects are not followed, there is a connect
//! timeout and a per-read (idle) timeout but no total one, the proxy and TLS
//! roots come from `Net`. Retries happen only here, before any output.

mod failure;
mod retry;
mod transport;

pub use failure::{read_failure, stream_read_error};

use crate::body::Body as RequestBody;
use crate::config::Net;
use crate::exit::{status_is_retryable, Failure};
use crate::files;
use crate::output::say;
use crate::pem;
use crate::secret::{is_secret_header, redact_userinfo, HIDDEN};
use crate::signal;
use failure::{connect_failure, http_failure, status_line, Asked};
use retry::{retry_after, Jitter, MAX_WAIT};
use std::time::{Duration, Instant, SystemTime};
use ureq::http::Response;
use ureq::{Body, SendBody};

/// ureq's read buffer, and the largest response header block taken.
const INPUT_BUFFER: usize = 32 * 1024;
const MAX_HEADER_BLOCK: usize = INPUT_BUFFER - 1;

/// Bodies larger than this ask for `100 Continue` before they are sent.
const EXPECT_CONTINUE_FROM: u64 = 1024 * 1024;

pub fn agent(net: &Net) -> Result<ureq::Agent, Failure> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &net.ca_file {
        tls = tls.root_certs(load_roots(path)?);
    }
    let proxy = match &net.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
            Failure::usage(format!("invalid proxy URL '{}'", redact_userinfo(url)))
        })?),
        None => None,
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(net.connect_timeout))
        .timeout_per_read(Some(net.idle_timeout))
        // The same idle rule while the body goes out: a server that takes no
        // byte of a large upload for that long is gone, not slow.
        .timeout_per_write(Some(net.idle_timeout))
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        // 32 KiB each instead of 128: one event stream needs no more, and the
        // untouched rest would only count against peak memory.
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(32 * 1024)
        // Smaller than the input buffer: a header block that fills it is
        // then named as too large (exit 6, not retried) instead of looking
        // like a connection closed before any response (retried).
        .max_response_header_size(MAX_HEADER_BLOCK)
        // `--each` keeps up to 64 items in flight: each may come back for
        // its connection (ureq keeps 3 per host by default).
        .max_idle_connections(64)
        .max_idle_connections_per_host(64)
        .proxy(proxy)
        .tls_config(tls.build())
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        transport::Hooked::default(),
        ureq::unversioned::resolver::DefaultResolver::default(),
    );
    signal::register(&agent);
    Ok(agent)
}

/// `SSL_CERT_FILE`: a PEM bundle that replaces the built-in roots.
fn load_roots(path: &std::path::Path) -> Result<ureq::tls::RootCerts, Failure> {
    let bad = |why: String| Failure::usage(format!("SSL_CERT_FILE {}: {why}", path.display()));
    let mut pem =
        files::read_capped(path, files::SMALL_FILE_LIMIT).map_err(|e| bad(e.reason("16 MiB")))?;
    let mut reader = pem::Reader::new(&mut pem);
    let mut found = Vec::new();
    while let Some(range) = reader
        .next_certificate()
        .map_err(|e| bad(format!("invalid PEM bundle ({e})")))?
    {
        // Checked now: rustls would only find a broken root when a
        // handshake fails, as an unknown issuer (exit 7, not 2).
        let cert = rustls_pki_types::CertificateDer::from(reader.der(range.clone()));
        if let Err(e) = webpki::anchor_from_trusted_cert(&cert) {
            let n = found.len() + 1;
            return Err(bad(format!("certificate {n} is invalid ({e})")));
        }
        found.push(range);
    }
    if found.is_empty() {
        return Err(bad("no certificates in the PEM bundle".into()));
    }
    // Decoded in place, and the agent keeps its roots for the rest of the
    // run: borrowed from the file's buffer, they need no copy each (a system
    // bundle's 145 copies, 190 KB of fresh pages, cost more than decoding).
    let der: &'static [u8] = pem.leak();
    let certs: Vec<_> = found
        .into_iter()
        .map(|r| ureq::tls::Certificate::from_der(&der[r]))
        .collect();
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// One request to send (retried as a whole).
#[derive(Clone, Copy)]
pub enum Call<'a> {
    /// A sized, streamed body: files are read (again, on a retry) as it is
    /// sent. `names_model`: the body has a `model` (or `models`); without
    /// one, a 400 or 404 hints `-m`.
    Post {
        body: &'a RequestBody,
        names_model: bool,
    },
    Get,
}

/// What one try came to: a response to return, or a reason to wait and
/// try again.
enum Try {
    Done(Response<Body>),
    Again { wait: Option<Duration>, why: String },
}

/// Paces the requests of many items sharing one rate limit (`--each`):
/// a slot before each try, a pause for everyone after a 429 or 503.
pub trait Pacer {
    /// Before each try: waits for a slot; `false` when the run stops.
    fn before_try(&self) -> bool;
    /// The slot of a try is given back: it failed, will be retried, or its
    /// answer has been read.
    fn after_try(&self);
    /// A 429 or 503 asked everyone to wait this long.
    fn throttled(&self, wait: Duration);
    /// A 2xx response.
    fn succeeded(&self);
}

/// One request alone: nothing to pace.
pub struct Alone;

impl Pacer for Alone {
    fn before_try(&self) -> bool {
        true
    }
    fn after_try(&self) {}
    fn throttled(&self, _: Duration) {}
    fn succeeded(&self) {}
}

/// Where a request goes and how it is paced and traced.
pub struct Request<'a> {
    pub agent: &'a ureq::Agent,
    pub net: &'a Net,
    pub verbose: bool,
    pub url: &'a str,
    pub call: Call<'a>,
    pub pacer: &'a dyn Pacer,
}

/// Sends the request, retrying as SPEC §5 says, and returns a 2xx response
/// (whose slot the caller gives back to the pacer once it has read it).
pub fn send(request: &Request<'_>) -> Result<Response<Body>, Failure> {
    let mut rng = Jitter::seeded();
    let mut attempt: u32 = 0;
    loop {
        if request.verbose {
            trace_request(request.net, request.url, request.call);
        }
        if !request.pacer.before_try() {
            let stop = signal::stop_reason().unwrap_or(signal::Stop::Interrupted);
            return Err(stop.failure());
        }
        let last_try = attempt >= request.net.retries;
        let backoff = rng.backoff(attempt);
        let tried = try_once(request, last_try, backoff);
        let (wait, why) = match tried {
            Ok(Try::Done(resp)) => {
                request.pacer.succeeded();
                return Ok(resp);
            }
            Ok(Try::Again { wait, why }) => {
                request.pacer.after_try();
                (wait, why)
            }
            Err(failure) => {
                request.pacer.after_try();
                return Err(failure);
            }
        };
        let delay = wait.unwrap_or(backoff).min(MAX_WAIT);
        if request.verbose {
            say(&format!(
                "* retry {}/{} in {:.2} s after: {why}",
                attempt + 1,
                request.net.retries,
                delay.as_secs_f64()
            ));
        }
        if !signal::sleep(delay) {
            let stop = signal::stop_reason().unwrap_or(signal::Stop::Interrupted);
            return Err(stop.failure());
        }
        attempt += 1;
    }
}

/// One try: the response, a failure to report, or a reason to retry. A 429
/// or 503 asks the pacer to pause everyone for its `Retry-After`, else
/// `backoff`.
fn try_once(request: &Request<'_>, last_try: bool, backoff: Duration) -> Result<Try, Failure> {
    let Request {
        agent,
        net,
        verbose,
        url,
        call,
        pacer,
    } = *request;
    let started = Instant::now();
    let result = match call {
        Call::Post { body, .. } => post(agent, net, url, body),
        Call::Get => with_headers(agent.get(url), net).call(),
    };
    signal::check()?;
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            if let Call::Post { body, .. } = call {
                // A file that changed while it was sent: ours, not the
                // network's, and a retry would not help.
                if let Some(failure) = body.failure() {
                    return Err(failure);
                }
            }
            let (failure, retryable) = connect_failure(e, net);
            if last_try || !retryable {
                return Err(failure);
            }
            return Ok(Try::Again {
                wait: None,
                why: failure.message,
            });
        }
    };
    let status = resp.status().as_u16();
    if verbose {
        let ms = started.elapsed().as_millis();
        say(&format!("< {} ({ms} ms)", status_line(status)));
    }
    if resp.status().is_success() {
        return Ok(Try::Done(resp));
    }
    let wait = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, SystemTime::now()));
    if matches!(status, 429 | 503) {
        pacer.throttled(wait.unwrap_or(backoff).min(MAX_WAIT));
    }
    if last_try || !status_is_retryable(status) {
        let asked = Asked {
            net,
            url,
            no_model: matches!(
                call,
                Call::Post {
                    names_model: false,
                    ..
                }
            ),
        };
        let failure = http_failure(resp, asked);
        // Reading the error body may have been cut short by a stop.
        signal::check()?;
        return Err(failure);
    }
    Ok(Try::Again {
        wait,
        why: status_line(status),
    })
}

/// POSTs the body with an exact length.
fn post(
    agent: &ureq::Agent,
    net: &Net,
    url: &str,
    body: &RequestBody,
) -> Result<Response<Body>, ureq::Error> {
    // An exact length, not a chunked upload: some servers refuse chunked
    // request bodies.
    let mut req =
        with_headers(agent.post(url), net).header("Content-Length", body.len().to_string());
    if expects_continue(body) {
        // As curl does: a server that refuses a large body (413, 401…)
        // says so before it is sent, instead of resetting the connection
        // under a half-sent upload.
        req = req.header("Expect", "100-continue");
    }
    req.send(SendBody::from_owned_reader(body.reader()))
}

fn with_headers<B>(mut req: ureq::RequestBuilder<B>, net: &Net) -> ureq::RequestBuilder<B> {
    for (name, value) in &net.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    req
}

/// `-v`: the request line and headers, credentials hidden.
fn trace_request(net: &Net, url: &str, call: Call<'_>) {
    let method = match call {
        Call::Post { .. } => "POST",
        Call::Get => "GET",
    };
    say(&format!("> {method} {}", redact_userinfo(url)));
    for (name, value) in &net.headers {
        let shown = if is_secret_header(name) {
            HIDDEN
        } else {
            value
        };
        say(&format!("> {name}: {shown}"));
    }
    if let Call::Post { body, .. } = call {
        say(&format!("> Content-Length: {}", body.len()));
        if expects_continue(body) {
            say("> Expect: 100-continue");
        }
    }
}

/// Whether a body is large enough to ask for `100 Continue` first.
fn expects_continue(body: &RequestBody) -> bool {
    body.len() > EXPECT_CONTINUE_FROM
}

/// Reads a whole response body to EOF; past `limit` bytes it is a server
/// error (exit 6), like an oversized event: memory stays bounded.
pub fn read_body(resp: Response<Body>, limit: usize, net: &Net) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| read_failure(e, net))?;
    if body.len() > limit {
        let mib = limit / (1024 * 1024);
        return Err(Failure::new(
            crate::exit::Kind::Server,
            format!("the response body is larger than {mib} MiB"),
        ));
    }
    Ok(body)
}
