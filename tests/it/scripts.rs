//! Black-box tests of SPEC §9 (answers shaped for scripts): `--schema` and
//! `--schema-multi` on the wire (raw body bytes, key order), their usage
//! errors (an invalid JSON Schema too), the exit-8 answer check against the
//! whole schema, and `-x` cutting the first fenced code
//! block out of a stream — byte for byte, however the answer is split into
//! deltas, and streamed as it arrives.

use crate::support::*;

use std::time::Duration;

const T: Duration = Duration::from_secs(10);

const MISMATCH_ERR: &str = "orstream: error: the answer does not match --schema: ";
const NOT_JSON_ERR: &str = "orstream: error: the answer is not JSON: ";
const NO_BLOCK_ERR: &str = "orstream: error: the answer has no fenced code block (-x)";
const NO_BLOCK_HINT: &str =
    "orstream: hint: to see the whole answer, run again without -x (or with --json instead)";

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// The compact chunk payload that ends the answer.
const STOP: &str = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;

/// A mid-stream error chunk.
const ERR_CHUNK: &str = r#"{"id":"gen-1","provider":"OpenAI","error":{"code":502,"message":"Upstream went away"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
const ERR_LINE: &str = "orstream: error: OpenAI: Upstream went away";

/// The events of a completed answer delivered as `deltas`.
fn answer_events(deltas: &[String]) -> Vec<String> {
    let mut events: Vec<String> = deltas.iter().map(|d| c(d)).collect();
    events.push(ev(STOP));
    events.push(DONE.to_string());
    events
}

fn refs(events: &[String]) -> Vec<&str> {
    events.iter().map(String::as_str).collect()
}

/// Serves `events` once and runs `orstream ARGS hi` against it.
fn run_events(events: &[String], args: &[&str]) -> (Server, Output) {
    let server = Server::start(vec![Reply::sse(&refs(events))]);
    let out = orstream_at(&server).args(args).arg("hi").run();
    (server, out)
}

/// A completed answer in one delta.
fn run_answer(answer: &str, args: &[&str]) -> Output {
    run_events(&answer_events(&[answer.to_string()]), args).1
}

/// Runs a hi answer and returns the raw body the server received.
fn sent_body(args: &[&str]) -> String {
    let (server, out) = run_events(&answer_events(&["{\"a\":1}".to_string()]), args);
    assert!(
        out.status == Some(0) || out.status == Some(8),
        "unexpected exit\n{}",
        out.report()
    );
    let got = server.received();
    assert_eq!(got.len(), 1, "expected one request\n{}", out.report());
    got[0].body_str()
}

/// The raw JSON text with whitespace outside strings removed: key order and
/// every byte inside strings stay exactly as sent, so a substring check on it
/// checks order without caring how the body is spaced.
fn minify(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_str, mut esc) = (false, false);
    for ch in raw.chars() {
        if in_str {
            out.push(ch);
            if esc {
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else if ch == '"' {
                in_str = false;
            }
        } else if ch == '"' {
            in_str = true;
            out.push(ch);
        } else if !ch.is_whitespace() {
            out.push(ch);
        }
    }
    out
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Asserts the minified body holds `want` (compact JSON) exactly once.
fn assert_body_has(body: &str, want: &str) {
    let min = minify(body);
    assert_eq!(
        count(&min, want),
        1,
        "expected exactly once in the body:\n  {want}\nbody:\n  {body}"
    );
}

/// `"response_format"` for S (compact).
fn response_format(s: &str) -> String {
    format!(
        r#""response_format":{{"type":"json_schema","json_schema":{{"name":"answer","strict":true,"schema":{s}}}}}"#
    )
}

/// stderr is exactly one line, `line` + `\n`, nothing else.
fn assert_stderr_exactly_line(out: &Output, line: &str) {
    assert_eq!(
        out.stderr_str(),
        format!("{line}\n"),
        "stderr mismatch\n{}",
        out.report()
    );
}

/// An exit-8 `--schema` message: exactly one line, `prefix` and a
/// non-empty rest, no hint. Returns the rest.
fn exit_8_line(out: &Output, prefix: &str) -> String {
    out.assert_code(8);
    let text = out.stderr_str();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        text.ends_with('\n') && lines.len() == 1 && lines[0].starts_with(prefix),
        "expected exactly one line `{prefix}<why>`\n{}",
        out.report()
    );
    let why = lines[0][prefix.len()..].to_string();
    assert!(!why.trim().is_empty(), "empty why\n{}", out.report());
    why
}

/// `the answer does not match --schema: <pointer>: <why>` → `<pointer>: <why>`.
fn schema_why(out: &Output) -> String {
    exit_8_line(out, MISMATCH_ERR)
}

/// `the answer is not JSON: <why>` → `<why>`.
fn not_json_why(out: &Output) -> String {
    exit_8_line(out, NOT_JSON_ERR)
}

/// Runs `orstream ARGS hi` against a server that must not be contacted;
/// expects exit 2, empty stdout, one error line (+ optional hint), and returns
/// the error line.
fn usage_error(args: &[&str]) -> String {
    let server = Server::start(vec![Reply::sse(&[&c("x"), &ev(STOP), DONE])]);
    let out = orstream_at(&server).args(args).arg("hi").run();
    assert_usage_error(&out, &server)
}

