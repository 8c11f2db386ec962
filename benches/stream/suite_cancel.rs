//! Cancellation mid-answer (issue 5): Ctrl-C and `| head` → the moment the
//! server sees the connection close.
//!
//! * **Ctrl-C → server-observed close**: the server sends a chunk every
//!   20 ms forever; once the first byte reaches the child's stdout the bench
//!   sends SIGINT, and a thread blocked in `read()` on the server side of the
//!   connection records when it returns 0 (FIN) or fails (RST). Also the
//!   `| head` case: the bench closes the stdout pipe after the first byte;
//!   orstream notices on its next write (EPIPE) and should close at once.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{self, Status, SIGINT};
use crate::clients::{check, Tool};
use crate::report::{out, p50_max, pct, verdict};
use crate::Bench;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGINT once the first byte is on stdout.
    Sigint,
    /// Close the stdout pipe once the first byte is on it (`| head`).
    ClosePipe,
}

/// The cases, in the order they run and are reported.
const CASES: [(Tool, Stop, &str); 4] = [
    (Tool::Orstream, Stop::Sigint, "Ctrl-C"),
    (Tool::Orstream, Stop::ClosePipe, "\\| head"),
    (Tool::Curl, Stop::Sigint, "Ctrl-C"),
    (Tool::Curl, Stop::ClosePipe, "\\| head"),
];

/// Per client and case: stop → close, and next chunk sent → close.
type Times = (Vec<Duration>, Vec<Duration>);

pub struct Cancel {
    runs: usize,
    by_case: HashMap<(Tool, &'static str), Times>,
}

/// One `/slow` run stopped by `how`. Returns (stop → server-observed close,
/// next chunk sent after the stop → server-observed close), if the server saw
/// the close within 5 s.
fn run_stop(
    tool: Tool,
    bench: &Bench,
    how: Stop,
    anomalies: &mut Vec<String>,
) -> Option<(Duration, Option<Duration>)> {
    let id = bench.next_id();
    let mut run = tool.spawn(&bench.server.url(&format!("slow/{id}")));
    let mut out = run.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut tmp = vec![0u8; 64 * 1024];
        let mut first = true;
        while let Ok(1..) = out.read(&mut tmp) {
            if first && how == Stop::ClosePipe {
                drop(out);
                let _ = tx.send(Instant::now());
                return;
            }
            if first {
                let _ = tx.send(Instant::now());
                first = false;
            }
        }
    });
    let stopped = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(t) if how == Stop::ClosePipe => t,
        Ok(_) => {
            let t = Instant::now();
            child::signal(run.pid(), SIGINT);
            t
        }
        Err(_) => {
            anomalies.push(format!("{}: no first token on /slow", tool.name()));
            Instant::now()
        }
    };
    let (r, err) = run.finish();
    let _ = reader.join();
    let expect = match (tool, how) {
        (Tool::Curl, Stop::Sigint) => Status::Signal(SIGINT),
        (Tool::Curl, Stop::ClosePipe) => Status::Code(23), // curl: write error
        (_, Stop::Sigint) => Status::Code(130),
        (_, Stop::ClosePipe) => Status::Code(141),
    };
    check(anomalies, tool, "stop", &r, expect, &err);
    let log = bench.server.state.wait_closed(id, Duration::from_secs(5));
    let Some(closed) = log.closed else {
        anomalies.push(format!("{}: server saw no close within 5 s", tool.name()));
        return None;
    };
    let next_send = log.sends.iter().find(|s| **s >= stopped);
    Some((
        closed.saturating_duration_since(stopped),
        next_send.map(|s| closed.saturating_duration_since(*s)),
    ))
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Cancel {
    let runs = bench.plan.stop_runs;
    bench.say(format!("stop: {runs} runs per case"));
    let mut by_case: HashMap<(Tool, &'static str), Times> = HashMap::new();
    for _ in 0..runs {
        for (tool, how, label) in CASES {
            if let Some((d, next)) = run_stop(tool, bench, how, anomalies) {
                let e = by_case.entry((tool, label)).or_default();
                e.0.push(d);
                e.1.extend(next);
            }
        }
    }
    Cancel { runs, by_case }
}

impl Cancel {
    /// Ctrl-C, `| head`, and `| head` timed from the next chunk sent.
    pub fn rows(&self, w: &mut String) {
        // orstream watches its stdout pipe, so `| head` is measured from the
        // pipe close like Ctrl-C from the signal; curl only notices on its
        // next write.
        for label in ["Ctrl-C", "\\| head"] {
            let (o, c) = (
                self.by_case.get(&(Tool::Orstream, label)),
                self.by_case.get(&(Tool::Curl, label)),
            );
            let stop = |t: Option<&Times>| p50_max(t.map(|t| t.0.as_slice()));
            let from = if label == "Ctrl-C" {
                "SIGINT"
            } else {
                "pipe closed"
            };
            let res = match o {
                Some((d, _)) if !d.is_empty() => verdict(pct(d, 0.5) <= Duration::from_millis(5)),
                _ => "**NOT met** (no data)",
            };
            out!(
                w,
                "| `{label}`: {from} → server-observed close, p50 / max of {} | {} | {} | — | p50 ≤ 5 ms | {res} |",
                self.runs, stop(o), stop(c)
            );
            if label != "Ctrl-C" {
                let next = |t: Option<&Times>| p50_max(t.map(|t| t.1.as_slice()));
                // Informational: only a client that waits for its next write
                // (curl) has data here; orstream closed before that chunk.
                let res = "— (informational)";
                out!(
                    w,
                    "| `{label}`: next chunk sent after the pipe closed → server-observed close, p50 / max | {} | {} | — | p50 ≤ 5 ms | {res} |",
                    next(o), next(c)
                );
            }
        }
    }
}
