//! A signal while the TCP connect hangs (issue 8, SPEC §6): signal → the
//! child reaped.
//!
//! * **signal during a hung TCP connect → exit**: a listener whose accept
//!   queue is full ([`HungListener`]: `listen(fd, 0)` plus a filler
//!   connection, so the kernel drops the next SYN; as `HungListener` in
//!   `tests/cancel.rs`); the client runs with `--connect-timeout 30`; once
//!   `/proc/net/tcp` shows a socket in SYN_SENT to the listener, the bench
//!   sends SIGINT, SIGTERM or SIGHUP and times `kill` → child reaped
//!   (`wait4` returned). curl is timed the same way for reference (it keeps
//!   the default dispositions and dies of the signal).

use std::collections::HashMap;
use std::ffi::c_int;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::child::{self, catches, reap, wait_until, Status, SIGHUP, SIGINT, SIGKILL, SIGTERM};
use crate::clients::{check, Tool};
use crate::hung::HungListener;
use crate::report::{max, out, p50_max, spread, verdict};
use crate::Bench;

const SIGNALS: [c_int; 3] = [SIGINT, SIGTERM, SIGHUP];
const CLIENTS: [Tool; 2] = [Tool::Orstream, Tool::Curl];

fn signal_name(sig: c_int) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// `kill` → reaped, by client and signal.
pub struct Connect {
    by_case: HashMap<(Tool, c_int), Vec<Duration>>,
}

/// One run against the hung listener: once the client is in SYN_SENT, send
/// `sig`; returns `kill` → child reaped, or None (listed as an anomaly) if
/// the client never got that far.
fn run_connect_signal(
    tool: Tool,
    hung: &HungListener,
    sig: c_int,
    anomalies: &mut Vec<String>,
) -> Option<Duration> {
    let what = format!("{} connect, {}", tool.name(), signal_name(sig));
    // The previous run's socket is gone with its process; make sure, so the
    // SYN_SENT seen below is this child's.
    if !wait_until(Duration::from_secs(5), || !hung.syn_sent()) {
        anomalies.push(format!("{what}: a stale SYN_SENT socket stayed for 5 s"));
        return None;
    }
    let base = format!("http://127.0.0.1:{}", hung.port);
    let cmd = tool.command_with(&base, &["--connect-timeout", "30"]);
    let mut run = child::spawn(tool.name(), cmd);
    let pid = run.pid();
    let mut out = run.stdout.take().unwrap();
    let ready = wait_until(Duration::from_secs(5), || hung.syn_sent())
        && (tool == Tool::Curl || wait_until(Duration::from_secs(5), || catches(pid, sig)));
    if !ready {
        anomalies.push(format!(
            "{what}: never in SYN_SENT with the handler installed"
        ));
    }
    let sent = Instant::now();
    child::signal(pid, if ready { sig } else { SIGKILL });
    let r = reap(&run.child, sent);
    let stderr = run.stderr.join().unwrap_or_default();
    let mut stdout = Vec::new();
    let _ = out.read_to_end(&mut stdout);
    if !ready {
        return None;
    }
    let want = if tool == Tool::Curl {
        Status::Signal(sig)
    } else {
        Status::Code(130)
    };
    check(anomalies, tool, &what, &r, want, &stderr);
    if !stdout.is_empty() || (tool != Tool::Curl && !stderr.is_empty()) {
        anomalies.push(format!(
            "{what}: {} bytes on stdout, stderr {stderr:?}",
            stdout.len()
        ));
    }
    Some(r.wall)
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Connect {
    let runs = bench.plan.stop_runs;
    bench.say(format!("connect: {runs} runs per signal and client"));
    let hung = HungListener::new();
    let mut by_case: HashMap<(Tool, c_int), Vec<Duration>> = HashMap::new();
    for _ in 0..runs {
        for sig in SIGNALS {
            for tool in CLIENTS {
                if let Some(d) = run_connect_signal(tool, &hung, sig, anomalies) {
                    by_case.entry((tool, sig)).or_default().push(d);
                }
            }
        }
    }
    Connect { by_case }
}

impl Connect {
    fn get(&self, tool: Tool, sig: c_int) -> Option<&Vec<Duration>> {
        self.by_case.get(&(tool, sig)).filter(|v| !v.is_empty())
    }

    /// Per signal: p50 / max of both clients; the target is on the max.
    pub fn rows(&self, w: &mut String) {
        for sig in SIGNALS {
            let (o, c) = (self.get(Tool::Orstream, sig), self.get(Tool::Curl, sig));
            let res = match o {
                Some(v) => verdict(max(v) <= Duration::from_millis(100)),
                None => "**NOT met** (no data)",
            };
            out!(
                w,
                "| {} during a hung TCP connect (`--connect-timeout 30`, SYN_SENT): signal → child reaped, p50 / max of {} | {} | {} | — | ≤ 100 ms (SPEC §6), max | {res} |",
                signal_name(sig), o.map_or(0, Vec::len), p50_max(o.map(Vec::as_slice)), p50_max(c.map(Vec::as_slice))
            );
        }
    }

    /// Per signal and client: runs, min, p50, p90, max.
    pub fn detail(&self, w: &mut String) {
        out!(
            w,
            "\n### Signal during a hung TCP connect (signal → child reaped)\n"
        );
        out!(w, "| signal | client | runs | min | p50 | p90 | max |");
        out!(w, "|---|---|---|---|---|---|---|");
        for sig in SIGNALS {
            for tool in CLIENTS {
                if let Some(v) = self.get(tool, sig) {
                    let (name, runs) = (signal_name(sig), v.len());
                    out!(w, "| {name} | {} | {runs} | {} |", tool.name(), spread(v));
                }
            }
        }
    }
}
