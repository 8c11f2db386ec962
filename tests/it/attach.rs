//! SPEC §8 (Attachments): what `-a` sends, checked on the wire by a real
//! loopback server — content parts compared as the raw JSON text that was
//! sent, base64 decoded back to the file's bytes — plus the usage errors that
//! must stop the run before any connection, the sized (never chunked) and
//! retry-identical body, a file that changes size mid-send, `-v`, and the
//! peak memory with a 100 MiB attachment.

use crate::support::*;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// Deterministic bytes covering every byte value (so the base64 uses `+`
/// and `/`), seeded so that two fixtures differ.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

/// The magic bytes followed by `payload`.
fn fixture(magic: &[u8], len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend(payload(len, seed));
    bytes
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn png(len: usize) -> Vec<u8> {
    fixture(PNG_MAGIC, len, 1)
}

// ---------------------------------------------------------------------------
// Runs and assertions
// ---------------------------------------------------------------------------

/// `orstream --base-url … ARGS` against a fresh "Hi" server.
fn send(args: &[&str]) -> (Received, Output) {
    send_with(args, |c| c)
}

fn send_with(args: &[&str], f: impl FnOnce(Cmd) -> Cmd) -> (Received, Output) {
    let server = hi_server();
    run_ok(&server, f(orstream_at(&server).args(args)))
}

/// The last message, which must be the user's.
fn user_message(rec: &Received) -> Value {
    let body = rec.json();
    let msgs = body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array in {body}"));
    let last = msgs.last().expect("no messages").clone();
    assert_eq!(
        last["role"], "user",
        "last message is not the user's: {body}"
    );
    last
}

/// The user message's `content`, which must be a plain string.
fn content_string(rec: &Received) -> String {
    let msg = user_message(rec);
    msg["content"]
        .as_str()
        .unwrap_or_else(|| panic!("content is not a string: {msg}"))
        .to_string()
}

/// A usage error (exit 2) naming `-a ARG`, sent to no one.
fn assert_attach_error(out: &Output, server: &Server, arg: &str) -> String {
    let line = assert_usage_error(out, server);
    let want = format!("orstream: error: -a {arg}: ");
    assert!(
        line.starts_with(&want),
        "the error does not start with {want:?}\n{}",
        out.report()
    );
    line
}

fn assert_sized(rec: &Received) {
    assert_eq!(
        rec.header("content-length"),
        Some(rec.body.len().to_string().as_str()),
        "Content-Length is not the body's length ({} bytes): {:?}",
        rec.body.len(),
        rec.headers
    );
    assert_eq!(
        rec.header("transfer-encoding"),
        None,
        "the body was sent with a Transfer-Encoding: {:?}",
        rec.headers
    );
}

/// The raw JSON text of each part of the last message's `content` array,
/// exactly as sent (key order, escapes): what `file_part` and `text_part`
/// spell out.
fn raw_parts(rec: &Received) -> Vec<String> {
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        messages: Vec<Message<'a>>,
    }
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        content: &'a RawValue,
    }
    let _ = user_message(rec); // valid JSON, and the last message is the user's
    let body: Body = serde_json::from_slice(&rec.body).expect("a request body");
    let content = body.messages.last().expect("no messages").content;
    let parts: Vec<&RawValue> = serde_json::from_str(content.get())
        .unwrap_or_else(|_| panic!("content is not an array: {}", content.get()));
    parts.iter().map(|p| p.get().to_string()).collect()
}

