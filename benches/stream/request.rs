//! The server's side of a request: its head (answering
//! `Expect: 100-continue`), its `Content-Length` body, and the scenario its
//! path names.

use std::io::{self, Read, Write};

use crate::body::WRITE_SIZE;

/// The request line's path, the `User-Agent`, the `Content-Length`.
pub struct Request {
    pub path: String,
    pub agent: String,
    pub length: u64,
    /// The client sent `Expect: 100-continue` (curl does for a body over
    /// 1 MiB, and waits a second for the `100 Continue` before sending it).
    pub expect_continue: bool,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn bad(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// Reads the request line and headers (answering `Expect: 100-continue`);
/// returns them and the body bytes that came in the same reads.
pub fn read_head(sock: &mut (impl Read + Write)) -> io::Result<(Request, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut tmp)?;
        if n == 0 {
            return Err(bad("EOF in request head"));
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .ok_or_else(|| bad("no request line"))?
        .to_string();
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let length = header("content-length")
        .map(|v| v.parse::<u64>().map_err(|_| bad("Content-Length")))
        .transpose()?
        .unwrap_or(0);
    let agent = header("user-agent").unwrap_or("").to_string();
    let expect_continue = header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expect_continue {
        sock.write_all(CONTINUE)?;
    }
    let early = buf.split_off(head_end);
    let req = Request {
        path,
        agent,
        length,
        expect_continue,
    };
    Ok((req, early))
}

/// Reads the rest of a `length`-byte body (`early` came with the head) into
/// `sink`, in [`WRITE_SIZE`] reads; returns the bytes read, fewer than
/// `length` if the client closed first.
pub fn read_body(
    sock: &mut impl Read,
    early: &[u8],
    length: u64,
    sink: &mut impl Write,
) -> io::Result<u64> {
    let mut have = early.len() as u64;
    sink.write_all(early)?;
    let mut tmp = vec![0u8; WRITE_SIZE];
    while have < length {
        let want = (length - have).min(tmp.len() as u64) as usize;
        let n = sock.read(&mut tmp[..want])?;
        if n == 0 {
            break;
        }
        sink.write_all(&tmp[..n])?;
        have += n as u64;
    }
    Ok(have)
}

/// Reads the rest of `req`'s body and throws it away.
pub fn discard_body(sock: &mut impl Read, req: &Request, early: &[u8]) -> io::Result<()> {
    if read_body(sock, early, req.length, &mut io::sink())? < req.length {
        return Err(bad("EOF in request body"));
    }
    Ok(())
}

/// Reads the request line, headers and `Content-Length` body (discarded).
pub fn read_request(sock: &mut (impl Read + Write)) -> io::Result<Request> {
    let (req, early) = read_head(sock)?;
    discard_body(sock, &req, &early)?;
    Ok(req)
}

/// The path's segments before `/chat/completions` (none for any other path).
pub fn scenario(path: &str) -> Vec<&str> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.split_last_chunk::<2>() {
        Some((s, ["chat", "completions"])) => s.to_vec(),
        _ => Vec::new(),
    }
}

/// A number in a path segment.
pub fn num(s: &str) -> Option<u64> {
    s.parse().ok()
}
