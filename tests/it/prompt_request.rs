//! SPEC §1 (Prompt) and §2 (Request): what orstream sends, checked on the
//! wire by the scripted loopback server, plus the usage errors that must stop
//! it before any connection.

use crate::support::*;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// The body of the one request sent by `orstream_at(server)` + `f`.
fn body_of(f: impl FnOnce(Cmd) -> Cmd) -> Value {
    let server = hi_server();
    run_ok(&server, f(orstream_at(&server))).0.json()
}

fn messages(body: &Value) -> &Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array in {body}"))
}

/// The content of the single user message (and checks it is the only one).
fn only_user_content(body: &Value) -> String {
    let msgs = messages(body);
    assert_eq!(msgs.len(), 1, "expected one message in {body}");
    assert_eq!(msgs[0]["role"], "user", "{body}");
    msgs[0]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("content is not a string in {body}"))
        .to_string()
}

/// A path under the temp dir that does not exist.
fn missing_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "orstream-prompt-request-missing-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

/// Runs `orstream --base-url http://example.invalid:9/v1 hi`, `set` naming
/// a loopback proxy (its URL given) to a "Hi" origin, and asserts the proxy
/// saw a request for `http://example.invalid:9/v1/...` (a CONNECT tunnel or
/// an absolute-form request) that reached the origin with the right path.
fn assert_proxied(set: impl FnOnce(Cmd, &str) -> Cmd) {
    let origin = hi_server();
    let (proxy, proxy_rx) = start_proxy(origin.addr());
    let out = set(
        orstream().args(["--base-url", "http://example.invalid:9/v1", "hi"]),
        &proxy,
    )
    .run();
    let line = proxy_rx
        .recv_timeout(T)
        .unwrap_or_else(|_| panic!("the proxy saw no request\n{}", out.report()));
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n", "{}", out.report());
    let got = origin.received();
    assert_eq!(got.len(), 1, "origin requests: {got:?}\n{}", out.report());
    if line.starts_with("CONNECT ") {
        assert_eq!(line, "CONNECT example.invalid:9 HTTP/1.1");
        assert_eq!(got[0].path, "/v1/chat/completions");
        assert_eq!(got[0].header("host"), Some("example.invalid:9"));
    } else {
        assert_eq!(
            line,
            "POST http://example.invalid:9/v1/chat/completions HTTP/1.1"
        );
        assert_eq!(got[0].path, "http://example.invalid:9/v1/chat/completions");
    }
    assert_eq!(got[0].method, "POST");
}

// ---------------------------------------------------------------------------
// §1 Prompt
// ---------------------------------------------------------------------------

#[test]
fn prompt_words_are_joined_with_single_spaces() {
    let body = body_of(|c| c.args(["Why", "is", "the sky", "blue?"]));
    assert_eq!(only_user_content(&body), "Why is the sky blue?");
}

#[test]
fn stdin_only_is_the_user_message_exactly() {
    let doc = "  indented doc\r\nline 2 \t\n\n\n";
    let body = body_of(|c| c.stdin(doc));
    assert_eq!(only_user_content(&body), doc);
}

#[test]
fn stdin_and_words_put_the_question_after_the_trimmed_document() {
    let body = body_of(|c| c.args(["Review", "this"]).stdin("line1\nline2 \n \t\n\n"));
    assert_eq!(only_user_content(&body), "line1\nline2\n\nReview this");
}

#[test]
fn empty_stdin_with_words_is_just_the_words() {
    // /dev/null (the builder's default) ...
    let body = body_of(|c| c.arg("question").stdin_null());
    assert_eq!(only_user_content(&body), "question");
    // ... and an empty pipe.
    let body = body_of(|c| c.arg("question").stdin(Vec::new()));
    assert_eq!(only_user_content(&body), "question");
}

#[test]
fn empty_stdin_without_words_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server).stdin_null().run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("prompt"), "{}", out.report());
    assert!(hint.unwrap().contains("--help"), "{}", out.report());
    assert_no_connections(&server);
}

