//! The loopback SSE server (plain http and rustls TLS) that runs inside the
//! bench, its routes, and what it saw of each connection.
//!
//! The server is never the bottleneck: bodies are rendered once before timing
//! and written in 256 KiB writes; each connection has its own thread; the
//! whole request (headers and `Content-Length` body) is read before the
//! answer, which always has `Connection: close`.
//!
//! A second pair of listeners (http and TLS) is **serial**: the accepting
//! thread serves each connection itself, one after the other, so no thread
//! is created per connection and every client meets the same server path
//! ([`crate::suite_floor`], which runs one client at a time). It serves
//! `/bulk/N/F` only, never held.
//!
//! URL scheme (base URL; the client appends `/chat/completions`):
//! `/bulk/N/k32`, `/bulk/N/event` (`/bulk/N/F/ID`: hold the tail until the
//! bench releases ID), `/think/N/F` (the first half reasoning chunks),
//! `/drip/N/ID`, `/slow/ID`, `/attach/ID`. Over TLS only `/bulk` is served.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::body::{self, Body, Framing, RESPONSE_HEAD, WRITE_SIZE};
use crate::lock;
use crate::request::{discard_body, num, read_body, read_head, read_request, scenario, Request};

/// What the server saw of one connection, by the ID in its path.
#[derive(Default, Clone)]
pub struct ConnLog {
    /// Instant just before chunk `i` was written (`/drip`, `/slow`).
    pub sends: Vec<Instant>,
    /// First of: `read()` returned 0 or failed, or a write failed (`/slow`).
    pub closed: Option<Instant>,
    /// The bench let a held `/bulk` or `/attach` answer go.
    released: bool,
    /// `/attach/ID`: the request body as the server read it.
    upload: Option<Upload>,
    /// `/attach/ID`: copy the body into this file (set before the run).
    capture: Option<PathBuf>,
}

/// What the server read of an `/attach/ID` request body.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The `Content-Length` header.
    pub length: u64,
    /// Body bytes read before the client stopped sending, or the read error.
    pub received: Result<u64, String>,
    pub expect_continue: bool,
}

#[derive(Default)]
pub struct State {
    /// By chunk count, framing, and whether half of them are reasoning.
    bodies: Mutex<HashMap<(usize, Framing, bool), Arc<Body>>>,
    conns: Mutex<HashMap<u64, ConnLog>>,
    changed: Condvar,
    /// What each TLS client negotiated: "user agent: version, suite, group".
    pub tls_seen: Mutex<BTreeSet<String>>,
    /// TLS connections that failed before a request was read.
    pub tls_failures: Mutex<Vec<String>>,
}

impl State {
    /// The body of `n` chunks in `framing`, rendered on first use.
    pub fn body(&self, n: usize, framing: Framing) -> Arc<Body> {
        self.body_of(n, framing, false)
    }

