//! The whole answer (SPEC §11): `--result` objects byte for byte on every
//! exit path, tool calls from fragments, images saved by their magic bytes
//! and never over another file, sources from all three places, and
//! structured reasoning kept by `-c`.

use crate::support::*;
use base64::Engine;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRpng";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIFjpeg";
const WEBP: &[u8] = b"RIFF\x10\0\0\0WEBPVP8 webp";

/// The object with its two timings replaced by `T` and `E` (they vary),
/// after checking they are integers (or `null` for a missing first token).
fn norm(line: &str) -> String {
    let mut out = line.to_string();
    for (key, stand_in) in [("\"ttft_ms\":", "T"), ("\"elapsed_ms\":", "E")] {
        let at = out
            .find(key)
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            + key.len();
        let len = out[at..]
            .find([',', '}'])
            .unwrap_or_else(|| panic!("{key} unterminated in {line}"));
        let value = &out[at..at + len];
        assert!(
            value == "null" || value.parse::<u64>().is_ok(),
            "{key} {value} is not an integer"
        );
        let value = if value == "null" { "null" } else { stand_in };
        out.replace_range(at..at + len, value);
    }
    out
}

/// The single stdout line of a `--result` run, normalised.
pub(crate) fn object(out: &Output) -> String {
    let stdout = out.stdout_str();
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "not one line\n{}",
        out.report()
    );
    let line = stdout.trim_end();
    serde_json::from_str::<serde_json::Value>(line)
        .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", out.report()));
    norm(line)
}

