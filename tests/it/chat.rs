//! SPEC §10 (Conversations in a file, `-c FILE`): what a conversation run
//! sends, and what it leaves on disk on every way a run can end, checked on
//! the wire by the scripted loopback server and on the filesystem byte for
//! byte.
//!
//! Also the team's decisions where §10 is silent: `-c FILE` needs a prompt
//! like a plain run; a FILE of only whitespace counts as empty; a symlink
//! FILE is followed (the target is rewritten, the link stays a link); a FILE
//! changed by another program during the run is not overwritten (exit 1);
//! where the lock of a new FILE lives. Section 10 plays the hostile
//! neighbour (the suite runs as root, so it can hand links, files and
//! directories to other uids).
//!
//! Every run works in a fresh directory of its own and names FILE relative
//! to it (`-c c.json`), so messages can be checked for FILE as given and the
//! directory listed for anything left behind.

use crate::support::*;

use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{chown, lchown, symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// Everything a run could change about FILE and its directory.
#[derive(Debug, PartialEq, Eq)]
struct DirState {
    names: Vec<String>,
    file: Option<FileState>,
}

#[derive(Debug, PartialEq, Eq)]
struct FileState {
    content: String,
    ino: u64,
    mode: u32,
    mtime: (i64, i64),
}

fn state(dir: &TempDir, name: &str) -> DirState {
    let file = fs::symlink_metadata(dir.join(name))
        .ok()
        .map(|m| FileState {
            content: dir.read(name),
            ino: m.ino(),
            mode: m.mode() & 0o7777,
            mtime: (m.mtime(), m.mtime_nsec()),
        });
    DirState {
        names: dir.list(),
        file,
    }
}

/// `orstream --base-url <server>`, run inside `dir`.
fn run_in(dir: &TempDir, server: &Server) -> Cmd {
    orstream_at(server).current_dir(dir.path())
}

/// A clean answer streamed in the given pieces.
fn answer_in(pieces: &[&str]) -> Reply {
    let mut events: Vec<String> = pieces.iter().map(|p| chunk(p)).collect();
    events.push(finish("stop"));
    events.push(DONE.to_string());
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    Reply::sse(&refs)
}

/// "partial", then the server waits for [`Server::release`] before the rest
/// of a clean answer: a run held mid-stream.
fn held_answer(rest: &str) -> Reply {
    Reply::sse_steps(vec![
        Step::write(chunk("partial")),
        Step::WaitSignal,
        Step::write(chunk(rest)),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])
}

/// The one request `server` got, as text.
fn only_request(server: &Server, out: &Output) -> String {
    let got = server.received();
    assert_eq!(got.len(), 1, "expected one request\n{}", out.report());
    got[0].body_str()
}

/// Runs one successful turn in `dir` (answer `text`) and returns the request
/// body exactly as sent.
fn turn(dir: &TempDir, args: &[&str], text: &str) -> String {
    let server = Server::start(vec![answer(text)]);
    let out = run_in(dir, &server).args(args).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), format!("{text}\n"), "{}", out.report());
    only_request(&server, &out)
}

/// Exit 2, nothing on stdout, an `orstream: error:` first line (returned),
/// and no connection to `server`.
fn assert_usage_error(out: &Output, server: &Server) -> String {
    out.assert_code(2);
    assert!(out.stdout.is_empty(), "stdout not empty\n{}", out.report());
    let first = error_line(out);
    assert!(out.stderr_str().lines().count() <= 2, "{}", out.report());
    assert_no_connections(server);
    first
}

/// The first line of stderr, which must be an `orstream: error:` line.
fn error_line(out: &Output) -> String {
    let err = out.stderr_str();
    let first = err.lines().next().unwrap_or("").to_string();
    assert!(
        first.starts_with("orstream: error: "),
        "no error line\n{}",
        out.report()
    );
    first
}

/// FILE byte for byte as a run saves it: `messages`, `"model"` (unless ""), then the
/// `more` fields, pretty-printed with two-space indents and a final newline.
/// Each message is `(role, content)`. The content and each of `more` (a
/// `"key": value`, a multi-line value with its inner lines indented as in
/// FILE) are given exactly as they stand in FILE, JSON escapes and all, so
/// every assertion still spells out the bytes the run must write.
fn saved_file(messages: &[(&str, &str)], model: &str, more: &[&str]) -> String {
    let messages: Vec<String> = messages
        .iter()
        .map(|(role, content)| {
            format!("    {{\n      \"role\": \"{role}\",\n      \"content\": \"{content}\"\n    }}")
        })
        .collect();
    let mut fields = vec![format!("  \"messages\": [\n{}\n  ]", messages.join(",\n"))];
    // No model is sent to a server other than OpenRouter unless named.
    if !model.is_empty() {
        fields.push(format!("  \"model\": \"{model}\""));
    }
    fields.extend(more.iter().map(|f| format!("  {f}")));
    format!("{{\n{}\n}}\n", fields.join(",\n"))
}

/// A conversation as a run saves it, two turns in, mode set by the test.
fn saved() -> String {
    saved_file(&[("user", "first?"), ("assistant", "first!")], "x/y", &[])
}

/// `saved()` continued with "second?" / "second!".
fn saved_next() -> String {
    saved_file(
        &[
            ("user", "first?"),
            ("assistant", "first!"),
            ("user", "second?"),
            ("assistant", "second!"),
        ],
        "x/y",
        &[],
    )
}

/// The request a run on `saved()` with the prompt "second?" sends.
const SAVED_NEXT_REQUEST: &str = r#"{"messages":[{"role":"user","content":"first?"},{"role":"assistant","content":"first!"},{"role":"user","content":"second?"}],"model":"x/y","stream":true,"stream_options":{"include_usage":true}}"#;

// ---------------------------------------------------------------------------
// 1. A new conversation
// ---------------------------------------------------------------------------

#[test]
fn missing_file_sends_a_plain_run_body_and_is_created_0600() {
    let plain = Server::start(vec![answer("héllo ✓")]);
    let out = orstream_at(&plain).args(["-m", "x/y", "Say hi"]).run();
    out.assert_code(0);
    let plain_body = only_request(&plain, &out);

    let dir = TempDir::new("new");
    let server = Server::start(vec![answer_in(&["h", "éllo ", "✓"])]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "Say hi"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "héllo ✓\n", "{}", out.report());
    let body = only_request(&server, &out);
    assert_eq!(
        body, plain_body,
        "a new conversation sends a plain run's body"
    );
    assert_eq!(
        body,
        r#"{"messages":[{"role":"user","content":"Say hi"}],"model":"x/y","stream":true,"stream_options":{"include_usage":true}}"#
    );

    assert_eq!(
        dir.read("c.json"),
        saved_file(&[("user", "Say hi"), ("assistant", "héllo ✓")], "x/y", &[])
    );
    assert_eq!(dir.mode("c.json"), 0o600);
    assert_eq!(dir.list(), ["c.json"], "nothing else beside FILE");
}