    /// The same with reasoning chunks first (`/think`).
    fn body_of(&self, n: usize, framing: Framing, think: bool) -> Arc<Body> {
        lock(&self.bodies)
            .entry((n, framing, think))
            .or_insert_with(|| Arc::new(body::render(n, framing, think)))
            .clone()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut ConnLog)) {
        f(lock(&self.conns).entry(id).or_default());
        self.changed.notify_all();
    }

    fn log_send(&self, id: u64) {
        let now = Instant::now();
        lock(&self.conns).entry(id).or_default().sends.push(now);
    }

    fn mark_closed(&self, id: u64) {
        let now = Instant::now();
        self.update(id, |log| {
            log.closed.get_or_insert(now);
        });
    }

    fn is_closed(&self, id: u64) -> bool {
        lock(&self.conns)
            .get(&id)
            .is_some_and(|l| l.closed.is_some())
    }

    /// Lets a held `/bulk/N/F/ID` tail or `/attach/ID` answer go.
    pub fn release(&self, id: u64) {
        self.update(id, |log| log.released = true);
    }

    /// The server will copy `/attach/ID`'s body into `path`.
    pub fn capture_to(&self, id: u64, path: &Path) {
        lock(&self.conns).entry(id).or_default().capture = Some(path.to_path_buf());
    }

    fn take_capture(&self, id: u64) -> Option<PathBuf> {
        lock(&self.conns).get_mut(&id)?.capture.take()
    }

    /// Waits until `found` gives a value for connection `id`'s log; None
    /// after `timeout`, or as soon as `gone()` (checked every `slice`).
    fn wait_for<T>(
        &self,
        id: u64,
        timeout: Duration,
        slice: Duration,
        gone: impl Fn() -> bool,
        found: impl Fn(&ConnLog) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut conns = lock(&self.conns);
        loop {
            if let Some(v) = conns.get(&id).and_then(&found) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline || gone() {
                return None;
            }
            conns = self
                .changed
                .wait_timeout(conns, slice.min(deadline - now))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until `release(id)`; false after `timeout`.
    fn wait_released(&self, id: u64, timeout: Duration) -> bool {
        let found = |l: &ConnLog| l.released.then_some(());
        self.wait_for(id, timeout, timeout, || false, found)
            .is_some()
    }

    /// Waits until the server has read `/attach/ID`'s whole body (or the
    /// client stopped sending); None once `gone()` or after `timeout`. The
    /// 50 ms slices only matter when the client died.
    pub fn wait_upload(
        &self,
        id: u64,
        timeout: Duration,
        gone: impl Fn() -> bool,
    ) -> Option<Upload> {
        let slice = Duration::from_millis(50);
        self.wait_for(id, timeout, slice, gone, |l| l.upload.clone())
    }

    /// The log of connection `id` once it is closed (or after `timeout`).
    pub fn wait_closed(&self, id: u64, timeout: Duration) -> ConnLog {
        let found = |l: &ConnLog| l.closed.map(|_| l.clone());
        self.wait_for(id, timeout, timeout, || false, found)
            .unwrap_or_else(|| lock(&self.conns).get(&id).cloned().unwrap_or_default())
    }
}

pub struct Server {
    port: u16,
    /// The same scenarios over TLS (only `/bulk` is served there).
    tls_port: u16,
    /// The serial listeners (`/bulk/N/F` only), http and TLS.
    serial_ports: (u16, u16),
    pub state: Arc<State>,
}

/// A file under tests/fixtures.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The loopback server's TLS configuration: the test CA's localhost
/// certificate (tests/fixtures, as tests/tls.rs), ring, TLS 1.2 and 1.3.
fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("tests/fixtures/server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("tests/fixtures/server.pem");
    let key =
        PrivateKeyDer::from_pem_file(fixture("server.key")).expect("tests/fixtures/server.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("rustls server certificate");
    Arc::new(config)
}

/// Accepts on `listener` forever, one thread per connection.
fn accept_loop(listener: TcpListener, serve: impl Fn(TcpStream) + Clone + Send + 'static) {
    thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let serve = serve.clone();
            thread::spawn(move || serve(sock));
        }
    });
}

/// Accepts on `listener` forever and serves each connection on this one
/// thread, one after the other; a client silent for 10 s is dropped so it
/// cannot stop the listener.
fn serial_loop(listener: TcpListener, serve: impl Fn(TcpStream) + Send + 'static) {
    thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            if sock.set_read_timeout(Some(Duration::from_secs(10))).is_ok() {
                serve(sock);
            }
        }
    });
}

/// A listener on any port of 127.0.0.1, and its port.
fn any_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

