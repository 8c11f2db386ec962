//! The whole answer as it accumulates (SPEC §11): its text (kept as far as
//! it is needed), how it finished, what the stream said about it (id,
//! model, provider, usage), tool calls assembled from their fragments,
//! sources, reasoning and structured reasoning merged by index, and the
//! images once the stream engine has dealt with them. Pure: fed chunk by
//! chunk, read by every sink, the checks, the usage line, the result
//! object and the conversation file.

use crate::chunk::{Chunk, Delta, ImagePart, Text, Usage};
use crate::text::minify_json;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// How much answer text to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// None: only the sink needs it, as it passes.
    Nothing,
    /// Up to this many bytes (the `--schema` check); past it, nothing.
    UpTo(usize),
    /// All of it, whatever its size (a conversation or a result saves it).
    All,
}

/// What to keep beyond what is always kept (metadata, usage, the finish
/// reason, tool calls, sources, images): each costs memory or decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    pub text: Keep,
    /// The reasoning text (`--result --reasoning`).
    pub reasoning: bool,
    /// The merged `reasoning_details` (`-c`, `--result --reasoning`).
    pub details: bool,
}

impl Wants {
    pub fn text(text: Keep) -> Wants {
        Wants {
            text,
            reasoning: false,
            details: false,
        }
    }
}

/// Where a completion carries its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A streamed chunk's `delta`.
    Delta,
    /// A whole completion's `message` (or a `delta`, for lenient servers).
    Message,
}

/// A tool call assembled from its fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub index: u64,
    pub id: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// A source, once per URL; its title the first one given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    pub url: String,
    pub title: Option<String>,
}

/// An image of the answer, as the stream engine dealt with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// A data URL, decoded: where it was saved (`None` without `--images`),
    /// its type from its magic bytes, its size.
    Data {
        path: Option<String>,
        mime: &'static str,
        bytes: u64,
    },
    /// An `http(s)` URL, never fetched.
    Link(String),
}

#[derive(Debug)]
pub struct Answer {
    wants: Wants,
    text: String,
    overflow: bool,
    /// The first non-null `finish_reason`.
    pub finish_reason: Option<String>,
    /// The last value the stream reported for each.
    pub id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    usage: Option<Box<RawValue>>,
    tool_calls: Vec<ToolCall>,
    citations: Vec<Citation>,
    reasoning: String,
    details: Vec<Map<String, Value>>,
    images: Vec<Image>,
}

/// What a chunk changed, for the `-v` trace.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Noted {
    pub new_id: bool,
    pub new_provider: bool,
}

/// What one chunk brought that is written as it comes.
#[derive(Debug, Default)]
pub struct Step<'c> {
    pub noted: Noted,
    /// Answer text (`null` and `""` are none).
    pub text: Option<&'c str>,
    /// Reasoning text (`reasoning`, or `reasoning_content` from others).
    pub reasoning: Option<&'c str>,
    /// Images to decode and save (one at a time, by the engine).
    pub images: &'c [ImagePart<'c>],
    /// The model asked for tools.
    pub tool_calls: bool,
    /// The finish reason, when this chunk brought the first one.
    pub finish: Option<&'c str>,
}

impl Answer {
    pub fn new(wants: Wants) -> Answer {
        Answer {
            wants,
            text: String::new(),
            overflow: false,
            finish_reason: None,
            id: None,
            model: None,
            provider: None,
            usage: None,
            tool_calls: Vec::new(),
            citations: Vec::new(),
            reasoning: String::new(),
            details: Vec::new(),
            images: Vec::new(),
        }
    }

    /// Takes one chunk: everything it says is recorded; what is written as
    /// it comes is returned.
    pub fn apply<'c>(&mut self, chunk: &'c Chunk<'c>, carrier: Carrier) -> Step<'c> {
        let mut step = Step {
            noted: self.note(chunk),
            ..Step::default()
        };
        let choice = chunk.first_choice();
        let delta = choice.and_then(|c| match carrier {
            Carrier::Message => c.message.as_ref().or(c.delta.as_ref()),
            Carrier::Delta => c.delta.as_ref(),
        });
        if let Some(delta) = delta {
            self.take_delta(delta, &mut step);
        }
        // Within one chunk, annotations come before the bare URLs.
        for url in chunk.citations.iter().flatten() {
            self.cite(url.as_str(), None);
        }
        if let Some(reason) = choice.and_then(|c| c.finish_reason.as_ref()) {
            if self.finish_reason.is_none() {
                // Any non-null value counts, even Ollama's "".
                self.finish_reason = Some(reason.as_str().to_string());
                step.finish = Some(reason.as_str());
            }
        }
        step
    }

    /// Takes the delta of a chunk whose other parts were taken before
    /// (the fast path): the same as [`Answer::apply`] of that chunk.
    pub fn apply_delta<'c>(&mut self, delta: &'c Delta<'c>) -> Step<'c> {
        let mut step = Step::default();
        self.take_delta(delta, &mut step);
        step
    }

    /// Whether `reasoning_details` are read.
    pub fn keeps_details(&self) -> bool {
        self.wants.details
    }

