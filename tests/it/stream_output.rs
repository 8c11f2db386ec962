//! Black-box tests of SPEC §3 (reading the stream), §4 (what is written) and
//! §5 (ending, errors, exit codes, retries), against the scripted loopback
//! server from `support::server`. Stdout is compared byte for byte.

use crate::support::*;

use std::time::Duration;

const T: Duration = Duration::from_secs(10);
/// Gap between shaped writes, so each arrives in its own client read.
const GAP: Duration = Duration::from_millis(20);
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

fn run(reply: Reply, args: &[&str]) -> (Server, Output) {
    let server = Server::start(vec![reply]);
    let out = orstream_at(&server).args(args).arg("hi").run();
    (server, out)
}

fn run_sse(events: &[&str], args: &[&str]) -> Output {
    run(Reply::sse(events), args).1
}

/// Body bytes written as separate HTTP chunks with a pause between them.
fn pieces_reply(pieces: Vec<Vec<u8>>, gap: Duration) -> Reply {
    let mut steps = Vec::new();
    for (i, p) in pieces.into_iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            steps.push(Step::Pause(gap));
        }
        steps.push(Step::Write(p));
    }
    Reply::sse_steps(steps)
}

fn stderr_lines(out: &Output) -> Vec<String> {
    out.stderr_str().lines().map(str::to_string).collect()
}

/// The one error line, asserting that a hint line follows it.
fn error_line_with_hint(out: &Output) -> String {
    let (e, h) = error_lines(out);
    assert!(h.is_some(), "expected a hint line\n{}", out.report());
    e
}

fn assert_contains(out: &Output, hay: &str, needle: &str) {
    assert!(
        hay.contains(needle),
        "expected {needle:?} in {hay:?}\n{}",
        out.report()
    );
}

/// Exactly one `orstream: warning:` line and nothing else on stderr.
fn single_warning(out: &Output) -> String {
    let lines = stderr_lines(out);
    assert!(
        lines.len() == 1 && lines[0].starts_with("orstream: warning: "),
        "expected exactly one warning line\n{}",
        out.report()
    );
    lines[0].clone()
}