#[test]
fn answer_text_is_saved_as_utf8_with_only_json_escapes() {
    let dir = TempDir::new("escapes");
    let server = Server::start(vec![answer_in(&[
        "héllo ✓ 日本",
        " \"quoted\"\n",
        "tab\there \\ end",
    ])]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "Quote me"])
        .run();
    out.assert_code(0);
    let saved = dir.read("c.json");
    assert_eq!(
        saved,
        saved_file(
            &[
                ("user", "Quote me"),
                ("assistant", r#"héllo ✓ 日本 \"quoted\"\ntab\there \\ end"#)
            ],
            "x/y",
            &[]
        )
    );
    assert!(!saved.contains("\\u"), "non-ASCII must not be escaped");
}

#[test]
fn empty_or_whitespace_file_starts_a_new_conversation_and_keeps_its_mode() {
    for (tag, contents) in [("empty", ""), ("blank", "  \n\t\r\n  \n")] {
        let dir = TempDir::new(tag);
        dir.write("c.json", contents, 0o640);
        let before = dir.ino("c.json");
        let body = turn(&dir, &["-c", "c.json", "-m", "x/y", "Say hi"], "hi");
        assert_eq!(
            body,
            r#"{"messages":[{"role":"user","content":"Say hi"}],"model":"x/y","stream":true,"stream_options":{"include_usage":true}}"#,
            "{tag} FILE"
        );
        assert_eq!(
            dir.read("c.json"),
            saved_file(&[("user", "Say hi"), ("assistant", "hi")], "x/y", &[]),
            "{tag} FILE"
        );
        assert_eq!(dir.mode("c.json"), 0o640, "{tag} FILE keeps its mode");
        assert_ne!(dir.ino("c.json"), before, "{tag} FILE: not renamed over");
        assert_eq!(dir.list(), ["c.json"]);
    }
}

// ---------------------------------------------------------------------------
// 2. A conversation continued
// ---------------------------------------------------------------------------

#[test]
fn three_turns_remember_flags_and_replace_the_system_message() {
    let dir = TempDir::new("three");
    let args1 = [
        "-c",
        "chat.json",
        "-m",
        "x/y",
        "-t",
        "0.5",
        "-s",
        "Be brief.",
        "What is 2+2?",
    ];
    let body1 = turn(&dir, &args1, "4");
    assert_eq!(
        body1,
        r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+2?"}],"model":"x/y","temperature":0.5,"stream":true,"stream_options":{"include_usage":true}}"#
    );
    assert_eq!(dir.mode("chat.json"), 0o600);
    let ino1 = dir.ino("chat.json");

    // No flags: model and temperature come from the file.
    let body2 = turn(&dir, &["-c", "chat.json", "And 3+3?"], "6");
    assert_eq!(
        body2,
        r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4"},{"role":"user","content":"And 3+3?"}],"model":"x/y","temperature":0.5,"stream":true,"stream_options":{"include_usage":true}}"#
    );
    let ino2 = dir.ino("chat.json");
    assert_ne!(ino2, ino1, "FILE replaced by a rename");

    // Flags override the file's fields in place; -s replaces the leading
    // system message.
    let args3 = [
        "-c",
        "chat.json",
        "-m",
        "x/z",
        "-t",
        "0.9",
        "-s",
        "Be terse.",
        "Say héllo ✓",
    ];
    let body3 = turn(&dir, &args3, "héllo ✓");
    assert_eq!(
        body3,
        r#"{"messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4"},{"role":"user","content":"And 3+3?"},{"role":"assistant","content":"6"},{"role":"user","content":"Say héllo ✓"}],"model":"x/z","temperature":0.9,"stream":true,"stream_options":{"include_usage":true}}"#
    );
    assert_ne!(dir.ino("chat.json"), ino2, "FILE replaced by a rename");

    let saved = dir.read("chat.json");
    eprintln!("--- chat.json after three turns ---\n{saved}--- end ---");
    assert_eq!(
        saved,
        saved_file(
            &[
                ("system", "Be terse."),
                ("user", "What is 2+2?"),
                ("assistant", "4"),
                ("user", "And 3+3?"),
                ("assistant", "6"),
                ("user", "Say héllo ✓"),
                ("assistant", "héllo ✓")
            ],
            "x/z",
            &[r#""temperature": 0.9"#]
        )
    );
    assert_eq!(dir.mode("chat.json"), 0o600);
    assert_eq!(dir.list(), ["chat.json"]);
}

#[test]
fn continued_file_keeps_its_mode_and_is_replaced_by_rename() {
    let dir = TempDir::new("continue");
    dir.write("c.json", &saved(), 0o640);
    let before = dir.ino("c.json");
    let body = turn(&dir, &["-c", "c.json", "second?"], "second!");
    assert_eq!(body, SAVED_NEXT_REQUEST);
    assert_eq!(dir.read("c.json"), saved_next());
    assert_eq!(dir.mode("c.json"), 0o640, "an existing FILE keeps its mode");
    assert_ne!(dir.ino("c.json"), before, "FILE replaced by a rename");
    assert_eq!(dir.list(), ["c.json"]);
}

#[test]
fn hand_written_file_keeps_unknown_fields_and_key_order() {
    let dir = TempDir::new("hand");
    let hand = r#"{"zeta": {"b": 1, "a": [true, null]}, "model": "hand/made",
 "messages": [{"content": "first?", "role": "user", "name": "ann"},
              {"role": "assistant", "content": "first!", "refusal": null}],
 "x_custom": "kept", "temperature": 0.25}"#;
    dir.write("c.json", hand, 0o644);
    let body = turn(&dir, &["-c", "c.json", "second?"], "second!");
    assert_eq!(
        body,
        r#"{"zeta":{"b":1,"a":[true,null]},"model":"hand/made","messages":[{"content":"first?","role":"user","name":"ann"},{"role":"assistant","content":"first!","refusal":null},{"role":"user","content":"second?"}],"x_custom":"kept","temperature":0.25,"stream":true,"stream_options":{"include_usage":true}}"#
    );
    assert_eq!(
        dir.read("c.json"),
        r#"{
  "zeta": {
    "b": 1,
    "a": [
      true,
      null
    ]
  },
  "model": "hand/made",
  "messages": [
    {
      "content": "first?",
      "role": "user",
      "name": "ann"
    },
    {
      "role": "assistant",
      "content": "first!",
      "refusal": null
    },
    {
      "role": "user",
      "content": "second?"
    },
    {
      "role": "assistant",
      "content": "second!"
    }
  ],
  "x_custom": "kept",
  "temperature": 0.25
}
"#
    );
    assert_eq!(dir.mode("c.json"), 0o644);
}

