//! stdout and stderr writers: the answer, the newline rule, messages.
//!
//! stdout gets exactly one `write` per network read: text is gathered in a
//! buffer and written to a duplicate of fd 1 (Rust's `Stdout` is line-buffered
//! even on a pipe and would split it in two). Every line on stderr passes
//! through [`redact`], so the API key never appears, whatever a server echoes.
//! The spinner thread and the main thread share stderr under one lock.

use crate::secret::{redact, Masker};
use crate::text::escape_controls;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The answer's destination.
pub struct Out {
    dest: Dest,
    buf: Vec<u8>,
    /// A write that failed while the buffer was spilled early, reported by
    /// the next [`Out::flush`].
    failed: Option<io::Error>,
    /// At least one byte of answer text was written.
    wrote_text: bool,
    ends_with_newline: bool,
    /// The key never shows, even split across two deltas.
    masker: Masker,
}

impl Out {
    pub fn stdout() -> Out {
        use std::os::fd::AsFd;
        let dest = match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Dest::File(File::from(fd)),
            // fd 1 is closed: writing will say so.
            Err(_) => Dest::Stdout,
        };
        Out::to(dest)
    }

    /// Writes nothing (an item of `--each`: its text goes into its object).
    pub fn nowhere() -> Out {
        Out::to(Dest::Nowhere)
    }

    fn to(dest: Dest) -> Out {
        Out {
            dest,
            buf: Vec::with_capacity(64 * 1024),
            failed: None,
            wrote_text: false,
            ends_with_newline: false,
            masker: Masker::new(),
        }
    }

    /// Queues answer text; it goes out on the next [`Out::flush`] (or
    /// earlier, when a little input became a lot of output: `-x` releasing
    /// a long held line must not grow the buffer without bound).
    pub fn text(&mut self, text: &str) {
        if self.failed.is_some() {
            // stdout is gone: nothing more will be written.
            return;
        }
        let Out {
            masker,
            buf,
            wrote_text,
            ends_with_newline,
            ..
        } = self;
        masker.push(text, &mut |piece| {
            append(buf, wrote_text, ends_with_newline, piece)
        });
        if self.buf.len() >= SPILL_AT {
            if let Err(e) = self.flush() {
                self.failed = Some(e);
            }
        }
    }

    /// Queues one JSON line (the line end is added here).
    pub fn line(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
    }

    /// Writes everything queued, with one `write` when the pipe takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            self.buf.clear();
            return Err(e);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        PARTIAL_LINE.store(self.wrote_text && !self.ends_with_newline, Ordering::SeqCst);
        let result = match &mut self.dest {
            Dest::File(f) => f.write_all(&self.buf),
            Dest::Stdout => {
                let mut s = io::stdout().lock();
                s.write_all(&self.buf).and_then(|()| s.flush())
            }
            Dest::Nowhere => Ok(()),
        };
        self.buf.clear();
        if !PARTIAL_LINE.load(Ordering::SeqCst) {
            release_waiting();
        }
        result
    }

    /// Flushes, then ends a partial last line of text (unless `-n`).
    pub fn finish(&mut self, final_newline: bool) -> io::Result<()> {
        let Out {
            masker,
            buf,
            wrote_text,
            ends_with_newline,
            ..
        } = self;
        masker.finish(&mut |piece| append(buf, wrote_text, ends_with_newline, piece));
        NEWLINE_WANTED.store(final_newline, Ordering::SeqCst);
        if final_newline && self.wrote_text && !self.ends_with_newline {
            self.buf.push(b'\n');
            self.ends_with_newline = true;
        }
        let result = self.flush();
        answer_over();
        result
    }

    /// Whether `-n` is off: known early, for [`end_line_on_exit`].
    pub fn set_final_newline(final_newline: bool) {
        NEWLINE_WANTED.store(final_newline, Ordering::SeqCst);
    }

    /// Whether stdout is a pipe (then its reader may leave early).
    pub fn is_pipe(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        match &self.dest {
            Dest::File(f) => f.metadata().is_ok_and(|m| m.file_type().is_fifo()),
            Dest::Stdout | Dest::Nowhere => false,
        }
    }
}

/// Where the answer's bytes go.
enum Dest {
    /// A duplicate of fd 1, written with one `write` per flush.
    File(File),
    /// Rust's stdout (when fd 1 could not be duplicated).
    Stdout,
    /// Nowhere: an item of `--each`, whose text goes into its object.
    Nowhere,
}

/// Queues a piece of answer text that may be written.
fn append(buf: &mut Vec<u8>, wrote_text: &mut bool, ends_with_newline: &mut bool, piece: &str) {
    if let Some(&last) = piece.as_bytes().last() {
        buf.extend_from_slice(piece.as_bytes());
        *wrote_text = true;
        *ends_with_newline = last == b'\n';
    }
}

/// Queued bytes past which text is written before the next flush.
const SPILL_AT: usize = 1024 * 1024;

/// stdout shows a partial last line of answer text.
static PARTIAL_LINE: AtomicBool = AtomicBool::new(false);
/// stdout and stderr are the same terminal: stderr lines wait while a line
/// of the answer is open, so they never land inside it.
static SAME_TERMINAL: AtomicBool = AtomicBool::new(false);
/// Lines that wait for the answer's line to end.
static WAITING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether stdout and stderr are the same terminal (known at start-up).
pub fn set_same_terminal(same: bool) {
    SAME_TERMINAL.store(same, Ordering::SeqCst);
}

