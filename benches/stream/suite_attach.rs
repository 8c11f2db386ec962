//! Attachment upload (issue 9, SPEC §8: memory flat whatever the
//! attachments weigh): orstream `-a FILE.pdf` against curl sending the same
//! request body from a file.
//!
//! * **attachment upload**: a 1 MiB and a 100 MiB PDF-looking file
//!   (`%PDF-1.4\n`, then pseudo-random bytes, written under
//!   `CARGO_TARGET_TMPDIR` and deleted after) sent as
//!   `orstream --base-url … -a FILE summarise`, beside
//!   `curl -sN --data-binary @body.json -H 'Content-Type: application/json'`
//!   of the same request. `body.json` is built once, untimed, and checked
//!   byte for byte against what orstream sent on an uncounted warm-up run
//!   (the server copies that one body to a file); so curl's time leaves out
//!   the base64 encoding that orstream's includes. The `/attach/ID` route
//!   reads the whole `Content-Length` body in 256 KiB reads and drops it,
//!   then holds its answer (the 20-chunk stream) until the bench has read the
//!   child's `VmHWM`, as `/bulk` holds its tail. Time is spawn → exit,
//!   median; MB/s is body bytes over that time. The server answers
//!   `Expect: 100-continue` (curl sends it for a body over 1 MiB) at once,
//!   else curl would wait a second before sending.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::attach_files::{first_difference, make_body_json, make_pdf, ATTACH_PROMPT};
use crate::body::Framing;
use crate::child::{self, alive, hermetic, vm_hwm_kib, which, Status};
use crate::clients::{check, Tool};
use crate::report::{load_average, max, mib, ms, out, pct, verdict};
use crate::server::Upload;
use crate::Bench;

pub const MIB: u64 = 1024 * 1024;
const CLIENTS: [Tool; 2] = [Tool::Orstream, Tool::Curl];

/// One upload: spawn → reaped, the child's CPU, its `VmHWM` once the server
/// had the whole body.
#[derive(Clone, Copy)]
struct UploadRun {
    wall: Duration,
    cpu: Duration,
    hwm_kib: u64,
}

/// The files of one attachment size: the PDF, curl's `body.json` and its
/// length (the body both clients should send).
struct AttachFiles {
    pdf: PathBuf,
    body_json: PathBuf,
    body: u64,
}

/// What one attachment size gave.
struct AttachResult {
    size: u64,
    /// `body.json`'s length, and the base64 part of it.
    body: u64,
    base64: u64,
    runs: HashMap<Tool, Vec<UploadRun>>,
    /// curl sent `Expect: 100-continue` (the server answered it at once).
    curl_expect: bool,
}

/// Every size's results, and the load around the suite.
pub struct Attach {
    results: Vec<AttachResult>,
    load: (String, String),
}

/// `orstream --base-url … -a PDF summarise`, or `curl -sN --data-binary
/// @body.json -H 'Content-Type: application/json' …/chat/completions`.
fn upload_command(tool: Tool, base: &str, files: &AttachFiles) -> Command {
    let mut c = match tool {
        Tool::Curl => {
            let mut c = Command::new(which("curl"));
            c.arg("-sN")
                .arg("--data-binary")
                .arg(format!("@{}", files.body_json.display()))
                .args(["-H", "Content-Type: application/json"])
                .arg(format!("{base}/chat/completions"));
            c
        }
        _ => {
            let mut c = child::orstream();
            c.args(["--base-url", base, "--retries", "0", "-a"])
                .arg(&files.pdf)
                .arg(ATTACH_PROMPT);
            c
        }
    };
    hermetic(&mut c);
    c
}

