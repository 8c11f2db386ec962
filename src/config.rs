//! `Config::from_args`: the validated run configuration.
//!
//! All environment and terminal sniffing happens here, from values passed in,
//! so the rules (precedence, key, proxy, headers) are unit-tested without a
//! process. The API key lives in a [`Secret`] whose `Debug` redacts it.

use crate::cli::Args;
use crate::exit::Failure;
use crate::request::{parse_option, BodyOptions};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
pub const REFERER: &str = "https://github.com/orstream/orstream";
pub const TITLE: &str = "orstream";

/// A snapshot of the environment. Empty values count as unset.
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Which standard streams are terminals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ttys {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// The API key. Never printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A file argument, where `-` means stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    fn from_arg(path: &Path) -> Source {
        if path.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(path.to_path_buf())
        }
    }

    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// What this run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Send a chat request and stream the answer.
    Chat,
    /// `GET {base}/models`.
    ListModels,
    /// `--from-sse`: replay a recording, no network.
    Replay(Source),
}

/// What stdin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinUse {
    /// Not read at all (a terminal, `--no-stdin`, or not needed).
    Ignore,
    /// Read as (part of) the prompt.
    Prompt,
    /// Read as the `--request` body or the `--from-sse` recording.
    Input,
    /// Read as bytes for `-a -`.
    Attachment,
}

/// What shape the answer must have (SPEC §9).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Any text.
    Free,
    /// JSON matching this schema (`--schema`, or `--schema-multi` wrapped).
    Schema(serde_json::Map<String, serde_json::Value>),
    /// `-x`: the first fenced code block.
    Extract,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    pub format: Format,
    pub final_newline: bool,
    pub reasoning: bool,
    pub usage: bool,
    pub verbose: bool,
    pub quiet: bool,
    /// Spinner and dim styles go to stderr only when it is a terminal.
    pub stderr_tty: bool,
    pub color: bool,
}

