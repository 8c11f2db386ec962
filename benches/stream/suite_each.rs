//! Many prompts (issue 17, SPEC §12): `orstream --each` against the loop it
//! replaces, and its memory as FILE grows.
//!
//! * **1,000 items at `-P 16`**: `orstream --each items.txt -P 16 --base-url
//!   …/bulk/20/event -q` (each item a 20-chunk answer from the loopback
//!   server) beside `xargs -d '\n' -P 16 -I{} orstream --base-url … -q
//!   --result {}` on the same lines — one orstream process per item, which
//!   is what people write today. Wall time spawn → reaped, median of runs
//!   alternating the two; the peak RSS of the `--each` process is its
//!   `VmHWM`, sampled every 5 ms while it runs (the high-water mark only
//!   rises, so the last sample is the peak to within one sample).
//! * **flat memory**: the same `--each` run on 1,000 and on 100,000 items
//!   (10,000 in a quick run), peak RSS of each; the target is the larger
//!   within 1.1 × the smaller.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::{self, hermetic, reap, vm_hwm_kib, which, Status};
use crate::report::{mib, ms, out, pct, verdict};
use crate::Bench;

/// What was measured.
pub struct Each {
    items: usize,
    each: Vec<Duration>,
    xargs: Vec<Duration>,
    each_peak_kib: u64,
    small: (usize, u64),
    large: (usize, u64),
}

/// A file of `n` item lines under the bench's temp dir.
fn items_file(n: usize) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("each-{n}.txt"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(f, "review number {i}: the product works as described").unwrap();
    }
    f.flush().unwrap();
    path
}

/// One `--each` run: wall time, peak RSS, and stdout lines (objects).
fn run_each(base: &str, file: &Path, anomalies: &mut Vec<String>) -> (Duration, u64) {
    let mut cmd = child::orstream();
    hermetic(&mut cmd).args([
        "--base-url",
        base,
        "--each",
        file.to_str().unwrap(),
        "-P",
        "16",
        "-q",
    ]);
    let started = Instant::now();
    let mut run = child::spawn("orstream --each", cmd);
    let lines = run.drain(0usize, |_, _| {});
    let pid = run.pid();
    let mut peak = 0;
    while child::alive(pid) {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = reap(&run.child, started);
    let (bytes, _) = lines.join().unwrap();
    if !matches!(r.status, Status::Code(0)) || bytes == 0 {
        anomalies.push(format!(
            "--each {}: {:?}, {bytes} bytes",
            file.display(),
            r.status
        ));
    }
    (r.wall, peak)
}

/// One xargs run: one orstream per item, 16 at a time.
fn run_xargs(base: &str, file: &Path, anomalies: &mut Vec<String>) -> Duration {
    let mut cmd = Command::new(which("xargs"));
    hermetic(&mut cmd)
        .stdin(Stdio::from(std::fs::File::open(file).unwrap()))
        .args(["-d", "\n", "-P", "16", "-I{}"])
        .arg(env!("CARGO_BIN_EXE_orstream"))
        .args(["--base-url", base, "-q", "--result", "{}"]);
    let started = Instant::now();
    let mut run = child::spawn("xargs", cmd);
    let lines = run.drain(0usize, |_, _| {});
    let r = reap(&run.child, started);
    let (bytes, _) = lines.join().unwrap();
    if !matches!(r.status, Status::Code(0)) || bytes == 0 {
        anomalies.push(format!("xargs: {:?}, {bytes} bytes", r.status));
    }
    r.wall
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Each {
    let quick = bench.plan.quick;
    let (items, runs, large) = if quick {
        (1_000, 1, 10_000)
    } else {
        (1_000, 5, 100_000)
    };
    let base = bench.server.url("bulk/20/event");
    let file = items_file(items);
    let (mut each, mut xargs, mut each_peak_kib) = (Vec::new(), Vec::new(), 0);
    for i in 0..runs {
        bench.say(format!("each: {items} items, run {}/{runs}", i + 1));
        let (wall, peak) = run_each(&base, &file, anomalies);
        each.push(wall);
        each_peak_kib = each_peak_kib.max(peak);
        xargs.push(run_xargs(&base, &file, anomalies));
    }
    bench.say(format!("each: {large} items for the memory figure"));
    let (_, small_peak) = run_each(&base, &file, anomalies);
    let large_file = items_file(large);
    let (_, large_peak) = run_each(&base, &large_file, anomalies);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&large_file);
    Each {
        items,
        each,
        xargs,
        each_peak_kib,
        small: (items, small_peak),
        large: (large, large_peak),
    }
}

impl Each {
    pub fn report(&self, w: &mut String) {
        let (e, x) = (pct(&self.each, 0.5), pct(&self.xargs, 0.5));
        let ratio = e.as_secs_f64() / x.as_secs_f64();
        out!(w, "\n### Many prompts (`--each`, issue 17)\n");
        out!(w, "| figure | value | target | result |");
        out!(w, "|---|---|---|---|");
        out!(
            w,
            "| {} items at -P 16: `--each` / `xargs -P 16` (median of {}) | {} / {} = {ratio:.3}× | ≤ 0.5× | {} |",
            self.items,
            self.each.len(),
            ms(e),
            ms(x),
            verdict(ratio <= 0.5)
        );
        out!(
            w,
            "| peak RSS of `--each`, {} items | {} | ≤ 16 MiB | {} |",
            self.items,
            mib(self.each_peak_kib),
            verdict(self.each_peak_kib <= 16 * 1024)
        );
        let growth = self.large.1 as f64 / self.small.1.max(1) as f64;
        out!(
            w,
            "| peak RSS, {} items / {} items | {} / {} = {growth:.3}× | ≤ 1.1× | {} |",
            self.large.0,
            self.small.0,
            mib(self.large.1),
            mib(self.small.1),
            verdict(growth <= 1.1)
        );
    }
}
