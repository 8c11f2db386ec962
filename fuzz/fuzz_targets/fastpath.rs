//! The chunk fast path against the full parse: whatever a template of a
//! plain chunk makes of the next data (its text, or "decode it in full")
//! must be what the full parse makes of it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{check_against_full_parse, Chunk, Template};

/// Plain chunks of the shapes servers send.
const FIRSTS: [&str; 4] = [
    r#"{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"P","choices":[{"index":0,"delta":{"content":"Hello","role":"assistant"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#,
    r#"{"id":"gen-1","choices":[{"index":0,"delta":{"content":"","role":"assistant","reasoning":"The user","reasoning_details":[{"type":"reasoning.text","text":"The user","format":"anthropic-claude-v1","index":0}]},"finish_reason":null}]}"#,
    r#"{"choices":[{"delta":{"reasoning_content":"hmm","content":null}}],"created":5}"#,
    r#"{ "choices" : [ { "delta" : { "content" : "a" } } ] }"#,
];

fuzz_target!(|input: &[u8]| {
    let Some((&sel, rest)) = input.split_first() else {
        return;
    };
    let keep = sel & 2 != 0;
    if sel & 1 == 0 {
        // Both chunks from the input: the first up to a 0xFF byte.
        let mut parts = rest.splitn(2, |&b| b == 0xFF);
        let (Some(first), Some(next)) = (parts.next(), parts.next()) else {
            return;
        };
        if let Ok(first) = std::str::from_utf8(first) {
            if let Err(e) = check_against_full_parse(first, next, keep) {
                panic!("{e}");
            }
        }
        return;
    }
    // A known chunk, its holes filled from the input, maybe one byte changed.
    let first = FIRSTS[usize::from(sel >> 2) % FIRSTS.len()];
    let Ok(chunk) = Chunk::parse(first) else {
        return;
    };
    let Some(template) = Template::learn(first, &chunk, false) else {
        return;
    };
    let values: Vec<&[u8]> = rest.split(|&b| b == 0xFF).collect();
    let mut next = template.fill(&values);
    if sel & 0x80 != 0 {
        if let Some(&b) = rest.first() {
            let at = usize::from(b) * 7 % next.len().max(1);
            if let Some(byte) = next.get_mut(at) {
                *byte = rest.last().copied().unwrap_or(b'x');
            }
        }
    }
    if let Err(e) = check_against_full_parse(first, &next, keep) {
        panic!("{e}");
    }
});
