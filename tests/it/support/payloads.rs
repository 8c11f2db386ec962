//! What the scripted server sends: SSE events and chunk payloads, built as
//! the exact bytes of the wire, and the canned "Hi" answer most tests want.

use super::{Reply, Server};

/// The stream terminator OpenAI-compatible servers send.
pub const DONE: &str = "data: [DONE]\n\n";

/// A JSON string literal (with the quotes) that spells every control
/// character as `\u00XX`, not serde_json's `\n` short forms: the client must
/// decode both, and the suite's payloads have always exercised this one.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn delta_event(content: &str, finish_reason: Option<&str>) -> String {
    let finish = finish_reason.map_or_else(|| "null".to_string(), json_string);
    format!(
        "data: {{\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"model\":\"test/model\",\
         \"provider\":\"TestProvider\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\
         \"content\":{}}},\"finish_reason\":{}}}]}}\n\n",
        json_string(content),
        finish
    )
}

/// One complete SSE event carrying a content delta.
pub fn chunk(content: &str) -> String {
    delta_event(content, None)
}

/// One complete SSE event with empty content and the given `finish_reason`.
pub fn finish(reason: &str) -> String {
    delta_event("", Some(reason))
}

/// The trailing usage-only event (empty `choices`) OpenRouter sends.
pub fn usage_chunk() -> String {
    "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"model\":\"test/model\",\
     \"provider\":\"TestProvider\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\
     \"completion_tokens\":5,\"total_tokens\":15,\"cost\":0.00012}}\n\n"
        .to_string()
}

/// One SSE event with the given data payload.
pub fn ev(payload: &str) -> String {
    format!("data: {payload}\n\n")
}

/// A compact content chunk payload (no `data:` prefix): only the fields a
/// client must read, unlike the full chunks of [`chunk`].
pub fn cp(text: &str) -> String {
    format!(
        "{{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}",
        json_string(text)
    )
}

/// A compact content chunk event.
pub fn c(text: &str) -> String {
    ev(&cp(text))
}

/// A clean answer: `text` in one chunk, `finish_reason: stop`, `[DONE]`.
pub fn answer(text: &str) -> Reply {
    Reply::sse(&[&chunk(text), &finish("stop"), DONE])
}

/// One clean answer, "Hi".
pub fn hi_reply() -> Reply {
    answer("Hi")
}

/// A server that answers one request with [`hi_reply`].
pub fn hi_server() -> Server {
    Server::start(vec![hi_reply()])
}
