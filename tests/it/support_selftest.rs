//! Self-tests for the scripted test server in `support::server`, driven by a
//! raw `TcpStream` client so they do not depend on the `orstream` binary.

use crate::support::*;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s
}

fn post(server: &Server, body: &str) -> TcpStream {
    let mut s = connect(server);
    write!(
        s,
        "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

fn read_to_end(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read response");
    String::from_utf8(out).unwrap()
}

/// Reads until `needle` has arrived (the server writes in pieces).
fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let n = s.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "EOF before {needle:?}; got {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn records_request_with_headers_and_body() {
    let server = Server::start(vec![Reply::json(200, "{}")]);
    let s = post(&server, r#"{"model":"a/b","stream":true}"#);

    let req = server.wait_request(T).expect("request recorded");
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1/chat/completions");
    assert_eq!(req.header("authorization"), Some("Bearer k"));
    assert_eq!(req.header("CONTENT-TYPE"), Some("application/json"));
    assert_eq!(req.json()["model"], "a/b");
    assert_eq!(req.json()["stream"], true);
    assert!(!req.unscripted);

    let resp = read_to_end(s);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Content-Length: 2\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\n{}"), "{resp}");
    assert!(server.wait_idle(T));
    let all = server.received();
    assert_eq!(all.len(), 1);
    assert!(all[0].finished_script_at.is_some());
    assert_eq!(server.connections(), 1);
}

#[test]
fn decodes_chunked_request_body() {
    let server = Server::start(vec![Reply::json(200, "{}")]);
    let mut s = connect(&server);
    s.write_all(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: y\r\n\r\n",
    )
    .unwrap();
    let req = server.wait_request(T).expect("request recorded");
    assert_eq!(req.body_str(), "hello world");
    drop(read_to_end(s));
}

#[test]
fn sse_uses_chunked_framing_one_chunk_per_event() {
    let c = chunk("hi");
    let server = Server::start(vec![Reply::sse(&[&c, DONE])]);
    let resp = read_to_end(post(&server, "{}"));

    let (head, body) = resp.split_once("\r\n\r\n").expect("head/body split");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    let expected = format!(
        "{:x}\r\n{c}\r\n{:x}\r\n{DONE}\r\n0\r\n\r\n",
        c.len(),
        DONE.len()
    );
    assert_eq!(body, expected);
}

#[test]
fn sse_abrupt_omits_terminating_chunk() {
    let server = Server::start(vec![Reply::sse_abrupt(&["data: x\n\n"])]);
    let resp = read_to_end(post(&server, "{}"));
    assert!(resp.ends_with("9\r\ndata: x\n\n\r\n"), "{resp:?}");
}

#[test]
fn close_delimited_sse_has_no_framing() {
    let server = Server::start(vec![Reply::sse_close_delimited(&["data: a\n\n", DONE])]);
    let resp = read_to_end(post(&server, "{}"));
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, format!("data: a\n\n{DONE}"));
}

#[test]
fn status_reply_carries_extra_headers() {
    let server = Server::start(vec![Reply::status(
        429,
        "text/plain",
        "slow down",
        &[("Retry-After", "1")],
    )]);
    let resp = read_to_end(post(&server, "{}"));
    assert!(
        resp.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{resp}"
    );
    assert!(resp.contains("\r\nRetry-After: 1\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nslow down"), "{resp}");
}

#[test]
fn wait_for_client_close_records_the_close() {
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write("data: a\n\n"), Step::WaitForClientClose],
        SseEnd::Abrupt,
    )]);
    let mut s = post(&server, "{}");
    read_until(&mut s, "data: a");
    assert!(server.wait_close(Duration::from_millis(50)).is_none());
    drop(s);

    let closed = server.wait_close(T).expect("close observed");
    assert!(server.wait_idle(T));
    let rec = &server.received()[0];
    assert_eq!(rec.client_closed_at, Some(closed));
    assert!(rec.finished_script_at.is_some());
    assert_eq!(rec.write_error, None);
}

