//! Checks most tests share: a clean "Hi" run, stdout byte for byte, the
//! one-line error format, a key that never leaks, a server never contacted.
//! Each failure message carries the run's full report.

use super::{Cmd, Output, Received, Server, TEST_KEY};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// Runs `cmd`, expects a successful "Hi" answer, and returns the one request
/// the server saw, with the output.
pub fn run_ok(server: &Server, cmd: Cmd) -> (Received, Output) {
    let out = cmd.run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n", "{}", out.report());
    let got = server.received();
    assert_eq!(
        got.len(),
        1,
        "expected exactly one request\n{}",
        out.report()
    );
    (got.into_iter().next().unwrap(), out)
}

/// Stdout is exactly `expected`, byte for byte.
pub fn assert_stdout(out: &Output, expected: &[u8]) {
    assert!(
        out.stdout == expected,
        "stdout mismatch\nexpected: {:?}\n     got: {:?}\n{}",
        String::from_utf8_lossy(expected),
        out.stdout_str(),
        out.report()
    );
}

pub fn assert_stderr_empty(out: &Output) {
    assert!(
        out.stderr.is_empty(),
        "expected empty stderr\n{}",
        out.report()
    );
}

/// Every error is exactly one `orstream: error:` line, optionally followed by
/// one `orstream: hint:` line, and nothing else on stderr. Returns both.
pub fn error_lines(out: &Output) -> (String, Option<String>) {
    let text = out.stderr_str();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ok_end = text.ends_with('\n');
    match lines.as_slice() {
        [e] if ok_end && e.starts_with("orstream: error: ") => (e.clone(), None),
        [e, h]
            if ok_end
                && e.starts_with("orstream: error: ")
                && h.starts_with("orstream: hint: ") =>
        {
            (e.clone(), Some(h.clone()))
        }
        _ => panic!(
            "expected one `orstream: error:` line (+ optional hint)\n{}",
            out.report()
        ),
    }
}

/// Exit `code`, nothing on stdout, and stderr as [`error_lines`] wants it;
/// with `want_hint` the hint line must be there.
pub fn assert_error_lines(out: &Output, code: i32, want_hint: bool) -> (String, Option<String>) {
    out.assert_code(code);
    assert!(out.stdout.is_empty(), "stdout not empty\n{}", out.report());
    let (line, hint) = error_lines(out);
    if want_hint {
        assert!(hint.is_some(), "no hint line\n{}", out.report());
    }
    (line, hint)
}

/// A usage error: exit 2 with the one-line error format (returned), sent to
/// no one.
pub fn assert_usage_error(out: &Output, server: &Server) -> String {
    let (line, _) = assert_error_lines(out, 2, false);
    assert_no_connections(server);
    line
}

/// The API key appears on neither stdout nor stderr.
pub fn assert_no_key(out: &Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(TEST_KEY),
            "the API key appears on {name}\n{}",
            out.report()
        );
    }
}

/// How long [`assert_no_connections`] waits for its own probe request.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Proves `server` was never contacted: a probe request of our own is
/// accepted in FIFO order after anything the (already exited) client queued,
/// so once it is recorded the counts are final.
pub fn assert_no_connections(server: &Server) {
    let mut s = TcpStream::connect(server.addr()).expect("probe connect");
    s.write_all(b"GET /probe HTTP/1.1\r\nHost: probe\r\nContent-Length: 0\r\n\r\n")
        .expect("probe write");
    let got = server
        .wait_request(PROBE_WAIT)
        .expect("probe request recorded");
    assert_eq!(
        got.path, "/probe",
        "the server saw a request before the probe: {got:?}"
    );
    assert_eq!(
        server.connections(),
        1,
        "orstream connected to the server: {:?}",
        server.received()
    );
    drop(s);
}