#[test]
fn system_flag_inserts_a_system_message_first_when_none_leads() {
    let dir = TempDir::new("system");
    dir.write(
        "c.json",
        r#"{"messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"system","content":"late"}]}"#,
        0o600,
    );
    let body = turn(&dir, &["-c", "c.json", "-s", "S", "q2"], "a2");
    assert_eq!(
        body,
        r#"{"messages":[{"role":"system","content":"S"},{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"system","content":"late"},{"role":"user","content":"q2"}],"stream":true,"stream_options":{"include_usage":true}}"#
    );
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[
                ("system", "S"),
                ("user", "q1"),
                ("assistant", "a1"),
                ("system", "late"),
                ("user", "q2"),
                ("assistant", "a2")
            ],
            "",
            &[]
        )
    );
}

#[test]
fn stream_fields_in_the_file_are_forced_on_the_wire_and_not_saved() {
    let dir = TempDir::new("streamfields");
    dir.write(
        "c.json",
        r#"{"stream":false,"messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"a1"}],"stream_options":{"include_usage":false},"model":"m/n"}"#,
        0o600,
    );
    let server = Server::start(vec![answer("a2")]);
    let out = run_in(&dir, &server).args(["-c", "c.json", "q2"]).run();
    out.assert_code(0);
    let sent: Value = server.received()[0].json();
    assert_eq!(sent["stream"], Value::Bool(true), "{sent}");
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(3), "{sent}");
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[
                ("user", "q1"),
                ("assistant", "a1"),
                ("user", "q2"),
                ("assistant", "a2")
            ],
            "m/n",
            &[]
        )
    );
}

#[test]
fn prompt_may_come_from_stdin_as_in_a_plain_run() {
    let dir = TempDir::new("stdin");
    let server = Server::start(vec![answer("ok")]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "Summarise"])
        .stdin("the document\n\n")
        .run();
    out.assert_code(0);
    let sent: Value = server.received()[0].json();
    assert_eq!(sent["messages"][0]["content"], "the document\n\nSummarise");
    assert!(
        dir.read("c.json")
            .contains("\"content\": \"the document\\n\\nSummarise\""),
        "{}",
        dir.read("c.json")
    );
}

// ---------------------------------------------------------------------------
// 3. Replaying a conversation with --request
// ---------------------------------------------------------------------------

#[test]
fn request_file_replays_a_saved_conversation() {
    let dir = TempDir::new("replay");
    turn(
        &dir,
        &["-c", "c.json", "-m", "x/y", "-t", "0.5", "Say hi"],
        "hi",
    );
    let saved: Value = serde_json::from_str(&dir.read("c.json")).unwrap();
    let before = state(&dir, "c.json");

    let server = Server::start(vec![answer("again")]);
    let out = run_in(&dir, &server).args(["--request", "c.json"]).run();
    out.assert_code(0);
    let body = only_request(&server, &out);
    assert_eq!(
        body,
        r#"{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"hi"}],"model":"x/y","temperature":0.5,"stream":true,"stream_options":{"include_usage":true}}"#
    );
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["messages"], saved["messages"]);
    assert_eq!(state(&dir, "c.json"), before, "--request never writes FILE");
}

// ---------------------------------------------------------------------------
// 4. Every failure leaves FILE alone
// ---------------------------------------------------------------------------

/// The ways a run ends other than exit 0.
#[derive(Debug, Clone, Copy)]
enum Fail {
    Unauthorized,
    ServerError,
    MidStreamError,
    Truncated,
    SchemaNotJson,
    NoCodeBlock,
    Interrupted,
    StdoutClosed,
}

impl Fail {
    fn reply(self) -> Reply {
        match self {
            Fail::Unauthorized => Reply::json(
                401,
                r#"{"error":{"code":401,"message":"No auth credentials found"}}"#,
            ),
            Fail::ServerError => Reply::json(
                500,
                r#"{"error":{"code":500,"message":"Internal Server Error"}}"#,
            ),
            Fail::MidStreamError => Reply::sse(&[
                &chunk("partial"),
                "data: {\"error\":{\"code\":502,\"message\":\"upstream died\"}}\n\n",
            ]),
            Fail::Truncated => Reply::sse(&[&chunk("partial")]),
            Fail::SchemaNotJson => answer("not json"),
            Fail::NoCodeBlock => answer("no fence here"),
            Fail::Interrupted => {
                Reply::sse_steps_with(vec![Step::write(chunk("partial"))], SseEnd::Hold)
            }
            Fail::StdoutClosed => held_answer(" more"),
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Fail::ServerError => &["--retries", "0"],
            Fail::SchemaNotJson => &["--schema", "name"],
            Fail::NoCodeBlock => &["-x"],
            _ => &[],
        }
    }

    fn code(self) -> i32 {
        match self {
            Fail::Unauthorized => 3,
            Fail::ServerError | Fail::MidStreamError => 6,
            Fail::Truncated => 7,
            Fail::SchemaNotJson | Fail::NoCodeBlock => 8,
            Fail::Interrupted => 130,
            Fail::StdoutClosed => 141,
        }
    }

    fn run(self, cmd: Cmd, server: &Server) -> Output {
        match self {
            Fail::Interrupted => {
                let run = cmd.spawn();
                assert!(run.wait_stdout_contains(b"partial", T), "no output");
                run.signal(SIGINT);
                run.wait()
            }
            Fail::StdoutClosed => {
                let mut run = cmd.spawn();
                assert!(run.wait_stdout_contains(b"partial", T), "no output");
                // The reader leaves while the server is silent: orstream
                // notices by itself (and closes the socket). Releasing the
                // rest now would race with a child of another test that
                // still holds the pipe between its fork and its exec.
                run.close_stdout();
                let out = run.wait();
                server.release();
                out
            }
            _ => cmd.run(),
        }
    }
}