/// The answer has ended: the lines that waited for it go out. With `-n`
/// its last line stays open on a terminal shared with stderr, so they, and
/// every stderr line after them, start on a line of their own.
pub fn answer_over() {
    if PARTIAL_LINE.swap(false, Ordering::SeqCst) && SAME_TERMINAL.load(Ordering::SeqCst) {
        let mut line = STDERR.lock().unwrap_or_else(|p| p.into_inner());
        if *line == Line::Clean {
            // A message never starts in the middle of an open line.
            *line = Line::Open;
        }
    }
    release_waiting();
}

/// Writes the lines that waited for the answer's line to end.
fn release_waiting() {
    let lines = std::mem::take(&mut *WAITING.lock().unwrap_or_else(|p| p.into_inner()));
    for line in lines {
        stderr_write(&line, Line::Clean);
    }
}
/// The final-newline rule applies (no `-n`).
static NEWLINE_WANTED: AtomicBool = AtomicBool::new(true);

/// Ends a partial answer line when the process must exit from another
/// thread (the signal watchdog), while the main thread is stuck in a read.
pub fn end_line_on_exit() {
    if NEWLINE_WANTED.load(Ordering::SeqCst) && PARTIAL_LINE.swap(false, Ordering::SeqCst) {
        let _ = io::stdout()
            .lock()
            .write_all(b"\n")
            .and_then(|()| io::stdout().lock().flush());
    }
    answer_over();
}

/// What is on the last stderr line: nothing, a spinner frame (erased before
/// other text), or unfinished text such as reasoning (ended before a message).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    Clean,
    Spinner,
    Open,
}

/// Serialises stderr between the spinner thread and everything else.
static STDERR: Mutex<Line> = Mutex::new(Line::Clean);

/// Writes to stderr under the lock. A spinner frame (`spinner`) marks the
/// line as drawn; any other text erases a drawn frame before it is written.
/// Errors writing stderr are ignored: there is nowhere left to report them.
fn stderr_write(text: &str, kind: Line) {
    let mut line = STDERR.lock().unwrap_or_else(|p| p.into_inner());
    let mut err = io::stderr().lock();
    match (*line, kind) {
        (Line::Spinner, _) => {
            let _ = err.write_all(b"\r\x1b[K");
        }
        // A message never starts in the middle of reasoning text.
        (Line::Open, Line::Clean) => {
            let _ = err.write_all(b"\n");
        }
        _ => {}
    }
    let _ = err.write_all(text.as_bytes());
    *line = match kind {
        Line::Open if text.ends_with('\n') => Line::Clean,
        Line::Open if text.is_empty() => *line,
        other => other,
    };
}

/// Draws a spinner frame (erased before any other stderr text).
pub fn spinner_frame(text: &str) {
    stderr_write(text, Line::Spinner);
}

/// Erases a drawn spinner frame, leaving the cursor at the line start.
pub fn erase_spinner() {
    let mut line = STDERR.lock().unwrap_or_else(|p| p.into_inner());
    if *line == Line::Spinner {
        let _ = io::stderr().lock().write_all(b"\r\x1b[K");
        *line = Line::Clean;
    }
}

thread_local! {
    /// The `--each` item this thread runs: its trace lines say which.
    static ITEM_LINE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Marks this thread's stderr lines as those of `--each`'s item on `line`.
pub fn set_item_line(line: Option<u64>) {
    ITEM_LINE.with(|l| l.set(line));
}

/// One line on stderr, prefixed `orstream: `: the key hidden, control
/// characters (from a server, or a file name) made visible.
pub fn say(text: &str) {
    match ITEM_LINE.with(std::cell::Cell::get) {
        Some(line) => say_plain(&format!("orstream: [line {line}] {text}")),
        None => say_plain(&format!("orstream: {text}")),
    }
}

/// One line on stderr without the prefix (the list of sources): the key
/// hidden, control characters made visible.
pub fn say_plain(text: &str) {
    let line = redact(text);
    let line = format!("{}\n", escape_controls(&line));
    if SAME_TERMINAL.load(Ordering::SeqCst) && PARTIAL_LINE.load(Ordering::SeqCst) {
        WAITING.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        return;
    }
    stderr_write(&line, Line::Clean);
}

pub fn error_line(message: &str, hint: Option<&str>) {
    say(&format!("error: {message}"));
    if let Some(h) = hint {
        say(&format!("hint: {h}"));
    }
}

/// Text to stderr (reasoning), as it is, no prefix; it may leave the line
/// open. The caller masks the key and escapes what a terminal must not get.
pub fn stderr_raw(text: &str) {
    stderr_write(text, Line::Open);
}

/// Ends stderr's line if text (reasoning) left it open; a message that
/// came meanwhile has ended it already.
pub fn end_open_line() {
    let mut line = STDERR.lock().unwrap_or_else(|p| p.into_inner());
    if *line == Line::Open {
        let _ = io::stderr().lock().write_all(b"\n");
        *line = Line::Clean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Out {
        Out {
            dest: Dest::Nowhere,
            buf: Vec::new(),
            failed: None,
            wrote_text: false,
            ends_with_newline: false,
            masker: Masker::default(),
        }
    }

    #[test]
    fn newline_rule() {
        let mut o = out();
        o.text("");
        assert!(!o.wrote_text);
        o.text("a\nb");
        assert!(o.wrote_text && !o.ends_with_newline);
        o.text("x\n");
        assert!(o.ends_with_newline);
    }

    #[test]
    fn json_lines_do_not_count_as_text() {
        let mut o = out();
        o.line(b"{}");
        assert_eq!(o.buf, b"{}\n");
        assert!(!o.wrote_text);
    }
}
