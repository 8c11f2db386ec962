//! The items of `--each FILE` (SPEC §12): one per non-blank line, read as
//! items start (memory stays flat however long FILE is); a line that
//! starts with `{` is an item object with `text` and an optional `id`.

use serde_json::{Map, Value};
use std::collections::HashSet;
use std::io::{self, BufRead};

/// What one line of FILE is.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// An item to run: its prompt text and `id` (`null` without one).
    Item { text: String, id: Value },
    /// An item that fails alone, with exit 2 and this message.
    Bad { id: Value, why: String },
}

/// Reads FILE's lines lazily, numbering them from 1 (blank ones count).
pub struct Lines<R> {
    reader: R,
    number: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// The next item line and its 1-based number; `None` at the end.
    pub fn next_item(&mut self) -> io::Result<Option<(u64, Line)>> {
        loop {
            self.buf.clear();
            if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
                return Ok(None);
            }
            self.number += 1;
            let line = strip_line_end(&self.buf);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some((self.number, parse(line))));
        }
    }

    /// How many item lines are left, but those in `skip` (for a budget
    /// that stopped the run); they are read, not kept.
    pub fn count_rest(&mut self, skip: &HashSet<u64>) -> io::Result<u64> {
        let mut n = 0;
        while let Some((line, _)) = self.next_item()? {
            if !skip.contains(&line) {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The line without its `\n` or `\r\n`.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One non-blank line: plain text, or an item object.
pub fn parse(line: &[u8]) -> Line {
    let Ok(text) = std::str::from_utf8(line) else {
        let at = std::str::from_utf8(line)
            .map_err(|e| e.valid_up_to())
            .err()
            .unwrap_or(0);
        return Line::Bad {
            id: Value::Null,
            why: format!("the line is not valid UTF-8 (first bad byte at offset {at})"),
        };
    };
    if !text.trim_start().starts_with('{') {
        return Line::Item {
            text: text.to_string(),
            id: Value::Null,
        };
    }
    object(text)
}

/// An item object: `text` (a string) and optionally `id`, nothing else.
fn object(text: &str) -> Line {
    let map: Map<String, Value> = match serde_json::from_str(text) {
        Ok(map) => map,
        Err(e) => {
            return Line::Bad {
                id: Value::Null,
                why: format!("the item is not a JSON object: {e}"),
            }
        }
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    if let Some(key) = map.keys().find(|k| *k != "text" && *k != "id") {
        return Line::Bad {
            id,
            why: format!("the item has an unknown key {}", Value::from(key.as_str())),
        };
    }
    match map.get("text") {
        Some(Value::String(text)) => Line::Item {
            text: text.clone(),
            id,
        },
        Some(_) => Line::Bad {
            id,
            why: "the item's \"text\" is not a string".to_string(),
        },
        None => Line::Bad {
            id,
            why: "the item has no \"text\"".to_string(),
        },
    }
}

/// The user message of an item: as if its line were piped on stdin (SPEC
/// §1): with PROMPT words, the line's text with trailing whitespace trimmed,
/// a blank line, then the words; without, the text as it is.
pub fn prompt(text: &str, words: &[String]) -> String {
    if words.is_empty() {
        text.to_string()
    } else {
        format!("{}\n\n{}", text.trim_end(), words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<(u64, Line)> {
        let mut lines = Lines::new(input);
        let mut out = Vec::new();
        while let Some(item) = lines.next_item().unwrap() {
            out.push(item);
        }
        out
    }

    fn item(text: &str) -> Line {
        Line::Item {
            text: text.into(),
            id: Value::Null,
        }
    }

    #[test]
    fn lines_are_numbered_blank_ones_skipped() {
        let got = all(b"first\n\n  \t\nsecond\r\n third \r\n\r\nlast");
        assert_eq!(
            got,
            [
                (1, item("first")),
                (4, item("second")),
                (5, item(" third ")),
                (7, item("last")),
            ]
        );
        assert!(all(b"").is_empty());
        assert!(all(b"\n\r\n \n").is_empty());
        // A lone \r is not a line end.
        assert_eq!(all(b"a\rb\n"), [(1, item("a\rb"))]);
    }

    #[test]
    fn item_objects() {
        assert_eq!(
            parse(br#"  {"text":"hi","id":7}"#),
            Line::Item {
                text: "hi".into(),
                id: Value::from(7)
            }
        );
        assert_eq!(parse(br#"{"text":"hi"}"#), item("hi"));
        assert_eq!(
            parse(br#"{"id":{"row":3},"text":"x"}"#),
            Line::Item {
                text: "x".into(),
                id: serde_json::json!({"row": 3})
            }
        );
        let bad = |line: &[u8]| match parse(line) {
            Line::Bad { id, why } => (id, why),
            other => panic!("{other:?}"),
        };
        assert!(bad(b"{not json")
            .1
            .starts_with("the item is not a JSON object"));
        assert!(bad(b"{\"text\":\"a\"} trailing")
            .1
            .contains("not a JSON object"));
        assert_eq!(
            bad(br#"{"id":1}"#),
            (Value::from(1), "the item has no \"text\"".into())
        );
        assert_eq!(
            bad(br#"{"text":5}"#).1,
            "the item's \"text\" is not a string"
        );
        assert_eq!(
            bad(br#"{"text":"a","lang":"en","id":"x"}"#),
            (
                Value::from("x"),
                "the item has an unknown key \"lang\"".into()
            )
        );
        assert_eq!(
            bad(b"caf\xe9"),
            (
                Value::Null,
                "the line is not valid UTF-8 (first bad byte at offset 3)".into()
            )
        );
        // Not a `{` first: plain text, even if JSON-like.
        assert_eq!(parse(b"[1, 2]"), item("[1, 2]"));
    }

    #[test]
    fn prompts_as_if_piped() {
        assert_eq!(prompt("  a review \t", &[]), "  a review \t");
        let words = vec!["Sentiment?".to_string(), "one word".to_string()];
        assert_eq!(
            prompt("  a review \t", &words),
            "  a review\n\nSentiment? one word"
        );
    }

    #[test]
    fn counting_the_rest() {
        let mut lines = Lines::new(&b"a\nb\n\nc\nd\n"[..]);
        lines.next_item().unwrap();
        assert_eq!(lines.count_rest(&HashSet::from([5])).unwrap(), 2);
    }
}
