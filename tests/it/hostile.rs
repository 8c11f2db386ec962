//! A server that lies and input that would hang or swell (SPEC §1, §2, §4,
//! §5, §9): control characters never reach stderr raw, the key never shows
//! however it is split, an oversized header block is named, `-x` holds
//! counts, named files are read with a bound, and stderr lines never land
//! inside the answer's open line on a shared terminal.

use crate::support::*;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn run(reply: Reply, args: &[&str]) -> (Server, Output) {
    let server = Server::start(vec![reply]);
    let out = orstream_at(&server).args(args).arg("hi").run();
    (server, out)
}

/// No C0, DEL or C1 control character but the line ends.
fn assert_no_controls(text: &str, out: &Output) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c < ' ' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c))
        .collect();
    assert!(
        bad.is_empty(),
        "raw control characters {bad:?}\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------------------
// Control characters from the server
// ---------------------------------------------------------------------------

#[test]
fn an_error_message_cannot_drive_the_terminal() {
    let body = r#"{"error":{"message":"bad \u001b]52;c;ZXZpbA==\u0007 \u001b[2J\rorstream: fake \u009b2J line","code":400}}"#;
    let (_s, out) = run(Reply::json(400, body), &["-m", "x/y"]);
    out.assert_code(5);
    let err = out.stderr_str();
    assert_no_controls(&err, &out);
    assert!(
        err.contains(r"\u{1b}]52;c;ZXZpbA==\u{07}") && err.contains(r"\u{1b}[2J"),
        "{}",
        out.report()
    );
    assert!(err.contains(r"\u{9b}2J line"), "C1 escaped: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn trace_and_usage_lines_escape_what_the_server_sent() {
    let events = [
        ": OPENROUTER \u{1b}[2J\n\n".to_string(),
        ev(
            r#"{"id":"gen-\u001b[31m","provider":"Evil\rorstream: fake\u001b]0;title\u0007","model":"m\u009b2J","choices":[{"delta":{"content":"Hi"}}]}"#,
        ),
        ev(r#"{"choices":[{"delta":{},"finish_reason":"stop\u001b[2K"}]}"#),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (_s, out) = run(Reply::sse(&refs), &["-v", "-u"]);
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
    let err = out.stderr_str();
    assert_no_controls(&err, &out);
    for want in [
        r"comment: OPENROUTER \u{1b}[2J",
        r"provider: Evil\u{0d}orstream: fake\u{1b}]0;title\u{07}",
        r"generation id: gen-\u{1b}[31m",
        r"finish_reason: stop\u{1b}[2K",
        r"model m\u{9b}2J",
    ] {
        assert!(err.contains(want), "missing {want:?}\n{}", out.report());
    }
}

#[test]
fn reasoning_is_raw_to_a_pipe_and_escaped_to_a_terminal() {
    let reasoning = ev(r#"{"choices":[{"delta":{"reasoning":"a\tb\u001b[2Jc\n"}}]}"#);
    let events = [reasoning.as_str(), &c("ok"), &finish("stop"), DONE];
    let server = Server::start(vec![Reply::sse(&events)]);
    let out = orstream_at(&server).args(["--reasoning", "hi"]).run();
    out.assert_code(0);
    assert_eq!(out.stderr_str(), "a\tb\u{1b}[2Jc\n", "raw to a pipe");

    let server = Server::start(vec![Reply::sse(&events)]);
    let out = orstream_at(&server)
        .args(["--reasoning", "-q", "hi"])
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .env("NO_COLOR", "1")
        .run();
    out.assert_code(0);
    assert_eq!(
        out.stderr_str(),
        "a\tb\\u{1b}[2Jc\n",
        "escaped but for \\n and \\t on a terminal\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------------------
// The key, however it is split
// ---------------------------------------------------------------------------

#[test]
fn the_key_never_shows_split_across_deltas() {
    let (head, tail) = TEST_KEY.split_at(11);
    let (mid_a, mid_b) = TEST_KEY.split_at(2);
    let events = [
        c(&format!("key: {head}")),
        c(&format!("{tail} and ")),
        c(mid_a),
        c(&format!("{mid_b}.")),
        ev(&format!(
            r#"{{"choices":[{{"delta":{{"reasoning":"think {head}"}}}}]}}"#
        )),
        ev(&format!(
            r#"{{"choices":[{{"delta":{{"reasoning":"{tail}"}}}}]}}"#
        )),
        finish("stop"),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (_s, out) = run(Reply::sse(&refs), &["--reasoning"]);
    out.assert_code(0);
    assert_no_key(&out);
    let stdout = out.stdout_str();
    assert!(stdout.starts_with("key: "), "{}", out.report());
    assert!(
        stdout.ends_with(".\n"),
        "nothing else lost\n{}",
        out.report()
    );
    assert!(stdout.contains(" and "), "{}", out.report());
}

#[test]
fn ordinary_text_is_not_held_back() {
    // A delta ending in the key's first letters (`sk-or`) arrives at once
    // only when it is shorter than a few characters: "s" must not wait.
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(c("yes")),
        Step::WaitSignal,
        Step::write(c("!")),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])]);
    let run = orstream_at(&server).arg("hi").spawn();
    assert!(
        run.wait_stdout_contains(b"yes", T),
        "a word ending in 's' was held back"
    );
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert_stdout(&out, b"yes!\n");
}

#[test]
fn credentials_in_urls_and_headers_are_hidden_in_traces() {
    let server = hi_server();
    let url = server.url().replace("http://", "http://user:hunter2@");
    let out = orstream()
        .args(["--base-url", &url, "-v", "-H", "Cookie: session=hunter2"])
        .args(["-H", "X-Api-Key: hunter2", "-H", "X-Auth-Token: hunter2"])
        .args(["-H", "X-Upstream-Secret: hunter2", "-H", "X-Plain: visible"])
        .arg("hi")
        .run();
    out.assert_code(0);
    let err = out.stderr_str();
    assert!(!err.contains("hunter2"), "{}", out.report());
    for want in [
        "***@127.0.0.1",
        "> Cookie: ***",
        "> X-Api-Key: ***",
        "> X-Auth-Token: ***",
        "> X-Upstream-Secret: ***",
        "> X-Plain: visible",
    ] {
        assert!(err.contains(want), "missing {want:?}\n{}", out.report());
    }
}

#[test]
fn credentials_in_a_url_are_hidden_in_errors() {
    let url = format!("http://user:hunter2@127.0.0.1:{}/v1", dead_port());
    let out = orstream()
        .args(["--base-url", &url, "--retries", "0", "hi"])
        .run();
    out.assert_code(7);
    let err = out.stderr_str();
    assert!(!err.contains("hunter2"), "{}", out.report());
    assert!(err.contains("***@127.0.0.1"), "{}", out.report());
}

// ---------------------------------------------------------------------------
// An oversized header block, -x memory
// ---------------------------------------------------------------------------

#[test]
fn an_oversized_header_block_is_a_server_error_sent_once() {
    let head = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let server = Server::start(vec![
        Reply::raw(head.clone()),
        Reply::raw(head.clone()),
        Reply::raw(head),
    ]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(6);
    let (e, _) = error_lines(&out);
    assert!(e.contains("header block is larger than 32 KiB"), "{e}");
    assert_eq!(server.connections(), 1, "not retried\n{}", out.report());
}

#[test]
fn extract_holds_a_possible_closing_fence_as_counts() {
    // An open block, then 32 MiB of spaces without a line end: a line that
    // could still close the block. It must not be held as text.
    let open = ev(r#"{"choices":[{"delta":{"content":"```\n"}}]}"#);
    let spaces = ev(&format!(
        r#"{{"choices":[{{"delta":{{"content":"{}"}}}}]}}"#,
        " ".repeat(8192)
    ));
    let end = format!("{}{}{}", c("x"), finish("stop"), DONE);
    let mut child = orstream().args(["--from-sse", "-", "-x"]).spawn_child(|c| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
    });
    watch_peak(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(open.as_bytes()).unwrap();
        for _ in 0..4096 {
            stdin.write_all(spaces.as_bytes()).unwrap();
        }
        stdin.write_all(end.as_bytes()).unwrap();
    });
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let (mut n, mut last, mut buf) = (0usize, 0u8, vec![0u8; 1 << 16]);
        loop {
            let got = stdout.read(&mut buf).unwrap();
            if got == 0 {
                return (n, last);
            }
            n += got;
            last = buf[got - 1];
        }
    });
    let peak = peak_at_exit(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    feeder.join().unwrap();
    let (bytes, last) = counter.join().unwrap();
    assert_eq!(bytes, 4096 * 8192 + 2, "the spaces, then x and the newline");
    assert_eq!(last, b'\n');
    assert!(peak < 24 * 1024, "peak RSS {peak} KiB for 32 MiB held");
}

// ---------------------------------------------------------------------------
// Bad local input
// ---------------------------------------------------------------------------

#[test]
fn a_key_file_is_read_to_its_first_line_without_waiting() {
    let dir = TempDir::new("keyfifo");
    let fifo = dir.fifo("key");
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(b"sk-from-fifo\n").unwrap();
            // The write end stays open until the run is over: orstream
            // must not wait for EOF.
            let _ = finished.recv_timeout(HARD_TIMEOUT);
        }
    });
    let server = hi_server();
    let started = std::time::Instant::now();
    let (rec, out) = run_ok(
        &server,
        orstream_at(&server).args(["--api-key-file", &path_arg(&fifo), "hi"]),
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for EOF"
    );
    assert_eq!(rec.header("authorization"), Some("Bearer sk-from-fifo"));
    assert_stdout(&out, b"Hi\n");
    done.send(()).unwrap();
    writer.join().unwrap();

    let server = hi_server();
    let out = orstream_at(&server)
        .args(["--api-key-file", "/dev/zero", "hi"])
        .run();
    let e = assert_usage_error(&out, &server);
    assert!(e.contains("longer than 64 KiB"), "{e}");
}

