//! Loopback peers the scripted `Server` cannot play: a forward proxy, a
//! listener whose connects hang, a port nobody listens on, and reading a
//! request head by hand for servers written inside a test.

use super::{orstream, sys, wait_until, Cmd, Server, HARD_TIMEOUT};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// Reads a request head up to its blank line, one byte at a time, so that
/// not one byte of the body is taken off the socket.
pub fn read_head(s: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "closed in the head",
            ));
        }
        head.push(b[0]);
    }
    Ok(head)
}

/// A minimal forward proxy for one connection: it reports the request line it
/// got, answers `CONNECT` with 200 and tunnels to `origin`; an absolute-form
/// request is forwarded as-is. Returns the proxy's URL and the channel the
/// request line arrives on. (The `Server` cannot read again after it has
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
        let Ok(head) = read_head(&mut client) else {
            return;
        };
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

/// OpenRouter's API root, spelled for plain http so a proxy can tunnel it.
pub const OPENROUTER_HTTP: &str = "http://openrouter.ai/api/v1";

/// `orstream --base-url http://openrouter.ai/api/v1`, reaching `origin`
/// through a one-connection loopback proxy (no traffic leaves the machine):
/// the run follows OpenRouter's rules (its host decides them).
pub fn orstream_at_openrouter(origin: &Server) -> Cmd {
    let (proxy, _requests) = start_proxy(origin.addr());
    orstream()
        .args(["--base-url", OPENROUTER_HTTP])
        .env("HTTP_PROXY", proxy)
}

/// A port on 127.0.0.1 that nothing listens on.
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// A loopback listener whose accept queue is full and never drained, so a
/// new TCP connect to it hangs in SYN_SENT (Linux drops the SYN while the
/// accept queue is full). A backlog of 0 lets one queued connection fill it.
pub struct HungListener {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl HungListener {
    pub fn new() -> HungListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        sys::set_backlog(&listener, 0);
        let mut fillers = Vec::new();
        for _ in 0..300 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fillers.push(s),
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    return HungListener {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    };
                }
                Err(e) => panic!("cannot make a loopback connect hang: connect failed: {e}"),
            }
        }
        panic!("cannot make a loopback connect hang: 300 connects all succeeded");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits up to `timeout` until a connect to us is in progress (SYN_SENT).
    pub fn wait_connecting(&self, timeout: Duration) -> bool {
        wait_until(timeout, || syn_sent_to(self.addr.port()))
    }
}

/// Whether some socket is in SYN_SENT towards 127.0.0.1:`port`
/// (/proc/net/tcp: remote address `0100007F:PPPP`, state `02`).
fn syn_sent_to(port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let want = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[2] == want && f[3] == "02"
    })
}
