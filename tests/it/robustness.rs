//! Misbehaving servers and odd inputs found in review: each test pins one
//! behaviour the SPEC asks for in a corner the main suites do not reach.

use crate::support::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_socks_proxy_is_used_not_a_crash() {
    // Nothing listens on that port: a one-line network error, no panic.
    let port = dead_port();
    let out = orstream()
        .args([
            "--base-url",
            "http://example.invalid/v1",
            "--retries",
            "0",
            "hi",
        ])
        .env("ALL_PROXY", format!("socks5://127.0.0.1:{port}"))
        .run();
    out.assert_code(7);
    let err = out.stderr_str();
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("orstream: error:"))
            .count(),
        1,
        "{}",
        out.report()
    );
    assert!(!err.contains("panicked"), "{}", out.report());
}

#[test]
fn reasoning_line_is_ended_before_messages() {
    let rec = TempFile::new(
        "reasoning-error.sse",
        b"data: {\"choices\":[{\"delta\":{\"reasoning\":\"thinking hard\"}}]}\n\ndata: {\"error\":{\"code\":502,\"message\":\"boom\"}}\n\n",
    );
    for json in [false, true] {
        let mut cmd = orstream()
            .args(["--reasoning", "-u", "--from-sse"])
            .arg(rec.path());
        if json {
            cmd = cmd.arg("--json");
        }
        let out = cmd.run();
        out.assert_code(6);
        let err = out.stderr_str();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[0], "thinking hard", "{}", out.report());
        assert!(
            lines[1..].iter().all(|l| l.starts_with("orstream: ")),
            "{}",
            out.report()
        );
        assert!(
            err.contains("\norstream: error: boom\n"),
            "{}",
            out.report()
        );
    }
}

#[test]
fn a_field_of_the_wrong_type_does_not_lose_the_text() {
    let rec = TempFile::new(
        "wrong-types.sse",
        br#"data: {"id":12,"provider":{"name":"x"},"usage":{"prompt_tokens":1.5,"cost":"0.1"},"choices":[{"delta":{"content":"A"},"finish_reason":null}]}

data: {"choices":[7,{"delta":{"content":"B","reasoning":["x"],"tool_calls":"no"},"finish_reason":1}]}

data: {"choices":[{"delta":{"content":"C"},"finish_reason":"stop"}]}

data: [DONE]

"#,
    );
    let out = orstream().arg("--from-sse").arg(rec.path()).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ABC\n");
}

#[test]
fn a_bare_string_error_is_a_mid_stream_error() {
    let rec = TempFile::new(
        "string-error.sse",
        b"data: {\"provider\":\"P\",\"choices\":[{\"delta\":{\"content\":\"part\"}}]}\n\ndata: {\"error\":\"overloaded\"}\n\n",
    );
    let out = orstream().arg("--from-sse").arg(rec.path()).run();
    out.assert_code(6);
    assert_eq!(out.stdout_str(), "part\n");
    assert_eq!(
        out.stderr_str(),
        "orstream: error: P: overloaded\n",
        "the stream's provider names it"
    );
}

#[test]
fn a_cut_connection_after_finish_reason_is_complete() {
    let server = Server::start(vec![Reply::sse_abrupt(&[&chunk("done"), &finish("stop")])]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "done\n");
    assert!(out.stderr.is_empty(), "{}", out.report());
}

#[test]
fn a_cut_connection_without_finish_reason_is_truncation() {
    let server = Server::start(vec![Reply::sse_abrupt(&[&chunk("par")])]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(7);
    assert_eq!(out.stdout_str(), "par\n");
    assert_eq!(
        out.stderr_str(),
        "orstream: error: stream ended before completion\n"
    );
}

#[test]
fn ollama_empty_finish_reason_counts() {
    let rec = TempFile::new(
        "ollama.sse",
        b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"\"}]}\n\n",
    );
    let out = orstream().arg("--from-sse").arg(rec.path()).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "hi\n");
}

#[test]
fn no_prefix_of_the_key_survives_a_cut_message() {
    let body = format!("{} Bearer {TEST_KEY}", "y".repeat(185));
    let server = Server::start(vec![Reply::status(400, "text/plain", &body, &[])]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(5);
    let err = out.stderr_str();
    assert!(
        !err.contains("sk-or-v1-test") && !err.contains(TEST_KEY),
        "{err}"
    );
}

#[test]
fn head_closing_stdout_while_the_server_is_silent_closes_the_socket() {
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(chunk("Hello world"))],
        SseEnd::Hold,
    )]);
    let run = orstream_at(&server).close_stdout_after(3).arg("hi").spawn();
    let closed = server.wait_close(WAIT);
    let out = run.wait();
    assert!(
        closed.is_some(),
        "the server never saw the close\n{}",
        out.report()
    );
    out.assert_code(141);
    assert!(out.stderr.is_empty(), "{}", out.report());
    assert_eq!(out.stdout, b"Hel");
}

