//! Cancellation, `| head`, timeouts and retry details (SPEC §2 "Timeouts",
//! §5 "Retries", §6 "Cancellation"), black-box against the real binary and
//! the scripted loopback server. Everything runs on 127.0.0.1 only.
//!
//! Timing bounds are deliberately generous: precise latencies are measured
//! in the benchmark, these tests only catch "did not happen" or "happened
//! seconds late".

use crate::support::*;

use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bound for "this should already have happened" waits.
const T: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// Whether `pid` has a handler installed for `sig` (the `SigCgt` mask in
/// /proc/<pid>/status). orstream installs its handler before reading stdin,
/// so this tells us when a signal will be handled rather than kill it.
fn catches(pid: u32, sig: i32) -> bool {
    in_signal_mask(pid, &["SigCgt"], sig)
}

/// Whether a SIGINT is still pending (not yet delivered) for `pid`, per the
/// `ShdPnd`/`SigPnd` masks in /proc/<pid>/status. Unreadable: not pending.
fn sigint_pending(pid: u32) -> bool {
    in_signal_mask(pid, &["ShdPnd", "SigPnd"], SIGINT)
}

/// `orstream --base-url <hung listener>`.
fn orstream_hung(l: &HungListener) -> Cmd {
    orstream().arg("--base-url").arg(l.url())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `sig` and expects exit 130 at once: SPEC §6 says within 100 ms
/// (the benchmark measures it); 400 ms here only proves there is no wait for
/// the 500 ms watchdog, with room for a loaded machine.
fn signal_exits_130_at_once(run: Running, sig: i32) -> Output {
    let sent = Instant::now();
    run.signal(sig);
    let out = run.wait();
    let took = sent.elapsed();
    eprintln!("SIGNAL {sig} exit_after_ms={:.1}", ms(took));
    out.assert_code(130);
    assert!(
        took < Duration::from_millis(400),
        "exit took {took:?} after signal {sig}\n{}",
        out.report()
    );
    out
}

/// Exit 7 about one second in (a 1 s timeout, not seconds late), and the
/// message names the flag that set it.
fn assert_timed_out_after_1s(out: &Output, flag: &str) {
    out.assert_code(7);
    assert!(
        out.elapsed >= Duration::from_millis(900) && out.elapsed < Duration::from_secs(5),
        "took {:?}\n{}",
        out.elapsed,
        out.report()
    );
    assert!(out.stderr_str().contains(flag), "\n{}", out.report());
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `t`, without chrono.
fn imf_fixdate(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // 1970-01-01 was a Thursday.
    let wday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][((days + 4) % 7) as usize];
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn imf_fixdate_helper_is_right() {
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(imf_fixdate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // leap day 2000
    assert_eq!(imf_fixdate(t), "Tue, 29 Feb 2000 00:00:00 GMT");
}

// ---------------------------------------------------------------------------
// 1. A signal mid-stream
// ---------------------------------------------------------------------------

/// Server sends "partial" (no newline) and stalls; `sig` arrives; the
/// server must see the close promptly and orstream exit 130 keeping the text.
fn signal_mid_stream(sig: i32, extra: &[&str], want_stdout: &str) {
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(chunk("partial"))],
        SseEnd::Hold,
    )]);
    let run = orstream_at(&server).args(extra).arg("hi").spawn();
    assert!(
        run.wait_stdout_contains(b"partial", T),
        "no partial output; stderr: {}",
        String::from_utf8_lossy(&run.stderr_so_far())
    );
    let sent = Instant::now();
    run.signal(sig);
    let closed = server.wait_close(T);
    let out = run.wait();
    let closed = closed.unwrap_or_else(|| {
        panic!(
            "server never saw the connection close after signal {sig}\n{}",
            out.report()
        )
    });
    let latency = closed.saturating_duration_since(sent);
    eprintln!("LATENCY signal={sig} close_after_ms={:.3}", ms(latency));
    assert!(
        latency < Duration::from_secs(1),
        "server saw the close {latency:?} after signal {sig} (SPEC §6: at once)\n{}",
        out.report()
    );
    out.assert_code(130);
    assert_eq!(out.stdout_str(), want_stdout, "\n{}", out.report());
}

