//! Any text as a chunk, an error body, and the answer it feeds: no panic
//! (server data is never trusted), and the answer keeps its text as asked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{error_body_message, Answer, Chunk, Keep};

fuzz_target!(|input: &[u8]| {
    // The first byte picks how much text the answer keeps.
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
    let mut answer = Answer::new(keep);
    let mut text = String::new();
    let mut first_finish: Option<String> = None;
    for line in data.split('\n') {
        let Ok(chunk) = Chunk::parse(line) else {
            continue;
        };
        answer.note(&chunk);
        let _ = chunk.errored_choice();
        if let Some(e) = &chunk.error {
            assert!(!e.describe(None).contains('\n'));
            assert!(!e.describe(Some("P")).contains('\n'));
        }
        let Some(choice) = chunk.first_choice() else {
            continue;
        };
        for delta in [&choice.delta, &choice.message].into_iter().flatten() {
            let _ = (delta.reasoning_text(), delta.has_tool_calls());
            if let Some(t) = delta.text() {
                answer.push_text(t);
                text.push_str(t);
            }
        }
        if let Some(reason) = &choice.finish_reason {
            let first = answer.finish(reason.as_str());
            assert_eq!(first, first_finish.is_none());
            first_finish.get_or_insert_with(|| reason.as_str().to_string());
        }
    }
    assert_eq!(answer.finish_reason, first_finish);
    let kept = match keep {
        Keep::Nothing => Some(""),
        Keep::UpTo(limit) if text.len() > limit => None,
        _ => Some(text.as_str()),
    };
    assert_eq!(answer.text(), kept);
});