#[test]
fn whitespace_only_prompt_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server).args([" ", "\t"]).run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains("empty"), "{}", out.report());

    let server = hi_server();
    let out = orstream_at(&server).stdin(" \n\t\n\n").run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains("empty"), "{}", out.report());
}

#[test]
fn invalid_utf8_stdin_names_the_byte_offset() {
    let server = hi_server();
    let out = orstream_at(&server).stdin(&b"ab\xffcd"[..]).run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains("stdin"), "{}", out.report());
    assert!(line.contains("UTF-8"), "{}", out.report());
    assert!(line.contains("offset 2"), "{}", out.report());

    // Also with words, and a bad byte after a multi-byte character.
    let server = hi_server();
    let out = orstream_at(&server)
        .arg("q")
        .stdin(
            "é\n"
                .as_bytes()
                .iter()
                .chain(b"\xc3(")
                .copied()
                .collect::<Vec<u8>>(),
        )
        .run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains("offset 3"), "{}", out.report());
}

#[test]
fn system_flag_adds_a_system_message_first() {
    let body = body_of(|c| c.args(["-s", "You review code.", "Review", "this"]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You review code."},
            {"role": "user", "content": "Review this"}
        ])
    );
}

#[test]
fn no_stdin_ignores_a_pipe_that_never_closes() {
    // Without --no-stdin this would wait forever (and hit the hard timeout).
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .args(["--no-stdin", "just", "words"])
            .stdin_open_pipe(),
    );
    assert_eq!(only_user_content(&got.json()), "just words");
}

#[test]
fn no_stdin_without_words_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server)
        .arg("--no-stdin")
        .stdin_open_pipe()
        .run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("no prompt"), "{}", out.report());
    assert!(hint.unwrap().contains("--no-stdin"), "{}", out.report());
    assert_no_connections(&server);
}

const MULTI_TURN: &str = r#"{
  "model": "file/model",
  "temperature": 0.9,
  "stream": false,
  "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
  "messages": [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": [{"type": "text", "text": "part one"}]},
    {"role": "assistant", "content": "answer one"},
    {"role": "user", "content": "question two"}
  ]
}"#;

fn multi_turn_messages() -> Value {
    serde_json::from_str::<Value>(MULTI_TURN).unwrap()["messages"].clone()
}

#[test]
fn request_file_keeps_multi_turn_messages_and_fields() {
    let file = TempFile::new("multi.json", MULTI_TURN);
    let body = body_of(|c| c.arg("--request").arg(file.path()));
    assert_eq!(body["messages"], multi_turn_messages());
    assert_eq!(body["model"], "file/model");
    assert_eq!(body["temperature"], json!(0.9));
    assert_eq!(body["tools"][0]["function"]["name"], "f");
}

#[test]
fn request_file_stream_is_forced_true() {
    let file = TempFile::new("stream-false.json", MULTI_TURN);
    let body = body_of(|c| c.arg("--request").arg(file.path()));
    assert_eq!(body["stream"], json!(true), "{body}");
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn request_file_fields_are_overridden_by_flags() {
    let file = TempFile::new("override.json", MULTI_TURN);
    let body = body_of(|c| {
        c.arg("--request")
            .arg(file.path())
            .args(["-t", "0.5", "-m", "flag/model"])
    });
    assert_eq!(body["temperature"], json!(0.5), "{body}");
    assert_eq!(body["model"], "flag/model", "{body}");
    assert_eq!(body["messages"], multi_turn_messages());
}

#[test]
fn request_file_prompt_words_are_appended_as_final_user_message() {
    let file = TempFile::new("append.json", MULTI_TURN);
    let body = body_of(|c| c.arg("--request").arg(file.path()).args(["follow", "up"]));
    let mut want = multi_turn_messages().as_array().unwrap().clone();
    want.push(json!({"role": "user", "content": "follow up"}));
    assert_eq!(body["messages"], Value::Array(want));
}

#[test]
fn request_dash_reads_the_body_from_stdin() {
    let body = body_of(|c| c.args(["--request", "-"]).stdin(MULTI_TURN));
    assert_eq!(body["messages"], multi_turn_messages());
    assert_eq!(body["model"], "file/model");
    assert_eq!(body["stream"], json!(true));
}

#[test]
fn request_invalid_json_names_file_line_and_column() {
    let file = TempFile::new("bad.json", "{\n  \"messages\": [}\n");
    let server = hi_server();
    let out = orstream_at(&server).arg("--request").arg(file.path()).run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains(&file.name()), "{}", out.report());
    assert!(line.contains("invalid JSON"), "{}", out.report());
    assert!(line.contains("line 2 column 16"), "{}", out.report());
}

