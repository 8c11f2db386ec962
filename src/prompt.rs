//! The user's text from PROMPT words and stdin (pure, SPEC §1).

use crate::exit::Failure;

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
}