/// Everything a run needs, validated.
pub struct Config {
    pub mode: Mode,
    pub base_url: String,
    pub key: Option<Secret>,
    /// The headers to send, defaults and `-H` merged; `Authorization` included.
    pub headers: Vec<(String, String)>,
    pub stdin: StdinUse,
    pub words: Vec<String>,
    pub request: Option<Source>,
    /// `-a` arguments, as given, in order.
    pub attach: Vec<String>,
    /// `-c FILE`.
    pub chat: Option<PathBuf>,
    pub shape: Shape,
    pub body: BodyOptions,
    pub output: OutputOptions,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub retries: u32,
    pub proxy: Option<String>,
    /// `SSL_CERT_FILE`, when set and the connection may use TLS.
    pub ca_file: Option<PathBuf>,
    pub stdin_hint: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str(),
                    if is_secret_header(n) {
                        "[redacted]"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("headers", &headers)
            .field("stdin", &self.stdin)
            .field("words", &self.words)
            .field("request", &self.request)
            .field("attach", &self.attach)
            .field("chat", &self.chat)
            .field("shape", &self.shape)
            .field("body", &self.body)
            .field("output", &self.output)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("retries", &self.retries)
            .field("proxy", &self.proxy)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Headers whose values may hold a credential.
pub fn is_secret_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization")
}

impl Config {
    pub fn from_args(args: Args, env: &Env, ttys: Ttys) -> Result<Config, Failure> {
        let mode = match (&args.from_sse, args.list_models) {
            (Some(path), _) => Mode::Replay(Source::from_arg(path)),
            (None, true) => Mode::ListModels,
            (None, false) => Mode::Chat,
        };
        let request = args.request.as_deref().map(Source::from_arg);

        let attach_stdin = args.attach.iter().filter(|a| *a == "-").count();
        let stdin = match &mode {
            Mode::Replay(Source::Stdin) => StdinUse::Input,
            Mode::Replay(_) | Mode::ListModels => StdinUse::Ignore,
            Mode::Chat if request == Some(Source::Stdin) => StdinUse::Input,
            Mode::Chat if attach_stdin > 0 => StdinUse::Attachment,
            Mode::Chat if args.no_stdin || ttys.stdin => StdinUse::Ignore,
            Mode::Chat => StdinUse::Prompt,
        };
        if args.no_stdin && request == Some(Source::Stdin) {
            return Err(Failure::usage(
                "--no-stdin conflicts with --request - (which reads stdin)",
            ));
        }
        if mode != Mode::Chat && !args.prompt.is_empty() {
            let flag = if mode == Mode::ListModels {
                "--list-models"
            } else {
                "--from-sse"
            };
            return Err(Failure::usage(format!(
                "{flag} takes no PROMPT words (got '{}')",
                args.prompt.join(" ")
            ))
            .with_hint("see 'orstream --help'"));
        }
        if mode != Mode::Chat && !args.attach.is_empty() {
            let flag = if mode == Mode::ListModels {
                "--list-models"
            } else {
                "--from-sse"
            };
            return Err(Failure::usage(format!("{flag} takes no attachments (-a)"))
                .with_hint("see 'orstream --help'"));
        }
        if attach_stdin > 0 {
            let clash = if attach_stdin > 1 {
                Some("-a - is given twice (stdin can be read once)")
            } else if request == Some(Source::Stdin) {
                Some("-a - conflicts with --request - (both read stdin)")
            } else if args.no_stdin {
                Some("-a - conflicts with --no-stdin")
            } else if ttys.stdin {
                Some("-a -: stdin is a terminal")
            } else {
                None
            };
            if let Some(message) = clash {
                return Err(Failure::usage(message)
                    .with_hint("pipe the file in: orstream -a - \"…\" < FILE"));
            }
        }
        if args.chat.as_deref().is_some_and(|c| c.as_os_str() == "-") {
            return Err(Failure::usage(
                "-c -: a conversation must be a file (it is rewritten after each answer)",
            ));
        }
        if mode == Mode::Chat
            && stdin == StdinUse::Ignore
            && args.prompt.is_empty()
            && request.is_none()
            && args.attach.is_empty()
        {
            let hint = if ttys.stdin && !args.no_stdin {
                "give PROMPT words or pipe text on stdin; see 'orstream --help'"
            } else {
                "give PROMPT words (stdin is ignored with --no-stdin); see 'orstream --help'"
            };
            return Err(Failure::usage("no prompt given").with_hint(hint));
        }

        let base_url = base_url(args.base_url.as_deref().or(env.get("OPENROUTER_BASE_URL")))?;
        let key = match &args.api_key_file {
            Some(path) => read_key_file(path)?,
            None => env.get("OPENROUTER_API_KEY").map(|k| Secret(k.to_string())),
        };
        if key.is_none() && mode == Mode::Chat && host_of(&base_url) == "openrouter.ai" {
            return Err(Failure::usage("no API key: OPENROUTER_API_KEY is not set")
                .with_hint("export OPENROUTER_API_KEY=sk-or-… (keys: https://openrouter.ai/keys), or use --api-key-file PATH"));
        }

        let mut headers = default_headers(key.as_ref(), &mode);
        for h in &args.headers {
            apply_header(&mut headers, h)?;
        }

        let shape = match (&args.schema, &args.schema_multi, args.extract) {
            (Some(schema), _, _) => Shape::Schema(crate::schema::load(schema, "--schema")?),
            (None, Some(schema), _) => Shape::Schema(crate::schema::wrap_multi(
                crate::schema::load(schema, "--schema-multi")?,
            )),
            (None, None, true) => Shape::Extract,
            (None, None, false) => Shape::Free,
        };
        let response_format = match &shape {
            Shape::Schema(s) => Some(crate::schema::response_format(s.clone())),
            _ => None,
        };

        let mut fields = Vec::with_capacity(args.options.len());
        for o in &args.options {
            fields.push(parse_option(o)?);
        }
        let body = BodyOptions {
            system: args.system,
            model_flag: match args.model {
                Some(m) if m.split(',').all(|part| part.trim().is_empty()) => {
                    return Err(Failure::usage(format!("-m '{m}': no model id given"))
                        .with_hint("for example -m openai/gpt-4o,anthropic/claude-sonnet-4"));
                }
                m => m,
            },
            model_env: env.get("OPENROUTER_MODEL").map(str::to_string),
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            top_p: args.top_p,
            seed: args.seed,
            stop: args.stop,
            reasoning_effort: args.reasoning_effort.map(|e| e.as_str()),
            // OpenRouter drops response_format for providers that lack it
            // unless told to route only to those that honour every parameter.
            require_parameters: response_format.is_some() && host_of(&base_url) == "openrouter.ai",
            response_format,
            fields,
        };

        let proxy = proxy_for(env, &base_url)?;
        // Only a TLS connection reads the bundle (SPEC §2): many systems set
        // SSL_CERT_FILE globally, and parsing a hundred certificates costs a
        // plain-http call to a local server a quarter of its time.
        let tls = is_https(&base_url) || proxy.as_deref().is_some_and(is_https);
        let ca_file = env
            .get("SSL_CERT_FILE")
            .filter(|_| tls && !matches!(mode, Mode::Replay(_)))
            .map(PathBuf::from);

        let output = OutputOptions {
            format: if args.json {
                Format::Json
            } else {
                Format::Text
            },
            final_newline: !args.no_newline,
            reasoning: args.reasoning,
            usage: args.usage,
            verbose: args.verbose,
            quiet: args.quiet,
            stderr_tty: ttys.stderr,
            color: ttys.stderr && env.get("NO_COLOR").is_none(),
        };

        Ok(Config {
            stdin_hint: ttys.stderr && stdin != StdinUse::Ignore,
            mode,
            base_url,
            key,
            headers,
            stdin,
            words: args.prompt,
            request,
            attach: args.attach,
            chat: args.chat,
            shape,
            body,
            output,
            connect_timeout: Duration::from_secs_f64(args.connect_timeout),
            idle_timeout: Duration::from_secs_f64(args.idle_timeout),
            retries: args.retries,
            proxy,
            ca_file,
        })
    }

