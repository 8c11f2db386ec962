//! Many prompts (SPEC §12): `--each FILE` against a server that answers by
//! the item it is asked about — so concurrency cannot shuffle the script —
//! and counts what is in flight, when requests arrive and when they close.

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// How the server answers an item, told by the item's text.
#[derive(Clone)]
pub(crate) enum Act {
    /// A clean answer echoing the text, with this cost.
    Answer(f64),
    /// Waits for [`ItemServer::release`], then answers.
    Wait,
    /// A status with a `Retry-After` of this many seconds.
    Status(u16, u64),
    /// A status with no `Retry-After`.
    Bare(u16),
    /// Streams a first delta, then holds the connection open.
    Hold,
}

pub(crate) struct Seen {
    /// The item's text as it arrived, and when.
    pub(crate) arrivals: Vec<(String, Instant)>,
    pub(crate) in_flight: usize,
    max_in_flight: usize,
    /// Connections the client closed while held.
    pub(crate) closed: usize,
}

struct State {
    seen: Mutex<Seen>,
    changed: Condvar,
    released: AtomicBool,
    count: AtomicUsize,
}

/// A loopback server that answers each request by its last user message.
pub(crate) struct ItemServer {
    url: String,
    state: Arc<State>,
}

impl ItemServer {
    pub(crate) fn start(act: impl Fn(&str) -> Act + Send + Sync + 'static) -> ItemServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            seen: Mutex::new(Seen {
                arrivals: Vec::new(),
                in_flight: 0,
                max_in_flight: 0,
                closed: 0,
            }),
            changed: Condvar::new(),
            released: AtomicBool::new(false),
            count: AtomicUsize::new(0),
        });
        let act = Arc::new(act);
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, act) = (shared.clone(), act.clone());
                std::thread::spawn(move || serve(stream, &state, &*act));
            }
        });
        ItemServer { url, state }
    }

    pub(crate) fn release(&self) {
        self.state.released.store(true, Ordering::SeqCst);
        self.state.changed.notify_all();
    }

    /// Waits until `pred` holds for what the server saw.
    pub(crate) fn wait(&self, pred: impl Fn(&Seen) -> bool) -> bool {
        self.wait_for(T, pred)
    }

    /// [`ItemServer::wait`] for at most `timeout`.
    pub(crate) fn wait_for(&self, timeout: Duration, pred: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut seen = self.state.seen.lock().unwrap();
        while !pred(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = self.state.changed.wait_timeout(seen, left).unwrap().0;
        }
        true
    }

    pub(crate) fn arrivals(&self) -> Vec<(String, Instant)> {
        self.state.seen.lock().unwrap().arrivals.clone()
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.seen.lock().unwrap().max_in_flight
    }

    pub(crate) fn requests(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, state: &State, act: &dyn Fn(&str) -> Act) {
    let Some(text) = read_prompt(&mut stream) else {
        return;
    };
    state.count.fetch_add(1, Ordering::SeqCst);
    {
        let mut seen = state.seen.lock().unwrap();
        seen.arrivals.push((text.clone(), Instant::now()));
        seen.in_flight += 1;
        seen.max_in_flight = seen.max_in_flight.max(seen.in_flight);
    }
    state.changed.notify_all();
    let answer = |cost: f64| {
        format!(
            "{}{}{}",
            c(&format!("echo: {text}")),
            ev(&format!(
                r#"{{"choices":[{{"delta":{{}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":1,"completion_tokens":2,"cost":{cost}}}}}"#
            )),
            DONE
        )
    };
    let sse = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match act(&text) {
        Act::Answer(cost) => sse(&answer(cost)),
        Act::Wait => {
            let mut seen = state.seen.lock().unwrap();
            while !state.released.load(Ordering::SeqCst) {
                seen = state.changed.wait_timeout(seen, T).unwrap().0;
            }
            drop(seen);
            sse(&answer(0.0))
        }
        Act::Status(code, after) => status(code, &format!("Retry-After: {after}\r\n")),
        Act::Bare(code) => status(code, ""),
        Act::Hold => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(format!("{head}{}", c("partial")).as_bytes());
            // Held until the client closes.
            let mut buf = [0u8; 64];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            state.seen.lock().unwrap().closed += 1;
            String::new()
        }
    };
    let _ = stream.write_all(reply.as_bytes());
    drop(stream);
    state.seen.lock().unwrap().in_flight -= 1;
    state.changed.notify_all();
}

