//! The whole answer (SPEC §11), continued: the `--result` object of a run
//! that fails locally (exit 1), and images where `whole.rs` does not look —
//! a `--request` body's `modalities`, `--json`, a non-streamed completion,
//! and links that must not be fetched.

use crate::support::*;
use crate::whole::{data_url, image_event, object, sse, PNG};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// SPEC §11: the object is written on every exit but 2 and 141 — exit 1
/// included, with the message of the `orstream: error:` line. A file-size
/// limit makes the save of `-c` fail (SPEC §10: exit 1, never a death by
/// SIGXFSZ); the run is root, so permissions would stop nothing. The limit
/// is set while the server holds the answer back, so only the save meets it.
/// Without the object on exit 1 (or with another `exit`/`error`), the
/// comparison fails.
#[test]
fn result_of_a_run_that_cannot_save_is_exit_1() {
    let dir = TempDir::new("result-exit-1");
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::WaitSignal,
        Step::write(chunk("Hi")),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])]);
    let run = orstream_at(&server)
        .current_dir(dir.path())
        .args(["-c", "c.json", "-m", "x/y", "--result", "hi"])
        .spawn();
    assert!(server.wait_request(T).is_some(), "no request");
    limit_file_size(run.pid(), 0);
    server.release();
    let out = run.wait();
    out.assert_code(1);
    let message = "cannot save the conversation to c.json: file too large";
    assert_eq!(
        object(&out),
        format!(
            concat!(
                r#"{{"text":"Hi","finish_reason":"stop","exit":1,"error":"{message}","warnings":[],"#,
                r#""model":"test/model","provider":"TestProvider","generation_id":"gen-1","usage":null,"#,
                r#""citations":[],"images":[],"tool_calls":[],"ttft_ms":T,"elapsed_ms":E}}"#
            ),
            message = message
        ),
        "{}",
        out.report()
    );
    let (line, _) = error_lines(&out);
    assert_eq!(line, format!("orstream: error: {message}"), "stderr too");
    assert!(dir.list().is_empty(), "no file left: {:?}", dir.list());
}

/// SPEC §11: `--images` sends `modalities` "unless the body already has
/// `modalities` (`-o` or `--request` win)". `whole.rs` covers `-o`; if
/// `--images` overwrote a `--request` body's value the server would get
/// `["image","text"]`.
#[test]
fn modalities_from_a_request_file_win() {
    let server = hi_server();
    let dir = TempDir::new("images-request");
    let body = dir.file(
        "body.json",
        r#"{"messages":[{"role":"user","content":"draw"}],"modalities":["image"]}"#,
    );
    let (rec, _) = run_ok(
        &server,
        orstream_at(&server).args(["--images", &path_arg(dir.path()), "--request", &body]),
    );
    let sent = rec.json();
    assert_eq!(sent["modalities"], serde_json::json!(["image"]));
    assert_eq!(sent["messages"][0]["content"], "draw", "the body itself");
}

/// SPEC §11: "With `--json` images are saved too", and `--json` is
/// unchanged: stdout holds the raw chunks, one a line. A `--json` mode that
/// skipped the image handling would leave the directory empty.
#[test]
fn images_are_saved_with_json_too() {
    let dir = TempDir::new("images-json");
    let images = path_arg(dir.path());
    let events = vec![
        image_event(&[&data_url("image/png", PNG)]),
        c("ok"),
        finish("stop"),
        DONE.to_string(),
    ];
    let server = Server::start(vec![sse(&events)]);
    let out = orstream_at(&server)
        .args(["--images", &images, "--json", "draw"])
        .run();
    out.assert_code(0);
    let raw: String = events[..3]
        .iter()
        .map(|e| format!("{}\n", e.strip_prefix("data: ").unwrap().trim_end()))
        .collect();
    assert_stdout(&out, raw.as_bytes());
    assert_eq!(dir.list(), ["image-1.png"], "{}", out.report());
    assert_eq!(std::fs::read(dir.join("image-1.png")).unwrap(), PNG);
    assert!(
        out.stderr_str().contains(&format!(
            "orstream: saved {images}/image-1.png ({} bytes)\n",
            PNG.len()
        )),
        "{}",
        out.report()
    );
}

/// SPEC §11: images come from `delta.images` "(and `message.images` in a
/// non-streamed body)"; SPEC §4 reads a 200 `application/json` answer as
/// one whole completion. If only deltas were looked at, nothing would be
/// saved and `--result` would list no image.
#[test]
fn images_from_a_whole_completion_message() {
    let body = format!(
        concat!(
            r#"{{"id":"g","choices":[{{"message":{{"role":"assistant","content":"Here.","#,
            r#""images":[{{"type":"image_url","image_url":{{"url":"{url}"}}}}]}},"finish_reason":"stop"}}]}}"#
        ),
        url = data_url("image/png", PNG)
    );
    let dir = TempDir::new("images-message");
    let images = path_arg(dir.path());
    let server = Server::start(vec![Reply::json(200, &body)]);
    let out = orstream_at(&server)
        .args(["--images", &images, "draw"])
        .run();
    out.assert_code(0);
    assert_stdout(&out, b"Here.\n");
    assert_eq!(
        out.stderr_str(),
        format!(
            "orstream: saved {images}/image-1.png ({} bytes)\n",
            PNG.len()
        )
    );
    assert_eq!(std::fs::read(dir.join("image-1.png")).unwrap(), PNG);

    // Without --images, listed and not saved.
    let server = Server::start(vec![Reply::json(200, &body)]);
    let out = orstream_at(&server).args(["--result", "-q", "draw"]).run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.contains(&format!(
            r#""images":[{{"path":null,"type":"image/png","bytes":{}}}]"#,
            PNG.len()
        )),
        "{o}"
    );
}

/// SPEC §11: "An `http(s)` image URL is not downloaded: its URL is named on
/// stderr and listed in `--result` as exactly `{"url":…}`". The links point
/// at a listener of ours that never accepts: a fetch (even one given up at
/// once, or a TLS handshake for `https`) would leave a connection in its
/// accept queue, which the kernel keeps after the client is gone — so a
/// non-blocking accept tells, with no wait, whether anything connected.
#[test]
fn image_links_are_named_never_fetched() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    let https = format!("https://127.0.0.1:{port}/a.png");
    let http = format!("http://127.0.0.1:{port}/b.png");
    let events = vec![
        image_event(&[&https, &http]),
        c("ok"),
        finish("stop"),
        DONE.to_string(),
    ];
    let server = Server::start(vec![sse(&events)]);
    let dir = TempDir::new("images-links");
    let out = orstream_at(&server)
        .args(["--images", &path_arg(dir.path()), "--result", "draw"])
        .run();
    out.assert_code(0);
    let o = object(&out);
    assert!(
        o.contains(&format!(
            r#""images":[{{"url":"{https}"}},{{"url":"{http}"}}],"#
        )),
        "{o}"
    );
    assert_eq!(
        out.stderr_str(),
        format!("orstream: image: {https}\norstream: image: {http}\n")
    );
    assert!(dir.list().is_empty(), "nothing saved: {:?}", dir.list());
    assert_eq!(server.received().len(), 1, "one request to the API");
    match elsewhere.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("an image link was fetched: {other:?}"),
    }
}
