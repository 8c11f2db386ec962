//! How the server is reached: URL, key, headers, proxy, CA bundle,
//! timeouts and retries (SPEC §2, §5).

use super::{Env, ModeKind};
use crate::cli::Args;
use crate::exit::Failure;
use crate::files;
use crate::secret::{is_secret_header, redact_userinfo, Secret, HIDDEN};
use crate::url::{base_url, host_of, is_https, is_openrouter, no_proxy_matches};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const REFERER: &str = "https://github.com/orstream/orstream";
pub const TITLE: &str = "orstream";

pub struct Net {
    pub base_url: String,
    pub key: Option<Secret>,
    /// The headers to send, defaults and `-H` merged; `Authorization` included.
    pub headers: Vec<(String, String)>,
    pub proxy: Option<String>,
    /// `SSL_CERT_FILE`, when set and the connection may use TLS.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub retries: u32,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if is_secret_header(n) { HIDDEN } else { v };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("Net")
            .field("base_url", &self.shown_base())
            .field("key", &self.key)
            .field("headers", &headers)
            .field("proxy", &self.proxy.as_deref().map(redact_userinfo))
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Net {
    pub(super) fn from_args(args: &Args, env: &Env, kind: &ModeKind) -> Result<Net, Failure> {
        let base_url = base_url(args.base_url.as_deref().or(env.get("OPENROUTER_BASE_URL")))?;
        let key = match &args.api_key_file {
            Some(path) => read_key_file(path)?,
            None => env.get("OPENROUTER_API_KEY").map(Secret::new),
        };
        if key.is_none() && kind.chats() && is_openrouter(&base_url) {
            let why = match (&args.api_key_file, env.is_empty("OPENROUTER_API_KEY")) {
                (Some(path), _) => format!("--api-key-file {} is empty", path.display()),
                (None, true) => "OPENROUTER_API_KEY is empty".to_string(),
                (None, false) => "OPENROUTER_API_KEY is not set".to_string(),
            };
            return Err(Failure::usage(format!("no API key: {why}"))
                .with_hint("export OPENROUTER_API_KEY=sk-or-… (keys: https://openrouter.ai/keys), or use --api-key-file PATH"));
        }
        let mut headers = default_headers(key.as_ref(), kind);
        for h in &args.headers {
            apply_header(&mut headers, h)?;
        }
        let proxy = proxy_for(env, &base_url)?;
        // Only a TLS connection reads the bundle (SPEC §2): many systems set
        // SSL_CERT_FILE globally, and parsing a hundred certificates costs a
        // plain-http call to a local server a quarter of its time.
        let tls = is_https(&base_url) || proxy.as_deref().is_some_and(is_https);
        let ca_file = env
            .get("SSL_CERT_FILE")
            .filter(|_| tls && !matches!(kind, ModeKind::Replay(_)))
            .map(PathBuf::from);
        Ok(Net {
            base_url,
            key,
            headers,
            proxy,
            ca_file,
            connect_timeout: Duration::from_secs_f64(args.connect_timeout),
            idle_timeout: Duration::from_secs_f64(args.idle_timeout),
            retries: args.retries,
        })
    }

    /// The base URL for messages: `user:password@` hidden.
    pub fn shown_base(&self) -> String {
        redact_userinfo(&self.base_url)
    }

    /// The endpoint URL for a path below the base.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path)
    }

    /// The header value with this name (case-insensitive), if sent.
    #[cfg(test)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The key file's first line, trimmed (`\r` included); an empty one is
/// no key. Only that line is read: a FIFO fed by a slow command is not
/// waited on past it, and `/dev/zero` is refused after 64 KiB.
fn read_key_file(path: &Path) -> Result<Option<Secret>, Failure> {
    let line = files::read_first_line(path).map_err(|e| {
        Failure::usage(format!(
            "--api-key-file {}: {}",
            path.display(),
            match e {
                files::ReadError::TooLarge => "its first line is longer than 64 KiB".to_string(),
                other => other.reason(""),
            }
        ))
    })?;
    let text = String::from_utf8_lossy(&line);
    let key = text.trim();
    Ok((!key.is_empty()).then(|| Secret::new(key)))
}

fn default_headers(key: Option<&Secret>, kind: &ModeKind) -> Vec<(String, String)> {
    let mut h = Vec::with_capacity(8);
    if let Some(k) = key {
        h.push((
            "Authorization".to_string(),
            format!("Bearer {}", k.expose()),
        ));
    }
    let listing = *kind == ModeKind::ListModels;
    if !listing {
        h.push(("Content-Type".into(), "application/json".into()));
    }
    let accept = if listing {
        "application/json"
    } else {
        "text/event-stream"
    };
    h.push(("Accept".into(), accept.into()));
    h.push((
        "User-Agent".into(),
        concat!("orstream/", env!("CARGO_PKG_VERSION")).into(),
    ));
    h.push(("HTTP-Referer".into(), REFERER.into()));
    h.push(("X-OpenRouter-Title".into(), TITLE.into()));
    h.push(("X-Title".into(), TITLE.into()));
    h
}

/// `-H 'Name: value'` adds or replaces (case-insensitive); `Name:` removes.
fn apply_header(headers: &mut Vec<(String, String)>, arg: &str) -> Result<(), Failure> {
    let Some((name, value)) = arg.split_once(':') else {
        return Err(
            Failure::usage(format!("-H '{arg}': expected 'Name: value'"))
                .with_hint("for example -H 'X-Session-Id: abc'"),
        );
    };
    let name = name.trim();
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(Failure::usage(format!(
            "-H '{arg}': invalid header name '{name}'"
        )));
    }
    // Two framings of one body would let a proxy and a server read two
    // different requests from it.
    if ["content-length", "transfer-encoding", "expect"]
        .iter()
        .any(|framing| name.eq_ignore_ascii_case(framing))
    {
        return Err(Failure::usage(format!(
            "-H {name}: orstream frames the request body itself"
        ))
        .with_hint("leave Content-Length, Transfer-Encoding and Expect to orstream"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Failure::usage(format!(
            "-H {name}: the value has a line break"
        )));
    }
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    if !value.is_empty() {
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(())
}

/// The proxy for the base URL: the first of `ALL_PROXY`, `HTTPS_PROXY`,
/// `HTTP_PROXY` (upper case, then lower) that is set, unless `NO_PROXY`
/// names the host.
fn proxy_for(env: &Env, base_url: &str) -> Result<Option<String>, Failure> {
    const VARS: [&str; 6] = [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ];
    let Some((var, url)) = VARS.iter().find_map(|v| env.get(v).map(|u| (*v, u))) else {
        return Ok(None);
    };
    let host = host_of(base_url);
    let no_proxy = env.get("NO_PROXY").or(env.get("no_proxy")).unwrap_or("");
    if no_proxy_matches(no_proxy, &host) {
        return Ok(None);
    }
    if ureq::Proxy::new(url).is_err() {
        return Err(Failure::usage(format!(
            "{var}: invalid proxy URL '{}'",
            redact_userinfo(url)
        ))
        .with_hint("use http://host:port or https://host:port"));
    }
    Ok(Some(url.to_string()))
}