fn parse(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

// ---------------------------------------------------------------------------
// §3 Reading the stream
// ---------------------------------------------------------------------------

/// A realistic stream: comments before and between chunks, multi-byte text,
/// a finish chunk, a usage chunk and `[DONE]`.
fn canonical_body() -> String {
    [
        ": OPENROUTER PROCESSING\n\n".to_string(),
        ": OPENROUTER PROCESSING\n\n".to_string(),
        c("Héllo, "),
        c("wörld 🌍\n"),
        ": OPENROUTER PROCESSING\n\n".to_string(),
        c("bye"),
        finish("stop"),
        usage_chunk(),
        DONE.to_string(),
    ]
    .concat()
}

const CANONICAL_OUT: &str = "Héllo, wörld 🌍\nbye\n";

fn check_canonical(reply: Reply) {
    let (_s, out) = run(reply, &[]);
    out.assert_code(0);
    assert_stdout(&out, CANONICAL_OUT.as_bytes());
    assert_stderr_empty(&out);
}

#[test]
fn stream_whole_in_one_write() {
    check_canonical(pieces_reply(
        vec![canonical_body().into_bytes()],
        Duration::ZERO,
    ));
}

#[test]
fn stream_event_per_write() {
    let body = canonical_body();
    let events: Vec<&str> = body.split_inclusive("\n\n").collect();
    check_canonical(Reply::sse(&events));
}

#[test]
fn stream_in_one_byte_writes() {
    let pieces = canonical_body().bytes().map(|b| vec![b]).collect();
    check_canonical(pieces_reply(pieces, Duration::from_millis(1)));
}

/// Splits `body` into pieces ending right after each byte for which `cut`
/// says so.
fn cut_after(body: &[u8], cut: impl Fn(usize, u8) -> bool) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut cur = Vec::new();
    for (i, &b) in body.iter().enumerate() {
        cur.push(b);
        if cut(i, b) {
            pieces.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

#[test]
fn crlf_endings_with_cr_and_lf_in_separate_writes() {
    let body = canonical_body().replace('\n', "\r\n").into_bytes();
    // Every `\r` ends a write, so every `\n` starts the next one.
    let pieces = cut_after(&body, |_, b| b == b'\r');
    assert!(pieces.len() > 10);
    check_canonical(pieces_reply(pieces, GAP));
}

#[test]
fn crlf_endings_whole() {
    check_canonical(pieces_reply(
        vec![canonical_body().replace('\n', "\r\n").into_bytes()],
        Duration::ZERO,
    ));
}

#[test]
fn lone_cr_endings() {
    let body = canonical_body().replace('\n', "\r").into_bytes();
    check_canonical(pieces_reply(vec![body.clone()], Duration::ZERO));
    // And with every line in its own write: a `\r` at the end of a read
    // must not wait for a `\n` that never comes.
    check_canonical(pieces_reply(cut_after(&body, |_, b| b == b'\r'), GAP));
}

#[test]
fn multibyte_characters_split_across_writes() {
    let body = canonical_body().into_bytes();
    let mut cuts = Vec::new();
    for (ch, inside) in [("é", 1), ("ö", 1), ("🌍", 2), ("🌍", 1), ("🌍", 3)] {
        let pos = body
            .windows(ch.len())
            .position(|w| w == ch.as_bytes())
            .unwrap();
        cuts.push(pos + inside - 1);
    }
    // "🌍" is cut three ways in one stream: F0 | 9F | 8C | 8D.
    let pieces = cut_after(&body, |i, _| cuts.contains(&i));
    assert_eq!(pieces.len(), cuts.len() + 1);
    check_canonical(pieces_reply(pieces, GAP));
}

#[test]
fn leading_bom_is_dropped() {
    let body = format!("\u{FEFF}{}{}{}", c("bom"), finish("stop"), DONE).into_bytes();
    let (_s, out) = run(pieces_reply(vec![body.clone()], Duration::ZERO), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"bom\n");
    // The BOM itself cut across two writes.
    let pieces = vec![body[..1].to_vec(), body[1..2].to_vec(), body[2..].to_vec()];
    let (_s, out) = run(pieces_reply(pieces, GAP), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"bom\n");
}

#[test]
fn data_without_space_after_colon() {
    let events = [
        format!("data:{}\n\n", cp("no space")),
        finish("stop"),
        "data:[DONE]\n\n".to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"no space\n");
}

#[test]
fn only_one_space_after_colon_is_removed() {
    // Observable with --json, which prints data exactly as received.
    let p = r#"{"choices":[{"delta":{"content":"x"}}]}"#;
    let events = [
        format!("data:  {p}\n\n"),
        format!("data:{p}\n\n"),
        format!("data: {p}\n\n"),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &["--json"]);
    out.assert_code(0);
    assert_stdout(&out, format!(" {p}\n{p}\n{p}\n").as_bytes());
    // Text mode: the leading space is JSON whitespace, content unaffected.
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"xxx\n");
}

#[test]
fn multi_line_data_is_joined_with_newline() {
    let events = [
        "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"joined\"}}]}\n\n",
        &finish("stop"),
        DONE,
    ];
    let out = run_sse(&events, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"joined\n");
}

#[test]
fn comments_anywhere_are_ignored() {
    let events = [
        ": OPENROUTER PROCESSING\n\n",
        ": OPENROUTER PROCESSING\n\n",
        &c("a"),
        ": OPENROUTER PROCESSING\n\n",
        // A comment inside an event, between its data lines.
        "data: {\"choices\":[{\"delta\":\n: OPENROUTER PROCESSING\ndata: {\"content\":\"b\"}}]}\n\n",
        ":no space comment\n\n",
        ":\n\n",
        &c("c"),
        &finish("stop"),
        ": OPENROUTER PROCESSING\n\n",
        DONE,
        ": after done\n\n",
    ];
    let out = run_sse(&events, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"abc\n");
    assert_stderr_empty(&out);
}

#[test]
fn event_id_retry_and_unknown_fields_are_ignored() {
    let events = [
        "event: message\nid: 1\nretry: 10\n".to_string() + &c("a"),
        format!("id: 2\ndata: {}\nevent: delta\nfoo: bar\n\n", cp("b")),
        "retry: 5000\n\n".to_string(),
        "event: ping\n\n".to_string(),
        finish("stop"),
        "id: 9\n".to_string() + DONE,
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"ab\n");
    assert_stderr_empty(&out);
}

#[test]
fn unterminated_event_at_eof_is_discarded() {
    // The last event has no closing blank line: its text must not appear.
    let body = format!("{}{}data: {}\n", c("kept"), finish("stop"), cp("LOST"));
    let (_s, out) = run(Reply::sse(&[&body]), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"kept\n");
}

#[test]
fn unterminated_done_after_finish_reason_exits_0() {
    let body = format!("{}{}data: [DONE]\n", c("ok"), finish("stop"));
    let (_s, out) = run(Reply::sse(&[&body]), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"ok\n");
}

#[test]
fn unterminated_done_without_finish_reason_exits_7() {
    let body = format!("{}data: [DONE]\n", c("cut"));
    let (_s, out) = run(Reply::sse(&[&body]), &[]);
    out.assert_code(7);
    assert_stdout(&out, b"cut\n");
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "stream ended before completion");
}

#[test]
fn invalid_utf8_in_content_becomes_replacement_character() {
    let mut body = b"data: {\"choices\":[{\"delta\":{\"content\":\"a".to_vec();
    body.extend_from_slice(b"\xFF\xFEb\xC3\"}}]}\n\n");
    body.extend_from_slice(finish("stop").as_bytes());
    body.extend_from_slice(DONE.as_bytes());
    let (_s, out) = run(pieces_reply(vec![body], Duration::ZERO), &[]);
    out.assert_code(0);
    assert_stdout(&out, "a\u{FFFD}\u{FFFD}b\u{FFFD}\n".as_bytes());
}

#[test]
fn line_longer_than_16_mib_exits_6() {
    let block = vec![b'x'; MIB];
    let mut steps = vec![Step::write(c("before"))];
    for _ in 0..17 {
        steps.push(Step::Write(block.clone()));
    }
    let (_s, out) = run(Reply::sse_steps(steps), &[]);
    out.assert_code(6);
    assert_stdout(&out, b"before\n");
    error_lines(&out);
}

#[test]
fn event_data_larger_than_16_mib_exits_6() {
    // 17 data lines of 1 MiB each: no line is too long, the event is.
    let mut line = b"data: ".to_vec();
    line.extend(std::iter::repeat_n(b'x', MIB));
    line.push(b'\n');
    let mut steps = vec![Step::write(c("before"))];
    for _ in 0..17 {
        steps.push(Step::Write(line.clone()));
    }
    steps.push(Step::write("\n"));
    steps.push(Step::write(finish("stop")));
    steps.push(Step::write(DONE));
    let (_s, out) = run(Reply::sse_steps(steps), &[]);
    out.assert_code(6);
    assert_stdout(&out, b"before\n");
    error_lines(&out);
}

// ---------------------------------------------------------------------------
// §4 What is written
// ---------------------------------------------------------------------------

fn check_written_before_next(first: &str, expected: &str) {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(c(first)),
        Step::WaitSignal,
        Step::write(c("B")),
        Step::write(finish("stop")),
        Step::write(DONE),
    ])]);
    let running = orstream_at(&server).arg("hi").spawn();
    let arrived = running.wait_stdout_contains(first.as_bytes(), T);
    server.release();
    let out = running.wait();
    assert!(
        arrived,
        "{first:?} did not reach stdout before the server sent more\n{}",
        out.report()
    );
    out.assert_code(0);
    assert_stdout(&out, expected.as_bytes());
}

