//! The fast path for the common chunk: the same bytes as the chunk before,
//! but for the text of `content` and `reasoning` (pure).
//!
//! OpenRouter's chunks in one stream differ only in their text: the id, the
//! model, the provider, the keys and their order stay the same. So once a
//! chunk was decoded in full and found plain (text and nothing else that
//! acts), its bytes become a [`Template`] with holes where its text strings
//! lie. A later chunk that has the template's bytes around the holes, and in
//! each hole a string with no escape and no control byte, decodes to the
//! template's chunk with only those strings changed: its delta is read from
//! the holes and nothing else is parsed. Anything else (another shape, an
//! escape, a finish reason, an error, usage) is left to the full parse.

use super::lenient::text;
use super::{Chunk, Delta, Text};
use serde::Deserialize;
use std::borrow::Cow;

/// Which string a hole is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Content,
    Reasoning,
    ReasoningContent,
    /// A `reasoning_details` text, read by no one here.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    /// The string's content (between its quotes) in the template's bytes.
    start: usize,
    end: usize,
    role: Role,
}

/// A plain chunk's bytes, with holes where its text strings lie.
#[derive(Debug)]
pub struct Template {
    bytes: Vec<u8>,
    holes: Vec<Hole>,
}

/// The fast path of one stream: the template of the last chunk decoded in
/// full, if it was plain.
///
/// ```text
/// match fast.plain(data) {
///     Some(delta) => answer.apply_delta(&delta),
///     None => { let chunk = Chunk::parse(text)?; fast.decoded(text, &chunk, …); answer.apply(&chunk, …) }
/// }
/// ```
#[derive(Debug, Default)]
pub struct FastPath {
    template: Option<Template>,
    /// The last data had the template's shape: the template stands.
    same_shape: bool,
}

impl FastPath {
    /// The delta of `data` when it is the template's chunk with new text;
    /// `None` when it must be decoded in full (and then told to
    /// [`FastPath::decoded`]).
    pub fn plain<'d>(&mut self, data: &'d [u8]) -> Option<Delta<'d>> {
        let found = self.template.as_ref().map(|t| t.matches(data));
        self.same_shape = matches!(found, Some(Match::Escaped));
        match found {
            Some(Match::Plain(delta)) => Some(delta),
            _ => None,
        }
    }

    /// A chunk was decoded in full from `data` (`None`: from bytes that
    /// were not UTF-8) and taken: it is the template now, or there is none.
    pub fn decoded(&mut self, data: Option<&str>, chunk: &Chunk<'_>, keep_details: bool) {
        if !self.same_shape {
            self.template = data.and_then(|d| Template::learn(d, chunk, keep_details));
        }
    }
}

/// What a chunk is, seen through a template.
#[derive(Debug)]
pub enum Match<'d> {
    /// The template's chunk with new text: its delta.
    Plain(Delta<'d>),
    /// The template's shape, but a hole holds an escape or a control byte:
    /// decode it in full; the template still stands for what follows.
    Escaped,
    /// Another chunk: decode it in full and learn again.
    Other,
}

/// The texts of one `reasoning_details` entry, to find where they lie.
#[derive(Deserialize)]
struct DetailTexts<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    text: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    summary: Option<Text<'a>>,
}

impl Template {
    /// The template of a chunk decoded in full from `data`, when the chunk
    /// is plain: no error, usage, sources, finish reason, tool calls,
    /// images or annotations, and text strings without escapes. With
    /// `keep_details`, the `reasoning_details` are read, so a chunk that has
    /// any is not plain either.
    pub fn learn(data: &str, chunk: &Chunk<'_>, keep_details: bool) -> Option<Template> {
        let plain = chunk.error.is_none()
            && chunk.usage.is_none()
            && chunk.citations.as_ref().is_none_or(Vec::is_empty)
            && chunk
                .choices
                .iter()
                .flatten()
                .all(|c| c.finish_reason.is_none());
        if !plain {
            return None;
        }
        let mut holes = Vec::new();
        if let Some(delta) = chunk.first_choice().and_then(|c| c.delta.as_ref()) {
            let quiet = delta.tool_calls.as_ref().is_none_or(Vec::is_empty)
                && delta.images.as_ref().is_none_or(Vec::is_empty)
                && delta.annotations.as_ref().is_none_or(Vec::is_empty);
            if !quiet {
                return None;
            }
            for (field, role) in [
                (&delta.content, Role::Content),
                (&delta.reasoning, Role::Reasoning),
                (&delta.reasoning_content, Role::ReasoningContent),
            ] {
                if let Some(t) = field {
                    holes.push(hole(data, t, role)?);
                }
            }
            for raw in delta.reasoning_details.iter().flatten() {
                if keep_details {
                    return None;
                }
                let texts: DetailTexts = serde_json::from_str(raw.get()).ok()?;
                for t in [texts.text, texts.summary].iter().flatten() {
                    holes.push(hole(data, t, Role::Ignored)?);
                }
            }
        }
        holes.sort_unstable_by_key(|h| h.start);
        if holes.windows(2).any(|w| w[0].end >= w[1].start) {
            return None;
        }
        Some(Template {
            bytes: data.as_bytes().to_vec(),
            holes,
        })
    }

