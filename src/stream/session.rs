//! One stream's bookkeeping: each event's data → a chunk → the answer, the
//! sink and stderr; mid-stream errors; how the stream ended.

use super::images::Images;
use super::sink::Sink;
use crate::answer::{Answer, Carrier, Step};
use crate::chunk::{Chunk, FastPath, Text};
use crate::config::OutputOptions;
use crate::exit::{Failure, Kind};
use crate::output::{say, Out};
use crate::text::one_line;
use crate::ui::Ui;
use std::borrow::Cow;

/// Continue, or stop reading because the stream is complete.
pub enum Flow {
    More,
    Done,
}

pub struct Session {
    pub answer: Answer,
    sink: Sink,
    images: Images,
    verbose: bool,
    /// `--reasoning`: reasoning goes to stderr.
    show_reasoning: bool,
    /// Events whose data was not JSON, reported once at the end.
    not_json: u64,
    tool_note: bool,
    /// Reasoning on stderr has no line end yet.
    reasoning_open: bool,
    /// The last chunk decoded in full, when it was plain: the next ones
    /// that only change its text skip the full parse.
    fast: FastPath,
}

impl Session {
    pub fn new(opts: &OutputOptions, answer: Answer) -> Session {
        Session {
            answer,
            sink: Sink::new(opts.sink, &opts.check),
            images: Images::new(opts.images.clone()),
            verbose: opts.verbose,
            show_reasoning: opts.reasoning,
            not_json: 0,
            tool_note: false,
            reasoning_open: false,
            fast: FastPath::default(),
        }
    }

    /// Reasoning goes into the answer only, not to stderr (an item of
    /// `--each`).
    pub fn keep_reasoning_off_stderr(mut self) -> Session {
        self.show_reasoning = false;
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
        self.sink.end(out);
        self.images.end(ui);
    }

    /// `--result -x`: the extracted block, `None` when there was none.
    pub fn code(&self) -> Option<&str> {
        self.sink.code()
    }

    /// `-x` saw no opening fence.
    pub fn missed_code_block(&self) -> bool {
        self.sink.missed_code_block()
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Handles one event's data.
    pub fn on_data(&mut self, data: &[u8], out: &mut Out, ui: &mut Ui) -> Result<Flow, Failure> {
        if data.trim_ascii() == b"[DONE]" {
            return Ok(Flow::Done);
        }
        if data.trim_ascii().is_empty() {
            return Ok(Flow::More);
        }
        if let Some(delta) = self.fast.plain(data) {
            if let Sink::JsonLines = self.sink {
                // The template's bytes and the holes are UTF-8: no loss.
                self.write_data(&utf8_lossy(data), out, ui);
            }
            let step = self.answer.apply_delta(&delta);
            self.on_step(&step, out, ui);
            return Ok(Flow::More);
        }
        let text = utf8_lossy(data);
        match Chunk::parse(&text) {
            Ok(chunk) => {
                let valid = match &text {
                    Cow::Borrowed(text) => Some(*text),
                    Cow::Owned(_) => None,
                };
                self.fast
                    .decoded(valid, &chunk, self.answer.keeps_details());
                self.write_data(&text, out, ui);
                self.on_chunk(&chunk, Carrier::Delta, out, ui)?;
            }
            Err(_) => self.on_odd_data(&text, out, ui)?,
        }
        Ok(Flow::More)
    }

    /// `--json` writes the data as one line.
    pub fn write_data(&mut self, text: &str, out: &mut Out, ui: &mut Ui) {
        if let Sink::JsonLines = self.sink {
            ui.stop_spinner();
        }
        self.sink.data(text, out);
    }

    /// Data that did not fit the chunk shape: valid JSON of another shape
    /// (kept in `--json`, checked for an `error`), or not JSON at all (skipped).
    pub fn on_odd_data(&mut self, text: &str, out: &mut Out, ui: &mut Ui) -> Result<(), Failure> {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            self.not_json += 1;
            return Ok(());
        };
        self.write_data(text, out, ui);
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

    /// Handles a decoded chunk.
    pub fn on_chunk(
        &mut self,
        chunk: &Chunk<'_>,
        carrier: Carrier,
        out: &mut Out,
        ui: &mut Ui,
    ) -> Result<(), Failure> {
        let step = self.answer.apply(chunk, carrier);
        if self.verbose {
            ui.flush_reasoning();
            if let (true, Some(id)) = (step.noted.new_id, &chunk.id) {
                say(&format!("* generation id: {}", id.as_str()));
            }
            if let (true, Some(p)) = (step.noted.new_provider, &chunk.provider) {
                say(&format!("* provider: {}", p.as_str()));
            }
        }
        // Text that arrives in the error chunk itself is part of the answer:
        // it is written before the error ends the stream.
        self.on_step(&step, out, ui);
        if !step.images.is_empty() {
            self.images.take(step.images, &mut self.answer, ui);
        }
        if let Some(err) = &chunk.error {
            let provider = chunk
                .provider
                .as_ref()
                .map(Text::as_str)
                .or(self.answer.provider.as_deref());
            return Err(Failure::new(Kind::Server, err.describe(provider)));
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
        if let Some(reason) = step.finish {
            self.on_finish(reason, ui);
        }
        Ok(())
    }

    /// The first finish reason: traced, and a warning when the answer was
    /// cut or filtered.
    fn on_finish(&mut self, reason: &str, ui: &mut Ui) {
        if self.verbose {
            ui.flush_reasoning();
            say(&format!("* finish_reason: {reason}"));
        }
        let warning = match reason {
            "length" => Some(
                "the answer was cut short: the token limit was reached (finish_reason: length)",
            ),
            "content_filter" => {
                Some("the answer was filtered by the provider (finish_reason: content_filter)")
            }
            _ => None,
        };
        if let Some(w) = warning {
            ui.warn(w);
        }
    }

    /// What is written as it comes: reasoning, answer text, the tool note.
    fn on_step(&mut self, step: &Step<'_>, out: &mut Out, ui: &mut Ui) {
        if let Some(r) = step.reasoning {
            if self.show_reasoning {
                ui.reasoning(r);
                self.reasoning_open = !r.ends_with('\n');
            } else {
                ui.thinking();
            }
        }
        if let Some(text) = step.text {
            ui.first_token();
            if self.reasoning_open && self.sink.writes_text() {
                ui.end_reasoning();
                self.reasoning_open = false;
            }
            self.sink.text(text, out);
        }
        if step.tool_calls && self.sink.writes_text() && !self.tool_note {
            self.tool_note = true;
            ui.warn(
                "the model asked to call tools; tool calls are not text (use --json to see them)",
            );
        }
    }

    /// A mid-stream error message, named by provider when known.
    pub fn stream_error(&self, provider: Option<&str>, message: &str) -> Failure {
        let provider = provider
            .or(self.answer.provider.as_deref())
            .filter(|p| !p.is_empty());
        let line = match provider {
            Some(p) => format!("{p}: {message}"),
            None => message.to_string(),
        };
        Failure::new(Kind::Server, one_line(&line, 500))
    }

    /// One warning for all the events whose data was not JSON.
    pub fn warn_not_json(&self, ui: &mut Ui) {
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