/// An error `code` as JSON, `headers` (each ending in CRLF) after the usual.
fn status(code: u16, headers: &str) -> String {
    let body = format!(r#"{{"error":{{"message":"status {code}","code":{code}}}}}"#);
    format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one request and returns its last message's text.
fn read_prompt(stream: &mut TcpStream) -> Option<String> {
    read_prompt_from(&mut BufReader::new(stream.try_clone().ok()?))
}

/// The same from a reader that stays with its connection.
fn read_prompt_from(reader: &mut impl BufRead) -> Option<String> {
    let mut len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let messages = json["messages"].as_array()?;
    Some(messages.last()?["content"].as_str()?.to_string())
}

/// A server that keeps its connections: it answers request after request
/// on each (chunked, no `Connection: close`) and counts the connections.
/// With `hold`, a body never ends after `[DONE]`: no last chunk, the
/// connection held open until the client closes it.
fn keep_alive_server(hold: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve_keep_alive(stream, hold));
        }
    });
    (url, count)
}

fn serve_keep_alive(stream: TcpStream, hold: bool) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut out = stream;
    while let Some(text) = read_prompt_from(&mut reader) {
        let events = format!("{}{}{}", c(&format!("echo: {text}")), finish("stop"), DONE);
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n",
            events.len()
        );
        if !hold {
            reply.push_str("0\r\n\r\n");
        }
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
        if hold {
            let mut buf = [0u8; 64];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
            return;
        }
    }
}

pub(crate) fn each(server: &ItemServer, file: &str) -> Cmd {
    orstream().args(["--base-url", &server.url, "--each", file])
}

/// Each stdout line as JSON.
pub(crate) fn objects(out: &Output) -> Vec<serde_json::Value> {
    out.stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", out.report())))
        .collect()
}

pub(crate) fn lines_of(objects: &[serde_json::Value]) -> Vec<u64> {
    objects
        .iter()
        .map(|o| o["line"].as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Items, objects, order
// ---------------------------------------------------------------------------

#[test]
fn one_object_per_item_in_line_order_even_when_the_first_is_slow() {
    let server = ItemServer::start(|text| {
        if text.starts_with("slow") {
            Act::Wait
        } else {
            Act::Answer(0.0)
        }
    });
    let dir = TempDir::new("each-order");
    let file = dir.file("in.txt", "slow one\nfast two\n\n \t\nfast three\r\n");
    let run = each(&server, &file).spawn();
    // The fast items finish first, but nothing is written before line 1.
    assert!(server.wait(|s| s.arrivals.len() == 3 && s.in_flight == 1));
    assert!(run.stdout_so_far().is_empty(), "line 1 not ended yet");
    server.release();
    let out = run.wait();
    out.assert_code(0);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2, 5]);
    let first = out.stdout_str().lines().next().unwrap().to_string();
    assert!(
        first.starts_with(
            r#"{"line":1,"id":null,"text":"echo: slow one","finish_reason":"stop","exit":0,"#
        ),
        "{first}"
    );
    assert_eq!(
        objects[2]["text"], "echo: fast three",
        "the \\r\\n is a line end"
    );
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 3 done, 0 failed\n",
        "{}",
        out.report()
    );
}

#[test]
fn prompt_words_follow_each_line_as_if_piped() {
    let server = ItemServer::start(|_| Act::Answer(0.0));
    let dir = TempDir::new("each-words");
    let file = dir.file(
        "in.txt",
        "  great product  \n{\"text\":\"x \",\"id\":[1,\"a\"]}\n",
    );
    let out = each(&server, &file)
        .args(["Sentiment?", "One", "word."])
        .run();
    out.assert_code(0);
    let objects = objects(&out);
    assert_eq!(
        objects[0]["text"],
        "echo:   great product\n\nSentiment? One word."
    );
    assert_eq!(objects[1]["text"], "echo: x\n\nSentiment? One word.");
    assert_eq!(objects[1]["id"], serde_json::json!([1, "a"]));
    let out = each(&server, &file).run();
    assert_eq!(
        objects_of_text(&out),
        ["echo:   great product  ", "echo: x "]
    );
}

