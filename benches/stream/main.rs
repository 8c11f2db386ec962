//! `cargo bench --bench stream`: orstream against `curl -sN`, side by side.
//!
//! This file is the table of contents: which suites run, in which order,
//! with how many runs, and the switches. Each suite's `//!` doc says what it
//! measures and how:
//!
//! * the stream section (issue 5, and issue 8's SPEC §2 `SSL_CERT_FILE` and
//!   §6 cancellation while connecting), reported as one table:
//!   [`suite_short`] (spawn → exit of a 20-chunk answer over http and https,
//!   with and without `SSL_CERT_FILE`, `--json`, the spawn floor),
//!   [`suite_bulk`] (CPU per chunk and peak RSS on a long answer, `--json`
//!   too), [`suite_latency`] (per-token latency), [`suite_cancel`] (Ctrl-C
//!   and `| head` → server-observed close), [`suite_connect`] (a signal
//!   during a hung TCP connect);
//! * the attach section (issue 9): [`suite_attach`] (attachment upload);
//! * the each section (issue 17): [`suite_each`] (`--each` against `xargs
//!   -P`, and its memory as FILE grows);
//! * the floor section (issue 18): [`suite_floor`] (the short request
//!   against a minimal C client, `benches/floor/client.c`, and over TLS
//!   against curl, as medians of per-round ratios).
//!
//! Everything runs over 127.0.0.1 against a loopback SSE server inside this
//! process ([`server`]; the answers are in [`body`]). Chunks look like
//! capture A in `openrouter-api.md` §3 (~341 bytes), followed by a finish
//! chunk, a usage chunk and `data: [DONE]`. Children are spawned, timed and
//! reaped by [`child`]: a cleared environment (only `PATH`), stdin from
//! /dev/null, stdout on a pipe that a bench thread drains; every run's exit
//! status and stdout byte count are checked, and any surprise is listed
//! under "Anomalies". The binary is `target/release/orstream`, which cargo
//! builds (bench profile = release settings) before running this target.
//!
//! Environment:
//! * `ORSTREAM_BENCH_QUICK=1`: far fewer runs and smaller streams (smoke run).
//! * `ORSTREAM_BENCH_ONLY=stream`, `=attach`, `=each` or `=floor`: only the
//!   issue 5 and 8 figures, only the attachment upload, only `--each`, or
//!   only the floor (all when unset).
//! * `ORSTREAM_BENCH_BASELINE=PATH`: the floor suite also runs this orstream
//!   binary in every round (before/after under the same load).
//! * `ORSTREAM_BENCH_SERVE=PORT`: only run the server on PORT (0 = any) until
//!   killed, e.g. for `valgrind --tool=callgrind orstream --base-url
//!   http://127.0.0.1:PORT/bulk/20000/k32 hi` (`benches/callgrind.sh` does
//!   that for text, `--json` and `-x`).
//!
//! Linux only (`wait4`, `/proc`, `listen` backlogs). The TLS server uses the
//! `rustls` dev-dependency; the floor suite needs `gcc`.

mod attach_files;
mod body;
mod child;
mod clients;
mod hung;
mod report;
mod request;
mod server;
mod suite_attach;
mod suite_bulk;
mod suite_cancel;
mod suite_connect;
mod suite_each;
mod suite_floor;
mod suite_latency;
mod suite_short;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use report::out;
use server::{fixture, Server};
use suite_attach::MIB;

/// A lock that a panicked holder does not poison for the others.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many runs and how big the streams are: the full run, or
/// `ORSTREAM_BENCH_QUICK`.
struct Plan {
    quick: bool,
    short_runs: usize,
    bulk_sizes: [usize; 2],
    bulk_reps: usize,
    drip_chunks: usize,
    drip_runs: usize,
    stop_runs: usize,
    /// Attachment sizes in bytes, each with its number of counted runs.
    attach: [(u64, usize); 2],
    /// Counted rounds of the floor suite.
    floor_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                short_runs: 5,
                bulk_sizes: [2_000, 20_000],
                bulk_reps: 1,
                drip_chunks: 50,
                drip_runs: 1,
                stop_runs: 4,
                attach: [(MIB, 3), (10 * MIB, 1)],
                floor_rounds: 10,
            }
        } else {
            Plan {
                quick,
                short_runs: 41,
                bulk_sizes: [20_000, 200_000],
                bulk_reps: 7,
                drip_chunks: 200,
                drip_runs: 9,
                stop_runs: 20,
                attach: [(MIB, 11), (100 * MIB, 5)],
                floor_rounds: 101,
            }
        }
    }
}

