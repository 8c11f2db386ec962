//! Bulk streams (issue 5): CPU per chunk and peak RSS of orstream (text and
//! `--json`) and curl on a long answer, in two HTTP framings.
//!
//! * **bulk**: 200k chunks (~65 MB), CPU time (user + sys) of the child per
//!   chunk, taken from `wait4(2)`'s `rusage` of that one child; both with
//!   32 KiB HTTP chunks and with one HTTP chunk per SSE event. Also with
//!   `--json`.
//! * **peak RSS** at 20k and 200k chunks: the child's `VmHWM` from
//!   `/proc/PID/status`, read while the server holds back the last three
//!   events. `ru_maxrss` from `wait4` is printed too but is useless here:
//!   Linux keeps the pre-`exec` image's peak in it, i.e. this bench's RSS.

use std::collections::HashMap;
use std::time::Duration;

use crate::body::Framing;
use crate::child::{vm_hwm_kib, Reaped, Status};
use crate::clients::{check, Tool};
use crate::report::{max, mib, ms, out, pct, ratio, us3, verdict};
use crate::Bench;

const TOOLS: [Tool; 3] = [Tool::Orstream, Tool::OrstreamJson, Tool::Curl];

/// One bulk measurement: CPU per chunk, peak RSS, wall.
#[derive(Clone, Copy)]
struct Sample {
    cpu_per_chunk: Duration,
    /// `VmHWM` of the child, read while it waits for the tail.
    hwm_kib: u64,
    /// `ru_maxrss` from `wait4`: polluted by the bench's own RSS (see doc).
    maxrss_kib: u64,
    wall: Duration,
}

/// Every sample, by client, size and framing.
pub struct Bulk {
    sizes: [usize; 2],
    reps: usize,
    samples: HashMap<(Tool, usize, Framing), Vec<Sample>>,
    /// SSE megabytes of each body, for the throughput column.
    sse_mb: HashMap<(usize, Framing), f64>,
}

/// Renders every body up front so no timing includes it.
pub fn render_bodies(bench: &Bench) {
    let state = &bench.server.state;
    state.body(20, Framing::K32);
    for n in bench.plan.bulk_sizes {
        for f in Framing::BOTH {
            let b = state.body(n, f);
            bench.say(format!(
                "body {n} chunks, {}: {:.1} MB SSE ({} B/chunk), {:.1} MB on the wire",
                f.name(),
                b.sse_len.0 as f64 / 1e6,
                b.sse_len.0 / n,
                b.wire.len() as f64 / 1e6
            ));
        }
    }
}