/// One `/attach/ID` run. The server reads the body as it comes and holds its
/// answer; once it has the whole body the bench reads the child's `VmHWM`
/// (the upload is over: what is left is a 20-chunk answer) and lets the
/// server answer. With `capture`, the server also copies the body there.
fn run_upload(
    tool: Tool,
    bench: &Bench,
    files: &AttachFiles,
    capture: Option<&Path>,
    anomalies: &mut Vec<String>,
) -> Option<(UploadRun, Upload)> {
    let (state, id) = (&bench.server.state, bench.next_id());
    let expect_body = files.body;
    let what = format!("{} attach {}", tool.name(), files.pdf.display());
    if let Some(path) = capture {
        state.capture_to(id, path);
    }
    let base = bench.server.url(&format!("attach/{id}"));
    let mut run = child::spawn(tool.name(), upload_command(tool, &base, files));
    let pid = run.pid();
    let drain = run.drain((), |_, _| {});
    let upload = state.wait_upload(id, Duration::from_secs(120), || !alive(pid));
    let hwm = vm_hwm_kib(pid);
    state.release(id);
    let (r, err) = run.finish();
    let len = drain.join().map_or(0, |(n, _)| n);
    check(anomalies, tool, &what, &r, Status::Code(0), &err);
    let answer = state.body(20, Framing::K32);
    let want_len = tool.expected_len(&answer);
    if len != want_len {
        anomalies.push(format!(
            "{what}: {len} bytes on stdout (expected {want_len})"
        ));
    }
    let Some(upload) = upload else {
        anomalies.push(format!("{what}: the server never had the whole body"));
        return None;
    };
    if upload.length != expect_body || upload.received != Ok(expect_body) {
        anomalies.push(format!(
            "{what}: Content-Length {}, read {:?}, expected {expect_body}",
            upload.length, upload.received
        ));
    }
    let Some(hwm_kib) = hwm else {
        anomalies.push(format!("{what}: no VmHWM"));
        return None;
    };
    let run = UploadRun {
        wall: r.wall,
        cpu: r.cpu,
        hwm_kib,
    };
    Some((run, upload))
}

/// One size: makes the files, checks on a warm-up that curl sends what
/// orstream sends, then `runs` counted rounds of both clients.
fn measure(
    bench: &Bench,
    dir: &Path,
    (size, runs): (u64, usize),
    anomalies: &mut Vec<String>,
) -> AttachResult {
    let tag = format!("{}MiB", size / MIB);
    let pdf = dir.join(format!("paper-{tag}.pdf"));
    let body_json = dir.join(format!("body-{tag}.json"));
    let sent = dir.join(format!("sent-{tag}.json"));
    make_pdf(&pdf, size).unwrap_or_else(|e| panic!("{}: {e}", pdf.display()));
    let body =
        make_body_json(&pdf, &body_json).unwrap_or_else(|e| panic!("{}: {e}", body_json.display()));
    bench.say(format!(
        "attach: {tag} PDF, body {body} bytes, {runs} runs per client"
    ));
    let mut files = AttachFiles {
        pdf,
        body_json,
        body,
    };
    // Warm-up, not counted: the files into the page cache, and orstream's
    // body copied to `sent` to check that curl sends the same request.
    let first = run_upload(Tool::Orstream, bench, &files, Some(&sent), anomalies);
    match first_difference(&sent, &files.body_json) {
        Ok(None) => {}
        Ok(Some(at)) => anomalies.push(format!(
            "attach {tag}: orstream's body differs from body.json at byte {at}; curl sends orstream's"
        )),
        Err(e) => anomalies.push(format!("attach {tag}: comparing the bodies: {e}")),
    }
    if first.is_some() && std::fs::rename(&sent, &files.body_json).is_ok() {
        // What orstream sent is what curl gets, even if they differ.
        files.body = std::fs::metadata(&files.body_json).map_or(body, |m| m.len());
    }
    let _ = std::fs::remove_file(&sent);
    let warm = run_upload(Tool::Curl, bench, &files, None, anomalies);
    let curl_expect = warm.is_some_and(|(_, u)| u.expect_continue);
    let mut by_tool: HashMap<Tool, Vec<UploadRun>> = HashMap::new();
    for round in 0..runs {
        let mut order = CLIENTS;
        order.rotate_left(round % CLIENTS.len());
        for tool in order {
            if let Some((r, _)) = run_upload(tool, bench, &files, None, anomalies) {
                by_tool.entry(tool).or_default().push(r);
            }
        }
    }
    let _ = std::fs::remove_file(&files.pdf);
    let _ = std::fs::remove_file(&files.body_json);
    AttachResult {
        size,
        body: files.body,
        base64: size.div_ceil(3) * 4,
        runs: by_tool,
        curl_expect,
    }
}

