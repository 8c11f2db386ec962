//! Reading a stream: bytes → events → chunks → output, and how it ended.
//!
//! The same loop serves a live response and a `--from-sse` recording, so a
//! replay prints and exits exactly as the live stream would have.

use crate::cancel;
use crate::chunk::{minify_json, one_line, Chunk, Delta, Text, Usage};
use crate::config::{Format, OutputOptions};
use crate::exit::{Failure, Kind};
use crate::fence::Extractor;
use crate::output::{say, Out};
use crate::sse::{Event, Splitter};
use crate::ui::Ui;
use std::borrow::Cow;
use std::io::{self, Read};

/// How a stream that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `data: [DONE]` arrived.
    Done,
    /// EOF after a `finish_reason` (no `[DONE]`).
    Finished,
    /// A whole non-streamed JSON completion was read.
    Whole,
}

/// What the stream told us along the way, for `-u` and `-v`.
#[derive(Debug, Default)]
pub struct Session {
    pub opts: Option<OutputOptions>,
    pub finish_reason: Option<String>,
    pub id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub usage: Option<Usage>,
    pub content_chunks: u64,
    pub not_json: u64,
    /// The answer text, kept when a check or a conversation file needs it.
    pub answer: Answer,
    /// `-x`: stdout gets only the first fenced code block.
    extractor: Option<Extractor>,
    /// What the extractor lets through, reused across deltas.
    code: String,
    tool_note: bool,
    reasoning_open: bool,
}

/// The whole answer text, up to a limit (memory stays bounded when only the
/// `--schema` check needs it).
#[derive(Debug, Default)]
pub struct Answer {
    limit: usize,
    text: String,
    overflow: bool,
}

impl Answer {
    /// Keeps up to `limit` bytes of answer text (0: keeps nothing).
    pub fn keep(limit: usize) -> Answer {
        Answer {
            limit,
            ..Answer::default()
        }
    }