fn objects_of_text(out: &Output) -> Vec<String> {
    objects(out)
        .iter()
        .map(|o| o["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_bad_item_fails_alone_and_the_first_failure_decides() {
    let server = ItemServer::start(|text| match text {
        "rejected" => Act::Status(400, 0),
        _ => Act::Answer(0.0),
    });
    let dir = TempDir::new("each-bad");
    let file = dir.file(
        "in.txt",
        b"ok\n{\"text\":\"a\",\"extra\":1}\nrejected\ncaf\xe9\n{\"id\":9}\n{broken\nok\n"
            .as_slice(),
    );
    let out = each(&server, &file).run();
    out.assert_code(2);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2, 3, 4, 5, 6, 7]);
    let exits: Vec<u64> = objects
        .iter()
        .map(|o| o["exit"].as_u64().unwrap())
        .collect();
    assert_eq!(exits, [0, 2, 5, 2, 2, 2, 0]);
    assert_eq!(objects[1]["error"], "the item has an unknown key \"extra\"");
    assert_eq!(
        objects[3]["error"],
        "the line is not valid UTF-8 (first bad byte at offset 3)"
    );
    assert_eq!(objects[4]["id"], 9);
    assert!(
        objects[2]["error"].as_str().unwrap().starts_with("400"),
        "{}",
        objects[2]
    );
    assert_eq!(server.requests(), 3, "bad items send nothing");
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 2 done, 5 failed (lines 2, 3, 4, 5, 6)\n",
        "no orstream: error: line: the summary stands for it"
    );
}

#[test]
fn the_summary_names_ten_lines_at_most() {
    let server = ItemServer::start(|_| Act::Status(400, 0));
    let dir = TempDir::new("each-ten");
    let items: String = (1..=12).map(|i| format!("item {i}\n")).collect();
    let file = dir.file("in.txt", items);
    let out = each(&server, &file).run();
    out.assert_code(5);
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 0 done, 12 failed (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …)\n"
    );
    let out = each(&server, &file).arg("-q").run();
    assert_eq!(out.stderr_str(), "", "-q: no summary");
}