#[test]
fn sigint_mid_stream_closes_socket_keeps_text_exits_130() {
    signal_mid_stream(SIGINT, &[], "partial\n");
}

#[test]
fn sigterm_mid_stream_closes_socket_exits_130() {
    signal_mid_stream(SIGTERM, &[], "partial\n");
}

#[test]
fn sighup_mid_stream_closes_socket_exits_130() {
    signal_mid_stream(SIGHUP, &[], "partial\n");
}

#[test]
fn sigint_mid_stream_with_no_newline_adds_nothing() {
    signal_mid_stream(SIGINT, &["-n"], "partial");
}

#[test]
fn sigint_mid_stream_waits_for_client_close_variant() {
    // Same contract with the other stall step (the connection is read until
    // the client closes it).
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(chunk("partial")), Step::WaitForClientClose],
        SseEnd::Abrupt,
    )]);
    let run = orstream_at(&server).arg("hi").spawn();
    assert!(run.wait_stdout_contains(b"partial", T));
    let sent = Instant::now();
    run.signal(SIGINT);
    let closed = server.wait_close(T);
    let out = run.wait();
    let closed = closed.unwrap_or_else(|| panic!("no close seen\n{}", out.report()));
    let latency = closed.saturating_duration_since(sent);
    eprintln!("LATENCY signal={SIGINT} close_after_ms={:.3}", ms(latency));
    assert!(
        latency < Duration::from_secs(1),
        "{latency:?}\n{}",
        out.report()
    );
    out.assert_code(130);
    assert_eq!(out.stdout_str(), "partial\n", "\n{}", out.report());
}

// ---------------------------------------------------------------------------
// 2. A signal while waiting for the response headers
// ---------------------------------------------------------------------------

#[test]
fn sigint_while_waiting_for_headers_closes_socket_exits_130() {
    let server = Server::start(vec![Reply::steps(vec![Step::Hold])]);
    let run = orstream_at(&server).arg("hi").spawn();
    assert!(server.wait_request(T).is_some(), "no request arrived");
    let sent = Instant::now();
    run.signal(SIGINT);
    let closed = server.wait_close(T);
    let out = run.wait();
    let closed = closed.unwrap_or_else(|| panic!("server saw no close\n{}", out.report()));
    let latency = closed.saturating_duration_since(sent);
    eprintln!(
        "LATENCY headers signal={SIGINT} close_after_ms={:.3}",
        ms(latency)
    );
    assert!(
        latency < Duration::from_secs(1),
        "{latency:?}\n{}",
        out.report()
    );
    out.assert_code(130);
    assert!(out.stdout.is_empty(), "\n{}", out.report());
    assert_eq!(
        server.received().len(),
        1,
        "a cancelled request is not retried"
    );
}

// ---------------------------------------------------------------------------
// 3. A signal while reading stdin
// ---------------------------------------------------------------------------

#[test]
fn sigint_while_reading_stdin_exits_130_without_connecting() {
    let server = Server::start(vec![]);
    let run = orstream_at(&server)
        .arg("summarise")
        .stdin_open_pipe()
        .spawn();
    // The handler is installed right before stdin is read; signalling earlier
    // would just kill the process (a different, uninteresting path).
    assert!(
        wait_until(T, || catches(run.pid(), SIGINT)),
        "orstream never installed a SIGINT handler"
    );
    let out = signal_exits_130_at_once(run, SIGINT);
    assert!(out.stdout.is_empty(), "\n{}", out.report());
    assert_eq!(server.connections(), 0, "no connection may be opened");
    assert!(server.received().is_empty());
}

// ---------------------------------------------------------------------------
// 4 + 5. A signal while the TCP connect hangs
// ---------------------------------------------------------------------------

#[test]
fn hung_listener_really_hangs_connects() {
    let l = HungListener::new();
    let t = Instant::now();
    let r = TcpStream::connect_timeout(&l.addr, Duration::from_millis(300));
    assert!(r.is_err(), "connect to the full listener succeeded");
    assert!(t.elapsed() >= Duration::from_millis(250));
}

