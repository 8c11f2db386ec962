//! One-line messages and escaped server text on any input: a message is
//! one line of at most `max` characters plus the ellipsis, and escaped
//! text holds no control character a terminal would act on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orstream::fuzzing::{escape_controls, escape_controls_but_lines, one_line};

fn is_control(c: char) -> bool {
    let c = c as u32;
    c < 0x20 || (0x7f..=0x9f).contains(&c)
}

fuzz_target!(|input: &[u8]| {
    // The first byte is `max`; the rest is the text.
    let Some((&max, text)) = input.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let max = usize::from(max);

    let line = one_line(&text, max);
    assert!(
        line.chars().count() <= max + 1,
        "{line:?} is over {max} + 1"
    );
    assert!(!line.starts_with(' ') && !line.ends_with(' ') && !line.contains("  "));
    assert!(
        line.chars().all(|c| c == ' ' || !c.is_whitespace()),
        "whitespace left in {line:?}"
    );
    let words: Vec<&str> = text.split_whitespace().collect();
    if line.chars().count() <= max {
        assert_eq!(line, words.join(" "), "cut though it fits");
    }

    let escaped = escape_controls(&text);
    assert!(!escaped.chars().any(is_control), "{escaped:?}");
    if !text.chars().any(is_control) {
        assert_eq!(escaped, text, "text without controls changed");
    }
    let escaped = escape_controls_but_lines(&text);
    assert!(
        !escaped
            .chars()
            .any(|c| is_control(c) && c != '\n' && c != '\t'),
        "{escaped:?}"
    );
});
