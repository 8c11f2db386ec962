//! Shared test support for the `orstream` integration tests.
//!
//! Two halves:
//!
//! * [`Server`]: a scripted loopback HTTP/1.1 server. Every accepted
//!   connection gets the next [`Reply`] (a list of [`Step`]s), so a test
//!   controls exactly where write boundaries, stalls and closes happen.
//!   Everything the server observes is recorded as [`Received`] and also
//!   reported over channels so tests can *wait* for an event instead of
//!   sleeping and hoping.
//! * [`Cmd`] / [`Running`] / [`Output`]: runs the real `orstream` binary in a
//!   hermetic environment (cleared env; only `PATH` and a fake API key), with
//!   a hard timeout so a hung client fails the test instead of the CI job.
//!
//! Used from integration tests as `mod support; use support::*;`. Each test
//! binary uses only part of this module, hence the blanket `dead_code` allow.
//!
//! Linux-only (uses `kill(2)`, `poll(2)` and `waitid(2)` directly, because the
//! crate has no `libc` dev-dependency).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_uint, c_ulong, OsStr, OsString};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Upper bound for every blocking wait inside this module: nothing here may
/// hang a test forever.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The API key every hermetic run gets. Tests assert it never leaks into
/// output, so it is deliberately recognisable.
pub const TEST_KEY: &str = "sk-or-v1-test-SECRET-KEY-0123456789";

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGPIPE: i32 = 13;
pub const SIGTERM: i32 = 15;

/// Locks a mutex, ignoring poisoning: a panicking test thread must not turn
/// every later assertion into a confusing `PoisonError`.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// SSE / JSON payload helpers
// ---------------------------------------------------------------------------

/// The stream terminator OpenAI-compatible servers send.
pub const DONE: &str = "data: [DONE]\n\n";

/// Minimal JSON string encoder (with the surrounding quotes), so payloads
/// with tricky content can be built without pulling serde into the fixtures.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn delta_event(content: &str, finish_reason: Option<&str>) -> String {
    let finish = finish_reason.map_or_else(|| "null".to_string(), json_string);
    format!(
        "data: {{\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"model\":\"test/model\",\
         \"provider\":\"TestProvider\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\
         \"content\":{}}},\"finish_reason\":{}}}]}}\n\n",
        json_string(content),
        finish
    )
}

/// One complete SSE event carrying a content delta.
pub fn chunk(content: &str) -> String {
    delta_event(content, None)
}

/// One complete SSE event with empty content and the given `finish_reason`.
pub fn finish(reason: &str) -> String {
    delta_event("", Some(reason))
}

/// The trailing usage-only event (empty `choices`) OpenRouter sends.
pub fn usage_chunk() -> String {
    "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"model\":\"test/model\",\
     \"provider\":\"TestProvider\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\
     \"completion_tokens\":5,\"total_tokens\":15,\"cost\":0.00012}}\n\n"
        .to_string()
}

/// One SSE event with the given data payload.
pub fn ev(payload: &str) -> String {
    format!("data: {payload}\n\n")
}

/// A compact content chunk payload (no `data:` prefix): only the fields a
/// client must read, unlike the full chunks of [`chunk`].
pub fn cp(text: &str) -> String {
    format!(
        "{{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}",
        json_string(text)
    )
}

/// A compact content chunk event.
pub fn c(text: &str) -> String {
    ev(&cp(text))
}

// ---------------------------------------------------------------------------
// Scripted replies
// ---------------------------------------------------------------------------

/// One action of a connection script.
#[derive(Debug)]
pub enum Step {
    /// Raw bytes, written with a single `write_all` + `flush` (the socket has
    /// `TCP_NODELAY`, so each `Write` normally leaves as its own segment).
    Write(Vec<u8>),
    /// Sleep between writes.
    Pause(Duration),
    /// Block until the client closes its side; records `client_closed_at`.
    WaitForClientClose,
    /// A stall: keep the connection open, writing nothing, until the client
    /// closes. Behaves exactly like `WaitForClientClose`; the separate name
    /// documents intent in tests.
    Hold,
    /// Block until the test calls [`Server::release`].
    WaitSignal,
}

impl Step {
    /// Convenience for `Step::Write(s.into().into_bytes())`.
    pub fn write(s: impl Into<String>) -> Step {
        Step::Write(s.into().into_bytes())
    }
}

/// How an [`Reply::sse_steps_with`] body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEnd {
    /// Send the terminating `0\r\n\r\n` chunk, then close.
    Terminate,
    /// Close without the terminating chunk: an abrupt EOF mid-body.
    Abrupt,
    /// Keep the connection open after the last event (no terminating chunk)
    /// until the client closes.
    Hold,
}