// ---------------------------------------------------------------------------
// Expected content parts
// ---------------------------------------------------------------------------

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Sent {
    Image(&'static str),
    Pdf,
    Audio(&'static str),
    Video(&'static str),
}

/// The part SPEC §8's table says a file of this kind is sent as.
fn file_part(sent: Sent, bytes: &[u8], filename: &str) -> String {
    let b64 = B64.encode(bytes);
    match sent {
        Sent::Image(mime) => format!(
            r#"{{"type":"image_url","image_url":{{"url":{}}}}}"#,
            q(&format!("data:{mime};base64,{b64}"))
        ),
        Sent::Pdf => format!(
            r#"{{"type":"file","file":{{"filename":{},"file_data":{}}}}}"#,
            q(filename),
            q(&format!("data:application/pdf;base64,{b64}"))
        ),
        Sent::Audio(format) => format!(
            r#"{{"type":"input_audio","input_audio":{{"data":{},"format":{}}}}}"#,
            q(&b64),
            q(format)
        ),
        Sent::Video(mime) => format!(
            r#"{{"type":"video_url","video_url":{{"url":{}}}}}"#,
            q(&format!("data:{mime};base64,{b64}"))
        ),
    }
}

fn png_part(bytes: &[u8]) -> String {
    file_part(Sent::Image("image/png"), bytes, "")
}

fn text_part(text: &str) -> String {
    format!(r#"{{"type":"text","text":{}}}"#, q(text))
}

/// The bytes a binary part carries, decoded from its base64.
fn part_data(part: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(part).expect("part is JSON");
    let data = match v["type"].as_str() {
        Some("image_url") => v["image_url"]["url"].as_str(),
        Some("file") => v["file"]["file_data"].as_str(),
        Some("video_url") => v["video_url"]["url"].as_str(),
        Some("input_audio") => v["input_audio"]["data"].as_str(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("not a binary part: {part}"));
    let b64 = data.split_once(";base64,").map_or(data, |(_, d)| d);
    B64.decode(b64)
        .unwrap_or_else(|e| panic!("not standard padded base64 ({e}): {part}"))
}

/// `<file name="NAME">\nTEXT\n</file>`, NAME escaped, as SPEC §8 spells it.
fn block(name: &str, text: &str) -> String {
    let name = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("<file name=\"{name}\">\n{text}{nl}</file>")
}

fn verbose_line(arg: &str, kind: &str, size: usize) -> String {
    format!("orstream: * attach -a {arg}: {kind}, {size} bytes")
}

fn assert_stderr_line(out: &Output, line: &str) {
    assert!(
        out.stderr_str().lines().any(|l| l == line),
        "no stderr line {line:?}\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------------------
// 1. Every kind of the table, told by its bytes
// ---------------------------------------------------------------------------

struct KindCase {
    file: &'static str,
    magic: &'static [u8],
    name: &'static str,
    sent: Sent,
}

const KINDS: &[KindCase] = &[
    KindCase {
        file: "a.png",
        magic: PNG_MAGIC,
        name: "PNG",
        sent: Sent::Image("image/png"),
    },
    KindCase {
        file: "a.jpg",
        magic: b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
        name: "JPEG",
        sent: Sent::Image("image/jpeg"),
    },
    KindCase {
        file: "a87.gif",
        magic: b"GIF87a",
        name: "GIF",
        sent: Sent::Image("image/gif"),
    },
    KindCase {
        file: "a89.gif",
        magic: b"GIF89a",
        name: "GIF",
        sent: Sent::Image("image/gif"),
    },
    KindCase {
        file: "a.webp",
        magic: b"RIFF\x24\x10\x00\x00WEBPVP8 ",
        name: "WebP",
        sent: Sent::Image("image/webp"),
    },
    KindCase {
        file: "doc.pdf",
        magic: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n",
        name: "PDF",
        sent: Sent::Pdf,
    },
    KindCase {
        file: "a.wav",
        magic: b"RIFF\x24\x10\x00\x00WAVEfmt ",
        name: "WAV",
        sent: Sent::Audio("wav"),
    },
    KindCase {
        file: "id3.mp3",
        magic: b"ID3\x04\x00\x00\x00\x00\x00\x21",
        name: "MP3",
        sent: Sent::Audio("mp3"),
    },
    KindCase {
        // MPEG-1 Layer III sync: FB & E6 == E2.
        file: "sync1.mp3",
        magic: b"\xFF\xFB\x90\x64",
        name: "MP3",
        sent: Sent::Audio("mp3"),
    },
    KindCase {
        // MPEG-2 Layer III: F3 & E6 == E2 (and F3 & F6 == F2, not AAC).
        file: "sync2.mp3",
        magic: b"\xFF\xF3\x48\xC4",
        name: "MP3",
        sent: Sent::Audio("mp3"),
    },
    KindCase {
        // MPEG-2.5 Layer III.
        file: "sync25.mp3",
        magic: b"\xFF\xE3\x18\xC4",
        name: "MP3",
        sent: Sent::Audio("mp3"),
    },
    KindCase {
        // ADTS, MPEG-4, no CRC: F1 & F6 == F0.
        file: "a.aac",
        magic: b"\xFF\xF1\x50\x80\x02\x1F\xFC",
        name: "AAC (ADTS)",
        sent: Sent::Audio("aac"),
    },
    KindCase {
        // ADTS, MPEG-2, no CRC.
        file: "b.aac",
        magic: b"\xFF\xF9\x50\x80\x02\x1F\xFC",
        name: "AAC (ADTS)",
        sent: Sent::Audio("aac"),
    },
    KindCase {
        file: "a.flac",
        magic: b"fLaC\x00\x00\x00\x22",
        name: "FLAC",
        sent: Sent::Audio("flac"),
    },
    KindCase {
        file: "a.ogg",
        magic: b"OggS\x00\x02\x00\x00",
        name: "OGG",
        sent: Sent::Audio("ogg"),
    },
    KindCase {
        file: "a.aiff",
        magic: b"FORM\x00\x00\x10\x00AIFFCOMM",
        name: "AIFF",
        sent: Sent::Audio("aiff"),
    },
    KindCase {
        file: "a.aifc",
        magic: b"FORM\x00\x00\x10\x00AIFCFVER",
        name: "AIFF",
        sent: Sent::Audio("aiff"),
    },
    KindCase {
        file: "a.m4a",
        magic: b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
        name: "M4A",
        sent: Sent::Audio("m4a"),
    },
    KindCase {
        file: "a.m4b",
        magic: b"\x00\x00\x00\x20ftypM4B \x00\x00\x00\x00",
        name: "M4A",
        sent: Sent::Audio("m4a"),
    },
    KindCase {
        file: "a.mov",
        magic: b"\x00\x00\x00\x14ftypqt  \x20\x05\x03\x00",
        name: "QuickTime",
        sent: Sent::Video("video/quicktime"),
    },
    KindCase {
        file: "a.mp4",
        magic: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00",
        name: "MP4",
        sent: Sent::Video("video/mp4"),
    },
    KindCase {
        file: "b.mp4",
        magic: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",
        name: "MP4",
        sent: Sent::Video("video/mp4"),
    },
    KindCase {
        file: "a.webm",
        magic: b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01",
        name: "WebM",
        sent: Sent::Video("video/webm"),
    },
];

/// Each kind's bytes, a different length each so every base64 padding
/// (none, `=`, `==`) comes up.
fn kind_bytes(i: usize, case: &KindCase) -> Vec<u8> {
    fixture(case.magic, 300 + i, i as u8)
}

#[test]
fn every_kind_of_the_table_is_sent_as_its_content_part() {
    let dir = TempDir::new("attach");
    let mut failures = Vec::new();
    for (i, case) in KINDS.iter().enumerate() {
        let bytes = kind_bytes(i, case);
        let path = dir.file(case.file, &bytes);
        let (rec, out) = send(&["-v", "-a", &path, "describe"]);
        let want = vec![
            text_part("describe"),
            file_part(case.sent, &bytes, case.file),
        ];
        let got = raw_parts(&rec);
        if got != want {
            failures.push(format!(
                "{} ({}):\n  want {want:?}\n  got  {got:?}",
                case.file, case.name
            ));
            continue;
        }
        if part_data(&got[1]) != bytes {
            failures.push(format!("{}: decoded data differs from the file", case.file));
        }
        let line = verbose_line(&path, case.name, bytes.len());
        if !out.stderr_str().lines().any(|l| l == line) {
            failures.push(format!(
                "{}: no -v line {line:?}\n{}",
                case.file,
                out.report()
            ));
        }
        if out.stderr_str().contains(&B64.encode(&bytes)) {
            failures.push(format!("{}: -v shows the file's base64", case.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_kinds_at_once_go_in_command_line_order_without_a_text_part() {
    let dir = TempDir::new("attach");
    let mut args = Vec::new();
    let mut want = Vec::new();
    // Reversed, so the order cannot be the table's by accident.
    for (i, case) in KINDS.iter().enumerate().rev() {
        let bytes = kind_bytes(i, case);
        args.push("-a".to_string());
        args.push(dir.file(case.file, &bytes));
        want.push(file_part(case.sent, &bytes, case.file));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rec, _) = send(&args);
    assert_eq!(raw_parts(&rec), want);
    assert_sized(&rec);
}

#[test]
fn the_kind_comes_from_the_bytes_never_the_name() {
    let dir = TempDir::new("attach");
    let png_bytes = png(40);
    let png_as_pdf = dir.file("x.pdf", &png_bytes);
    let pdf_text = "%PDF-1.4 is how this note starts, but it is plain text\n";
    let text_as_pdf = dir.file("notes.txt", pdf_text);
    let wav_as_png = dir.file("sound.png", fixture(b"RIFF\x10\x00\x00\x00WAVEfmt ", 20, 3));
    let text_as_png = dir.file("image.png", "just words");
    let (rec, out) = send(&[
        "-v",
        "-a",
        &png_as_pdf,
        "-a",
        &text_as_pdf,
        "-a",
        &wav_as_png,
        "-a",
        &text_as_png,
    ]);
    assert_eq!(
        raw_parts(&rec),
        vec![
            text_part(&block(&text_as_png, "just words")),
            png_part(&png_bytes),
            file_part(Sent::Pdf, pdf_text.as_bytes(), "notes.txt"),
            file_part(
                Sent::Audio("wav"),
                &fixture(b"RIFF\x10\x00\x00\x00WAVEfmt ", 20, 3),
                ""
            ),
        ]
    );
    assert_stderr_line(&out, &verbose_line(&png_as_pdf, "PNG", png_bytes.len()));
    assert_stderr_line(&out, &verbose_line(&text_as_pdf, "PDF", pdf_text.len()));
    assert_stderr_line(&out, &verbose_line(&text_as_png, "text", 10));
}

#[test]
fn mp3_and_aac_sync_bytes_are_told_apart_by_their_masks() {
    // b & 0xE6 == 0xE2 → MP3; b & 0xF6 == 0xF0 → AAC; FF with neither is
    // not valid UTF-8, so it is refused.
    let cases: &[(u8, Option<&str>)] = &[
        (0xE2, Some("mp3")),
        (0xEA, Some("mp3")),
        (0xFA, Some("mp3")),
        (0xF3, Some("mp3")),
        (0xF0, Some("aac")),
        (0xF8, Some("aac")),
        (0xF1, Some("aac")),
        (0xF9, Some("aac")),
        (0xF4, None),
        (0xE0, None),
        (0xFE, None),
    ];
    let dir = TempDir::new("attach");
    let mut failures = Vec::new();
    for &(b, want) in cases {
        let bytes = fixture(&[0xFF, b], 10, b);
        let path = dir.file(&format!("sync-{b:02x}"), &bytes);
        let server = hi_server();
        let out = orstream_at(&server).args(["-a", &path, "q"]).run();
        match want {
            Some(format) => {
                if out.status != Some(0) {
                    failures.push(format!("FF {b:02X}: expected {format}\n{}", out.report()));
                    continue;
                }
                let got = raw_parts(&server.received()[0]);
                let part = file_part(Sent::Audio(format), &bytes, "");
                if got.get(1) != Some(&part) {
                    failures.push(format!("FF {b:02X}: want {part}, got {got:?}"));
                }
            }
            None => {
                if out.status != Some(2) {
                    failures.push(format!("FF {b:02X}: expected exit 2\n{}", out.report()));
                    continue;
                }
                let want = format!("orstream: error: -a {path}: unsupported file type");
                if out.stderr_str().lines().next() != Some(want.as_str()) {
                    failures.push(format!("FF {b:02X}: expected {want:?}\n{}", out.report()));
                }
                assert_no_connections(&server);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// 2. Text attachments
// ---------------------------------------------------------------------------

#[test]
fn a_text_file_is_inlined_byte_exact_before_the_prompt() {
    let dir = TempDir::new("attach");
    let text = "line one\n\ttab \"quoted\" back\\slash\r\nünï ✓ 🦀 <b>&amp;</b>";
    let path = dir.file("notes.txt", text);
    let (rec, _) = send(&["-a", &path, "summarise", "this"]);
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{path}\">\n{text}\n</file>\n\nsummarise this")
    );
}

#[test]
fn a_text_ending_in_a_newline_gets_no_second_one() {
    let dir = TempDir::new("attach");
    let lf = dir.file("lf.txt", "ends in lf\n");
    let crlf = dir.file("crlf.txt", "ends in crlf\r\n");
    let two = dir.file("two.txt", "two\n\n");
    let (rec, _) = send(&["-a", &lf, "-a", &crlf, "-a", &two, "q"]);
    assert_eq!(
        content_string(&rec),
        format!(
            "<file name=\"{lf}\">\nends in lf\n</file>\n\n\
             <file name=\"{crlf}\">\nends in crlf\r\n</file>\n\n\
             <file name=\"{two}\">\ntwo\n\n</file>\n\nq"
        )
    );
}

#[test]
fn a_leading_bom_is_dropped_and_only_the_leading_one() {
    let dir = TempDir::new("attach");
    let path = dir.file("bom.txt", "\u{feff}after the bom \u{feff} inner");
    let (rec, _) = send(&["-a", &path, "q"]);
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{path}\">\nafter the bom \u{feff} inner\n</file>\n\nq")
    );
}

#[test]
fn the_name_is_the_argument_as_given_with_markup_characters_escaped() {
    let dir = TempDir::new("attach");
    dir.file("a&b<c>\"d\" 'e'.txt", "body");
    dir.file("plain.txt", "plain");
    let (rec, _) = send_with(
        &["-a", "a&b<c>\"d\" 'e'.txt", "-a", "./plain.txt", "q"],
        |c| c.current_dir(dir.path()),
    );
    assert_eq!(
        content_string(&rec),
        "<file name=\"a&amp;b&lt;c&gt;&quot;d&quot; 'e'.txt\">\nbody\n</file>\n\n\
         <file name=\"./plain.txt\">\nplain\n</file>\n\nq"
    );
}

#[test]
fn an_empty_text_file_is_an_empty_block() {
    let dir = TempDir::new("attach");
    let path = dir.file("empty.txt", "");
    let (rec, out) = send(&["-v", "-a", &path, "q"]);
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{path}\">\n\n</file>\n\nq")
    );
    assert_stderr_line(&out, &verbose_line(&path, "text", 0));
}

#[test]
fn files_in_command_line_order_then_stdin_then_prompt_words() {
    let dir = TempDir::new("attach");
    let b = dir.file("b.txt", "bee");
    let a = dir.file("a.txt", "ay\n");
    let (rec, _) = send_with(&["-a", &b, "-a", &a, "the", "question"], |c| {
        c.stdin("the document\n\n  \n")
    });
    assert_eq!(
        content_string(&rec),
        format!(
            "<file name=\"{b}\">\nbee\n</file>\n\n<file name=\"{a}\">\nay\n</file>\n\n\
             the document\n\nthe question"
        )
    );
}

#[test]
fn stdin_alone_after_the_files_is_kept_exactly_as_read() {
    let dir = TempDir::new("attach");
    let a = dir.file("a.txt", "ay");
    let (rec, _) = send_with(&["-a", &a], |c| c.stdin("stdin text\n"));
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{a}\">\nay\n</file>\n\nstdin text\n")
    );
}

#[test]
fn text_files_of_awkward_sizes_are_inlined_whole() {
    // Lengths around what a sniffer or a UTF-8 probe might read first, with
    // a multi-byte character cut by each boundary.
    let dir = TempDir::new("attach");
    let mut args = Vec::new();
    let mut want = Vec::new();
    let mut sizes = Vec::new();
    for (i, n) in [
        1usize, 2, 11, 12, 13, 4095, 4096, 65535, 65536, 65537, 200_000,
    ]
    .into_iter()
    .enumerate()
    {
        // `n - 1` ASCII bytes, then "é" spanning bytes n-1 and n, then a tail.
        let mut text = "abcdefghij".repeat(n / 10 + 1)[..n - 1].to_string();
        text.push('é');
        text.push_str("🦀 tail");
        let path = dir.file(&format!("t{i}.txt"), &text);
        sizes.push((path.clone(), text.len()));
        want.push(block(&path, &text));
        args.push("-a".to_string());
        args.push(path);
    }
    args.push("-v".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rec, out) = send(&args);
    let got = content_string(&rec);
    assert!(
        got == want.join("\n\n"),
        "the inlined text differs (got {} bytes, want {})",
        got.len(),
        want.join("\n\n").len()
    );
    for (path, size) in sizes {
        assert_stderr_line(&out, &verbose_line(&path, "text", size));
    }
}

#[test]
fn all_text_attachments_keep_content_a_plain_string() {
    let dir = TempDir::new("attach");
    let a = dir.file("a.txt", "one");
    let b = dir.file("b.md", "# two");
    let (rec, _) = send(&["-a", &a, "-a", &b, "q"]);
    let msg = user_message(&rec);
    assert!(msg["content"].is_string(), "content is not a string: {msg}");
    assert_eq!(
        msg["content"],
        format!("<file name=\"{a}\">\none\n</file>\n\n<file name=\"{b}\">\n# two\n</file>\n\nq")
    );
}

#[test]
fn a_binary_attachment_makes_an_array_text_first_then_binaries_in_order() {
    let dir = TempDir::new("attach");
    let wav = fixture(b"RIFF\x10\x00\x00\x00WAVEfmt ", 33, 9);
    let img = png(50);
    let wav_path = dir.file("clip.wav", &wav);
    let notes = dir.file("notes.txt", "the notes");
    let img_path = dir.file("img.png", &img);
    let (rec, _) = send(&[
        "-a", &wav_path, "-a", &notes, "-a", &img_path, "describe", "both",
    ]);
    assert_eq!(
        raw_parts(&rec),
        vec![
            text_part(&format!(
                "<file name=\"{notes}\">\nthe notes\n</file>\n\ndescribe both"
            )),
            file_part(Sent::Audio("wav"), &wav, ""),
            png_part(&img),
        ]
    );
}

#[test]
fn an_image_alone_has_no_text_part() {
    let dir = TempDir::new("attach");
    let img = png(64);
    let path = dir.file("img.png", &img);
    let (rec, _) = send_with(&["-a", &path], Cmd::stdin_null);
    assert_eq!(raw_parts(&rec), vec![png_part(&img)]);
}

#[test]
fn with_an_attachment_an_empty_or_blank_prompt_is_fine() {
    let dir = TempDir::new("attach");
    let img = png(20);
    let img_path = dir.file("img.png", &img);
    let txt = dir.file("t.txt", "text");
    for words in [&[""][..], &["   ", "\t"][..]] {
        let mut args = vec!["-a", img_path.as_str()];
        args.extend_from_slice(words);
        let (rec, _) = send(&args);
        assert_eq!(raw_parts(&rec), vec![png_part(&img)], "words {words:?}");

        let mut args = vec!["-a", txt.as_str()];
        args.extend_from_slice(words);
        let (rec, _) = send(&args);
        assert_eq!(
            content_string(&rec),
            format!("<file name=\"{txt}\">\ntext\n</file>"),
            "words {words:?}"
        );
    }
    // A blank stdin counts as empty too.
    let (rec, _) = send_with(&["-a", &img_path], |c| c.stdin(" \n\t\n"));
    assert_eq!(raw_parts(&rec), vec![png_part(&img)]);
    let (rec, _) = send_with(&["-a", &txt], |c| c.stdin(" \n\t\n"));
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{txt}\">\ntext\n</file>")
    );
}

// ---------------------------------------------------------------------------
// 3. URLs
// ---------------------------------------------------------------------------

fn url_image(url: &str) -> String {
    format!(r#"{{"type":"image_url","image_url":{{"url":{}}}}}"#, q(url))
}

fn url_pdf(url: &str, filename: &str) -> String {
    format!(
        r#"{{"type":"file","file":{{"filename":{},"file_data":{}}}}}"#,
        q(filename),
        q(url)
    )
}

fn url_video(url: &str) -> String {
    format!(r#"{{"type":"video_url","video_url":{{"url":{}}}}}"#, q(url))
}

#[test]
fn urls_are_sent_by_url_told_by_their_extension_or_youtube_host() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "https://example.com/a/Photo.PNG?size=large#top",
            url_image("https://example.com/a/Photo.PNG?size=large#top"),
            "image URL",
        ),
        (
            "http://example.com/x.jpg",
            url_image("http://example.com/x.jpg"),
            "image URL",
        ),
        (
            "https://example.com/x.JpEg",
            url_image("https://example.com/x.JpEg"),
            "image URL",
        ),
        (
            "https://example.com/anim.gif?v=2",
            url_image("https://example.com/anim.gif?v=2"),
            "image URL",
        ),
        (
            "https://cdn.example.com:8443/p.webp#f.pdf",
            url_image("https://cdn.example.com:8443/p.webp#f.pdf"),
            "image URL",
        ),
        (
            "HTTPS://EXAMPLE.COM/SHOUT.PNG",
            url_image("HTTPS://EXAMPLE.COM/SHOUT.PNG"),
            "image URL",
        ),
        (
            "https://example.com/docs/My%20Report.PDF?dl=1#page=2",
            url_pdf(
                "https://example.com/docs/My%20Report.PDF?dl=1#page=2",
                "My%20Report.PDF",
            ),
            "PDF URL",
        ),
        (
            "http://example.com/paper.pdf",
            url_pdf("http://example.com/paper.pdf", "paper.pdf"),
            "PDF URL",
        ),
        (
            "https://example.com/v/clip.mp4",
            url_video("https://example.com/v/clip.mp4"),
            "video URL",
        ),
        (
            "https://example.com/v/clip.WEBM?t=3",
            url_video("https://example.com/v/clip.WEBM?t=3"),
            "video URL",
        ),
        (
            "https://example.com/v/clip.MoV",
            url_video("https://example.com/v/clip.MoV"),
            "video URL",
        ),
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            url_video("https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
            "video URL",
        ),
        (
            "https://youtube.com/watch?v=abc",
            url_video("https://youtube.com/watch?v=abc"),
            "video URL",
        ),
        (
            "https://m.youtube.com/watch?v=abc",
            url_video("https://m.youtube.com/watch?v=abc"),
            "video URL",
        ),
        (
            "https://music.youtube.com/watch?v=abc&list=x",
            url_video("https://music.youtube.com/watch?v=abc&list=x"),
            "video URL",
        ),
        (
            "HTTPS://WWW.YouTube.COM/watch?v=abc",
            url_video("HTTPS://WWW.YouTube.COM/watch?v=abc"),
            "video URL",
        ),
        (
            "https://youtu.be/dQw4w9WgXcQ?t=42",
            url_video("https://youtu.be/dQw4w9WgXcQ?t=42"),
            "video URL",
        ),
        (
            "http://YOUTU.BE/abc",
            url_video("http://YOUTU.BE/abc"),
            "video URL",
        ),
        (
            "https://youtube.com:443/watch?v=port",
            url_video("https://youtube.com:443/watch?v=port"),
            "video URL",
        ),
        (
            "https://someone@www.youtube.com/watch?v=user",
            url_video("https://someone@www.youtube.com/watch?v=user"),
            "video URL",
        ),
    ];
    let mut args = vec!["-v"];
    for (url, _, _) in &cases {
        args.push("-a");
        args.push(url);
    }
    args.push("look");
    let (rec, out) = send(&args);
    let mut want = vec![text_part("look")];
    want.extend(cases.iter().map(|(_, part, _)| part.clone()));
    let got = raw_parts(&rec);
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "part {i}");
    }
    for (url, _, kind) in &cases {
        assert_stderr_line(&out, &format!("orstream: * attach -a {url}: {kind}"));
    }
}

#[test]
fn a_url_host_is_never_contacted() {
    let elsewhere = Server::start(vec![]);
    let base = elsewhere.url();
    let img = format!("{base}/pic.png");
    let pdf = format!("{base}/doc.pdf");
    let vid = format!("{base}/v.mp4");
    let (rec, _) = send(&["-a", &img, "-a", &pdf, "-a", &vid, "q"]);
    assert_eq!(
        raw_parts(&rec),
        vec![
            text_part("q"),
            url_image(&img),
            url_pdf(&pdf, "doc.pdf"),
            url_video(&vid),
        ]
    );
    assert_no_connections(&elsewhere);
}

#[test]
fn urls_of_unknown_or_audio_kind_are_refused_before_any_request() {
    let elsewhere = Server::start(vec![]);
    let here = format!("{}/song.mp3", elsewhere.url());
    let refused = [
        "https://example.com/archive.zip",
        "https://example.com/readme",
        "https://example.com/",
        "https://example.com",
        "https://example.com/view?file=a.png",
        "https://example.com/page#a.png",
        "https://example.com/song.mp3",
        "https://example.com/voice.WAV",
        "https://example.com/a.m4a?x=.png",
        "https://notyoutube.com/watch?v=abc",
        "https://youtube.com.evil.example/watch?v=abc",
        "https://youtu.be.evil.example/abc",
        "https:///no-host.png",
        "http://",
        here.as_str(),
    ];
    let mut failures = Vec::new();
    for url in refused {
        let server = hi_server();
        let out = orstream_at(&server).args(["-a", url, "q"]).run();
        let want = format!("orstream: error: -a {url}: ");
        let first = out.stderr_str().lines().next().unwrap_or("").to_string();
        if out.status != Some(2) || !first.starts_with(&want) {
            failures.push(format!(
                "{url}: expected exit 2 and {want:?}…\n{}",
                out.report()
            ));
            continue;
        }
        assert_attach_error(&out, &server, url);
    }
    assert_no_connections(&elsewhere);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// 4. `-a -`, FIFOs, a terminal stdin
// ---------------------------------------------------------------------------

#[test]
fn dash_reads_a_binary_attachment_from_stdin() {
    let img = png(300);
    let (rec, out) = send_with(&["-v", "-a", "-", "what", "is", "it"], |c| {
        c.stdin(img.clone())
    });
    assert_eq!(
        raw_parts(&rec),
        vec![text_part("what is it"), png_part(&img)]
    );
    assert_stderr_line(&out, &verbose_line("-", "PNG", img.len()));
    assert_sized(&rec);
}

#[test]
fn dash_pdf_is_named_stdin() {
    let pdf = fixture(b"%PDF-1.5\n", 100, 5);
    let (rec, _) = send_with(&["-a", "-"], |c| c.stdin(pdf.clone()));
    assert_eq!(raw_parts(&rec), vec![file_part(Sent::Pdf, &pdf, "stdin")]);
}

#[test]
fn dash_text_is_a_stdin_block_and_not_prompt_text() {
    let (rec, out) = send_with(&["-v", "-a", "-", "q"], |c| c.stdin("\u{feff}from stdin"));
    assert_eq!(
        content_string(&rec),
        "<file name=\"stdin\">\nfrom stdin\n</file>\n\nq"
    );
    assert_stderr_line(&out, &verbose_line("-", "text", "\u{feff}from stdin".len()));
}

#[test]
fn dash_with_empty_stdin_is_an_empty_text_attachment() {
    let (rec, _) = send_with(&["-a", "-", "q"], Cmd::stdin_null);
    assert_eq!(
        content_string(&rec),
        "<file name=\"stdin\">\n\n</file>\n\nq"
    );
    // Even without PROMPT words: the attachment is the message.
    let (rec, _) = send_with(&["-a", "-"], |c| c.stdin(Vec::new()));
    assert_eq!(content_string(&rec), "<file name=\"stdin\">\n\n</file>");
}

#[test]
fn dash_twice_or_with_request_dash_or_no_stdin_is_a_usage_error() {
    let request = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let cases: [&[&str]; 4] = [
        &["-a", "-", "-a", "-", "q"],
        &["-a", "-", "--attach", "-", "q"],
        &["-a", "-", "--request", "-", "q"],
        &["--no-stdin", "-a", "-", "q"],
    ];
    for args in cases {
        let server = hi_server();
        let out = orstream_at(&server)
            .args(args)
            .stdin(request.as_bytes())
            .run();
        assert_error_lines(&out, 2, false);
        assert_no_connections(&server);
    }
}

#[test]
fn a_fifo_is_read_whole_and_sent_like_a_file() {
    let dir = TempDir::new("attach");
    // Bigger than a pipe's buffer, so one read would not be all of it.
    let pdf = fixture(b"%PDF-1.6\n", 300_000, 8);
    let fifo = Fifo::new(&dir, "piped.pdf", pdf.clone());
    let path = fifo.arg();
    let (rec, out) = send(&["-v", "-a", &path, "q"]);
    assert_eq!(
        raw_parts(&rec),
        vec![text_part("q"), file_part(Sent::Pdf, &pdf, "piped.pdf")]
    );
    assert_stderr_line(&out, &verbose_line(&path, "PDF", pdf.len()));
    assert_sized(&rec);
}

#[test]
fn dev_stdin_as_a_path_is_read_whole() {
    let img = png(100_000);
    let (rec, _) = send_with(&["--no-stdin", "-a", "/dev/stdin", "q"], |c| {
        c.stdin(img.clone())
    });
    assert_eq!(raw_parts(&rec), vec![text_part("q"), png_part(&img)]);
    assert_sized(&rec);
}

#[test]
fn with_an_attachment_a_terminal_stdin_is_not_read_nor_an_error() {
    let dir = TempDir::new("attach");
    let img = png(30);
    let path = dir.file("photo.png", &img);
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["-a", &path])
        .stdin_terminal()
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n", "{}", out.report());
    let got = server.received();
    assert_eq!(got.len(), 1, "{}", out.report());
    assert_eq!(raw_parts(&got[0]), vec![png_part(&img)]);
}

#[test]
fn dash_with_a_terminal_stdin_is_a_usage_error() {
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["-a", "-", "q"])
        .stdin_terminal()
        .run();
    assert_error_lines(&out, 2, false);
    assert_no_connections(&server);
}

// ---------------------------------------------------------------------------
// 5. --request and --chat
// ---------------------------------------------------------------------------

const HISTORY: &str = r#"{"model":"test/model","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"first"},{"role":"assistant","content":"ok"}],"temperature":0.3}"#;

fn assert_history_kept(rec: &Received) {
    let body = rec.json();
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{body}");
    let history: Value = serde_json::from_str(HISTORY).unwrap();
    assert_eq!(
        msgs[..3],
        history["messages"].as_array().unwrap()[..],
        "{body}"
    );
    assert_eq!(body["temperature"], json!(0.3), "{body}");
}

#[test]
fn with_request_the_attachments_go_into_an_appended_user_message() {
    let dir = TempDir::new("attach");
    let req = dir.file("req.json", HISTORY);
    let img = png(77);
    let path = dir.file("img.png", &img);
    // No PROMPT words: a user message is appended anyway.
    let (rec, _) = send(&["--request", &req, "-a", &path]);
    assert_history_kept(&rec);
    assert_eq!(raw_parts(&rec), vec![png_part(&img)]);

    let notes = dir.file("notes.txt", "n");
    let (rec, _) = send(&["--request", &req, "-a", &notes, "and", "this?"]);
    assert_history_kept(&rec);
    assert_eq!(
        content_string(&rec),
        format!("<file name=\"{notes}\">\nn\n</file>\n\nand this?")
    );
}

#[test]
fn with_request_dash_a_file_attachment_still_works() {
    let dir = TempDir::new("attach");
    let img = png(12);
    let path = dir.file("img.png", &img);
    let (rec, _) = send_with(&["--request", "-", "-a", &path], |c| c.stdin(HISTORY));
    assert_history_kept(&rec);
    assert_eq!(raw_parts(&rec), vec![png_part(&img)]);
}

#[test]
fn a_chat_saves_the_attachment_as_sent_and_replays_it() {
    let dir = TempDir::new("attach");
    let img = png(1000);
    let path = dir.file("img.png", &img);
    let conv = dir.path().join("conv.json");
    let conv_arg = path_arg(&conv);
    let (first, _) = send(&["-c", &conv_arg, "-a", &path, "what is it"]);
    let sent = user_message(&first);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&conv).expect("conversation written")).unwrap();
    assert_eq!(
        saved["messages"],
        json!([sent, {"role": "assistant", "content": "Hi"}]),
        "saved: {saved}"
    );
    let (second, _) = send(&["-c", &conv_arg, "and", "now?"]);
    let body = second.json();
    assert_eq!(body["messages"][0], sent, "{body}");
    assert_eq!(
        part_data(&body["messages"][0]["content"][1].to_string()),
        img
    );
    assert_eq!(body["messages"][2]["content"], "and now?", "{body}");
}