#[test]
fn token_is_written_before_the_next_one_is_sent() {
    check_written_before_next("A\n", "A\nB\n");
}

#[test]
fn token_without_newline_is_not_held_back() {
    check_written_before_next("A", "AB\n");
}

#[test]
fn final_newline_added_when_missing() {
    let out = run_sse(&[&c("one "), &c("two"), &finish("stop"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"one two\n");
}

#[test]
fn final_newline_not_added_when_text_ends_in_one() {
    let out = run_sse(&[&c("line\n"), &finish("stop"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"line\n");
}

#[test]
fn final_newline_not_added_when_no_text() {
    let out = run_sse(&[&c(""), &finish("stop"), &usage_chunk(), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"");
}

#[test]
fn no_newline_flag_disables_final_newline() {
    for flag in ["-n", "--no-newline"] {
        let out = run_sse(&[&c("abc"), &finish("stop"), DONE], &[flag]);
        out.assert_code(0);
        assert_stdout(&out, b"abc");
    }
}

const ERR_CHUNK: &str = r#"{"id":"gen-1","provider":"OpenAI","error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":"rate_limit_exceeded"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;

#[test]
fn newline_added_on_error_path() {
    let out = run_sse(&[&c("partial"), &ev(ERR_CHUNK)], &[]);
    out.assert_code(6);
    assert_stdout(&out, b"partial\n");
}

#[test]
fn no_newline_flag_applies_on_error_path() {
    let out = run_sse(&[&c("partial"), &ev(ERR_CHUNK)], &["-n"]);
    out.assert_code(6);
    assert_stdout(&out, b"partial");
    // Truncation path too.
    let out = run_sse(&[&c("partial")], &["-n"]);
    out.assert_code(7);
    assert_stdout(&out, b"partial");
}

#[test]
fn json_prints_each_payload_exactly_as_received() {
    let p1 = r#"{"a": 1}"#;
    let p2 = r#"{ "choices" : [ {"delta":{"content":"x"}} ] ,"z":"é\u00e9", "n":1.50}"#;
    let p3 = r#"{"z":0,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"a":null}"#;
    let events = [
        ": OPENROUTER PROCESSING\n\n".to_string(),
        ev(p1),
        ": OPENROUTER PROCESSING\n\n".to_string(),
        format!("event: message\nid: 4\n{}", ev(p2)),
        ev(p3),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &["--json"]);
    out.assert_code(0);
    assert_stdout(&out, format!("{p1}\n{p2}\n{p3}\n").as_bytes());
    assert_stderr_empty(&out);
}

#[test]
fn json_prints_multi_line_data_on_one_line() {
    let events = [
        "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"a\"}}]}\n\n",
        DONE,
    ];
    let out = run_sse(&events, &["--json"]);
    out.assert_code(0);
    let s = out.stdout_str();
    assert!(
        s.ends_with('\n') && s.matches('\n').count() == 1,
        "expected exactly one line\n{}",
        out.report()
    );
    assert_eq!(
        parse(&s),
        parse(r#"{"choices":[{"delta":{"content":"a"}}]}"#)
    );
}

const WHOLE: &str =
    r#"{"choices":[{"message":{"content":"whole answer"},"finish_reason":"stop"}]}"#;

#[test]
fn json_content_type_is_read_as_whole_completion() {
    let (_s, out) = run(Reply::json(200, WHOLE), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"whole answer\n");
}

#[test]
fn json_content_type_with_json_flag_prints_body_on_one_line() {
    let (_s, out) = run(Reply::json(200, WHOLE), &["--json"]);
    out.assert_code(0);
    assert_stdout(&out, format!("{WHOLE}\n").as_bytes());

    let pretty = "{\n  \"choices\": [\n    {\n      \"message\": {\"content\": \"whole answer\"},\n      \"finish_reason\": \"stop\"\n    }\n  ]\n}\n";
    let (_s, out) = run(Reply::json(200, pretty), &["--json"]);
    out.assert_code(0);
    let s = out.stdout_str();
    assert!(
        s.ends_with('\n') && s.matches('\n').count() == 1,
        "expected the body on one line\n{}",
        out.report()
    );
    assert_eq!(parse(&s), parse(WHOLE));
}

#[test]
fn json_content_type_with_error_object_exits_6() {
    let (_s, out) = run(
        Reply::json(200, r#"{"error":{"message":"boom","code":500}}"#),
        &[],
    );
    out.assert_code(6);
    assert_stdout(&out, b"");
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "boom");
}

#[test]
fn non_json_data_is_skipped_with_one_warning() {
    let events = [
        &c("a"),
        "data: hello\n\n",
        "data: : OPENROUTER PROCESSING\n\n",
        &c("b"),
        "data: {broken\n\n",
        &finish("stop"),
        DONE,
    ];
    let out = run_sse(&events, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"ab\n");
    let w = single_warning(&out);
    assert_contains(&out, &w, "3");
    assert!(!out.stdout_str().contains("hello"));
}

#[test]
fn non_json_data_does_not_change_failure_exit() {
    let out = run_sse(&[&c("a"), "data: hello\n\n"], &[]);
    out.assert_code(7);
    assert_stdout(&out, b"a\n");
    assert!(!out.stdout_str().contains("hello"));
}

#[test]
fn lenient_chunks_are_accepted() {
    let events = [
        r#"{"id":"gen-1","object":"chat.completion.chunk"}"#,
        r#"{"choices":[]}"#,
        r#"{"choices":null}"#,
        r#"{"choices":[{"delta":{"content":null,"role":"assistant"}}]}"#,
        r#"{"choices":[{"delta":{"content":""}}]}"#,
        r#"{"choices":[{"delta":{}}]}"#,
        r#"{"choices":[{}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"ok","reasoning":null,"reasoning_details":[],"annotations":[]},"logprobs":null,"finish_reason":null,"native_finish_reason":null}],"system_fingerprint":null,"brand_new":{"x":[1,2]}}"#,
        r#"{"choices":[{"delta":{"content":"!","role":"assistant"},"finish_reason":"stop","native_finish_reason":"end_turn"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null}}"#,
        r#"{"choices":[{"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"cost":0}}"#,
    ];
    let mut owned: Vec<String> = events.iter().map(|p| ev(p)).collect();
    owned.push(DONE.to_string());
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"ok!\n");
    assert_stderr_empty(&out);
}

#[test]
fn reasoning_is_hidden_by_default() {
    let events = [
        ev(
            r#"{"choices":[{"delta":{"content":"","role":"assistant","reasoning":"SECRET-R1","reasoning_details":[{"type":"reasoning.text","text":"SECRET-R1","format":"anthropic-claude-v1","index":0}]},"finish_reason":null}]}"#,
        ),
        ev(r#"{"choices":[{"delta":{"reasoning_content":"SECRET-R2"},"finish_reason":null}]}"#),
        ev(
            r#"{"choices":[{"delta":{"content":"answer","reasoning":null,"reasoning_details":[]},"finish_reason":null}]}"#,
        ),
        finish("stop"),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"answer\n");
    assert!(
        !out.stderr_str().contains("SECRET"),
        "reasoning shown without --reasoning\n{}",
        out.report()
    );
}

/// A stream of one shape, with escapes, a shape change, reasoning and
/// content alternating: what the fast path skips must print exactly what
/// the full parse would (SPEC §4), in every sink.
#[test]
fn chunks_of_one_shape_print_exactly_whatever_their_text() {
    let reasoning = |t: &str| {
        ev(&format!(
            r#"{{"id":"g","provider":"P","choices":[{{"index":0,"delta":{{"content":"","reasoning":{t},"reasoning_details":[{{"type":"reasoning.text","text":{t},"index":0}}]}},"finish_reason":null}}]}}"#
        ))
    };
    let content = |id: &str, t: &str| {
        ev(&format!(
            r#"{{"id":"{id}","provider":"P","choices":[{{"index":0,"delta":{{"content":{t},"reasoning":null}},"finish_reason":null}}]}}"#
        ))
    };
    let events = [
        reasoning(r#""Let ""#),
        reasoning(r#""me\n""#),
        reasoning(r#""think.\n""#),
        content("g", r#""Hé""#),
        content("g", r#""llo""#),
        content("g", r#"", \"q\"\n""#),
        content("g", r#""\u00e9t\u00e9""#),
        content("g", r#""🦀""#),
        content("g2", r#"" and""#),
        content("g2", r#""""#),
        content("g2", r#"" more""#),
        finish("stop"),
        DONE.to_string(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    for cut in [None, Some(1), Some(7)] {
        let reply = match cut {
            None => Reply::sse(&refs),
            // Every event cut in pieces of `n` bytes, each its own write.
            Some(n) => {
                let bytes: Vec<u8> = refs.concat().into_bytes();
                pieces_reply(
                    bytes.chunks(n).map(<[u8]>::to_vec).collect(),
                    Duration::ZERO,
                )
            }
        };
        let (_s, out) = run(reply, &["--reasoning"]);
        out.assert_code(0);
        assert_stdout(&out, "Héllo, \"q\"\nété🦀 and more\n".as_bytes());
        assert_eq!(out.stderr_str(), "Let me\nthink.\n", "{}", out.report());
    }
    let (_s, out) = run(Reply::sse(&refs), &["--json"]);
    out.assert_code(0);
    let expected: String = events[..events.len() - 1]
        .iter()
        .map(|e| format!("{}\n", &e["data: ".len()..e.len() - 2]))
        .collect();
    assert_stdout(&out, expected.as_bytes());
}

fn tool_call_events() -> Vec<String> {
    vec![
        ev(
            r#"{"choices":[{"index":0,"delta":{"content":null,"role":"assistant","tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        ),
        ev(
            r#"{"choices":[{"index":0,"delta":{"content":null,"role":"assistant","tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Berlin\"}"}}]},"finish_reason":null}]}"#,
        ),
        ev(
            r#"{"choices":[{"index":0,"delta":{"content":"","role":"assistant"},"finish_reason":"tool_calls","native_finish_reason":"tool_use"}]}"#,
        ),
        DONE.to_string(),
    ]
}

#[test]
fn tool_calls_print_a_note_on_stderr_and_nothing_on_stdout() {
    let events = tool_call_events();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(0);
    assert_stdout(&out, b"");
    assert!(
        out.stderr_str().to_lowercase().contains("tool"),
        "expected a note about tool calls on stderr\n{}",
        out.report()
    );
    assert!(!out.stderr_str().contains("orstream: error:"));
}

#[test]
fn tool_calls_are_shown_with_json() {
    let events = tool_call_events();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &["--json"]);
    out.assert_code(0);
    let expected: String = events[..3]
        .iter()
        .map(|e| format!("{}\n", &e["data: ".len()..e.len() - 2]))
        .collect();
    assert_stdout(&out, expected.as_bytes());
}

fn check_finish_warning(reason: &str) {
    let out = run_sse(&[&c("cut"), &finish(reason), &usage_chunk(), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"cut\n");
    single_warning(&out);
}

#[test]
fn finish_reason_length_warns() {
    check_finish_warning("length");
}

#[test]
fn finish_reason_content_filter_warns() {
    check_finish_warning("content_filter");
}

#[test]
fn first_non_null_finish_reason_counts() {
    let out = run_sse(&[&c("x"), &finish("stop"), &finish("length"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"x\n");
    assert_stderr_empty(&out);

    let out = run_sse(&[&c("x"), &finish("length"), &finish("stop"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"x\n");
    single_warning(&out);
}

#[test]
fn reading_continues_after_finish_reason_until_done() {
    let fin = finish("stop");
    let usage = usage_chunk();
    let out = run_sse(&[&c("x"), &fin, &usage, DONE], &["--json"]);
    out.assert_code(0);
    let expected = format!(
        "{}\n{}\n{}\n",
        cp("x"),
        &fin["data: ".len()..fin.len() - 2],
        &usage["data: ".len()..usage.len() - 2]
    );
    assert_stdout(&out, expected.as_bytes());
}

// ---------------------------------------------------------------------------
// §5 Ending and exit codes
// ---------------------------------------------------------------------------

#[test]
fn exit_0_on_done() {
    let out = run_sse(&[&c("Hi"), &finish("stop"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
    assert_stderr_empty(&out);
}

#[test]
fn exit_0_on_done_without_finish_reason() {
    let out = run_sse(&[&c("Hi"), DONE], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
}

#[test]
fn exit_0_on_eof_after_finish_reason_without_done() {
    let out = run_sse(&[&c("Hi"), &finish("stop"), &usage_chunk()], &[]);
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
    assert_stderr_empty(&out);
    // Same over a close-delimited body.
    let (_s, out) = run(
        Reply::sse_close_delimited(&[&c("Hi"), &finish("stop")]),
        &[],
    );
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
}

#[test]
fn done_ends_the_run_even_if_the_connection_stays_open() {
    let (server, out) = run(Reply::sse_hold(&[&c("Hi"), &finish("stop"), DONE]), &[]);
    out.assert_code(0);
    assert_stdout(&out, b"Hi\n");
    assert!(out.elapsed < T, "took {:?}", out.elapsed);
    assert!(server.wait_close(T).is_some(), "connection not closed");
}

fn http_error(status: u16, body: &str, args: &[&str]) -> Output {
    let (_s, out) = run(Reply::json(status, body), args);
    assert_stdout(&out, b"");
    out
}

#[test]
fn exit_3_on_401_with_hint() {
    let out = http_error(
        401,
        r#"{"error":{"message":"Missing Authentication header","code":401}}"#,
        &[],
    );
    out.assert_code(3);
    let e = error_line_with_hint(&out);
    assert_eq!(
        e,
        "orstream: error: 401 Unauthorized: Missing Authentication header"
    );
    assert!(!out.stderr_str().contains(TEST_KEY));
}

#[test]
fn exit_3_on_402_with_hint() {
    let out = http_error(
        402,
        r#"{"error":{"message":"This request requires more credits, or fewer max_tokens.","code":402,"metadata":{"provider_name":null}},"user_id":"user_1"}"#,
        &[],
    );
    out.assert_code(3);
    let e = error_line_with_hint(&out);
    assert_eq!(
        e,
        "orstream: error: 402 Payment Required: This request requires more credits, or fewer max_tokens."
    );
}

#[test]
fn exit_3_on_403() {
    let out = http_error(
        403,
        r#"{"error":{"code":403,"message":"Your input was flagged","metadata":{"reasons":["violence"],"flagged_input":"...","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}"#,
        &[],
    );
    out.assert_code(3);
    let (e, _) = error_lines(&out);
    assert!(e.starts_with("orstream: error: 403 Forbidden: "), "{e}");
    assert_contains(&out, &e, "Your input was flagged");
    assert_contains(&out, &e, "OpenAI");
}

#[test]
fn exit_4_on_429_with_provider_raw_and_hint() {
    let out = http_error(
        429,
        r#"{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"deepseek/deepseek-chat-v3-0324:free is temporarily rate-limited upstream.","provider_name":"Chutes"}},"user_id":"user_1"}"#,
        &["--retries", "0"],
    );
    out.assert_code(4);
    let e = error_line_with_hint(&out);
    assert!(
        e.starts_with("orstream: error: 429 Too Many Requests: "),
        "{e}"
    );
    assert_contains(&out, &e, "Chutes");
    assert_contains(&out, &e, "is temporarily rate-limited upstream");
}

fn check_rejected(status: u16, body: &str, needle: &str) {
    let out = http_error(status, body, &[]);
    out.assert_code(5);
    let (e, _) = error_lines(&out);
    assert!(
        e.starts_with(&format!("orstream: error: {status} ")),
        "{}",
        out.report()
    );
    assert_contains(&out, &e, needle);
}

#[test]
fn exit_5_on_400() {
    check_rejected(
        400,
        r#"{"error":{"message":"This endpoint's maximum context length is 200000 tokens.","code":400,"metadata":{"provider_name":null,"previous_errors":[{"code":400,"message":"x"}]}},"user_id":"u"}"#,
        "400 Bad Request: This endpoint's maximum context length is 200000 tokens.",
    );
}

#[test]
fn exit_5_on_404() {
    check_rejected(
        404,
        r#"{"error":{"message":"No endpoints found for nope/model.","code":404}}"#,
        "404 Not Found: No endpoints found for nope/model.",
    );
}

#[test]
fn exit_5_on_413() {
    check_rejected(
        413,
        r#"{"error":{"message":"Request entity too large","code":413}}"#,
        "413 Payload Too Large: Request entity too large",
    );
}

#[test]
fn exit_5_on_422_with_string_code() {
    check_rejected(
        422,
        r#"{"error":{"message":"Unprocessable thing","code":"invalid_request"}}"#,
        "Unprocessable thing",
    );
}

#[test]
fn exit_5_on_302() {
    let reply = Reply::status(
        302,
        "text/html",
        "<a href=\"/elsewhere\">moved</a>",
        &[("Location", "/elsewhere")],
    );
    let (server, out) = run(reply, &[]);
    out.assert_code(5);
    assert_stdout(&out, b"");
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "302");
    assert_eq!(server.received().len(), 1, "redirect was followed");
}

fn check_server_error(status: u16) {
    let out = http_error(
        status,
        &format!(r#"{{"error":{{"message":"upstream trouble {status}","code":{status}}}}}"#),
        &["--retries", "0"],
    );
    out.assert_code(6);
    let (e, _) = error_lines(&out);
    assert!(e.starts_with(&format!("orstream: error: {status} ")), "{e}");
    assert_contains(&out, &e, &format!("upstream trouble {status}"));
}

#[test]
fn exit_6_on_500() {
    check_server_error(500);
}

#[test]
fn exit_6_on_502() {
    check_server_error(502);
}

#[test]
fn exit_6_on_503() {
    check_server_error(503);
}

#[test]
fn non_json_error_body_is_cut_to_200_chars() {
    let mut body = String::from("Upstream: ");
    while body.len() < 200 {
        body.push('a');
    }
    body.push_str(&"Z".repeat(100));
    assert_eq!(body.len(), 300);
    let (_s, out) = run(
        Reply::status(502, "text/plain", &body, &[]),
        &["--retries", "0"],
    );
    out.assert_code(6);
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "502 Bad Gateway");
    assert_contains(&out, &e, &body[..200]);
    assert!(!e.contains('Z'), "body not cut to 200 chars: {e}");
}

#[test]
fn html_error_body_is_shown_as_its_title_or_its_text() {
    let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n\
                <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n";
    let (_s, out) = run(
        Reply::status(502, "text/html", page, &[]),
        &["--retries", "0"],
    );
    out.assert_code(6);
    let (e, _) = error_lines(&out);
    assert_eq!(e, "orstream: error: 502 Bad Gateway: 502 Bad Gateway");

    // No title, and a wrong content type: the text without its tags.
    let page = "<html><body><h1>Service Unavailable</h1>\n<p>Back &amp; soon.</p></body></html>";
    let (_s, out) = run(
        Reply::status(503, "text/plain", page, &[]),
        &["--retries", "0"],
    );
    out.assert_code(6);
    let (e, _) = error_lines(&out);
    assert_eq!(
        e,
        "orstream: error: 503 Service Unavailable: Service Unavailable Back & soon."
    );
}

#[test]
fn a_404_from_another_server_hints_the_api_root() {
    let (server, out) = run(
        Reply::json(404, r#"{"detail":"Not Found"}"#),
        &["-m", "llama3"],
    );
    out.assert_code(5);
    let (_, hint) = error_lines(&out);
    let hint = hint.unwrap_or_default();
    assert_contains(&out, &hint, "API root");
    assert_contains(&out, &hint, "/v1");
    assert_contains(&out, &hint, &format!("{}/chat/completions", server.url()));
}

#[test]
fn a_401_names_openrouters_key_page_only_on_openrouter() {
    let body = r#"{"error":{"message":"No auth credentials found","code":401}}"#;
    let origin = Server::start(vec![Reply::json(401, body)]);
    let out = orstream_at_openrouter(&origin).arg("hi").run();
    out.assert_code(3);
    let (_, hint) = error_lines(&out);
    assert_contains(
        &out,
        &hint.unwrap_or_default(),
        "https://openrouter.ai/keys",
    );

    let (_s, out) = run(Reply::json(401, body), &[]);
    out.assert_code(3);
    let (_, hint) = error_lines(&out);
    let hint = hint.unwrap_or_default();
    assert_contains(&out, &hint, "OPENROUTER_API_KEY");
    assert!(!hint.contains("openrouter.ai"), "{}", out.report());
}

#[test]
fn a_redirect_hints_the_base_url_to_use() {
    let server = Server::start(vec![Reply::status(
        308,
        "text/plain",
        "",
        &[("Location", "/api/v1/chat/completions")],
    )]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(5);
    let (e, hint) = error_lines(&out);
    let moved = format!("{}/api/v1", server.url());
    assert_contains(&out, &e, &format!("{moved}/chat/completions"));
    assert_contains(
        &out,
        &hint.unwrap_or_default(),
        &format!("--base-url {moved} "),
    );
}

#[test]
fn exit_7_on_408() {
    let out = http_error(
        408,
        r#"{"error":{"message":"Request timed out","code":408}}"#,
        &["--retries", "0"],
    );
    out.assert_code(7);
    let (e, _) = error_lines(&out);
    assert_eq!(e, "orstream: error: 408 Request Timeout: Request timed out");
}

#[test]
fn exit_7_on_eof_without_done_or_finish_reason() {
    let out = run_sse(&[&c("partial"), &usage_chunk()], &[]);
    out.assert_code(7);
    assert_stdout(&out, b"partial\n");
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "stream ended before completion");
}

#[test]
fn exit_7_on_empty_stream() {
    let out = run_sse(&[": OPENROUTER PROCESSING\n\n"], &[]);
    out.assert_code(7);
    assert_stdout(&out, b"");
    let (e, _) = error_lines(&out);
    assert_contains(&out, &e, "stream ended before completion");
}

#[test]
fn exit_7_on_connection_refused() {
    let port = dead_port();
    let out = orstream()
        .args(["--base-url", &format!("http://127.0.0.1:{port}")])
        .args(["--retries", "0", "hi"])
        .run();
    out.assert_code(7);
    assert_stdout(&out, b"");
    let (e, hint) = error_lines(&out);
    let url = format!("http://127.0.0.1:{port}");
    assert_contains(&out, &e, "connection refused");
    let hint = hint.unwrap_or_default();
    assert_contains(&out, &hint, &url);
    assert_contains(&out, &hint, "--base-url");
}

// ---------------------------------------------------------------------------
// §5 Mid-stream errors (openrouter-api.md §5, all four shapes)
// ---------------------------------------------------------------------------

fn check_mid_stream(
    before: &[&str],
    err_payload: &str,
    after: &[&str],
    stdout_text: &str,
    expected_line: &str,
) {
    let mut events: Vec<String> = before.iter().map(|s| s.to_string()).collect();
    events.push(ev(err_payload));
    events.extend(after.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();

    let out = run_sse(&refs, &[]);
    out.assert_code(6);
    assert_stdout(&out, stdout_text.as_bytes());
    let (e, _) = error_lines(&out);
    assert_eq!(e, expected_line, "{}", out.report());

    // --json: the error chunk is printed too, exactly as received.
    let out = run_sse(&refs, &["--json"]);
    out.assert_code(6);
    let mut expected: String = before
        .iter()
        .filter(|e| e.starts_with("data: "))
        .map(|e| format!("{}\n", &e["data: ".len()..e.len() - 2]))
        .collect();
    expected.push_str(err_payload);
    expected.push('\n');
    assert_stdout(&out, expected.as_bytes());
    let (e, _) = error_lines(&out);
    assert_eq!(e, expected_line, "{}", out.report());
}

#[test]
fn mid_stream_error_object_with_finish_reason_error() {
    check_mid_stream(
        &[&c("partial")],
        ERR_CHUNK,
        &[],
        "partial\n",
        "orstream: error: OpenAI: Rate limit exceeded",
    );
}

#[test]
fn mid_stream_error_followed_by_done_still_exits_6() {
    check_mid_stream(
        &[&c("partial")],
        ERR_CHUNK,
        &[DONE],
        "partial\n",
        "orstream: error: OpenAI: Rate limit exceeded",
    );
}

#[test]
fn mid_stream_error_only_chunk_with_empty_choices() {
    check_mid_stream(
        &[],
        r#"{"id":"gen-2","choices":[],"error":{"code":429,"message":"Free model capacity exhausted","metadata":{"provider_name":"Chutes","error_type":"provider_overloaded"}}}"#,
        &[],
        "",
        "orstream: error: Chutes: Free model capacity exhausted",
    );
}

#[test]
fn mid_stream_finish_reason_error_without_error_object() {
    let payload = r#"{"provider":"Google","choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":"error","native_finish_reason":"MALFORMED_FUNCTION_CALL"}]}"#;
    let events = [c("partial"), ev(payload)];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = run_sse(&refs, &[]);
    out.assert_code(6);
    assert_stdout(&out, b"partial\n");
    let (e, _) = error_lines(&out);
    assert!(
        e.starts_with("orstream: error: Google: "),
        "{}",
        out.report()
    );
    assert_contains(&out, &e, "MALFORMED_FUNCTION_CALL");

    check_mid_stream(
        &[&c("partial")],
        payload,
        &[],
        "partial\n",
        "orstream: error: Google: generation failed (native_finish_reason: MALFORMED_FUNCTION_CALL)",
    );
}

#[test]
fn mid_stream_error_with_string_code() {
    check_mid_stream(
        &[&c("partial")],
        r#"{"provider":"openai","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
        &[],
        "partial\n",
        "orstream: error: openai: Provider disconnected unexpectedly",
    );
}

#[test]
fn mid_stream_error_as_only_chunk_after_keepalives() {
    // The status is already 200 after a keep-alive: the error comes in-band.
    check_mid_stream(
        &[": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n"],
        r#"{"provider":"DeepInfra","error":{"code":400,"message":"Prompt too long"},"choices":[]}"#,
        &[],
        "",
        "orstream: error: DeepInfra: Prompt too long",
    );
}

// ---------------------------------------------------------------------------
// §5 Retries
// ---------------------------------------------------------------------------

fn ok_stream() -> Reply {
    Reply::sse(&[&c("answer"), &finish("stop"), DONE])
}

fn err_reply(status: u16, retry_after: Option<&str>) -> Reply {
    let body = format!(r#"{{"error":{{"message":"try later {status}","code":{status}}}}}"#);
    let headers: Vec<(&str, &str)> = retry_after
        .map(|v| ("Retry-After", v))
        .into_iter()
        .collect();
    Reply::status(status, "application/json", &body, &headers)
}

fn check_default_retries(status: u16, code: i32) {
    let server = Server::start(vec![
        err_reply(status, Some("0")),
        err_reply(status, Some("0")),
        err_reply(status, Some("0")),
        ok_stream(),
    ]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(code);
    assert_stdout(&out, b"");
    let (e, _) = error_lines(&out);
    assert!(e.starts_with(&format!("orstream: error: {status} ")), "{e}");
    assert_eq!(server.received().len(), 3, "{}", out.report());
    assert_eq!(server.unused_replies(), 1);
}

#[test]
fn default_retries_on_408() {
    check_default_retries(408, 7);
}

#[test]
fn default_retries_on_429() {
    check_default_retries(429, 4);
}

#[test]
fn default_retries_on_500() {
    check_default_retries(500, 6);
}

#[test]
fn default_retries_on_502() {
    check_default_retries(502, 6);
}

#[test]
fn default_retries_on_503() {
    check_default_retries(503, 6);
}

#[test]
fn default_retries_on_504() {
    check_default_retries(504, 6);
}

#[test]
fn retries_zero_makes_one_request() {
    let server = Server::start(vec![err_reply(503, Some("0")), ok_stream()]);
    let out = orstream_at(&server).args(["--retries", "0", "hi"]).run();
    out.assert_code(6);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn retry_after_503_then_success() {
    let server = Server::start(vec![err_reply(503, Some("0")), ok_stream()]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_stdout(&out, b"answer\n");
    assert_stderr_empty(&out);
    assert_eq!(server.received().len(), 2);
}

#[test]
fn retry_after_connection_closed_before_status_line() {
    let server = Server::start(vec![Reply::steps(vec![]), ok_stream()]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_stdout(&out, b"answer\n");
    assert_eq!(server.received().len(), 2);
}

#[test]
fn other_4xx_are_not_retried() {
    for status in [400, 401, 402, 403, 404] {
        let server = Server::start(vec![err_reply(status, Some("0")), ok_stream()]);
        let out = orstream_at(&server).arg("hi").run();
        assert_ne!(out.code(), 0, "{}", out.report());
        assert_eq!(server.received().len(), 1, "{status} was retried");
    }
}

#[test]
fn retry_after_header_is_honoured() {
    let server = Server::start(vec![err_reply(503, Some("1")), ok_stream()]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    assert_stdout(&out, b"answer\n");
    let rec = server.received();
    assert_eq!(rec.len(), 2);
    let gap = rec[1].accepted_at - rec[0].request_read_at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}

#[test]
fn default_backoff_waits_about_half_a_second() {
    let server = Server::start(vec![err_reply(503, None), ok_stream()]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(0);
    let rec = server.received();
    assert_eq!(rec.len(), 2);
    let gap = rec[1].accepted_at - rec[0].request_read_at;
    // 0.5 s ± 25 %.
    assert!(gap >= Duration::from_millis(350), "retried after {gap:?}");
}

#[test]
fn never_retried_after_output_began() {
    let server = Server::start(vec![Reply::sse_abrupt(&[&c("partial")]), ok_stream()]);
    let out = orstream_at(&server).arg("hi").run();
    out.assert_code(7);
    assert_stdout(&out, b"partial\n");
    error_lines(&out);
    assert_eq!(server.received().len(), 1, "{}", out.report());
    assert_eq!(server.unused_replies(), 1);
}

// ---------------------------------------------------------------------------
// §5 Text inside the error chunk is kept
// ---------------------------------------------------------------------------

#[test]
fn text_in_an_error_chunk_is_written_before_the_error() {
    check_mid_stream(
        &[&c("Hel")],
        r#"{"choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"error","native_finish_reason":"network_error"}]}"#,
        &[],
        "Hello!\n",
        "orstream: error: generation failed (native_finish_reason: network_error)",
    );
}

#[test]
fn text_in_choice_0_is_written_when_another_choice_errored() {
    check_mid_stream(
        &[&c("Hel")],
        r#"{"provider":"P","choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":null},{"index":1,"delta":{},"finish_reason":"error","native_finish_reason":"network_error"}]}"#,
        &[],
        "Hello!\n",
        "orstream: error: P: generation failed (native_finish_reason: network_error)",
    );
}

#[test]
fn text_in_the_only_chunk_which_errored_is_written() {
    check_mid_stream(
        &[],
        r#"{"choices":[{"index":0,"delta":{"content":"Hello!"},"finish_reason":"error","native_finish_reason":"network_error"}]}"#,
        &[],
        "Hello!\n",
        "orstream: error: generation failed (native_finish_reason: network_error)",
    );
}

#[test]
fn text_beside_a_top_level_error_object_is_written() {
    check_mid_stream(
        &[&c("Hel")],
        r#"{"provider":"OpenAI","error":{"code":502,"message":"Upstream gone"},"choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"error"}]}"#,
        &[],
        "Hello!\n",
        "orstream: error: OpenAI: Upstream gone",
    );
}

#[test]
fn text_in_an_error_chunk_with_no_newline_flag_is_not_ended() {
    let payload = r#"{"choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"error","native_finish_reason":"network_error"}]}"#;
    let out = run_sse(&[&c("Hel"), &ev(payload)], &["-n"]);
    out.assert_code(6);
    assert_stdout(&out, b"Hello!");
}