#[test]
fn a_schema_file_over_16_mib_is_refused() {
    let dir = TempDir::new("bigschema");
    let path = dir.sparse("s.json", b"{\"type\":\"object\",\"x\":\"", 17 * 1024 * 1024);
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["--schema", &path_arg(&path), "hi"])
        .run();
    let e = assert_usage_error(&out, &server);
    assert!(e.contains("larger than 16 MiB"), "{e}");
}

#[test]
fn framing_headers_are_refused() {
    for header in [
        "Transfer-Encoding: chunked",
        "content-length: 3",
        "Expect: 100-continue",
    ] {
        let server = hi_server();
        let out = orstream_at(&server).args(["-H", header, "hi"]).run();
        let e = assert_usage_error(&out, &server);
        assert!(e.contains("frames the request body"), "{header}: {e}");
    }
}

#[test]
fn stream_cannot_be_set_with_an_option() {
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["-o", "stream=false", "hi"])
        .run();
    let e = assert_usage_error(&out, &server);
    assert!(e.contains("always streams"), "{e}");
}

#[test]
fn a_dash_reading_a_terminal_is_refused_at_once() {
    for args in [&["--request", "-"][..], &["--from-sse", "-"]] {
        let server = hi_server();
        let out = orstream_at(&server).args(args).stdin_terminal().run();
        let e = assert_usage_error(&out, &server);
        assert!(e.ends_with("stdin is a terminal"), "{args:?}: {e}");
    }
}