// ---------------------------------------------------------------------------
// 6. Usage errors: exit 2, `-a ARG`, no connection
// ---------------------------------------------------------------------------

#[test]
fn a_problem_with_an_attachment_is_exit_2_naming_it_before_any_connection() {
    let dir = TempDir::new("attach");
    let missing = path_arg(&dir.path().join("nope.png"));
    let directory = path_arg(dir.path());
    let random = dir.file("random.bin", b"\x00\x13\x37\xC3\x28\xFE\xFF garbage");
    let nul = dir.file("nul.txt", "hello\0world");
    let bad_utf8 = dir.file("latin1.txt", b"caf\xe9 au lait");
    let cut_utf8 = dir.file("cut.txt", b"abc\xc3");
    let late_nul = dir.file("late-nul.txt", format!("{}\0", "a".repeat(70_000)));
    let late_bad = dir.file("late-bad.txt", [&b"b".repeat(70_000)[..], b"\xff"].concat());
    let avi = dir.file("movie.avi", b"RIFF\x24\x00\x00\x00AVI LIST\x00\x00");
    let tiny = dir.file("tiny", b"\x00\x01\x02");
    let unsupported = [
        &random, &nul, &bad_utf8, &cut_utf8, &late_nul, &late_bad, &avi, &tiny,
    ];
    let mut cases: Vec<(Vec<String>, String, Option<String>)> = vec![
        (vec!["-a".into(), missing.clone()], missing.clone(), None),
        (
            vec!["-a".into(), directory.clone()],
            directory.clone(),
            None,
        ),
        (vec![format!("--attach={missing}")], missing.clone(), None),
        (
            vec!["--attach".into(), "https:///x.png".into()],
            "https:///x.png".into(),
            None,
        ),
    ];
    for path in unsupported {
        for spelling in [
            vec!["-a".to_string(), path.clone()],
            vec!["--attach".into(), path.clone()],
        ] {
            cases.push((
                spelling,
                path.clone(),
                Some(format!("orstream: error: -a {path}: unsupported file type")),
            ));
        }
    }
    // The bad one after a good one: still nothing sent.
    let good = dir.file("good.png", png(10));
    cases.push((
        vec!["-a".into(), good, "-a".into(), nul.clone()],
        nul.clone(),
        Some(format!("orstream: error: -a {nul}: unsupported file type")),
    ));
    for (args, named, exact) in cases {
        let server = hi_server();
        let out = orstream_at(&server).args(&args).arg("q").run();
        let line = assert_attach_error(&out, &server, &named);
        if let Some(exact) = exact {
            assert_eq!(line, exact, "{}", out.report());
        }
    }
    // Unsupported bytes on stdin name `-a -`.
    for bytes in [&b"\x00\x01binary"[..], b"caf\xe9"] {
        let server = hi_server();
        let out = orstream_at(&server)
            .args(["-a", "-", "q"])
            .stdin(bytes)
            .run();
        let line = assert_attach_error(&out, &server, "-");
        assert_eq!(line, "orstream: error: -a -: unsupported file type");
    }
}

