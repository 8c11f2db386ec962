//! Short requests (issues 5 and 8): every client of [`SHORT_TOOLS`] fetches
//! the 20-chunk answer, in one loop, in a rotating order.
//!
//! * **short request**: 20 content chunks; wall time from `spawn` to the
//!   child being reaped, median of N runs, as a ratio to curl's median
//!   (`true` is timed the same way as the spawn floor). Also with `--json`.
//! * **TLS short request**: the same 20-chunk answer over HTTPS from the
//!   loopback rustls server (same process, ring provider) presenting
//!   `tests/fixtures/server.pem` (SAN `DNS:localhost, IP:127.0.0.1`; the
//!   clients connect to `https://127.0.0.1:PORT`, so no `localhost` lookup or
//!   `::1` attempt is timed). orstream gets `SSL_CERT_FILE=tests/fixtures/ca.pem`,
//!   curl `--cacert tests/fixtures/ca.pem`. Also orstream with a bundle of
//!   the system's ~140 certificates plus the test CA, which shows what
//!   parsing a big bundle costs when it *is* read.
//! * **plain http with `SSL_CERT_FILE`** set to the system bundle: orstream
//!   must not read it for an `http` URL, so its median should equal the one
//!   without the variable. All short-request variants (http and https) run
//!   in one loop, alternating, in a rotating order.

use std::collections::HashMap;
use std::time::Duration;

use crate::body::Framing;
use crate::child::{Reaped, Status};
use crate::clients::{big_bundle, check, Tool, SYSTEM_BUNDLE};
use crate::report::{ms, out, pct, ratio, spread, verdict};
use crate::{lock, Bench};

/// Every short-request client, run in one rotating loop.
const SHORT_TOOLS: [Tool; 8] = [
    Tool::Orstream,
    Tool::OrstreamJson,
    Tool::Curl,
    Tool::Floor,
    Tool::OrstreamCertEnv,
    Tool::OrstreamTls,
    Tool::OrstreamTlsBundle,
    Tool::CurlTls,
];

/// Spawn → exit of each client's counted runs.
pub struct Short {
    runs: usize,
    walls: HashMap<Tool, Vec<Duration>>,
}

/// Runs to the end with stdout drained; returns the reaping, the stdout
/// length and stderr.
fn run_drained(tool: Tool, base: &str) -> (Reaped, usize, String) {
    let mut run = tool.spawn(base);
    let drain = run.drain((), |_, _| {});
    let (r, err) = run.finish();
    (r, drain.join().map_or(0, |(n, _)| n), err)
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Short {
    let (plan, server) = (&bench.plan, &bench.server);
    bench.say(format!(
        "short: {} runs per tool, alternating (http and https)",
        plan.short_runs
    ));
    big_bundle();
    let mut walls: HashMap<Tool, Vec<Duration>> = HashMap::new();
    let body = server.state.body(20, Framing::K32);
    for round in 0..=plan.short_runs {
        // Rotate the order each round so no client always follows the same one.
        let mut order = SHORT_TOOLS;
        order.rotate_left(round % SHORT_TOOLS.len());
        for tool in order {
            let (r, len, err) = run_drained(tool, &tool.url(server, "bulk/20/k32"));
            check(anomalies, tool, "short", &r, Status::Code(0), &err);
            if len != tool.expected_len(&body) {
                anomalies.push(format!("{} short: {len} bytes on stdout", tool.name()));
            }
            if round > 0 {
                // round 0 warms the page cache and is not counted
                walls.entry(tool).or_default().push(r.wall);
            }
        }
    }
    Short {
        runs: plan.short_runs,
        walls,
    }
}

/// `BEGIN CERTIFICATE` lines in a PEM file.
fn cert_count(path: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.matches("-----BEGIN CERTIFICATE-----").count())
        .unwrap_or(0)
}

impl Short {
    fn median(&self, tool: Tool) -> Duration {
        pct(&self.walls[&tool], 0.5)
    }