/// The reader leaves while the server has not even sent its response head
/// (a slow model, a stalled proxy): the socket is closed at once too (§6),
/// not when the head finally comes or the idle timeout ends the wait.
#[test]
fn head_closing_stdout_before_the_response_head_closes_the_socket() {
    let server = Server::start(vec![Reply::steps(vec![Step::Hold])]);
    let run = orstream_at(&server).close_stdout_after(0).arg("hi").spawn();
    let closed = server.wait_close(WAIT);
    let out = run.wait();
    assert!(
        closed.is_some(),
        "the server never saw the close\n{}",
        out.report()
    );
    out.assert_code(141);
    assert!(out.stderr.is_empty(), "{}", out.report());
}

#[test]
fn ssl_cert_file_is_not_read_for_plain_http() {
    // Many systems set SSL_CERT_FILE globally: a plain-http call never uses
    // TLS, so it neither pays for parsing the bundle nor fails on a bad one.
    let server = Server::start(vec![answer("x")]);
    let out = orstream_at(&server)
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .arg("hi")
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout, b"x\n", "{}", out.report());
}

#[test]
fn a_bad_ssl_cert_file_is_an_error_for_an_https_proxy() {
    let out = orstream()
        .args([
            "--base-url",
            "http://127.0.0.1:1/v1",
            "--retries",
            "0",
            "hi",
        ])
        .env("HTTPS_PROXY", "https://127.0.0.1:1")
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .run();
    out.assert_code(2);
    assert!(
        out.stderr_str()
            .contains("SSL_CERT_FILE /nonexistent/ca.pem"),
        "{}",
        out.report()
    );
}

#[test]
fn non_finite_numbers_are_usage_errors() {
    // A custom base URL on a closed port: were the flag accepted, nothing
    // could be reached anyway (the default URL is never contacted in tests).
    for args in [["-t", "nan"], ["--top-p", "inf"]] {
        let out = orstream()
            .args(["--base-url", "http://127.0.0.1:9/v1"])
            .args(args)
            .arg("hi")
            .run();
        out.assert_code(2);
        assert!(out.stderr_str().contains("finite"), "{}", out.report());
    }
}

#[test]
fn request_file_with_bom_and_a_models_list() {
    let path = TempFile::new(
        "bom.json",
        "\u{feff}{\"models\":[\"a/x\",\"b/y\"],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".as_bytes(),
    );
    let server = Server::start(vec![answer("ok")]);
    let out = orstream_at(&server)
        .env("OPENROUTER_MODEL", "env/m")
        .arg("--request")
        .arg(path.path())
        .run();
    out.assert_code(0);
    let body = server.wait_request(WAIT).unwrap().json();
    assert_eq!(body["models"], serde_json::json!(["a/x", "b/y"]));
    assert!(body.get("model").is_none(), "{body}");
}

#[test]
fn usage_errors_for_odd_combinations() {
    for args in [
        &["--no-stdin", "--request", "-"][..],
        &["--list-models", "extra"],
        &["--from-sse", "x.sse", "extra"],
        &["-m", ",", "hi"],
    ] {
        let out = orstream().args(args).run();
        out.assert_code(2);
        assert!(
            out.stderr_str().starts_with("orstream: error: "),
            "{}",
            out.report()
        );
    }
}

/// A replay from a pipe that stops sending: Ctrl-C ends the partial line
/// even though the read cannot be interrupted (the watchdog path).
#[test]
fn ctrl_c_on_a_stalled_replay_still_ends_the_line() {
    let mut child = orstream().args(["--from-sse", "-"]).spawn_child(|c| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(chunk("part").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut stdout, &mut got).unwrap();
    assert_eq!(&got, b"part");
    let started = Instant::now();
    kill(child.id(), SIGINT).unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(130));
    assert_eq!(rest, b"\n", "the partial line is ended");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_large_prompt_arrives_whole() {
    let doc: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    let server = Server::start(vec![answer("ok")]);
    let out = orstream_at(&server)
        .stdin(doc.clone())
        .arg("Summarise")
        .run();
    out.assert_code(0);
    let body = server.wait_request(WAIT).unwrap().json();
    let sent = body["messages"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(sent, format!("{}\n\nSummarise", doc.trim_end()));
}

#[test]
fn a_json_body_over_16_mib_is_a_server_error() {
    let filler = "x".repeat(17 * 1024 * 1024);
    let body = format!(r#"{{"choices":[{{"message":{{"content":"{filler}"}}}}]}}"#);
    let server = Server::start(vec![Reply::json(200, &body)]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(6);
    assert_eq!(
        out.stderr_str(),
        "orstream: error: the response body is larger than 16 MiB\n"
    );
    assert!(out.stdout.is_empty());
}