#[test]
fn the_argument_is_named_as_given_not_resolved() {
    let dir = TempDir::new("attach");
    dir.file("bin.dat", b"\x00\x00\x00\x00");
    for given in ["nope.png", "./bin.dat", "sub/../bin.dat", "."] {
        let server = hi_server();
        let out = orstream_at(&server)
            .args(["-a", given, "q"])
            .current_dir(dir.path())
            .run();
        assert_attach_error(&out, &server, given);
    }
}

#[test]
fn attachments_with_from_sse_or_list_models_are_a_usage_error() {
    let dir = TempDir::new("attach");
    let img = dir.file("img.png", png(10));
    let sse = dir.file(
        "rec.sse",
        format!("{}{}{DONE}", chunk("Hi"), finish("stop")),
    );
    for args in [
        vec!["--from-sse", sse.as_str(), "-a", img.as_str()],
        vec!["--list-models", "-a", img.as_str()],
    ] {
        let server = Server::start(vec![Reply::json(200, r#"{"data":[{"id":"a/b"}]}"#)]);
        let out = orstream_at(&server).args(&args).run();
        assert_error_lines(&out, 2, false);
        assert_no_connections(&server);
    }
}

// ---------------------------------------------------------------------------
// 7. Transport: sized, and identical on a retry
// ---------------------------------------------------------------------------

#[test]
fn the_body_is_sized_never_chunked_and_carries_a_multi_block_file_whole() {
    let dir = TempDir::new("attach");
    // Several of any plausible read block, and not a multiple of 3.
    let big = fixture(b"%PDF-1.7\n", 3 * 48 * 1024 + 100_001, 11);
    let path = dir.file("big.pdf", &big);
    let (rec, _) = send(&["-a", &path, "q"]);
    assert_sized(&rec);
    let parts = raw_parts(&rec);
    assert_eq!(parts.len(), 2);
    assert!(
        parts[1] == file_part(Sent::Pdf, &big, "big.pdf"),
        "the PDF part differs ({} bytes)",
        parts[1].len()
    );
    assert!(part_data(&parts[1]) == big, "decoded data differs");
}

#[test]
fn a_retry_sends_a_byte_identical_body() {
    let dir = TempDir::new("attach");
    let img = png(150_000);
    let path = dir.file("img.png", &img);
    let notes = dir.file("notes.txt", "notes");
    let wav = fixture(b"RIFF\x10\x00\x00\x00WAVEfmt ", 70_000, 2);
    let pdf = fixture(b"%PDF-1.3\n", 90_000, 4);
    let fifo = Fifo::new(&dir, "fifo.pdf", pdf.clone());
    let fifo_path = fifo.arg();
    let server = Server::start(vec![
        Reply::json(503, r#"{"error":{"message":"busy, try again"}}"#),
        hi_reply(),
    ]);
    let out = orstream_at(&server)
        .args([
            "--retries",
            "1",
            "-a",
            &path,
            "-a",
            &notes,
            "-a",
            "-",
            "-a",
            &fifo_path,
            "-a",
            "https://example.com/x.png",
            "q",
        ])
        .stdin(wav.clone())
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n", "{}", out.report());
    let got = server.received();
    assert_eq!(got.len(), 2, "expected a retry\n{}", out.report());
    for rec in &got {
        assert_sized(rec);
    }
    assert!(
        got[0].body == got[1].body,
        "the retry's body differs ({} vs {} bytes)",
        got[0].body.len(),
        got[1].body.len()
    );
    assert_eq!(
        raw_parts(&got[1]),
        vec![
            text_part(&format!("<file name=\"{notes}\">\nnotes\n</file>\n\nq")),
            png_part(&img),
            file_part(Sent::Audio("wav"), &wav, ""),
            file_part(Sent::Pdf, &pdf, "fifo.pdf"),
            url_image("https://example.com/x.png"),
        ]
    );
}

// ---------------------------------------------------------------------------
// 8. A file that changes size while it is sent
// ---------------------------------------------------------------------------

fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Attaches a 64 MiB sparse PDF and, upon the request head and before
/// reading any of the body, sets its length to `new_len`: orstream can have
/// sent at most the socket buffers' worth (a few MiB) by then, so it meets the
/// change while sending. Expects exit 1 naming the file, and one connection.
fn assert_size_change_is_fatal(name: &str, new_len: u64) {
    let dir = TempDir::new("attach");
    let path = dir.sparse(name, b"%PDF-1.7\n", 64 * MIB);
    let file_arg = path_arg(&path);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let probe = listener.try_clone().expect("clone listener");
    let (tx, rx) = mpsc::channel();
    let target = path.clone();
    thread::spawn(move || {
        let result = (|| -> io::Result<(String, u64)> {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(HARD_TIMEOUT))?;
            let head = String::from_utf8_lossy(&read_head(&mut s)?).into_owned();
            OpenOptions::new()
                .write(true)
                .open(&target)?
                .set_len(new_len)?;
            let mut body = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body += n as u64,
                }
            }
            Ok((head, body))
        })();
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    let out = orstream()
        .args([
            "--base-url",
            &url,
            "--retries",
            "3",
            "-a",
            &file_arg,
            "read it",
        ])
        .run();
    let line = assert_error_lines(&out, 1, false).0;
    assert!(
        line.contains(&format!("-a {file_arg}")),
        "the error does not name -a {file_arg}\n{}",
        out.report()
    );
    let (head, body) = rx
        .recv_timeout(T)
        .expect("the server saw no request")
        .expect("server");
    let length: u64 = head_value(&head, "content-length")
        .expect("no Content-Length")
        .parse()
        .unwrap();
    assert!(
        body < length,
        "the body was complete ({body} of {length} bytes): the change came too late"
    );
    // The child has exited: a retry's connection would be queued by now.
    probe.set_nonblocking(true).unwrap();
    match probe.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok(_) => panic!("orstream connected again (a retry)\n{}", out.report()),
        Err(e) => panic!("probe accept: {e}"),
    }
}

#[test]
fn a_file_that_shrinks_while_sent_is_exit_1_without_a_retry() {
    assert_size_change_is_fatal("shrinks.pdf", 32 * MIB);
}

#[test]
fn a_file_that_grows_while_sent_is_exit_1_without_a_retry() {
    assert_size_change_is_fatal("grows.pdf", 96 * MIB);
}

// ---------------------------------------------------------------------------
// 9. -v: each attachment listed, never its bytes, never the key
// ---------------------------------------------------------------------------

#[test]
fn verbose_lists_each_attachment_but_never_its_bytes_or_the_key() {
    let dir = TempDir::new("attach");
    let img = png(8); // 16 bytes
    let a_png = dir.file("a.png", &img);
    let marker = "SECRET-TEXT-MARKER";
    let text = dir.file("t.txt", marker);
    let pdf_url = "https://x.example/y.pdf";
    let img_url = "https://x.example/z.webp?q=1";
    let yt = "https://youtu.be/abc";
    let (rec, out) = send(&[
        "-v", "-a", &a_png, "-a", &text, "-a", pdf_url, "-a", img_url, "-a", yt, "q",
    ]);
    assert_stderr_line(&out, &verbose_line(&a_png, "PNG", 16));
    assert_stderr_line(&out, &verbose_line(&text, "text", marker.len()));
    assert_stderr_line(&out, &format!("orstream: * attach -a {pdf_url}: PDF URL"));
    assert_stderr_line(&out, &format!("orstream: * attach -a {img_url}: image URL"));
    assert_stderr_line(&out, &format!("orstream: * attach -a {yt}: video URL"));
    let listed = out
        .stderr_str()
        .lines()
        .filter(|l| l.starts_with("orstream: * attach "))
        .count();
    assert_eq!(listed, 5, "{}", out.report());
    let err = out.stderr_str();
    assert!(!err.contains(&B64.encode(&img)), "{}", out.report());
    assert!(!err.contains("data:image/png;base64"), "{}", out.report());
    assert!(!err.contains(marker), "{}", out.report());
    assert_no_key(&out);
    // …and it was all really sent.
    assert!(rec.body_str().contains(marker));
    assert!(rec.body_str().contains(&B64.encode(&img)));
}

#[test]
fn the_key_never_appears_in_any_output_with_attachments() {
    let dir = TempDir::new("attach");
    let path = dir.file("a.png", png(10));
    let (_, out) = send(&["-v", "-u", "-a", &path, "q"]);
    assert_no_key(&out);
    // An attachment error names the file, not the key.
    let server = hi_server();
    let out = orstream_at(&server)
        .args(["-v", "-a", &path_arg(&dir.path().join("nope")), "q"])
        .run();
    out.assert_code(2);
    assert_no_key(&out);
}

// ---------------------------------------------------------------------------
// 10. Memory: a 100 MiB attachment, streamed
// ---------------------------------------------------------------------------

struct Drained {
    head: String,
    length: u64,
    received: u64,
    start: Vec<u8>,
    end: Vec<u8>,
    peak_kib: i64,
}

/// Accepts one request, reads and discards its whole body, then — while the
/// child waits for the answer, its upload done — reads its peak RSS, and
/// answers "Hi".
fn drain_and_measure(listener: TcpListener, pid: u32) -> io::Result<Drained> {
    let (mut s, _) = listener.accept()?;
    s.set_read_timeout(Some(HARD_TIMEOUT))?;
    let head = String::from_utf8_lossy(&read_head(&mut s)?).into_owned();
    let length: u64 = head_value(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no Content-Length in {head:?}")))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    let mut start = Vec::new();
    let mut end = Vec::new();
    while received < length {
        let want = buf.len().min((length - received) as usize);
        let n = s.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("body ended after {received} of {length} bytes"),
            ));
        }
        if start.len() < 4096 {
            start.extend_from_slice(&buf[..n.min(4096 - start.len())]);
        }
        end.extend_from_slice(&buf[..n]);
        let cut = end.len().saturating_sub(4096);
        end.drain(..cut);
        received += n as u64;
    }
    let peak_kib = vm_hwm(pid);
    let mut reply =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n".to_vec();
    reply.extend_from_slice(format!("{}{}{DONE}", chunk("Hi"), finish("stop")).as_bytes());
    s.write_all(&reply)?;
    let _ = s.shutdown(Shutdown::Write);
    Ok(Drained {
        head,
        length,
        received,
        start,
        end,
        peak_kib,
    })
}