#[test]
fn request_without_messages_array_is_a_usage_error() {
    for (tag, text) in [
        ("no-messages.json", r#"{"model":"x"}"#),
        ("array.json", "[1]"),
        ("string-messages.json", r#"{"messages":"hi"}"#),
    ] {
        let file = TempFile::new(tag, text);
        for flag in ["--request", "-c"] {
            let server = hi_server();
            let out = orstream_at(&server)
                .arg(flag)
                .arg(file.path())
                .arg("hi")
                .run();
            let line = assert_usage_error(&out, &server);
            assert!(line.contains(&file.name()), "{}", out.report());
            assert!(line.contains("line 1 column"), "{}", out.report());
            // The user's terms, not serde's ("invalid type: sequence,
            // expected a map").
            for serde in ["sequence", "map", "invalid type", "missing field"] {
                assert!(!line.contains(serde), "{}", out.report());
            }
        }
    }
}

#[test]
fn request_file_missing_is_a_usage_error_naming_it() {
    let path = missing_path("request.json");
    let server = hi_server();
    let out = orstream_at(&server).arg("--request").arg(&path).run();
    let line = assert_usage_error(&out, &server);
    assert!(
        line.contains(&path.display().to_string()),
        "{}",
        out.report()
    );
}

#[test]
fn model_flag_beats_request_file_and_env() {
    let file = TempFile::new("model-flag.json", MULTI_TURN);
    let body = body_of(|c| {
        c.arg("--request")
            .arg(file.path())
            .args(["-m", "flag/model"])
            .env("OPENROUTER_MODEL", "env/model")
    });
    assert_eq!(body["model"], "flag/model");
}

#[test]
fn model_from_request_file_beats_env() {
    let file = TempFile::new("model-file.json", MULTI_TURN);
    let body = body_of(|c| {
        c.arg("--request")
            .arg(file.path())
            .env("OPENROUTER_MODEL", "env/model")
    });
    assert_eq!(body["model"], "file/model");
}

#[test]
fn model_from_env_when_no_flag_or_file() {
    let body = body_of(|c| c.arg("hi").env("OPENROUTER_MODEL", "env/model"));
    assert_eq!(body["model"], "env/model");
    // A request file without a model falls back to the environment too.
    let file = TempFile::new(
        "no-model.json",
        r#"{"messages":[{"role":"user","content":"x"}]}"#,
    );
    let body = body_of(|c| {
        c.arg("--request")
            .arg(file.path())
            .env("OPENROUTER_MODEL", "env/model")
    });
    assert_eq!(body["model"], "env/model");
}

/// The body of the one request a run at OpenRouter's host sent.
fn body_at_openrouter(f: impl FnOnce(Cmd) -> Cmd) -> Value {
    let origin = hi_server();
    run_ok(&origin, f(orstream_at_openrouter(&origin))).0.json()
}

#[test]
fn model_defaults_to_openrouter_auto_on_openrouter_only() {
    let body = body_at_openrouter(|c| c.arg("hi"));
    assert_eq!(body["model"], "openrouter/auto");
    assert!(body.get("models").is_none(), "{body}");

    // Another server would not know OpenRouter's router.
    let body = body_of(|c| c.arg("hi"));
    assert!(body.get("model").is_none(), "{body}");
    assert!(body.get("models").is_none(), "{body}");
    let body = body_of(|c| c.arg("hi").env("OPENROUTER_MODEL", "env/model"));
    assert_eq!(body["model"], "env/model");
}

#[test]
fn a_rejection_without_a_model_hints_m_and_list_models() {
    for status in [400, 404] {
        let server = Server::start(vec![Reply::json(
            status,
            r#"{"error":{"message":"model is required"}}"#,
        )]);
        let out = orstream_at(&server).arg("hi").run();
        let (line, hint) = assert_error_lines(&out, 5, true);
        assert!(line.contains("model is required"), "{}", out.report());
        let hint = hint.unwrap();
        assert!(
            hint.contains("-m") && hint.contains("--list-models"),
            "{}",
            out.report()
        );
        assert!(!hint.contains("/v1"), "{}", out.report());

        // With a model named, a 400 is the server's say alone.
        let server = Server::start(vec![Reply::json(status, r#"{"error":{"message":"bad"}}"#)]);
        let out = orstream_at(&server).args(["-m", "x/y", "hi"]).run();
        let (_, hint) = assert_error_lines(&out, 5, false);
        assert!(
            !hint.unwrap_or_default().contains("--list-models"),
            "{}",
            out.report()
        );
    }
}

// ---------------------------------------------------------------------------
// §2 Request
// ---------------------------------------------------------------------------

#[test]
fn posts_to_chat_completions_under_the_base_url() {
    let server = hi_server();
    let (got, _) = run_ok(&server, orstream_at(&server).arg("hi"));
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/chat/completions");
}

#[test]
fn base_url_trailing_slash_is_tolerated() {
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream()
            .arg("--base-url")
            .arg(format!("{}/", server.url()))
            .arg("hi"),
    );
    assert_eq!(got.path, "/chat/completions");
}

#[test]
fn base_url_path_is_kept() {
    for suffix in ["/api/v1/", "/api/v1"] {
        let server = hi_server();
        let (got, _) = run_ok(
            &server,
            orstream()
                .arg("--base-url")
                .arg(format!("{}{suffix}", server.url()))
                .arg("hi"),
        );
        assert_eq!(got.path, "/api/v1/chat/completions", "base suffix {suffix}");
    }
}

#[test]
fn base_url_from_env_when_no_flag() {
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream()
            .env("OPENROUTER_BASE_URL", format!("{}/v1", server.url()))
            .arg("hi"),
    );
    assert_eq!(got.path, "/v1/chat/completions");

    // --base-url wins over the variable.
    let unused = Server::start(vec![]);
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .env("OPENROUTER_BASE_URL", format!("{}/v1", unused.url()))
            .arg("hi"),
    );
    assert_eq!(got.path, "/chat/completions");
    assert_no_connections(&unused);
}

#[test]
fn default_headers_are_sent() {
    let server = hi_server();
    let (got, _) = run_ok(&server, orstream_at(&server).arg("hi"));
    let bearer = format!("Bearer {TEST_KEY}");
    assert_eq!(got.header("authorization"), Some(bearer.as_str()));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("accept"), Some("text/event-stream"));
    let ua = format!("orstream/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(got.header("user-agent"), Some(ua.as_str()));
    for name in ["HTTP-Referer", "X-OpenRouter-Title", "X-Title"] {
        let v = got.header(name);
        assert!(
            v.is_some_and(|v| !v.trim().is_empty()),
            "{name} missing or empty: {:?}",
            got.headers
        );
    }
}

#[test]
fn header_flag_adds_a_header() {
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server).args(["-H", "X-Foo: bar", "hi"]),
    );
    assert_eq!(got.header("x-foo"), Some("bar"));
    // The defaults are still there.
    assert_eq!(got.header("accept"), Some("text/event-stream"));
}

