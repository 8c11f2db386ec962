//! The scripted loopback HTTP/1.1 server. Every accepted connection gets
//! the next [`Reply`] (a list of [`Step`]s), so a test controls exactly where
//! write boundaries, stalls and closes happen. Everything the server observes
//! is recorded as [`Received`] and also reported over channels, so tests can
//! *wait* for an event instead of sleeping and hoping.

use super::{lock, HARD_TIMEOUT};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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
