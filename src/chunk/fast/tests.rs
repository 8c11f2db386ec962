//! The fast path against the full parse: every field position, escapes,
//! shape changes, reasoning and content. (Whole streams split anywhere are
//! in `answer/tests.rs`, where the answer is.)

use super::*;

/// The bench's chunk (capture A of `openrouter-api.md`).
const OPENROUTER: &str = r#"{"id":"gen-1","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku","provider":"Amazon Bedrock","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"Hello","role":"assistant"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#;

const REASONING: &str = r#"{"id":"gen-1","choices":[{"index":0,"delta":{"content":"","role":"assistant","reasoning":"The user","reasoning_details":[{"type":"reasoning.text","text":"The user","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null}]}"#;

fn template(data: &str) -> Template {
    let chunk = Chunk::parse(data).unwrap();
    Template::learn(data, &chunk, false).expect("a plain chunk")
}

/// What the template of `first` makes of `next`, checked against the full
/// parse.
fn seen(first: &str, next: &str) -> &'static str {
    match check_against_full_parse(first, next.as_bytes(), false) {
        Ok(seen) => seen,
        Err(e) => panic!("{e}\nfirst: {first}\nnext:  {next}"),
    }
}

fn texts(first: &str, next: &str) -> [Option<String>; 3] {
    match template(first).matches(next.as_bytes()) {
        Match::Plain(d) => [&d.content, &d.reasoning, &d.reasoning_content]
            .map(|t| t.as_ref().map(|t| t.as_str().to_string())),
        other => panic!("not plain: {other:?}"),
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn the_same_chunk_with_new_text_is_plain() {
    let next = OPENROUTER.replace("Hello", " world, and more");
    assert_eq!(seen(OPENROUTER, &next), "plain");
    assert_eq!(
        texts(OPENROUTER, &next),
        [some(" world, and more"), None, None]
    );
}

#[test]
fn content_in_every_position() {
    let fields = [
        r#""id":"gen-1""#,
        r#""model":"m""#,
        r#""choices":[{"index":0,"delta":{"role":"assistant","content":"CONTENT"},"finish_reason":null}]"#,
        r#""created":1"#,
    ];
    let deltas = [
        r#"{"content":"CONTENT"}"#,
        r#"{"role":"assistant","content":"CONTENT"}"#,
        r#"{"content":"CONTENT","role":"assistant"}"#,
        r#"{"refusal":null,"content":"CONTENT","tool_calls":[]}"#,
        r#"{ "content" : "CONTENT" }"#,
    ];
    for delta in deltas {
        for at in 0..fields.len() {
            // Move the choices to every position among the other fields.
            let mut order: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let choices = order
                .remove(2)
                .replace(r#"{"role":"assistant","content":"CONTENT"}"#, delta);
            order.insert(at, choices);
            let first = format!("{{{}}}", order.join(","));
            let first = first.replace("CONTENT", "a");
            for value in ["b", "", " two words ", "héllo 🌍", "a/b<c>&d", "'single'"] {
                let next = first.replace(r#""content":"a""#, &format!(r#""content":"{value}""#));
                let next = next.replace(r#""content" : "a""#, &format!(r#""content" : "{value}""#));
                assert_eq!(seen(&first, &next), "plain", "{next}");
                assert_eq!(texts(&first, &next)[0].as_deref(), Some(value));
            }
        }
    }
}

#[test]
fn reasoning_and_its_details_are_holes() {
    let next = REASONING.replace("The user", " asks");
    assert_eq!(seen(REASONING, &next), "plain");
    assert_eq!(texts(REASONING, &next), [some(""), some(" asks"), None]);
    // The two copies need not agree: the details are not read here.
    let uneven = REASONING
        .replacen("The user", "one", 1)
        .replacen("The user", "two", 1);
    assert_eq!(seen(REASONING, &uneven), "plain");
}

#[test]
fn kept_details_are_never_skipped() {
    let chunk = Chunk::parse(REASONING).unwrap();
    assert!(Template::learn(REASONING, &chunk, true).is_none());
    // Without details, reasoning is a hole even when details are kept.
    let bare = r#"{"choices":[{"delta":{"reasoning":"x"}}]}"#;
    let chunk = Chunk::parse(bare).unwrap();
    assert!(Template::learn(bare, &chunk, true).is_some());
}

#[test]
fn reasoning_content_of_other_servers() {
    let first = r#"{"choices":[{"delta":{"reasoning_content":"Let me","content":null}}]}"#;
    let next = first.replace("Let me", " think");
    assert_eq!(seen(first, &next), "plain");
    assert_eq!(texts(first, &next), [None, None, some(" think")]);
}

#[test]
fn reasoning_then_content_changes_the_shape() {
    // Reasoning ends, content starts with `"reasoning":null`: another shape.
    let content = REASONING
        .replace(r#""content":"""#, r#""content":"Hi""#)
        .replace(r#""reasoning":"The user""#, r#""reasoning":null"#);
    assert_eq!(seen(REASONING, &content), "other");
    // But content in the reasoning chunk's own empty string is a hole.
    let both = REASONING.replace(r#""content":"""#, r#""content":"Hi""#);
    assert_eq!(seen(REASONING, &both), "plain");
    assert_eq!(texts(REASONING, &both)[0].as_deref(), Some("Hi"));
}

#[test]
fn escapes_and_control_bytes_go_to_the_full_parse() {
    for value in [
        r#"line\nbreak"#,
        r#"say \"hi\""#,
        r#"back\\slash"#,
        r#"\u00e9"#,
        r#"\ud83c\udf0d"#,
        r#"tab\t"#,
        r#"\/"#,
    ] {
        let next = OPENROUTER.replace("Hello", value);
        assert_eq!(seen(OPENROUTER, &next), "escaped", "{value}");
    }
    // Broken escapes and raw control bytes fail the full parse as well.
    for value in [r#"bad\x"#, "raw\u{1}byte", "raw\nline", r#"\u12"#] {
        let next = OPENROUTER.replace("Hello", value);
        let seen = seen(OPENROUTER, &next);
        assert!(seen.starts_with("escaped"), "{value}: {seen}");
    }
    // An escaped quote does not end the hole early.
    let tricky = OPENROUTER.replace("Hello", r#"a\",\"role\":\"x"#);
    assert_eq!(seen(OPENROUTER, &tricky), "escaped");
}

#[test]
fn any_other_change_is_another_chunk() {
    let changes = [
        (r#""finish_reason":null,"#, r#""finish_reason":"stop","#),
        (r#""id":"gen-1""#, r#""id":"gen-2""#),
        (r#""provider":"Amazon Bedrock""#, r#""provider":"Google""#),
        (r#""created":1780944361"#, r#""created":1780944362"#),
        (r#""content":"Hello""#, r#""content":null"#),
        (r#""content":"Hello""#, r#""content":5"#),
        (
            r#""role":"assistant""#,
            r#""role":"assistant","tool_calls":[{"index":0}]"#,
        ),
        (
            r#""logprobs":null}]}"#,
            r#""logprobs":null}],"usage":{"total_tokens":3}}"#,
        ),
        (r#""logprobs":null}]}"#, r#""logprobs":null}]} "#),
        (r#""logprobs":null}]}"#, r#""logprobs":null}]"#),
        (r#"{"id""#, r#"{"error":{"message":"x"},"id""#),
    ];
    for (from, to) in changes {
        let next = OPENROUTER.replace(from, to);
        assert_ne!(next, OPENROUTER);
        assert_eq!(seen(OPENROUTER, &next), "other", "{to}");
    }
    // Cut anywhere: never plain.
    for end in 0..OPENROUTER.len() {
        if OPENROUTER.is_char_boundary(end) {
            assert_ne!(seen(OPENROUTER, &OPENROUTER[..end]), "plain", "{end}");
        }
    }
}

#[test]
fn text_that_is_not_utf8_is_another_chunk() {
    let t = template(OPENROUTER);
    let next = t.fill(&[b"caf\xC3"]);
    assert!(matches!(t.matches(&next), Match::Other));
    let next = t.fill(&["café".as_bytes()]);
    assert!(matches!(t.matches(&next), Match::Plain(_)));
}

#[test]
fn chunks_that_act_are_not_templates() {
    for data in [
        r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"delta":{"content":"a"}},{"finish_reason":"error"}]}"#,
        r#"{"choices":[{"delta":{"content":"a"}}],"usage":{"total_tokens":1}}"#,
        r#"{"choices":[{"delta":{"content":"a"}}],"error":{"message":"x"}}"#,
        r#"{"choices":[{"delta":{"content":"a"}}],"citations":["https://a"]}"#,
        r#"{"choices":[{"delta":{"content":"a","tool_calls":[{"index":0}]}}]}"#,
        r#"{"choices":[{"delta":{"content":"a","images":[{"image_url":{"url":"x"}}]}}]}"#,
        r#"{"choices":[{"delta":{"content":"a","annotations":[{"type":"url_citation"}]}}]}"#,
        // Text with an escape: its bytes are not its text.
        r#"{"choices":[{"delta":{"content":"a\nb"}}]}"#,
        r#"{"choices":[{"delta":{"reasoning":"a","reasoning_details":[{"text":"a\"b"}]}}]}"#,
    ] {
        let chunk = Chunk::parse(data).unwrap();
        assert!(Template::learn(data, &chunk, false).is_none(), "{data}");
    }
    // Empty lists act on nothing.
    let quiet = r#"{"choices":[{"delta":{"content":"a","tool_calls":[],"annotations":[]}}],"citations":[]}"#;
    assert_eq!(seen(quiet, &quiet.replace(r#""a""#, r#""b""#)), "plain");
}

#[test]
fn a_chunk_without_text_matches_only_itself() {
    let first = r#"{"id":"x","choices":[]}"#;
    assert_eq!(seen(first, first), "plain");
    assert_eq!(seen(first, r#"{"id":"y","choices":[]}"#), "other");
}

#[test]
fn the_fast_path_keeps_its_template_through_escapes() {
    let mut fast = FastPath::default();
    let first = OPENROUTER;
    assert!(fast.plain(first.as_bytes()).is_none());
    fast.decoded(Some(first), &Chunk::parse(first).unwrap(), false);
    let escaped = OPENROUTER.replace("Hello", r#"a\nb"#);
    assert!(fast.plain(escaped.as_bytes()).is_none());
    fast.decoded(Some(&escaped), &Chunk::parse(&escaped).unwrap(), false);
    // The template still stands after the escaped chunk.
    let next = OPENROUTER.replace("Hello", "again");
    let delta = fast.plain(next.as_bytes()).expect("plain");
    assert_eq!(delta.text(), Some("again"));
    // A chunk that acts ends it; a plain one of another shape replaces it.
    let finish = OPENROUTER.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#);
    assert!(fast.plain(finish.as_bytes()).is_none());
    fast.decoded(Some(&finish), &Chunk::parse(&finish).unwrap(), false);
    assert!(fast.plain(next.as_bytes()).is_none());
    // Bytes that were not UTF-8 teach nothing.
    fast.decoded(None, &Chunk::parse(&next).unwrap(), false);
    assert!(fast.plain(next.as_bytes()).is_none());
}

#[test]
fn filled_holes_agree_with_the_full_parse() {
    // Every byte value in every hole of both templates, alone and in pairs.
    for first in [OPENROUTER, REASONING] {
        let t = template(first);
        for a in 0..=255u8 {
            for b in [b'a', b'"', b'\\', 0x1F, 0x7F, 0xC3, 0xA9] {
                let next = t.fill(&[&[a, b], &[b], &[a]]);
                if let Err(e) = check_against_full_parse(first, &next, false) {
                    panic!("{a:#x} {b:#x}: {e}");
                }
            }
        }
    }
}