#[test]
fn header_flag_replaces_a_default_case_insensitively() {
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server).args(["-H", "user-agent: mine/1", "hi"]),
    );
    let uas: Vec<&str> = got
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(uas, ["mine/1"], "headers: {:?}", got.headers);
}

#[test]
fn header_without_colon_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server).args(["-H", "NoColon", "hi"]).run();
    let line = assert_usage_error(&out, &server);
    assert!(line.contains("NoColon"), "{}", out.report());
}

#[test]
fn api_key_file_first_line_trimmed_overrides_env() {
    let file = TempFile::new("key", "\t file-key-0123 \r\nsecond-line-key\n");
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .arg("--api-key-file")
            .arg(file.path())
            .arg("hi"),
    );
    assert_eq!(got.header("authorization"), Some("Bearer file-key-0123"));
}

#[test]
fn empty_api_key_file_with_custom_base_sends_no_authorization() {
    let file = TempFile::new("empty-key", "");
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .arg("--api-key-file")
            .arg(file.path())
            .arg("hi"),
    );
    assert_eq!(got.header("authorization"), None, "{:?}", got.headers);
}

#[test]
fn missing_api_key_file_is_a_usage_error_naming_it() {
    let path = missing_path("key");
    let server = hi_server();
    let out = orstream_at(&server)
        .arg("--api-key-file")
        .arg(&path)
        .arg("hi")
        .run();
    let line = assert_usage_error(&out, &server);
    assert!(
        line.contains(&path.display().to_string()),
        "{}",
        out.report()
    );
}