    /// Sees `data` through the template.
    pub fn matches<'d>(&self, data: &'d [u8]) -> Match<'d> {
        let mut delta = Delta::default();
        let mut escaped = false;
        // `at` walks `data`; `from` walks the template.
        let (mut at, mut from) = (0, 0);
        for hole in &self.holes {
            let literal = &self.bytes[from..hole.start];
            if !data[at..].starts_with(literal) {
                return Match::Other;
            }
            at += literal.len();
            let Some((len, clean)) = string_at(&data[at..]) else {
                return Match::Other;
            };
            let value = &data[at..at + len];
            at += len;
            from = hole.end;
            if !clean {
                escaped = true;
                continue;
            }
            let Ok(value) = std::str::from_utf8(value) else {
                return Match::Other;
            };
            let value = Some(Text(Cow::Borrowed(value)));
            match hole.role {
                Role::Content => delta.content = value,
                Role::Reasoning => delta.reasoning = value,
                Role::ReasoningContent => delta.reasoning_content = value,
                Role::Ignored => {}
            }
        }
        if data[at..] != self.bytes[from..] {
            return Match::Other;
        }
        if escaped {
            Match::Escaped
        } else {
            Match::Plain(delta)
        }
    }
}

impl Template {
    /// The template's bytes with `values[i]` in hole `i` (the last value
    /// repeated; empty without values): candidates for tests and fuzzing.
    pub fn fill(&self, values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut from = 0;
        for (i, hole) in self.holes.iter().enumerate() {
            out.extend_from_slice(&self.bytes[from..hole.start]);
            let value = values.get(i).or(values.last()).copied().unwrap_or(b"");
            out.extend_from_slice(value);
            from = hole.end;
        }
        out.extend_from_slice(&self.bytes[from..]);
        out
    }
}

/// The oracle of the fast path, for tests and fuzzing: learns a template
/// from `first` (when it is a plain chunk) and checks that what it makes of
/// `next` is what the full parse makes of it. Returns what it saw.
pub fn check_against_full_parse(
    first: &str,
    next: &[u8],
    keep_details: bool,
) -> Result<&'static str, String> {
    let Ok(a) = Chunk::parse(first) else {
        return Ok("first not a chunk");
    };
    let Some(template) = Template::learn(first, &a, keep_details) else {
        return Ok("first not plain");
    };
    let full = std::str::from_utf8(next).ok().map(Chunk::parse);
    let (delta, seen) = match template.matches(next) {
        Match::Other => return Ok("other"),
        Match::Plain(delta) => (Some(delta), "plain"),
        Match::Escaped => (None, "escaped"),
    };
    let b = match (full, &delta) {
        (Some(Ok(b)), _) => b,
        // An escape may be a bad one: then the full parse fails too.
        (_, None) => return Ok("escaped, not a chunk"),
        (Some(Err(e)), Some(_)) => return Err(format!("plain, but the full parse fails: {e}")),
        (None, Some(_)) => return Err("plain, but not UTF-8".into()),
    };
    if let Some(delta) = &delta {
        let full_delta = b.first_choice().and_then(|c| c.delta.as_ref());
        // No delta reads as an empty one: neither has text.
        let texts = |d: Option<&Delta<'_>>| {
            d.map_or([None, None, None], |d| {
                [&d.content, &d.reasoning, &d.reasoning_content]
                    .map(|t| t.as_ref().map(|t| t.as_str().to_string()))
            })
        };
        if texts(Some(delta)) != texts(full_delta) {
            return Err(format!(
                "texts differ: fast {:?}, full {:?}",
                texts(Some(delta)),
                texts(full_delta)
            ));
        }
    }
    let (a, b) = (without_texts(a), without_texts(b));
    if a != b {
        return Err(format!("the rest differs:\n{a}\n{b}"));
    }
    Ok(seen)
}

/// A chunk's debug form without its delta's texts and reasoning details.
fn without_texts(mut chunk: Chunk<'_>) -> String {
    if let Some(d) = chunk
        .choices
        .as_mut()
        .and_then(|c| c.first_mut())
        .and_then(|c| c.delta.as_mut())
    {
        d.content = None;
        d.reasoning = None;
        d.reasoning_content = None;
        d.reasoning_details = None;
    }
    format!("{chunk:?}")
}

/// Where a borrowed string of a chunk decoded from `data` lies in it.
fn hole(data: &str, t: &Text<'_>, role: Role) -> Option<Hole> {
    let Cow::Borrowed(s) = &t.0 else {
        // It had an escape: its bytes are not its text.
        return None;
    };
    let start = (s.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let end = start + s.len();
    let bytes = data.as_bytes();
    let quoted = start > 0 && bytes.get(start - 1) == Some(&b'"') && bytes.get(end) == Some(&b'"');
    quoted.then_some(Hole { start, end, role })
}

/// The length of the JSON string content at the start of `rest` (up to its
/// closing quote), and whether it is clean: no escape, no control byte.
/// `None` when the string does not end.
fn string_at(rest: &[u8]) -> Option<(usize, bool)> {
    let quote = memchr::memchr(b'"', rest)?;
    let value = &rest[..quote];
    if !value.iter().any(|&b| b == b'\\' || b < 0x20) {
        return Some((quote, true));
    }
    // An escape may hide a quote: walk it.
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'"' => return Some((i, false)),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests;