    /// The short request row: orstream against curl.
    pub fn row(&self, w: &mut String) {
        let (so, sc) = (self.median(Tool::Orstream), self.median(Tool::Curl));
        out!(
            w,
            "| short request (20 chunks), spawn → exit, median of {} | {} | {} | {:.3}× | ≤ 0.25× curl | {} |",
            self.runs, ms(so), ms(sc), ratio(so, sc), verdict(ratio(so, sc) <= 0.25)
        );
    }

    /// The `--json` short request row.
    pub fn row_json(&self, w: &mut String) {
        let (so, sj, sc) = (
            self.median(Tool::Orstream),
            self.median(Tool::OrstreamJson),
            self.median(Tool::Curl),
        );
        out!(
            w,
            "| `--json` short request, median | {} ({:.2}× text) | {} | {:.2}× | within 1.5× text | {} |",
            ms(sj), ratio(sj, so), ms(sc), ratio(sj, sc), verdict(ratio(sj, so) <= 1.5)
        );
    }

    /// The https rows, and plain http with `SSL_CERT_FILE`.
    pub fn rows_tls(&self, w: &mut String) {
        let med = |tool| self.median(tool);
        let (so, sc) = (med(Tool::Orstream), med(Tool::Curl));
        let (ot, ob, ct) = (
            med(Tool::OrstreamTls),
            med(Tool::OrstreamTlsBundle),
            med(Tool::CurlTls),
        );
        out!(
            w,
            "| TLS short request (20 chunks, https to the loopback rustls server), spawn → exit, median of {} | {} (+{} over http) | {} (+{} over http) | {:.3}× | ≤ 0.30× curl (issue 18) | {} |",
            self.runs, ms(ot), ms(ot.saturating_sub(so)), ms(ct), ms(ct.saturating_sub(sc)), ratio(ot, ct),
            verdict(ratio(ot, ct) <= 0.30)
        );
        out!(
            w,
            "| TLS short request, SSL_CERT_FILE = system bundle + ca.pem ({} certificates), median | {} ({:+.2} ms vs ca.pem alone: the cost of reading a big bundle) | {} | {:.3}× | ≤ 0.33× curl (issue 18) | {} |",
            cert_count(big_bundle()), ms(ob), (ob.as_secs_f64() - ot.as_secs_f64()) * 1e3, ms(ct), ratio(ob, ct),
            verdict(ratio(ob, ct) <= 0.33)
        );
        // "Within noise": the medians of the two http variants differ by less
        // than 5 % or by less than a third of the interquartile range.
        let plain = &self.walls[&Tool::Orstream];
        let oc = med(Tool::OrstreamCertEnv);
        let diff = oc.as_secs_f64() - so.as_secs_f64();
        let iqr = pct(plain, 0.75)
            .saturating_sub(pct(plain, 0.25))
            .as_secs_f64();
        let same = diff.abs() <= 0.05 * so.as_secs_f64() || diff.abs() <= iqr / 3.0;
        out!(
            w,
            "| plain-http short request with SSL_CERT_FILE = {SYSTEM_BUNDLE} ({} certificates), median | {} ({:+.2} ms vs {} without; IQR without {:.2} ms) | {} | {:.3}× | equal to without, within noise | {} |",
            cert_count(SYSTEM_BUNDLE), ms(oc), diff * 1e3, ms(so), iqr * 1e3, ms(sc), ratio(oc, sc), verdict(same)
        );
    }

    /// Every client's min, p50, p90 and max.
    pub fn detail(&self, w: &mut String) {
        out!(
            w,
            "\n### Short request detail (spawn → exit, {} runs each)\n",
            self.runs
        );
        out!(w, "| client | min | p50 | p90 | max |");
        out!(w, "|---|---|---|---|---|");
        for tool in SHORT_TOOLS {
            out!(w, "| {} | {} |", tool.name(), spread(&self.walls[&tool]));
        }
    }
}

/// What the TLS server saw each client negotiate; its failures become
/// anomalies.
pub fn tls_sessions(bench: &Bench, anomalies: &mut Vec<String>, w: &mut String) {
    let state = &bench.server.state;
    out!(w, "\nTLS sessions (as the server saw them):");
    for seen in lock(&state.tls_seen).iter() {
        out!(w, "- {seen}");
    }
    for e in lock(&state.tls_failures).iter() {
        anomalies.push(format!("TLS server: {e}"));
    }
}
