//! A loopback listener that a TCP connect hangs on (SYN_SENT), and how to
//! see from /proc/net/tcp that a client is stuck there.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::child::listen;

/// A loopback listener whose accept queue is full and never drained, so a
/// new TCP connect to it hangs in SYN_SENT (Linux drops a SYN while the
/// accept queue is full). `listen(fd, 0)` shrinks std's backlog so that one
/// queued connection fills it. As `HungListener` in tests/cancel.rs.
pub struct HungListener {
    pub port: u16,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl HungListener {
    pub fn new() -> HungListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        // SAFETY: listen(2) on a socket we own; no memory involved.
        let r = unsafe { listen(listener.as_raw_fd(), 0) };
        assert_eq!(r, 0, "listen(fd, 0): {}", io::Error::last_os_error());
        let mut fillers = Vec::new();
        for _ in 0..300 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fillers.push(s),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    return HungListener {
                        port: addr.port(),
                        _listener: listener,
                        _fillers: fillers,
                    };
                }
                Err(e) => panic!("cannot make a loopback connect hang: {e}"),
            }
        }
        panic!("cannot make a loopback connect hang: 300 connects all succeeded");
    }

    /// Whether some socket is in SYN_SENT towards this listener
    /// (/proc/net/tcp: remote address `0100007F:PPPP`, state `02`).
    pub fn syn_sent(&self) -> bool {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            return false;
        };
        let want = format!("0100007F:{:04X}", self.port);
        table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2] == want && f[3] == "02"
        })
    }
}
