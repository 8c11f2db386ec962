//! The terminal surface (SPEC §4 and §7): spinner, reasoning, usage line,
//! verbose trace, warnings, the stdin hint, replay and the model list.
//!
//! A real pty is impractical here, so the spinner and the stdin hint are
//! tested through the hidden `ORSTREAM_PRETEND_TTY=stderr` hook, and stderr
//! is replayed through a tiny terminal emulator to check what stays on screen.

use crate::support::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn reasoning_chunk(text: &str, field: &str) -> String {
    format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"\",\"{field}\":{}}},\"finish_reason\":null}}]}}\n\n",
        json_string(text)
    )
}

/// What a terminal shows after receiving `bytes`: handles `\r`, `\n` and the
/// erase-to-end-of-line sequence; strips other escape sequences (colours).
fn screen(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = vec![String::new()];
    let mut col = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let line = lines.last_mut().unwrap();
        match c {
            '\r' => col = 0,
            '\n' => {
                lines.push(String::new());
                col = 0;
            }
            '\x1b' => {
                let mut seq = String::new();
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        seq.push(n);
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                if seq == "K" {
                    let keep: String = line.chars().take(col).collect();
                    *line = keep;
                }
            }
            c => {
                let mut cs: Vec<char> = line.chars().collect();
                if col < cs.len() {
                    cs[col] = c;
                } else {
                    cs.push(c);
                }
                *line = cs.into_iter().collect();
                col += 1;
            }
        }
    }
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

#[test]
fn screen_emulator_understands_erase() {
    assert_eq!(
        screen(b"\r- wait\x1b[K\r\x1b[Korstream: x\n"),
        vec!["orstream: x"]
    );
    assert_eq!(screen(b"abc\rX"), vec!["Xbc"]);
}

const SPINNER_FRAMES: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

#[test]
fn spinner_runs_while_waiting_and_leaves_no_residue() {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(": OPENROUTER PROCESSING\n\n"),
        Step::WaitSignal,
        Step::write(chunk("Hello")),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])]);
    let run = orstream_at(&server)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .arg("hi")
        .spawn();
    let frame_seen = SPINNER_FRAMES
        .chars()
        .any(|f| run.wait_stderr_contains(f.to_string().as_bytes(), WAIT));
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert!(
        frame_seen,
        "no spinner frame while waiting\n{}",
        out.report()
    );
    assert_eq!(out.stdout_str(), "Hello\n");
    let shown = screen(&out.stderr);
    assert!(
        shown.iter().all(|l| l.trim().is_empty()),
        "residue on screen: {shown:?}\n{}",
        out.report()
    );
}

#[test]
fn no_spinner_when_stderr_is_not_a_terminal_or_quiet() {
    for pretend in [false, true] {
        let server = Server::start(vec![Reply::sse_steps(vec![
            Step::write(": OPENROUTER PROCESSING\n\n"),
            Step::Pause(Duration::from_millis(400)),
            Step::write(chunk("Hello")),
            Step::write(finish("stop")),
            Step::write(DONE),
        ])]);
        let mut cmd = orstream_at(&server).arg("hi");
        if pretend {
            cmd = cmd.env("ORSTREAM_PRETEND_TTY", "stderr").arg("-q");
        }
        let out = cmd.run();
        out.assert_code(0);
        assert!(
            out.stderr.is_empty(),
            "stderr not empty (pretend={pretend})\n{}",
            out.report()
        );
    }
}

#[test]
fn no_color_removes_dim_but_keeps_spinner() {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(reasoning_chunk("thinking hard", "reasoning")),
        Step::WaitSignal,
        Step::write(chunk("A")),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])]);
    let run = orstream_at(&server)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .env("NO_COLOR", "1")
        .args(["--reasoning", "hi"])
        .spawn();
    assert!(run.wait_stderr_contains(b"thinking hard", WAIT));
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert!(
        !out.stderr.windows(4).any(|w| w == b"\x1b[2m"),
        "dim style despite NO_COLOR\n{}",
        out.report()
    );
}

#[test]
fn reasoning_goes_to_stderr_only_when_asked() {
    for field in ["reasoning", "reasoning_content"] {
        let events = [
            reasoning_chunk("step one", field),
            chunk("Answer"),
            finish("stop"),
            DONE.to_string(),
        ];
        let events: Vec<&str> = events.iter().map(String::as_str).collect();

        let server = Server::start(vec![Reply::sse(&events)]);
        let out = orstream_at(&server).arg("hi").run();
        out.assert_code(0);
        assert_eq!(out.stdout_str(), "Answer\n");
        assert!(
            !out.stderr_str().contains("step one"),
            "reasoning shown without --reasoning"
        );

        let server = Server::start(vec![Reply::sse(&events)]);
        let out = orstream_at(&server).args(["--reasoning", "hi"]).run();
        out.assert_code(0);
        assert_eq!(
            out.stdout_str(),
            "Answer\n",
            "reasoning never reaches stdout"
        );
        assert!(out.stderr_str().contains("step one"), "{}", out.report());
        assert!(
            !out.stderr_str().contains("\x1b["),
            "no escapes when stderr is not a terminal"
        );
    }
}