/// For an existing FILE and a missing one: the run fails with `fail`'s
/// code after sending its request, and FILE and its directory are exactly
/// as before (a missing FILE not created).
fn assert_failure_leaves_file_alone(fail: Fail) {
    for existing in [true, false] {
        let dir = TempDir::new(&format!("{fail:?}-{existing}"));
        if existing {
            dir.write("c.json", &saved(), 0o640);
        }
        let before = state(&dir, "c.json");
        let server = Server::start(vec![fail.reply()]);
        let cmd = run_in(&dir, &server)
            .args(fail.args())
            .args(["-c", "c.json", "second?"]);
        let out = fail.run(cmd, &server);
        out.assert_code(fail.code());
        let got = server.received();
        assert_eq!(got.len(), 1, "{fail:?}: one request\n{}", out.report());
        let sent = got[0].json();
        let want = if existing { 3 } else { 1 };
        assert_eq!(
            sent["messages"].as_array().map(Vec::len),
            Some(want),
            "{fail:?}: the request carries the conversation\n{}",
            out.report()
        );
        assert_eq!(
            state(&dir, "c.json"),
            before,
            "{fail:?}: FILE (existing: {existing}) and its directory changed\n{}",
            out.report()
        );
    }
}

#[test]
fn http_401_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::Unauthorized);
}

#[test]
fn http_500_after_retries_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::ServerError);
}

#[test]
fn mid_stream_error_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::MidStreamError);
}

#[test]
fn eof_without_finish_reason_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::Truncated);
}

#[test]
fn schema_answer_not_json_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::SchemaNotJson);
}

#[test]
fn extract_without_code_block_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::NoCodeBlock);
}

#[test]
fn sigint_mid_stream_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::Interrupted);
}

#[test]
fn stdout_closed_leaves_file_alone() {
    assert_failure_leaves_file_alone(Fail::StdoutClosed);
}

// ---------------------------------------------------------------------------
// 5. What the saved answer is
// ---------------------------------------------------------------------------

#[test]
fn extract_saves_the_whole_answer_not_only_the_block() {
    let dir = TempDir::new("extract");
    let server = Server::start(vec![answer_in(&[
        "Here:\n```sh\n",
        "echo hi\n",
        "```\nDone.",
    ])]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "-x", "give code"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "echo hi\n", "{}", out.report());
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[
                ("user", "give code"),
                ("assistant", r#"Here:\n```sh\necho hi\n```\nDone."#)
            ],
            "x/y",
            &[]
        )
    );
}

#[test]
fn schema_with_json_saves_the_answer_text_not_the_json_lines() {
    let dir = TempDir::new("schema");
    let server = Server::start(vec![answer_in(&["{\"name\": ", "\"Ann\"}"])]);
    let out = run_in(&dir, &server)
        .args([
            "-c", "c.json", "-m", "a/b", "--schema", "name", "--json", "Who?",
        ])
        .run();
    out.assert_code(0);
    assert!(
        out.stdout_str().starts_with("{\"id\":\"gen-1\""),
        "{}",
        out.report()
    );
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[("user", "Who?"), ("assistant", r#"{\"name\": \"Ann\"}"#)],
            "a/b",
            &[r#""response_format": {
    "type": "json_schema",
    "json_schema": {
      "name": "answer",
      "strict": true,
      "schema": {
        "type": "object",
        "properties": {
          "name": {
            "type": "string"
          }
        },
        "required": [
          "name"
        ],
        "additionalProperties": false
      }
    }
  }"#]
        )
    );
}

#[test]
fn reasoning_and_tool_calls_are_not_saved() {
    let dir = TempDir::new("reasoning");
    let server = Server::start(vec![Reply::sse(&[
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning\":\"Thinking hard.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\" More thought.\"},\"finish_reason\":null}]}\n\n",
        &chunk("Sure."),
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\":1}\"}}]},\"finish_reason\":null}]}\n\n",
        &finish("tool_calls"),
        DONE,
    ])]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "--reasoning", "Look it up"])
        .run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "Sure.\n", "{}", out.report());
    assert!(
        out.stderr_str().contains("Thinking hard."),
        "reasoning was received\n{}",
        out.report()
    );
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[("user", "Look it up"), ("assistant", "Sure.")],
            "x/y",
            &[]
        )
    );
}

#[test]
fn attachments_are_saved_in_the_user_message_as_sent() {
    let dir = TempDir::new("attach");
    dir.write("note.txt", "note text", 0o644);
    let server = Server::start(vec![answer("ok")]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-m", "x/y", "-a", "note.txt", "Summarise"])
        .run();
    out.assert_code(0);
    let sent: Value = server.received()[0].json();
    assert_eq!(
        sent["messages"][0]["content"],
        "<file name=\"note.txt\">\nnote text\n</file>\n\nSummarise"
    );
    assert_eq!(
        dir.read("c.json"),
        saved_file(
            &[
                (
                    "user",
                    r#"<file name=\"note.txt\">\nnote text\n</file>\n\nSummarise"#
                ),
                ("assistant", "ok")
            ],
            "x/y",
            &[]
        )
    );

    // An attachment alone is a prompt (SPEC §8), with -c as without.
    let server = Server::start(vec![answer("ok")]);
    let out = run_in(&dir, &server)
        .args(["-c", "c.json", "-a", "note.txt"])
        .run();
    out.assert_code(0);
    let sent: Value = server.received()[0].json();
    assert_eq!(
        sent["messages"][2]["content"],
        "<file name=\"note.txt\">\nnote text\n</file>"
    );
}

// ---------------------------------------------------------------------------
// 6. Two runs on one FILE
// ---------------------------------------------------------------------------

fn second_run_is_refused_while_the_first_holds_file(existing: bool) {
    let dir = TempDir::new(&format!("lock-{existing}"));
    if existing {
        dir.write("c.json", &saved(), 0o600);
    }
    let first_server = Server::start(vec![held_answer(" done")]);
    let first = run_in(&dir, &first_server)
        .args(["-c", "c.json", "second?"])
        .spawn();
    assert!(
        first_server.wait_request(T).is_some(),
        "the first run sent no request"
    );
    assert!(first.wait_stdout_contains(b"partial", T));
    let before = state(&dir, "c.json");

    let second_server = Server::start(vec![answer("never")]);
    let out = run_in(&dir, &second_server)
        .args(["-c", "c.json", "other?"])
        .run();
    out.assert_code(2);
    assert_eq!(
        out.stderr_str(),
        "orstream: error: c.json is in use by another orstream\n",
        "{}",
        out.report()
    );
    assert!(out.stdout.is_empty(), "{}", out.report());
    assert_no_connections(&second_server);
    assert_eq!(state(&dir, "c.json"), before, "the refused run wrote");

    first_server.release();
    let out = first.wait();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "partial done\n", "{}", out.report());
    let want = if existing {
        saved_file(
            &[
                ("user", "first?"),
                ("assistant", "first!"),
                ("user", "second?"),
                ("assistant", "partial done"),
            ],
            "x/y",
            &[],
        )
    } else {
        saved_file(
            &[("user", "second?"), ("assistant", "partial done")],
            "",
            &[],
        )
    };
    assert_eq!(dir.read("c.json"), want);
    assert_eq!(dir.list(), ["c.json"], "the directory holds only FILE");

    // The finished turn is there for the next run.
    let body = turn(&dir, &["-c", "c.json", "next?"], "next!");
    assert!(
        body.contains(
            r#"{"role":"assistant","content":"partial done"},{"role":"user","content":"next?"}"#
        ),
        "{body}"
    );
    assert_eq!(dir.list(), ["c.json"]);
}