    fn take_delta<'c>(&mut self, delta: &'c Delta<'c>, step: &mut Step<'c>) {
        if let Some(text) = delta.text() {
            self.push_text(text);
            step.text = Some(text);
        }
        if let Some(r) = delta.reasoning_text() {
            if self.wants.reasoning {
                self.reasoning.push_str(r);
            }
            step.reasoning = Some(r);
        }
        if let Some(calls) = &delta.tool_calls {
            for call in calls {
                self.merge_tool_call(call);
            }
            step.tool_calls = !calls.is_empty();
        }
        if let Some(images) = &delta.images {
            step.images = images;
        }
        for a in delta.annotations.iter().flatten() {
            let is_citation = a.kind.as_ref().is_none_or(|k| k.as_str() == "url_citation");
            if let (true, Some(c)) = (is_citation, &a.url_citation) {
                if let Some(url) = &c.url {
                    self.cite(url.as_str(), c.title.as_ref().map(Text::as_str));
                }
            }
        }
        if self.wants.details {
            for raw in delta.reasoning_details.iter().flatten() {
                if let Ok(entry) = serde_json::from_str::<Map<String, Value>>(raw.get()) {
                    merge_detail(&mut self.details, entry);
                }
            }
        }
    }

    /// Adds answer text, as far as it is kept.
    pub fn push_text(&mut self, text: &str) {
        let limit = match self.wants.text {
            Keep::Nothing => return,
            _ if self.overflow => return,
            Keep::UpTo(limit) => limit,
            Keep::All => usize::MAX,
        };
        if self.text.len().saturating_add(text.len()) > limit {
            self.overflow = true;
            self.text = String::new();
        } else {
            self.text.push_str(text);
        }
    }

    /// The whole text, or `None` when it grew past the limit.
    pub fn text(&self) -> Option<&str> {
        (!self.overflow).then_some(self.text.as_str())
    }

    /// Records the chunk's id, model, provider and usage.
    fn note(&mut self, chunk: &Chunk<'_>) -> Noted {
        let mut noted = Noted::default();
        if let Some(id) = &chunk.id {
            noted.new_id = replace(&mut self.id, id.as_str());
        }
        if let Some(p) = &chunk.provider {
            noted.new_provider = replace(&mut self.provider, p.as_str());
        }
        if let Some(m) = &chunk.model {
            replace(&mut self.model, m.as_str());
        }
        if let Some(u) = chunk.usage {
            // As received, but on one line: the result object is one.
            let compact = minify_json(u.get());
            self.usage = RawValue::from_string(compact).ok();
        }
        noted
    }

    fn merge_tool_call(&mut self, delta: &crate::chunk::ToolCallDelta<'_>) {
        let index = delta.index.unwrap_or(0);
        let call = match self.tool_calls.iter().position(|c| c.index == index) {
            Some(i) => &mut self.tool_calls[i],
            None => {
                self.tool_calls.push(ToolCall {
                    index,
                    id: None,
                    kind: None,
                    name: None,
                    arguments: String::new(),
                });
                self.tool_calls.last_mut().expect("just pushed")
            }
        };
        let first = |slot: &mut Option<String>, value: Option<&Text<'_>>| {
            if let (None, Some(v)) = (&slot, value) {
                *slot = Some(v.as_str().to_string());
            }
        };
        first(&mut call.id, delta.id.as_ref());
        first(&mut call.kind, delta.kind.as_ref());
        if let Some(f) = &delta.function {
            first(&mut call.name, f.name.as_ref());
            if let Some(a) = &f.arguments {
                call.arguments.push_str(a.as_str());
            }
        }
    }

    /// A source: once per URL, in order of first appearance; a title once
    /// given is kept.
    fn cite(&mut self, url: &str, title: Option<&str>) {
        match self.citations.iter_mut().find(|c| c.url == url) {
            Some(c) => {
                if c.title.is_none() {
                    c.title = title.map(str::to_string);
                }
            }
            None => self.citations.push(Citation {
                url: url.to_string(),
                title: title.map(str::to_string),
            }),
        }
    }

    /// The engine dealt with an image of the answer.
    pub fn push_image(&mut self, image: Image) {
        self.images.push(image);
    }

    /// The last usage object received, as received.
    pub fn usage_raw(&self) -> Option<&RawValue> {
        self.usage.as_deref()
    }

    /// The usage figures, for `-u` and the budget.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_deref().and_then(Usage::read)
    }

    /// The tool calls, in order of `index`.
    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        let mut calls: Vec<&ToolCall> = self.tool_calls.iter().collect();
        calls.sort_by_key(|c| c.index);
        calls
    }

    pub fn citations(&self) -> &[Citation] {
        &self.citations
    }

    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The reasoning text, when it was kept.
    pub fn reasoning(&self) -> &str {
        &self.reasoning
    }

    /// The merged structured reasoning, when it was kept.
    pub fn reasoning_details(&self) -> &[Map<String, Value>] {
        &self.details
    }
}

/// Merges a `reasoning_details` entry: one whose numeric `index` equals an
/// earlier entry's is merged into it (its `text`, `summary` and `data`
/// strings appended, any other field taken from the later entry); any
/// other entry is appended.
fn merge_detail(details: &mut Vec<Map<String, Value>>, entry: Map<String, Value>) {
    let index = entry.get("index").and_then(Value::as_f64);
    let earlier = index.and_then(|i| {
        details
            .iter_mut()
            .find(|d| d.get("index").and_then(Value::as_f64) == Some(i))
    });
    let Some(earlier) = earlier else {
        details.push(entry);
        return;
    };
    for (key, value) in entry {
        let appended = matches!(key.as_str(), "text" | "summary" | "data");
        match (appended, earlier.get_mut(&key), value) {
            (true, Some(Value::String(old)), Value::String(more)) => old.push_str(&more),
            (_, _, value) => {
                earlier.insert(key, value);
            }
        }
    }
}

/// Sets `slot` to `value`; true when that changed it.
fn replace(slot: &mut Option<String>, value: &str) -> bool {
    if slot.as_deref() == Some(value) {
        return false;
    }
    *slot = Some(value.to_string());
    true
}

#[cfg(test)]
mod tests;
