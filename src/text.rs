//! One-line messages from any text, and JSON on one line (pure).

use crate::secret::redact;

/// Folds whitespace runs (newlines included) into single spaces and cuts the
/// text to `max` characters, so any message fits the one-line error rule.
pub fn one_line(text: &str, max: usize) -> String {
    // The key is hidden before cutting, so no prefix of it survives the cut.
    let text = &redact(text);
    let mut out = String::with_capacity(text.len().min(max + 3));
    let mut count = 0;
    for word in text.split_whitespace() {
        if count > 0 {
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
    }
}