/// One `/bulk/N/F/ID` run: the server holds the tail back until all content
/// is on the child's stdout, the child's `VmHWM` is read, then the tail goes
/// out. Returns the reaping and the `VmHWM` (KiB).
fn run_bulk(
    tool: Tool,
    bench: &Bench,
    n: usize,
    f: Framing,
    anomalies: &mut Vec<String>,
) -> (Reaped, Option<u64>) {
    let (state, id) = (bench.server.state.clone(), bench.next_id());
    let body = state.body(n, f);
    let mut run = tool.spawn(&bench.server.url(&format!("bulk/{n}/{}/{id}", f.name())));
    let (pid, held, st) = (run.pid(), tool.held_len(&body), state.clone());
    let drain = run.drain(None, move |hwm, total| {
        if total >= held && hwm.is_none() {
            *hwm = vm_hwm_kib(pid);
            st.release(id);
        }
    });
    let (r, err) = run.finish();
    let (len, hwm) = drain.join().unwrap();
    state.release(id);
    check(anomalies, tool, "bulk", &r, Status::Code(0), &err);
    if len != tool.expected_len(&body) || hwm.is_none() {
        anomalies.push(format!(
            "{} bulk {n} {}: {len} bytes on stdout (expected {}), VmHWM {hwm:?}",
            tool.name(),
            f.name(),
            tool.expected_len(&body)
        ));
    }
    (r, hwm)
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Bulk {
    let plan = &bench.plan;
    let mut samples: HashMap<(Tool, usize, Framing), Vec<Sample>> = HashMap::new();
    let mut sse_mb = HashMap::new();
    for n in plan.bulk_sizes {
        for f in Framing::BOTH {
            bench.say(format!("bulk: {n} chunks, {} framing", f.name()));
            sse_mb.insert((n, f), bench.server.state.body(n, f).sse_len.0 as f64 / 1e6);
            for _ in 0..plan.bulk_reps {
                for tool in TOOLS {
                    let (r, hwm) = run_bulk(tool, bench, n, f, anomalies);
                    samples.entry((tool, n, f)).or_default().push(Sample {
                        cpu_per_chunk: r.cpu / n as u32,
                        hwm_kib: hwm.unwrap_or(0),
                        maxrss_kib: r.maxrss_kib,
                        wall: r.wall,
                    });
                }
            }
        }
    }
    Bulk {
        sizes: plan.bulk_sizes,
        reps: plan.bulk_reps,
        samples,
        sse_mb,
    }
}

/// `20k`.
fn k(n: usize) -> String {
    format!("{}k", n / 1000)
}

impl Bulk {
    fn median(&self, tool: Tool, n: usize, f: Framing, get: fn(&Sample) -> Duration) -> Duration {
        let v: Vec<Duration> = self.samples[&(tool, n, f)].iter().map(get).collect();
        pct(&v, 0.5)
    }

    fn cpu(&self, tool: Tool, n: usize, f: Framing) -> Duration {
        self.median(tool, n, f, |s| s.cpu_per_chunk)
    }

    fn peak(&self, tool: Tool, n: usize, f: Framing, get: fn(&Sample) -> u64) -> u64 {
        let v: Vec<u64> = self.samples[&(tool, n, f)].iter().map(get).collect();
        max(&v)
    }

    fn rss(&self, tool: Tool, n: usize, f: Framing) -> u64 {
        self.peak(tool, n, f, |s| s.hwm_kib)
    }

    /// CPU per chunk at the big size, then peak RSS small → big, per framing.
    pub fn rows(&self, w: &mut String) {
        let [small, big] = self.sizes;
        for f in Framing::BOTH {
            let (o, c) = (
                self.cpu(Tool::Orstream, big, f),
                self.cpu(Tool::Curl, big, f),
            );
            let (target, res) = match f {
                Framing::K32 => ("≤ 1.0 µs/chunk", verdict(o <= Duration::from_nanos(1000))),
                Framing::Event => ("— (no target)", "—"),
            };
            out!(
                w,
                "| bulk {} chunks, {} framing: CPU (user+sys) per chunk, median of {} | {} | {} | {:.2}× | {target} | {res} |",
                k(big), if f == Framing::K32 { "32 KiB HTTP chunk" } else { "one HTTP chunk per event" },
                self.reps, us3(o), us3(c), ratio(o, c)
            );
        }
        for f in Framing::BOTH {
            let (a, b) = (
                self.rss(Tool::Orstream, small, f),
                self.rss(Tool::Orstream, big, f),
            );
            let growth = b as f64 / a as f64 - 1.0;
            out!(
                w,
                "| peak RSS at {} → {} chunks ({}), max of runs | {} → {} ({:+.1} %) | {} → {} | — | ≤ 4 MiB, flat within 10 % | {} |",
                k(small), k(big), f.name(), mib(a), mib(b), growth * 100.0,
                mib(self.rss(Tool::Curl, small, f)), mib(self.rss(Tool::Curl, big, f)),
                verdict(a.max(b) <= 4096 && growth.abs() <= 0.10)
            );
        }
    }

    /// `--json` against text: CPU per chunk per framing, then peak RSS.
    pub fn rows_json(&self, w: &mut String) {
        let [small, big] = self.sizes;
        for f in Framing::BOTH {
            let (j, o) = (
                self.cpu(Tool::OrstreamJson, big, f),
                self.cpu(Tool::Orstream, big, f),
            );
            let c = self.cpu(Tool::Curl, big, f);
            out!(
                w,
                "| `--json` bulk {} ({}): CPU per chunk | {} ({:.2}× text) | {} | {:.2}× | within 1.5× text | {} |",
                k(big), f.name(), us3(j), ratio(j, o), us3(c), ratio(j, c), verdict(ratio(j, o) <= 1.5)
            );
        }
        let (a, b) = (
            self.rss(Tool::OrstreamJson, small, Framing::K32),
            self.rss(Tool::OrstreamJson, big, Framing::K32),
        );
        let text = self.rss(Tool::Orstream, big, Framing::K32);
        out!(
            w,
            "| `--json` peak RSS {} → {} (k32) | {} → {} ({:.2}× text) | — | — | within 1.5× text | {} |",
            k(small), k(big), mib(a), mib(b), b as f64 / text as f64,
            verdict(b as f64 <= 1.5 * text as f64)
        );
    }

    /// Every size, framing and client: CPU, wall, throughput, both RSS.
    pub fn detail(&self, w: &mut String) {
        out!(w, "\n### Bulk detail (medians; RSS = max of runs)\n\n`ru_maxrss` from `wait4` is not the child's own peak: Linux carries the\nspawning process's peak RSS over `exec` (`setmax_mm_hiwater_rss`), so it\nshows this bench's RSS (pre-rendered bodies). The peak RSS figures above are\nthe child's `VmHWM`, read from `/proc/PID/status` while the child waits for\nthe last three events (the server holds them back until all content has\nreached the child's stdout).\n");
        out!(
            w,
            "| chunks | framing | client | CPU / chunk | wall | throughput | peak RSS (VmHWM) | ru_maxrss (polluted) |"
        );
        out!(w, "|---|---|---|---|---|---|---|---|");
        for n in self.sizes {
            for f in Framing::BOTH {
                for tool in TOOLS {
                    let wall = self.median(tool, n, f, |s| s.wall);
                    out!(
                        w,
                        "| {} | {} | {} | {} | {} | {:.0} MB/s | {} | {} |",
                        k(n),
                        f.name(),
                        tool.name(),
                        us3(self.cpu(tool, n, f)),
                        ms(wall),
                        self.sse_mb[&(n, f)] / wall.as_secs_f64(),
                        mib(self.rss(tool, n, f)),
                        mib(self.peak(tool, n, f, |s| s.maxrss_kib))
                    );
                }
            }
        }
    }
}
