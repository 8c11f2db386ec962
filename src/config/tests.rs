//! Config rules, tested from argument lists and environment maps.

use super::*;
use crate::url::DEFAULT_BASE_URL;
use clap::Parser;
use net::{REFERER, TITLE};

fn args(a: &[&str]) -> Args {
    Args::try_parse_from(std::iter::once("orstream").chain(a.iter().copied())).unwrap()
}

fn tty() -> Ttys {
    Ttys {
        stdin: true,
        stderr: true,
        same_terminal: true,
    }
}

fn plan(c: &Config) -> &ChatPlan {
    match &c.mode {
        Mode::Chat(plan) => plan,
        other => panic!("not a chat: {other:?}"),
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
    assert_eq!(plan(&c).stdin, StdinUse::Prompt);
}

#[test]
fn stdin_roles() {
    let c = Config::from_args(args(&["q"]), &key_env(), tty()).unwrap();
    assert_eq!(plan(&c).stdin, StdinUse::Ignore);
    let c = Config::from_args(args(&["--request", "-"]), &key_env(), pipes()).unwrap();
    assert_eq!(plan(&c).stdin, StdinUse::Input);
    let c = Config::from_args(args(&["--no-stdin", "q"]), &key_env(), pipes()).unwrap();
    assert_eq!(plan(&c).stdin, StdinUse::Ignore);
    let c = Config::from_args(args(&["--from-sse", "-"]), &Env::default(), pipes()).unwrap();
    assert!(matches!(c.mode, Mode::Replay(FileArg::Stdin)));
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
    assert_eq!(c.net.key, None);
    assert_eq!(c.net.base_url, "http://127.0.0.1:1/v1");
    assert_eq!(c.net.header("authorization"), None);
    let c = Config::from_args(args(&["--from-sse", "x.sse"]), &Env::default(), tty()).unwrap();
    assert_eq!(c.net.key, None, "replay needs no key");
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
    assert_eq!(c.net.key.as_ref().unwrap().expose(), "sk-file");
    assert_eq!(c.net.header("Authorization"), Some("Bearer sk-file"));
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
    assert!(dump.contains("***"));
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
            .net
            .base_url,
        "http://env:1/v1"
    );
    let c = Config::from_args(args(&["--base-url", "http://flag:2", "q"]), &env, tty()).unwrap();
    assert_eq!(
        c.net.url("chat/completions"),
        "http://flag:2/chat/completions"
    );
    assert_eq!(
        Config::from_args(args(&["q"]), &key_env(), tty())
            .unwrap()
            .net
            .base_url,
        DEFAULT_BASE_URL
    );
    assert!(Config::from_args(args(&["--base-url", "ftp://x", "q"]), &key_env(), tty()).is_err());
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
    assert_eq!(c.net.header("User-Agent"), Some("custom/1"));
    assert_eq!(c.net.header("X-Title"), None);
    assert_eq!(c.net.header("x-extra"), Some("a: b"));
    assert_eq!(c.net.header("Accept"), Some("text/event-stream"));
    assert_eq!(c.net.header("Content-Type"), Some("application/json"));
    assert_eq!(c.net.header("HTTP-Referer"), Some(REFERER));
    assert_eq!(c.net.header("X-OpenRouter-Title"), Some(TITLE));
    let ua = c
        .net
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
    assert_eq!(c.net.proxy.as_deref(), Some("http://https:2"));
    let env = Env::from_pairs(&[
        ("OPENROUTER_API_KEY", "k"),
        ("HTTP_PROXY", "http://p:1"),
        ("NO_PROXY", "example.com,.openrouter.ai"),
    ]);
    assert_eq!(
        Config::from_args(args(&["q"]), &env, tty())
            .unwrap()
            .net
            .proxy,
        None
    );
    let env = Env::from_pairs(&[("OPENROUTER_API_KEY", "k"), ("ALL_PROXY", "http://[bad")]);
    let e = Config::from_args(args(&["q"]), &env, tty()).unwrap_err();
    assert!(e.message.starts_with("ALL_PROXY"), "{}", e.message);
}

#[test]
fn ssl_cert_file_only_when_tls_is_used() {
    let env = Env::from_pairs(&[("OPENROUTER_API_KEY", "k"), ("SSL_CERT_FILE", "/x.pem")]);
    let c = Config::from_args(args(&["q"]), &env, tty()).unwrap();
    assert_eq!(
        c.net.ca_file,
        Some(PathBuf::from("/x.pem")),
        "https base URL"
    );
    let c = Config::from_args(args(&["--base-url", "http://h", "q"]), &env, tty()).unwrap();
    assert_eq!(c.net.ca_file, None, "plain http reads no bundle");
    let c = Config::from_args(args(&["--from-sse", "f"]), &env, tty()).unwrap();
    assert_eq!(c.net.ca_file, None);
    let proxied = Env::from_pairs(&[
        ("SSL_CERT_FILE", "/x.pem"),
        ("HTTPS_PROXY", "https://proxy:3128"),
    ]);
    let c = Config::from_args(args(&["--base-url", "http://h", "q"]), &proxied, tty()).unwrap();
    assert_eq!(c.net.ca_file, Some(PathBuf::from("/x.pem")), "https proxy");
    let plain_proxy = Env::from_pairs(&[
        ("SSL_CERT_FILE", "/x.pem"),
        ("HTTP_PROXY", "http://proxy:3128"),
    ]);
    let c = Config::from_args(args(&["--base-url", "http://h", "q"]), &plain_proxy, tty()).unwrap();
    assert_eq!(c.net.ca_file, None, "http proxy to an http URL");
}