#[test]
fn second_run_on_an_existing_file_is_refused_at_once() {
    second_run_is_refused_while_the_first_holds_file(true);
}

#[test]
fn second_run_on_a_missing_file_is_refused_at_once() {
    second_run_is_refused_while_the_first_holds_file(false);
}

// ---------------------------------------------------------------------------
// 7. kill -9
// ---------------------------------------------------------------------------

#[test]
fn sigkill_mid_stream_leaves_file_as_it_was() {
    for existing in [true, false] {
        let dir = TempDir::new(&format!("kill-{existing}"));
        if existing {
            dir.write("c.json", &saved(), 0o640);
        }
        let before = state(&dir, "c.json");
        let server = Server::start(vec![Reply::sse_steps_with(
            vec![Step::write(chunk("partial"))],
            SseEnd::Hold,
        )]);
        let run = run_in(&dir, &server)
            .args(["-c", "c.json", "second?"])
            .spawn();
        assert!(run.wait_stdout_contains(b"partial", T), "no output");
        run.signal(SIGKILL);
        let out = run.wait();
        assert_eq!(out.signal, Some(SIGKILL), "{}", out.report());
        assert_eq!(
            state(&dir, "c.json"),
            before,
            "existing: {existing}\n{}",
            out.report()
        );

        // A killed run holds no lock: the next one goes ahead.
        turn(&dir, &["-c", "c.json", "second?"], "second!");
        if existing {
            assert_eq!(dir.read("c.json"), saved_next());
        }
        assert_eq!(dir.list(), ["c.json"]);
    }
}

// ---------------------------------------------------------------------------
// 8. Usage errors
// ---------------------------------------------------------------------------

/// In a directory holding `c.json` (= `saved()`), a request file `x.json` and
/// a recording `x.sse`: `args` is a usage error naming each of `want`, with
/// no request and nothing on disk changed. Returns the error line.
fn assert_usage_error_leaves_file(args: &[&str], want: &[&str]) -> String {
    let dir = TempDir::new("usage");
    dir.write("c.json", &saved(), 0o640);
    dir.write(
        "x.json",
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        0o644,
    );
    let sse = format!("{}{}{DONE}", chunk("recorded"), finish("stop"));
    dir.write("x.sse", &sse, 0o644);
    let before = state(&dir, "c.json");
    let server = Server::start(vec![answer("never")]);
    let out = run_in(&dir, &server).args(args).run();
    let line = assert_usage_error(&out, &server);
    for w in want {
        assert!(
            line.contains(w),
            "{args:?}: {w:?} not named\n{}",
            out.report()
        );
    }
    assert_eq!(state(&dir, "c.json"), before, "{args:?}\n{}", out.report());
    line
}

#[test]
fn chat_with_request_is_a_usage_error() {
    assert_usage_error_leaves_file(
        &["-c", "c.json", "--request", "x.json", "hi"],
        &["--chat", "--request"],
    );
}

#[test]
fn chat_with_from_sse_is_a_usage_error() {
    assert_usage_error_leaves_file(
        &["-c", "c.json", "--from-sse", "x.sse"],
        &["--chat", "--from-sse"],
    );
}

#[test]
fn chat_with_list_models_is_a_usage_error() {
    assert_usage_error_leaves_file(
        &["-c", "c.json", "--list-models"],
        &["--chat", "--list-models"],
    );
}

#[test]
fn chat_dash_is_a_usage_error() {
    assert_usage_error_leaves_file(&["-c", "-", "hi"], &["-c -"]);
}

#[test]
fn chat_needs_a_prompt_like_a_plain_run() {
    for args in [&["-c", "c.json"][..], &["-c", "c.json", "--no-stdin"][..]] {
        let line = assert_usage_error_leaves_file(args, &[]);
        assert_eq!(line, "orstream: error: no prompt given", "{args:?}");
    }
    let line = assert_usage_error_leaves_file(&["-c", "c.json", " \t "], &[]);
    assert_eq!(line, "orstream: error: the prompt is empty");

    // A missing FILE is not created either.
    let dir = TempDir::new("noprompt");
    let server = Server::start(vec![answer("never")]);
    let out = run_in(&dir, &server).args(["-c", "c.json"]).run();
    let line = assert_usage_error(&out, &server);
    assert_eq!(line, "orstream: error: no prompt given");
    assert!(dir.list().is_empty(), "{:?}", dir.list());
}

/// FILE (written with `contents`) is not a conversation: exit 2 naming
/// FILE and each of `want`, no request, FILE untouched.
fn assert_bad_file(contents: &str, want: &[&str]) {
    let dir = TempDir::new("bad");
    dir.write("bad.json", contents, 0o600);
    let before = state(&dir, "bad.json");
    let server = Server::start(vec![answer("never")]);
    let out = run_in(&dir, &server).args(["-c", "bad.json", "hi"]).run();
    let line = assert_usage_error(&out, &server);
    assert!(
        line.contains("bad.json"),
        "FILE not named\n{}",
        out.report()
    );
    for w in want {
        assert!(line.contains(w), "{w:?} missing\n{}", out.report());
    }
    assert_eq!(state(&dir, "bad.json"), before, "{}", out.report());
}

#[test]
fn invalid_json_file_names_file_line_and_column() {
    assert_bad_file("{\n  \"messages\": x\n}\n", &["line 2 column 15"]);
}