#[test]
fn reasoning_is_dimmed_on_a_terminal() {
    let server = Server::start(vec![Reply::sse(&[
        &reasoning_chunk("mull", "reasoning"),
        &chunk("A"),
        &finish("stop"),
        DONE,
    ])]);
    let out = orstream_at(&server)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .args(["--reasoning", "hi"])
        .run();
    out.assert_code(0);
    assert!(
        out.stderr_str().contains("\x1b[2mmull\x1b[0m"),
        "{}",
        out.report()
    );
}

#[test]
fn usage_line_reports_what_the_stream_said() {
    let usage = r#"data: {"id":"gen-9","model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","choices":[],"usage":{"prompt_tokens":15,"completion_tokens":9,"total_tokens":24,"cost":0.00006,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}

"#;
    // A rate needs the answer to take a while from its first token on.
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(chunk("Hi")),
        Step::Pause(Duration::from_millis(250)),
        Step::write(finish("stop")),
        Step::write(usage),
        Step::write(DONE),
    ])]);
    let out = orstream_at(&server).args(["-u", "-q", "hi"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n");
    let err = out.stderr_str();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one usage line, -q does not suppress it\n{}",
        out.report()
    );
    let line = lines[0];
    for part in [
        "orstream: usage:",
        "model anthropic/claude-4.5-haiku-20251001",
        "provider Amazon Bedrock",
        "15 prompt tokens",
        "9 completion tokens",
        "2 reasoning tokens",
        "4 cached tokens",
        "$0.000060",
        "first token",
        "tokens/s",
    ] {
        assert!(line.contains(part), "usage line lacks {part:?}: {line}");
    }
}

#[test]
fn usage_line_leaves_out_what_was_not_sent() {
    let server = Server::start(vec![Reply::sse(&[
        r#"data: {"choices":[{"delta":{"content":"Hi"}}]}

"#,
        r#"data: {"choices":[{"delta":{},"finish_reason":"stop"}]}

"#,
        DONE,
    ])]);
    let out = orstream_at(&server).args(["-u", "hi"]).run();
    out.assert_code(0);
    let err = out.stderr_str();
    assert!(err.contains("usage:"), "{}", out.report());
    for absent in ["model", "provider", "prompt tokens", "$", "tokens/s", " 0 "] {
        assert!(
            !err.contains(absent),
            "usage line shows {absent:?} the server never sent: {err}"
        );
    }
}

#[test]
fn usage_and_trace_of_a_replay_give_no_timing() {
    let recording = format!("{}{}{}{DONE}", chunk("Hi"), finish("stop"), usage_chunk());
    let out = orstream()
        .args(["--from-sse", "-", "-u", "-v"])
        .stdin(recording)
        .run();
    out.assert_code(0);
    let err = out.stderr_str();
    assert!(
        err.contains("5 completion tokens") && err.contains("model test/model"),
        "{}",
        out.report()
    );
    // Neither -u nor -v times a replay: its timing is the file's.
    for absent in ["tokens/s", "first token", "done after"] {
        assert!(
            !err.contains(absent),
            "{absent:?} from a replay\n{}",
            out.report()
        );
    }
}

#[test]
fn verbose_traces_without_the_key() {
    let server = Server::start(vec![Reply::status(
        200,
        "text/event-stream",
        &format!(
            ": OPENROUTER PROCESSING\n\n{}{}{DONE}",
            chunk("Hi"),
            finish("stop")
        ),
        &[("X-Generation-Id", "gen-xyz")],
    )]);
    let out = orstream_at(&server).args(["-v", "hi"]).run();
    out.assert_code(0);
    let err = out.stderr_str();
    for part in [
        "/chat/completions",
        "200 OK",
        "gen-xyz",
        "TestProvider",
        "OPENROUTER PROCESSING",
        "first token",
        "Authorization: ***",
    ] {
        assert!(err.contains(part), "-v lacks {part:?}\n{}", out.report());
    }
    assert!(
        !err.contains(TEST_KEY) && !out.stdout_str().contains(TEST_KEY),
        "key leaked"
    );
    assert_eq!(out.stdout_str(), "Hi\n");
}