pub(crate) fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub(crate) fn image_event(urls: &[&str]) -> String {
    let parts: Vec<String> = urls
        .iter()
        .map(|u| format!(r#"{{"type":"image_url","image_url":{{"url":"{u}"}}}}"#))
        .collect();
    ev(&format!(
        r#"{{"choices":[{{"delta":{{"content":"","images":[{}]}}}}]}}"#,
        parts.join(",")
    ))
}

pub(crate) fn sse(events: &[String]) -> Reply {
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    Reply::sse(&refs)
}

const EMPTY: &str = r#""warnings":[],"model":null,"provider":null,"generation_id":null,"usage":null,"citations":[],"images":[],"tool_calls":[]"#;

// ---------------------------------------------------------------------------
// --result on every exit path
// ---------------------------------------------------------------------------

#[test]
fn result_of_a_completed_answer() {
    let server = Server::start(vec![Reply::sse(&[
        &chunk("Hel"),
        &chunk("lo"),
        &finish("stop"),
        &usage_chunk(),
        DONE,
    ])]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    out.assert_code(0);
    assert_eq!(
        object(&out),
        concat!(
            r#"{"text":"Hello","finish_reason":"stop","exit":0,"error":null,"warnings":[],"#,
            r#""model":"test/model","provider":"TestProvider","generation_id":"gen-1","#,
            r#""usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"cost":0.00012},"#,
            r#""citations":[],"images":[],"tool_calls":[],"ttft_ms":T,"elapsed_ms":E}"#
        )
    );
    assert_stderr_empty(&out);
}

#[test]
fn result_of_every_failure() {
    let cases: Vec<(Reply, &[&str], i32, &str)> = vec![
        (
            Reply::json(401, r#"{"error":{"message":"No auth","code":401}}"#),
            &[],
            3,
            "401 Unauthorized: No auth",
        ),
        (
            Reply::json(429, r#"{"error":{"message":"slow down","code":429}}"#),
            &["--retries", "0"],
            4,
            "429 Too Many Requests: slow down",
        ),
        (
            Reply::json(400, r#"{"error":{"message":"bad model","code":400}}"#),
            &[],
            5,
            "400 Bad Request: bad model",
        ),
        (
            Reply::json(500, r#"{"error":{"message":"boom","code":500}}"#),
            &["--retries", "0"],
            6,
            "500 Internal Server Error: boom",
        ),
    ];
    for (reply, args, code, error) in cases {
        let server = Server::start(vec![reply]);
        let out = orstream_at(&server)
            .arg("--result")
            .args(args)
            .arg("hi")
            .run();
        out.assert_code(code);
        assert_eq!(
            object(&out),
            format!(
                r#"{{"text":"","finish_reason":null,"exit":{code},"error":"{error}",{EMPTY},"ttft_ms":null,"elapsed_ms":E}}"#
            ),
            "{}",
            out.report()
        );
        let (line, _) = error_lines(&out);
        assert_eq!(
            line,
            format!("orstream: error: {error}"),
            "stderr still gets it"
        );
    }
}

#[test]
fn result_of_a_broken_and_a_truncated_stream() {
    let server = Server::start(vec![Reply::sse(&[
        &c("part"),
        &ev(r#"{"error":{"message":"upstream died","code":502},"provider":"P"}"#),
    ])]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    out.assert_code(6);
    assert_eq!(
        object(&out),
        format!(
            r#"{{"text":"part","finish_reason":null,"exit":6,"error":"P: upstream died","warnings":[],"model":null,"provider":"P","generation_id":null,"usage":null,"citations":[],"images":[],"tool_calls":[],"ttft_ms":T,"elapsed_ms":E}}"#
        )
    );

    let server = Server::start(vec![Reply::sse_abrupt(&[&c("cut")])]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    out.assert_code(7);
    assert_eq!(
        object(&out),
        format!(
            r#"{{"text":"cut","finish_reason":null,"exit":7,"error":"stream ended before completion",{EMPTY},"ttft_ms":T,"elapsed_ms":E}}"#
        )
    );

    let url = format!("http://127.0.0.1:{}/v1", dead_port());
    let out = orstream()
        .args(["--base-url", &url, "--retries", "0", "--result", "hi"])
        .run();
    out.assert_code(7);
    let o = object(&out);
    assert!(
        o.starts_with(r#"{"text":"","finish_reason":null,"exit":7,"error":"connection refused"#),
        "{o}"
    );
}

#[test]
fn result_of_a_shapeless_answer() {
    let server = Server::start(vec![answer("no json")]);
    let out = orstream_at(&server)
        .args(["--result", "--schema", "a int", "hi"])
        .run();
    out.assert_code(8);
    let o = object(&out);
    assert!(
        o.starts_with(r#"{"text":"no json","finish_reason":"stop","exit":8,"error":"the answer"#),
        "{o}"
    );
    assert!(
        o.ends_with(r#""json":null,"ttft_ms":T,"elapsed_ms":E}"#),
        "{o}"
    );

    let server = Server::start(vec![answer("{\"a\": 3}")]);
    let out = orstream_at(&server)
        .args(["--result", "--schema", "a int", "hi"])
        .run();
    out.assert_code(0);
    assert!(object(&out).ends_with(r#""json":{"a":3},"ttft_ms":T,"elapsed_ms":E}"#));

    let server = Server::start(vec![answer("prose only")]);
    let out = orstream_at(&server).args(["--result", "-x", "hi"]).run();
    out.assert_code(8);
    let o = object(&out);
    assert!(
        o.contains(r#""exit":8,"error":"the answer has no fenced code block (-x)""#),
        "{o}"
    );
    assert!(
        o.ends_with(r#""code":null,"ttft_ms":T,"elapsed_ms":E}"#),
        "{o}"
    );

    let server = Server::start(vec![answer("Here:\n```sh\nls\n```\nDone.")]);
    let out = orstream_at(&server).args(["--result", "-x", "hi"]).run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.starts_with(r#"{"text":"Here:\n```sh\nls\n```\nDone.","#),
        "{o}"
    );
    assert!(
        o.ends_with(r#""code":"ls\n","ttft_ms":T,"elapsed_ms":E}"#),
        "{o}"
    );
}

#[test]
fn result_of_an_interrupted_stream() {
    // Reasoning goes to stderr as it comes; the same chunk carries text, so
    // once stderr shows it the text has been taken too.
    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(ev(
            r#"{"choices":[{"delta":{"reasoning":"r","content":"par"}}]}"#,
        ))],
        SseEnd::Hold,
    )]);
    let run = orstream_at(&server)
        .args(["--result", "--reasoning", "hi"])
        .spawn();
    assert!(run.wait_stderr_contains(b"r", T), "no reasoning");
    run.signal(SIGINT);
    let out = run.wait();
    out.assert_code(130);
    assert_eq!(
        object(&out),
        format!(
            r#"{{"text":"par","finish_reason":null,"exit":130,"error":"interrupted",{EMPTY},"reasoning":"r","ttft_ms":T,"elapsed_ms":E}}"#
        )
    );
    assert!(server.wait_close(T).is_some(), "the connection was closed");
}

#[test]
fn result_of_a_run_interrupted_while_connecting() {
    let l = HungListener::new();
    let run = orstream()
        .args([
            "--base-url",
            &l.url(),
            "--connect-timeout",
            "30",
            "--result",
            "hi",
        ])
        .spawn();
    assert!(l.wait_connecting(T), "orstream never started connecting");
    run.signal(SIGINT);
    let out = run.wait();
    out.assert_code(130);
    assert_eq!(
        object(&out),
        format!(
            r#"{{"text":"","finish_reason":null,"exit":130,"error":"interrupted",{EMPTY},"ttft_ms":null,"elapsed_ms":E}}"#
        )
    );
}

#[test]
fn no_result_on_exit_2_or_141() {
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["--result", "--images", "/no/such/dir", "hi"])
        .run();
    assert_usage_error(&out, &server);
    assert_stdout(&out, b"");

    let server = hi_server();
    let out = orstream_at(&server)
        .args(["--result", "--json", "hi"])
        .run();
    assert_usage_error(&out, &server);

    let server = Server::start(vec![Reply::sse_steps_with(
        vec![Step::write(chunk("x"))],
        SseEnd::Hold,
    )]);
    let mut run = orstream_at(&server).args(["--result", "hi"]).spawn();
    assert!(server.wait_request(T).is_some());
    run.close_stdout();
    let out = run.wait();
    out.assert_code(141);
    assert_eq!(out.stderr_str(), "", "quiet");
}

#[test]
fn result_from_a_recording_keeps_warnings_even_with_q() {
    let dir = TempDir::new("rec");
    let rec = dir.file("a.sse", format!("{}{}", c("cut short"), finish("length")));
    let out = orstream()
        .args(["--from-sse", &rec, "--result", "-q"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stderr_str(), "", "-q prints no warning");
    assert_eq!(
        object(&out),
        concat!(
            r#"{"text":"cut short","finish_reason":"length","exit":0,"error":null,"#,
            r#""warnings":["the answer was cut short: the token limit was reached (finish_reason: length)"],"#,
            r#""model":"test/model","provider":"TestProvider","generation_id":"gen-1","usage":null,"#,
            r#""citations":[],"images":[],"tool_calls":[],"ttft_ms":T,"elapsed_ms":E}"#
        )
    );
}

// ---------------------------------------------------------------------------
// Tool calls
// ---------------------------------------------------------------------------

#[test]
fn tool_calls_from_interleaved_fragments() {
    let call = |payload: &str| {
        ev(&format!(
            r#"{{"choices":[{{"delta":{{"tool_calls":[{payload}]}}}}]}}"#
        ))
    };
    let events = vec![
        call(
            r#"{"index":1,"id":"call_b","type":"function","function":{"name":"second","arguments":""}}"#,
        ),
        call(
            r#"{"index":0,"id":"call_a","type":"function","function":{"name":"first","arguments":"{\"ci"}}"#,
        ),
        call(r#"{"index":1,"function":{"arguments":"[1,"}}"#),
        call(
            r#"{"index":0,"function":{"arguments":"ty\":"}},{"index":1,"function":{"arguments":"2]"}}"#,
        ),
        call(r#"{"index":0,"id":"ignored","function":{"name":"ignored","arguments":"\"Oslo\"}"}}"#),
        finish("tool_calls"),
        DONE.to_string(),
    ];
    let server = Server::start(vec![sse(&events)]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.contains(concat!(
            r#""tool_calls":[{"id":"call_a","type":"function","function":{"name":"first","arguments":"{\"city\":\"Oslo\"}"}},"#,
            r#"{"id":"call_b","type":"function","function":{"name":"second","arguments":"[1,2]"}}]"#
        )),
        "{o}"
    );
    assert!(o.contains(r#""finish_reason":"tool_calls""#), "{o}");
}

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

#[test]
fn images_are_saved_by_their_magic_bytes_never_over_a_file() {
    let dir = TempDir::new("images");
    dir.file("image-1.png", "already here");
    let events = vec![
        image_event(&[&data_url("image/jpeg", PNG), &data_url("image/png", JPEG)]),
        image_event(&[
            &data_url("image/gif", WEBP),
            &data_url("image/png", b"not an image"),
        ]),
        c("Done."),
        finish("stop"),
        DONE.to_string(),
    ];
    let server = Server::start(vec![sse(&events)]);
    let images = path_arg(dir.path());
    let out = orstream_at(&server)
        .args(["--images", &images, "--result", "draw"])
        .run();
    out.assert_code(0);
    let rec = server.received().remove(0);
    assert_eq!(
        rec.json()["modalities"],
        serde_json::json!(["image", "text"])
    );
    let o = object(&out);
    assert!(
        o.contains(&format!(
            concat!(
                r#""images":[{{"path":"{d}/image-2.png","type":"image/png","bytes":{p}}},"#,
                r#"{{"path":"{d}/image-1.jpg","type":"image/jpeg","bytes":{j}}},"#,
                r#"{{"path":"{d}/image-1.webp","type":"image/webp","bytes":{w}}},"#,
                r#"{{"path":"{d}/image-1.bin","type":"application/octet-stream","bytes":12}}]"#
            ),
            d = images,
            p = PNG.len(),
            j = JPEG.len(),
            w = WEBP.len()
        )),
        "{o}"
    );
    assert_eq!(dir.read("image-1.png"), "already here", "never overwritten");
    assert_eq!(std::fs::read(dir.join("image-2.png")).unwrap(), PNG);
    assert_eq!(std::fs::read(dir.join("image-1.jpg")).unwrap(), JPEG);
    assert_eq!(std::fs::read(dir.join("image-1.webp")).unwrap(), WEBP);
    let err = out.stderr_str();
    assert!(
        err.contains(&format!(
            "orstream: saved {images}/image-2.png ({} bytes)\n",
            PNG.len()
        )),
        "{err}"
    );
    assert_eq!(
        dir.list(),
        [
            "image-1.bin",
            "image-1.jpg",
            "image-1.png",
            "image-1.webp",
            "image-2.png"
        ]
    );
}

#[test]
fn two_runs_saving_into_one_dir_at_once() {
    let dir = TempDir::new("images-two");
    let images = path_arg(dir.path());
    let reply = || {
        Reply::sse_steps(vec![
            Step::WaitSignal,
            Step::write(image_event(&[
                &data_url("image/png", PNG),
                &data_url("image/png", PNG),
            ])),
            Step::write(finish("stop")),
            Step::write(DONE),
        ])
    };
    let a = Server::start(vec![reply()]);
    let b = Server::start(vec![reply()]);
    let run_a = orstream_at(&a)
        .args(["--images", &images, "-q", "x"])
        .spawn();
    let run_b = orstream_at(&b)
        .args(["--images", &images, "-q", "x"])
        .spawn();
    assert!(a.wait_request(T).is_some() && b.wait_request(T).is_some());
    a.release();
    b.release();
    run_a.wait().assert_code(0);
    run_b.wait().assert_code(0);
    assert_eq!(
        dir.list(),
        ["image-1.png", "image-2.png", "image-3.png", "image-4.png"]
    );
    for n in 1..=4 {
        assert_eq!(
            std::fs::read(dir.join(&format!("image-{n}.png"))).unwrap(),
            PNG
        );
    }
}

#[test]
fn links_broken_urls_and_images_without_a_dir() {
    let events = vec![
        image_event(&[
            "https://img.example/a.png",
            "data:image/png;base64,!!!not base64",
            &data_url("image/png", PNG),
        ]),
        c("ok"),
        finish("stop"),
        DONE.to_string(),
    ];
    let server = Server::start(vec![sse(&events)]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.contains(&format!(
            r#""images":[{{"url":"https://img.example/a.png"}},{{"path":null,"type":"image/png","bytes":{}}}]"#,
            PNG.len()
        )),
        "{o}"
    );
    let err = out.stderr_str();
    assert!(
        err.contains("orstream: image: https://img.example/a.png\n"),
        "{err}"
    );
    assert!(
        err.contains("warning: an image of the answer is not a base64 data URL"),
        "{err}"
    );
    assert!(
        err.contains("warning: the answer held 1 image, not saved: add --images DIR"),
        "{err}"
    );
    assert!(o.contains("add --images DIR"), "warnings listed: {o}");

    // Text mode: images never reach stdout.
    let server = Server::start(vec![sse(&events)]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_stdout(&out, b"ok\n");
}

#[test]
fn the_images_dir_is_checked_before_the_request() {
    let dir = TempDir::new("images-bad");
    let file = dir.file("plain", "x");
    for (arg, why) in [
        (file.as_str(), "not a directory"),
        ("/no/such", "no such file"),
    ] {
        let server = hi_server();
        let out = orstream_at(&server).args(["--images", arg, "hi"]).run();
        let e = assert_usage_error(&out, &server);
        assert_eq!(e, format!("orstream: error: --images {arg}: {why}"));
    }
}

#[test]
fn modalities_from_the_body_win() {
    let server = hi_server();
    let dir = TempDir::new("images-mod");
    let (rec, _) = run_ok(
        &server,
        orstream_at(&server).args([
            "--images",
            &path_arg(dir.path()),
            "-o",
            r#"modalities=["image"]"#,
            "hi",
        ]),
    );
    assert_eq!(rec.json()["modalities"], serde_json::json!(["image"]));
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

const SOURCES: &str = "orstream: sources:\n  [1] Rust <https://rust-lang.org>\n  [2] Blog <https://blog.rust-lang.org>\n  [3] <https://c.example>\n";

fn cited_events() -> Vec<String> {
    vec![
        ev(
            r#"{"choices":[{"delta":{"content":"Rust 1.9","annotations":[{"type":"url_citation","url_citation":{"url":"https://rust-lang.org","title":"Rust","content":"…","start_index":0,"end_index":4}}]}}]}"#,
        ),
        ev(
            r#"{"citations":["https://blog.rust-lang.org","https://c.example"],"choices":[{"delta":{"content":"0.","annotations":[{"type":"url_citation","url_citation":{"url":"https://rust-lang.org","title":"Other"}}]}}]}"#,
        ),
        ev(
            r#"{"choices":[{"delta":{"annotations":[{"type":"url_citation","url_citation":{"url":"https://blog.rust-lang.org","title":"Blog"}}]},"finish_reason":"stop"}]}"#,
        ),
        DONE.to_string(),
    ]
}

#[test]
fn sources_from_annotations_and_citations_after_the_answer() {
    let server = Server::start(vec![sse(&cited_events())]);
    let out = orstream_at(&server).args(["--web", "latest?"]).run();
    out.assert_code(0);
    let rec = server.received().remove(0);
    assert_eq!(
        rec.json()["tools"],
        serde_json::json!([{"type": "openrouter:web_search"}])
    );
    assert_stdout(&out, b"Rust 1.90.\n");
    assert_eq!(out.stderr_str(), SOURCES);

    let server = Server::start(vec![sse(&cited_events())]);
    let out = orstream_at(&server).args(["--json", "hi"]).run();
    out.assert_code(0);
    assert_eq!(out.stderr_str(), SOURCES, "with --json too");

    let server = Server::start(vec![sse(&cited_events())]);
    let out = orstream_at(&server).args(["-q", "--result", "hi"]).run();
    assert_eq!(out.stderr_str(), "", "not with -q");
    assert!(object(&out).contains(concat!(
        r#""citations":[{"url":"https://rust-lang.org","title":"Rust"},"#,
        r#"{"url":"https://blog.rust-lang.org","title":"Blog"},{"url":"https://c.example","title":null}]"#
    )));
}

#[test]
fn sources_from_a_whole_completion_message() {
    let body = r#"{"id":"g","choices":[{"message":{"role":"assistant","content":"Yes.","annotations":[{"type":"url_citation","url_citation":{"url":"https://m.example","title":"M"}}]},"finish_reason":"stop"}]}"#;
    let server = Server::start(vec![Reply::json(200, body)]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_stdout(&out, b"Yes.\n");
    assert_eq!(
        out.stderr_str(),
        "orstream: sources:\n  [1] M <https://m.example>\n"
    );
}

#[test]
fn web_appends_to_the_tools_of_the_body() {
    let server = hi_server();
    let (rec, _) = run_ok(
        &server,
        orstream_at(&server).args([
            "--web",
            "-o",
            r#"tools=[{"type":"function","function":{"name":"f"}}]"#,
            "hi",
        ]),
    );
    assert_eq!(
        rec.json()["tools"],
        serde_json::json!([
            {"type": "function", "function": {"name": "f"}},
            {"type": "openrouter:web_search"}
        ])
    );
}

// ---------------------------------------------------------------------------
// Structured reasoning
// ---------------------------------------------------------------------------

fn reasoning_events() -> Vec<String> {
    vec![
        ev(
            r#"{"choices":[{"delta":{"reasoning":"Let me ","reasoning_details":[{"type":"reasoning.text","text":"Let me ","format":"anthropic-claude-v1","index":0}]}}]}"#,
        ),
        ev(
            r#"{"choices":[{"delta":{"reasoning":"think.","reasoning_details":[{"type":"reasoning.text","text":"think.","signature":"sig","index":0}]}}]}"#,
        ),
        ev(
            r#"{"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.encrypted","data":"abc","index":1}]}}]}"#,
        ),
        ev(
            r#"{"choices":[{"delta":{"content":"42","reasoning_details":[{"type":"reasoning.encrypted","data":"def","index":1}]},"finish_reason":"stop"}]}"#,
        ),
        DONE.to_string(),
    ]
}

const DETAILS: &str = r#"[{"type":"reasoning.text","text":"Let me think.","format":"anthropic-claude-v1","index":0,"signature":"sig"},{"type":"reasoning.encrypted","data":"abcdef","index":1}]"#;

#[test]
fn reasoning_details_are_saved_with_the_conversation() {
    let dir = TempDir::new("details");
    let server = Server::start(vec![sse(&reasoning_events())]);
    let out = orstream_at(&server)
        .current_dir(dir.path())
        .args(["-c", "c.json", "-m", "x/y", "why?"])
        .run();
    out.assert_code(0);
    let saved: serde_json::Value = serde_json::from_str(&dir.read("c.json")).unwrap();
    let reply = &saved["messages"][1];
    assert_eq!(
        serde_json::to_string(reply).unwrap(),
        format!(r#"{{"role":"assistant","content":"42","reasoning_details":{DETAILS}}}"#)
    );
    // The next turn hands them back.
    let server = hi_server();
    let (rec, _) = run_ok(
        &server,
        orstream_at(&server)
            .current_dir(dir.path())
            .args(["-c", "c.json", "and?"]),
    );
    assert_eq!(
        serde_json::to_string(&rec.json()["messages"][1]["reasoning_details"]).unwrap(),
        DETAILS
    );
}

#[test]
fn result_reports_reasoning_only_with_reasoning() {
    let server = Server::start(vec![sse(&reasoning_events())]);
    let out = orstream_at(&server)
        .args(["--result", "--reasoning", "-q", "hi"])
        .run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.ends_with(&format!(
            r#""tool_calls":[],"reasoning":"Let me think.","reasoning_details":{DETAILS},"ttft_ms":T,"elapsed_ms":E}}"#
        )),
        "{o}"
    );
    let server = Server::start(vec![sse(&reasoning_events())]);
    let out = orstream_at(&server).args(["--result", "hi"]).run();
    let o = object(&out);
    assert!(!o.contains("reasoning"), "{o}");
}