impl Server {
    /// Listens on 127.0.0.1:`port` (0 = any) for http, on any port for TLS
    /// and for the serial pair.
    pub fn start(port: u16) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let st = state.clone();
        accept_loop(listener, move |sock| {
            let _ = handle(sock, &st);
        });
        let (tls_listener, tls_port) = any_port();
        let config = tls_config();
        let (st, cf) = (state.clone(), config.clone());
        accept_loop(tls_listener, move |sock| {
            if let Err(e) = handle_tls(sock, cf.clone(), &st) {
                lock(&st.tls_failures).push(e.to_string());
            }
        });
        let (serial, serial_port) = any_port();
        let st = state.clone();
        serial_loop(serial, move |sock| {
            let _ = handle_serial(sock, &st);
        });
        let (serial_tls, serial_tls_port) = any_port();
        let st = state.clone();
        serial_loop(serial_tls, move |sock| {
            if let Err(e) = handle_tls(sock, config.clone(), &st) {
                lock(&st.tls_failures).push(e.to_string());
            }
        });
        Server {
            port,
            tls_port,
            serial_ports: (serial_port, serial_tls_port),
            state,
        }
    }

    /// The serial http listener's port (`/bulk/N/F` only).
    pub fn serial_port(&self) -> u16 {
        self.serial_ports.0
    }

    /// `url` on the serial listeners.
    pub fn serial_url(&self, scenario: &str) -> String {
        format!("http://127.0.0.1:{}/{scenario}", self.serial_ports.0)
    }

    /// `tls_url` on the serial listeners.
    pub fn serial_tls_url(&self, scenario: &str) -> String {
        format!("https://127.0.0.1:{}/{scenario}", self.serial_ports.1)
    }

    pub fn url(&self, scenario: &str) -> String {
        format!("http://127.0.0.1:{}/{scenario}", self.port)
    }

    /// 127.0.0.1 is in the certificate's SAN, so no name lookup is involved.
    pub fn tls_url(&self, scenario: &str) -> String {
        format!("https://127.0.0.1:{}/{scenario}", self.tls_port)
    }
}

const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// `/bulk/N/F[/ID]`: the whole pre-rendered body (`/think/N/F`: half of it
/// reasoning); false for another path.
fn serve_bulk(sock: &mut impl Write, state: &State, scenario: &[&str]) -> io::Result<bool> {
    let [route @ ("bulk" | "think"), n, f, hold @ ..] = scenario else {
        return Ok(false);
    };
    let (Some(n), Some(f)) = (num(n), Framing::parse(f)) else {
        return Ok(false);
    };
    if hold.len() > 1 {
        return Ok(false);
    }
    let body = state.body_of(n as usize, f, *route == "think");
    sock.write_all(RESPONSE_HEAD)?;
    let (main, tail) = body.wire.split_at(body.tail_at);
    for piece in main.chunks(WRITE_SIZE) {
        sock.write_all(piece)?;
    }
    // `/bulk/N/F/ID`: hold the tail back until the bench has read the
    // child's peak RSS while it is still alive.
    if let Some(id) = hold.first().and_then(|id| num(id)) {
        state.wait_released(id, Duration::from_secs(20));
    }
    sock.write_all(tail)?;
    Ok(true)
}

/// One TLS connection: handshake, one request (only `/bulk`), close_notify.
fn handle_tls(tcp: TcpStream, config: Arc<rustls::ServerConfig>, state: &State) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let req = read_request(&mut tls)?;
    let agent = req.agent.split('/').next().unwrap_or("").to_string();
    lock(&state.tls_seen).insert(format!(
        "{agent}: {:?}, {:?}, {:?}",
        tls.conn
            .protocol_version()
            .unwrap_or(rustls::ProtocolVersion::Unknown(0)),
        tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
        tls.conn.negotiated_key_exchange_group().map(|g| g.name()),
    ));
    if !serve_bulk(&mut tls, state, &scenario(&req.path))? {
        tls.write_all(NOT_FOUND)?;
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    let _ = tls.sock.shutdown(Shutdown::Write);
    Ok(())
}