#[test]
fn usage_totals_and_traces_by_line() {
    let server = ItemServer::start(|_| Act::Answer(0.25));
    let dir = TempDir::new("each-u");
    let file = dir.file("in.txt", "a\nb\n");
    let out = each(&server, &file).args(["-u", "-v", "-P", "1"]).run();
    out.assert_code(0);
    let err = out.stderr_str();
    assert!(err.contains("orstream: [line 1] > POST "), "{err}");
    assert!(err.contains("orstream: [line 2] < 200 OK"), "{err}");
    assert!(
        err.ends_with("orstream: each: 2 done, 0 failed\norstream: usage: 2 items, 2 prompt tokens, 4 completion tokens, $0.500000\n"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// In flight, the shared rate limit
// ---------------------------------------------------------------------------

#[test]
fn no_more_than_n_in_flight() {
    let server = ItemServer::start(|_| Act::Wait);
    let dir = TempDir::new("each-cap");
    let items: String = (1..=9).map(|i| format!("item {i}\n")).collect();
    let file = dir.file("in.txt", items);
    let run = each(&server, &file).args(["-P", "3"]).spawn();
    assert!(server.wait(|s| s.in_flight == 3), "three in flight");
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert_eq!(server.max_in_flight(), 3, "never more than -P");
    assert_eq!(objects(&out).len(), 9);
}

#[test]
fn a_429_pauses_every_new_request_for_its_retry_after() {
    throttled_by(429);
}

#[test]
fn a_503_pauses_every_new_request_for_its_retry_after() {
    throttled_by(503);
}

/// A `status` with `Retry-After: 1` on the first item at `-P 1`: it is
/// retried first, and no request at all starts for that second.
fn throttled_by(status: u16) {
    let first = Arc::new(AtomicBool::new(true));
    let server = ItemServer::start(move |text| {
        if text == "limited" && first.swap(false, Ordering::SeqCst) {
            Act::Status(status, 1)
        } else {
            Act::Answer(0.0)
        }
    });
    let dir = TempDir::new("each-429");
    let file = dir.file("in.txt", "limited\nb\nc\nd\n");
    let out = each(&server, &file).args(["-P", "1"]).run();
    out.assert_code(0);
    let arrivals = server.arrivals();
    let names: Vec<&str> = arrivals.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        ["limited", "limited", "b", "c", "d"],
        "retried first"
    );
    let throttled_at = arrivals[0].1;
    for (text, at) in &arrivals[1..] {
        assert!(
            at.duration_since(throttled_at) >= Duration::from_millis(950),
            "{text} started {:?} after the {status}",
            at.duration_since(throttled_at)
        );
    }
}

#[test]
fn a_429_on_one_item_holds_back_the_other_items() {
    let first = Arc::new(AtomicBool::new(true));
    let server = ItemServer::start(move |text| match text {
        "limited" if first.swap(false, Ordering::SeqCst) => Act::Status(429, 1),
        "waits" => Act::Wait,
        _ => Act::Answer(0.0),
    });
    let dir = TempDir::new("each-429-shared");
    let file = dir.file("in.txt", "limited\nwaits\nthird\n");
    let run = each(&server, &file).args(["-P", "2", "-v"]).spawn();
    // Line 1 got its 429 and waits to retry; line 2 is in flight.
    assert!(run.wait_stderr_contains(b"[line 1] * retry 1/2 in 1.00 s", T));
    let throttled_at = server.arrivals()[0].1;
    // Line 2 ends: its worker takes line 3, which must wait out line 1's
    // Retry-After although nothing is wrong with it.
    server.release();
    let out = run.wait();
    out.assert_code(0);
    let arrivals = server.arrivals();
    let third = arrivals.iter().find(|(t, _)| t == "third").unwrap().1;
    assert!(
        third.duration_since(throttled_at) >= Duration::from_millis(950),
        "line 3 started {:?} after line 1's 429",
        third.duration_since(throttled_at)
    );
    assert_eq!(lines_of(&objects(&out)), [1, 2, 3]);
}

// ---------------------------------------------------------------------------
// Budget and resume
// ---------------------------------------------------------------------------

#[test]
fn the_budget_stops_new_items_and_exits_9() {
    let server = ItemServer::start(|_| Act::Answer(0.4));
    let dir = TempDir::new("each-budget");
    let file = dir.file("in.txt", "a\nb\nc\n\nd\ne\n");
    let out = each(&server, &file)
        .args(["-P", "1", "--max-cost", "0.8"])
        .run();
    out.assert_code(9);
    assert_eq!(lines_of(&objects(&out)), [1, 2]);
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 2 done, 0 failed, 3 not started (--max-cost)\n"
    );
    assert_eq!(server.requests(), 2);
}

#[test]
fn resume_skips_what_succeeded_and_finishes_the_rest() {
    let fail_once = Arc::new(AtomicBool::new(true));
    let server = ItemServer::start(move |text| {
        if text == "b" && fail_once.swap(false, Ordering::SeqCst) {
            Act::Status(400, 0)
        } else {
            Act::Answer(0.0)
        }
    });
    let dir = TempDir::new("each-resume");
    let file = dir.file("in.txt", "a\nb\nc\n");
    let first = each(&server, &file).run();
    first.assert_code(5);
    let results = dir.file("out.jsonl", format!("garbage\n{}", first.stdout_str()));
    let second = each(&server, &file).args(["--resume", &results]).run();
    second.assert_code(0);
    assert_eq!(
        lines_of(&objects(&second)),
        [2],
        "only the failed line again"
    );
    assert_eq!(server.requests(), 4);

    let out = each(&server, &file)
        .args(["--resume", "/no/such/results"])
        .run();
    out.assert_code(2);
    assert_stdout(&out, b"");
}

// ---------------------------------------------------------------------------
// Conflicts, stdin, signals, a closed stdout
// ---------------------------------------------------------------------------

#[test]
fn conflicts_are_usage_errors_before_any_request() {
    let server = ItemServer::start(|_| Act::Answer(0.0));
    let dir = TempDir::new("each-conflicts");
    let file = dir.file("in.txt", "a\n");
    for args in [
        &["-c", "c.json"][..],
        &["--json"],
        &["--from-sse", "x.sse"],
        &["--list-models"],
        &["-a", "-"],
        &["--request", "-"],
        &["-P", "0"],
        &["-P", "65"],
        &["--max-cost", "-1"],
    ] {
        let out = each(&server, &file).args(args).stdin("x").run();
        out.assert_code(2);
        let (line, _) = error_lines(&out);
        assert!(line.starts_with("orstream: error: "), "{args:?}: {line}");
    }
    assert_eq!(server.requests(), 0);
    let out = orstream()
        .args(["--base-url", &server.url, "--each", "-"])
        .stdin_terminal()
        .run();
    out.assert_code(2);
    assert!(out.stderr_str().contains("--each -: stdin is a terminal"));
}

#[test]
fn items_from_stdin() {
    let server = ItemServer::start(|_| Act::Answer(0.0));
    let out = orstream()
        .args(["--base-url", &server.url, "--each", "-"])
        .stdin("one\ntwo\n")
        .run();
    out.assert_code(0);
    assert_eq!(objects_of_text(&out), ["echo: one", "echo: two"]);
}

#[test]
fn sigint_closes_every_connection_and_keeps_what_was_written() {
    signal_closes_every_connection(SIGINT);
}

/// SPEC §12: "Ctrl-C (and SIGTERM, SIGHUP) closes every connection at
/// once; objects already written stay, items in flight get none; exit
/// 130". A signal left to its default would kill the run (no exit code);
/// one handled without closing the connections would leave them held.
pub(crate) fn signal_closes_every_connection(sig: i32) {
    let server = ItemServer::start(|text| {
        if text == "quick" {
            Act::Answer(0.0)
        } else {
            Act::Hold
        }
    });
    let dir = TempDir::new("each-signal");
    let file = dir.file("in.txt", "quick\nheld 1\nheld 2\nheld 3\n");
    let run = each(&server, &file).args(["-P", "4"]).spawn();
    assert!(server.wait(|s| s.arrivals.len() == 4 && s.in_flight == 3));
    assert!(run.wait_stdout_contains(b"\n", T), "the first object");
    run.signal(sig);
    let out = run.wait();
    out.assert_code(130);
    assert_eq!(lines_of(&objects(&out)), [1], "in flight: no object");
    assert!(
        server.wait(|s| s.closed == 3),
        "every held connection closed"
    );
}

#[test]
fn a_closed_stdout_closes_every_connection_and_exits_141() {
    let server = ItemServer::start(|_| Act::Hold);
    let dir = TempDir::new("each-141");
    let file = dir.file("in.txt", "a\nb\n");
    let mut run = each(&server, &file).spawn();
    assert!(server.wait(|s| s.in_flight == 2));
    run.close_stdout();
    let out = run.wait();
    out.assert_code(141);
    assert_eq!(out.stderr_str(), "");
    assert!(server.wait(|s| s.closed == 2), "both connections closed");
}

#[test]
fn warnings_and_reasoning_go_into_the_objects() {
    let dir = TempDir::new("each-warn");
    let file = dir.file("in.txt", "a\n");
    // A note (an image link) and a warning go into the object.
    let server = Server::start(vec![Reply::sse(&[
        &ev(
            r#"{"choices":[{"delta":{"reasoning":"hmm","content":"x","images":[{"type":"image_url","image_url":{"url":"https://i.example/a.png"}}]},"finish_reason":"length"}]}"#,
        ),
        DONE,
    ])]);
    let out = orstream_at(&server)
        .args(["--each", &file, "--reasoning"])
        .run();
    out.assert_code(0);
    let o = &objects(&out)[0];
    assert_eq!(
        o["warnings"],
        serde_json::json!([
            "image: https://i.example/a.png",
            "the answer was cut short: the token limit was reached (finish_reason: length)"
        ])
    );
    assert_eq!(o["reasoning"], "hmm");
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 1 done, 0 failed\n",
        "nothing else"
    );
}

