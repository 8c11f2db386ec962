//! Memory stays flat however long the stream is (SPEC §3), and an oversized
//! line ends with the documented error rather than an out-of-memory death.
//!
//! The stream is replayed with `--from-sse -` so no server is in the way; the
//! child's peak RSS is its own `VmHWM`, never the test process's.

use crate::support::*;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

/// Runs `orstream --from-sse -` on `repeats` copies of `event` (then
/// `tail`), returning (exit code, peak RSS in KiB as it exits, stderr).
fn replay(event: &'static [u8], repeats: usize, tail: &'static [u8]) -> (i32, i64, String) {
    let mut child = orstream().args(["--from-sse", "-"]).spawn_child(|c| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
    });
    // Before any input: until then the child cannot exit.
    watch_peak(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let block: Vec<u8> = event
            .iter()
            .copied()
            .cycle()
            .take(event.len() * 1000)
            .collect();
        for _ in 0..repeats / 1000 {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
        let _ = stdin.write_all(tail);
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let peak = peak_at_exit(child.id());
    let status = child.wait().expect("wait for orstream");
    feeder.join().unwrap();
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (code, peak, err_reader.join().unwrap())
}

const EVENT: &[u8] = br#"data: {"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","choices":[{"index":0,"delta":{"content":" word","role":"assistant"},"finish_reason":null,"native_finish_reason":null}]}

"#;
const END: &[u8] =
    b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

/// Replays `repeats` events and returns the child's peak RSS once all their
/// text has reached stdout, while the child still waits for the stream's end.
fn peak_after(repeats: usize) -> i64 {
    let mut child = orstream().args(["--from-sse", "-"]).spawn_child(|c| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
    });
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let block: Vec<u8> = EVENT
            .iter()
            .copied()
            .cycle()
            .take(EVENT.len() * 1000)
            .collect();
        for _ in 0..repeats / 1000 {
            stdin.write_all(&block).unwrap();
        }
        stdin
    });
    // Each event's text is " word": wait until all of it came out.
    let mut stdout = child.stdout.take().unwrap();
    let want = repeats * " word".len();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < want {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "orstream ended early after {got} bytes");
        got += n;
    }
    let peak = vm_hwm(child.id());
    let mut stdin = feeder.join().unwrap();
    stdin.write_all(END).unwrap();
    drop(stdin);
    std::io::Read::read_to_end(&mut stdout, &mut Vec::new()).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    peak
}

#[test]
fn peak_memory_is_flat_from_10_to_100_megabytes() {
    let small = 10 * 1024 * 1024 / EVENT.len() / 1000 * 1000;
    let rss_small = peak_after(small);
    let rss_large = peak_after(small * 10);
    // Ten times the stream may cost no more than a little slack.
    assert!(
        rss_large <= rss_small + rss_small / 10 + 512,
        "peak RSS grew from {rss_small} KiB (10 MB) to {rss_large} KiB (100 MB)"
    );
    assert!(rss_large < 16 * 1024, "peak RSS {rss_large} KiB");
}

#[test]
fn a_line_over_16_mib_is_a_server_error_not_a_crash() {
    // 17 MiB of one line with no line ending.
    let (code, rss, err) = replay(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 17 * 1024 * 8, b"");
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("orstream: error:") && err.contains("16 MiB"),
        "{err}"
    );
    assert!(rss < 128 * 1024, "peak RSS {rss} KiB for a capped line");
}
