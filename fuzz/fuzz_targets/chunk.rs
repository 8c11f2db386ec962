//! Any text as a chunk, an error body, and the answer it feeds: no panic
//! (server data is never trusted), the answer keeps its text as asked, and
//! the first finish reason counts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{error_body_message, Answer, Carrier, Chunk, Keep, Wants};

fuzz_target!(|input: &[u8]| {
    // The first byte picks how much the answer keeps.
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let data = String::from_utf8_lossy(data);
    let message = error_body_message(&data);
    assert!(!message.contains('\n'), "a one-line message: {message:?}");

    // Each line is a chunk, as a stream's `data:` lines would be.
    let keep = match pick % 3 {
        0 => Keep::Nothing,
        1 => Keep::UpTo(usize::from(pick)),
        _ => Keep::All,
    };
    let wants = Wants {
        text: keep,
        reasoning: pick & 8 != 0,
        details: pick & 16 != 0,
    };
    let mut answer = Answer::new(wants);
    let mut text = String::new();
    let mut first_finish: Option<String> = None;
    for line in data.split('\n') {
        let Ok(chunk) = Chunk::parse(line) else {
            continue;
        };
        let _ = chunk.errored_choice();
        if let Some(e) = &chunk.error {
            assert!(!e.describe(None).contains('\n'));
            assert!(!e.describe(Some("P")).contains('\n'));
        }
        let carrier = if pick & 4 != 0 {
            Carrier::Message
        } else {
            Carrier::Delta
        };
        let step = answer.apply(&chunk, carrier);
        if let Some(t) = step.text {
            text.push_str(t);
        }
        if let Some(reason) = step.finish {
            assert!(first_finish.is_none(), "a second first finish reason");
            first_finish = Some(reason.to_string());
        }
    }
    assert_eq!(answer.finish_reason, first_finish);
    let kept = match keep {
        Keep::Nothing => Some(""),
        Keep::UpTo(limit) if text.len() > limit => None,
        _ => Some(text.as_str()),
    };
    assert_eq!(answer.text(), kept);
    // The reports of the whole answer never panic either.
    let _ = (answer.tool_calls(), answer.citations(), answer.usage());
});