#[test]
fn empty_key_variable_counts_as_unset() {
    // With a custom base URL: no Authorization header at all.
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server).env("OPENROUTER_API_KEY", "").arg("hi"),
    );
    assert_eq!(got.header("authorization"), None, "{:?}", got.headers);

    // With the default base URL: the missing-key error.
    let trap = Server::start(vec![]);
    let out = orstream()
        .env("OPENROUTER_API_KEY", "")
        .env("HTTPS_PROXY", trap.url())
        .arg("hi")
        .run();
    let (line, _) = assert_error_lines(&out, 2, true);
    assert!(line.contains("OPENROUTER_API_KEY"), "{}", out.report());
    assert_no_connections(&trap);
}

#[test]
fn missing_key_with_default_base_url_exits_2_before_connecting() {
    // If orstream tried to reach the default base URL it would go through
    // this proxy, which must see nothing.
    let trap = Server::start(vec![]);
    let out = orstream()
        .env_remove("OPENROUTER_API_KEY")
        .env("HTTPS_PROXY", trap.url())
        .arg("hi")
        .run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("OPENROUTER_API_KEY"), "{}", out.report());
    assert!(hint.unwrap().contains("--api-key-file"), "{}", out.report());
    assert_no_connections(&trap);
}

#[test]
fn key_is_optional_with_a_custom_base_url() {
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .env_remove("OPENROUTER_API_KEY")
            .arg("hi"),
    );
    assert_eq!(got.header("authorization"), None, "{:?}", got.headers);
}

#[test]
fn model_list_sends_first_as_model_and_all_as_fallbacks() {
    let body = body_of(|c| c.args(["-m", "a/x,b/y", "hi"]));
    assert_eq!(body["model"], "a/x");
    assert_eq!(body["models"], json!(["a/x", "b/y"]));
}

#[test]
fn sampling_shortcuts_are_sent_as_numbers() {
    let body = body_of(|c| {
        c.args([
            "-t",
            "0.5",
            "--max-tokens",
            "100",
            "--top-p",
            "0.9",
            "--seed",
            "42",
            "hi",
        ])
    });
    assert_eq!(body["temperature"], json!(0.5));
    assert_eq!(body["max_tokens"], json!(100));
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["seed"], json!(42));
}

#[test]
fn shortcuts_absent_are_not_sent() {
    let body = body_of(|c| c.arg("hi"));
    for field in [
        "temperature",
        "max_tokens",
        "top_p",
        "seed",
        "stop",
        "reasoning",
        "reasoning_effort",
    ] {
        assert!(body.get(field).is_none(), "{field} sent: {body}");
    }
}

#[test]
fn stop_is_always_an_array() {
    let body = body_of(|c| c.args(["--stop", "END", "hi"]));
    assert_eq!(body["stop"], json!(["END"]));
    let body = body_of(|c| c.args(["--stop", "END", "--stop", "\n\n", "hi"]));
    assert_eq!(body["stop"], json!(["END", "\n\n"]));
}