#[test]
fn json_array_file_is_a_usage_error() {
    assert_bad_file(r#"[{"role":"user","content":"hi"}]"#, &["line 1 column"]);
}

#[test]
fn file_without_messages_array_is_a_usage_error() {
    assert_bad_file(r#"{"model":"a/b"}"#, &["messages", "line 1 column 15"]);
    assert_bad_file(r#"{"messages":"hi"}"#, &["line 1 column"]);
}

// ---------------------------------------------------------------------------
// Symlinks, and a FILE another program changes during the run
// ---------------------------------------------------------------------------

#[test]
fn symlink_file_is_followed_and_stays_a_link() {
    let dir = TempDir::new("symlink");
    fs::create_dir(dir.join("real")).unwrap();
    dir.write("real/conv.json", &saved(), 0o644);
    symlink("real/conv.json", dir.join("link.json")).unwrap();
    let before = dir.ino("real/conv.json");

    let body = turn(&dir, &["-c", "link.json", "second?"], "second!");
    assert_eq!(body, SAVED_NEXT_REQUEST);
    let link = fs::symlink_metadata(dir.join("link.json")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(
        fs::read_link(dir.join("link.json")).unwrap(),
        Path::new("real/conv.json")
    );
    assert_eq!(dir.read("real/conv.json"), saved_next());
    assert_eq!(dir.mode("real/conv.json"), 0o644);
    assert_ne!(dir.ino("real/conv.json"), before);
    assert_eq!(dir.list(), ["link.json", "real"]);
    assert_eq!(list_dir(&dir.join("real")), ["conv.json"]);

    // A dangling link: its target is created, and the link stays.
    symlink("real/new.json", dir.join("dangling.json")).unwrap();
    turn(
        &dir,
        &["-c", "dangling.json", "-m", "x/y", "first?"],
        "first!",
    );
    assert!(fs::symlink_metadata(dir.join("dangling.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dir.read("real/new.json"), saved());
    assert_eq!(dir.mode("real/new.json"), 0o600);
    assert_eq!(dir.list(), ["dangling.json", "link.json", "real"]);
    assert_eq!(list_dir(&dir.join("real")), ["conv.json", "new.json"]);
}

/// A run held mid-stream on `c.json`; `meddle` plays another program while
/// it is held; the run must then exit 1 naming FILE and leave `c.json` as
/// `meddle` made it.
fn assert_meddling_is_not_overwritten(existing: bool, meddle: impl FnOnce(&TempDir)) {
    let dir = TempDir::new(&format!("meddle-{existing}"));
    if existing {
        dir.write("c.json", &saved(), 0o600);
    }
    let server = Server::start(vec![held_answer(" done")]);
    let run = run_in(&dir, &server)
        .args(["-c", "c.json", "second?"])
        .spawn();
    assert!(run.wait_stdout_contains(b"partial", T), "no output");
    meddle(&dir);
    let theirs = state(&dir, "c.json");
    server.release();
    let out = run.wait();
    out.assert_code(1);
    let line = error_line(&out);
    assert!(line.contains("c.json"), "FILE not named\n{}", out.report());
    assert_eq!(
        state(&dir, "c.json"),
        theirs,
        "the other program's FILE was overwritten\n{}",
        out.report()
    );
}

#[test]
fn file_replaced_by_another_program_during_the_run_is_not_overwritten() {
    assert_meddling_is_not_overwritten(true, |dir| {
        // An editor's save: a new file renamed over FILE.
        dir.write("edited.tmp", "{\"messages\":[]}\n", 0o600);
        fs::rename(dir.join("edited.tmp"), dir.join("c.json")).unwrap();
    });
}

#[test]
fn file_created_by_another_program_during_the_run_is_not_overwritten() {
    assert_meddling_is_not_overwritten(false, |dir| {
        dir.write("c.json", "{\"messages\":[]}\n", 0o600);
    });
}

#[test]
fn file_modified_in_place_by_another_program_during_the_run_is_not_overwritten() {
    assert_meddling_is_not_overwritten(true, |dir| {
        // `>>` or an editor that writes in place: same inode, new bytes.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(dir.join("c.json"))
            .unwrap();
        f.write_all(b"\n").unwrap();
    });
}

// ---------------------------------------------------------------------------
// 9. A save that fails
// ---------------------------------------------------------------------------

/// Whether SIGXFSZ is ignored in `pid` (the `SigIgn` mask), i.e. the
/// child really started with it ignored.
fn ignores_sigxfsz(pid: u32) -> bool {
    in_signal_mask(pid, &["SigIgn"], SIGXFSZ)
}

/// Tests run as root, so a read-only directory stops nothing. A file size
/// limit does: the child's RLIMIT_FSIZE is lowered while it is held
/// mid-stream, so writing the new file fails with EFBIG. orstream ignores
/// SIGXFSZ itself, so it gets the error instead of being killed (and
/// dumping a core that could hold the key); a SIGXFSZ its parent already
/// ignored changes nothing.
#[test]
fn file_size_limit_is_exit_1_naming_file_never_a_death_by_sigxfsz() {
    for (existing, inherited) in [(true, false), (false, false), (true, true)] {
        let dir = TempDir::new(&format!("savefail-{existing}-{inherited}"));
        if existing {
            dir.write("c.json", &saved(), 0o640);
        }
        let before = state(&dir, "c.json");
        let server = Server::start(vec![held_answer(" done")]);
        let mut cmd = run_in(&dir, &server).args(["-c", "c.json", "second?"]);
        if inherited {
            cmd = cmd.ignore_signal(SIGXFSZ);
        }
        let run = cmd.spawn();
        assert!(run.wait_stdout_contains(b"partial", T), "no output");
        assert!(
            ignores_sigxfsz(run.pid()),
            "orstream does not ignore SIGXFSZ (inherited: {inherited})"
        );
        limit_file_size(run.pid(), 16);
        server.release();
        let out = run.wait();
        out.assert_code(1);
        assert_eq!(out.stdout_str(), "partial done\n", "{}", out.report());
        assert_eq!(
            error_line(&out),
            "orstream: error: cannot save the conversation to c.json: file too large",
            "{}",
            out.report()
        );
        assert_eq!(
            state(&dir, "c.json"),
            before,
            "existing: {existing}\n{}",
            out.report()
        );
    }
}

// ---------------------------------------------------------------------------
// 10. A hostile neighbour: other users' links, files, lock files
// ---------------------------------------------------------------------------

/// Other users. The suite runs as root, so it can give files away.
const OTHER: u32 = 65534;
const THIRD: u32 = 65533;

/// The uid the runs have (root, as the suite runs).
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A world-writable sticky directory `name` in `dir` (like `/tmp`),
/// owned by `owner`.
fn sticky_dir(dir: &TempDir, name: &str, owner: u32) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o1777)).unwrap();
    chown(&path, Some(owner), Some(owner)).unwrap();
    path
}

/// A symbolic link at `link` to `target`, owned by `owner`.
fn link_owned_by(owner: u32, target: &str, link: &Path) {
    symlink(target, link).unwrap();
    lchown(link, Some(owner), Some(owner)).unwrap();
}

/// Everything under `root`, one line per entry: name, type, mode, owner,
/// inode, and a file's content or a link's target.
fn tree(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if m.is_dir() {
                dirs.push(path.clone());
                "dir".to_string()
            } else {
                fs::read_to_string(&path).unwrap()
            };
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let (mode, uid, ino) = (m.mode() & 0o7777, m.uid(), m.ino());
            lines.push(format!("{name} {mode:o} {uid} {ino}: {what}"));
        }
    }
    lines.sort();
    lines
}

/// `args`, run in `dir`, is exit 2 with exactly `want` as its one line,
/// before any request, and changes nothing under `dir`.
fn assert_refused(dir: &TempDir, args: &[&str], want: &str) {
    let before = tree(dir.path());
    let server = Server::start(vec![answer("never")]);
    let out = run_in(dir, &server).args(args).run();
    let line = assert_usage_error(&out, &server);
    assert_eq!(line, want, "{args:?}\n{}", out.report());
    assert_eq!(tree(dir.path()), before, "{args:?}\n{}", out.report());
}

#[test]
fn another_users_link_in_a_sticky_directory_is_not_followed() {
    let dir = TempDir::new("sticky-theirs");
    // Like /tmp: world-writable, sticky, root's.
    let shared = sticky_dir(&dir, "shared", euid());
    // Their history, ready to be sent and then saved with their mode.
    dir.write("theirs.json", &saved(), 0o6777);
    chown(dir.join("theirs.json"), Some(OTHER), Some(OTHER)).unwrap();
    link_owned_by(OTHER, "../theirs.json", &shared.join("chat.json"));
    // And on the way to FILE: a directory of theirs.
    fs::create_dir(dir.join("their-dir")).unwrap();
    chown(dir.join("their-dir"), Some(OTHER), Some(OTHER)).unwrap();
    link_owned_by(OTHER, "../their-dir", &shared.join("sub"));
    for (file, link) in [
        ("shared/chat.json", "shared/chat.json"),
        ("shared/sub/c.json", "shared/sub"),
    ] {
        assert_refused(
            &dir,
            &["-c", file, "hi"],
            &format!(
                "orstream: error: -c {file}: the symbolic link {link} is another \
                 user's (uid {OTHER}) in a world-writable sticky directory: not followed"
            ),
        );
    }
}

#[test]
fn links_in_a_sticky_directory_are_followed_when_ours_or_the_directorys_owners() {
    let dir = TempDir::new("sticky-ok");
    let ours = sticky_dir(&dir, "ours", euid());
    link_owned_by(euid(), "../mine.json", &ours.join("c.json"));
    let theirs = sticky_dir(&dir, "theirs", THIRD);
    link_owned_by(THIRD, "../mine.json", &theirs.join("c.json"));
    for file in ["ours/c.json", "theirs/c.json"] {
        dir.write("mine.json", &saved(), 0o600);
        let body = turn(&dir, &["-c", file, "second?"], "second!");
        assert_eq!(body, SAVED_NEXT_REQUEST, "{file}");
        assert_eq!(dir.read("mine.json"), saved_next(), "{file}");
        let link = fs::symlink_metadata(dir.join(file)).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "{file}: the link was replaced"
        );
    }
}

#[test]
fn another_users_file_is_refused_before_any_request() {
    let dir = TempDir::new("their-file");
    dir.write("c.json", &saved(), 0o666);
    chown(dir.join("c.json"), Some(OTHER), Some(OTHER)).unwrap();
    assert_refused(
        &dir,
        &["-c", "c.json", "second?"],
        &format!("orstream: error: -c c.json: it is another user's (uid {OTHER})"),
    );
}

#[test]
fn a_path_naming_a_directory_is_refused_before_any_request() {
    let dir = TempDir::new("slash");
    fs::create_dir(dir.join("sub")).unwrap();
    let slash = "it ends in '/': FILE must name a file";
    let names_dir = "it names a directory: FILE must name a file";
    for (file, why) in [
        ("c.json/", slash),
        ("sub/c.json/", slash),
        ("sub/", slash),
        ("sub/.", names_dir),
        ("sub/c.json/.", names_dir),
    ] {
        assert_refused(
            &dir,
            &["-c", file, "-m", "x/y", "hi"],
            &format!("orstream: error: -c {file}: {why}"),
        );
    }
    // An existing FILE named with a slash after it.
    dir.write("c.json", &saved(), 0o600);
    assert_refused(
        &dir,
        &["-c", "c.json/", "second?"],
        &format!("orstream: error: -c c.json/: {slash}"),
    );
}

#[test]
fn a_parent_that_is_not_a_writable_directory_is_refused_before_any_request() {
    let dir = TempDir::new("parent");
    dir.write("notes.txt", "notes", 0o600);
    for (file, why) in [
        ("notes.txt/c.json", "not a directory"),
        ("none/c.json", "no such directory"),
    ] {
        assert_refused(
            &dir,
            &["-c", file, "hi"],
            &format!("orstream: error: -c {file}: {why}"),
        );
    }

    // As another user, in a directory that is root's and not writable to
    // them: their FILE, and a new one.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir.write("c.json", &saved(), 0o600);
    chown(dir.join("c.json"), Some(OTHER), Some(OTHER)).unwrap();
    let before = tree(dir.path());
    for (file, why) in [
        ("c.json", "cannot replace it: its directory is not writable"),
        (
            "new.json",
            "cannot create it: its directory is not writable",
        ),
    ] {
        let server = Server::start(vec![answer("never")]);
        let child = run_in(&dir, &server)
            .args(["-c", file, "hi"])
            .spawn_child(|c| {
                c.uid(OTHER)
                    .gid(OTHER)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
            });
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr, format!("orstream: error: -c {file}: {why}\n"));
        assert_no_connections(&server);
        assert_eq!(tree(dir.path()), before, "{file}");
    }
}