// ---------------------------------------------------------------------------
// One terminal for stdout and stderr
// ---------------------------------------------------------------------------

/// The event that ends the answer with a `length` warning.
const CUT: &str = r#"{"provider":"P","choices":[{"delta":{},"finish_reason":"length"}]}"#;

/// Runs an answer whose last event is `last`, stdout and stderr on one pty:
/// the exit code, and what the terminal shows after `Hello, world!`.
fn after_the_answer_on_one_terminal(args: &[&str], last: &str) -> (Option<i32>, String) {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(c("Hello, ")),
        Step::write(c("world!")),
        // Now the answer's line is open on the terminal.
        Step::WaitSignal,
        Step::write(ev(last)),
        Step::write(DONE),
    ])]);
    let (master, slave) = open_pty();
    let slave_err = slave.try_clone().unwrap();
    let mut child = orstream_at(&server).args(args).spawn_child(|c| {
        c.stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::from(slave_err))
    });
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut master = master;
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the slave) has exited.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    while !String::from_utf8_lossy(&screen).contains("world!") {
        match rx.recv_timeout(T) {
            Ok(bytes) => screen.extend(bytes),
            Err(_) => panic!("no answer on the terminal: {screen:?}"),
        }
    }
    server.release();
    let code = child.wait().unwrap().code();
    screen.extend(rx.iter().flatten());
    reader.join().unwrap();
    let screen = String::from_utf8_lossy(&screen).replace("\r\n", "\n");
    let at = screen.find("Hello, world!").expect(&screen);
    (code, screen[at + "Hello, world!".len()..].to_string())
}

#[test]
fn stderr_lines_wait_for_the_answer_line_to_end_on_one_terminal() {
    let (code, rest) = after_the_answer_on_one_terminal(&["-v", "hi"], CUT);
    assert_eq!(code, Some(0), "{rest}");
    assert!(
        rest.starts_with('\n'),
        "the answer's line is ended alone:\n{rest}"
    );
    for want in [
        "orstream: * provider: P",
        "orstream: * finish_reason: length",
        "orstream: warning: the answer was cut short",
    ] {
        assert!(rest.contains(want), "{want:?} after the answer:\n{rest}");
    }
}

/// With `-n` the answer's line stays open: what waited for it, and the
/// error line, start on a line of their own (SPEC §4), none is lost.
#[test]
fn with_no_newline_the_waiting_lines_still_come_on_their_own_line() {
    let (code, rest) = after_the_answer_on_one_terminal(&["-v", "-n", "hi"], CUT);
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.starts_with('\n'), "a line of their own:\n{rest}");
    for want in [
        "orstream: * finish_reason: length",
        "orstream: warning: the answer was cut short",
    ] {
        assert!(rest.contains(want), "{want:?} after the answer:\n{rest}");
    }
    let failed = r#"{"error":{"message":"boom","code":502}}"#;
    let (code, rest) = after_the_answer_on_one_terminal(&["-n", "hi"], failed);
    assert_eq!(code, Some(6), "{rest}");
    assert!(rest.starts_with("\norstream: error: "), "{rest}");
    assert!(rest.contains("boom"), "{rest}");
}