/// Which parts of the bench run: `ORSTREAM_BENCH_ONLY=stream` (everything
/// before issue 9), `=attach` (the attachment upload), `=each` or `=floor`;
/// all when unset.
struct Sections {
    stream: bool,
    attach: bool,
    each: bool,
    floor: bool,
}

impl Sections {
    fn from_env() -> Sections {
        let only = std::env::var("ORSTREAM_BENCH_ONLY").unwrap_or_default();
        let all = only.is_empty();
        let known = ["stream", "attach", "each", "floor"];
        assert!(
            all || known.contains(&only.as_str()),
            "ORSTREAM_BENCH_ONLY={only}: expected one of {known:?}"
        );
        Sections {
            stream: all || only == "stream",
            attach: all || only == "attach",
            each: all || only == "each",
            floor: all || only == "floor",
        }
    }
}

/// What every suite shares.
struct Bench {
    plan: Plan,
    server: Server,
    ids: AtomicU64,
    started: Instant,
}

impl Bench {
    /// A fresh connection ID for the server's logs.
    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A progress line on stderr.
    fn say(&self, s: String) {
        eprintln!("[{:6.1}s] {s}", self.started.elapsed().as_secs_f64());
    }
}

/// The stream section: runs its suites in order, then writes one summary
/// table (rows grouped by figure, not by suite) and the detail tables.
fn stream_section(bench: &Bench, anomalies: &mut Vec<String>, w: &mut String) {
    suite_bulk::render_bodies(bench);
    let short = suite_short::run(bench, anomalies);
    let bulk = suite_bulk::run(bench, anomalies);
    let latency = suite_latency::run(bench, anomalies);
    let cancel = suite_cancel::run(bench, anomalies);
    let connect = suite_connect::run(bench, anomalies);
    bench.say("done".to_string());

    out!(
        w,
        "| figure | orstream | curl -sN | orstream / curl | target | result |"
    );
    out!(w, "|---|---|---|---|---|---|");
    short.row(w);
    bulk.rows(w);
    latency.row(w);
    short.row_json(w);
    bulk.rows_json(w);
    cancel.rows(w);
    short.rows_tls(w);
    connect.rows(w);

    bulk.detail(w);
    short.detail(w);
    connect.detail(w);
    suite_short::tls_sessions(bench, anomalies, w);
}

/// `ORSTREAM_BENCH_SERVE=PORT`: the server alone, until killed.
fn serve(port: &str) -> ! {
    let server = Server::start(port.parse().expect("ORSTREAM_BENCH_SERVE=PORT"));
    println!(
        "serving on {} and {} (SSL_CERT_FILE={}); serially on {} and {}",
        server.url("bulk/20000/k32"),
        server.tls_url("bulk/20000/k32"),
        fixture("ca.pem"),
        server.serial_url("bulk/20/k32"),
        server.serial_tls_url("bulk/20/k32"),
    );
    loop {
        thread::park();
    }
}

fn main() {
    if let Ok(port) = std::env::var("ORSTREAM_BENCH_SERVE") {
        serve(&port);
    }
    let bin = env!("CARGO_BIN_EXE_orstream");
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: run `cargo build --release` (cargo bench normally builds it)"
    );
    let plan = Plan::new(std::env::var_os("ORSTREAM_BENCH_QUICK").is_some_and(|v| v != "0"));
    let sections = Sections::from_env();
    let bench = Bench {
        plan,
        server: Server::start(0),
        ids: AtomicU64::new(1),
        started: Instant::now(),
    };
    let mut anomalies = Vec::new();
    let mut t = String::new();
    let w = &mut t;
    let quick = " (QUICK smoke run — not for RESULTS.md)";
    out!(
        w,
        "\n## Results{}\n",
        if bench.plan.quick { quick } else { "" }
    );
    if sections.stream {
        stream_section(&bench, &mut anomalies, w);
    }
    if sections.attach {
        suite_attach::run(&bench, &mut anomalies).report(w);
    }
    if sections.each {
        suite_each::run(&bench, &mut anomalies).report(w);
    }
    if sections.floor {
        suite_floor::run(&bench, &mut anomalies).report(w);
    }
    out!(w, "\n### Anomalies\n");
    if anomalies.is_empty() {
        out!(
            w,
            "none (every run had the expected exit status and stdout size)"
        );
    }
    for a in &anomalies {
        out!(w, "- {a}");
    }
    let total = bench.started.elapsed().as_secs_f64();
    out!(w, "\nTotal bench time: {total:.0} s");
    print!("{t}");
}