/// `/attach/ID`: reads the whole body (copied to the capture file if the
/// bench asked for one, else dropped as it comes, never held), logs its
/// size, holds the answer until the bench has read the child's peak RSS,
/// then answers the 20-chunk stream.
fn serve_attach(
    sock: &mut TcpStream,
    state: &State,
    id: u64,
    req: &Request,
    early: &[u8],
) -> io::Result<()> {
    let received = match state.take_capture(id) {
        Some(path) => File::create(&path).and_then(|f| {
            let mut f = io::BufWriter::with_capacity(WRITE_SIZE, f);
            let n = read_body(sock, early, req.length, &mut f)?;
            f.flush()?;
            Ok(n)
        }),
        None => read_body(sock, early, req.length, &mut io::sink()),
    };
    let complete = matches!(received, Ok(n) if n == req.length);
    let upload = Upload {
        length: req.length,
        received: received.map_err(|e| e.to_string()),
        expect_continue: req.expect_continue,
    };
    state.update(id, |log| log.upload = Some(upload));
    if !complete {
        return Ok(());
    }
    state.wait_released(id, Duration::from_secs(20));
    sock.write_all(RESPONSE_HEAD)?;
    sock.write_all(&state.body(20, Framing::K32).wire)?;
    let _ = sock.shutdown(Shutdown::Write);
    Ok(())
}

/// `/drip/N/ID`: `n` token chunks, one every 10 ms, each send logged.
fn serve_drip(sock: &mut TcpStream, state: &State, n: u64, id: u64) -> io::Result<()> {
    sock.write_all(RESPONSE_HEAD)?;
    let start = Instant::now();
    for i in 0..n {
        sleep_until(start + Duration::from_millis(10 * i));
        let frame = body::token_frame(i);
        state.log_send(id);
        sock.write_all(&frame)?;
    }
    sock.write_all(&body::tail_frames())
}

/// `/slow/ID`: a token chunk every 20 ms until the client goes (or 60 s),
/// logging each send and the moment the close is seen.
fn serve_slow(sock: &mut TcpStream, state: &Arc<State>, id: u64) -> io::Result<()> {
    sock.write_all(RESPONSE_HEAD)?;
    // A thread blocked in read() sees the client's FIN (0) or RST (error)
    // the moment it arrives.
    let mut reader = sock.try_clone()?;
    let st = state.clone();
    thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok(1..) = reader.read(&mut b) {}
        st.mark_closed(id);
    });
    let start = Instant::now();
    for i in 0u64.. {
        if state.is_closed(id) || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        let frame = body::token_frame(i);
        state.log_send(id);
        if sock.write_all(&frame).is_err() {
            state.mark_closed(id);
            break;
        }
        sleep_until(start + Duration::from_millis(20 * (i + 1)));
    }
    Ok(())
}

/// One plain-http connection to the serial listener: `/bulk/N/F` only (a
/// held tail would stop the listener).
fn handle_serial(mut sock: TcpStream, state: &State) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let req = read_request(&mut sock)?;
    let scenario = scenario(&req.path);
    if scenario.len() != 3 || !serve_bulk(&mut sock, state, &scenario)? {
        sock.write_all(NOT_FOUND)?;
    }
    sock.shutdown(Shutdown::Write)
}

/// One plain-http connection: one request, routed by its path.
fn handle(mut sock: TcpStream, state: &Arc<State>) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let (req, early) = read_head(&mut sock)?;
    let scenario = scenario(&req.path);
    if let ["attach", id] = scenario.as_slice() {
        if let Some(id) = num(id) {
            return serve_attach(&mut sock, state, id, &req, &early);
        }
    }
    discard_body(&mut sock, &req, &early)?;
    if serve_bulk(&mut sock, state, &scenario)? {
        let _ = sock.shutdown(Shutdown::Write);
        return Ok(());
    }
    let ids: Vec<Option<u64>> = scenario.iter().skip(1).map(|s| num(s)).collect();
    match (scenario.first().copied(), ids.as_slice()) {
        (Some("drip"), [Some(n), Some(id)]) => serve_drip(&mut sock, state, *n, *id)?,
        (Some("slow"), [Some(id)]) => return serve_slow(&mut sock, state, *id),
        _ => sock.write_all(NOT_FOUND)?,
    }
    let _ = sock.shutdown(Shutdown::Write);
    Ok(())
}
