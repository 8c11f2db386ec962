//! What the user sees on stderr while and after the answer streams: the
//! spinner, warnings, reasoning, `-v` comments, and the `-u` usage line.

use crate::chunk::Usage;
use crate::config::{OutputOptions, Stderr};
use crate::output::{say, spinner_frame, stderr_raw};
use crate::secret::Masker;
use crate::text::escape_controls_but_lines;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(80);
const FIRST_FRAME: Duration = Duration::from_millis(100);
/// A tokens-per-second figure needs the answer to have taken this long
/// from its first token to its end: what came in one burst (a cached
/// answer, a fast local server) has no meaningful rate.
const MIN_RATE_SPAN: Duration = Duration::from_millis(100);
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// A spinner line on stderr, drawn by its own thread until stopped.
struct Spinner {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    fn start(label: Arc<std::sync::Mutex<String>>, color: bool) -> Spinner {
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // A fast answer shows no spinner at all rather than a flicker.
            if !matches!(rx.recv_timeout(FIRST_FRAME), Err(RecvTimeoutError::Timeout)) {
                return;
            }
            let mut i = 0;
            loop {
                let text = label.lock().map(|l| l.clone()).unwrap_or_default();
                let frame = FRAMES[i % FRAMES.len()];
                let line = if color {
                    format!("\r{frame} {DIM}{text}{RESET}\x1b[K")
                } else {
                    format!("\r{frame} {text}\x1b[K")
                };
                spinner_frame(&line);
                i += 1;
                match rx.recv_timeout(TICK) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
        });
        Spinner {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and erases the line completely.
    fn stop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        crate::output::erase_spinner();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Ui {
    stderr: Stderr,
    quiet: bool,
    verbose: bool,
    spinner: Option<Spinner>,
    label: Arc<std::sync::Mutex<String>>,
    started: Instant,
    first_token: Option<Instant>,
    comments: u64,
    /// Every warning of the run, once each (`--result` lists them, `-q`
    /// or not).
    warned: Vec<String>,
    /// How many of them went to stderr.
    printed: usize,
    /// Notes are warnings too (an item of `--each`: its object has them).
    notes_are_warnings: bool,
    /// Masks the key in reasoning split across deltas.
    reasoning: Masker,
    /// Reasoning not yet written: one write per network read, not per delta.
    reasoning_out: String,
    /// `--from-sse`: the timing is the replay's, not the model's.
    replay: bool,
}

impl Ui {
    pub fn new(opts: &OutputOptions, started: Instant) -> Ui {
        Ui {
            stderr: opts.stderr,
            quiet: opts.quiet,
            verbose: opts.verbose,
            spinner: None,
            label: Arc::new(std::sync::Mutex::new(String::from("connecting"))),
            started,
            first_token: None,
            comments: 0,
            warned: Vec::new(),
            printed: 0,
            notes_are_warnings: false,
            reasoning: Masker::new(),
            reasoning_out: String::new(),
            replay: false,
        }
    }

    /// `--from-sse`: its timing is the file's, not the model's.
    pub fn is_replay(&self) -> bool {
        self.replay
    }

    /// For `--from-sse`: the `-u` line then gives no timing (time to first
    /// token, tokens per second): a recording read in microseconds says
    /// nothing about the model's speed.
    pub fn for_replay(mut self) -> Ui {
        self.replay = true;
        self
    }

    /// Starts the spinner, when stderr is a terminal and `-q` was not given.
    pub fn waiting(&mut self, label: &str) {
        self.set_label(label);
        let Stderr::Terminal {
            spinner: true,
            color,
        } = self.stderr
        else {
            return;
        };
        if self.spinner.is_none() && self.first_token.is_none() && !self.quiet {
            self.spinner = Some(Spinner::start(self.label.clone(), color));
        }
    }

    fn set_label(&self, label: &str) {
        if let Ok(mut l) = self.label.lock() {
            label.clone_into(&mut l);
        }
    }

    /// Erases the spinner for good (before the first token, or at the end).
    pub fn stop_spinner(&mut self) {
        if let Some(mut s) = self.spinner.take() {
            s.stop();
        }
    }

    /// Called before the first answer byte is queued for stdout.
    pub fn first_token(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some(Instant::now());
            self.stop_spinner();
        }
    }

    /// Hidden reasoning is arriving: the model is thinking.
    pub fn thinking(&mut self) {
        if self.first_token.is_none() {
            self.set_label("thinking");
        }
    }

    pub fn comment(&mut self, text: &str) {
        self.comments += 1;
        if self.first_token.is_none() {
            self.set_label("waiting for the model");
        }
        if self.verbose {
            self.flush_reasoning();
            say(&format!("* comment: {}", text.trim()));
        }
    }

    /// Reasoning text, to stderr: the key masked even across deltas; on a
    /// terminal, control characters but `\n` and `\t` escaped, and dimmed.
    /// Held until [`Ui::flush_reasoning`].
    pub fn reasoning(&mut self, text: &str) {
        self.stop_spinner();
        let (stderr, held) = (self.stderr, &mut self.reasoning_out);
        self.reasoning
            .push(text, &mut |piece| add_reasoning(stderr, piece, held));
    }

    /// Ends a reasoning line before the answer starts.
    pub fn end_reasoning(&mut self) {
        let (stderr, held) = (self.stderr, &mut self.reasoning_out);
        self.reasoning
            .finish(&mut |piece| add_reasoning(stderr, piece, held));
        self.flush_reasoning();
        crate::output::end_open_line();
    }

    /// Writes the reasoning held so far: after each network read, and
    /// before anything else goes to stderr.
    pub fn flush_reasoning(&mut self) {
        if !self.reasoning_out.is_empty() {
            stderr_raw(&self.reasoning_out);
            self.reasoning_out.clear();
        }
    }

    /// A warning, once per text; printed by [`Ui::flush_warnings`].
    pub fn warn(&mut self, text: &str) {
        if !self.warned.iter().any(|w| w == text) {
            self.warned.push(text.to_string());
        }
    }

    /// Prints the warnings gathered so far (each once), unless `-q`.
    pub fn flush_warnings(&mut self) {
        self.flush_reasoning();
        if !self.quiet {
            for w in &self.warned[self.printed..] {
                say(&format!("warning: {w}"));
            }
        }
        self.printed = self.warned.len();
    }

    /// Every warning of the run, printed or not.
    pub fn warnings(&self) -> &[String] {
        &self.warned
    }

    /// A note (a saved image, a link): one line on stderr unless `-q`.
    pub fn note(&mut self, text: &str) {
        if self.notes_are_warnings {
            self.warn(text);
        } else if !self.quiet {
            say(text);
        }
    }

    /// The ui of an item of `--each`: nothing on stderr but `-v` traces;
    /// warnings and notes are kept for its object.
    pub fn for_item(opts: &OutputOptions, started: Instant) -> Ui {
        let mut ui = Ui::new(opts, started);
        ui.stderr = Stderr::Plain;
        ui.quiet = true;
        ui.notes_are_warnings = true;
        ui
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn time_to_first_token(&self) -> Option<Duration> {
        self.first_token.map(|t| t - self.started)
    }

    /// The `-u` line: only the fields the server sent, plus our own timing.
    pub fn usage_line(
        &self,
        model: Option<&str>,
        provider: Option<&str>,
        usage: Option<&Usage>,
    ) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = model {
            parts.push(format!("model {m}"));
        }
        if let Some(p) = provider {
            parts.push(format!("provider {p}"));
        }
        if let Some(u) = usage {
            if let Some(n) = u.prompt_tokens {
                parts.push(format!("{n} prompt tokens"));
            }
            if let Some(n) = u.completion_tokens {
                parts.push(format!("{n} completion tokens"));
            }
            if let Some(n) = u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
            {
                parts.push(format!("{n} reasoning tokens"));
            }
            if let Some(n) = u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
            {
                parts.push(format!("{n} cached tokens"));
            }
            if let Some(c) = u.cost {
                parts.push(format!("${c:.6}"));
            }
        }
        if let (Some(ttft), false) = (self.time_to_first_token(), self.replay) {
            parts.push(format!("first token {:.2} s", ttft.as_secs_f64()));
            let generating = self.first_token.map(|t| t.elapsed()).unwrap_or_default();
            let tokens = usage.and_then(|u| u.completion_tokens);
            if let Some(rate) = tokens.and_then(|n| rate(n, generating)) {
                parts.push(format!("{rate:.1} tokens/s"));
            }
        }
        if parts.is_empty() {
            return "usage: the server reported none".to_string();
        }
        format!("usage: {}", parts.join(", "))
    }
}

/// Tokens per second over `span`, when the span is long enough to mean it.
fn rate(tokens: u64, span: Duration) -> Option<f64> {
    (span >= MIN_RATE_SPAN && tokens > 0).then(|| tokens as f64 / span.as_secs_f64())
}

/// One piece of reasoning, as stderr may take it, added to what is held.
fn add_reasoning(stderr: Stderr, piece: &str, held: &mut String) {
    match stderr {
        Stderr::Plain => held.push_str(piece),
        Stderr::Terminal { color, .. } => {
            let piece = escape_controls_but_lines(piece);
            if color {
                held.push_str(DIM);
                held.push_str(&piece);
                held.push_str(RESET);
            } else {
                held.push_str(&piece);
            }
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.stop_spinner();
        self.flush_reasoning();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{CompletionDetails, PromptDetails};
    use crate::config::{Check, SinkKind};

    fn opts() -> OutputOptions {
        OutputOptions {
            sink: SinkKind::Text,
            check: Check::None,
            final_newline: true,
            reasoning: false,
            usage: true,
            verbose: false,
            quiet: false,
            stderr: Stderr::Plain,
            images: None,
        }
    }

    #[test]
    fn a_rate_needs_a_meaningful_span() {
        assert_eq!(rate(50, Duration::from_secs(2)), Some(25.0));
        assert_eq!(rate(50, Duration::from_micros(40)), None);
        assert_eq!(rate(0, Duration::from_secs(2)), None);
    }

    #[test]
    fn a_replay_shows_no_timing() {
        let u = Usage {
            completion_tokens: Some(9),
            ..Usage::default()
        };
        let mut live = Ui::new(&opts(), Instant::now());
        live.first_token();
        let line = live.usage_line(None, None, Some(&u));
        assert!(line.contains("first token"), "{line}");
        assert!(!line.contains("tokens/s"), "no rate from a burst: {line}");
        let mut replay = Ui::new(&opts(), Instant::now()).for_replay();
        replay.first_token();
        assert_eq!(
            replay.usage_line(None, None, Some(&u)),
            "usage: 9 completion tokens"
        );
    }

    #[test]
    fn usage_line_leaves_out_missing_fields() {
        let ui = Ui::new(&opts(), Instant::now());
        assert_eq!(
            ui.usage_line(None, None, None),
            "usage: the server reported none"
        );
        let u = Usage {
            prompt_tokens: Some(15),
            completion_tokens: Some(9),
            cost: Some(0.00006),
            ..Usage::default()
        };
        assert_eq!(
            ui.usage_line(Some("a/b"), Some("P"), Some(&u)),
            "usage: model a/b, provider P, 15 prompt tokens, 9 completion tokens, $0.000060"
        );
        let u = Usage {
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: Some(4),
            }),
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: Some(2),
            }),
            ..Usage::default()
        };
        assert_eq!(
            ui.usage_line(None, None, Some(&u)),
            "usage: 4 reasoning tokens, 2 cached tokens"
        );
    }
}