fn assert_has(out_line: &str, needle: &str) {
    assert!(
        out_line.contains(needle),
        "expected {needle:?} in {out_line:?}"
    );
}

/// Runs against `http://openrouter.ai/api/v1` through a loopback proxy that
/// tunnels to a loopback origin (no traffic leaves the machine) and returns
/// the raw body the origin received.
fn body_via_openrouter_host(args: &[&str]) -> String {
    let origin = Server::start(vec![Reply::sse(&[&c("{\"a\":1}"), &ev(STOP), DONE])]);
    let (proxy, rx) = start_proxy(origin.addr());
    let out = orstream()
        .args([
            "--base-url",
            "http://openrouter.ai/api/v1",
            "--retries",
            "0",
        ])
        .args(args)
        .arg("hi")
        .env("HTTP_PROXY", &proxy)
        .run();
    let line = rx
        .recv_timeout(T)
        .unwrap_or_else(|_| panic!("the proxy saw no request\n{}", out.report()));
    assert!(
        line.starts_with("CONNECT openrouter.ai:80 ")
            || line.starts_with("POST http://openrouter.ai/api/v1/chat/completions "),
        "unexpected proxy request line {line:?}\n{}",
        out.report()
    );
    out.assert_code(0);
    assert_stdout(&out, b"{\"a\":1}\n");
    let got = origin.received();
    assert_eq!(got.len(), 1, "origin requests: {got:?}\n{}", out.report());
    assert_eq!(got[0].header("host"), Some("openrouter.ai"));
    got[0].body_str()
}

// -- splitting answers into deltas -------------------------------------------

/// xorshift64: deterministic pseudo-random splits without a crate.
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// `answer` cut at char boundaries into pieces of 1 to 7 chars.
fn random_split(answer: &str, seed: u64) -> Vec<String> {
    let chars: Vec<char> = answer.chars().collect();
    let mut state = seed;
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let n = 1 + (xorshift(&mut state) % 7) as usize;
        let end = (i + n).min(chars.len());
        out.push(chars[i..end].iter().collect());
        i = end;
    }
    out
}

/// The same answer as one delta, one char per delta, and three fixed
/// pseudo-random splits.
fn splits(answer: &str) -> Vec<(String, Vec<String>)> {
    let mut v = vec![
        ("one delta".to_string(), vec![answer.to_string()]),
        (
            "one char per delta".to_string(),
            answer.chars().map(String::from).collect(),
        ),
    ];
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 0x0123_4567_89AB_CDEF, 42] {
        v.push((
            format!("xorshift seed {seed:#x}"),
            random_split(answer, seed),
        ));
    }
    v
}

/// `orstream -x ARGS` on `answer` under every split: exit `code` and stdout
/// exactly `expected` each time. Returns the last run's output.
fn check_x(answer: &str, args: &[&str], code: i32, expected: &str) -> Output {
    let mut last = None;
    for (label, deltas) in splits(answer) {
        let mut all = vec!["-x"];
        all.extend_from_slice(args);
        let (_server, out) = run_events(&answer_events(&deltas), &all);
        if out.status != Some(code) || out.stdout != expected.as_bytes() {
            panic!(
                "-x on {answer:?} split as {label} ({deltas:?})\nexpected exit {code}, stdout {expected:?}\n{}",
                out.report()
            );
        }
        if code == 0 {
            assert_stderr_empty(&out);
        }
        last = Some(out);
    }
    last.expect("at least one split")
}

// ---------------------------------------------------------------------------
// 1. --schema on the wire
// ---------------------------------------------------------------------------

#[test]
fn concise_schema_is_sent_as_response_format_in_order() {
    let body = sent_body(&["--schema", "name, age int, score float: 0 to 1, ok bool"]);
    assert_body_has(
        &body,
        r#""response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"score":{"type":"number","description":"0 to 1"},"ok":{"type":"boolean"}},"required":["name","age","score","ok"],"additionalProperties":false}}}"#,
    );
    assert_eq!(count(&body, "\"response_format\""), 1, "{body}");
}

#[test]
fn concise_schema_properties_keep_the_written_order_not_sorted() {
    let body = sent_body(&["--schema", "zeta int, alpha, mid bool"]);
    assert_body_has(
        &body,
        &response_format(
            r#"{"type":"object","properties":{"zeta":{"type":"integer"},"alpha":{"type":"string"},"mid":{"type":"boolean"}},"required":["zeta","alpha","mid"],"additionalProperties":false}"#,
        ),
    );
}

#[test]
fn concise_schema_on_lines_skips_blank_lines_and_keeps_commas_in_descriptions() {
    let body = sent_body(&[
        "--schema",
        "\n  title :  the title, as printed  \n\n   \t\nyear int\nrating float:\n",
    ]);
    assert_body_has(
        &body,
        &response_format(
            r#"{"type":"object","properties":{"title":{"type":"string","description":"the title, as printed"},"year":{"type":"integer"},"rating":{"type":"number"}},"required":["title","year","rating"],"additionalProperties":false}"#,
        ),
    );
}

const ZRA_SCHEMA: &str = r#"{"type":"object","properties":{"zulu":{"type":"string"},"reasoning":{"type":"string","description":"think first"},"answer":{"type":"integer"}},"required":["zulu","reasoning","answer"],"additionalProperties":false}"#;