#[test]
fn peak_rss_with_a_100_mib_attachment_stays_under_16_mib() {
    const SIZE: u64 = 100 * MIB;
    let dir = TempDir::new("attach");
    let path = dir.sparse("huge.pdf", b"%PDF-1.7\n", SIZE);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let running = orstream()
        .args(["--base-url", &url, "-a", &path_arg(&path), "summarise"])
        .spawn();
    let pid = running.pid();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(drain_and_measure(listener, pid).map_err(|e| e.to_string()));
    });
    let out = running.wait();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Hi\n", "{}", out.report());
    let d = rx
        .recv_timeout(T)
        .expect("the server saw no request")
        .expect("server");
    eprintln!("peak RSS with a 100 MiB attachment: {} KiB", d.peak_kib);
    assert_eq!(d.received, d.length);
    assert_eq!(head_value(&d.head, "transfer-encoding"), None, "{}", d.head);
    let encoded = SIZE.div_ceil(3) * 4;
    assert!(
        d.length > encoded && d.length < encoded + 4096,
        "Content-Length {} for {encoded} bytes of base64",
        d.length
    );
    let start = String::from_utf8_lossy(&d.start);
    // base64("%PDF-1.7\n") is "JVBERi0xLjcK"; then zeros: "AAAA…".
    assert!(
        start.contains("\"file_data\":\"data:application/pdf;base64,JVBERi0xLjcKAAAAAAAA"),
        "{start}"
    );
    // 100 MiB = 3k + 1 bytes: the base64 ends in "AA==".
    assert!(
        String::from_utf8_lossy(&d.end).contains("AAAAAAAA==\""),
        "{}",
        String::from_utf8_lossy(&d.end)
    );
    assert!(
        d.peak_kib < 16 * 1024,
        "peak RSS {} KiB with a 100 MiB attachment",
        d.peak_kib
    );
}

