//! One-line messages from any text, control characters made visible, and
//! JSON on one line (pure).

use crate::secret::redact;
use std::borrow::Cow;
use std::fmt::Write;

/// Text from a server, safe for a terminal: each C0 control character,
/// DEL and each C1 control character becomes `\u{XX}`, so a server cannot
/// move the cursor, retitle or clear the terminal, or fake a line of ours.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`escape_controls`], but `\n` and `\t` pass: reasoning keeps its
/// lines on a terminal.
pub fn escape_controls_but_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, lines: bool) -> Cow<'_, str> {
    let is_control = |c: char| {
        let c = c as u32;
        (c < 0x20 || (0x7f..=0x9f).contains(&c)) && !(lines && (c == 0x0a || c == 0x09))
    };
    // Bytes first: C1 characters start with 0xC2 in UTF-8.
    let suspect = |b: &u8| *b < 0x20 || *b == 0x7f || *b == 0xc2;
    if !text.as_bytes().iter().any(suspect) || !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_control(c) {
            let _ = write!(out, "\\u{{{:02x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Folds whitespace runs (newlines included) into single spaces and cuts the
/// text to `max` characters, so any message fits the one-line error rule.
pub fn one_line(text: &str, max: usize) -> String {
    // The key is hidden before cutting, so no prefix of it survives the cut.
    let text = &redact(text);
    let mut out = String::with_capacity(text.len().min(max + 3));
    let mut count = 0;
    for word in text.split_whitespace() {
        if count > 0 {
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
        }
        for ch in word.chars() {
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(ch);
            count += 1;
        }
    }
    out
}

/// Removes the whitespace between JSON tokens, keeping strings byte for byte,
/// so a pretty-printed body becomes one JSON line without reordering keys.
pub fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify_json("{\n  \"a\": \"b  c\\\" d\",\n  \"e\": [1, 2]\n}\n"),
            r#"{"a":"b  c\" d","e":[1,2]}"#
        );
    }

    #[test]
    fn one_line_folds_and_cuts() {
        assert_eq!(one_line(" a\n\n b\tc ", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        // Never more than max characters and the ellipsis, even when the
        // cut falls on a word break.
        for max in 0..6 {
            for text in ["\u{2}\u{ed}\n\u{2}", "ab cd ef", "a b", "abc  "] {
                let n = one_line(text, max).chars().count();
                assert!(n <= max + 1, "{text:?} at {max}: {n}");
            }
        }
        assert_eq!(one_line("ab cd", 2), "ab…");
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert!(matches!(escape_controls("plain é"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("\u{1b}]52;c;x\u{7}\r\n\u{7f}\u{85}\u{9f}\u{a0}"),
            "\\u{1b}]52;c;x\\u{07}\\u{0d}\\u{0a}\\u{7f}\\u{85}\\u{9f}\u{a0}"
        );
        assert_eq!(
            escape_controls_but_lines("a\tb\nc\u{1b}[2J\r"),
            "a\tb\nc\\u{1b}[2J\\u{0d}"
        );
    }
}