#[test]
fn reasoning_effort_is_sent_in_each_servers_dialect() {
    // OpenRouter's native form on openrouter.ai...
    let body = body_at_openrouter(|c| c.args(["--reasoning-effort", "high", "hi"]));
    assert_eq!(body["reasoning"], json!({"effort": "high"}));
    assert!(body.get("reasoning_effort").is_none(), "{body}");
    // ...OpenAI's top-level field elsewhere (OpenAI, vLLM, llama.cpp).
    let body = body_of(|c| c.args(["--reasoning-effort", "high", "hi"]));
    assert_eq!(body["reasoning_effort"], "high");
    assert!(body.get("reasoning").is_none(), "{body}");
}

#[test]
fn reasoning_effort_replaces_a_request_files_other_spelling() {
    let file = TempFile::new(
        "effort.json",
        r#"{"messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"low","max_tokens":9}}"#,
    );
    let body = body_of(|c| {
        c.arg("--request")
            .arg(file.path())
            .args(["--reasoning-effort", "max"])
    });
    assert_eq!(body["reasoning_effort"], "max");
    assert_eq!(body["reasoning"], json!({"max_tokens": 9}), "{body}");
    // Without the flag the file goes as written.
    let body = body_of(|c| c.arg("--request").arg(file.path()));
    assert_eq!(body["reasoning"], json!({"effort": "low", "max_tokens": 9}));
    assert!(body.get("reasoning_effort").is_none(), "{body}");
}

#[test]
fn invalid_reasoning_effort_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["--reasoning-effort", "extreme", "hi"])
        .run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("extreme"), "{}", out.report());
    assert!(hint.unwrap().contains("--help"), "{}", out.report());
    assert_no_connections(&server);
}

#[test]
fn option_values_are_json_when_they_parse_else_strings() {
    let body = body_of(|c| {
        c.args([
            "-o",
            "top_k=40",
            "-o",
            r#"provider={"order":["openai"]}"#,
            "-o",
            "transforms=[]",
            "-o",
            "user=alice",
            "hi",
        ])
    });
    assert_eq!(body["top_k"], json!(40));
    assert_eq!(body["provider"], json!({"order": ["openai"]}));
    assert_eq!(body["transforms"], json!([]));
    assert_eq!(body["user"], json!("alice"));
}

#[test]
fn body_always_streams_with_usage_and_no_deprecated_usage_field() {
    for extra in [&[][..], &["-u"][..]] {
        let server = Server::start(vec![Reply::sse(&[
            &chunk("Hi"),
            &finish("stop"),
            &usage_chunk(),
            DONE,
        ])]);
        let (got, _) = run_ok(&server, orstream_at(&server).args(extra).arg("hi"));
        let body = got.json();
        assert_eq!(body["stream"], json!(true), "{body}");
        assert_eq!(
            body["stream_options"],
            json!({"include_usage": true}),
            "{body}"
        );
        assert!(body.get("usage").is_none(), "usage field sent: {body}");
    }
}

#[test]
fn redirect_is_not_followed() {
    let server = Server::start(vec![
        Reply::status(302, "text/plain", "", &[("Location", "http://elsewhere/x")]),
        hi_reply(),
    ]);
    let out = orstream_at(&server).arg("hi").run();
    let (line, _) = assert_error_lines(&out, 5, false);
    assert!(line.contains("http://elsewhere/x"), "{}", out.report());
    assert!(line.contains("302"), "{}", out.report());
    assert_eq!(server.received().len(), 1, "{:?}", server.received());
    assert_eq!(server.unused_replies(), 1);
}

#[test]
fn http_proxy_is_used_for_the_request() {
    assert_proxied(|c, proxy| c.env("HTTP_PROXY", proxy));
}

#[test]
fn lowercase_proxy_variable_is_used() {
    assert_proxied(|c, proxy| c.env("https_proxy", proxy));
}

#[test]
fn no_proxy_naming_the_host_disables_the_proxy() {
    let trap = Server::start(vec![]);
    let server = hi_server();
    let (got, _) = run_ok(
        &server,
        orstream_at(&server)
            .env("HTTP_PROXY", trap.url())
            .env("NO_PROXY", "example.com,127.0.0.1")
            .arg("hi"),
    );
    assert_eq!(got.path, "/chat/completions");
    assert_no_connections(&trap);
}

