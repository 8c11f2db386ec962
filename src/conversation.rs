//! A conversation in a file (`-c FILE`, SPEC §10): the body so far, read
//! with the `--request` rules; the turn saved as the body sent plus the
//! answer. The locking and the atomic replace are `atomic_file`'s.

use crate::answer::Answer;
use crate::atomic_file::{LockedFile, OpenError};
use crate::body::{Body, Data, Layout};
use crate::exit::{Failure, Kind};
use crate::prompt::decode_utf8;
use crate::request::parse_body;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;

/// A locked conversation file.
pub struct Conversation {
    /// FILE as the user wrote it, for messages.
    name: String,
    file: LockedFile,
    /// The conversation so far; `None` for a new one.
    body: Option<Map<String, Value>>,
}

impl Conversation {
    /// Locks and loads FILE. A missing FILE, or one of 0 bytes or only
    /// whitespace, is a new conversation. Another orstream holding it is a
    /// usage error at once; content that is not a `--request` body is a
    /// usage error naming FILE with the parser's line and column.
    pub fn open(path: &Path) -> Result<Conversation, Failure> {
        let name = path.display().to_string();
        let (file, bytes) = LockedFile::open(path).map_err(|e| open_failure(&name, e))?;
        let body = match bytes {
            Some(bytes) => parse(bytes, &name)?,
            None => None,
        };
        Ok(Conversation { name, file, body })
    }

    /// The conversation read from FILE; `None` for a new one.
    #[cfg(test)]
    pub fn body(&self) -> Option<&Map<String, Value>> {
        self.body.as_ref()
    }

    /// Takes the conversation out, to build the request from it without a copy.
    pub fn take_body(&mut self) -> Option<Map<String, Value>> {
        self.body.take()
    }

    /// Rewrites FILE: the body as sent (attachments streamed into it from
    /// `data`, as they were sent), plus the whole answer.
    pub fn save(
        &self,
        sent: Map<String, Value>,
        data: Vec<Data>,
        answer: &Answer,
    ) -> Result<(), Failure> {
        let text = answer.text().unwrap_or_default();
        let saved = Value::Object(saved_body(sent, text, answer.reasoning_details()));
        let file = Body::new(&saved, data, Layout::Pretty)?;
        // Only its text is needed now: a long history is not held twice.
        drop(saved);
        self.save_with(&mut |w| {
            file.write_to(w)?;
            w.write_all(b"\n")
        })
    }

    fn save_with(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Failure> {
        self.file.save(write).map_err(|reason| {
            Failure::new(
                Kind::Internal,
                format!("cannot save the conversation to {}: {reason}", self.name),
            )
        })
    }
}

fn open_failure(name: &str, e: OpenError) -> Failure {
    match e {
        OpenError::InUse => Failure::usage(format!("{name} is in use by another orstream")),
        OpenError::Path(reason) => Failure::usage(format!("-c {name}: {reason}")),
        OpenError::Lock(path, reason) => Failure::new(
            Kind::Internal,
            format!(
                "cannot use the lock file {} for {name}: {reason}",
                path.display()
            ),
        ),
    }
}

/// Parses FILE's content with the `--request` rules (SPEC §1), naming FILE
/// as `-c FILE`; only whitespace (and a BOM) is a new conversation.
fn parse(bytes: Vec<u8>, name: &str) -> Result<Option<Map<String, Value>>, Failure> {
    let what = format!("-c {name}");
    let text = decode_utf8(bytes, &what)?;
    // `echo > FILE` or a blank editor buffer: as empty as 0 bytes to a
    // user, and the JSON parser would call it an unexpected end.
    let rest = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if rest.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Ok(None);
    }
    parse_body(&text, &what).map(Some)
}

