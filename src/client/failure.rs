//! What went wrong with a request, as a classified failure with its
//! message and hint: HTTP statuses, connection errors, read errors.

use crate::chunk::error_body_message;
use crate::config::Net;
use crate::exit::{Failure, Kind};
use crate::secret::redact_userinfo;
use crate::signal;
use crate::text::one_line;
use crate::url::{host_of, is_openrouter};
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

/// What a failure's hint needs to know of the request that failed.
#[derive(Clone, Copy)]
pub struct Asked<'a> {
    pub net: &'a Net,
    /// The URL requested (`{base}/chat/completions`, `{base}/models`).
    pub url: &'a str,
    /// A chat request whose body names no model (another server than
    /// OpenRouter's, and none given): a 400 or 404 then most likely means
    /// the server wants one.
    pub no_model: bool,
}

/// The failure for a non-2xx response, with the message from its body and
/// a hint for the statuses a new user meets first (SPEC §5).
pub fn http_failure(resp: Response<Body>, asked: Asked<'_>) -> Failure {
    let status = resp.status().as_u16();
    let kind = Kind::from_status(status);
    let head = status_line(status);
    if (300..400).contains(&status) {
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        return redirect_failure(kind, &head, location.as_deref(), asked);
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    let message = if is_html(&content_type, &text) {
        one_line(&html_message(&text), 200)
    } else {
        error_body_message(&text)
    };
    let line = if message.is_empty() {
        head
    } else {
        format!("{head}: {message}")
    };
    let failure = Failure::new(kind, line);
    match status_hint(status, asked) {
        Some(hint) => failure.with_hint(hint),
        None => failure,
    }
}

/// The hint for an HTTP status, if a new user needs one.
fn status_hint(status: u16, asked: Asked<'_>) -> Option<String> {
    let openrouter = is_openrouter(&asked.net.base_url);
    Some(match status {
        400 | 404 if asked.no_model => "no model was sent and this server may need one: \
             name it with -m MODEL (or OPENROUTER_MODEL); --list-models shows what it offers"
            .to_string(),
        404 if !openrouter => format!(
            "check that the base URL ends at the API root, e.g. http://localhost:8080/v1 \
             (--base-url); the request went to {}",
            redact_userinfo(asked.url)
        ),
        401 if openrouter => "check OPENROUTER_API_KEY (or --api-key-file); \
             keys are at https://openrouter.ai/keys"
            .to_string(),
        401 if asked.net.key.is_none() => {
            "this server wants an API key: set OPENROUTER_API_KEY or use --api-key-file PATH"
                .to_string()
        }
        401 => format!(
            "check OPENROUTER_API_KEY (or --api-key-file): it is the key {} expects",
            host_of(&asked.net.base_url)
        ),
        402 if openrouter => "add credits at https://openrouter.ai/settings/credits, \
             or ask for fewer tokens with --max-tokens"
            .to_string(),
        402 => "check the account's credits, or ask for fewer tokens with --max-tokens".to_string(),
        429 => "wait and try again, raise --retries, or choose another model with -m".to_string(),
        _ => return None,
    })
}

/// A 3xx: never followed (a POST body is never re-sent silently); the hint
/// gives the new base URL when the `Location` is the same endpoint moved.
fn redirect_failure(kind: Kind, head: &str, location: Option<&str>, asked: Asked<'_>) -> Failure {
    let Some(location) = location else {
        return Failure::new(
            kind,
            format!("{head}: redirect without a Location, not followed"),
        )
        .with_hint("check --base-url (redirects are never followed)");
    };
    let target = resolve(asked.url, location);
    let failure = Failure::new(
        kind,
        format!(
            "{head}: redirect to {} not followed",
            redact_userinfo(&target)
        ),
    );
    // `/chat/completions` or `/models`: what was asked below the base.
    let endpoint = asked
        .url
        .strip_prefix(asked.net.base_url.as_str())
        .unwrap_or("");
    match target
        .strip_suffix(endpoint)
        .filter(|_| !endpoint.is_empty())
    {
        Some(base) if !base.is_empty() => failure.with_hint(format!(
            "to use the new address: --base-url {} (redirects are never followed: \
             a POST body is never re-sent silently)",
            redact_userinfo(base)
        )),
        _ => failure.with_hint("check --base-url (redirects are never followed)"),
    }
}

/// A `Location` made absolute against the URL that was asked.
fn resolve(url: &str, location: &str) -> String {
    let location = location.trim();
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    if let Some(authority_path) = location.strip_prefix("//") {
        return format!("{scheme}://{authority_path}");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    // A relative path replaces the last segment of the asked path.
    let path = &rest[authority.len()..];
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{authority}{dir}/{location}")
}

/// An HTML error page (a proxy's, a web server's): by its type, or by how
/// it starts when the type is missing or wrong.
fn is_html(content_type: &str, body: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml")
    {
        return true;
    }
    let start: String = body.trim_start().chars().take(14).collect();
    let start = start.to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// An HTML page as one message: its `<title>` text, else its text without
/// tags (scripts and styles left out), entities decoded.
fn html_message(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    if let Some(open) = lower.find("<title") {
        if let Some(start) = lower[open..].find('>').map(|i| open + i + 1) {
            if let Some(len) = lower[start..].find("</title") {
                let title = decode_entities(&html[start..start + len]);
                if !title.trim().is_empty() {
                    return title;
                }
            }
        }
    }
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        text.push(' ');
        let tag = &rest[lt..];
        let tag_lower = tag.get(..7).unwrap_or(tag).to_ascii_lowercase();
        // The contents of a script or style block are not text.
        let skip_to = ["<script", "<style"]
            .iter()
            .find(|t| tag_lower.starts_with(**t))
            .and_then(|t| {
                let close = format!("</{}", &t[1..]);
                tag.to_ascii_lowercase().find(&close)
            });
        let from = skip_to.unwrap_or(0);
        match tag[from..].find('>') {
            Some(gt) => rest = &tag[from + gt + 1..],
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    decode_entities(&text)
}

/// The few entities error pages use.
fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The failure for an error before any response, and whether to retry it:
/// refused, reset or closed before a status line, and connect timeouts are.
pub fn connect_failure(e: ureq::Error, net: &Net) -> (Failure, bool) {
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
        E::Io(io) => io_failure(&io, net),
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

/// The failure for an I/O error before any response, and whether to retry.
fn io_failure(io: &std::io::Error, net: &Net) -> (Failure, bool) {
    use std::io::ErrorKind as K;
    let network = |m: String| Failure::new(Kind::Network, m);
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
        K::ConnectionReset | K::ConnectionAborted => "connection reset by the server".to_string(),
        K::UnexpectedEof => "the server closed the connection before responding".to_string(),
        _ => format!("connection failed: {io}"),
    };
    let failure = network(format!("{what} ({})", net.shown_base()));
    if io.kind() == K::ConnectionRefused {
        return (failure.with_hint(refused_hint(net)), retry);
    }
    (failure, retry)
}

/// Nothing listens where the request went: the server is not running, or
/// the base URL (or the proxy) points at the wrong place.
fn refused_hint(net: &Net) -> String {
    match &net.proxy {
        Some(proxy) => format!(
            "is the proxy {} running? (it comes from ALL_PROXY, HTTPS_PROXY or HTTP_PROXY; \
             NO_PROXY skips it)",
            redact_userinfo(proxy)
        ),
        None => format!(
            "is a server running at {}? start it, or point --base-url \
             (or OPENROUTER_BASE_URL) at the right one",
            net.shown_base()
        ),
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

    use crate::secret::Secret;

    fn net(base: &str, key: bool) -> Net {
        Net {
            base_url: base.to_string(),
            key: key.then(|| Secret::new("k")),
            headers: Vec::new(),
            proxy: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            retries: 0,
        }
    }

    fn hint(status: u16, base: &str, key: bool, no_model: bool) -> String {
        let net = net(base, key);
        let url = format!("{base}/chat/completions");
        let asked = Asked {
            net: &net,
            url: &url,
            no_model,
        };
        status_hint(status, asked).unwrap_or_default()
    }

    #[test]
    fn hints_for_the_failures_met_first() {
        const OR: &str = "https://openrouter.ai/api/v1";
        const LOCAL: &str = "http://localhost:8080";
        let h = hint(404, LOCAL, true, false);
        assert!(h.contains("API root") && h.contains("/v1"), "{h}");
        assert!(h.contains("http://localhost:8080/chat/completions"), "{h}");
        for status in [400, 404] {
            let h = hint(status, LOCAL, true, true);
            assert!(h.contains("-m MODEL") && h.contains("--list-models"), "{h}");
        }
        assert_eq!(hint(400, LOCAL, true, false), "");
        assert_eq!(hint(404, OR, true, false), "", "OpenRouter's root is known");
        assert!(hint(401, OR, true, false).contains("https://openrouter.ai/keys"));
        let h = hint(401, LOCAL, true, false);
        assert!(
            !h.contains("openrouter.ai") && h.contains("localhost"),
            "{h}"
        );
        assert!(hint(401, LOCAL, false, false).contains("wants an API key"));
        assert!(hint(402, OR, true, false).contains("openrouter.ai/settings/credits"));
        assert!(!hint(402, LOCAL, true, false).contains("openrouter.ai"));
        assert!(hint(429, LOCAL, true, false).contains("--retries"));
        assert_eq!(hint(500, LOCAL, true, false), "");
    }

    #[test]
    fn redirect_locations() {
        let url = "http://h:1/api/chat/completions";
        assert_eq!(
            resolve(url, "https://x/v1/chat/completions"),
            "https://x/v1/chat/completions"
        );
        assert_eq!(resolve(url, "//x/v1"), "http://x/v1");
        assert_eq!(
            resolve(url, "/v1/chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            resolve(url, "completions2"),
            "http://h:1/api/chat/completions2"
        );

        let net = net("http://h:1/api", true);
        let asked = Asked {
            net: &net,
            url,
            no_model: false,
        };
        let f = redirect_failure(
            Kind::Rejected,
            "301 Moved Permanently",
            Some("/v1/chat/completions"),
            asked,
        );
        assert_eq!(
            f.message,
            "301 Moved Permanently: redirect to http://h:1/v1/chat/completions not followed"
        );
        assert!(f
            .hint
            .unwrap()
            .starts_with("to use the new address: --base-url http://h:1/v1 "));
        let f = redirect_failure(
            Kind::Rejected,
            "302 Found",
            Some("https://login.example/"),
            asked,
        );
        assert!(f.hint.unwrap().contains("check --base-url"));
        let f = redirect_failure(Kind::Rejected, "302 Found", None, asked);
        assert!(f.message.contains("without a Location"), "{}", f.message);
    }

    #[test]
    fn html_pages_become_one_message() {
        let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway &amp; more</title>\
                    <style>p{}</style></head><body><h1>502</h1></body></html>";
        assert!(is_html("", page));
        assert!(is_html("text/html; charset=utf-8", "oops"));
        assert!(!is_html("application/json", "{\"error\":{}}"));
        assert_eq!(html_message(page), "502 Bad Gateway & more");
        let untitled = "<html><head><script>var a = '<b>';</script><style>h1{}</style></head>\
                        <body><h1>Service</h1> <p>unavailable</p></body></html>";
        assert_eq!(
            one_line(&html_message(untitled), 200),
            "Service unavailable"
        );
        assert_eq!(one_line(&html_message("<html><title> </title>x"), 200), "x");
        assert_eq!(one_line(&html_message("<p>cut <b"), 200), "cut");
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(401), "401 Unauthorized");
        assert_eq!(status_line(429), "429 Too Many Requests");
        assert_eq!(status_line(599), "599");
    }
}