    /// The endpoint URL for a path below the base.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path)
    }

    /// The header value with this name (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Validates the base URL and drops trailing slashes.
fn base_url(given: Option<&str>) -> Result<String, Failure> {
    let url = given.unwrap_or(DEFAULT_BASE_URL).trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => {
            Ok(url.trim_end_matches('/').to_string())
        }
        _ => Err(
            Failure::usage(format!("invalid base URL '{url}'")).with_hint(
                "use an http:// or https:// URL, e.g. --base-url https://openrouter.ai/api/v1",
            ),
        ),
    }
}

/// Whether a URL's scheme is `https` (case-insensitive).
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The host part of an http(s) URL, lowercased, without port or userinfo.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    // `openrouter.ai.` is the same host, written as a fully qualified name.
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

fn read_key_file(path: &Path) -> Result<Option<Secret>, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::usage(format!(
            "--api-key-file {}: {}",
            path.display(),
            crate::input::io_reason(&e)
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap_or("").trim();
    Ok((!first.is_empty()).then(|| Secret(first.to_string())))
}

fn default_headers(key: Option<&Secret>, mode: &Mode) -> Vec<(String, String)> {
    let mut h = Vec::with_capacity(8);
    if let Some(k) = key {
        h.push((
            "Authorization".to_string(),
            format!("Bearer {}", k.expose()),
        ));
    }
    let accept = if *mode == Mode::ListModels {
        "application/json"
    } else {
        "text/event-stream"
    };
    if *mode != Mode::ListModels {
        h.push(("Content-Type".into(), "application/json".into()));
    }
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
/// names the host. Like curl, a `NO_PROXY` entry matches the host and its
/// subdomains; `*` matches all.
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

pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            let entry = host_of(entry);
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

/// A proxy URL for messages: `user:password@` hidden.
pub fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split('/').next().and_then(|a| a.rsplit_once('@')) {
            Some((_, host)) => format!("{scheme}://[redacted]@{host}"),
            None => url.to_string(),
        },
        None => url
            .rsplit_once('@')
            .map_or(url.to_string(), |(_, h)| format!("[redacted]@{h}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("orstream").chain(a.iter().copied())).unwrap()
    }

    fn tty() -> Ttys {
        Ttys {
            stdin: true,
            stdout: true,
            stderr: true,
        }
    }

    fn pipes() -> Ttys {
        Ttys::default()
    }

    fn key_env() -> Env {
        Env::from_pairs(&[("OPENROUTER_API_KEY", "sk-secret")])
    }

    #[test]
    fn terminal_without_prompt_is_usage_error() {
        let e = Config::from_args(args(&[]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(e.hint.unwrap().contains("--help"));
        assert!(Config::from_args(args(&["--no-stdin"]), &key_env(), pipes()).is_err());
        let c = Config::from_args(args(&[]), &key_env(), pipes()).unwrap();
        assert_eq!(c.stdin, StdinUse::Prompt);
    }

    #[test]
    fn stdin_roles() {
        let c = Config::from_args(args(&["q"]), &key_env(), tty()).unwrap();
        assert_eq!(c.stdin, StdinUse::Ignore);
        let c = Config::from_args(args(&["--request", "-"]), &key_env(), pipes()).unwrap();
        assert_eq!(c.stdin, StdinUse::Input);
        let c = Config::from_args(args(&["--no-stdin", "q"]), &key_env(), pipes()).unwrap();
        assert_eq!(c.stdin, StdinUse::Ignore);
        let c = Config::from_args(args(&["--from-sse", "-"]), &Env::default(), pipes()).unwrap();
        assert_eq!(
            (c.mode, c.stdin),
            (Mode::Replay(Source::Stdin), StdinUse::Input)
        );
    }

    #[test]
    fn key_rules() {
        let e = Config::from_args(args(&["q"]), &Env::default(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(e.hint.is_some());
        let empty = Env::from_pairs(&[("OPENROUTER_API_KEY", "")]);
        assert!(
            Config::from_args(args(&["q"]), &empty, tty()).is_err(),
            "empty counts as unset"
        );
        let c = Config::from_args(
            args(&["--base-url", "http://127.0.0.1:1/v1/", "q"]),
            &Env::default(),
            tty(),
        )
        .unwrap();
        assert_eq!(c.key, None);
        assert_eq!(c.base_url, "http://127.0.0.1:1/v1");
        assert_eq!(c.header("authorization"), None);
        let c = Config::from_args(args(&["--from-sse", "x.sse"]), &Env::default(), tty()).unwrap();
        assert_eq!(c.key, None, "replay needs no key");
    }

    #[test]
    fn key_file_first_line_trimmed() {
        let dir = std::env::temp_dir().join(format!("orstream-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("key");
        std::fs::write(&f, " sk-file \r\nsecond\n").unwrap();
        let c = Config::from_args(
            args(&["--api-key-file", f.to_str().unwrap(), "q"]),
            &key_env(),
            tty(),
        )
        .unwrap();
        assert_eq!(c.key.as_ref().unwrap().expose(), "sk-file");
        assert_eq!(c.header("Authorization"), Some("Bearer sk-file"));
        std::fs::write(&f, "").unwrap();
        let e = Config::from_args(
            args(&["--api-key-file", f.to_str().unwrap(), "q"]),
            &Env::default(),
            tty(),
        );
        assert!(e.is_err(), "an empty file counts as no key");
        let missing = dir.join("missing");
        let e = Config::from_args(
            args(&["--api-key-file", missing.to_str().unwrap(), "q"]),
            &key_env(),
            tty(),
        )
        .unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(
            e.message.contains(missing.to_str().unwrap()),
            "{}",
            e.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_redacts_the_key() {
        let c = Config::from_args(args(&["q"]), &key_env(), tty()).unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("sk-secret"), "{dump}");
        assert!(dump.contains("[redacted]"));
    }

    #[test]
    fn base_url_sources() {
        let env = Env::from_pairs(&[
            ("OPENROUTER_API_KEY", "k"),
            ("OPENROUTER_BASE_URL", "http://env:1/v1"),
        ]);
        assert_eq!(
            Config::from_args(args(&["q"]), &env, tty())
                .unwrap()
                .base_url,
            "http://env:1/v1"
        );
        let c =
            Config::from_args(args(&["--base-url", "http://flag:2", "q"]), &env, tty()).unwrap();
        assert_eq!(c.url("chat/completions"), "http://flag:2/chat/completions");
        assert_eq!(
            Config::from_args(args(&["q"]), &key_env(), tty())
                .unwrap()
                .base_url,
            DEFAULT_BASE_URL
        );
        assert!(
            Config::from_args(args(&["--base-url", "ftp://x", "q"]), &key_env(), tty()).is_err()
        );
        assert!(Config::from_args(
            args(&["--base-url", "localhost:8080", "q"]),
            &key_env(),
            tty()
        )
        .is_err());
    }

    #[test]
    fn headers_defaults_and_overrides() {
        let c = Config::from_args(
            args(&[
                "-H",
                "user-agent: custom/1",
                "-H",
                "X-Title:",
                "-H",
                "X-Extra: a: b",
                "q",
            ]),
            &key_env(),
            tty(),
        )
        .unwrap();
        assert_eq!(c.header("User-Agent"), Some("custom/1"));
        assert_eq!(c.header("X-Title"), None);
        assert_eq!(c.header("x-extra"), Some("a: b"));
        assert_eq!(c.header("Accept"), Some("text/event-stream"));
        assert_eq!(c.header("Content-Type"), Some("application/json"));
        assert_eq!(c.header("HTTP-Referer"), Some(REFERER));
        assert_eq!(c.header("X-OpenRouter-Title"), Some(TITLE));
        let ua = c
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
            .count();
        assert_eq!(ua, 1);
        let e = Config::from_args(args(&["-H", "NoColon", "q"]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        assert!(Config::from_args(args(&["-H", "bad name: x", "q"]), &key_env(), tty()).is_err());
    }

    #[test]
    fn proxies() {
        let env = Env::from_pairs(&[
            ("OPENROUTER_API_KEY", "k"),
            ("http_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://https:2"),
        ]);
        let c = Config::from_args(args(&["q"]), &env, tty()).unwrap();
        assert_eq!(c.proxy.as_deref(), Some("http://https:2"));
        let env = Env::from_pairs(&[
            ("OPENROUTER_API_KEY", "k"),
            ("HTTP_PROXY", "http://p:1"),
            ("NO_PROXY", "example.com,.openrouter.ai"),
        ]);
        assert_eq!(
            Config::from_args(args(&["q"]), &env, tty()).unwrap().proxy,
            None
        );
        let env = Env::from_pairs(&[("OPENROUTER_API_KEY", "k"), ("ALL_PROXY", "http://[bad")]);
        let e = Config::from_args(args(&["q"]), &env, tty()).unwrap_err();
        assert!(e.message.starts_with("ALL_PROXY"), "{}", e.message);
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "a.b"));
        assert!(no_proxy_matches("b.com", "b.com"));
        assert!(no_proxy_matches("b.com", "a.b.com"));
        assert!(no_proxy_matches(" .b.com ", "a.b.com"));
        assert!(no_proxy_matches("*.b.com", "a.b.com"));
        assert!(no_proxy_matches("localhost:8080", "localhost"));
        assert!(!no_proxy_matches("b.com", "ab.com"));
        assert!(!no_proxy_matches("", "a"));
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_of("https://OpenRouter.ai/api/v1"), "openrouter.ai");
        assert_eq!(host_of("http://u:p@h:8080/x"), "h");
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        assert_eq!(host_of("https://openrouter.ai./api/v1"), "openrouter.ai");
        assert_eq!(redact_userinfo("http://u:p@h:1"), "http://[redacted]@h:1");
    }

    #[test]
    fn ssl_cert_file_only_when_tls_is_used() {
        let env = Env::from_pairs(&[("OPENROUTER_API_KEY", "k"), ("SSL_CERT_FILE", "/x.pem")]);
        let c = Config::from_args(args(&["q"]), &env, tty()).unwrap();
        assert_eq!(c.ca_file, Some(PathBuf::from("/x.pem")), "https base URL");
        let c = Config::from_args(args(&["--base-url", "http://h", "q"]), &env, tty()).unwrap();
        assert_eq!(c.ca_file, None, "plain http reads no bundle");
        let c = Config::from_args(args(&["--from-sse", "f"]), &env, tty()).unwrap();
        assert_eq!(c.ca_file, None);
        let proxied = Env::from_pairs(&[
            ("SSL_CERT_FILE", "/x.pem"),
            ("HTTPS_PROXY", "https://proxy:3128"),
        ]);
        let c = Config::from_args(args(&["--base-url", "http://h", "q"]), &proxied, tty()).unwrap();
        assert_eq!(c.ca_file, Some(PathBuf::from("/x.pem")), "https proxy");
        let plain_proxy = Env::from_pairs(&[
            ("SSL_CERT_FILE", "/x.pem"),
            ("HTTP_PROXY", "http://proxy:3128"),
        ]);
        let c =
            Config::from_args(args(&["--base-url", "http://h", "q"]), &plain_proxy, tty()).unwrap();
        assert_eq!(c.ca_file, None, "http proxy to an http URL");
    }

    #[test]
    fn attachments_and_stdin() {
        let c = Config::from_args(args(&["-a", "x.png"]), &key_env(), tty()).unwrap();
        assert_eq!(c.stdin, StdinUse::Ignore, "a terminal is not read");
        assert_eq!(c.attach, ["x.png"]);
        let c = Config::from_args(args(&["-a", "-", "q"]), &key_env(), pipes()).unwrap();
        assert_eq!(c.stdin, StdinUse::Attachment);
        for bad in [
            &["-a", "-", "-a", "-"][..],
            &["-a", "-", "--request", "-"],
            &["-a", "-", "--no-stdin", "q"],
            &["--from-sse", "f", "-a", "x.png"],
            &["--list-models", "-a", "x.png"],
        ] {
            let e = Config::from_args(args(bad), &key_env(), pipes()).unwrap_err();
            assert_eq!(e.kind.code(), 2, "{bad:?}");
        }
        let e = Config::from_args(args(&["-a", "-"]), &key_env(), tty()).unwrap_err();
        assert!(e.message.contains("terminal"), "{}", e.message);
    }

    #[test]
    fn shapes_and_the_provider_merge() {
        let c = Config::from_args(args(&["-x", "q"]), &key_env(), tty()).unwrap();
        assert_eq!(c.shape, Shape::Extract);
        let c = Config::from_args(args(&["--schema", "a int", "q"]), &key_env(), tty()).unwrap();
        assert!(matches!(c.shape, Shape::Schema(_)));
        assert!(
            c.body.require_parameters,
            "openrouter.ai routes by parameters"
        );
        assert!(c.body.response_format.is_some());
        let c = Config::from_args(
            args(&["--base-url", "http://h", "--schema-multi", "a", "q"]),
            &key_env(),
            tty(),
        )
        .unwrap();
        assert!(!c.body.require_parameters, "only for openrouter.ai");
        let Shape::Schema(s) = &c.shape else {
            panic!("no schema")
        };
        assert_eq!(s["required"], serde_json::json!(["items"]));
    }

    #[test]
    fn chat_file_rules() {
        let e = Config::from_args(args(&["-c", "-", "q"]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2);
        let e = Config::from_args(args(&["-c", "f.json"]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.message, "no prompt given", "-c needs a prompt");
    }

    #[test]
    fn odd_combinations_are_usage_errors() {
        for bad in [
            &["--no-stdin", "--request", "-"][..],
            &["--list-models", "extra"],
            &["--from-sse", "f", "extra"],
            &["-m", ",", "q"],
            &["-m", "", "q"],
        ] {
            let e = Config::from_args(args(bad), &key_env(), pipes()).unwrap_err();
            assert_eq!(e.kind.code(), 2, "{bad:?}");
        }
    }
}