#[test]
fn warnings_and_quiet() {
    let tool = r#"data: {"choices":[{"delta":{"content":null,"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":""}}]}}]}

"#;
    let events = [
        chunk("cut"),
        tool.to_string(),
        finish("length"),
        "data: not json\n\n".into(),
        DONE.to_string(),
    ];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let server = Server::start(vec![Reply::sse(&events)]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    let err = out.stderr_str();
    assert!(err.contains("finish_reason: length"), "{}", out.report());
    assert!(err.contains("tool"), "{}", out.report());
    assert!(err.contains("skipped 1 event"), "{}", out.report());
    assert_eq!(out.stdout_str(), "cut\n");

    let server = Server::start(vec![Reply::sse(&events)]);
    let out = orstream_at(&server).args(["-q", "hi"]).run();
    out.assert_code(0);
    assert!(
        out.stderr.is_empty(),
        "-q silences warnings\n{}",
        out.report()
    );

    // -q never silences errors.
    let server = Server::start(vec![Reply::json(
        401,
        r#"{"error":{"message":"No auth","code":401}}"#,
    )]);
    let out = orstream_at(&server).args(["-q", "hi"]).run();
    out.assert_code(3);
    assert!(
        out.stderr_str()
            .contains("orstream: error: 401 Unauthorized: No auth"),
        "{}",
        out.report()
    );
}

#[test]
fn eof_after_finish_without_done_is_noted_under_verbose() {
    let server = Server::start(vec![Reply::sse(&[&chunk("Hi"), &finish("stop")])]);
    let out = orstream_at(&server).args(["-v", "hi"]).run();
    out.assert_code(0);
    assert!(
        out.stderr_str().contains("without [DONE]"),
        "{}",
        out.report()
    );
}

#[test]
fn stdin_hint_after_three_silent_seconds() {
    let server = Server::start(vec![]);
    let run = orstream_at(&server)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .stdin_open_pipe()
        .arg("hi")
        .spawn();
    let hinted = run.wait_stderr_contains(b"--no-stdin", WAIT);
    run.signal(SIGINT);
    let out = run.wait();
    assert!(hinted, "no stdin hint\n{}", out.report());
    out.assert_code(130);
    // A pipe is not a terminal: Ctrl-D would not end it.
    assert!(!out.stderr_str().contains("Ctrl-D"), "{}", out.report());
    let hint_lines = out
        .stderr_str()
        .lines()
        .filter(|l| l.contains("--no-stdin"))
        .count();
    assert_eq!(hint_lines, 1, "{}", out.report());
    assert_eq!(server.connections(), 0);
}

#[test]
fn replay_prints_like_a_live_stream() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = orstream()
        .env_remove("OPENROUTER_API_KEY")
        .args(["--from-sse", &format!("{root}/examples/answer.sse")])
        .run();
    out.assert_code(0);
    assert_eq!(
        out.stdout_str(),
        "Pipes carry bytes from one program to the next;\norstream writes each token the moment it arrives.\n"
    );
    let out = orstream()
        .env_remove("OPENROUTER_API_KEY")
        .args(["--from-sse", &format!("{root}/examples/error.sse")])
        .run();
    out.assert_code(6);
    assert_eq!(out.stdout_str(), "The answer starts fine\n");
    assert!(out
        .stderr_str()
        .contains("orstream: error: OpenAI: Provider disconnected unexpectedly"));
}

#[test]
fn replay_from_stdin_truncated_and_json() {
    let recording = format!("{}{}", chunk("Hel"), chunk("lo"));
    let out = orstream()
        .args(["--from-sse", "-"])
        .stdin(recording.clone())
        .run();
    out.assert_code(7);
    assert_eq!(out.stdout_str(), "Hello\n");
    assert!(out.stderr_str().contains("stream ended before completion"));

    let full = format!("{recording}{}{DONE}", finish("stop"));
    let out = orstream()
        .args(["--from-sse", "-", "--json"])
        .stdin(full)
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str().lines().count(), 3, "{}", out.report());

    let out = orstream()
        .args(["--from-sse", "/nonexistent/rec.sse"])
        .run();
    out.assert_code(2);
    assert!(
        out.stderr_str().contains("/nonexistent/rec.sse"),
        "{}",
        out.report()
    );
}

#[test]
fn list_models_sorted_and_json() {
    let body = r#"{"data":[{"id":"z/last","name":"Z"},{"id":"a/first","pricing":{"prompt":"0"}},{"id":"m/mid"}]}"#;
    let server = Server::start(vec![Reply::json(200, body), Reply::json(200, body)]);
    let out = orstream_at(&server).arg("--list-models").run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "a/first\nm/mid\nz/last\n");
    let out = orstream_at(&server).args(["--list-models", "--json"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), format!("{body}\n"));
    let req = server.wait_request(WAIT).unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/models"));
}

#[test]
fn help_has_examples_and_version_matches() {
    let out = orstream().arg("--help").run();
    out.assert_code(0);
    let help = out.stdout_str();
    for part in [
        "Examples:",
        "Exit status:",
        "OPENROUTER_API_KEY",
        "--no-stdin",
        "--from-sse",
        "[env: OPENROUTER_MODEL]",
        "\n  9    --each",
    ] {
        assert!(help.contains(part), "--help lacks {part:?}");
    }
    for help in [help, orstream().arg("-h").run().stdout_str()] {
        // -r would print one token per line: -j joins them as they came.
        assert!(
            help.contains("| jq -j '.choices[0].delta.content // empty'"),
            "{help}"
        );
        assert!(!help.contains("jq -r '.choices"), "{help}");
        assert!(!help.contains('`'), "Markdown in help text: {help}");
    }
    let out = orstream().arg("--version").run();
    out.assert_code(0);
    assert_eq!(
        out.stdout_str(),
        format!("orstream {}\n", env!("CARGO_PKG_VERSION"))
    );
}