#[test]
fn progress_on_a_terminal_is_erased_at_the_end() {
    let server = ItemServer::start(|_| Act::Answer(0.0));
    let dir = TempDir::new("each-progress");
    let file = dir.file("in.txt", "a\nb\n");
    let out = each(&server, &file)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .run();
    out.assert_code(0);
    let err = out.stderr_str();
    let last = err.rsplit("\r\x1b[K").next().unwrap();
    assert_eq!(
        last, "orstream: each: 2 done, 0 failed\n",
        "erased: {err:?}"
    );
    if err.contains(" running · ") {
        assert!(err.contains("/2 done · "), "the total is known: {err:?}");
    }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

#[test]
fn items_reuse_one_connection_through_the_shared_agent() {
    let (url, connections) = keep_alive_server(false);
    let dir = TempDir::new("each-reuse");
    let file = dir.file("in.txt", "one\ntwo\nthree\nfour\n");
    let out = orstream()
        .args(["--base-url", &url, "--each", &file, "-P", "1"])
        .run();
    out.assert_code(0);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2, 3, 4], "{}", out.report());
    assert_eq!(objects[3]["text"], "echo: four", "{}", out.report());
    assert_eq!(connections.load(Ordering::SeqCst), 1, "{}", out.report());
}

#[test]
fn a_body_held_open_after_done_costs_no_item_its_answer() {
    let (url, connections) = keep_alive_server(true);
    let dir = TempDir::new("each-held");
    let file = dir.file("in.txt", "one\ntwo\nthree\n");
    let out = orstream()
        .args(["--base-url", &url, "--each", &file, "-P", "1"])
        .run();
    out.assert_code(0);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2, 3], "{}", out.report());
    assert!(objects.iter().all(|o| o["exit"] == 0), "{}", out.report());
    // Such a connection cannot be reused: one per item.
    assert_eq!(connections.load(Ordering::SeqCst), 3, "{}", out.report());
}