#[test]
fn an_existing_files_set_id_and_sticky_bits_are_not_kept() {
    for (before, after) in [(0o6640, 0o640), (0o4755, 0o755), (0o1600, 0o600)] {
        let dir = TempDir::new(&format!("setid-{before:o}"));
        dir.write("c.json", &saved(), before);
        assert_eq!(dir.mode("c.json"), before, "the test could not set it");
        turn(&dir, &["-c", "c.json", "second?"], "second!");
        assert_eq!(dir.read("c.json"), saved_next());
        assert_eq!(dir.mode("c.json"), after, "from {before:o}");
    }
}

/// FNV-1a, as orstream named its lock files in `/tmp`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Something another user put in `/tmp`, removed at the end of the test.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0).or_else(|_| fs::remove_dir(&self.0));
    }
}

#[test]
fn another_users_file_at_the_old_lock_path_does_not_block_a_new_conversation() {
    let dir = TempDir::new("planted");
    let meta = fs::metadata(dir.path()).unwrap();
    for (name, as_dir) in [("c.json", false), ("d.json", true)] {
        // Where orstream used to lock a missing FILE, for anyone to compute.
        let old = Planted(PathBuf::from(format!(
            "/tmp/orstream-{}-{:x}-{:x}-{:016x}.lock",
            euid(),
            meta.dev(),
            meta.ino(),
            fnv1a(name.as_bytes())
        )));
        if as_dir {
            fs::create_dir(&old.0).unwrap();
        } else {
            fs::write(&old.0, "").unwrap();
        }
        chown(&old.0, Some(OTHER), Some(OTHER)).unwrap();
        turn(&dir, &["-c", name, "-m", "x/y", "first?"], "first!");
        assert_eq!(dir.read(name), saved(), "{name}");
    }
    assert_eq!(dir.list(), ["c.json", "d.json"]);
}