#[test]
fn an_endless_device_of_unknown_kind_is_refused_without_reading_it_all() {
    // A non-regular file is held in memory, but only after its first 64 KiB
    // look like something that can be sent.
    let server = hi_server();
    let out = orstream_at(&server).args(["-a", "/dev/zero", "hi"]).run();
    out.assert_code(2);
    let (line, _) = error_lines(&out);
    assert_eq!(line, "orstream: error: -a /dev/zero: unsupported file type");
    assert_no_connections(&server);
}

/// A server that reads the request head and then no byte of the body: the
/// upload stalls once the socket buffers are full, and `--idle-timeout`
/// applies to writes as it does to reads (exit 7, never a hang).
#[test]
fn a_server_that_takes_no_body_bytes_times_out_as_idle() {
    let dir = TempDir::new("stalled-upload");
    // Far more than loopback's socket buffers can hold.
    let path = dir.sparse("big.pdf", b"%PDF-1.7\n", 64 << 20);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (head_tx, head_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(HARD_TIMEOUT)).unwrap();
        // Read only up to the end of the head, then hold the connection,
        // reading nothing, until the client has exited.
        let _ = read_head(&mut conn);
        head_tx.send(()).unwrap();
        let _ = done_rx.recv_timeout(HARD_TIMEOUT);
        // A retry would have connected meanwhile (it waits in the backlog).
        listener.set_nonblocking(true).unwrap();
        let retried = listener.accept().is_ok();
        drop(conn);
        retried
    });
    let out = orstream()
        .args(["--base-url", &url, "--idle-timeout", "1", "--retries", "3"])
        .arg("-a")
        .arg(&path)
        .arg("summarise")
        .run();
    done_tx.send(()).unwrap();
    head_rx
        .recv_timeout(HARD_TIMEOUT)
        .expect("no request head arrived");
    out.assert_code(7);
    let (line, _) = error_lines(&out);
    assert_eq!(
        line,
        "orstream: error: the server took no data for 1 s (--idle-timeout)",
        "{}",
        out.report()
    );
    assert!(!server.join().unwrap(), "a stalled upload is not retried");
}