/// The script for one expected connection. Replies are served in order.
#[derive(Debug)]
pub struct Reply {
    pub steps: Vec<Step>,
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Builds a response head. Every helper-built reply says `Connection: close`
/// because the server serves one script per connection: a client that pooled
/// the connection for a retry would otherwise race against our close.
fn head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn chunk_frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    out
}

impl Reply {
    /// Everything written as-is: the test supplies status line and headers.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply {
            steps: vec![Step::Write(bytes.into())],
        }
    }

    /// A script used verbatim (no framing, no implicit head).
    pub fn steps(steps: Vec<Step>) -> Reply {
        Reply { steps }
    }

    /// `200 text/event-stream`, chunked; each event is one HTTP chunk in its
    /// own write, followed by the terminating zero chunk and a close.
    pub fn sse(events: &[&str]) -> Reply {
        Reply::sse_steps(events_to_steps(events))
    }

    /// Like [`Reply::sse`] but without the terminating chunk: abrupt EOF.
    pub fn sse_abrupt(events: &[&str]) -> Reply {
        Reply::sse_steps_with(events_to_steps(events), SseEnd::Abrupt)
    }

    /// Like [`Reply::sse`] but the connection stays open (stalled) after the
    /// last event until the client gives up.
    pub fn sse_hold(events: &[&str]) -> Reply {
        Reply::sse_steps_with(events_to_steps(events), SseEnd::Hold)
    }

    /// Chunked SSE where `Step::Write` payloads are body bytes that get
    /// chunk-framed automatically (one chunk per write), so Pauses and
    /// WaitSignals can sit between body pieces. Ends with the zero chunk.
    pub fn sse_steps(steps: Vec<Step>) -> Reply {
        Reply::sse_steps_with(steps, SseEnd::Terminate)
    }

    /// [`Reply::sse_steps`] with an explicit ending. Empty `Write`s are
    /// skipped: framed, they would be the terminating chunk.
    pub fn sse_steps_with(steps: Vec<Step>, end: SseEnd) -> Reply {
        let mut out = vec![Step::Write(head(
            200,
            &[
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "close"),
            ],
        ))];
        for step in steps {
            match step {
                Step::Write(b) if b.is_empty() => {}
                Step::Write(b) => out.push(Step::Write(chunk_frame(&b))),
                other => out.push(other),
            }
        }
        match end {
            SseEnd::Terminate => out.push(Step::Write(b"0\r\n\r\n".to_vec())),
            SseEnd::Abrupt => {}
            SseEnd::Hold => out.push(Step::Hold),
        }
        Reply { steps: out }
    }

    /// SSE with neither `Transfer-Encoding` nor `Content-Length`: the body
    /// ends when the server closes the socket. Each event is its own write.
    pub fn sse_close_delimited(events: &[&str]) -> Reply {
        Reply::sse_close_delimited_steps(events_to_steps(events))
    }

    /// Close-delimited SSE from explicit steps (`Write`s are raw body bytes).
    pub fn sse_close_delimited_steps(steps: Vec<Step>) -> Reply {
        let mut out = vec![Step::Write(head(
            200,
            &[
                ("Content-Type", "text/event-stream"),
                ("Connection", "close"),
            ],
        ))];
        out.extend(steps);
        Reply { steps: out }
    }

    /// `status` with an `application/json` body and `Content-Length`.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::status(status, "application/json", body, &[])
    }

    /// General non-streaming reply; `extra_headers` go after the standard
    /// ones (e.g. `Retry-After`, `Location`). The whole response is one write.
    pub fn status(
        status: u16,
        content_type: &str,
        body: &str,
        extra_headers: &[(&str, &str)],
    ) -> Reply {
        let len = body.len().to_string();
        let mut headers = vec![
            ("Content-Type", content_type),
            ("Content-Length", len.as_str()),
            ("Connection", "close"),
        ];
        headers.extend_from_slice(extra_headers);
        let mut bytes = head(status, &headers);
        bytes.extend_from_slice(body.as_bytes());
        Reply::raw(bytes)
    }
}

fn events_to_steps(events: &[&str]) -> Vec<Step> {
    events.iter().map(|e| Step::write(*e)).collect()
}

// ---------------------------------------------------------------------------
// Recorded requests
// ---------------------------------------------------------------------------