#[test]
fn inline_json_schema_keeps_its_key_order() {
    // Spaced out and led by whitespace, as a user would type it.
    let typed = r#"
      { "type": "object",
        "properties": {
          "zulu": {"type": "string"},
          "reasoning": {"type": "string", "description": "think first"},
          "answer": {"type": "integer"}
        },
        "required": ["zulu", "reasoning", "answer"],
        "additionalProperties": false }"#;
    let body = sent_body(&["--schema", typed]);
    assert_body_has(&body, &response_format(ZRA_SCHEMA));
}

#[test]
fn schema_file_is_sent_in_its_key_order() {
    let file = TempFile::new(
        "schema.json",
        "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"zulu\": {\"type\": \"string\"},\n    \"reasoning\": {\"type\": \"string\", \"description\": \"think first\"},\n    \"answer\": {\"type\": \"integer\"}\n  },\n  \"required\": [\"zulu\", \"reasoning\", \"answer\"],\n  \"additionalProperties\": false\n}\n",
    );
    let body = sent_body(&["--schema", &file.name()]);
    assert_body_has(&body, &response_format(ZRA_SCHEMA));
}

#[test]
fn schema_multi_wraps_the_schema_in_an_items_list() {
    let body = sent_body(&["--schema-multi", "title, year int"]);
    let s = r#"{"type":"object","properties":{"title":{"type":"string"},"year":{"type":"integer"}},"required":["title","year"],"additionalProperties":false}"#;
    assert_body_has(
        &body,
        &response_format(&format!(
            r#"{{"type":"object","properties":{{"items":{{"type":"array","items":{s}}}}},"required":["items"],"additionalProperties":false}}"#
        )),
    );
}

#[test]
fn schema_multi_wraps_an_inline_json_schema_too() {
    let body = sent_body(&["--schema-multi", ZRA_SCHEMA]);
    assert_body_has(
        &body,
        &response_format(&format!(
            r#"{{"type":"object","properties":{{"items":{{"type":"array","items":{ZRA_SCHEMA}}}}},"required":["items"],"additionalProperties":false}}"#
        )),
    );
}