// ---------------------------------------------------------------------------
// Flags per item, the budget against failures
// ---------------------------------------------------------------------------

/// SPEC §12: every other flag applies to every item as to a single run.
#[test]
fn every_flag_applies_to_every_item() {
    let fenced = |code: &str| {
        Reply::sse(&[
            &c(&format!("Here:\n```sh\n{code}\n```\nDone.")),
            &finish("stop"),
            DONE,
        ])
    };
    let server = Server::start(vec![fenced("echo one"), fenced("echo two")]);
    let dir = TempDir::new("each-flags");
    let file = dir.file("in.txt", "first\nsecond\n");
    let out = orstream_at(&server)
        .args(["--each", &file, "-P", "1", "-s", "SYS", "-m", "a/b"])
        .args(["-o", "temperature=0.5", "-x"])
        .run();
    out.assert_code(0);
    let objects = objects(&out);
    assert_eq!(objects[0]["code"], "echo one\n", "{}", out.report());
    assert_eq!(objects[1]["code"], "echo two\n", "{}", out.report());
    let received = server.received();
    assert_eq!(received.len(), 2);
    for (r, item) in received.iter().zip(["first", "second"]) {
        let body = r.json();
        assert_eq!(body["model"], "a/b");
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][0]["content"], "SYS");
        assert_eq!(body["messages"][1]["content"], item);
    }
}

/// The budget's exit 9 wins over an item's own failure.
#[test]
fn exit_9_wins_over_a_failed_item() {
    let server = ItemServer::start(|text| {
        if text == "a" {
            Act::Status(400, 0)
        } else {
            Act::Answer(1.0)
        }
    });
    let dir = TempDir::new("each-budget-fail");
    let file = dir.file("in.txt", "a\nb\nc\n");
    let out = each(&server, &file)
        .args(["-P", "1", "--max-cost", "0.5"])
        .run();
    out.assert_code(9);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2], "{}", out.report());
    assert_ne!(objects[0]["exit"], 0, "{}", out.report());
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 1 done, 1 failed (lines 1), 1 not started (--max-cost)\n"
    );
}