    fn push(&mut self, text: &str) {
        if self.overflow || self.limit == 0 {
            return;
        }
        if self.text.len() + text.len() > self.limit {
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
}

/// Continue, or stop reading because the stream is complete.
enum Flow {
    More,
    Done,
}

impl Session {
    pub fn new(opts: OutputOptions) -> Session {
        Session {
            opts: Some(opts),
            ..Session::default()
        }
    }

    /// Keeps the answer text (see [`Answer::keep`]).
    pub fn keep_answer(mut self, answer: Answer) -> Session {
        self.answer = answer;
        self
    }

    /// `-x`: routes the answer through the fence extractor.
    pub fn extract(mut self) -> Session {
        self.extractor = Some(Extractor::new());
        self
    }

    /// The stream ended, however it ended: `-x` writes what it held back
    /// that is not a closing fence, and open reasoning on stderr is ended.
    pub fn end(&mut self, out: &mut Out, ui: &mut Ui) {
        if self.reasoning_open {
            // Reasoning cut short (a signal, an error) still ends its line.
            ui.end_reasoning();
            self.reasoning_open = false;
        }
        if let Some(x) = &mut self.extractor {
            let mut rest = String::new();
            x.finish(&mut rest);
            out.text(&rest);
        }
    }

    /// `-x` saw no opening fence.
    pub fn no_code_block(&self) -> bool {
        self.extractor.as_ref().is_some_and(|x| !x.found())
    }

    fn opts(&self) -> OutputOptions {
        self.opts.expect("session built with options")
    }

    /// Handles one event's data.
    fn on_data(&mut self, data: &[u8], out: &mut Out, ui: &mut Ui) -> Result<Flow, Failure> {
        if data.trim_ascii() == b"[DONE]" {
            return Ok(Flow::Done);
        }
        if data.trim_ascii().is_empty() {
            return Ok(Flow::More);
        }
        let text = utf8_lossy(data);
        match Chunk::parse(&text) {
            Ok(chunk) => {
                if self.opts().format == Format::Json {
                    ui.stop_spinner();
                    out.line(json_line(&text).as_bytes());
                }
                self.on_chunk(&chunk, false, out, ui)?;
            }
            Err(_) => self.on_odd_data(&text, out, ui)?,
        }
        Ok(Flow::More)
    }

    /// Data that did not fit the chunk shape: valid JSON of another shape
    /// (kept in `--json`, checked for an `error`), or not JSON at all (skipped).
    fn on_odd_data(&mut self, text: &str, out: &mut Out, ui: &mut Ui) -> Result<(), Failure> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            self.not_json += 1;
            return Ok(());
        };
        if self.opts().format == Format::Json {
            ui.stop_spinner();
            out.line(json_line(text).as_bytes());
        }
        match value.get("error") {
            Some(serde_json::Value::Null) | None => Ok(()),
            Some(err) => {
                let message = err
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| match err {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                Err(self.stream_error(None, &message))
            }
        }
    }

    /// Handles a decoded chunk; `whole` for a non-streamed completion.
    fn on_chunk(
        &mut self,
        chunk: &Chunk<'_>,
        whole: bool,
        out: &mut Out,
        ui: &mut Ui,
    ) -> Result<(), Failure> {
        let verbose = self.opts().verbose;
        if let Some(id) = &chunk.id {
            if self.id.as_deref() != Some(id.as_str()) {
                self.id = Some(id.as_str().to_string());
                if verbose {
                    say(&format!("* generation id: {}", id.as_str()));
                }
            }
        }
        if let Some(p) = &chunk.provider {
            if self.provider.as_deref() != Some(p.as_str()) {
                self.provider = Some(p.as_str().to_string());
                if verbose {
                    say(&format!("* provider: {}", p.as_str()));
                }
            }
        }
        if let Some(m) = &chunk.model {
            if self.model.as_deref() != Some(m.as_str()) {
                self.model = Some(m.as_str().to_string());
            }
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        // Text that arrives in the error chunk itself is part of the answer:
        // it is written before the error ends the stream.
        let choice = chunk.first_choice();
        let delta = choice.and_then(|c| {
            if whole {
                c.message.as_ref().or(c.delta.as_ref())
            } else {
                c.delta.as_ref()
            }
        });
        if let Some(delta) = delta {
            self.on_delta(delta, out, ui);
        }
        if let Some(err) = &chunk.error {
            let provider = chunk
                .provider
                .as_ref()
                .map(Text::as_str)
                .or(self.provider.as_deref());
            let message = err.describe(provider);
            return Err(Failure::new(Kind::Server, message));
        }
        if let Some(c) = chunk.errored_choice() {
            let native = c
                .native_finish_reason
                .as_ref()
                .map(|n| n.as_str())
                .unwrap_or("none given");
            let message = format!("generation failed (native_finish_reason: {native})");
            return Err(self.stream_error(chunk.provider.as_ref().map(|p| p.as_str()), &message));
        }
        let Some(choice) = choice else {
            return Ok(());
        };
        if self.finish_reason.is_none() {
            // Any non-null value counts, even Ollama's "".
            if let Some(reason) = choice.finish_reason.as_ref() {
                let reason = reason.as_str();
                self.finish_reason = Some(reason.to_string());
                if verbose {
                    say(&format!("* finish_reason: {reason}"));
                }
                let warning = match reason {
                    "length" => Some("the answer was cut short: the token limit was reached (finish_reason: length)"),
                    "content_filter" => Some("the answer was filtered by the provider (finish_reason: content_filter)"),
                    _ => None,
                };
                if let Some(w) = warning {
                    ui.warn(w);
                }
            }
        }
        Ok(())
    }

    fn on_delta(&mut self, delta: &Delta<'_>, out: &mut Out, ui: &mut Ui) {
        let opts = self.opts();
        if let Some(r) = delta.reasoning_text() {
            if opts.reasoning {
                ui.reasoning(r);
                self.reasoning_open = !r.ends_with('\n');
            } else {
                ui.thinking();
            }
        }
        if let Some(text) = delta.text() {
            self.content_chunks += 1;
            self.answer.push(text);
            ui.first_token();
            if opts.format == Format::Text {
                if self.reasoning_open {
                    ui.end_reasoning();
                    self.reasoning_open = false;
                }
                match &mut self.extractor {
                    Some(x) => {
                        self.code.clear();
                        x.push(text, &mut self.code);
                        out.text(&self.code);
                    }
                    None => out.text(text),
                }
            }
        }
        if delta.has_tool_calls() && opts.format == Format::Text && !self.tool_note {
            self.tool_note = true;
            ui.warn(
                "the model asked to call tools; tool calls are not text (use --json to see them)",
            );
        }
    }

    /// A mid-stream error message, named by provider when known.
    fn stream_error(&self, provider: Option<&str>, message: &str) -> Failure {
        let provider = provider
            .or(self.provider.as_deref())
            .filter(|p| !p.is_empty());
        let line = match provider {
            Some(p) => format!("{p}: {message}"),
            None => message.to_string(),
        };
        Failure::new(Kind::Server, one_line(&line, 500))
    }

    fn warn_not_json(&self, ui: &mut Ui) {
        if self.not_json > 0 {
            let s = if self.not_json == 1 { "" } else { "s" };
            ui.warn(&format!(
                "skipped {} event{s} whose data was not JSON",
                self.not_json
            ));
        }
    }
}

/// The data as text; invalid UTF-8 becomes U+FFFD. `str::from_utf8` first:
/// its word-at-a-time ASCII path is several times faster than the lossy
/// decoder, which is only needed when the data really is broken.
fn utf8_lossy(data: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(data) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(data),
    }
}

/// The reader of stdout went away while we waited on the network (the
/// watcher in `cancel` shut the socket): end as a broken pipe would.
fn stdout_gone() -> Option<io::Error> {
    cancel::stdout_closed().then(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdout closed"))
}

/// One JSON line: the data as received when it is one line, else minified.
fn json_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(minify_json(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// What a read error means: `None` when it only ends the stream (a dropped
/// connection, judged like EOF), or the failure to report (a timeout, a bad
/// file).
pub type ReadError<'a> = &'a dyn Fn(io::Error) -> Option<Failure>;

/// Reads an event stream to its end, writing the answer as it arrives.
pub fn pump(
    reader: &mut dyn Read,
    session: &mut Session,
    out: &mut Out,
    ui: &mut Ui,
    read_error: ReadError<'_>,
) -> anyhow::Result<Ending> {
    let mut splitter = Splitter::new();
    let mut buf = vec![0u8; 32 * 1024];
    let result = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => {
                if cancel::cancelled() {
                    return Err(Failure::interrupted().into());
                }
                if let Some(gone) = stdout_gone() {
                    return Err(gone.into());
                }
                break None;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if cancel::cancelled() {
                    return Err(Failure::interrupted().into());
                }
                if let Some(gone) = stdout_gone() {
                    return Err(gone.into());
                }
                let verbose = session.opts().verbose;
                match read_error(e) {
                    Some(failure) => {
                        out.flush()?;
                        return Err(failure.into());
                    }
                    None => {
                        if verbose {
                            say("* the connection dropped");
                        }
                        break None;
                    }
                }
            }
        };
        if cancel::cancelled() {
            return Err(Failure::interrupted().into());
        }
        splitter.push(&buf[..n]);
        let mut done = false;
        loop {
            match splitter.next_event() {
                Ok(Some(Event::Data(data))) => match session.on_data(data, out, ui) {
                    Ok(Flow::More) => {}
                    Ok(Flow::Done) => {
                        done = true;
                        break;
                    }
                    Err(f) => {
                        out.flush()?;
                        session.warn_not_json(ui);
                        return Err(f.into());
                    }
                },
                Ok(Some(Event::Comment(c))) => ui.comment(&String::from_utf8_lossy(c)),
                Ok(None) => break,
                Err(e) => {
                    out.flush()?;
                    return Err(Failure::new(Kind::Server, format!("{e}: stream aborted")).into());
                }
            }
        }
        out.flush()?;
        if done {
            break Some(Ending::Done);
        }
    };
    session.warn_not_json(ui);
    match result {
        Some(ending) => Ok(ending),
        None if session.finish_reason.is_some() => {
            if session.opts().verbose {
                say("* the stream ended after a finish_reason but without [DONE]");
            }
            Ok(Ending::Finished)
        }
        None => Err(Failure::new(Kind::Network, "stream ended before completion").into()),
    }
}

/// Handles a 200 `application/json` body: one whole completion.
pub fn whole(
    body: &[u8],
    session: &mut Session,
    out: &mut Out,
    ui: &mut Ui,
) -> anyhow::Result<Ending> {
    let text = String::from_utf8_lossy(body);
    let chunk = match Chunk::parse(&text) {
        Ok(c) => c,
        Err(_) => {
            session.on_odd_data(&text, out, ui)?;
            return Err(Failure::new(
                Kind::Server,
                "the server sent a JSON body that is not a completion",
            )
            .into());
        }
    };
    if session.opts().format == Format::Json {
        ui.stop_spinner();
        out.line(json_line(text.trim_end()).as_bytes());
    }
    let result = session.on_chunk(&chunk, true, out, ui);
    out.flush()?;
    result?;
    Ok(Ending::Whole)
}