#[test]
fn option_response_format_wins_over_schema_either_order() {
    let rf = r#"response_format={"type":"json_object"}"#;
    for args in [
        ["--schema", "a int", "-o", rf],
        ["-o", rf, "--schema", "a int"],
    ] {
        let body = sent_body(&args);
        assert_body_has(&body, r#""response_format":{"type":"json_object"}"#);
        assert_eq!(count(&body, "\"response_format\""), 1, "{body}");
        assert!(!body.contains("json_schema"), "{args:?}: {body}");
    }
}

#[test]
fn loopback_host_gets_no_provider_field() {
    let body = sent_body(&["--schema", "a int"]);
    assert!(!body.contains("\"provider\""), "{body}");
    assert!(!body.contains("require_parameters"), "{body}");

    // A provider object the user gave is sent untouched.
    let body = sent_body(&[
        "--schema",
        "a int",
        "-o",
        r#"provider={"order":["openai"]}"#,
    ]);
    assert_body_has(&body, r#""provider":{"order":["openai"]}"#);
    assert!(!body.contains("require_parameters"), "{body}");
}

#[test]
fn openrouter_host_gets_provider_require_parameters() {
    let body = body_via_openrouter_host(&["--schema", "a int"]);
    assert_body_has(&body, r#""provider":{"require_parameters":true}"#);
    assert_body_has(
        &body,
        &response_format(
            r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}"#,
        ),
    );
}

#[test]
fn openrouter_host_merges_require_parameters_into_the_users_provider() {
    let body = body_via_openrouter_host(&[
        "--schema",
        "a int",
        "-o",
        r#"provider={"order":["openai","anthropic"],"allow_fallbacks":false}"#,
    ]);
    assert_body_has(
        &body,
        r#""provider":{"order":["openai","anthropic"],"allow_fallbacks":false,"require_parameters":true}"#,
    );
    assert_eq!(count(&body, "\"provider\""), 1, "{body}");
}

#[test]
fn openrouter_host_keeps_a_require_parameters_the_user_set() {
    let body = body_via_openrouter_host(&[
        "--schema",
        "a int",
        "-o",
        r#"provider={"require_parameters":false,"order":["x"]}"#,
    ]);
    assert_body_has(
        &body,
        r#""provider":{"require_parameters":false,"order":["x"]}"#,
    );
    assert_eq!(count(&body, "require_parameters"), 1, "{body}");
}

#[test]
fn openrouter_host_without_schema_gets_no_provider_field() {
    let body = body_via_openrouter_host(&[]);
    assert!(!body.contains("\"provider\""), "{body}");
    assert!(!body.contains("response_format"), "{body}");
}

// ---------------------------------------------------------------------------
// 2. usage errors: exit 2, no request
// ---------------------------------------------------------------------------

#[test]
fn concise_unknown_type_is_a_usage_error_quoting_the_field() {
    let line = usage_error(&["--schema", "name, age integer"]);
    assert_has(&line, "--schema");
    assert_has(&line, "age integer");
    // Types are lower case.
    let line = usage_error(&["--schema", "ok Bool"]);
    assert_has(&line, "ok Bool");
}

#[test]
fn concise_bad_name_is_a_usage_error_quoting_the_field() {
    let line = usage_error(&["--schema", "title, 1st int"]);
    assert_has(&line, "1st int");
    let line = usage_error(&["--schema", "first-name"]);
    assert_has(&line, "first-name");
    let line = usage_error(&["--schema-multi", "a, : only a description"]);
    assert_has(&line, "--schema-multi");
}

#[test]
fn concise_duplicate_name_is_a_usage_error() {
    let line = usage_error(&["--schema", "a, b int, a bool"]);
    assert_has(&line, "a bool");
    let line = usage_error(&["--schema", "a\nb\na int\n"]);
    assert_has(&line, "a int");
}

#[test]
fn concise_empty_field_between_commas_is_a_usage_error() {
    let line = usage_error(&["--schema", "a,,b"]);
    assert_has(&line, "--schema");
    let line = usage_error(&["--schema", "a, b,"]);
    assert_has(&line, "--schema");
}

#[test]
fn inline_invalid_json_is_a_usage_error_with_line_and_column() {
    let line = usage_error(&["--schema", r#"{"type":"object","#]);
    assert_has(&line, "--schema");
    assert_has(&line, "line 1 column");
    let line = usage_error(&["--schema-multi", "  {\n  \"a\": 1,\n}"]);
    assert_has(&line, "--schema-multi");
    assert_has(&line, "line 3 column 1");
}

#[test]
fn inline_json_that_is_not_one_object_is_a_usage_error() {
    // Starting with `{`, the only way not to be one object is more after it.
    let line = usage_error(&["--schema", r#"{"type":"object"} [1]"#]);
    assert_has(&line, "line 1 column");
    let line = usage_error(&["--schema", r#"{"type":"object"}{"type":"object"}"#]);
    assert_has(&line, "line 1 column");
}

#[test]
fn schema_file_with_invalid_json_names_the_file() {
    let file = TempFile::new(
        "bad.json",
        "{\n  \"type\": \"object\",\n  \"properties\": \n",
    );
    let line = usage_error(&["--schema", &file.name()]);
    assert_has(&line, &file.name());
    assert_has(&line, "line ");
    assert_has(&line, "column");
}

#[test]
fn schema_file_that_is_not_an_object_names_the_file() {
    let file = TempFile::new("list.json", "[\n  {\"type\": \"string\"}\n]\n");
    assert!(file.path().exists());
    let line = usage_error(&["--schema-multi", &file.name()]);
    assert_has(&line, &file.name());
    assert_has(&line, "line ");
    assert_has(&line, "column");
}

#[test]
fn an_invalid_json_schema_is_a_usage_error_pointing_into_it_before_any_request() {
    let line = usage_error(&["--schema", r#"{"type":"nope"}"#]);
    assert!(
        line.starts_with("orstream: error: --schema: /type: "),
        "{line}"
    );
    let line = usage_error(&[
        "--schema",
        r#"{"type":"object","properties":{"a":{"type":"string","pattern":"(unclosed"}}}"#,
    ]);
    assert!(
        line.starts_with(
            "orstream: error: --schema: /properties/a/pattern: '(unclosed' is not valid regex"
        ),
        "{line}"
    );
    let line = usage_error(&["--schema", r##"{"$ref":"#/$defs/gone"}"##]);
    assert_eq!(
        line,
        "orstream: error: --schema: a $ref points to #/$defs/gone, which is not in the schema"
    );
    // Nothing outside S is read or fetched.
    let line = usage_error(&["--schema", r#"{"$ref":"file:///etc/hostname"}"#]);
    assert_has(&line, "file:///etc/hostname is not inside the schema");
    let line = usage_error(&["--schema-multi", r#"{"minimum":"one"}"#]);
    assert_eq!(
        line,
        "orstream: error: --schema-multi: /minimum: want number, but got string"
    );
    let file = TempFile::new("bad-type.json", "{\"type\": \"nope\"}\n");
    let line = usage_error(&["--schema", &file.name()]);
    assert!(
        line.starts_with(&format!(
            "orstream: error: --schema {}: /type: ",
            file.name()
        )),
        "{line}"
    );
}

#[test]
fn extract_conflicts_are_usage_errors() {
    for args in [
        &["-x", "--json"][..],
        &["--json", "--extract"],
        &["-x", "--schema", "a int"],
        &["--schema", "a int", "-x"],
        &["-x", "--schema-multi", "a int"],
        &["--schema", "a", "--schema-multi", "b"],
        &["--schema-multi", "b", "--schema", "a"],
    ] {
        let line = usage_error(args);
        assert!(!line.is_empty(), "{args:?}");
    }
}

// ---------------------------------------------------------------------------
// 3. the answer check: exit 8
// ---------------------------------------------------------------------------

#[test]
fn prose_answer_is_exit_8_and_stays_on_stdout() {
    let out = run_answer(
        "Sure! Here is the JSON you asked for.",
        &["--schema", "a int"],
    );
    let why = not_json_why(&out);
    assert_eq!(why, "expected value at line 1 column 1", "{}", out.report());
    assert_stdout(&out, b"Sure! Here is the JSON you asked for.\n");
}

#[test]
fn trailing_garbage_after_json_is_exit_8() {
    let out = run_events(
        &answer_events(&["{\"a\": 1}".into(), " -- hope this helps".into()]),
        &["--schema", "a int"],
    )
    .1;
    let why = not_json_why(&out);
    assert_has(&why, "trailing characters at line 1 column");
    assert_stdout(&out, b"{\"a\": 1} -- hope this helps\n");
}

#[test]
fn two_json_values_are_exit_8() {
    let out = run_answer("{\"a\":1}\n{\"a\":2}\n", &["--schema", "a int"]);
    let why = not_json_why(&out);
    assert_has(&why, "trailing characters at line 2 column 1");
    // Already ends in a newline: none added.
    assert_stdout(&out, b"{\"a\":1}\n{\"a\":2}\n");
}

#[test]
fn missing_required_key_is_exit_8_naming_it() {
    let out = run_answer("{\"name\":\"Ada\"}", &["--schema", "name, born_year int"]);
    assert_eq!(
        schema_why(&out),
        "(root): missing properties 'born_year'",
        "{}",
        out.report()
    );
    assert_stdout(&out, b"{\"name\":\"Ada\"}\n");
}

#[test]
fn non_object_answer_is_exit_8_when_the_schema_requires_keys() {
    for (answer, got) in [
        ("[{\"a\":1}]", "array"),
        ("\"a\"", "string"),
        ("42", "number"),
        ("null", "null"),
    ] {
        let out = run_answer(answer, &["--schema", "a int"]);
        assert_eq!(
            schema_why(&out),
            format!("(root): want object, but got {got}"),
            "{}",
            out.report()
        );
        assert_stdout(&out, format!("{answer}\n").as_bytes());
    }
}

#[test]
fn empty_answer_is_exit_8() {
    let (_s, out) = run_events(&answer_events(&[]), &["--schema", "a int"]);
    assert_eq!(not_json_why(&out), "it is empty");
    assert_stdout(&out, b"");
}

#[test]
fn schema_multi_checks_the_items_key() {
    // The message says --schema for both flags (the SPEC's wording).
    let out = run_answer("[{\"a\":1}]", &["--schema-multi", "a int"]);
    assert_eq!(schema_why(&out), "(root): want object, but got array");
    let out = run_answer(
        "{\"items\":[{\"a\":1},{\"a\":1.5}]}",
        &["--schema-multi", "a int"],
    );
    assert_eq!(schema_why(&out), "/items/1/a: want integer, but got number");
    let out = run_answer(
        "{\"items\":[{\"a\":1},{\"a\":2}]}",
        &["--schema-multi", "a int"],
    );
    out.assert_code(0);
    assert_stdout(&out, b"{\"items\":[{\"a\":1},{\"a\":2}]}\n");
    assert_stderr_empty(&out);
}

#[test]
fn valid_json_with_whitespace_around_it_is_exit_0() {
    let answer = "\n  {\"a\": 1,\n   \"b\": \"x y\"}  \n\n";
    let deltas: Vec<String> = random_split(answer, 7);
    let (_s, out) = run_events(&answer_events(&deltas), &["--schema", "a int, b"]);
    out.assert_code(0);
    assert_stdout(&out, answer.as_bytes());
    assert_stderr_empty(&out);
}

#[test]
fn a_value_of_the_wrong_type_is_exit_8_naming_its_pointer() {
    let answer = r#"{"name":"Rex","age":"three"}"#;
    let out = run_answer(answer, &["--schema", "name, age int"]);
    assert_stderr_exactly_line(
        &out,
        "orstream: error: the answer does not match --schema: /age: want integer, but got string",
    );
    out.assert_code(8);
    // What was printed stays.
    assert_stdout(&out, format!("{answer}\n").as_bytes());
}

#[test]
fn extra_keys_are_exit_8_against_additional_properties_false() {
    let out = run_answer(r#"{"a":1,"z":[1,2]}"#, &["--schema", "a int"]);
    assert_eq!(
        schema_why(&out),
        "(root): additionalProperties 'z' not allowed"
    );
    // Without additionalProperties:false, extra keys are fine.
    let s = r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#;
    let out = run_answer(r#"{"a":1,"z":[1,2]}"#, &["--schema", s]);
    out.assert_code(0);
    assert_stderr_empty(&out);
}

#[test]
fn every_keyword_of_an_inline_schema_is_checked() {
    let cases = [
        (
            r#"{"type":"object","properties":{"color":{"enum":["red","green"]}}}"#,
            r#"{"color":"blue"}"#,
            "/color: value must be one of 'red', 'green'",
        ),
        (
            r#"{"type":"object","properties":{"sku":{"type":"string","pattern":"^[A-Z]{3}-[0-9]+$"}}}"#,
            r#"{"sku":"abc-12"}"#,
            r#"/sku: "abc-12" does not match pattern '^[A-Z]{3}-[0-9]+$'"#,
        ),
        (
            r##"{"$defs":{"pos":{"type":"integer","minimum":1}},"type":"object","properties":{"counts":{"type":"array","items":{"$ref":"#/$defs/pos"}}}}"##,
            r#"{"counts":[3,1,0]}"#,
            "/counts/2: must be >=1, but got 0",
        ),
        (
            r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
            "1.5",
            "(root): oneOf failed, none matched: want string, but got number; want integer, but got number",
        ),
        (
            r#"{"type":"array","maxItems":2,"uniqueItems":true}"#,
            "[1,2,3]",
            "(root): maximum 2 items required, but got 3 items",
        ),
        (
            r#"{"type":"string","minLength":3}"#,
            r#""ab""#,
            "(root): length must be >=3, but got 2",
        ),
        (
            r#"{"type":"object","properties":{"k":{"const":"yes"}}}"#,
            r#"{"k":"no"}"#,
            "/k: value must be 'yes'",
        ),
    ];
    for (schema, answer, want) in cases {
        let out = run_answer(answer, &["--schema", schema]);
        assert_eq!(schema_why(&out), want, "{schema}\n{}", out.report());
        assert_stdout(&out, format!("{answer}\n").as_bytes());
    }
}

#[test]
fn a_valid_answer_to_an_inline_schema_is_exit_0() {
    let schema = r##"{"$defs":{"pos":{"type":"integer","minimum":1}},"type":"object","properties":{"color":{"enum":["red","green"]},"sku":{"type":"string","pattern":"^[A-Z]{3}-[0-9]+$"},"counts":{"type":"array","items":{"$ref":"#/$defs/pos"}},"v":{"oneOf":[{"type":"string"},{"type":"integer"}]}},"required":["color","sku","counts","v"],"additionalProperties":false}"##;
    let answer = r#"{"color":"red","sku":"ABC-12","counts":[1,2],"v":3}"#;
    let out = run_answer(answer, &["--schema", schema]);
    out.assert_code(0);
    assert_stdout(&out, format!("{answer}\n").as_bytes());
    assert_stderr_empty(&out);
}

#[test]
fn schema_typed_as_object_rejects_other_values_and_prose() {
    let out = run_answer("[1, 2, 3]", &["--schema", r#"{"type":"array"}"#]);
    out.assert_code(0);
    assert_stdout(&out, b"[1, 2, 3]\n");
    assert_stderr_empty(&out);
    let out = run_answer("[1, 2, 3]", &["--schema", r#"{"type":"object"}"#]);
    assert_eq!(schema_why(&out), "(root): want object, but got array");
    let out = run_answer("one two", &["--schema", r#"{"type":"object"}"#]);
    not_json_why(&out);
}

#[test]
fn json_in_a_code_fence_is_not_json_with_a_hint() {
    let answer = "```json\n{\"name\":\"Rex\",\"age\":3}\n```";
    let out = run_answer(answer, &["--schema", "name, age int"]);
    out.assert_code(8);
    let (line, hint) = error_lines(&out);
    assert_eq!(
        line,
        format!("{NOT_JSON_ERR}expected value at line 1 column 1"),
        "{}",
        out.report()
    );
    assert_eq!(
        hint.as_deref(),
        Some("orstream: hint: the JSON sits inside a fenced code block: the provider may not support structured outputs; -x instead of --schema writes only the block"),
        "{}",
        out.report()
    );
    assert_stdout(&out, format!("{answer}\n").as_bytes());
}

#[test]
fn json_output_checks_the_text_the_chunks_carried() {
    let events = answer_events(&["Sorry, ".into(), "I can't.".into()]);
    let (_s, out) = run_events(&events, &["--json", "--schema", "a int"]);
    not_json_why(&out);
    let expected = format!("{}\n{}\n{STOP}\n", cp("Sorry, "), cp("I can't."));
    assert_stdout(&out, expected.as_bytes());

    let events = answer_events(&["{\"a\":".into(), " 1}".into()]);
    let (_s, out) = run_events(&events, &["--json", "--schema", "a int"]);
    out.assert_code(0);
    let expected = format!("{}\n{}\n{STOP}\n", cp("{\"a\":"), cp(" 1}"));
    assert_stdout(&out, expected.as_bytes());
    assert_stderr_empty(&out);

    // The whole schema, not just JSON-ness.
    let events = answer_events(&["{\"a\":".into(), " \"x\"}".into()]);
    let (_s, out) = run_events(&events, &["--json", "--schema", "a int"]);
    assert_eq!(schema_why(&out), "/a: want integer, but got string");
    let expected = format!("{}\n{}\n{STOP}\n", cp("{\"a\":"), cp(" \"x\"}"));
    assert_stdout(&out, expected.as_bytes());
}

#[test]
fn mid_stream_error_is_exit_6_not_8() {
    let events = [c("{\"a\": "), ev(ERR_CHUNK)];
    let (_s, out) = run_events(&events, &["--schema", "a int"]);
    out.assert_code(6);
    assert_stdout(&out, b"{\"a\": \n");
    assert_stderr_exactly_line(&out, ERR_LINE);
}

#[test]
fn eof_without_finish_reason_is_exit_7_not_8() {
    let events = [c("{\"a\": ")];
    let (_s, out) = run_events(&events, &["--schema", "a int"]);
    out.assert_code(7);
    assert_stdout(&out, b"{\"a\": \n");
    let (line, _) = error_lines(&out);
    assert_has(&line, "stream ended before completion");
    assert!(!out.stderr_str().contains("--schema"), "{}", out.report());
}

// ---------------------------------------------------------------------------
// 4. -x: the first fenced code block, any split
// ---------------------------------------------------------------------------

#[test]
fn x_backtick_block_with_info_string() {
    check_x(
        "Here you go:\n\n```rust title=\"main.rs\"\nfn main() {\n    println!(\"héllo ✓\");\n}\n```\n\nRun it with cargo.\n",
        &[],
        0,
        "fn main() {\n    println!(\"héllo ✓\");\n}\n",
    );
}

#[test]
fn x_tilde_block_with_backticks_in_its_info_string() {
    check_x(
        "~~~python `weird` info\nprint('```')\n```\n~~~\nafter\n",
        &[],
        0,
        "print('```')\n```\n",
    );
}

#[test]
fn x_backtick_in_a_backtick_info_string_is_not_a_fence() {
    check_x(
        "``` not`a fence\nprose\n```sh\necho hi\n```\n",
        &[],
        0,
        "echo hi\n",
    );
}

#[test]
fn x_closing_fence_may_be_longer_but_not_shorter() {
    check_x(
        "````md\nA\n```\nstill in\n``\n`````\nafter\n",
        &[],
        0,
        "A\n```\nstill in\n``\n",
    );
}

#[test]
fn x_closing_fence_may_be_indented_and_have_trailing_blanks() {
    check_x("```\nx = 1\n     ``` \t \nafter\n", &[], 0, "x = 1\n");
}

#[test]
fn x_the_other_fence_character_does_not_close() {
    check_x("```\n~~~\n```x\n```\n", &[], 0, "~~~\n```x\n");
}

#[test]
fn x_content_lines_lose_up_to_the_openings_indentation() {
    check_x(
        "1. Step one:\n\n  ```bash\n    indented\n   three\n  two\n one\nnone\n\n  ```\nmore\n",
        &[],
        0,
        "  indented\n three\ntwo\none\nnone\n\n",
    );
}

#[test]
fn x_crlf_line_ends_are_kept() {
    check_x(
        "Code:\r\n```sh\r\necho a\r\n  echo b\r\n```\r\nBye\r\n",
        &[],
        0,
        "echo a\r\n  echo b\r\n",
    );
}

#[test]
fn x_only_the_first_block_is_written() {
    check_x(
        "First:\n```\none\n```\nSecond:\n```\ntwo\n```\n",
        &[],
        0,
        "one\n",
    );
}

#[test]
fn x_a_line_that_only_starts_like_a_fence_is_content() {
    check_x("```\n``x\n`` \n`\n```\n", &[], 0, "``x\n`` \n`\n");
}

#[test]
fn x_unclosed_block_runs_to_the_end_with_a_final_newline() {
    check_x("```py\nabc\ndef", &[], 0, "abc\ndef\n");
    check_x("```py\nabc\ndef", &["-n"], 0, "abc\ndef");
}

#[test]
fn x_held_text_at_the_end_is_written_when_it_is_not_a_closing_fence() {
    check_x("```\nabc\n``", &[], 0, "abc\n``\n");
    check_x("```\nabc\n``", &["-n"], 0, "abc\n``");
}

#[test]
fn x_closing_fence_without_a_line_end_is_not_written() {
    check_x("```\nabc\n```", &[], 0, "abc\n");
}

#[test]
fn x_empty_block_is_exit_0_and_empty_stdout() {
    check_x("Nothing to do:\n```\n```\nDone.\n", &[], 0, "");
    check_x("```\n", &[], 0, "");
}

#[test]
fn x_no_fence_is_exit_8_and_empty_stdout() {
    // Inline code and a fence-like run that is not at a line start do not count.
    let out = check_x(
        "Use `ls -l` and ``x`` here, or text ```not a fence\n",
        &[],
        8,
        "",
    );
    let (line, hint) = error_lines(&out);
    assert_eq!(line, NO_BLOCK_ERR, "{}", out.report());
    assert_eq!(hint.as_deref(), Some(NO_BLOCK_HINT), "{}", out.report());
}

#[test]
fn x_mid_stream_error_inside_the_block_is_exit_6_with_the_code_so_far() {
    for args in [&[][..], &["-n"][..]] {
        let events = [c("```js\nlet a = 1;\n"), c("``"), ev(ERR_CHUNK)];
        let mut all = vec!["-x"];
        all.extend_from_slice(args);
        let (_s, out) = run_events(&events, &all);
        out.assert_code(6);
        let want: &[u8] = if args.is_empty() {
            b"let a = 1;\n``\n"
        } else {
            b"let a = 1;\n``"
        };
        assert_stdout(&out, want);
        assert_stderr_exactly_line(&out, ERR_LINE);
    }
}

#[test]
fn x_mid_stream_error_before_any_fence_is_exit_6_not_8() {
    let events = [c("Let me think"), ev(ERR_CHUNK)];
    let (_s, out) = run_events(&events, &["-x"]);
    out.assert_code(6);
    assert_stdout(&out, b"");
    assert_stderr_exactly_line(&out, ERR_LINE);
}

#[test]
fn x_eof_without_finish_reason_is_exit_7_with_the_code_so_far() {
    let events = [c("```\nfn f() {}\n"), c("`")];
    let (_s, out) = run_events(&events, &["-x"]);
    out.assert_code(7);
    assert_stdout(&out, b"fn f() {}\n`\n");
    let (line, _) = error_lines(&out);
    assert_has(&line, "stream ended before completion");
}

// ---------------------------------------------------------------------------
// 5. -x streams
// ---------------------------------------------------------------------------

#[test]
fn x_streams_code_and_holds_only_a_possible_closing_fence() {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(c("Sure:\n```py\nline one\npart")),
        Step::WaitSignal,
        Step::write(c("ial\nline two\n``")),
        Step::WaitSignal,
        Step::write(c("x tail\n")),
        Step::WaitSignal,
        Step::write(c("```\nnot this\n")),
        Step::write(ev(STOP)),
        Step::write(DONE),
    ])]);
    let running = orstream_at(&server).args(["-x", "hi"]).spawn();

    // Written before the server sends anything more, without a line end.
    assert!(
        running.wait_stdout_contains(b"line one\npart", T),
        "first delta's code not streamed: {:?}",
        String::from_utf8_lossy(&running.stdout_so_far())
    );
    server.release();

    // The code before the possible closing fence is out; the held `` is not
    // (it came in the same delta, so it would be in the same write).
    assert!(
        running.wait_stdout_contains(b"line two\n", T),
        "second delta's code not streamed: {:?}",
        String::from_utf8_lossy(&running.stdout_so_far())
    );
    assert_eq!(
        String::from_utf8_lossy(&running.stdout_so_far()),
        "line one\npartial\nline two\n",
        "a possible closing fence was written while held"
    );
    server.release();

    // `x` makes it content: the held `` goes out with it.
    assert!(
        running.wait_stdout_contains(b"``x tail\n", T),
        "held text not written once it became content: {:?}",
        String::from_utf8_lossy(&running.stdout_so_far())
    );
    server.release();

    let out = running.wait();
    out.assert_code(0);
    assert_stdout(&out, b"line one\npartial\nline two\n``x tail\n");
    assert_stderr_empty(&out);
}

#[test]
fn x_held_fence_that_completes_is_never_written() {
    let server = Server::start(vec![Reply::sse_steps(vec![
        Step::write(c("```\ncode\n``")),
        Step::WaitSignal,
        Step::write(c("`\nafter the block\n")),
        Step::write(ev(STOP)),
        Step::write(DONE),
    ])]);
    let running = orstream_at(&server).args(["-x", "hi"]).spawn();
    assert!(
        running.wait_stdout_contains(b"code\n", T),
        "code not streamed: {:?}",
        String::from_utf8_lossy(&running.stdout_so_far())
    );
    assert_eq!(
        String::from_utf8_lossy(&running.stdout_so_far()),
        "code\n",
        "a possible closing fence was written while held"
    );
    server.release();
    let out = running.wait();
    out.assert_code(0);
    assert_stdout(&out, b"code\n");
}

// ---------------------------------------------------------------------------
// 6. recordings: --from-sse
// ---------------------------------------------------------------------------

fn recording(events: &[String]) -> TempFile {
    TempFile::new("rec.sse", events.concat())
}

fn from_sse(file: &TempFile, args: &[&str]) -> Output {
    orstream()
        .env_remove("OPENROUTER_API_KEY")
        .arg("--from-sse")
        .arg(file.path())
        .args(args)
        .run()
}

#[test]
fn from_sse_extract() {
    let rec = recording(&answer_events(&[
        "Here:\n```sh\nls -".into(),
        "l\n```\nok\n".into(),
    ]));
    let out = from_sse(&rec, &["-x"]);
    out.assert_code(0);
    assert_stdout(&out, b"ls -l\n");

    let rec = recording(&answer_events(&["no code here".into()]));
    let out = from_sse(&rec, &["-x"]);
    out.assert_code(8);
    assert_stdout(&out, b"");
    let (line, hint) = error_lines(&out);
    assert_eq!(line, NO_BLOCK_ERR);
    assert_eq!(hint.as_deref(), Some(NO_BLOCK_HINT));

    // Truncated recording: 7, with the code so far.
    let rec = recording(&[c("```\nhalf")]);
    let out = from_sse(&rec, &["-x"]);
    out.assert_code(7);
    assert_stdout(&out, b"half\n");
}

#[test]
fn from_sse_schema() {
    let rec = recording(&answer_events(&["{\"a\":".into(), "1}".into()]));
    let out = from_sse(&rec, &["--schema", "a int"]);
    out.assert_code(0);
    assert_stdout(&out, b"{\"a\":1}\n");

    let rec = recording(&answer_events(&["{\"b\":1}".into()]));
    let out = from_sse(&rec, &["--schema", "a int"]);
    let why = schema_why(&out);
    assert_eq!(why, "(root): missing properties 'a'", "{}", out.report());
    assert_stdout(&out, b"{\"b\":1}\n");

    let rec = recording(&[c("{\"a\":"), ev(ERR_CHUNK)]);
    let out = from_sse(&rec, &["--schema", "a int"]);
    out.assert_code(6);
    assert_stdout(&out, b"{\"a\":\n");
}

/// An answer over 16 MiB is not checked against `--schema`: the stream
/// completed, so exit 0, with one warning saying the check was skipped.
#[test]
fn an_answer_over_16_mib_is_not_checked_and_a_warning_says_so() {
    let dir = TempDir::new("big-answer");
    let piece = "x".repeat(1 << 20);
    let mut recording = String::new();
    for _ in 0..17 {
        recording.push_str(&c(&piece));
    }
    recording.push_str(&finish("stop"));
    recording.push_str(DONE);
    let file = dir.file("big.sse", recording);
    let out = orstream()
        .args(["--schema", "a", "--from-sse", &file])
        .run();
    out.assert_code(0);
    assert_eq!(
        out.stdout.len(),
        17 * (1 << 20) + 1,
        "the answer and its newline"
    );
    assert_eq!(
        out.stderr_str(),
        "orstream: warning: the answer is larger than 16 MiB: it was not checked against --schema\n"
    );
}