#[test]
fn attachments_and_stdin() {
    let c = Config::from_args(args(&["-a", "x.png"]), &key_env(), tty()).unwrap();
    assert_eq!(plan(&c).stdin, StdinUse::Ignore, "a terminal is not read");
    assert_eq!(plan(&c).attach, ["x.png"]);
    let c = Config::from_args(args(&["-a", "-", "q"]), &key_env(), pipes()).unwrap();
    assert_eq!(plan(&c).stdin, StdinUse::Attachment);
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
    assert_eq!(c.output.check, Check::CodeBlock);
    let c = Config::from_args(args(&["--schema", "a int", "q"]), &key_env(), tty()).unwrap();
    assert!(matches!(c.output.check, Check::Schema(_)));
    assert!(
        plan(&c).body.require_parameters,
        "openrouter.ai routes by parameters"
    );
    assert!(plan(&c).body.response_format.is_some());
    let c = Config::from_args(
        args(&["--base-url", "http://h", "--schema-multi", "a", "q"]),
        &key_env(),
        tty(),
    )
    .unwrap();
    assert!(!plan(&c).body.require_parameters, "only for openrouter.ai");
    let Check::Schema(s) = &c.output.check else {
        panic!("no schema")
    };
    assert_eq!(s["required"], serde_json::json!(["items"]));
}

#[test]
fn the_dialect_follows_the_host() {
    use crate::request::Dialect;
    let c = Config::from_args(args(&["q"]), &key_env(), tty()).unwrap();
    assert_eq!(plan(&c).body.dialect, Dialect::OpenRouter);
    let c = Config::from_args(
        args(&["--base-url", "https://OpenRouter.ai./api/v1", "q"]),
        &key_env(),
        tty(),
    )
    .unwrap();
    assert_eq!(plan(&c).body.dialect, Dialect::OpenRouter);
    for base in ["http://localhost:8080/v1", "https://api.openai.com/v1"] {
        let c = Config::from_args(args(&["--base-url", base, "q"]), &key_env(), tty()).unwrap();
        assert_eq!(plan(&c).body.dialect, Dialect::OpenAi, "{base}");
    }
}

#[test]
fn chat_file_rules() {
    let e = Config::from_args(args(&["-c", "-", "q"]), &key_env(), tty()).unwrap_err();
    assert_eq!(e.kind.code(), 2);
    let e = Config::from_args(args(&["-c", "f.json"]), &key_env(), tty()).unwrap_err();
    assert_eq!(e.message, "no prompt given", "-c needs a prompt");
    assert!(
        e.hint.unwrap().contains("orstream --request f.json"),
        "replaying is the way to send it as it is"
    );
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

#[test]
fn pretend_hook() {
    assert!(pretend_tty(Some("stderr")));
    assert!(pretend_tty(Some("stdin,stderr")));
    assert!(!pretend_tty(Some("stdout")));
    assert!(!pretend_tty(None));
}

#[test]
fn framing_headers_are_refused() {
    for h in [
        "Content-Length: 5",
        "transfer-encoding: chunked",
        "EXPECT: 100-continue",
    ] {
        let e = Config::from_args(args(&["-H", h, "q"]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2, "{h}");
        assert!(
            e.message.contains("frames the request body"),
            "{}",
            e.message
        );
    }
}

#[test]
fn stream_cannot_be_set() {
    for o in ["stream=false", "stream=true", " stream =1"] {
        let e = Config::from_args(args(&["-o", o, "q"]), &key_env(), tty()).unwrap_err();
        assert_eq!(e.kind.code(), 2, "{o}");
        assert!(e.message.contains("always streams"), "{}", e.message);
    }
    assert!(Config::from_args(args(&["-o", "streaming=1", "q"]), &key_env(), tty()).is_ok());
}

#[test]
fn a_dash_that_reads_a_terminal_is_refused() {
    let e = Config::from_args(args(&["--request", "-"]), &key_env(), tty()).unwrap_err();
    assert_eq!(e.message, "--request -: stdin is a terminal");
    let e = Config::from_args(args(&["--from-sse", "-"]), &Env::default(), tty()).unwrap_err();
    assert_eq!(e.message, "--from-sse -: stdin is a terminal");
    assert!(Config::from_args(args(&["--from-sse", "-"]), &Env::default(), pipes()).is_ok());
}

#[test]
fn an_empty_key_is_named_as_empty() {
    let empty = Env::from_pairs(&[("OPENROUTER_API_KEY", "")]);
    let e = Config::from_args(args(&["q"]), &empty, tty()).unwrap_err();
    assert_eq!(e.message, "no API key: OPENROUTER_API_KEY is empty");
    let e = Config::from_args(args(&["q"]), &Env::default(), tty()).unwrap_err();
    assert_eq!(e.message, "no API key: OPENROUTER_API_KEY is not set");
    let dir = crate::test_support::Dir::new("empty-key");
    let f = dir.file("key");
    std::fs::write(&f, "\n\n").unwrap();
    let path = f.to_str().unwrap();
    let e = Config::from_args(args(&["--api-key-file", path, "q"]), &key_env(), tty()).unwrap_err();
    assert_eq!(
        e.message,
        format!("no API key: --api-key-file {path} is empty")
    );
}

#[test]
fn a_key_file_is_read_to_its_first_line_only() {
    let e = Config::from_args(
        args(&["--api-key-file", "/dev/zero", "q"]),
        &key_env(),
        tty(),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "--api-key-file /dev/zero: its first line is longer than 64 KiB"
    );
}