#[test]
fn all_proxy_beats_http_proxy() {
    let trap = Server::start(vec![]);
    assert_proxied(|c, proxy| {
        c.env("HTTP_PROXY", trap.url())
            .env("HTTPS_PROXY", trap.url())
            .env("ALL_PROXY", proxy)
    });
    assert_no_connections(&trap);
}

// ---------------------------------------------------------------------------
// The key never appears
// ---------------------------------------------------------------------------

#[test]
fn key_never_appears_on_success() {
    let server = Server::start(vec![Reply::sse(&[
        &chunk("Hi"),
        &finish("stop"),
        &usage_chunk(),
        DONE,
    ])]);
    let out = orstream_at(&server).args(["-u", "hi"]).run();
    out.assert_code(0);
    assert_no_key(&out);
}

#[test]
fn key_never_appears_when_the_server_echoes_it_in_an_error() {
    let body = format!(r#"{{"error":{{"message":"bad key {TEST_KEY}","code":401}}}}"#);
    let server = Server::start(vec![Reply::json(401, &body)]);
    let out = orstream_at(&server).arg("hi").run();
    let (line, hint) = assert_error_lines(&out, 3, true);
    assert!(
        line.starts_with("orstream: error: 401 Unauthorized: bad key"),
        "{}",
        out.report()
    );
    assert!(hint.is_some());
    assert_no_key(&out);
}

#[test]
fn key_from_file_never_appears_when_echoed() {
    let secret = "sk-or-v1-file-SECRET-9876543210";
    let file = TempFile::new("echo-key", format!("{secret}\n"));
    let body = format!(r#"{{"error":{{"message":"bad key {secret}","code":401}}}}"#);
    let server = Server::start(vec![Reply::json(401, &body)]);
    let out = orstream_at(&server)
        .arg("--api-key-file")
        .arg(file.path())
        .arg("hi")
        .run();
    out.assert_code(3);
    assert!(!out.stderr_str().contains(secret), "{}", out.report());
    assert!(!out.stdout_str().contains(secret), "{}", out.report());
}

#[test]
fn key_never_appears_in_verbose_trace() {
    let server = hi_server();
    let out = orstream_at(&server).args(["-v", "hi"]).run();
    out.assert_code(0);
    assert!(
        out.stderr_str()
            .to_ascii_lowercase()
            .contains("authorization"),
        "verbose trace should show the (redacted) header\n{}",
        out.report()
    );
    assert_no_key(&out);
}

#[test]
fn key_never_appears_in_usage_errors() {
    for args in [
        &["-v", "-t", "abc", "hi"][..],
        &["-v", "-H", "NoColon", "hi"][..],
    ] {
        let server = hi_server();
        let out = orstream_at(&server).args(args).run();
        out.assert_code(2);
        assert_no_key(&out);
    }
}

// ---------------------------------------------------------------------------
// Usage errors from argument parsing
// ---------------------------------------------------------------------------

#[test]
fn unknown_flag_is_one_error_line_and_one_help_hint() {
    let server = hi_server();
    let out = orstream_at(&server).args(["--bogus", "hi"]).run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("--bogus"), "{}", out.report());
    assert!(hint.unwrap().contains("--help"), "{}", out.report());
    assert_no_connections(&server);
}

#[test]
fn a_mistyped_flag_hints_the_similar_one() {
    let server = hi_server();
    let out = orstream_at(&server).args(["--jsn", "hi"]).run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("'--jsn'"), "{}", out.report());
    assert!(hint.unwrap().contains("'--json'"), "{}", out.report());
    assert_no_connections(&server);
}