#[test]
fn hold_stalls_until_client_closes() {
    let server = Server::start(vec![Reply::sse_hold(&["data: a\n\n"])]);
    let mut s = post(&server, "{}");
    read_until(&mut s, "data: a");
    // Stalled: nothing more arrives.
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = s.read(&mut buf).expect_err("no data during a stall");
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    s.shutdown(Shutdown::Both).unwrap();
    assert!(server.wait_close(T).is_some());
}

#[test]
fn wait_signal_gates_the_script() {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write("data: first\n\n"),
        Step::WaitSignal,
        Step::write("data: second\n\n"),
    ])]);
    let mut s = post(&server, "{}");
    let got = read_until(&mut s, "data: first");
    assert!(!got.contains("second"));
    server.release();
    let rest = read_to_end(s);
    assert!(rest.contains("data: second"), "{rest:?}");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
}

#[test]
fn write_to_departed_client_records_write_error() {
    let big = "x".repeat(64 * 1024);
    let mut steps = vec![Step::write("data: a\n\n"), Step::WaitSignal];
    for _ in 0..20 {
        steps.push(Step::write(big.clone()));
        steps.push(Step::Pause(Duration::from_millis(10)));
    }
    let server = Server::start(vec![Reply::sse_steps(steps)]);
    let mut s = post(&server, "{}");
    read_until(&mut s, "data: a");
    drop(s);
    server.release();

    let closed = server.wait_close(T).expect("failed write observed");
    assert!(server.wait_idle(T));
    let rec = &server.received()[0];
    assert!(rec.write_error.is_some(), "{rec:?}");
    assert_eq!(rec.client_closed_at, Some(closed));
    assert_eq!(rec.finished_script_at, None);
}

#[test]
fn unscripted_connection_gets_599_and_is_recorded() {
    let server = Server::start(vec![Reply::json(200, "{}")]);
    drop(read_to_end(post(&server, "{}")));
    let resp = read_to_end(post(&server, "{}"));
    assert_eq!(resp, "HTTP/1.1 599 Unscripted\r\nContent-Length: 0\r\n\r\n");

    assert!(server.wait_request(T).is_some_and(|r| !r.unscripted));
    let second = server.wait_request(T).expect("unscripted request recorded");
    assert!(second.unscripted);
    assert_eq!(second.index, 1);
    assert_eq!(server.connections(), 2);
    assert_eq!(server.unused_replies(), 0);
}

#[test]
fn replies_are_served_in_connection_order() {
    let server = Server::start(vec![Reply::json(500, "first"), Reply::json(200, "second")]);
    assert!(read_to_end(post(&server, "{}")).ends_with("first"));
    assert!(read_to_end(post(&server, "{}")).ends_with("second"));
}

#[test]
fn chunk_helpers_produce_valid_json_events() {
    let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} é 🦀";
    let parse = |event: &str| -> serde_json::Value {
        let data = event
            .strip_prefix("data: ")
            .and_then(|e| e.strip_suffix("\n\n"))
            .expect("one SSE data event");
        serde_json::from_str(data).expect("valid JSON")
    };

    let v = parse(&chunk(tricky));
    assert_eq!(v["choices"][0]["delta"]["content"], tricky);
    assert_eq!(v["choices"][0]["finish_reason"], serde_json::Value::Null);
    assert_eq!(v["model"], "test/model");

    let v = parse(&finish("stop"));
    assert_eq!(v["choices"][0]["delta"]["content"], "");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let v = parse(&usage_chunk());
    assert_eq!(v["choices"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["usage"]["total_tokens"], 15);
    assert_eq!(v["usage"]["cost"], 0.00012);

    // Newlines in content are escaped: only the event terminator remains.
    assert_eq!(chunk("a\nb").matches('\n').count(), 2);
}