/// The body to save: the body as sent without `stream` and
/// `stream_options`, keys otherwise in their order, and the answer
/// appended to `messages` as an assistant message — with the structured
/// reasoning the stream sent, which the next turn hands back to the model.
/// Takes the body by value: a long history is not copied.
pub fn saved_body(
    mut sent: Map<String, Value>,
    answer: &str,
    details: &[Map<String, Value>],
) -> Map<String, Value> {
    // shift_remove: with preserve_order, `remove` would move the last key
    // into the hole.
    sent.shift_remove("stream");
    sent.shift_remove("stream_options");
    let mut reply = serde_json::json!({"role": "assistant", "content": answer});
    if !details.is_empty() {
        reply["reasoning_details"] =
            Value::Array(details.iter().cloned().map(Value::Object).collect());
    }
    match sent.get_mut("messages") {
        Some(Value::Array(messages)) => messages.push(reply),
        // A sent body always has the array; kept in place if it did not.
        _ => {
            sent.insert("messages".to_string(), Value::Array(vec![reply]));
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Dir;
    use std::fs;
    use std::io;

    const BODY: &str = "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\n      \"role\": \"user\",\n      \"content\": \"hi\"\n    }\n  ]\n}\n";

    #[test]
    fn empty_and_blank_files_are_new() {
        let dir = Dir::new("empty");
        for (i, text) in ["", "\n", " \t\r\n ", "\u{feff}\n"].iter().enumerate() {
            let path = dir.file(&format!("c{i}.json"));
            fs::write(&path, text).unwrap();
            let chat = Conversation::open(&path).unwrap();
            assert!(chat.body().is_none(), "{text:?}");
        }
    }

    #[test]
    fn valid_file_keeps_key_order() {
        let dir = Dir::new("valid");
        let path = dir.file("c.json");
        let text = r#"{"z":1,"messages":[{"role":"user","content":"hi"}],"a":2,"model":"m"}"#;
        fs::write(&path, text).unwrap();
        let mut chat = Conversation::open(&path).unwrap();
        assert_eq!(serde_json::to_string(chat.body().unwrap()).unwrap(), text);
        let body = chat.take_body().unwrap();
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
        assert!(chat.body().is_none());
    }

    #[test]
    fn invalid_content_names_the_file_with_line_and_column() {
        let dir = Dir::new("invalid");
        let path = dir.file("c.json");
        let name = path.display().to_string();
        let cases = [
            ("{\n  \"messages\": [\n", "invalid JSON", "line 3 column 0"),
            ("[1]", "not a chat request", "line 1 column"),
            (
                r#"{"model":"x"}"#,
                "there is no \"messages\" array",
                "line 1 column 13",
            ),
            (
                r#"{"messages":"hi"}"#,
                "not a chat request",
                "line 1 column",
            ),
            ("{} x", "invalid JSON", "line 1 column"),
        ];
        for (text, what, at) in cases {
            fs::write(&path, text).unwrap();
            let e = Conversation::open(&path).err().unwrap();
            assert_eq!(e.kind.code(), 2, "{text}");
            assert!(
                e.message.starts_with(&format!("-c {name}: ")),
                "{}",
                e.message
            );
            assert!(e.message.contains(what), "{}", e.message);
            assert!(e.message.contains(at), "{}", e.message);
        }
        fs::write(&path, b"{\"messages\":[\"\xff\"]}").unwrap();
        let e = Conversation::open(&path).err().unwrap();
        assert_eq!(
            e.message,
            format!("-c {name} is not valid UTF-8 (first bad byte at offset 14)")
        );
        let e = Conversation::open(&dir.0).err().unwrap();
        assert_eq!(e.kind.code(), 2);
        assert!(e.message.ends_with(": is a directory"), "{}", e.message);
        let e = Conversation::open(&dir.file("no/such/c.json"))
            .err()
            .unwrap();
        assert_eq!(e.kind.code(), 2);
        assert!(e.message.ends_with(": no such directory"), "{}", e.message);
    }

    #[test]
    fn second_open_is_refused_while_the_first_lives() {
        let dir = Dir::new("busy");
        for existing in [true, false] {
            let path = dir.file(&format!("c-{existing}.json"));
            if existing {
                fs::write(&path, BODY).unwrap();
            }
            let first = Conversation::open(&path).unwrap();
            let e = Conversation::open(&path).err().unwrap();
            assert_eq!(e.kind.code(), 2);
            assert_eq!(
                e.message,
                format!("{} is in use by another orstream", path.display())
            );
            // Still refused after the first saved: the new file is locked
            // before it takes FILE's place.
            first
                .save_with(&mut |w| w.write_all(BODY.as_bytes()))
                .unwrap();
            let e = Conversation::open(&path).err().unwrap();
            assert!(e.message.ends_with("is in use by another orstream"));
            drop(first);
            let next = Conversation::open(&path).unwrap();
            assert!(next.body().is_some());
        }
    }

    #[test]
    fn failed_save_leaves_everything_as_it_was() {
        let dir = Dir::new("fail");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let chat = Conversation::open(&path).unwrap();
        let e = chat
            .save_with(&mut |w| {
                w.write_all(&[b'x'; 100_000])?;
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            })
            .unwrap_err();
        assert_eq!(e.kind.code(), 1);
        assert_eq!(
            e.message,
            format!(
                "cannot save the conversation to {}: no space left on device",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), BODY.as_bytes());
        assert_eq!(dir.list(), ["c.json"]);
        // Still held, and a later save still works.
        assert!(Conversation::open(&path).is_err());
        chat.save_with(&mut |w| w.write_all("{\"messages\":[]}".as_bytes()))
            .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"messages\":[]}");

        let missing = dir.file("new.json");
        let chat = Conversation::open(&missing).unwrap();
        let e = chat
            .save_with(&mut |_| Err(io::Error::other("boom")))
            .unwrap_err();
        assert!(e.message.ends_with(": boom"), "{}", e.message);
        drop(chat);
        assert_eq!(dir.list(), ["c.json"]);
    }

    #[test]
    fn the_next_open_sees_the_saved_conversation() {
        let dir = Dir::new("next");
        let path = dir.file("c.json");
        fs::write(&path, BODY).unwrap();
        let chat = Conversation::open(&path).unwrap();
        let saved = saved_body(chat.body().unwrap().clone(), "hello", &[]);
        let text = serde_json::to_string_pretty(&saved).unwrap();
        chat.save_with(&mut |w| w.write_all(text.as_bytes()))
            .unwrap();
        drop(chat);
        let chat = Conversation::open(&path).unwrap();
        assert_eq!(chat.body(), Some(&saved));
    }

    #[test]
    fn saved_body_drops_stream_fields_and_appends_the_answer() {
        let sent: Map<String, Value> = serde_json::from_str(
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"q"}],"stream_options":{"include_usage":true},"temperature":0.5}"#,
        )
        .unwrap();
        let saved = saved_body(sent, "é \"a\"", &[]);
        assert_eq!(
            serde_json::to_string(&saved).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"é \"a\""}],"temperature":0.5}"#
        );
    }

    #[test]
    fn saved_body_moves_a_large_history() {
        let big = "x".repeat(1 << 20);
        let mut sent = Map::new();
        sent.insert("stream".into(), Value::Bool(true));
        sent.insert(
            "messages".into(),
            serde_json::json!([{"role": "user", "content": big}]),
        );
        let ptr = sent["messages"][0]["content"].as_str().unwrap().as_ptr();
        let saved = saved_body(sent, "a", &[]);
        // The same string buffer: moved, not copied.
        assert_eq!(
            saved["messages"][0]["content"].as_str().unwrap().as_ptr(),
            ptr
        );
        assert_eq!(saved["messages"][1]["content"], "a");
        assert!(!saved.contains_key("stream"));
    }
}
