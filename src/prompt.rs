//! The user's text from PROMPT words and stdin, and `--request` file checks (pure).

use crate::exit::Failure;
use serde_json::{Map, Value};

/// Decodes stdin (or a file) as UTF-8, naming the first bad byte.
pub fn decode_utf8(bytes: Vec<u8>, what: &str) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|e| {
        Failure::usage(format!(
            "{what} is not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The user message from the PROMPT words and stdin (SPEC §1).
///
/// `None` when there is neither; stdin of 0 bytes counts as no stdin.
pub fn user_text(words: &[String], stdin: Option<&str>) -> Option<String> {
    let stdin = stdin.filter(|s| !s.is_empty());
    let words = (!words.is_empty()).then(|| words.join(" "));
    match (stdin, words) {
        (None, None) => None,
        (Some(s), None) => Some(s.to_string()),
        (None, Some(w)) => Some(w),
        // The question comes after the document.
        (Some(s), Some(w)) => Some(format!("{}\n\n{}", s.trim_end(), w)),
    }
}

/// Fails when the prompt is empty or only whitespace.
pub fn require_text(text: Option<String>) -> Result<String, Failure> {
    match text {
        Some(t) if !t.trim().is_empty() => Ok(t),
        Some(_) => Err(Failure::usage("the prompt is empty")
            .with_hint("give PROMPT words or pipe text on stdin; see 'orstream --help'")),
        None => Err(Failure::usage("no prompt given")
            .with_hint("give PROMPT words or pipe text on stdin; see 'orstream --help'")),
    }
}

/// Parses a `--request` body: a JSON object with a `messages` array.
/// Errors carry the parser's line and column.
pub fn parse_request(text: &str, name: &str) -> Result<Map<String, Value>, Failure> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        messages: Vec<serde::de::IgnoredAny>,
    }
    let bad = |e: serde_json::Error| {
        let what = if e.is_syntax() || e.is_eof() {
            "invalid JSON"
        } else {
            "not a chat request"
        };
        Failure::usage(format!("--request {name}: {what}: {e}"))
            .with_hint("the body must be a JSON object with a \"messages\" array")
    };
    // Editors on Windows start files with a BOM; jq accepts it, so do we.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let map: Map<String, Value> = serde_json::from_str(text).map_err(bad)?;
    serde_json::from_str::<Shape>(text).map_err(bad)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_only_joined_with_spaces() {
        assert_eq!(user_text(&words(&["a", "b  c"]), None).unwrap(), "a b  c");
    }

    #[test]
    fn stdin_only_is_exact() {
        assert_eq!(user_text(&[], Some("  doc \n\n")).unwrap(), "  doc \n\n");
    }

    #[test]
    fn both_trims_stdin_then_blank_line() {
        assert_eq!(
            user_text(&words(&["Review", "this"]), Some("line1\nline2\n \t\n")).unwrap(),
            "line1\nline2\n\nReview this"
        );
    }

    #[test]
    fn empty_stdin_is_no_stdin() {
        assert_eq!(user_text(&words(&["q"]), Some("")).unwrap(), "q");
        assert_eq!(user_text(&[], Some("")), None);
    }

    #[test]
    fn whitespace_is_a_usage_error() {
        assert_eq!(
            require_text(Some(" \n\t".into())).unwrap_err().kind.code(),
            2
        );
        assert_eq!(require_text(None).unwrap_err().kind.code(), 2);
        assert_eq!(require_text(Some(" x ".into())).unwrap(), " x ");
    }

    #[test]
    fn utf8_offset() {
        let e = decode_utf8(b"ab\xFFcd".to_vec(), "stdin").unwrap_err();
        assert_eq!(
            e.message,
            "stdin is not valid UTF-8 (first bad byte at offset 2)"
        );
        let e = decode_utf8("é".as_bytes()[..1].to_vec(), "stdin").unwrap_err();
        assert!(e.message.ends_with("offset 0)"));
    }

    #[test]
    fn request_shapes() {
        assert!(
            parse_request(r#"{"messages":[{"role":"user","content":"hi"}]}"#, "r.json").is_ok()
        );
        let e = parse_request("{\n  \"messages\": [\n", "r.json").unwrap_err();
        assert!(
            e.message.contains("--request r.json: invalid JSON"),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 3 column 0"), "{}", e.message);
        let e = parse_request(r#"{"model":"x"}"#, "r.json").unwrap_err();
        assert!(
            e.message
                .contains("missing field `messages` at line 1 column 13"),
            "{}",
            e.message
        );
        let e = parse_request("[1]", "r.json").unwrap_err();
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        assert!(parse_request("\u{feff}{\"messages\":[]}", "bom.json").is_ok());
        let e = parse_request(r#"{"messages":"hi"}"#, "r.json").unwrap_err();
        assert!(e.message.contains("not a chat request"), "{}", e.message);
    }
}