#[test]
fn a_bad_number_is_an_invalid_value_for_its_flag() {
    for (args, flag) in [
        (["--max-tokens", "-5"], "--max-tokens"),
        (["--retries", "x"], "--retries"),
        (["-t", "abc"], "-t/--temperature"),
        (["--top-p", "-0.1"], "--top-p"),
        (["--connect-timeout", "-1"], "--connect-timeout"),
    ] {
        let server = hi_server();
        let out = orstream_at(&server).args(args).arg("hi").run();
        let (line, hint) = assert_error_lines(&out, 2, true);
        let want = format!(
            "orstream: error: invalid value '{}' for {flag}: expected ",
            args[1]
        );
        assert!(line.starts_with(&want), "{}", out.report());
        assert!(hint.unwrap().contains("--help"), "{}", out.report());
        assert_no_connections(&server);
    }
}

#[test]
fn chat_file_without_a_prompt_hints_request_to_replay_it() {
    let dir = TempDir::new("chat-no-prompt");
    let file = dir.file("c.json", r#"{"messages":[{"role":"user","content":"q"}]}"#);
    for terminal in [false, true] {
        let server = hi_server();
        let mut cmd = orstream_at(&server).args(["-c", &file]);
        if terminal {
            cmd = cmd.stdin_terminal();
        }
        let out = cmd.run();
        let (line, hint) = assert_error_lines(&out, 2, true);
        assert!(line.contains("no prompt"), "{}", out.report());
        assert!(
            hint.unwrap().contains(&format!("--request {file}")),
            "{}",
            out.report()
        );
        assert_no_connections(&server);
    }
}

#[test]
fn bad_flag_value_is_one_error_line_and_one_help_hint() {
    let server = hi_server();
    let out = orstream_at(&server).args(["-t", "abc", "hi"]).run();
    let (line, hint) = assert_error_lines(&out, 2, true);
    assert!(line.contains("abc"), "{}", out.report());
    assert!(hint.unwrap().contains("--help"), "{}", out.report());
    assert_no_connections(&server);
}

// ---------------------------------------------------------------------------
// §2 Key order as written (checked on the raw bytes the server received)
// ---------------------------------------------------------------------------

fn raw_body(f: impl FnOnce(Cmd) -> Cmd) -> String {
    let server = hi_server();
    run_ok(&server, f(orstream_at(&server))).0.body_str()
}

#[test]
fn request_file_keys_are_sent_in_the_order_written() {
    let file = TempFile::new(
        "order.json",
        r#"{"zeta": 1, "messages": [{"role": "user", "content": "q", "name": "n"}], "alpha": {"z": 1, "a": 2}}"#,
    );
    let body = raw_body(|c| c.arg("--request").arg(file.path()));
    assert!(
        body.starts_with(
            r#"{"zeta":1,"messages":[{"role":"user","content":"q","name":"n"}],"alpha":{"z":1,"a":2},"stream":"#
        ),
        "{body}"
    );
    assert!(
        body.ends_with(r#""stream":true,"stream_options":{"include_usage":true}}"#),
        "{body}"
    );
}

#[test]
fn option_values_keep_their_key_order() {
    let body = raw_body(|c| {
        c.args([
            "-o",
            r#"provider={"zulu":1,"order":["b","a"],"allow_fallbacks":false}"#,
            "hi",
        ])
    });
    assert!(
        body.contains(r#""provider":{"zulu":1,"order":["b","a"],"allow_fallbacks":false}"#),
        "{body}"
    );
}

#[test]
fn a_flag_replacing_a_file_field_keeps_its_place() {
    let file = TempFile::new(
        "place.json",
        r#"{"temperature": 0.1, "messages": [], "models": ["a/1", "b/2"], "top_k": 3}"#,
    );
    let body = raw_body(|c| {
        c.arg("--request")
            .arg(file.path())
            .args(["-t", "0.5", "-m", "c/3", "hi"])
    });
    assert!(
        body.starts_with(r#"{"temperature":0.5,"messages":[{"role":"user","content":"hi"}],"top_k":3,"model":"c/3","#),
        "{body}"
    );
}

#[test]
fn every_reasoning_effort_level_is_accepted() {
    for level in ["none", "minimal", "low", "medium", "high", "xhigh", "max"] {
        let body = body_of(|c| c.args(["--reasoning-effort", level, "hi"]));
        assert_eq!(body["reasoning_effort"], json!(level), "{level}");
    }
}
