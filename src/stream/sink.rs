//! Where the answer goes as it streams, chosen once per run: the text, the
//! JSON lines, or the first fenced code block.

use crate::config::{Check, SinkKind};
use crate::fence::Extractor;
use crate::output::Out;
use crate::text::minify_json;
use std::borrow::Cow;

pub enum Sink {
    /// The answer text, as it arrives.
    Text,
    /// `--json`: each chunk's data as one JSON line.
    JsonLines,
    /// `-x`: the first fenced code block.
    Extract(Extractor),
    /// `--result`: nothing while streaming; with `-x`, the block is kept
    /// for the object's `code`.
    Result {
        fence: Option<Extractor>,
        code: String,
    },
}

impl Sink {
    pub fn new(kind: SinkKind, check: &Check) -> Sink {
        match kind {
            SinkKind::Text => Sink::Text,
            SinkKind::JsonLines => Sink::JsonLines,
            SinkKind::Extract => Sink::Extract(Extractor::new()),
            SinkKind::Result => Sink::Result {
                fence: (*check == Check::CodeBlock).then(Extractor::new),
                code: String::new(),
            },
        }
    }

    /// Whether answer text reaches stdout (then reasoning and notes on
    /// stderr make way for it).
    pub fn writes_text(&self) -> bool {
        matches!(self, Sink::Text | Sink::Extract(_))
    }

    /// One event's data that is JSON: `--json` writes it as one line.
    /// Returns whether it was written.
    pub fn data(&mut self, data: &str, out: &mut Out) -> bool {
        match self {
            Sink::JsonLines => {
                out.line(json_line(data).as_bytes());
                true
            }
            _ => false,
        }
    }

    /// Answer text.
    pub fn text(&mut self, text: &str, out: &mut Out) {
        match self {
            Sink::Text => out.text(text),
            Sink::JsonLines => {}
            Sink::Extract(fence) => fence.push(text, &mut |code| out.text(code)),
            Sink::Result {
                fence: Some(fence),
                code,
            } => fence.push(text, &mut |piece| code.push_str(piece)),
            Sink::Result { fence: None, .. } => {}
        }
    }

    /// The stream ended, however it ended: `-x` writes what it held back
    /// that is not a closing fence.
    pub fn end(&mut self, out: &mut Out) {
        match self {
            Sink::Extract(fence) => fence.finish(&mut |code| out.text(code)),
            Sink::Result {
                fence: Some(fence),
                code,
            } => fence.finish(&mut |piece| code.push_str(piece)),
            _ => {}
        }
    }

    /// `-x` saw no opening fence.
    pub fn missed_code_block(&self) -> bool {
        match self {
            Sink::Extract(fence)
            | Sink::Result {
                fence: Some(fence), ..
            } => !fence.found(),
            _ => false,
        }
    }

    /// `--result -x`: the extracted block, `None` when there was none.
    pub fn code(&self) -> Option<&str> {
        match self {
            Sink::Result {
                fence: Some(fence),
                code,
            } if fence.found() => Some(code),
            _ => None,
        }
    }
}

/// One JSON line: the data as received when it is one line, else minified.
fn json_line(text: &str) -> Cow<'_, str> {
    // A byte search: `str::contains` with a char set goes char by char.
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        Cow::Owned(minify_json(text))
    } else {
        Cow::Borrowed(text)
    }
}
