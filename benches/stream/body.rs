//! The answers the server sends: realistic OpenRouter chunks (capture A,
//! `openrouter-api.md` §3, ~341 bytes each) rendered once into wire bytes,
//! and how many stdout bytes each client should print for them.

/// A content chunk is `PREFIX`, the token, `SUFFIX`.
const PREFIX: &str = r#"{"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":""#;
const SUFFIX: &str =
    r#"","role":"assistant"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}"#;
const FINISH: &str = r#"{"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","choices":[{"index":0,"delta":{"content":"","role":"assistant"},"finish_reason":"stop","native_finish_reason":"end_turn"}]}"#;
const USAGE: &str = r#"{"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","service_tier":null,"choices":[{"index":0,"delta":{"content":"","role":"assistant"},"finish_reason":"stop","native_finish_reason":"end_turn"}],"usage":{"prompt_tokens":15,"completion_tokens":200000,"total_tokens":200015,"cost":0.00006,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0,"audio_tokens":0,"video_tokens":0},"cost_details":{"upstream_inference_cost":0.00006,"upstream_inference_prompt_cost":0.000015,"upstream_inference_completions_cost":0.000045},"completion_tokens_details":{"reasoning_tokens":0,"image_tokens":0,"audio_tokens":0}}}"#;
/// The data of the tail events, in order.
const TAIL: [&str; 3] = [FINISH, USAGE, "[DONE]"];
const COMMENT: &str = ": OPENROUTER PROCESSING\n\n";
/// Short tokens, cycled (plain ASCII: no JSON escaping needed).
const WORDS: [&str; 8] = [
    " word", " the", " stream", " of", ",", " tokens", " and", " a",
];

pub const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-Generation-Id: gen-1780944361-X5HAtL0Z2NQp8nHAiT6F\r\n\r\n";
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// The server's write size, and the bench's read size for big files.
pub const WRITE_SIZE: usize = 256 * 1024;
const FRAME_SIZE: usize = 32 * 1024;

/// The data of a chunk whose content is `content`.
fn content_data(content: &str) -> String {
    format!("{PREFIX}{content}{SUFFIX}")
}

/// A reasoning chunk, as Anthropic models send them through OpenRouter
/// (`openrouter-api.md` §4): the text twice, in `reasoning` and in
/// `reasoning_details`.
fn reasoning_data(text: &str) -> String {
    format!(
        r#"{{"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","choices":[{{"index":0,"delta":{{"content":"","role":"assistant","reasoning":"{text}","reasoning_details":[{{"type":"reasoning.text","text":"{text}","format":"anthropic-claude-v1","index":0}}]}},"finish_reason":null,"native_finish_reason":null}}]}}"#
    )
}

/// The chunk that closes the reasoning: its signature.
const SIGNATURE: &str = r#"{"id":"gen-1780944361-X5HAtL0Z2NQp8nHAiT6F","object":"chat.completion.chunk","created":1780944361,"model":"anthropic/claude-4.5-haiku-20251001","provider":"Amazon Bedrock","choices":[{"index":0,"delta":{"content":"","role":"assistant","reasoning_details":[{"type":"reasoning.text","signature":"EvsCCkgICBABGAIqQKlj0aVq","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null}]}"#;

/// `data: …\n\n`.
fn event(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// One SSE event as one HTTP chunk.
fn http_chunk(bytes: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", bytes.len()).into_bytes();
    v.extend_from_slice(bytes);
    v.extend_from_slice(b"\r\n");
    v
}

/// The HTTP chunk of a content chunk carrying `t{i} ` (the drip and slow
/// streams: the bench finds the token on the client's stdout).
pub fn token_frame(i: u64) -> Vec<u8> {
    http_chunk(event(&content_data(&format!("t{i} "))).as_bytes())
}

/// The tail events, one HTTP chunk each, then `0\r\n\r\n`.
pub fn tail_frames() -> Vec<u8> {
    let mut wire = Vec::new();
    for d in TAIL {
        wire.extend_from_slice(&http_chunk(event(d).as_bytes()));
    }
    wire.extend_from_slice(LAST_CHUNK);
    wire
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Framing {
    /// 32 KiB HTTP chunks.
    K32,
    /// One HTTP chunk per SSE event.
    Event,
}

impl Framing {
    pub const BOTH: [Framing; 2] = [Framing::K32, Framing::Event];

    pub fn name(self) -> &'static str {
        match self {
            Framing::K32 => "k32",
            Framing::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<Framing> {
        Framing::BOTH.into_iter().find(|f| f.name() == s)
    }
}

/// A pre-rendered response body and what each client should print for it.
pub struct Body {
    /// Chunked-encoded bytes after the response head, `0\r\n\r\n` included.
    pub wire: Vec<u8>,
    /// Where the tail (finish chunk, usage chunk, `[DONE]`) starts in `wire`.
    pub tail_at: usize,
    /// Stdout bytes of each client for the whole body, and for the tail alone.
    pub sse_len: (usize, usize),
    pub text_len: (usize, usize),
    pub json_len: (usize, usize),
}

/// A comment, `n` content chunks, then the tail (each tail event in its own
/// HTTP chunk in both framings, so the server can hold the tail back).
/// With `think`, the first half are reasoning chunks, then a signature.
pub fn render(n: usize, framing: Framing, think: bool) -> Body {
    let mut events: Vec<String> = Vec::with_capacity(n + 2);
    let mut text_len = 0;
    let mut json_len = 0;
    events.push(COMMENT.to_string());
    let reasoning = if think { n / 2 } else { 0 };
    for i in 0..n {
        let w = WORDS[i % WORDS.len()];
        let d = if i < reasoning {
            reasoning_data(w)
        } else {
            text_len += w.len();
            content_data(w)
        };
        if think && i == reasoning {
            json_len += SIGNATURE.len() + 1;
            events.push(event(SIGNATURE));
        }
        json_len += d.len() + 1;
        events.push(event(&d));
    }
    let sse: Vec<u8> = events.iter().flat_map(|e| e.bytes()).collect();
    let mut wire = Vec::with_capacity(sse.len() + sse.len() / 16 + 4096);
    match framing {
        Framing::K32 => sse
            .chunks(FRAME_SIZE)
            .for_each(|c| wire.extend_from_slice(&http_chunk(c))),
        Framing::Event => events
            .iter()
            .for_each(|e| wire.extend_from_slice(&http_chunk(e.as_bytes()))),
    }
    let tail_at = wire.len();
    let tail_sse: usize = TAIL.iter().map(|d| event(d).len()).sum();
    wire.extend_from_slice(&tail_frames());
    let tail_json = FINISH.len() + USAGE.len() + 2;
    Body {
        wire,
        tail_at,
        sse_len: (sse.len() + tail_sse, tail_sse),
        text_len: (text_len + 1, 1), // the final newline
        json_len: (json_len + tail_json, tail_json),
    }
}