/// One request the server read, plus what happened on its connection.
#[derive(Debug, Clone)]
pub struct Received {
    /// Position among completed requests; equals the index of the `Reply`
    /// that served it (unless `unscripted`).
    pub index: usize,
    pub method: String,
    /// Request target exactly as sent (includes any query string).
    pub path: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked if the request used `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
    pub accepted_at: Instant,
    /// When the request (head + body) had been fully read.
    pub request_read_at: Instant,
    /// When a client close was observed (WaitForClientClose/Hold, or a
    /// failed write). Updated after the fact: see [`Server::wait_close`].
    pub client_closed_at: Option<Instant>,
    /// When the script ran to its end (not set if a write failed).
    pub finished_script_at: Option<Instant>,
    pub write_error: Option<ErrorKind>,
    /// No scripted reply was left; answered with `599 Unscripted`.
    pub unscripted: bool,
}

impl Received {
    /// First header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("request body is not valid JSON ({e}):\n{}", self.body_str())
        })
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    /// Connection handlers still running, for `wait_idle`.
    active: Mutex<usize>,
    idle: Condvar,
    /// Clones of live sockets so `Drop` can unblock stalled handlers. Each
    /// handler removes its entry when it ends: a clone left behind would keep
    /// the socket open and mask the close the script asked for.
    open: Mutex<HashMap<usize, TcpStream>>,
    release_rx: Mutex<Receiver<()>>,
    request_tx: Sender<Received>,
    close_tx: Sender<Instant>,
}

/// A scripted HTTP/1.1 server on `127.0.0.1:<ephemeral>`.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    release_tx: Sender<()>,
    // Receivers are not `Sync`; the mutexes make `&Server` shareable with
    // helper threads in a test.
    request_rx: Mutex<Receiver<Received>>,
    close_rx: Mutex<Receiver<Instant>>,
}

impl Server {
    /// Binds (before returning, so the port is live before any client
    /// starts) and serves `replies` in connection order.
    pub fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        // Non-blocking accept with a short poll lets Drop stop the loop
        // without tricks like connecting to ourselves.
        listener.set_nonblocking(true).expect("set_nonblocking");

        let (release_tx, release_rx) = mpsc::channel();
        let (request_tx, request_rx) = mpsc::channel();
        let (close_tx, close_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            replies: Mutex::new(replies.into()),
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            active: Mutex::new(0),
            idle: Condvar::new(),
            open: Mutex::new(HashMap::new()),
            release_rx: Mutex::new(release_rx),
            request_tx,
            close_tx,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("support-accept".into())
                .spawn(move || accept_loop(listener, shared, stop))
                .expect("spawn accept thread")
        };
        Server {
            addr,
            shared,
            stop,
            accept_thread: Some(accept_thread),
            release_tx,
            request_rx: Mutex::new(request_rx),
            close_rx: Mutex::new(close_rx),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Unblocks the next `Step::WaitSignal` (or the one currently waiting).
    /// Releases are counted, so releasing early is fine.
    pub fn release(&self) {
        let _ = self.release_tx.send(());
    }

    /// Next request whose head and body were fully read. It is sent before
    /// the reply is written, so close/timing fields are still unset here.
    pub fn wait_request(&self, timeout: Duration) -> Option<Received> {
        lock(&self.request_rx).recv_timeout(timeout).ok()
    }

    /// Next observed client close (WaitForClientClose / Hold / write error).
    pub fn wait_close(&self, timeout: Duration) -> Option<Instant> {
        lock(&self.close_rx).recv_timeout(timeout).ok()
    }

    /// All requests so far, in completion order, with close info as far as
    /// it has been observed. After the client exits, a handler may still be
    /// about to notice the close: use `wait_close` or `wait_idle` first when
    /// asserting on `client_closed_at`.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// TCP connections accepted so far (including ones that never sent a
    /// complete request, which are not in `received()`).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Scripted replies not yet used.
    pub fn unused_replies(&self) -> usize {
        lock(&self.shared.replies).len()
    }

    /// Waits until no connection handler is running. Returns false on
    /// timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut active = lock(&self.shared.active);
        while *active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            active = self
                .shared
                .idle
                .wait_timeout(active, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        // Unblock handlers stuck in Hold/WaitForClientClose; handlers in
        // WaitSignal wake up because `release_tx` is dropped with us.
        for s in lock(&self.shared.open).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let accepted_at = Instant::now();
                let conn = shared.connections.fetch_add(1, Ordering::SeqCst);
                *lock(&shared.active) += 1;
                let shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("support-conn-{conn}"))
                    .spawn(move || {
                        let _guard = ActiveGuard {
                            shared: &shared,
                            conn,
                        };
                        handle_connection(&shared, conn, stream, accepted_at);
                    });
                if let Err(e) = spawned {
                    eprintln!("support server: cannot spawn handler thread: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("support server: accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Keeps `active`/`open` accurate even if a handler panics.
struct ActiveGuard<'a> {
    shared: &'a Shared,
    conn: usize,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.open).remove(&self.conn);
        let mut active = lock(&self.shared.active);
        *active -= 1;
        self.shared.idle.notify_all();
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn handle_connection(shared: &Shared, conn: usize, stream: TcpStream, accepted_at: Instant) {
    // Accepted sockets may inherit O_NONBLOCK on some platforms.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(HARD_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HARD_TIMEOUT));
    if let Ok(clone) = stream.try_clone() {
        lock(&shared.open).insert(conn, clone);
    }
    let mut reader = BufReader::new(stream);

    let req = match read_request(&mut reader) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("support server: connection {conn}: no complete request: {e}");
            return;
        }
    };
    let request_read_at = Instant::now();
    let mut stream = reader.into_inner();

    // Pop the reply and append the record under one lock so that
    // `Received::index` lines up with the reply that served it.
    let (index, reply, record) = {
        let reply = lock(&shared.replies).pop_front();
        let mut received = lock(&shared.received);
        let index = received.len();
        let record = Received {
            index,
            method: req.method,
            path: req.path,
            headers: req.headers,
            body: req.body,
            accepted_at,
            request_read_at,
            client_closed_at: None,
            finished_script_at: None,
            write_error: None,
            unscripted: reply.is_none(),
        };
        received.push(record.clone());
        (index, reply, record)
    };
    let _ = shared.request_tx.send(record);

    let update = |f: &dyn Fn(&mut Received)| {
        if let Some(r) = lock(&shared.received).get_mut(index) {
            f(r);
        }
    };

    let steps = match reply {
        Some(r) => r.steps,
        None => {
            eprintln!("support server: connection {conn}: unscripted request, answering 599");
            vec![Step::Write(
                b"HTTP/1.1 599 Unscripted\r\nContent-Length: 0\r\n\r\n".to_vec(),
            )]
        }
    };
    let ends_waiting = matches!(steps.last(), Some(Step::WaitForClientClose | Step::Hold));

    for step in steps {
        match step {
            Step::Write(bytes) => {
                if let Err(e) = stream.write_all(&bytes).and_then(|()| stream.flush()) {
                    let now = Instant::now();
                    update(&|r| {
                        r.write_error = Some(e.kind());
                        r.client_closed_at = Some(now);
                    });
                    let _ = shared.close_tx.send(now);
                    return;
                }
            }
            Step::Pause(d) => thread::sleep(d),
            Step::WaitForClientClose | Step::Hold => match wait_for_close(&mut stream) {
                Some(at) => {
                    update(&|r| r.client_closed_at = Some(at));
                    let _ = shared.close_tx.send(at);
                }
                None => {
                    eprintln!(
                        "support server: connection {conn}: client did not close within {HARD_TIMEOUT:?}"
                    );
                }
            },
            Step::WaitSignal => {
                let got = lock(&shared.release_rx).recv_timeout(HARD_TIMEOUT);
                match got {
                    Ok(()) => {}
                    Err(RecvTimeoutError::Timeout) => {
                        eprintln!(
                            "support server: connection {conn}: WaitSignal not released within {HARD_TIMEOUT:?}; continuing"
                        );
                    }
                    // The Server was dropped: the test is over.
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
    let now = Instant::now();
    update(&|r| r.finished_script_at = Some(now));
    if !ends_waiting {
        // FIN first so the client sees a clean EOF, not a reset.
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Reads until EOF or error; returns when the close was seen, or `None` if
/// the cap ran out. Anything the client still sends is discarded.
fn wait_for_close(stream: &mut TcpStream) -> Option<Instant> {
    let deadline = Instant::now() + HARD_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return Some(Instant::now()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(Instant::now()),
        }
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

/// Reads one CRLF-terminated line (without the line ending), capped so a
/// garbage client cannot make us buffer without bound.
fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let n = r.take(64 * 1024).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if line.last() != Some(&b'\n') {
        return Err(invalid("line too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("non-UTF-8 line"))
}

fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Request> {
    let line = read_line(r)?;
    let mut parts = line.split(' ');
    let (method, path) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/") => (m.to_string(), p.to_string()),
        _ => return Err(invalid(format!("bad request line {line:?}"))),
    };

    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };

    // Only sent when a client opts in, but answering it costs nothing and
    // avoids a client-side stall if one ever does.
    if find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        let s = r.get_mut();
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        s.flush()?;
    }

    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked_body(r)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

fn read_chunked_body(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers (if any) up to the empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        if !read_line(r)?.is_empty() {
            return Err(invalid("chunk data not followed by CRLF"));
        }
    }
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = 0x1;
const P_PID: c_int = 1;
const WEXITED: c_int = 4;
const WNOWAIT: c_int = 0x0100_0000;

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    fn waitid(idtype: c_int, id: c_uint, infop: *mut u8, options: c_int) -> c_int;
}

fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { kill(pid as i32, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Blocks until `pid` has exited WITHOUT reaping it (`WNOWAIT`), so the
/// `Child` can still be waited normally and its pid cannot be recycled while
/// we might signal it. This lets a helper thread wait while `Running` keeps
/// ownership of the `Child`.
fn wait_exit_no_reap(pid: u32) {
    // siginfo_t is 128 bytes on Linux; over-align and over-size to be safe.
    let mut info = [0u64; 32];
    loop {
        // SAFETY: `info` is a writable buffer larger than siginfo_t.
        let r = unsafe {
            waitid(
                P_PID,
                pid,
                info.as_mut_ptr().cast::<u8>(),
                WEXITED | WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != ErrorKind::Interrupted {
            return;
        }
    }
}

/// Output captured from one child pipe, shared with its reader thread.
#[derive(Default)]
struct Capture {
    state: Mutex<CaptureState>,
    changed: Condvar,
}

#[derive(Default)]
struct CaptureState {
    buf: Vec<u8>,
    /// The reader has finished and dropped its pipe.
    done: bool,
    /// Test asked the reader to drop the pipe now.
    stop: bool,
    /// Drop the pipe once this many bytes were read (`head -c N`).
    limit: Option<usize>,
}

impl Capture {
    fn snapshot(&self) -> Vec<u8> {
        lock(&self.state).buf.clone()
    }

    fn finish(&self) {
        lock(&self.state).done = true;
        self.changed.notify_all();
    }

    fn append(&self, data: &[u8]) {
        lock(&self.state).buf.extend_from_slice(data);
        self.changed.notify_all();
    }

    /// Waits until `pred` holds or the reader is done; returns `pred`'s
    /// final value.
    fn wait_for(&self, timeout: Duration, pred: impl Fn(&CaptureState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            if pred(&st) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if st.done || left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Plain reader: to EOF, never stops early (stderr).
fn read_all(mut pipe: impl Read, cap: &Capture) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => cap.append(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(pipe);
    cap.finish();
}

/// Stdout reader that can be told to drop the pipe mid-stream (simulating a
/// downstream `head` exiting). It polls the pipe together with a wake socket so
/// a stop request takes effect immediately, even while no output arrives —
/// otherwise the child would get one more successful write than with a real
/// `head`.
fn read_stoppable(mut pipe: ChildStdout, mut wake: UnixStream, cap: &Capture) {
    let mut buf = [0u8; 8192];
    let mut wake_fd = wake.as_raw_fd();
    loop {
        let max = {
            let st = lock(&cap.state);
            let room = st
                .limit
                .map_or(buf.len(), |l| l.saturating_sub(st.buf.len()));
            if st.stop || room == 0 {
                break;
            }
            room.min(buf.len())
        };
        let mut fds = [
            PollFd {
                fd: pipe.as_raw_fd(),
                events: POLLIN,
                revents: 0,
            },
            // A negative fd is ignored by poll(2).
            PollFd {
                fd: wake_fd,
                events: POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of 2 pollfd structs.
        let r = unsafe { poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if fds[1].revents != 0 {
            let mut b = [0u8; 64];
            // Wake writer gone (Running dropped): stop watching it rather
            // than spin on a permanently readable fd.
            if matches!(wake.read(&mut b), Ok(0) | Err(_)) {
                wake_fd = -1;
            }
            continue; // re-check stop/limit first
        }
        if fds[0].revents != 0 {
            match pipe.read(&mut buf[..max]) {
                Ok(0) => break,
                Ok(n) => cap.append(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    // Close the pipe before announcing `done`, so `close_stdout` returning
    // means the child's next write will fail.
    drop(pipe);
    cap.finish();
}

#[derive(Debug, Clone)]
enum StdinMode {
    Null,
    Bytes(Vec<u8>),
    OpenPipe,
}

/// Builder for a hermetic run of the `orstream` binary.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    /// Applied in order after the hermetic base; `None` removes.
    env: Vec<(OsString, Option<OsString>)>,
    stdin: StdinMode,
    current_dir: Option<OsString>,
    stdout_limit: Option<usize>,
}

/// The real binary with a cleared environment: only `PATH` (from the test
/// process) and `OPENROUTER_API_KEY=TEST_KEY`. No HOME, proxies, NO_COLOR,
/// OPENROUTER_* or RUST_BACKTRACE leak in from the developer's shell.
pub fn orstream() -> Cmd {
    Cmd {
        program: env!("CARGO_BIN_EXE_orstream").into(),
        args: Vec::new(),
        env: Vec::new(),
        stdin: StdinMode::Null,
        current_dir: None,
        stdout_limit: None,
    }
}

/// `orstream --base-url <server>`.
pub fn orstream_at(server: &Server) -> Cmd {
    orstream().arg("--base-url").arg(server.url())
}

fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Cmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), Some(v.as_ref().to_owned())));
        self
    }

    /// Also works for the hermetic base variables (`PATH`,
    /// `OPENROUTER_API_KEY`).
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env.push((k.as_ref().to_owned(), None));
        self
    }

    /// Feeds `bytes` from a thread, then closes stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = StdinMode::Bytes(bytes.into());
        self
    }

    /// `/dev/null` (also the default).
    pub fn stdin_null(mut self) -> Self {
        self.stdin = StdinMode::Null;
        self
    }

    /// A pipe that is never written and stays open until the child exits
    /// (like an interactive terminal nobody types into, minus the tty).
    pub fn stdin_open_pipe(mut self) -> Self {
        self.stdin = StdinMode::OpenPipe;
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<OsStr>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Like `| head -c n`: the stdout reader drops the pipe after `n` bytes.
    /// Set here (rather than on `Running`) it applies from the first byte,
    /// with no race against early output.
    pub fn close_stdout_after(mut self, n_bytes: usize) -> Self {
        self.stdout_limit = Some(n_bytes);
        self
    }

    /// The command line for reports, env changes shown as an `env` prefix
    /// (on top of the hermetic base).
    pub fn cmdline(&self) -> String {
        let mut parts = Vec::new();
        if !self.env.is_empty() {
            parts.push("env".to_string());
            for (k, v) in &self.env {
                match v {
                    Some(v) => {
                        let mut kv = k.clone();
                        kv.push("=");
                        kv.push(v);
                        parts.push(shell_quote(&kv));
                    }
                    None => {
                        parts.push("-u".into());
                        parts.push(shell_quote(k));
                    }
                }
            }
        }
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        match self.stdin {
            StdinMode::Null => {}
            StdinMode::Bytes(ref b) => parts.push(format!("<<< ({} bytes)", b.len())),
            StdinMode::OpenPipe => parts.push("< (open pipe)".into()),
        }
        parts.join(" ")
    }

    /// Runs to completion, with a hard 30 s timeout (kill + panic).
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// Starts the child; stdout/stderr are collected by background threads.
    pub fn spawn(self) -> Running {
        let cmdline = self.cmdline();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env_clear();
        cmd.env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        );
        cmd.env("OPENROUTER_API_KEY", TEST_KEY);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(match self.stdin {
            StdinMode::Null => Stdio::null(),
            StdinMode::Bytes(_) | StdinMode::OpenPipe => Stdio::piped(),
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());

        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));

        let mut stdin_hold = None;
        if let Some(mut stdin) = child.stdin.take() {
            match self.stdin {
                StdinMode::Bytes(bytes) => {
                    // Detached: if the child never reads, this unblocks with
                    // EPIPE when it exits.
                    thread::spawn(move || {
                        let _ = stdin.write_all(&bytes);
                    });
                }
                _ => stdin_hold = Some(stdin),
            }
        }

        let stdout_cap = Arc::new(Capture::default());
        lock(&stdout_cap.state).limit = self.stdout_limit;
        let stderr_cap = Arc::new(Capture::default());
        // A socketpair rather than `io::pipe` (MSRV 1.85).
        let (wake_rx, wake_tx) = UnixStream::pair().expect("create wake socketpair");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let readers = vec![
            {
                let cap = Arc::clone(&stdout_cap);
                thread::spawn(move || read_stoppable(stdout, wake_rx, &cap))
            },
            {
                let cap = Arc::clone(&stderr_cap);
                thread::spawn(move || read_all(stderr, &cap))
            },
        ];

        Running {
            child,
            cmdline,
            started,
            stdout: stdout_cap,
            stderr: stderr_cap,
            wake: wake_tx,
            stdin_hold,
            readers,
            reaped: false,
        }
    }
}

/// A child started by [`Cmd::spawn`]. Dropping it without `wait` kills it.
pub struct Running {
    pub child: Child,
    cmdline: String,
    started: Instant,
    stdout: Arc<Capture>,
    stderr: Arc<Capture>,
    wake: UnixStream,
    stdin_hold: Option<ChildStdin>,
    readers: Vec<JoinHandle<()>>,
    reaped: bool,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. [`SIGINT`]); panics if kill(2) fails. The child is
    /// not reaped before `wait`, so its pid cannot have been recycled.
    pub fn signal(&self, sig: i32) {
        send_signal(self.pid(), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}) failed: {e}", self.pid()));
    }

    /// Waits until stdout contains `needle`; false on timeout or if stdout
    /// reached EOF without it.
    pub fn wait_stdout_contains(&self, needle: &[u8], timeout: Duration) -> bool {
        self.stdout
            .wait_for(timeout, |st| contains(&st.buf, needle))
    }

    /// As `wait_stdout_contains`, for stderr.
    pub fn wait_stderr_contains(&self, needle: &[u8], timeout: Duration) -> bool {
        self.stderr
            .wait_for(timeout, |st| contains(&st.buf, needle))
    }

    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.snapshot()
    }

    pub fn stderr_so_far(&self) -> Vec<u8> {
        self.stderr.snapshot()
    }

    fn wake_stdout_reader(&mut self) {
        // A full wake socket already guarantees a wake-up, so errors are moot.
        let _ = self.wake.write_all(b"x");
    }

    /// Drops our read end of stdout, like a downstream `| head` exiting.
    /// Returns once the pipe is actually closed: the child's next write to
    /// stdout fails with EPIPE/SIGPIPE.
    pub fn close_stdout(&mut self) {
        lock(&self.stdout.state).stop = true;
        self.wake_stdout_reader();
        if !self.stdout.wait_for(HARD_TIMEOUT, |st| st.done) {
            panic!("stdout reader did not stop within {HARD_TIMEOUT:?}");
        }
    }

    /// Like `| head -c n`: the reader drops the pipe once it holds `n`
    /// bytes (immediately if it already has). Bytes read before this call
    /// are kept; prefer [`Cmd::close_stdout_after`] to avoid that race.
    pub fn close_stdout_after(&mut self, n_bytes: usize) {
        lock(&self.stdout.state).limit = Some(n_bytes);
        self.wake_stdout_reader();
    }

    /// Waits for exit with a hard 30 s timeout; on timeout kills the child
    /// and panics with everything captured so far.
    pub fn wait(mut self) -> Output {
        let pid = self.pid();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            wait_exit_no_reap(pid);
            let _ = tx.send(());
        });
        let timed_out = match rx.recv_timeout(HARD_TIMEOUT) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => false,
            Err(RecvTimeoutError::Timeout) => {
                let _ = send_signal(pid, SIGKILL);
                true
            }
        };
        let status = self.reap();

        // Readers end at EOF once the child is gone; the cap only matters if
        // something else (a grandchild) inherited the pipes.
        let grace = Duration::from_secs(5);
        self.stdout.wait_for(grace, |st| st.done);
        self.stderr.wait_for(grace, |st| st.done);
        for r in self.readers.drain(..) {
            if r.is_finished() {
                let _ = r.join();
            }
        }

        let out = Output {
            status: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: self.stdout.snapshot(),
            stderr: self.stderr.snapshot(),
            cmdline: self.cmdline.clone(),
            elapsed: self.started.elapsed(),
        };
        if timed_out {
            panic!(
                "orstream did not exit within {HARD_TIMEOUT:?}; killed it.\n{}",
                out.report()
            );
        }
        out
    }

    fn reap(&mut self) -> Option<ExitStatus> {
        let status = self.child.wait();
        self.reaped = true;
        self.stdin_hold = None;
        status.ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked mid-way must not leave an orphan behind.
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        lock(&self.stdout.state).stop = true;
        let _ = self.wake.write_all(b"x");
    }
}

/// Result of a finished run.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, if the child exited normally.
    pub status: Option<i32>,
    /// Terminating signal, if it was killed by one.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub cmdline: String,
    /// From spawn to exit.
    pub elapsed: Duration,
}

impl Output {
    /// The exit code; panics with the full report if killed by a signal.
    pub fn code(&self) -> i32 {
        match self.status {
            Some(c) => c,
            None => panic!("process did not exit normally\n{}", self.report()),
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn assert_code(&self, expected: i32) -> &Self {
        if self.status != Some(expected) {
            panic!("expected exit code {expected}\n{}", self.report());
        }
        self
    }

    fn status_text(&self) -> String {
        match (self.status, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "unknown (wait failed)".to_string(),
        }
    }

    /// Everything needed to debug a failure, for panic messages.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nstatus: {} (after {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.status_text(),
            self.elapsed,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}

// ---------------------------------------------------------------------------
// Common runs and assertions
// ---------------------------------------------------------------------------

/// One clean answer, "Hi".
pub fn hi_reply() -> Reply {
    Reply::sse(&[&chunk("Hi"), &finish("stop"), DONE])
}

/// A server that answers one request with [`hi_reply`].
pub fn hi_server() -> Server {
    Server::start(vec![hi_reply()])
}

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

// ---------------------------------------------------------------------------
// Proving no connection; a forward proxy
// ---------------------------------------------------------------------------

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

/// A minimal forward proxy for one connection: it reports the request line it
/// got, answers `CONNECT` with 200 and tunnels to `origin`; an absolute-form
/// request is forwarded as-is. Returns the proxy's URL and the channel the
/// request line arrives on. (The [`Server`] cannot read again after it has
/// replied, which a tunnel needs.)
pub fn start_proxy(origin: SocketAddr) -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut client, _)) = listener.accept() else {
            return;
        };
        let _ = client.set_read_timeout(Some(HARD_TIMEOUT));
        // Byte by byte, so nothing after the head is swallowed.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match client.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let line = text.lines().next().unwrap_or("").to_string();
        let _ = tx.send(line.clone());
        let Ok(mut upstream) = TcpStream::connect(origin) else {
            return;
        };
        if line.starts_with("CONNECT ") {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
        } else if upstream.write_all(&head).is_err() {
            return;
        }
        let (mut c2, mut u2) = match (client.try_clone(), upstream.try_clone()) {
            (Ok(c), Ok(u)) => (c, u),
            _ => return,
        };
        thread::spawn(move || {
            let _ = io::copy(&mut c2, &mut u2);
            let _ = u2.shutdown(Shutdown::Write);
        });
        let _ = io::copy(&mut upstream, &mut client);
        let _ = client.shutdown(Shutdown::Write);
    });
    (url, rx)
}

// ---------------------------------------------------------------------------
// Temp files and directories
// ---------------------------------------------------------------------------

/// A fresh path under the temp dir ending in `-{tag}` (so a test can pick
/// the extension). The pid and one counter for the whole test binary make it
/// unique across parallel tests and across test binaries.
fn unique_temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "orstream-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// A file under the temp dir, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(tag: &str, contents: impl AsRef<[u8]>) -> TempFile {
        let path = unique_temp_path(tag);
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The full path as a command-line argument or in a message.
    pub fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh directory under the temp dir, removed with everything in it on
/// drop; files in it get the exact base names a test needs (`doc.pdf`,
/// `c.json`, …).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = unique_temp_path(tag);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `name` and returns its full path as a command-line argument.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path_arg(&path)
    }

    /// Writes `name` with `contents` and exactly `mode` (umask aside).
    pub fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write test file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("chmod test file");
        path
    }

    /// A sparse file: `head`, then zeros up to `len` bytes.
    pub fn sparse(&self, name: &str, head: &[u8], len: u64) -> PathBuf {
        let path = self.join(name);
        let mut f = std::fs::File::create(&path).expect("create sparse file");
        f.write_all(head).expect("write sparse head");
        f.set_len(len).expect("set_len");
        path
    }

    /// `name`'s contents, which must be UTF-8.
    pub fn read(&self, name: &str) -> String {
        let bytes = std::fs::read(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{name} is not UTF-8: {e}"))
    }

    /// `name`'s permission bits.
    pub fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.join(name)).expect("stat").mode() & 0o7777
    }

    pub fn ino(&self, name: &str) -> u64 {
        std::fs::metadata(self.join(name)).expect("stat").ino()
    }

    /// Every name in the directory (hidden ones too), sorted.
    pub fn list(&self) -> Vec<String> {
        list_dir(&self.0)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every name in `dir` (hidden ones too), sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A path as a command-line argument; temp paths are UTF-8.
pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}

// ---------------------------------------------------------------------------
// Signal masks in /proc
// ---------------------------------------------------------------------------

/// Whether `sig` is set in any of the masks named `fields` (`SigCgt`,
/// `SigIgn`, `SigPnd`, `ShdPnd`, …) in /proc/PID/status: kernel state no
/// channel reports, such as "the handler is installed now". Unreadable
/// (the process is gone): false.
pub fn in_signal_mask(pid: u32, fields: &[&str], sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| {
            let (name, hex) = l.split_once(':')?;
            fields.contains(&name).then_some(hex)
        })
        .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .any(|mask| mask & (1u64 << (sig - 1)) != 0)
}
