//! Per-token latency (issue 5): how long each token takes from the server's
//! write to the client's stdout pipe.
//!
//! * **per-token latency**: a drip of 200 chunks, one every 10 ms, one write
//!   each. Chunk `i` carries the content `"t{i} "`; the server records the
//!   instant just before it writes chunk `i`, a bench thread reading the
//!   child's stdout pipe records when `t{i} ` has fully arrived (for curl,
//!   the token is found in the raw SSE bytes).

use std::collections::HashMap;
use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use crate::child::Status;
use crate::clients::{check, Tool};
use crate::report::{max, out, pct, ratio, us, verdict};
use crate::Bench;

/// Every token's latency, by client.
pub struct Latency {
    runs: usize,
    chunks: usize,
    by_tool: HashMap<Tool, Vec<Duration>>,
    /// Each round's p50 of orstream over curl's (the rounds alternate the
    /// two, so both see the same state of the machine).
    round_ratios: Vec<f64>,
}

/// Finds complete `t<digits> ` tokens (not preceded by a letter or digit) in
/// `buf[*from..]`, stamps each with `at`, and leaves `*from` at the first
/// token that may still be incomplete.
fn scan_tokens(buf: &[u8], from: &mut usize, at: Instant, arrivals: &mut [Option<Instant>]) {
    let mut i = *from;
    while i < buf.len() {
        if buf[i] == b't' && (i == 0 || !buf[i - 1].is_ascii_alphanumeric()) {
            let mut j = i + 1;
            while j < buf.len() && buf[j].is_ascii_digit() {
                j += 1;
            }
            if j == buf.len() {
                break; // maybe cut by the read: look again next time
            }
            if j > i + 1 && buf[j] == b' ' {
                let seq: usize = std::str::from_utf8(&buf[i + 1..j])
                    .unwrap()
                    .parse()
                    .unwrap();
                if let Some(slot @ None) = arrivals.get_mut(seq) {
                    *slot = Some(at);
                }
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    *from = i;
}

/// Runs a `/drip` stream; returns the latency of each token (send → stdout).
fn run_drip(tool: Tool, bench: &Bench, n: usize, anomalies: &mut Vec<String>) -> Vec<Duration> {
    let id = bench.next_id();
    let mut run = tool.spawn(&bench.server.url(&format!("drip/{n}/{id}")));
    let mut out = run.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut arrivals = vec![None; n];
        let (mut buf, mut from) = (Vec::new(), 0);
        let mut tmp = vec![0u8; 64 * 1024];
        while let Ok(k @ 1..) = out.read(&mut tmp) {
            let at = Instant::now();
            buf.extend_from_slice(&tmp[..k]);
            scan_tokens(&buf, &mut from, at, &mut arrivals);
        }
        arrivals
    });
    let (r, err) = run.finish();
    let arrivals = reader.join().unwrap();
    let log = bench.server.state.wait_closed(id, Duration::ZERO);
    check(anomalies, tool, "drip", &r, Status::Code(0), &err);
    let mut lat = Vec::new();
    for (i, a) in arrivals.iter().enumerate() {
        match (a, log.sends.get(i)) {
            (Some(a), Some(s)) => lat.push(a.saturating_duration_since(*s)),
            _ => anomalies.push(format!("{}: drip token t{i} not seen", tool.name())),
        }
    }
    lat
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Latency {
    let plan = &bench.plan;
    bench.say(format!(
        "drip: {} chunks every 10 ms, {} rounds alternating orstream and curl",
        plan.drip_chunks, plan.drip_runs
    ));
    let mut by_tool: HashMap<Tool, Vec<Duration>> = HashMap::new();
    let mut round_ratios = Vec::new();
    for round in 0..plan.drip_runs {
        // Which client goes first alternates too.
        let order = if round % 2 == 0 {
            [Tool::Orstream, Tool::Curl]
        } else {
            [Tool::Curl, Tool::Orstream]
        };
        let mut p50 = HashMap::new();
        for tool in order {
            let mut lat = run_drip(tool, bench, plan.drip_chunks, anomalies);
            lat.sort();
            p50.insert(tool, pct(&lat, 0.5));
            by_tool.entry(tool).or_default().extend(lat);
        }
        round_ratios.push(ratio(p50[&Tool::Orstream], p50[&Tool::Curl]));
    }
    round_ratios.sort_by(f64::total_cmp);
    Latency {
        runs: plan.drip_runs,
        chunks: plan.drip_chunks,
        by_tool,
        round_ratios,
    }
}

impl Latency {
    /// p50 / p90 / max of both clients over all rounds; the target is on
    /// the median of the rounds' p50 ratios (a single round's p50 moved
    /// from 0.67× to 1.58× between runs of the bench on this VM), shown
    /// with their min and max.
    pub fn row(&self, w: &mut String) {
        let (lo, lc) = (&self.by_tool[&Tool::Orstream], &self.by_tool[&Tool::Curl]);
        let three =
            |v: &[Duration]| format!("{} / {} / {}", us(pct(v, 0.5)), us(pct(v, 0.9)), us(max(v)));
        let rr = &self.round_ratios;
        let r = rr[rr.len() / 2];
        out!(
            w,
            "| per-token latency, server send → stdout pipe ({} rounds × {} chunks @ 10 ms): p50 / p90 / max | {} | {} | {:.2}× (median of the rounds' p50 ratios; {:.2}–{:.2}×) | p50 ≤ 1.1× curl | {} |",
            self.runs, self.chunks, three(lo), three(lc), r, rr[0], rr[rr.len() - 1], verdict(r <= 1.1)
        );
    }
}