/// A signal during a TCP connect that hangs: nothing is pending, so the
/// process exits at once (SPEC §6: within 100 ms; the benchmark measures it).
/// The bound here only proves it no longer waits for the old 500 ms watchdog.
fn signal_while_connecting_exits_130_at_once(sig: i32) {
    let l = HungListener::new();
    let run = orstream_hung(&l)
        .args(["--connect-timeout", "30", "hi"])
        .spawn();
    assert!(l.wait_connecting(T), "orstream never started connecting");
    assert!(
        wait_until(T, || catches(run.pid(), sig)),
        "the handler was never installed"
    );
    let out = signal_exits_130_at_once(run, sig);
    assert!(out.stdout.is_empty(), "\n{}", out.report());
    assert!(out.stderr.is_empty(), "\n{}", out.report());
}

#[test]
fn sigint_while_connecting_exits_130_at_once() {
    signal_while_connecting_exits_130_at_once(SIGINT);
}

#[test]
fn sigterm_while_connecting_exits_130_at_once() {
    signal_while_connecting_exits_130_at_once(SIGTERM);
}

#[test]
fn sighup_while_connecting_exits_130_at_once() {
    signal_while_connecting_exits_130_at_once(SIGHUP);
}

#[test]
fn sigint_during_a_stalled_replay_exits_130_at_once() {
    let run = orstream()
        .args(["--from-sse", "-"])
        .stdin_open_pipe()
        .spawn();
    // Nothing arrives on the pipe: the replay blocks in a read of stdin.
    assert!(wait_until(T, || catches(run.pid(), SIGINT)));
    signal_exits_130_at_once(run, SIGINT);
}

#[test]
fn second_sigint_while_connecting_exits_at_once() {
    let l = HungListener::new();
    let run = orstream_hung(&l)
        .args(["--connect-timeout", "30", "hi"])
        .spawn();
    assert!(l.wait_connecting(T), "orstream never started connecting");
    run.signal(SIGINT);
    // Two kill(2)s in a row can merge into one pending SIGINT (standard
    // signals are not queued): wait until the first one has been delivered,
    // as a human's second Ctrl-C always is.
    assert!(
        wait_until(T, || !sigint_pending(run.pid())),
        "the first SIGINT was never delivered"
    );
    // The single-signal path may wait for a ~500 ms watchdog; a second
    // signal must not, measured from the second signal.
    signal_exits_130_at_once(run, SIGINT);
}

#[test]
fn second_sigint_while_waiting_for_headers_exits_130() {
    let server = Server::start(vec![Reply::steps(vec![Step::Hold])]);
    let run = orstream_at(&server).arg("hi").spawn();
    assert!(server.wait_request(T).is_some(), "no request arrived");
    let sent = Instant::now();
    run.signal(SIGINT);
    // See `second_sigint_while_connecting_exits_at_once`: keep the two apart.
    assert!(wait_until(T, || !sigint_pending(run.pid())));
    run.signal(SIGINT);
    let out = run.wait();
    let took = sent.elapsed();
    out.assert_code(130);
    assert!(took < Duration::from_secs(1), "{took:?}\n{}", out.report());
    assert!(server.wait_close(T).is_some(), "server saw no close");
}

// ---------------------------------------------------------------------------
// 6. `| head`
// ---------------------------------------------------------------------------

/// 30 chunks of "0123456789" 20 ms apart, then a stall.
fn slow_stream() -> Reply {
    let mut steps = Vec::new();
    for _ in 0..30 {
        steps.push(Step::write(chunk("0123456789")));
        steps.push(Step::Pause(Duration::from_millis(20)));
    }
    Reply::sse_steps_with(steps, SseEnd::Hold)
}