/// Every size of the plan, in a directory under the target dir.
pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Attach {
    let load_before = load_average();
    let dir = PathBuf::from(format!(
        "{}/bench-attach-{}",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let results = bench
        .plan
        .attach
        .into_iter()
        .map(|size_runs| measure(bench, &dir, size_runs, anomalies))
        .collect();
    let _ = std::fs::remove_dir(&dir);
    let load_after = load_average();
    bench.say("attach: done".to_string());
    Attach {
        results,
        load: (load_before, load_after),
    }
}

fn fmt_size(n: u64) -> String {
    format!("{} MiB", n / MIB)
}

impl AttachResult {
    fn get(&self, tool: Tool, f: fn(&UploadRun) -> Duration) -> Vec<Duration> {
        self.runs
            .get(&tool)
            .map_or(Vec::new(), |v| v.iter().map(f).collect())
    }

    fn hwm(&self, tool: Tool) -> Option<u64> {
        self.runs.get(&tool)?.iter().map(|u| u.hwm_kib).max()
    }
}

impl Attach {
    /// The section: the side-by-side table, the SPEC §8 verdict, every run's
    /// spread, and whether curl asked for `100 Continue`.
    pub fn report(&self, w: &mut String) {
        if !w.ends_with("\n\n") {
            w.push('\n');
        }
        out!(
            w,
            "### Attachment upload (issue 9): `orstream -a FILE.pdf {ATTACH_PROMPT}` vs `curl -sN --data-binary @body.json`\n"
        );
        out!(
            w,
            "Time: spawn → exit, median; peak RSS: the child's `VmHWM`, max of runs, read once the\n\
             server has the whole body (it holds its 20-chunk answer until then). MB/s: body bytes / time.\n\
             orstream's time includes base64-encoding the file while sending; curl's does not\n\
             (body.json was made once, untimed; curl reads it whole into memory, then sends it).\n\
             Load average before / after: {} / {}.\n",
            self.load.0,
            self.load.1
        );
        self.side_by_side(w);
        self.detail(w);
        for r in &self.results {
            out!(
                w,
                "\n{}: curl sent `Expect: 100-continue`: {} (the server answers `100 Continue` at once).",
                fmt_size(r.size),
                if r.curl_expect { "yes" } else { "no" }
            );
        }
    }

    /// One row per size: both clients' median time and peak RSS, MB/s.
    fn side_by_side(&self, w: &mut String) {
        let rate = |bytes: u64, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
        let peak = |r: &AttachResult, tool| r.hwm(tool).map_or("—".to_string(), mib);
        out!(
            w,
            "| size | orstream time | orstream peak RSS | curl time | curl peak RSS | body bytes | MB/s orstream / curl |"
        );
        out!(w, "|---|---|---|---|---|---|---|");
        for r in &self.results {
            let (o, c) = (
                r.get(Tool::Orstream, |u| u.wall),
                r.get(Tool::Curl, |u| u.wall),
            );
            if o.is_empty() || c.is_empty() {
                out!(w, "| {} | no data | | | | {} | |", fmt_size(r.size), r.body);
                continue;
            }
            let (om, cm) = (pct(&o, 0.5), pct(&c, 0.5));
            out!(
                w,
                "| {} | {} | {} | {} | {} | {} (4·⌈n/3⌉ = {} + JSON {}) | {:.0} / {:.0} |",
                fmt_size(r.size),
                ms(om),
                peak(r, Tool::Orstream),
                ms(cm),
                peak(r, Tool::Curl),
                r.body,
                r.base64,
                r.body - r.base64,
                rate(r.body, om),
                rate(r.body, cm)
            );
        }
        let big = self.results.iter().find(|r| r.size >= 100 * MIB);
        if let Some((r, h)) = big.and_then(|r| Some((r, r.hwm(Tool::Orstream)?))) {
            out!(
                w,
                "\norstream's peak RSS with a {} attachment: {} (SPEC §8: under 16 MiB): {}.",
                fmt_size(r.size),
                mib(h),
                verdict(h < 16 * 1024)
            );
        }
    }

    /// Per size and client: runs, min, p50, max, CPU p50, peak RSS.
    fn detail(&self, w: &mut String) {
        out!(
            w,
            "\n| size | client | runs | min | p50 | max | CPU p50 | peak RSS (max) |"
        );
        out!(w, "|---|---|---|---|---|---|---|---|");
        for r in &self.results {
            for tool in CLIENTS {
                let v = r.get(tool, |u| u.wall);
                if v.is_empty() {
                    continue;
                }
                out!(
                    w,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    fmt_size(r.size),
                    tool.name(),
                    v.len(),
                    ms(pct(&v, 0.0)),
                    ms(pct(&v, 0.5)),
                    ms(max(&v)),
                    ms(pct(&r.get(tool, |u| u.cpu), 0.5)),
                    r.hwm(tool).map_or("—".to_string(), mib)
                );
            }
        }
    }
}
