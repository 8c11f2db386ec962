//! Many prompts (SPEC §12), continued, with `each.rs`'s item server: the
//! default `-P`, the halved limit after a 429, retries per item with the
//! §5 backoff, the budget with items in flight, `-q` on a terminal, and
//! SIGTERM and SIGHUP.

use crate::each::{each, lines_of, objects, signal_closes_every_connection, Act, ItemServer};
use crate::support::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// How long a test watches for a request that must NOT start. Requests it
/// guards against would start within milliseconds (no wait stands in their
/// way but the one under test), so this is generous, and short.
const NOT_MEANWHILE: Duration = Duration::from_millis(500);

/// A flag the test (or one server thread) opens and others wait for: the
/// server's answers ordered by the test, not by timing.
#[derive(Clone, Default)]
struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    /// Waits (at most `T`) for [`Latch::open`].
    fn wait(&self) {
        let open = self.0 .0.lock().unwrap();
        let (open, _) = self.0 .1.wait_timeout_while(open, T, |o| !*o).unwrap();
        assert!(*open, "the latch was never opened");
    }
}

fn items(n: usize) -> String {
    (1..=n).map(|i| format!("item {i}\n")).collect()
}

/// SPEC §12: "`-P, --parallel N` (1–64, default 4)". Eight items held by
/// the server: four start, a fifth does not. With a default below 4 the
/// first wait fails; above 4, a fifth request arrives at once.
#[test]
fn four_in_flight_by_default() {
    let server = ItemServer::start(|_| Act::Wait);
    let dir = TempDir::new("each-default-p");
    let file = dir.file("in.txt", items(8));
    let run = each(&server, &file).spawn();
    assert!(server.wait(|s| s.in_flight >= 4), "four in flight");
    assert!(
        !server.wait_for(NOT_MEANWHILE, |s| s.arrivals.len() > 4),
        "a fifth item started"
    );
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert_eq!(server.max_in_flight(), 4);
    assert_eq!(objects(&out).len(), 8);
}

/// SPEC §12: a 429 "halves the limit on requests in flight (…requests
/// already in flight are not cancelled, and an item waiting to retry holds
/// no slot); each later success adds one back". At `-P 4`: line 1 succeeds
/// first (its 200 is counted before anything else happens), lines 2 and 3
/// are held, then line 4 gets a 429 with `Retry-After: 0`. Its retry waits
/// for nothing but a slot: halved to 2, both taken by lines 2 and 3, none is
/// free until they succeed. Without the halving (limit 4), or with the
/// limit only lowered by one (3), the retry would start at once.
#[test]
fn a_429_halves_the_requests_in_flight_until_successes() {
    let line_1_ended = Latch::default();
    let server = {
        let line_1_ended = line_1_ended.clone();
        let first = AtomicBool::new(true);
        ItemServer::start(move |text| match text {
            "quick" => Act::Answer(0.0),
            "limited" if first.swap(false, Ordering::SeqCst) => {
                line_1_ended.wait();
                Act::Status(429, 0)
            }
            "limited" => Act::Answer(0.0),
            _ => Act::Wait,
        })
    };
    let dir = TempDir::new("each-halved");
    let file = dir.file("in.txt", "quick\nheld a\nheld b\nlimited\n");
    let run = each(&server, &file).args(["-P", "4", "-v"]).spawn();
    assert!(server.wait(|s| s.arrivals.len() == 4), "four requests");
    assert!(run.wait_stdout_contains(b"\n", T), "line 1's object");
    line_1_ended.open();
    assert!(
        run.wait_stderr_contains(b"[line 4] * retry 1/2 in 0.00 s", T),
        "line 4 throttled"
    );
    assert!(
        !server.wait_for(NOT_MEANWHILE, |s| s.arrivals.len() > 4),
        "line 4 retried while two requests were in flight"
    );
    server.release();
    let out = run.wait();
    out.assert_code(0);
    assert_eq!(lines_of(&objects(&out)), [1, 2, 3, 4]);
    let limited = server
        .arrivals()
        .iter()
        .filter(|(t, _)| t == "limited")
        .count();
    assert_eq!(limited, 2, "retried once, after the successes");
}