/// A directory `name` in `dir` with mode 0700, as a runtime directory is.
fn private_dir(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    path
}

#[test]
fn the_lock_of_a_new_conversation_is_private_and_met_whatever_the_environment() {
    let dir = TempDir::new("xdg");
    let envs = TempDir::new("xdg-envs");
    let (run_a, run_b) = (private_dir(&envs, "run-a"), private_dir(&envs, "run-b"));
    let (tmp_a, tmp_b) = (private_dir(&envs, "tmp-a"), private_dir(&envs, "tmp-b"));
    let server = Server::start(vec![held_answer(" done")]);
    let first = run_in(&dir, &server)
        .env("XDG_RUNTIME_DIR", &run_a)
        .env("TMPDIR", &tmp_a)
        .args(["-c", "c.json", "-m", "x/y", "second?"])
        .spawn();
    assert!(first.wait_stdout_contains(b"partial", T), "no output");
    let locks = list_dir(&run_a);
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(locks[0].starts_with("orstream-") && locks[0].ends_with(".lock"));
    // The one every environment agrees on: private, in /tmp.
    let shared = fs::symlink_metadata(format!("/tmp/orstream-{}", euid())).unwrap();
    assert!(shared.is_dir());
    assert_eq!((shared.uid(), shared.mode() & 0o7777), (euid(), 0o700));

    let others: [&[(&str, &Path)]; 3] = [
        &[("TMPDIR", &tmp_b)],
        &[("XDG_RUNTIME_DIR", &run_b)],
        &[("XDG_RUNTIME_DIR", &run_a), ("TMPDIR", &tmp_b)],
    ];
    for env in others {
        let second = Server::start(vec![answer("never")]);
        let mut cmd = run_in(&dir, &second).args(["-c", "c.json", "other?"]);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        let line = assert_usage_error(&out, &second);
        assert_eq!(
            line, "orstream: error: c.json is in use by another orstream",
            "{env:?}"
        );
    }

    server.release();
    let out = first.wait();
    out.assert_code(0);
    assert_eq!(dir.read("c.json"), {
        saved_file(
            &[("user", "second?"), ("assistant", "partial done")],
            "x/y",
            &[],
        )
    });
    assert_eq!(dir.list(), ["c.json"]);
    for d in [&run_a, &run_b, &tmp_a, &tmp_b] {
        assert!(list_dir(d).is_empty(), "{} not empty", d.display());
    }
}

#[test]
fn a_runtime_dir_that_is_not_private_is_not_used() {
    let envs = TempDir::new("xdg-bad");
    let open = envs.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let theirs = private_dir(&envs, "theirs");
    chown(&theirs, Some(OTHER), Some(OTHER)).unwrap();
    let target = private_dir(&envs, "target");
    symlink(&target, envs.join("link")).unwrap();
    for runtime in [open.clone(), theirs, envs.join("link")] {
        let dir = TempDir::new("xdg-bad-run");
        let server = Server::start(vec![held_answer(" done")]);
        let run = run_in(&dir, &server)
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["-c", "c.json", "-m", "x/y", "first?"])
            .spawn();
        assert!(run.wait_stdout_contains(b"partial", T), "no output");
        for d in [&open, &target] {
            assert!(list_dir(d).is_empty(), "{} used", runtime.display());
        }
        server.release();
        run.wait().assert_code(0);
        assert_eq!(dir.list(), ["c.json"]);
    }
}

/// A signal that arrives once the new FILE is in place finds the turn
/// saved: exit 0. The run's main thread is held (ptrace) at the first
/// system call after the one that put FILE in place; the signal is then
/// handled by the run's other threads alone.
#[test]
fn a_signal_after_file_is_renamed_into_place_exits_0() {
    for existing in [true, false] {
        let dir = TempDir::new(&format!("after-rename-{existing}"));
        if existing {
            dir.write("c.json", &saved(), 0o600);
        }
        let path = dir.join("c.json");
        let before = fs::symlink_metadata(&path).ok().map(|m| m.ino());
        let server = Server::start(vec![held_answer(" done")]);
        let run = run_in(&dir, &server)
            .args(["-c", "c.json", "-m", "x/y", "second?"])
            .spawn();
        assert!(run.wait_stdout_contains(b"partial", T), "no output");
        let held = hold_after(run.pid(), move || {
            fs::symlink_metadata(&path).ok().map(|m| m.ino()) != before
        });
        server.release();
        if let Err(e) = held.wait_held(T) {
            panic!("{e}\n{}", run.wait().report());
        }
        run.signal(SIGINT);
        if let Err(e) = held.wait_ended(T) {
            panic!("{e}\n{}", run.wait().report());
        }
        let out = run.wait();
        out.assert_code(0);
        assert_eq!(out.stdout_str(), "partial done\n", "{}", out.report());
        assert_stderr_empty(&out);
        let want = if existing {
            saved_file(
                &[
                    ("user", "first?"),
                    ("assistant", "first!"),
                    ("user", "second?"),
                    ("assistant", "partial done"),
                ],
                "x/y",
                &[],
            )
        } else {
            saved_file(
                &[("user", "second?"), ("assistant", "partial done")],
                "x/y",
                &[],
            )
        };
        assert_eq!(dir.read("c.json"), want);
        assert_eq!(dir.list(), ["c.json"]);
    }
}