#[test]
fn head_closing_stdout_exits_141_quietly_and_closes_socket() {
    let server = Server::start(vec![slow_stream()]);
    let out = orstream_at(&server).arg("hi").close_stdout_after(25).run();
    out.assert_code(141);
    assert!(
        out.stderr.is_empty(),
        "stderr must be empty on 141\n{}",
        out.report()
    );
    assert_eq!(out.stdout_str(), "0123456789012345678901234");
    assert!(
        server.wait_close(T).is_some(),
        "server never saw the connection close"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn head_closing_stdout_with_json_exits_141_quietly_and_closes_socket() {
    let server = Server::start(vec![slow_stream()]);
    let out = orstream_at(&server)
        .args(["--json", "hi"])
        .close_stdout_after(300)
        .run();
    out.assert_code(141);
    assert!(
        out.stderr.is_empty(),
        "stderr must be empty on 141\n{}",
        out.report()
    );
    assert_eq!(out.stdout.len(), 300, "\n{}", out.report());
    assert!(out.stdout_str().starts_with("{\"id\":\"gen-1\""));
    assert!(
        server.wait_close(T).is_some(),
        "server never saw the connection close"
    );
}

// ---------------------------------------------------------------------------
// 7. Idle timeout
// ---------------------------------------------------------------------------

#[test]
fn idle_timeout_mid_stream_exits_7_keeping_partial_line() {
    let server = Server::start(vec![Reply::sse_hold(&[&chunk("partial")])]);
    let out = orstream_at(&server)
        .args(["--idle-timeout", "1", "hi"])
        .run();
    assert_timed_out_after_1s(&out, "--idle-timeout");
    assert!(out.stderr_str().starts_with("orstream: error: "));
    assert_eq!(out.stdout_str(), "partial\n", "\n{}", out.report());
    assert!(server.wait_close(T).is_some());
}

#[test]
fn keep_alive_comments_reset_idle_timeout() {
    let mut steps = Vec::new();
    for _ in 0..7 {
        steps.push(Step::write(": OPENROUTER PROCESSING\n\n"));
        steps.push(Step::Pause(Duration::from_millis(400)));
    }
    steps.push(Step::write(chunk("answer")));
    steps.push(Step::write(finish("stop")));
    steps.push(Step::write(DONE));
    let server = Server::start(vec![Reply::sse_steps(steps)]);
    let out = orstream_at(&server)
        .args(["--idle-timeout", "1", "hi"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "answer\n", "\n{}", out.report());
    assert!(out.elapsed >= Duration::from_millis(2500));
}

#[test]
fn idle_timeout_is_not_a_total_limit() {
    let mut steps = Vec::new();
    for _ in 0..9 {
        steps.push(Step::write(chunk("a")));
        steps.push(Step::Pause(Duration::from_millis(300)));
    }
    steps.push(Step::write(finish("stop")));
    steps.push(Step::write(DONE));
    let server = Server::start(vec![Reply::sse_steps(steps)]);
    let out = orstream_at(&server)
        .args(["--idle-timeout", "1", "hi"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "aaaaaaaaa\n", "\n{}", out.report());
    assert!(
        out.elapsed >= Duration::from_secs(2),
        "the stream should outlast the idle timeout: {:?}",
        out.elapsed
    );
}

#[test]
fn idle_timeout_waiting_for_headers_exits_7() {
    let server = Server::start(vec![Reply::steps(vec![Step::Hold])]);
    let out = orstream_at(&server)
        .args(["--idle-timeout", "1", "hi"])
        .run();
    out.assert_code(7);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}\n{}",
        out.elapsed,
        out.report()
    );
    assert!(out.stderr_str().starts_with("orstream: error: "));
    assert!(out.stdout.is_empty());
    // An idle timeout is not among the retried failures (SPEC §5).
    assert_eq!(server.received().len(), 1, "\n{}", out.report());
}

// ---------------------------------------------------------------------------
// 8. Connect timeout
// ---------------------------------------------------------------------------

#[test]
fn connect_timeout_exits_7_naming_the_flag() {
    let l = HungListener::new();
    let out = orstream_hung(&l)
        .args(["--connect-timeout", "1", "--retries", "0", "hi"])
        .run();
    assert_timed_out_after_1s(&out, "--connect-timeout");
    assert!(out.stdout.is_empty());
}

#[test]
fn connect_timeout_is_retried() {
    let l = HungListener::new();
    let out = orstream_hung(&l)
        .args(["--connect-timeout", "1", "--retries", "1", "hi"])
        .run();
    out.assert_code(7);
    assert!(
        out.elapsed >= Duration::from_millis(1500) && out.elapsed < Duration::from_secs(8),
        "two attempts of 1 s expected, took {:?}\n{}",
        out.elapsed,
        out.report()
    );
    assert!(out.stderr_str().contains("--connect-timeout"));
}

// ---------------------------------------------------------------------------
// 9. Retry details (basic 503/500/Retry-After seconds are in stream_output.rs)
// ---------------------------------------------------------------------------

#[test]
fn closed_before_status_line_is_retried() {
    let server = Server::start(vec![Reply::steps(vec![]), answer("ok")]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ok\n", "\n{}", out.report());
    assert_eq!(server.received().len(), 2);
}

#[test]
fn retry_after_http_date_is_honoured() {
    // Three whole seconds ahead, truncated to the second: a wait of 2–3 s.
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let date = imf_fixdate(UNIX_EPOCH + Duration::from_secs(secs + 3));
    let server = Server::start(vec![
        Reply::status(
            503,
            "application/json",
            r#"{"error":{"code":503,"message":"busy"}}"#,
            &[("Retry-After", &date)],
        ),
        answer("ok"),
    ]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ok\n");
    let got = server.received();
    assert_eq!(got.len(), 2);
    let waited = got[1].accepted_at.duration_since(got[0].request_read_at);
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "Retry-After: {date} should make the retry wait 2-3 s, waited {waited:?}\n{}",
        out.report()
    );
}

#[test]
fn retries_zero_sends_one_request() {
    let server = Server::start(vec![
        Reply::json(503, r#"{"error":{"code":503,"message":"busy"}}"#),
        answer("never"),
    ]);
    let out = orstream_at(&server).args(["--retries", "0", "hi"]).run();
    out.assert_code(6);
    assert_eq!(server.received().len(), 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn not_found_is_not_retried() {
    let server = Server::start(vec![
        Reply::json(
            404,
            r#"{"error":{"code":404,"message":"No endpoints found for x/y"}}"#,
        ),
        answer("never"),
    ]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(5);
    assert_eq!(server.received().len(), 1, "\n{}", out.report());
}

#[test]
fn verbose_mentions_the_retry_and_its_wait() {
    let server = Server::start(vec![
        Reply::json(503, r#"{"error":{"code":503,"message":"busy"}}"#),
        answer("ok"),
    ]);
    let out = orstream_at(&server).args(["-v", "hi"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ok\n");
    let stderr = out.stderr_str();
    let line = stderr
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("retr"));
    let line = line.unwrap_or_else(|| panic!("no retry line on stderr\n{}", out.report()));
    assert!(
        line.chars().any(|c| c.is_ascii_digit()) && line.contains('s'),
        "the retry line should give its wait: {line:?}"
    );
    assert_eq!(server.received().len(), 2);
}

#[test]
fn exhausted_retries_on_429_exit_4() {
    let r429 = || {
        Reply::status(
            429,
            "application/json",
            r#"{"error":{"code":429,"message":"slow down"}}"#,
            &[("Retry-After", "0")],
        )
    };
    let server = Server::start(vec![r429(), r429(), r429(), answer("never")]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(4);
    assert_eq!(server.received().len(), 3, "1 try + 2 retries (default)");
    assert!(out.stdout.is_empty());
    assert!(
        out.elapsed < Duration::from_secs(5),
        "Retry-After: 0 means no wait"
    );
}

// ---------------------------------------------------------------------------
// 10. No print!/println! in src (they panic on a closed stdout)
// ---------------------------------------------------------------------------

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn src_never_uses_print_macros() {
    let mut files = Vec::new();
    rust_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(!files.is_empty());
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for mac in ["print!(", "println!("] {
                let found = line.match_indices(mac).any(|(i, _)| {
                    // `eprint!(` / `eprintln!(` are a different macro.
                    !line[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if found {
                    hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "print!/println! panic on a closed stdout; use explicit writes:\n{}",
        hits.join("\n")
    );
}

/// A replay from a FIFO that goes silent: the signal wakes the read, so the
/// stream ends as a live one would — `-x` writes what it held back (here a
/// possible closing fence that never closed) and the line is ended.
#[test]
fn sigint_during_a_stalled_fifo_replay_finishes_like_a_live_stream() {
    let dir = TempDir::new("fifo-replay");
    let fifo = dir.fifo("stream.sse");
    let run = orstream().args(["-x", "--from-sse"]).arg(&fifo).spawn();
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the FIFO for writing");
    std::io::Write::write_all(&mut w, ev(&cp("```\nab\n  ``")).as_bytes()).unwrap();
    std::io::Write::flush(&mut w).unwrap();
    assert!(
        run.wait_stdout_contains(b"ab\n", T),
        "the code never arrived"
    );
    let out = signal_exits_130_at_once(run, SIGINT);
    drop(w);
    assert_eq!(out.stdout, b"ab\n  ``\n", "{}", out.report());
}

/// Files named on the command line are read with the handler installed: a
/// key file that is a FIFO nobody writes blocks in open(2), and a signal then
/// still exits 130 (not death by the signal), at once.
#[test]
fn sigint_while_opening_a_fifo_key_file_exits_130() {
    let dir = TempDir::new("fifo-key");
    let fifo = dir.fifo("key");
    let run = orstream()
        .args(["--base-url", "http://127.0.0.1:1/v1", "--api-key-file"])
        .arg(&fifo)
        .arg("hi")
        .spawn();
    assert!(
        wait_until(T, || catches(run.pid(), SIGINT)),
        "no handler while the key file is opened"
    );
    signal_exits_130_at_once(run, SIGINT);
}

/// `--from-sse FIFO` before any writer: open(2) waits, nothing is printed,
/// so a signal exits at once.
#[test]
fn sigint_while_a_replayed_fifo_has_no_writer_exits_at_once() {
    let dir = TempDir::new("fifo-nowriter");
    let fifo = dir.fifo("stream.sse");
    let run = orstream().arg("--from-sse").arg(&fifo).spawn();
    assert!(wait_until(T, || catches(run.pid(), SIGINT)));
    signal_exits_130_at_once(run, SIGINT);
}

/// `| head` while a whole (non-streamed) JSON body or an error body is
/// being read: still the quiet 141 of a closed pipe, not a network error.
#[test]
fn closing_stdout_while_a_whole_body_is_read_exits_141_quietly() {
    for (status, ctype) in [(200, "application/json"), (400, "application/json")] {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: 500\r\nConnection: close\r\n\r\n"
        );
        let server = Server::start(vec![Reply::steps(vec![
            Step::write(head),
            Step::write("{\"choices\":[{\"message\":{\"content\":\"par"),
            Step::Hold,
        ])]);
        let mut run = orstream_at(&server).arg("hi").spawn();
        assert!(server.wait_request(T).is_some(), "no request arrived");
        run.close_stdout();
        let out = run.wait();
        out.assert_code(141);
        assert!(out.stderr.is_empty(), "status {status}\n{}", out.report());
        assert!(server.wait_close(T).is_some(), "the socket stayed open");
    }
}

/// `| head` during a retry wait (`Retry-After: 30`): nobody is left to read
/// the answer, so orstream ends at once instead of waiting and retrying.
#[test]
fn closing_stdout_during_a_retry_wait_exits_141_without_retrying() {
    let server = Server::start(vec![Reply::status(
        503,
        "application/json",
        r#"{"error":{"message":"busy"}}"#,
        &[("Retry-After", "30")],
    )]);
    let mut run = orstream_at(&server)
        .args(["-v", "--retries", "1", "hi"])
        .spawn();
    assert!(
        run.wait_stderr_contains(b"retry 1/1", T),
        "no retry wait began"
    );
    let closed = Instant::now();
    run.close_stdout();
    let out = run.wait();
    out.assert_code(141);
    // Far below the 30 s wait; only proves the wait was cut short.
    assert!(
        closed.elapsed() < Duration::from_secs(10),
        "{}",
        out.report()
    );
    assert_eq!(server.connections(), 1, "retried after the reader left");
}

/// Reasoning cut short by a signal still ends its line on stderr.
#[test]
fn sigint_mid_reasoning_ends_the_reasoning_line() {
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(ev(
            r#"{"choices":[{"index":0,"delta":{"reasoning":"thinking about it"}}]}"#,
        ))],
        SseEnd::Hold,
    )]);
    let run = orstream_at(&server).args(["--reasoning", "hi"]).spawn();
    assert!(
        run.wait_stderr_contains(b"thinking about it", T),
        "no reasoning on stderr"
    );
    run.signal(SIGINT);
    let out = run.wait();
    out.assert_code(130);
    assert_eq!(out.stderr_str(), "thinking about it\n", "{}", out.report());
    assert!(out.stdout.is_empty(), "{}", out.report());
}