/// SPEC §12: "`--retries` counts per item"; SPEC §5: a 429 without
/// `Retry-After` waits the backoff, 0.5 s ± 25 % before the first retry.
/// Each item gets one 429 with `--retries 1`: a count shared by the run
/// would leave line 2 no retry (exit 4); no backoff would retry within
/// milliseconds. About 1 s in all (two backoffs; -P 1 keeps them in turn).
#[test]
fn retries_count_per_item_and_back_off_without_retry_after() {
    let tried = Mutex::new(HashSet::new());
    let server = ItemServer::start(move |text| {
        if tried.lock().unwrap().insert(text.to_string()) {
            Act::Bare(429)
        } else {
            Act::Answer(0.0)
        }
    });
    let dir = TempDir::new("each-retries");
    let file = dir.file("in.txt", "a\nb\n");
    let out = each(&server, &file)
        .args(["-P", "1", "--retries", "1", "-v"])
        .run();
    out.assert_code(0);
    let objects = objects(&out);
    assert!(objects.iter().all(|o| o["exit"] == 0), "{}", out.report());
    let err = out.stderr_str();
    for line in [1, 2] {
        let retry = format!("orstream: [line {line}] * retry 1/1 in 0.");
        assert!(err.contains(&retry), "{retry:?} in\n{err}");
    }
    let arrivals = server.arrivals();
    let names: Vec<&str> = arrivals.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["a", "a", "b", "b"]);
    for pair in arrivals.chunks(2) {
        let waited = pair[1].1.duration_since(pair[0].1);
        assert!(
            waited >= Duration::from_millis(375),
            "{} retried after {waited:?}",
            pair[0].0
        );
    }
}

/// SPEC §12: once the budget is reached "no further item starts; items in
/// flight finish and are written". At `-P 2` line 1 (cost 1.00 ≥ 0.50)
/// ends while line 2 is held; line 2 is then let go. Cancelling it would
/// leave it no object; ignoring the budget would request lines 3 and 4.
#[test]
fn the_budget_lets_items_in_flight_finish() {
    let line_2_arrived = Latch::default();
    let server = ItemServer::start(move |text| match text {
        "first" => {
            line_2_arrived.wait();
            Act::Answer(1.0)
        }
        "second" => {
            line_2_arrived.open();
            Act::Wait
        }
        _ => Act::Answer(0.0),
    });
    let dir = TempDir::new("each-budget-p2");
    let file = dir.file("in.txt", "first\nsecond\nthird\nfourth\n");
    let run = each(&server, &file)
        .args(["-P", "2", "--max-cost", "0.5"])
        .spawn();
    assert!(run.wait_stdout_contains(b"\n", T), "line 1's object");
    server.release();
    let out = run.wait();
    out.assert_code(9);
    let objects = objects(&out);
    assert_eq!(lines_of(&objects), [1, 2], "{}", out.report());
    assert_eq!(objects[1]["exit"], 0);
    assert_eq!(objects[1]["text"], "echo: second");
    assert_eq!(server.requests(), 2, "lines 3 and 4 never started");
    assert_eq!(
        out.stderr_str(),
        "orstream: each: 2 done, 0 failed, 2 not started (--max-cost)\n"
    );
}

/// SPEC §12: the progress line is drawn "when stderr is a terminal and
/// `-q` is not given". The same run without `-q` shows that it is drawn
/// here (the first item to end draws it), so the empty stderr with `-q`
/// is `-q`'s doing.
#[test]
fn no_progress_line_with_q() {
    let server = ItemServer::start(|_| Act::Answer(0.0));
    let dir = TempDir::new("each-progress-q");
    let file = dir.file("in.txt", "a\nb\n");
    let out = each(&server, &file)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .run();
    out.assert_code(0);
    assert!(
        out.stderr_str().contains("/2 done · "),
        "no progress line drawn without -q: {:?}",
        out.stderr_str()
    );
    let out = each(&server, &file)
        .env("ORSTREAM_PRETEND_TTY", "stderr")
        .arg("-q")
        .run();
    out.assert_code(0);
    assert_eq!(out.stderr_str(), "", "-q on a terminal");
    assert_eq!(objects(&out).len(), 2);
}

// SIGTERM and SIGHUP as each.rs's SIGINT test (SPEC §5: they exit 130 too).
#[test]
fn sigterm_closes_every_connection_and_keeps_what_was_written() {
    signal_closes_every_connection(SIGTERM);
}

#[test]
fn sighup_closes_every_connection_and_keeps_what_was_written() {
    signal_closes_every_connection(SIGHUP);
}