/// A server that refuses a large body as soon as it sees the head: orstream
/// asks for `100 Continue` before sending a body over 1 MiB (as curl does),
/// so the 413 is read and reported (exit 5, no retry) instead of a reset
/// under a half-sent upload.
#[test]
fn a_large_body_refused_before_it_is_sent_is_exit_5_with_the_message() {
    let dir = TempDir::new("early-413");
    let path = dir.sparse("big.pdf", b"%PDF-1.7\n", 8 << 20);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(HARD_TIMEOUT)).unwrap();
        let head = read_head(&mut conn).expect("a request head");
        let body = r#"{"error":{"message":"request entity too large","code":413}}"#;
        let reply = format!(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(reply.as_bytes()).unwrap();
        // Whatever arrives now is body bytes the client should not send.
        conn.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut extra = 0usize;
        let mut buf = [0u8; 65536];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            extra += n;
        }
        listener.set_nonblocking(true).unwrap();
        let retried = listener.accept().is_ok();
        (
            String::from_utf8_lossy(&head).to_ascii_lowercase(),
            extra,
            retried,
        )
    });
    let out = orstream()
        .args(["--base-url", &url, "--retries", "2", "-a"])
        .arg(&path)
        .arg("summarise")
        .run();
    let (head, extra, retried) = server.join().unwrap();
    out.assert_code(5);
    let (line, _) = error_lines(&out);
    assert_eq!(
        line,
        "orstream: error: 413 Payload Too Large: request entity too large",
        "{}",
        out.report()
    );
    assert!(head.contains("expect: 100-continue"), "{head}");
    assert_eq!(extra, 0, "body bytes were sent after the refusal");
    assert!(!retried, "a 413 is not retried");
}
