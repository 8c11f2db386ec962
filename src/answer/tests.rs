//! The accumulator, fed whole streams split anywhere.

use super::*;
use crate::sse::{Event, Splitter};

fn chunk(data: &str) -> Chunk<'_> {
    Chunk::parse(data).unwrap()
}

fn all() -> Wants {
    Wants {
        text: Keep::All,
        reasoning: true,
        details: true,
    }
}

/// Runs an SSE stream, pushed in the given pieces, into an answer.
fn answer_of(pieces: &[&[u8]]) -> Answer {
    let mut answer = Answer::new(all());
    let mut splitter = Splitter::new();
    for piece in pieces {
        let mut feed = splitter.feed(piece);
        while let Ok(Some(event)) = feed.next_event() {
            if let Event::Data(data) = event {
                let text = std::str::from_utf8(data).unwrap().to_string();
                if let Ok(c) = Chunk::parse(&text) {
                    answer.apply(&c, Carrier::Delta);
                }
            }
        }
    }
    answer
}

/// Everything the answer holds, as one comparable string.
fn summary(a: &Answer) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        a.text(),
        a.finish_reason,
        a.id,
        a.model,
        a.provider,
        a.usage_raw().map(RawValue::get),
        a.tool_calls(),
        a.citations(),
        a.reasoning(),
        a.reasoning_details()
    )
}

const STREAM: &str = concat!(
    "data: {\"id\":\"g1\",\"model\":\"m\",\"provider\":\"P\",\"choices\":[{\"delta\":{\"reasoning\":\"think \",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"think \",\"index\":0,\"format\":\"f\"}]}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"reasoning\":\"more\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"more\",\"signature\":\"sig\",\"index\":0}]}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hé \",\"tool_calls\":[{\"index\":1,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"b\",\"arguments\":\"{\\\"x\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"function\":{\"name\":\"a\",\"arguments\":\"\"}},{\"index\":1,\"function\":{\"arguments\":\"\\\":1}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"🦀\",\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://a\",\"title\":\"A\"}},{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://b\"}}]}}],\"citations\":[\"https://c\",\"https://b\"]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"!\",\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://b\",\"title\":\"B\"}},{\"type\":\"url_citation\",\"url_citation\":{\"url\":\"https://a\",\"title\":\"not A\"}}]},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"cost\":0.5}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn a_whole_stream() {
    let a = answer_of(&[STREAM.as_bytes()]);
    assert_eq!(a.text(), Some("Hé 🦀!"));
    assert_eq!(a.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        (a.id.as_deref(), a.model.as_deref(), a.provider.as_deref()),
        (Some("g1"), Some("m"), Some("P"))
    );
    assert_eq!(
        a.usage_raw().map(RawValue::get),
        Some(r#"{"prompt_tokens":3,"cost":0.5}"#)
    );
    assert_eq!(a.usage().and_then(|u| u.cost), Some(0.5));
    let calls = a.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (
            calls[0].id.as_deref(),
            calls[0].name.as_deref(),
            calls[0].arguments.as_str()
        ),
        (Some("c0"), Some("a"), "")
    );
    assert_eq!(
        (
            calls[1].id.as_deref(),
            calls[1].kind.as_deref(),
            calls[1].arguments.as_str()
        ),
        (Some("c1"), Some("function"), "{\"x\":1}")
    );
    let cited: Vec<(&str, Option<&str>)> = a
        .citations()
        .iter()
        .map(|c| (c.url.as_str(), c.title.as_deref()))
        .collect();
    assert_eq!(
        cited,
        [
            ("https://a", Some("A")),
            ("https://b", Some("B")),
            ("https://c", None)
        ]
    );
    assert_eq!(a.reasoning(), "think more");
    assert_eq!(
        serde_json::to_string(a.reasoning_details()).unwrap(),
        r#"[{"type":"reasoning.text","text":"think more","index":0,"format":"f","signature":"sig"}]"#
    );
}

#[test]
fn split_anywhere_the_answer_is_the_same() {
    let bytes = STREAM.as_bytes();
    let whole = summary(&answer_of(&[bytes]));
    for a in 0..=bytes.len() {
        let two = summary(&answer_of(&[&bytes[..a], &bytes[a..]]));
        assert_eq!(two, whole, "cut at {a}");
    }
    for a in (0..bytes.len()).step_by(7) {
        for b in (a..=bytes.len()).step_by(13) {
            let three = summary(&answer_of(&[&bytes[..a], &bytes[a..b], &bytes[b..]]));
            assert_eq!(three, whole, "cut at {a} and {b}");
        }
    }
}

#[test]
fn keeps_as_asked() {
    let mut a = Answer::new(Wants::text(Keep::Nothing));
    a.push_text("abc");
    assert_eq!(a.text(), Some(""));
    let mut a = Answer::new(Wants::text(Keep::UpTo(4)));
    a.push_text("ab");
    a.push_text("cd");
    assert_eq!(a.text(), Some("abcd"));
    a.push_text("e");
    assert_eq!(a.text(), None, "past the limit nothing is kept");
    let mut a = Answer::new(Wants::text(Keep::All));
    a.push_text("x");
    assert_eq!(a.text(), Some("x"));
    // Reasoning and details only when asked.
    let mut a = Answer::new(Wants::text(Keep::Nothing));
    let c = chunk(
        r#"{"choices":[{"delta":{"reasoning":"r","reasoning_details":[{"text":"r","index":0}]}}]}"#,
    );
    let step = a.apply(&c, Carrier::Delta);
    assert_eq!(step.reasoning, Some("r"));
    assert_eq!(a.reasoning(), "");
    assert!(a.reasoning_details().is_empty());
}

#[test]
fn notes_what_changed() {
    let mut a = Answer::new(Wants::text(Keep::Nothing));
    let c = chunk(r#"{"id":"g1","provider":"P","model":"m"}"#);
    assert_eq!(
        a.apply(&c, Carrier::Delta).noted,
        Noted {
            new_id: true,
            new_provider: true
        }
    );
    assert_eq!(a.apply(&c, Carrier::Delta).noted, Noted::default());
}

/// SPEC §11: `model`, `provider`, `generation_id` and `usage` are the last
/// value the stream reported; a chunk without one keeps the one before.
#[test]
fn the_last_reported_values_count() {
    let mut a = Answer::new(Wants::text(Keep::Nothing));
    for data in [
        r#"{"id":"g1","model":"m1","provider":"P1","usage":{"cost":1}}"#,
        r#"{"id":"g2","model":"m2","provider":"P2","usage":{"cost":2}}"#,
        r#"{"choices":[{"delta":{"content":"x"}}]}"#,
    ] {
        a.apply(&chunk(data), Carrier::Delta);
    }
    assert_eq!(
        (a.id.as_deref(), a.model.as_deref(), a.provider.as_deref()),
        (Some("g2"), Some("m2"), Some("P2"))
    );
    assert_eq!(a.usage_raw().map(RawValue::get), Some(r#"{"cost":2}"#));
}

#[test]
fn the_first_finish_reason_counts() {
    let mut a = Answer::new(Wants::text(Keep::Nothing));
    let first = chunk(r#"{"choices":[{"finish_reason":""}]}"#);
    assert_eq!(a.apply(&first, Carrier::Delta).finish, Some(""));
    let second = chunk(r#"{"choices":[{"finish_reason":"stop"}]}"#);
    assert_eq!(a.apply(&second, Carrier::Delta).finish, None);
    assert_eq!(a.finish_reason.as_deref(), Some(""));
}

#[test]
fn a_whole_completion_carries_a_message() {
    let mut a = Answer::new(Wants::text(Keep::All));
    let c = chunk(
        r#"{"choices":[{"message":{"content":"hi","annotations":[{"type":"url_citation","url_citation":{"url":"u","title":"t"}}],"images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},"finish_reason":"stop"}]}"#,
    );
    let step = a.apply(&c, Carrier::Message);
    assert_eq!(step.text, Some("hi"));
    assert_eq!(step.images.len(), 1);
    assert_eq!(a.citations()[0].title.as_deref(), Some("t"));
}

#[test]
fn details_merge_by_numeric_index() {
    let mut details = Vec::new();
    let entry = |s: &str| serde_json::from_str::<Map<String, Value>>(s).unwrap();
    merge_detail(
        &mut details,
        entry(r#"{"type":"reasoning.summary","summary":"a","index":0}"#),
    );
    merge_detail(
        &mut details,
        entry(r#"{"type":"reasoning.encrypted","data":"x","index":1}"#),
    );
    merge_detail(
        &mut details,
        entry(r#"{"summary":"b","index":0,"id":"r1"}"#),
    );
    merge_detail(&mut details, entry(r#"{"data":"y","index":1.0}"#));
    merge_detail(&mut details, entry(r#"{"text":"no index"}"#));
    merge_detail(
        &mut details,
        entry(r#"{"text":"string index","index":"0"}"#),
    );
    assert_eq!(
        serde_json::to_string(&details).unwrap(),
        concat!(
            r#"[{"type":"reasoning.summary","summary":"ab","index":0,"id":"r1"},"#,
            r#"{"type":"reasoning.encrypted","data":"xy","index":1.0},"#,
            r#"{"text":"no index"},{"text":"string index","index":"0"}]"#
        )
    );
}

/// A stream the fast path sees through: plain chunks of one shape, an
/// escape, reasoning and content alternating (in one shape and in two),
/// `reasoning_content`, a shape change mid-stream (another provider), a
/// chunk that acts (tool call), a finish, usage.
const FAST_STREAM: &str = concat!(
    ": OPENROUTER PROCESSING\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning\":\"I \",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"I \",\"index\":0}]}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning\":\"think\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"think\",\"index\":0}]}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning\":\"\\n\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"\\n\",\"index\":0}]}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\",\"reasoning\":\"\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"\",\"index\":0}]}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\",\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"q\\\"\\n\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g1\",\"provider\":\"P\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wörld\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" again\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" and\",\"reasoning\":null}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"!\"}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" end\"}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\".\"}}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"g2\",\"provider\":\"Q\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"total_tokens\":9}}\n\n",
    "data: [DONE]\n\n",
);

/// What each chunk brought, as the session would write it.
fn step_line(step: &Step<'_>) -> String {
    format!(
        "{:?} {:?} {:?} {} {:?}",
        step.text, step.reasoning, step.noted, step.tool_calls, step.finish
    )
}

/// The stream through the fast path, as the session drives it: the answer,
/// each step, and how many chunks skipped the full parse.
fn fast_run(pieces: &[&[u8]], wants: Wants) -> (String, Vec<String>, usize) {
    let mut answer = Answer::new(wants);
    let mut fast = crate::chunk::FastPath::default();
    let mut splitter = Splitter::new();
    let (mut steps, mut skipped) = (Vec::new(), 0);
    for piece in pieces {
        let mut feed = splitter.feed(piece);
        while let Ok(Some(event)) = feed.next_event() {
            let Event::Data(data) = event else { continue };
            if data == b"[DONE]" {
                continue;
            }
            if let Some(delta) = fast.plain(data) {
                skipped += 1;
                steps.push(step_line(&answer.apply_delta(&delta)));
                continue;
            }
            let text = std::str::from_utf8(data).unwrap();
            let c = Chunk::parse(text).unwrap();
            fast.decoded(Some(text), &c, answer.keeps_details());
            steps.push(step_line(&answer.apply(&c, Carrier::Delta)));
        }
    }
    (summary(&answer), steps, skipped)
}

/// The same with the full parse only.
fn full_run(wants: Wants) -> (String, Vec<String>) {
    let mut answer = Answer::new(wants);
    let mut steps = Vec::new();
    for line in FAST_STREAM.lines() {
        let Some(data) = line.strip_prefix("data: ").filter(|d| *d != "[DONE]") else {
            continue;
        };
        let c = Chunk::parse(data).unwrap();
        steps.push(step_line(&answer.apply(&c, Carrier::Delta)));
    }
    (summary(&answer), steps)
}

#[test]
fn the_fast_path_changes_nothing_however_the_stream_is_split() {
    let bytes = FAST_STREAM.as_bytes();
    for wants in [all(), Wants::text(Keep::Nothing), Wants::text(Keep::All)] {
        let (answer, steps) = full_run(wants);
        let whole = fast_run(&[bytes], wants);
        assert_eq!((&whole.0, &whole.1), (&answer, &steps), "{wants:?}");
        // It did skip: the plain runs of one shape after their first chunk.
        let expected_skips = if wants.details { 5 } else { 7 };
        assert_eq!(whole.2, expected_skips, "{wants:?}");
        for a in 0..=bytes.len() {
            let two = fast_run(&[&bytes[..a], &bytes[a..]], wants);
            assert_eq!((&two.0, &two.1), (&answer, &steps), "cut at {a}");
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        let bytes_run = fast_run(&one_by_one, wants);
        assert_eq!((&bytes_run.0, &bytes_run.1), (&answer, &steps));
    }
    assert!(full_run(all()).0.contains("I think\\n"));
}
